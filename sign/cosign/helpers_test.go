package cosign

// Test fixtures that write signatures exactly as cosign does: legacy
// "sha256-<hex>.sig" manifests with simple-signing layers, and sigstore
// bundles attached as OCI referrers. Keyless material comes from
// sigstore-go's VirtualSigstore (a real in-memory Fulcio CA, Rekor log and
// timestamp authority).

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
)

const (
	testIssuer   = "https://token.actions.githubusercontent.com"
	testIdentity = "release@example.com"
)

// memRepo opens a fresh in-memory repository.
func memRepo(t testing.TB) registry.Repository {
	t.Helper()
	repo, err := registry.NewClient(registry.Options{}).Repository(context.Background(), "mem:"+t.Name())
	require.NoError(t, err)
	return repo
}

// pushImage pushes a small image whose content depends on seed.
func pushImage(t testing.TB, repo registry.Repository, seed string) ocispec.Descriptor {
	t.Helper()
	img := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "etc/seed", Data: []byte(seed)})}}
	desc, err := img.Push(context.Background(), repo)
	require.NoError(t, err)
	desc.Platform = nil
	return desc
}

// cosignPayload is the simple-signing payload cosign signs for an image.
func cosignPayload(ref string, d digest.Digest) []byte {
	return fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, ref, d)
}

// signMessage signs msg as cosign does with a key: SHA-256 and ASN.1 for
// ECDSA, PKCS #1 v1.5 SHA-256 for RSA, pure Ed25519.
func signMessage(t testing.TB, key crypto.Signer, msg []byte) []byte {
	t.Helper()
	var sig []byte
	var err error
	switch k := key.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, msg)
	case *rsa.PrivateKey:
		h := sha256.Sum256(msg)
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
	case *ecdsa.PrivateKey:
		h := sha256.Sum256(msg)
		sig, err = ecdsa.SignASN1(rand.Reader, k, h[:])
	default:
		t.Fatalf("unsupported key %T", key)
	}
	require.NoError(t, err)
	return sig
}

func newECDSA(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

// legacyLayer is one layer of a ".sig" manifest.
type legacyLayer struct {
	mediaType   string // empty means simple signing
	payload     []byte
	annotations map[string]string
}

// keyLayer signs payload with key and returns the layer cosign writes.
func keyLayer(t testing.TB, key crypto.Signer, payload []byte) legacyLayer {
	return legacyLayer{payload: payload, annotations: map[string]string{
		AnnotationSignature: base64.StdEncoding.EncodeToString(signMessage(t, key, payload)),
	}}
}

// pushLegacy writes the ".sig" manifest of subject with layers, as cosign
// does: an OCI manifest whose config lists the payload digests as diff IDs
// and whose layers are the payloads, tagged sha256-<hex>.sig.
func pushLegacy(t testing.TB, repo registry.Repository, subject ocispec.Descriptor, layers ...legacyLayer) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	var descs []ocispec.Descriptor
	diffIDs := []string{}
	for _, l := range layers {
		mt := l.mediaType
		if mt == "" {
			mt = artifact.MediaTypeCosignSimpleSigning
		}
		d := imagetest.Descriptor(mt, l.payload)
		d.Annotations = l.annotations
		pushBlob(t, repo, d, l.payload)
		descs = append(descs, d)
		diffIDs = append(diffIDs, d.Digest.String())
	}
	cfg, err := json.Marshal(map[string]any{
		"architecture": "", "created": "0001-01-01T00:00:00Z",
		"history": []any{map[string]any{"created": "0001-01-01T00:00:00Z"}},
		"os":      "", "rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
		"config": map[string]any{},
	})
	require.NoError(t, err)
	cfgDesc := imagetest.Descriptor(ocispec.MediaTypeImageConfig, cfg)
	pushBlob(t, repo, cfgDesc, cfg)
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: descs}
	m.SchemaVersion = 2
	if m.Layers == nil {
		m.Layers = []ocispec.Descriptor{}
	}
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	md := imagetest.Descriptor(ocispec.MediaTypeImageManifest, raw)
	pushBlob(t, repo, md, raw)
	require.NoError(t, repo.Tag(ctx, md, SignatureTag(subject.Digest)))
	return md
}

func pushBlob(t testing.TB, repo registry.Repository, d ocispec.Descriptor, data []byte) {
	t.Helper()
	ctx := context.Background()
	ok, err := repo.Exists(ctx, d)
	require.NoError(t, err)
	if !ok {
		require.NoError(t, repo.Push(ctx, d, bytes.NewReader(data)))
	}
}

