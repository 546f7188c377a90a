package notation_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/dn"
	"github.com/cssc-go/cssc/sign/notation"
)

// FuzzVerifyEnvelope feeds arbitrary bytes as a signature envelope (JWS or
// COSE) through the whole verification path: never a panic, never an
// error for a bad envelope, and a verified state only for a genuine
// signature of our key over the subject.
func FuzzVerifyEnvelope(f *testing.F) {
	ctx := context.Background()
	p := newPKI(f, devpki.ECDSAP256, "")
	client := registry.NewClient(registry.Options{})
	seedRepo, err := client.Repository(ctx, "mem:seed")
	if err != nil {
		f.Fatal(err)
	}
	subject := pushImage(f, seedRepo, 1)
	for _, env := range []string{notation.EnvelopeJWS, notation.EnvelopeCOSE} {
		d, err := newSigner(f, p.leaf.Key, p.leaf.Chain, notation.SignerOptions{Envelope: env}).Sign(ctx, seedRepo, subject)
		if err != nil {
			f.Fatal(err)
		}
		b := envelopeOf(f, seedRepo, d)
		f.Add(env == notation.EnvelopeCOSE, b)
		f.Add(env == notation.EnvelopeCOSE, b[:len(b)/2])
	}
	f.Add(false, []byte(`{"payload":"e30","protected":"e30","header":{},"signature":""}`))
	f.Add(false, []byte(`{}`))
	f.Add(true, []byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40})
	f.Add(true, []byte{})
	v := newVerifier(f, notation.VerifierOptions{TrustPolicy: policy(f, "strict", identity), TrustStore: store(f, p.ca.Certificate)})
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, cose bool, env []byte) {
		repo, err := client.Repository(ctx, fmt.Sprintf("mem:fuzz%d", n.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		img := pushImage(t, repo, 1) // same subject as the seeds
		mt := notation.EnvelopeJWS
		if cose {
			mt = notation.EnvelopeCOSE
		}
		if len(env) == 0 {
			env = []byte{0}
		}
		attachEnvelope(t, repo, img, mt, env, time.Time{})
		res, err := v.Verify(ctx, repo, img)
		if err != nil {
			t.Fatalf("Verify error = %v, want a result", err)
		}
		if len(res.Signatures) != 1 {
			t.Fatalf("signatures = %d, want 1", len(res.Signatures))
		}
		s := res.Signatures[0]
		switch s.State {
		case sign.StateVerified:
			if s.Identity != dn.FromPKIX(p.leaf.Certificate.Subject).String() || s.Cause != "" {
				t.Fatalf("verified a signature of %q: %+v", s.Identity, s)
			}
		case sign.StateFailed, sign.StateInconclusive:
			if s.Cause == "" {
				t.Fatalf("state %s without a cause", s.State)
			}
		default:
			t.Fatalf("unknown state %q", s.State)
		}
	})
}

// FuzzParseTrustPolicy: trust policy documents never panic the parser or
// the verifier constructor; what parses also builds a verifier.
func FuzzParseTrustPolicy(f *testing.F) {
	f.Add([]byte(policyJSON))
	f.Add([]byte(`{"version":"1.0","trustPolicies":[{"name":"s","registryScopes":["*"],"signatureVerification":{"level":"skip"}}]}`))
	f.Add([]byte(`{"version":"1.0","trustPolicies":[{"name":"o","registryScopes":["a.io/b"],"signatureVerification":{"level":"strict","override":{"revocation":"log","expiry":"skip"}},"trustStores":["ca:x"],"trustedIdentities":["x509.subject: C=US, ST=WA, O=x"]}]}`))
	f.Add([]byte(`{"version":"2.0"}`))
	f.Add([]byte(`null`))
	ts := &notation.TrustStore{}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := notation.ParseTrustPolicy(data)
		if err != nil {
			return
		}
		if _, err := notation.NewVerifier(notation.VerifierOptions{TrustPolicy: doc, TrustStore: ts, Revocation: notation.RevocationSkipUnsafe}); err != nil {
			t.Fatalf("policy parsed but NewVerifier failed: %v", err)
		}
	})
}

// FuzzTrustStorePEM: certificate files never panic the trust store.
func FuzzTrustStorePEM(f *testing.F) {
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ca.CertificatePEM())
	f.Add(ca.Certificate.Raw)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s notation.TrustStore
		if err := s.AddPEM(notation.StoreCA, "x", data); err != nil {
			return
		}
		certs, err := s.GetCertificates(context.Background(), notation.StoreCA, "x")
		if err != nil || len(certs) == 0 {
			t.Fatalf("added but not returned: %v", err)
		}
	})
}
