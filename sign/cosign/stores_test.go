package cosign

import (
	"context"
	"crypto"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/sign"
)

// TestStores runs the same signatures against every storage kind: the OCI
// registry with and without the referrers API, the distribution registry
// (no referrers API), an OCI layout directory and memory.
func TestStores(t *testing.T) {
	vs := newSigstore(t)
	key := newECDSA(t)
	opts := Options{
		PublicKeys:  []crypto.PublicKey{key.Public()},
		TrustedRoot: vs,
		Identities:  []Identity{{Issuer: testIssuer, SubjectAlternativeName: testIdentity}},
		// The key signatures here are not logged (--tlog-upload=false).
		IgnoreTransparencyLogUnsafe: true,
	}
	v := mustNew(t, opts)
	for _, store := range registrytest.Stores(t) {
		t.Run(store.Name, func(t *testing.T) {
			ctx := context.Background()
			repo := store.Repository(t, "library/app")
			subject := pushImage(t, repo, "app")
			elsewhere := pushImage(t, repo, "other")

			// Legacy: one key signature, one keyless, one over another digest.
			pushLegacy(t, repo, subject,
				keyLayer(t, key, cosignPayload("registry.example/app", subject.Digest)),
				keylessLayer(t, vs, testIdentity, testIssuer, cosignPayload("registry.example/app", subject.Digest)),
				keyLayer(t, key, cosignPayload("registry.example/app", elsewhere.Digest)),
			)
			// Bundles: keyless DSSE, key DSSE, a foreign identity, garbage.
			attachBundle(t, repo, subject, keylessDSSEBundle(t, vs, testIdentity, testIssuer, statement(subject.Digest, PredicateCosignSign)), dsseAnnotations(PredicateCosignSign))
			attachBundle(t, repo, subject, keyDSSEBundle(t, key, statement(subject.Digest, PredicateCosignSign)), dsseAnnotations(PredicateCosignSign))
			attachBundle(t, repo, subject, keylessDSSEBundle(t, vs, "mallory@example.org", testIssuer, statement(subject.Digest, PredicateCosignSign)), nil)
			attachBundle(t, repo, subject, []byte("garbage"), nil)
			// An unsigned image next to it has nothing.
			res, err := v.Verify(ctx, repo, elsewhere)
			require.NoError(t, err)
			assert.Empty(t, res.Signatures, "unsigned image")

			res, err = v.Verify(ctx, repo, subject)
			require.NoError(t, err)
			got := map[string]int{}
			for _, s := range res.Signatures {
				got[s.Format+"/"+string(s.State)]++
				if s.State == sign.StateVerified {
					assert.NotEmpty(t, s.Identity)
				} else {
					assert.NotEmpty(t, s.Cause)
				}
			}
			assert.Equal(t, map[string]int{
				"cosign/verified":          2,
				"cosign/failed":            1,
				"sigstore-bundle/verified": 2,
				"sigstore-bundle/failed":   2,
			}, got, "signatures: %+v", res.Signatures)
			id, _ := KeyID(key.Public())
			assert.Equal(t, []string{testIdentity, id}, res.VerifiedIdentities())
			assert.Zero(t, res.Unexamined)
		})
	}
}

// TestThousandsOfReferrers checks that a flood of bundles is capped: the
// verifier examines MaxSignatures, reports the rest as unexamined, and
// nothing passes.
func TestThousandsOfReferrers(t *testing.T) {
	// Without the referrers API every attach rewrites the growing fallback
	// index, so those registries get fewer.
	for _, tc := range []struct {
		kind string
		n    int
	}{{"memory", 2000}, {string(registrytest.OCI), 1000}, {string(registrytest.OCINoReferrers), 100}, {string(registrytest.Distribution), 100}} {
		t.Run(tc.kind, func(t *testing.T) {
			var repo registry.Repository
			if tc.kind == "memory" {
				repo = memRepo(t)
			} else {
				repo = registrytest.Start(t, registrytest.Kind(tc.kind)).Repository(t, "flood")
			}
			subject := pushImage(t, repo, "app")
			n := tc.n
			if testing.Short() && n > 100 && tc.kind != "memory" {
				n = 100
			}
			for i := range n {
				attachBundle(t, repo, subject, fmt.Appendf(nil, `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","junk":%d}`, i), nil)
			}
			v := mustNew(t, Options{TrustedRoot: newSigstore(t), AnyIdentityUnsafe: true, MaxSignatures: 50})
			res, err := v.Verify(context.Background(), repo, subject)
			require.NoError(t, err)
			assert.Len(t, res.Signatures, 50)
			assert.Equal(t, n-50, res.Unexamined)
			assert.False(t, res.Verified())
			for _, s := range res.Signatures {
				assert.Equal(t, sign.StateFailed, s.State)
			}
		})
	}
}

// TestRegistryFailures checks that a signature whose blobs cannot be read is
// inconclusive, and that a registry that cannot list is an error.
func TestRegistryFailures(t *testing.T) {
	var failBlobs, failReferrers atomic.Bool
	reg := registrytest.Start(t, registrytest.OCI, registrytest.Options{Middleware: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if failBlobs.Load() && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				http.Error(w, "boom", http.StatusForbidden)
				return
			}
			if failReferrers.Load() && strings.Contains(r.URL.Path, "/referrers/") {
				http.Error(w, "boom", http.StatusForbidden)
				return
			}
			h.ServeHTTP(w, r)
		})
	}})
	repo := reg.Repository(t, "app")
	vs := newSigstore(t)
	key := newECDSA(t)
	subject := pushImage(t, repo, "app")
	pushLegacy(t, repo, subject, keyLayer(t, key, cosignPayload("registry.example/app", subject.Digest)))
	attachBundle(t, repo, subject, keylessDSSEBundle(t, vs, testIdentity, testIssuer, statement(subject.Digest, PredicateCosignSign)), nil)
	v := mustNew(t, Options{PublicKeys: []crypto.PublicKey{key.Public()}, TrustedRoot: vs, AnyIdentityUnsafe: true, IgnoreTransparencyLogUnsafe: true})

	failBlobs.Store(true)
	res, err := v.Verify(context.Background(), repo, subject)
	require.NoError(t, err)
	require.Len(t, res.Signatures, 2)
	for _, s := range res.Signatures {
		assert.Equal(t, sign.StateInconclusive, s.State, "cause: %s", s.Cause)
		assert.Contains(t, s.Cause, "cannot fetch")
	}
	failBlobs.Store(false)

	failReferrers.Store(true)
	_, err = v.Verify(context.Background(), repo, subject)
	assert.Error(t, err, "a registry that cannot list referrers is an error, not an empty result")
	failReferrers.Store(false)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = v.Verify(ctx, repo, subject)
	assert.ErrorIs(t, err, context.Canceled)
}
