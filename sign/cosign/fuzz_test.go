package cosign

import (
	"bytes"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/cssc-go/cssc/sign"
)

// FuzzParseBundle feeds arbitrary bytes to the bundle parser and, when they
// parse, to the full keyless and key verification: nothing may panic and
// nothing may verify.
func FuzzParseBundle(f *testing.F) {
	vs := newSigstore(f)
	key := newECDSA(f)
	d := digest.FromString("subject")
	f.Add(keylessDSSEBundle(f, vs, testIdentity, testIssuer, statement(d, PredicateCosignSign)))
	f.Add(keylessMessageBundle(f, vs, testIdentity, testIssuer, []byte("manifest")))
	f.Add(keyDSSEBundle(f, key, statement(d, PredicateCosignSign)))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.1","verificationMaterial":{"publicKey":{"hint":"x"}},"messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"AAAA"},"signature":"AAAA"}}`))
	f.Add([]byte("null"))
	// An independent trusted root: fuzzed bundles signed by vs would be
	// genuine, so nothing signed by it is fed back as "must fail".
	v := mustNew(f, Options{PublicKeys: key2(f), TrustedRoot: newSigstore(f), AnyIdentityUnsafe: true})
	other := digest.FromString("other")
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := parseBundle(data)
		if err != nil {
			return
		}
		if _, err := b.SignatureContent(); err != nil {
			return
		}
		vc, err := b.VerificationContent()
		if err != nil {
			return
		}
		digestBytes := []byte(other.Encoded())
		policy := verify.NewPolicy(verify.WithArtifactDigest("sha256", digestBytes), v.identityPolicy()...)
		sv, kind := v.keyless, kindCertificate
		if vc.Certificate() == nil {
			sv, kind, policy = v.keys[0].v, kindKey, verify.NewPolicy(verify.WithArtifactDigest("sha256", digestBytes), verify.WithKey())
		}
		r := newRecord(sign.FormatSigstoreBundle, testDesc(data))
		if res, _ := v.runSigstore(sv, b, policy, kind, true, r); res != nil {
			t.Fatalf("fuzzed bundle verified against an unrelated trusted root: %s", data)
		}
	})
}

// FuzzParsePayload checks the simple-signing payload parser.
func FuzzParsePayload(f *testing.F) {
	d := digest.FromString("subject")
	f.Add(cosignPayload("registry.example/app", d))
	f.Add([]byte(`{"critical":{"type":"cosign container image signature","image":{"docker-manifest-digest":"sha256:zz"}}}`))
	f.Add([]byte(`{"critical":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parsePayload(data)
		if err != nil {
			return
		}
		if _, err := digest.Parse(p.Critical.Image.DockerManifestDigest); err != nil {
			t.Fatalf("accepted payload with invalid digest %q", p.Critical.Image.DockerManifestDigest)
		}
	})
}

// FuzzLegacyAnnotations checks the parsers of the Rekor bundle, RFC 3161
// and certificate annotations of legacy signatures.
func FuzzLegacyAnnotations(f *testing.F) {
	vs := newSigstore(f)
	l := keylessLayer(f, vs, testIdentity, testIssuer, cosignPayload("r", digest.FromString("x")))
	for _, k := range []string{AnnotationBundle, AnnotationRFC3161Timestamp, AnnotationCertificate, AnnotationChain} {
		f.Add(l.annotations[k])
	}
	f.Add(`{"SignedEntryTimestamp":"AA==","Payload":{"body":"e30=","integratedTime":1,"logIndex":1,"logID":"00"}}`)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseRekorBundle(s)
		_, _ = parseRFC3161(s)
		if certs, err := parseCertificates(s); err == nil && len(certs) == 0 {
			t.Fatal("no error and no certificate")
		}
		_ = intermediates(nil)
		_ = bytes.Clone([]byte(s))
	})
}
