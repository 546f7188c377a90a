// Package cosigntest writes cosign signatures into OCI repositories the way
// the cosign CLI writes them when it signs with a key and uploads nothing
// to a transparency log (cosign sign --key cosign.key --tlog-upload=false):
// the legacy "sha256-<hex>.sig" tag scheme (SignLegacy) and the sigstore
// bundle stored as an OCI referrer that cosign v3 writes (AttachBundle).
//
// It is a test kit: tests of code that moves, filters or promotes publisher
// signatures use it to put real, verifiable cosign signatures next to an
// image without the cosign binary, and check the result with
// sign/cosign's Verifier (PublicKeys with IgnoreTransparencyLogUnsafe, as
// for signatures without a log entry).
package cosigntest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign/cosign"
)

// SignLegacy signs subject with key in cosign's legacy scheme and returns
// the signature manifest: a simple-signing payload naming dockerReference
// ("registry.example/app") and the subject digest, signed as cosign signs
// (ECDSA with SHA-256 in ASN.1, RSA PKCS #1 v1.5 with SHA-256, pure
// Ed25519), stored as a layer with the signature in the annotation
// cosign.AnnotationSignature, in the manifest tagged
// cosign.SignatureTag(subject.Digest). A manifest already under that tag
// keeps its layers and gets one more, as cosign appends.
func SignLegacy(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor, key crypto.Signer, dockerReference string) (ocispec.Descriptor, error) {
	payload := fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":%q},"optional":null}`,
		dockerReference, subject.Digest, cosign.SignatureTypeCosign)
	sig, err := signMessage(key, payload)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	layer := descriptor(artifact.MediaTypeCosignSimpleSigning, payload)
	layer.Annotations = map[string]string{cosign.AnnotationSignature: base64.StdEncoding.EncodeToString(sig)}
	if err := push(ctx, repo, layer, payload); err != nil {
		return ocispec.Descriptor{}, err
	}
	tag := cosign.SignatureTag(subject.Digest)
	var layers []ocispec.Descriptor
	if old, err := repo.Resolve(ctx, tag); err == nil {
		raw, err := manifest.Fetch(ctx, repo, old, 0)
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("cosigntest: %s: %w", tag, err)
		}
		layers = m.Layers
	} else if !errors.Is(err, registry.ErrNotFound) {
		return ocispec.Descriptor{}, err
	}
	layers = append(layers, layer)
	diffIDs := make([]string, len(layers))
	for i, l := range layers {
		diffIDs[i] = l.Digest.String()
	}
	cfg, err := json.Marshal(map[string]any{
		"architecture": "", "created": "0001-01-01T00:00:00Z",
		"history": []any{map[string]any{"created": "0001-01-01T00:00:00Z"}},
		"os":      "", "rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
		"config": map[string]any{},
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	cfgDesc := descriptor(ocispec.MediaTypeImageConfig, cfg)
	if err := push(ctx, repo, cfgDesc, cfg); err != nil {
		return ocispec.Descriptor{}, err
	}
	raw, err := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: layers})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	md := descriptor(ocispec.MediaTypeImageManifest, raw)
	if err := push(ctx, repo, md, raw); err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := repo.Tag(ctx, md, tag); err != nil {
		return ocispec.Descriptor{}, err
	}
	return md, nil
}

// AttachBundle signs subject with key as cosign v3 does and attaches the
// result as a referrer of subject, created at created (the zero time means
// the Unix epoch): an in-toto statement of predicate type
// cosign.PredicateCosignSign about the subject digest (named
// dockerReference), in a DSSE envelope signed with key, in a sigstore
// bundle v0.3 that carries the public key hint and no transparency log
// entry (artifactType artifact.TypeSigstoreBundle, with cosign's
// dev.sigstore.bundle.* annotations). It returns the referrer's manifest.
func AttachBundle(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor, key crypto.Signer, dockerReference string, created time.Time) (ocispec.Descriptor, error) {
	stmt := fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":%q,"digest":{%q:%q}}],"predicateType":%q,"predicate":{}}`,
		dockerReference, subject.Digest.Algorithm().String(), subject.Digest.Encoded(), cosign.PredicateCosignSign)
	const payloadType = "application/vnd.in-toto+json"
	sig, err := signMessage(key, pae(payloadType, stmt))
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	hint, err := cosign.KeyID(key.Public())
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	// The protobuf JSON form of a sigstore bundle (bytes in standard
	// base64), as cosign writes it.
	bundle, err := json.Marshal(map[string]any{
		"mediaType":            artifact.TypeSigstoreBundle,
		"verificationMaterial": map[string]any{"publicKey": map[string]any{"hint": hint}},
		"dsseEnvelope": map[string]any{
			"payload":     base64.StdEncoding.EncodeToString(stmt),
			"payloadType": payloadType,
			"signatures":  []any{map[string]any{"sig": base64.StdEncoding.EncodeToString(sig)}},
		},
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	return registry.Attach(ctx, repo, subject, registry.Artifact{
		ArtifactType: artifact.TypeSigstoreBundle,
		Blobs:        []registry.Blob{{MediaType: artifact.TypeSigstoreBundle, Data: bundle}},
		Annotations: map[string]string{
			artifact.AnnotationSigstoreBundleContent:       cosign.BundleContentDSSE,
			artifact.AnnotationSigstoreBundlePredicateType: cosign.PredicateCosignSign,
		},
		Created: created,
	})
}

// signMessage signs msg as cosign does with a key.
func signMessage(key crypto.Signer, msg []byte) ([]byte, error) {
	if _, ok := key.Public().(ed25519.PublicKey); ok {
		return key.Sign(rand.Reader, msg, crypto.Hash(0))
	}
	// ECDSA (ASN.1) and RSA (PKCS #1 v1.5, crypto.SHA256 as opts) sign
	// the SHA-256 digest.
	h := sha256.Sum256(msg)
	return key.Sign(rand.Reader, h[:], crypto.SHA256)
}

// pae is the DSSE v1 pre-authentication encoding.
func pae(payloadType string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 " + strconv.Itoa(len(payloadType)) + " " + payloadType + " " + strconv.Itoa(len(body)) + " ")
	b.Write(body)
	return b.Bytes()
}

func descriptor(mediaType string, data []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

func push(ctx context.Context, repo registry.Repository, d ocispec.Descriptor, data []byte) error {
	ok, err := repo.Exists(ctx, d)
	if err != nil || ok {
		return err
	}
	return repo.Push(ctx, d, bytes.NewReader(data))
}