// newSigstore starts a virtual Sigstore (Fulcio, Rekor, TSA in memory).
func newSigstore(t testing.TB) *ca.VirtualSigstore {
	t.Helper()
	vs, err := ca.NewVirtualSigstore()
	require.NoError(t, err)
	return vs
}

// rekorSET re-creates the signed entry timestamp of a tlog entry (the
// VirtualSigstore's entries keep it private).
func rekorSET(t testing.TB, vs *ca.VirtualSigstore, tle *protorekor.TransparencyLogEntry) []byte {
	t.Helper()
	set, err := vs.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
		IntegratedTime: tle.IntegratedTime,
		LogIndex:       tle.LogIndex,
		LogID:          hex.EncodeToString(tle.LogId.KeyId),
	})
	require.NoError(t, err)
	return set
}

// keylessLayer signs payload keylessly as cosign v2 does for the legacy
// scheme: signature, Fulcio certificate and chain, Rekor bundle and RFC 3161
// timestamp annotations.
func keylessLayer(t testing.TB, vs *ca.VirtualSigstore, identity, issuer string, payload []byte) legacyLayer {
	t.Helper()
	ent, err := vs.Sign(identity, issuer, payload)
	require.NoError(t, err)
	return entityLayer(t, vs, ent, payload)
}

// keylessLayerAt is keylessLayer with the log entry integrated at a given
// time (the certificate is valid for ten minutes from now).
func keylessLayerAt(t testing.TB, vs *ca.VirtualSigstore, identity, issuer string, payload []byte, at time.Time) legacyLayer {
	t.Helper()
	ent, err := vs.SignAtTime(identity, issuer, payload, at)
	require.NoError(t, err)
	return entityLayer(t, vs, ent, payload)
}

