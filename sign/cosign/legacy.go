package cosign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
)

// Annotations of a legacy cosign signature layer.
const (
	// AnnotationSignature holds the base64 signature of the layer's payload.
	AnnotationSignature = "dev.cosignproject.cosign/signature"
	// AnnotationCertificate holds the PEM signing certificate of a keyless
	// (or certificate-based) signature.
	AnnotationCertificate = "dev.sigstore.cosign/certificate"
	// AnnotationChain holds the PEM chain of AnnotationCertificate.
	AnnotationChain = "dev.sigstore.cosign/chain"
	// AnnotationBundle holds the Rekor bundle (signed entry timestamp and
	// entry) of the signature, as JSON.
	AnnotationBundle = "dev.sigstore.cosign/bundle"
	// AnnotationRFC3161Timestamp holds an RFC 3161 timestamp of the
	// signature, as JSON.
	AnnotationRFC3161Timestamp = "dev.sigstore.cosign/rfc3161timestamp"
)

// SignatureTypeCosign is the critical.type of a cosign simple-signing
// payload.
const SignatureTypeCosign = "cosign container image signature"

// SignatureTag returns the legacy cosign signature tag of a subject digest:
// "sha256-<hex>.sig".
func SignatureTag(d digest.Digest) string {
	return d.Algorithm().String() + "-" + d.Encoded() + ".sig"
}

// payload is a cosign "simple signing" payload (the signed JSON).
type payload struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// parsePayload decodes and checks a simple-signing payload: it must be a
// JSON object with critical.type SignatureTypeCosign (case-insensitive, as
// cosign compares) and a valid critical.image.docker-manifest-digest.
func parsePayload(data []byte) (*payload, error) {
	var p payload
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("payload is not a simple-signing JSON object: %w", err)
	}
	if dec.More() {
		return nil, errors.New("payload has trailing data")
	}
	if t := p.Critical.Type; !strings.EqualFold(t, SignatureTypeCosign) && t != PredicateCosignSign {
		return nil, fmt.Errorf("payload critical.type %q is not %q", t, SignatureTypeCosign)
	}
	if _, err := digest.Parse(p.Critical.Image.DockerManifestDigest); err != nil {
		return nil, fmt.Errorf("payload critical.image.docker-manifest-digest %q: %v", p.Critical.Image.DockerManifestDigest, err)
	}
	return &p, nil
}

// rekorBundle is the AnnotationBundle JSON cosign writes.
type rekorBundle struct {
	SignedEntryTimestamp []byte `json:"SignedEntryTimestamp"`
	Payload              struct {
		Body           string `json:"body"`
		IntegratedTime int64  `json:"integratedTime"`
		LogIndex       int64  `json:"logIndex"`
		LogID          string `json:"logID"`
	} `json:"Payload"`
}

// parseRekorBundle turns an AnnotationBundle value into a tlog entry.
func parseRekorBundle(s string) (*tlog.Entry, error) {
	var rb rekorBundle
	if err := json.Unmarshal([]byte(s), &rb); err != nil {
		return nil, fmt.Errorf("rekor bundle: %w", err)
	}
	body, err := base64.StdEncoding.DecodeString(rb.Payload.Body)
	if err != nil {
		return nil, fmt.Errorf("rekor bundle body: %w", err)
	}
	logID, err := hex.DecodeString(rb.Payload.LogID)
	if err != nil {
		return nil, fmt.Errorf("rekor bundle logID: %w", err)
	}
	if len(rb.SignedEntryTimestamp) == 0 {
		return nil, errors.New("rekor bundle has no signed entry timestamp")
	}
	e, err := tlog.NewEntry(body, rb.Payload.IntegratedTime, rb.Payload.LogIndex, logID, rb.SignedEntryTimestamp, nil)
	if err != nil {
		return nil, fmt.Errorf("rekor bundle entry: %w", err)
	}
	return e, nil
}

// parseRFC3161 returns the DER timestamp of an AnnotationRFC3161Timestamp.
func parseRFC3161(s string) ([]byte, error) {
	var t struct {
		SignedRFC3161Timestamp []byte `json:"SignedRFC3161Timestamp"`
	}
	if err := json.Unmarshal([]byte(s), &t); err != nil {
		return nil, fmt.Errorf("rfc3161 timestamp: %w", err)
	}
	if len(t.SignedRFC3161Timestamp) == 0 {
		return nil, errors.New("rfc3161 timestamp annotation is empty")
	}
	return t.SignedRFC3161Timestamp, nil
}

