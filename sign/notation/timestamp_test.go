package notation_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"
)

// TestTimestamp signs with an RFC 3161 timestamp from a development TSA
// on loopback and verifies the authentic timestamp.
func TestTimestamp(t *testing.T) {
	ctx := context.Background()
	tsaTime := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	tsa, err := devpki.NewInsecureDevelopmentTSA(devpki.TSAOptions{Now: func() time.Time { return tsaTime }})
	require.NoError(t, err)
	srv := httptest.NewServer(tsa.Handler())
	defer srv.Close()

	p := newPKI(t, devpki.ECDSAP256, "")
	for _, env := range []string{notation.EnvelopeJWS, notation.EnvelopeCOSE} {
		t.Run(env, func(t *testing.T) {
			s := newSigner(t, p.leaf.Key, p.leaf.Chain, notation.SignerOptions{Envelope: env,
				Timestamp: &notation.Timestamping{URL: srv.URL, RootCAs: tsa.RootPool(), HTTPClient: srv.Client()}})
			repo := newMemRepo(t)
			img := pushImage(t, repo, 1)
			_, err := s.Sign(ctx, repo, img)
			require.NoError(t, err)

			doc, err := notation.ParseTrustPolicy([]byte(`{"version":"1.0","trustPolicies":[{"name":"tsa","registryScopes":["*"],
				"signatureVerification":{"level":"strict","verifyTimestamp":"always"},"trustStores":["ca:test","tsa:test"],"trustedIdentities":["*"]}]}`))
			require.NoError(t, err)
			ts := store(t, p.ca.Certificate)
			require.NoError(t, ts.Add(notation.StoreTSA, "test", tsa.Root))
			v := newVerifier(t, notation.VerifierOptions{TrustPolicy: doc, TrustStore: ts})
			res, err := v.Verify(ctx, repo, img)
			require.NoError(t, err)
			require.Len(t, res.Signatures, 1)
			sig := res.Signatures[0]
			assert.Equal(t, sign.StateVerified, sig.State, "cause %q checks %+v", sig.Cause, sig.Checks)
			assert.True(t, sig.Timestamped, "timestamped")
			assert.Equal(t, tsaTime, sig.Timestamp, "the TSA's time")

			// Without the TSA root in the trust store the timestamp cannot be
			// trusted: not verified.
			v2 := newVerifier(t, notation.VerifierOptions{TrustPolicy: doc, TrustStore: store(t, p.ca.Certificate)})
			res, err = v2.Verify(ctx, repo, img)
			require.NoError(t, err)
			assert.False(t, res.Verified(), "%+v", res.Signatures)
			assert.NotEqual(t, sign.CheckPassed, check(res.Signatures[0], "authenticTimestamp").Result)
		})
	}

	// A TSA that rejects requests makes signing fail.
	bad, err := devpki.NewInsecureDevelopmentTSA(devpki.TSAOptions{Reject: true})
	require.NoError(t, err)
	badSrv := httptest.NewServer(bad.Handler())
	defer badSrv.Close()
	s := newSigner(t, p.leaf.Key, p.leaf.Chain, notation.SignerOptions{Timestamp: &notation.Timestamping{URL: badSrv.URL, RootCAs: bad.RootPool()}})
	repo := newMemRepo(t)
	_, err = s.Sign(ctx, repo, pushImage(t, repo, 2))
	assert.ErrorIs(t, err, sign.ErrSigningFailed)
}
