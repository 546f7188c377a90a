package cosign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
)

// Values of artifact.AnnotationSigstoreBundleContent.
const (
	// BundleContentDSSE marks a bundle holding a DSSE envelope.
	BundleContentDSSE = "dsse-envelope"
	// BundleContentMessageSignature marks a bundle holding a message
	// signature.
	BundleContentMessageSignature = "message-signature"
)

// errUnsupportedBundle marks a bundle of a version or shape this package
// does not read (inconclusive rather than failed).
var errUnsupportedBundle = errors.New("unsupported bundle")

// parseBundle decodes and validates a sigstore bundle JSON document (v0.1
// to v0.3, as sigstore-go v1.3 supports).
func parseBundle(data []byte) (b *bundle.Bundle, err error) {
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("malformed bundle: %v", p)
		}
	}()
	var head struct {
		MediaType string `json:"mediaType"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("malformed bundle: %v", err)
	}
	if !knownBundleMediaTypes[head.MediaType] {
		if strings.HasPrefix(head.MediaType, "application/vnd.dev.sigstore.bundle") {
			return nil, fmt.Errorf("%w: media type %q", errUnsupportedBundle, head.MediaType)
		}
		return nil, fmt.Errorf("malformed bundle: media type %q is not a sigstore bundle", head.MediaType)
	}
	b = &bundle.Bundle{}
	if err := b.UnmarshalJSON(data); err != nil {
		if errors.Is(err, bundle.ErrUnsupportedMediaType) {
			return nil, fmt.Errorf("%w: %v", errUnsupportedBundle, err)
		}
		return nil, fmt.Errorf("malformed bundle: %v", err)
	}
	if b.Bundle == nil || b.VerificationMaterial == nil || b.Content == nil {
		return nil, errors.New("malformed bundle: no verification material or content")
	}
	return b, nil
}

// knownBundleMediaTypes are the bundle versions sigstore-go v1.3 reads.
var knownBundleMediaTypes = map[string]bool{
	"application/vnd.dev.sigstore.bundle+json;version=0.1": true,
	"application/vnd.dev.sigstore.bundle+json;version=0.2": true,
	"application/vnd.dev.sigstore.bundle+json;version=0.3": true,
	"application/vnd.dev.sigstore.bundle.v0.3+json":        true,
}

// isBundleMediaType reports whether mt is a sigstore bundle JSON media type.
func isBundleMediaType(mt string) bool {
	return strings.HasPrefix(mt, "application/vnd.dev.sigstore.bundle") && strings.Contains(mt, "json")
}

// verifyBundles verifies the sigstore bundle referrers of subject.
func (v *Verifier) verifyBundles(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor, budget *int, out *sign.Verification) error {
	refs, err := registry.Referrers(ctx, repo, subject, artifact.TypeSigstoreBundle)
	if err != nil {
		return fmt.Errorf("cosign: list referrers of %s: %w", subject.Digest, err)
	}
	v.log().DebugContext(ctx, "cosign: bundle referrers", "subject", subject.Digest, "count", len(refs))
	for i, desc := range refs {
		if pt, ok := desc.Annotations[artifact.AnnotationSigstoreBundlePredicateType]; ok && desc.Annotations[artifact.AnnotationSigstoreBundleContent] != BundleContentMessageSignature && !v.acceptsPredicate(pt) {
			v.log().DebugContext(ctx, "cosign: skip attestation bundle", "digest", desc.Digest, "predicateType", pt)
			continue
		}
		if *budget <= 0 {
			out.Unexamined += len(refs) - i
			break
		}
		*budget--
		s, skip, err := v.verifyBundle(ctx, repo, subject, desc)
		if err != nil {
			return err
		}
		if !skip {
			out.Signatures = append(out.Signatures, s)
		}
	}
	return nil
}

// verifyBundle verifies one bundle referrer. skip is true when the bundle
// is an attestation of a predicate type that is not a signature.
func (v *Verifier) verifyBundle(ctx context.Context, repo registry.Repository, subject, desc ocispec.Descriptor) (s sign.Signature, skip bool, err error) {
	r := newRecord(sign.FormatSigstoreBundle, desc)
	raw, err := manifest.Fetch(ctx, repo, desc, v.opts.MaxManifestBytes)
	if err != nil {
		if e := ctxErr(ctx, err); e != nil {
			return s, false, e
		}
		return r.inconclusive(checkFormat, "cannot fetch bundle manifest: "+err.Error()), false, nil
	}
	m, err := manifest.Parse(desc.MediaType, raw)
	if err != nil {
		return r.fail(checkFormat, "malformed bundle manifest: "+err.Error()), false, nil
	}
	if m.Subject == nil || m.Subject.Digest != subject.Digest {
		return r.fail(checkSubject, "bundle manifest does not refer to the subject"), false, nil
	}
	var layer *ocispec.Descriptor
	for i := range m.Layers {
		if isBundleMediaType(m.Layers[i].MediaType) {
			layer = &m.Layers[i]
			break
		}
	}
	if layer == nil {
		return r.fail(checkFormat, "bundle manifest has no sigstore bundle layer"), false, nil
	}
	if layer.Size > v.opts.MaxBundleBytes {
		return r.fail(checkFormat, fmt.Sprintf("bundle of %d bytes exceeds the %d-byte cap", layer.Size, v.opts.MaxBundleBytes)), false, nil
	}
	data, err := content.FetchAll(ctx, repo, *layer)
	if err != nil {
		if e := ctxErr(ctx, err); e != nil {
			return s, false, e
		}
		return r.inconclusive(checkFormat, "cannot fetch bundle: "+err.Error()), false, nil
	}
	b, err := parseBundle(data)
	if errors.Is(err, errUnsupportedBundle) {
		return r.inconclusive(checkFormat, err.Error()), false, nil
	}
	if err != nil {
		return r.fail(checkFormat, err.Error()), false, nil
	}
	sc, err := b.SignatureContent()
	if err != nil {
		return r.fail(checkFormat, "bundle content: "+err.Error()), false, nil
	}
	// Key preselection needs the signed bytes (DSSE) or the digest
	// (message signature).
	var keyMatches func(k *keyVerifier) bool
	if env := sc.EnvelopeContent(); env != nil {
		raw := env.RawEnvelope()
		if raw.PayloadType != bundle.IntotoMediaType {
			v.log().DebugContext(ctx, "cosign: skip DSSE bundle that is not in-toto", "digest", desc.Digest, "payloadType", raw.PayloadType)
			return s, true, nil
		}
		st, err := env.Statement()
		if err != nil {
			return r.fail(checkFormat, "bundle statement: "+err.Error()), false, nil
		}
		if !v.acceptsPredicate(st.GetPredicateType()) {
			v.log().DebugContext(ctx, "cosign: skip attestation bundle", "digest", desc.Digest, "predicateType", st.GetPredicateType())
			return s, true, nil
		}
		if len(raw.Signatures) != 1 {
			return r.fail(checkFormat, fmt.Sprintf("DSSE envelope has %d signatures, want 1", len(raw.Signatures))), false, nil
		}
		body, err := raw.DecodeB64Payload()
		if err != nil {
			return r.fail(checkFormat, "DSSE payload is not base64"), false, nil
		}
		pae := dssePAE(raw.PayloadType, body)
		sig := sc.Signature()
		keyMatches = func(k *keyVerifier) bool {
			return k.sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(pae)) == nil
		}
	} else if ms := sc.MessageSignatureContent(); ms != nil {
		keyMatches = func(k *keyVerifier) bool { return verifyDigest(k, ms.Digest(), ms.Signature()) }
	} else {
		return r.fail(checkFormat, "bundle has neither a DSSE envelope nor a message signature"), false, nil
	}
	r.pass(checkFormat, "")

	vc, err := b.VerificationContent()
	if err != nil {
		return r.fail(checkFormat, "bundle verification material: "+err.Error()), false, nil
	}
	digestBytes, err := hex.DecodeString(subject.Digest.Encoded())
	if err != nil {
		return r.fail(checkSubject, "subject digest is not hex"), false, nil
	}
	policy := func(extra ...verify.PolicyOption) verify.PolicyBuilder {
		return verify.NewPolicy(verify.WithArtifactDigest(subject.Digest.Algorithm().String(), digestBytes), extra...)
	}
	var res *verify.VerificationResult
	var failed *sign.Signature
	var key *keyVerifier
	kind := kindKey
	switch {
	case vc.Certificate() != nil && v.keyless != nil:
		kind = kindCertificate
		res, failed = v.runSigstore(v.keyless, b, policy(v.identityPolicy()...), kindCertificate, true, r)
	case vc.Certificate() != nil:
		return r.inconclusive(checkSignature, "certificate signature, but no TrustedRoot is configured"), false, nil
	case vc.PublicKey() != nil && len(v.keys) == 0:
		return r.inconclusive(checkSignature, "key signature, but no PublicKeys are configured"), false, nil
	case vc.PublicKey() != nil:
		key = v.matchKey(keyMatches)
		if key == nil {
			return r.fail(checkSignature, fmt.Sprintf("signature does not verify with any of the %d configured public keys", len(v.keys))), false, nil
		}
		res, failed = v.runSigstore(key.v, b, policy(verify.WithKey()), kindKey, true, r)
	default:
		return r.fail(checkFormat, "bundle has neither a certificate nor a public key"), false, nil
	}
	if failed != nil {
		return *failed, false, nil
	}
	v.finish(r, res, kind, key)
	return r.verified(), false, nil
}

// dssePAE is the DSSE v1 pre-authentication encoding that is signed.
func dssePAE(payloadType string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(body)))
	b.WriteByte(' ')
	b.Write(body)
	return b.Bytes()
}

// verifyDigest reports whether sig is k's signature of a SHA-256 digest.
// Ed25519 signs messages, not digests: such keys are tried in turn by
// sigstore-go instead, so verifyDigest reports true for them.
func verifyDigest(k *keyVerifier, digest, sig []byte) bool {
	switch pub := k.pub.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(pub, digest, sig)
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest, sig) == nil
	}
	return true
}