// parseCertificates decodes the PEM certificates of s (at most 10).
func parseCertificates(s string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(s)
	for len(out) < 10 {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}

// legacyEntity adapts a legacy signature layer to sigstore-go.
type legacyEntity struct {
	vc         verify.VerificationContent
	sig        []byte
	digest     []byte // SHA-256 of the payload
	entries    []*tlog.Entry
	timestamps [][]byte
}

var _ verify.SignedEntity = (*legacyEntity)(nil)

func (e *legacyEntity) HasInclusionPromise() bool {
	for _, t := range e.entries {
		if t.HasInclusionPromise() {
			return true
		}
	}
	return false
}

func (e *legacyEntity) HasInclusionProof() bool {
	for _, t := range e.entries {
		if t.HasInclusionProof() {
			return true
		}
	}
	return false
}

func (e *legacyEntity) SignatureContent() (verify.SignatureContent, error) {
	return bundle.NewMessageSignature(e.digest, "SHA2_256", e.sig), nil
}

func (e *legacyEntity) Timestamps() ([][]byte, error) { return e.timestamps, nil }

func (e *legacyEntity) TlogEntries() ([]*tlog.Entry, error) { return e.entries, nil }

func (e *legacyEntity) VerificationContent() (verify.VerificationContent, error) { return e.vc, nil }

// Version is the bundle version whose rules apply: legacy entries carry a
// signed entry timestamp (an inclusion promise), as in bundle v0.1.
func (e *legacyEntity) Version() (string, error) { return "v0.1", nil }

// keyContent is the verification content of a signature made with a
// configured key.
type keyContent struct {
	pub crypto.PublicKey
	id  string
}

func (k *keyContent) CompareKey(key any, _ root.TrustedMaterial) bool {
	eq, ok := key.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(k.pub)
}

func (k *keyContent) ValidAtTime(time.Time, root.TrustedMaterial) bool { return true }
func (k *keyContent) Certificate() *x509.Certificate                   { return nil }
func (k *keyContent) Intermediates() []*x509.Certificate               { return nil }
func (k *keyContent) PublicKey() verify.PublicKeyProvider              { return k }
func (k *keyContent) Hint() string                                     { return k.id }

// certContent is the verification content of a certificate signature.
type certContent struct {
	leaf          *x509.Certificate
	intermediates []*x509.Certificate
}

func (c *certContent) CompareKey(key any, _ root.TrustedMaterial) bool {
	cert, ok := key.(*x509.Certificate)
	return ok && c.leaf.Equal(cert)
}

func (c *certContent) ValidAtTime(t time.Time, _ root.TrustedMaterial) bool {
	return !c.leaf.NotAfter.Before(t) && !c.leaf.NotBefore.After(t)
}
func (c *certContent) Certificate() *x509.Certificate      { return c.leaf }
func (c *certContent) Intermediates() []*x509.Certificate  { return c.intermediates }
func (c *certContent) PublicKey() verify.PublicKeyProvider { return nil }

// verifyLegacy verifies the layers of the subject's ".sig" manifest.
func (v *Verifier) verifyLegacy(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor, budget *int, out *sign.Verification) error {
	tag := SignatureTag(subject.Digest)
	desc, err := repo.Resolve(ctx, tag)
	if errors.Is(err, registry.ErrNotFound) {
		v.log().DebugContext(ctx, "cosign: no legacy signature tag", "tag", tag)
		return nil
	}
	if err != nil {
		return fmt.Errorf("cosign: resolve %s: %w", tag, err)
	}
	r := newRecord(sign.FormatCosign, desc)
	raw, err := manifest.Fetch(ctx, repo, desc, v.opts.MaxManifestBytes)
	if err != nil {
		if e := ctxErr(ctx, err); e != nil {
			return e
		}
		out.Signatures = append(out.Signatures, r.inconclusive(checkFormat, "cannot fetch signature manifest: "+err.Error()))
		return nil
	}
	m, err := manifest.Parse(desc.MediaType, raw)
	if err != nil {
		out.Signatures = append(out.Signatures, r.fail(checkFormat, "malformed signature manifest: "+err.Error()))
		return nil
	}
	if !manifest.IsManifest(desc.MediaType) {
		out.Signatures = append(out.Signatures, r.fail(checkFormat, "signature tag "+tag+" is not an image manifest: "+desc.MediaType))
		return nil
	}
	if len(m.Layers) == 0 {
		out.Signatures = append(out.Signatures, r.fail(checkFormat, "signature manifest has no layers"))
		return nil
	}
	v.log().DebugContext(ctx, "cosign: legacy signature manifest", "tag", tag, "digest", desc.Digest, "layers", len(m.Layers))
	for i, layer := range m.Layers {
		if *budget <= 0 {
			out.Unexamined += len(m.Layers) - i
			break
		}
		*budget--
		s, err := v.verifyLegacyLayer(ctx, repo, subject, desc, i, layer)
		if err != nil {
			return err
		}
		out.Signatures = append(out.Signatures, s)
	}
	return nil
}

// verifyLegacyLayer verifies one simple-signing layer.
func (v *Verifier) verifyLegacyLayer(ctx context.Context, repo registry.Repository, subject, manifest ocispec.Descriptor, index int, layer ocispec.Descriptor) (sign.Signature, error) {
	r := newRecord(sign.FormatCosign, manifest)
	where := fmt.Sprintf("layer %d (%s)", index, layer.Digest)
	if layer.MediaType != artifact.MediaTypeCosignSimpleSigning {
		return r.inconclusive(checkFormat, where+": unsupported media type "+layer.MediaType), nil
	}
	sigB64, ok := layer.Annotations[AnnotationSignature]
	if !ok || sigB64 == "" {
		return r.fail(checkFormat, where+": no "+AnnotationSignature+" annotation"), nil
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil || len(sig) == 0 {
		return r.fail(checkFormat, where+": signature annotation is not base64"), nil
	}
	if layer.Size > v.opts.MaxPayloadBytes {
		return r.fail(checkFormat, fmt.Sprintf("%s: payload of %d bytes exceeds the %d-byte cap", where, layer.Size, v.opts.MaxPayloadBytes)), nil
	}
	data, err := content.FetchAll(ctx, repo, layer)
	if err != nil {
		if e := ctxErr(ctx, err); e != nil {
			return sign.Signature{}, e
		}
		return r.inconclusive(checkFormat, where+": cannot fetch payload: "+err.Error()), nil
	}
	sum := sha256.Sum256(data)
	entity := &legacyEntity{sig: sig, digest: sum[:]}
	if s, ok := layer.Annotations[AnnotationBundle]; ok {
		e, err := parseRekorBundle(s)
		if err != nil {
			return r.fail(checkFormat, where+": "+err.Error()), nil
		}
		entity.entries = []*tlog.Entry{e}
	}
	if s, ok := layer.Annotations[AnnotationRFC3161Timestamp]; ok {
		ts, err := parseRFC3161(s)
		if err != nil {
			return r.fail(checkFormat, where+": "+err.Error()), nil
		}
		entity.timestamps = [][]byte{ts}
	}
	var certs []*x509.Certificate
	if s, ok := layer.Annotations[AnnotationCertificate]; ok && s != "" {
		certs, err = parseCertificates(s)
		if err != nil {
			return r.fail(checkFormat, where+": certificate annotation: "+err.Error()), nil
		}
		if chain, ok := layer.Annotations[AnnotationChain]; ok && chain != "" {
			c, err := parseCertificates(chain)
			if err != nil {
				return r.fail(checkFormat, where+": chain annotation: "+err.Error()), nil
			}
			certs = append(certs[:1], c...)
		}
	}
	r.pass(checkFormat, where)

	policyOpts := func(extra ...verify.PolicyOption) verify.PolicyBuilder {
		return verify.NewPolicy(verify.WithArtifact(bytes.NewReader(data)), extra...)
	}
	key := v.matchKey(func(k *keyVerifier) bool {
		return k.sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(data)) == nil
	})
	var res *verify.VerificationResult
	kind := kindKey
	switch {
	case key != nil:
		entity.vc = &keyContent{pub: key.pub, id: key.id}
		var failed *sign.Signature
		res, failed = v.runSigstore(key.v, entity, policyOpts(verify.WithKey()), kindKey, false, r)
		if failed != nil {
			return *failed, nil
		}
	case len(certs) > 0 && v.keyless != nil:
		kind = kindCertificate
		entity.vc = &certContent{leaf: certs[0], intermediates: intermediates(certs[1:])}
		var failed *sign.Signature
		res, failed = v.runSigstore(v.keyless, entity, policyOpts(v.identityPolicy()...), kindCertificate, false, r)
		if failed != nil {
			return *failed, nil
		}
	case len(certs) > 0:
		return r.inconclusive(checkSignature, "certificate signature that no configured key verifies, and no TrustedRoot is configured"), nil
	case len(v.keys) == 0:
		return r.inconclusive(checkSignature, "key signature, but no PublicKeys are configured"), nil
	default:
		return r.fail(checkSignature, fmt.Sprintf("signature does not verify with any of the %d configured public keys", len(v.keys))), nil
	}
	v.finish(r, res, kind, key)

	p, err := parsePayload(data)
	if err != nil {
		return r.fail(checkSubject, err.Error()), nil
	}
	if got := p.Critical.Image.DockerManifestDigest; got != subject.Digest.String() {
		return r.fail(checkSubject, fmt.Sprintf("payload signs %s, not the subject %s", got, subject.Digest)), nil
	}
	r.pass(checkSubject, "docker-manifest-digest "+subject.Digest.String())
	return r.verified(), nil
}

// intermediates drops self-signed roots from a chain: trust comes from the
// trusted root only.
func intermediates(chain []*x509.Certificate) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range chain {
		if bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil {
			continue
		}
		out = append(out, c)
	}
	return out
}
