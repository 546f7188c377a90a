package cosign

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkVerifyLegacyKey measures Verify of an image with one legacy ECDSA
// key signature in memory (tag resolve, manifest and payload fetch,
// signature check, referrers listing).
func BenchmarkVerifyLegacyKey(b *testing.B) {
	repo := memRepo(b)
	subject := pushImage(b, repo, "app")
	key := newECDSA(b)
	pushLegacy(b, repo, subject, keyLayer(b, key, cosignPayload("registry.example/app", subject.Digest)))
	v := mustNew(b, keyOpts(key.Public()))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, err := v.Verify(ctx, repo, subject)
		require.NoError(b, err)
		require.True(b, res.Verified())
	}
}

// BenchmarkVerifyKeylessBundle measures Verify of an image with one keyless
// sigstore bundle (transparency log proof and SET, RFC 3161 timestamp,
// certificate chain, DSSE signature, identity).
func BenchmarkVerifyKeylessBundle(b *testing.B) {
	vs := newSigstore(b)
	repo := memRepo(b)
	subject := pushImage(b, repo, "app")
	attachBundle(b, repo, subject, keylessDSSEBundle(b, vs, testIdentity, testIssuer, statement(subject.Digest, PredicateCosignSign)), nil)
	v := mustNew(b, keylessOpts(vs))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res, err := v.Verify(ctx, repo, subject)
		require.NoError(b, err)
		require.True(b, res.Verified())
	}
}
