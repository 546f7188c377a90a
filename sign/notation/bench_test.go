package notation_test

import (
	"context"
	"testing"

	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"
)

// BenchmarkSign measures signing an image in a memory repository
// (envelope creation, self-verification, push of blob and manifest).
func BenchmarkSign(b *testing.B) {
	for _, kt := range []devpki.KeyType{devpki.ECDSAP256, devpki.RSA3072} {
		b.Run(string(kt), func(b *testing.B) {
			p := newPKI(b, kt, "")
			s := newSigner(b, p.leaf.Key, p.leaf.Chain, notation.SignerOptions{})
			repo := newMemRepo(b)
			img := pushImage(b, repo, 1)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(ctx, repo, img); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify measures verifying a subject with one signature in a
// memory repository (listing, fetching, all checks, offline revocation).
func BenchmarkVerify(b *testing.B) {
	for _, kt := range []devpki.KeyType{devpki.ECDSAP256, devpki.RSA3072} {
		b.Run(string(kt), func(b *testing.B) {
			p := newPKI(b, kt, "")
			s := newSigner(b, p.leaf.Key, p.leaf.Chain, notation.SignerOptions{})
			repo := newMemRepo(b)
			img := pushImage(b, repo, 1)
			ctx := context.Background()
			if _, err := s.Sign(ctx, repo, img); err != nil {
				b.Fatal(err)
			}
			v := newVerifier(b, notation.VerifierOptions{TrustPolicy: policy(b, "strict", identity), TrustStore: store(b, p.ca.Certificate)})
			b.ReportAllocs()
			for b.Loop() {
				res, err := v.Verify(ctx, repo, img)
				if err != nil || !res.Verified() {
					b.Fatal(err, res)
				}
			}
		})
	}
}