func entityLayer(t testing.TB, vs *ca.VirtualSigstore, ent *ca.TestEntity, payload []byte) legacyLayer {
	t.Helper()
	vc, err := ent.VerificationContent()
	require.NoError(t, err)
	sc, err := ent.SignatureContent()
	require.NoError(t, err)
	entries, err := ent.TlogEntries()
	require.NoError(t, err)
	tle := entries[0].TransparencyLogEntry()
	rb := map[string]any{
		"SignedEntryTimestamp": rekorSET(t, vs, tle),
		"Payload": map[string]any{
			"body":           base64.StdEncoding.EncodeToString(tle.CanonicalizedBody),
			"integratedTime": tle.IntegratedTime,
			"logIndex":       tle.LogIndex,
			"logID":          hex.EncodeToString(tle.LogId.KeyId),
		},
	}
	rbJSON, err := json.Marshal(rb)
	require.NoError(t, err)
	tss, err := ent.Timestamps()
	require.NoError(t, err)
	tsJSON, err := json.Marshal(map[string][]byte{"SignedRFC3161Timestamp": tss[0]})
	require.NoError(t, err)
	var chain []byte
	for _, c := range vs.FulcioCertificateAuthorities() {
		fca := c.(*root.FulcioCertificateAuthority)
		for _, ic := range fca.Intermediates {
			chain = append(chain, pemCert(ic)...)
		}
		chain = append(chain, pemCert(fca.Root)...)
	}
	return legacyLayer{payload: payload, annotations: map[string]string{
		AnnotationSignature:        base64.StdEncoding.EncodeToString(sc.Signature()),
		AnnotationCertificate:      string(pemCert(vc.Certificate())),
		AnnotationChain:            string(chain),
		AnnotationBundle:           string(rbJSON),
		AnnotationRFC3161Timestamp: string(tsJSON),
	}}
}

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// statement is an in-toto statement of predicateType about subject d, as
// cosign v3 signs an image.
func statement(d digest.Digest, predicateType string) []byte {
	return fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"registry.example/app","digest":{%q:%q}}],"predicateType":%q,"predicate":{}}`,
		d.Algorithm().String(), d.Encoded(), predicateType)
}

// keylessDSSEBundle returns a v0.3 bundle JSON of a keyless DSSE signature
// of stmt with an inclusion proof, signed entry timestamp and RFC 3161
// timestamp.
func keylessDSSEBundle(t testing.TB, vs *ca.VirtualSigstore, identity, issuer string, stmt []byte) []byte {
	t.Helper()
	ent, err := vs.Attest(identity, issuer, stmt)
	require.NoError(t, err)
	return entityBundle(t, vs, ent, "dsse")
}

// keylessMessageBundle returns a v0.3 bundle of a keyless message signature
// over msg (e.g. a manifest).
func keylessMessageBundle(t testing.TB, vs *ca.VirtualSigstore, identity, issuer string, msg []byte) []byte {
	t.Helper()
	ent, err := vs.Sign(identity, issuer, msg)
	require.NoError(t, err)
	return entityBundle(t, vs, ent, "hashedrekord")
}

func entityBundle(t testing.TB, vs *ca.VirtualSigstore, ent *ca.TestEntity, kind string) []byte {
	t.Helper()
	vc, err := ent.VerificationContent()
	require.NoError(t, err)
	sc, err := ent.SignatureContent()
	require.NoError(t, err)
	entries, err := ent.TlogEntries()
	require.NoError(t, err)
	tss, err := ent.Timestamps()
	require.NoError(t, err)
	tle := proto.Clone(entries[0].TransparencyLogEntry()).(*protorekor.TransparencyLogEntry)
	tle.KindVersion = &protorekor.KindVersion{Kind: kind, Version: "0.0.1"}
	tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: rekorSET(t, vs, tle)}
	if tle.InclusionProof == nil {
		body := tle.CanonicalizedBody
		p, err := vs.GetInclusionProof(body)
		require.NoError(t, err)
		root, err := hex.DecodeString(*p.RootHash)
		require.NoError(t, err)
		tle.InclusionProof = &protorekor.InclusionProof{
			LogIndex: *p.LogIndex, RootHash: root, TreeSize: *p.TreeSize, Hashes: [][]byte{},
			Checkpoint: &protorekor.Checkpoint{Envelope: *p.Checkpoint},
		}
		tle.LogIndex = *p.LogIndex
		tle.InclusionPromise = &protorekor.InclusionPromise{SignedEntryTimestamp: rekorSET(t, vs, tle)}
	}
	pb := &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_Certificate{
				Certificate: &protocommon.X509Certificate{RawBytes: vc.Certificate().Raw},
			},
			TlogEntries: []*protorekor.TransparencyLogEntry{tle},
			TimestampVerificationData: &protobundle.TimestampVerificationData{
				Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: tss[0]}},
			},
		},
	}
	if env := sc.EnvelopeContent(); env != nil {
		raw := env.RawEnvelope()
		body, err := raw.DecodeB64Payload()
		require.NoError(t, err)
		pb.Content = &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: body, PayloadType: raw.PayloadType,
			Signatures: []*protodsse.Signature{{Sig: sc.Signature()}},
		}}
	} else {
		ms := sc.MessageSignatureContent()
		pb.Content = &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: ms.Digest()},
			Signature:     ms.Signature(),
		}}
	}
	data, err := protojson.Marshal(pb)
	require.NoError(t, err)
	return data
}

// keyDSSEBundle returns a v0.3 bundle of a DSSE envelope signed with key,
// without transparency log entries (cosign --tlog-upload=false).
func keyDSSEBundle(t testing.TB, key crypto.Signer, stmt []byte) []byte {
	t.Helper()
	sig := signMessage(t, key, dssePAE("application/vnd.in-toto+json", stmt))
	pb := &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: "key"}},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: stmt, PayloadType: "application/vnd.in-toto+json",
			Signatures: []*protodsse.Signature{{Sig: sig}},
		}},
	}
	data, err := protojson.Marshal(pb)
	require.NoError(t, err)
	return data
}

// attachBundle attaches bundle data to subject as cosign v3 does.
func attachBundle(t testing.TB, repo registry.Repository, subject ocispec.Descriptor, data []byte, annotations map[string]string) ocispec.Descriptor {
	t.Helper()
	desc, err := registry.Attach(context.Background(), repo, subject, registry.Artifact{
		ArtifactType: artifact.TypeSigstoreBundle,
		Blobs:        []registry.Blob{{MediaType: artifact.TypeSigstoreBundle, Data: data}},
		Annotations:  annotations,
	})
	require.NoError(t, err)
	return desc
}

// dsseAnnotations are the annotations cosign v3 puts on a signature bundle.
func dsseAnnotations(predicateType string) map[string]string {
	return map[string]string{
		artifact.AnnotationSigstoreBundleContent:       BundleContentDSSE,
		artifact.AnnotationSigstoreBundlePredicateType: predicateType,
	}
}

func key2(t testing.TB) []crypto.PublicKey { return []crypto.PublicKey{newECDSA(t).Public()} }

func testDesc(data []byte) ocispec.Descriptor {
	return imagetest.Descriptor(ocispec.MediaTypeImageManifest, data)
}
