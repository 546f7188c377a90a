package notation_test

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"
)

const policyJSON = `{
  "version": "1.0",
  "trustPolicies": [{
    "name": "cssc",
    "registryScopes": ["*"],
    "signatureVerification": {"level": "strict"},
    "trustStores": ["ca:cssc"],
    "trustedIdentities": ["x509.subject: C=US, ST=WA, O=cssc development"]
  }]
}`

// TestConfigDir signs with key files and verifies with a notation CLI
// configuration directory, and with the same files as an fs.FS.
func TestConfigDir(t *testing.T) {
	ctx := context.Background()
	p := newPKI(t, devpki.RSA2048, "")
	dir := t.TempDir()
	keyPath, certPath, err := p.leaf.WriteFiles(dir, "signer")
	require.NoError(t, err)
	s, err := notation.NewSignerFromFiles(keyPath, certPath, notation.SignerOptions{})
	require.NoError(t, err)

	cfg := filepath.Join(dir, "notation")
	require.NoError(t, os.MkdirAll(filepath.Join(cfg, "truststore", "x509", "ca", "cssc"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(cfg, "trustpolicy.oci.json"), []byte(policyJSON), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(cfg, "truststore", "x509", "ca", "cssc", "root.crt"), p.ca.CertificatePEM(), 0o644))

	repo := newMemRepo(t)
	img := pushImage(t, repo, 1)
	_, err = s.Sign(ctx, repo, img)
	require.NoError(t, err)

	doc, ts, err := notation.LoadConfigDir(cfg)
	require.NoError(t, err)
	assert.Equal(t, []string{"ca:cssc"}, ts.Names())
	v := newVerifier(t, notation.VerifierOptions{TrustPolicy: doc, TrustStore: ts, Revocation: notation.RevocationSkipUnsafe})
	res, err := v.Verify(ctx, repo, img)
	require.NoError(t, err)
	assert.True(t, res.Verified(), "%+v", res.Signatures)

	fsys := fstest.MapFS{
		"trustpolicy.json":                 {Data: []byte(policyJSON)},
		"truststore/x509/ca/cssc/root.pem": {Data: p.ca.CertificatePEM()},
	}
	doc2, err := notation.LoadTrustPolicy(fsys)
	require.NoError(t, err)
	sub, err := fsSub(fsys, "truststore")
	require.NoError(t, err)
	ts2, err := notation.LoadTrustStore(sub)
	require.NoError(t, err)
	v2 := newVerifier(t, notation.VerifierOptions{TrustPolicy: doc2, TrustStore: ts2})
	res, err = v2.Verify(ctx, repo, img)
	require.NoError(t, err)
	assert.True(t, res.Verified(), "%+v", res.Signatures)
}

// TestConfigErrors: construction fails closed.
func TestConfigErrors(t *testing.T) {
	p := newPKI(t, devpki.ECDSAP256, "")
	other := newPKI(t, devpki.ECDSAP256, "")
	doc := policy(t, "strict")
	ts := store(t, p.ca.Certificate)
	for name, opts := range map[string]notation.VerifierOptions{
		"no-policy":     {TrustStore: ts, Revocation: notation.RevocationOffline},
		"no-store":      {TrustPolicy: doc, Revocation: notation.RevocationOffline},
		"no-revocation": {TrustPolicy: doc, TrustStore: ts},
		"bad-crl":       {TrustPolicy: doc, TrustStore: ts, Revocation: notation.RevocationOffline, CRLs: map[string][]byte{"http://x/crl": []byte("nope")}},
		"invalid-policy": {TrustPolicy: &notation.TrustPolicy{Version: "1.0"}, TrustStore: ts,
			Revocation: notation.RevocationOffline},
	} {
		_, err := notation.NewVerifier(opts)
		assert.ErrorIs(t, err, sign.ErrInvalidConfig, name)
	}
	for name, data := range map[string]string{
		"unknown-field": `{"version":"1.0","trustPolicies":[],"extra":true}`,
		"bad-level":     `{"version":"1.0","trustPolicies":[{"name":"a","registryScopes":["*"],"signatureVerification":{"level":"lenient"},"trustStores":["ca:a"],"trustedIdentities":["*"]}]}`,
		"not-json":      `trustPolicies:`,
		"trailing":      policyJSON + `{}`,
	} {
		_, err := notation.ParseTrustPolicy([]byte(data))
		assert.ErrorIs(t, err, sign.ErrInvalidConfig, name)
	}
	_, err := notation.LoadTrustPolicy(fstest.MapFS{})
	assert.ErrorIs(t, err, sign.ErrInvalidConfig)
	_, _, err = notation.LoadConfigDir("")
	assert.ErrorIs(t, err, sign.ErrInvalidConfig)

	var s notation.TrustStore
	assert.Error(t, s.Add("bogus", "a", p.ca.Certificate))
	assert.Error(t, s.Add(notation.StoreCA, "../a", p.ca.Certificate))
	assert.Error(t, s.Add(notation.StoreCA, "a", p.leaf.Certificate), "a leaf is not a trust anchor")
	assert.Error(t, s.AddPEM(notation.StoreCA, "a", []byte("not pem")))

	for name, f := range map[string]func() error{
		"mismatched-key": func() error {
			_, err := notation.NewSigner(other.leaf.Key, p.leaf.Chain, notation.SignerOptions{})
			return err
		},
		"mismatched-kms": func() error {
			_, err := notation.NewSigner(opaqueKey{other.leaf.Key}, p.leaf.Chain, notation.SignerOptions{})
			return err
		},
		"no-chain": func() error { _, err := notation.NewSigner(p.leaf.Key, nil, notation.SignerOptions{}); return err },
		"bad-envelope": func() error {
			_, err := notation.NewSigner(p.leaf.Key, p.leaf.Chain, notation.SignerOptions{Envelope: "x"})
			return err
		},
		"bad-expiry": func() error {
			_, err := notation.NewSigner(p.leaf.Key, p.leaf.Chain, notation.SignerOptions{Expiry: 1500 * time.Millisecond})
			return err
		},
		"reserved-metadata": func() error {
			_, err := notation.NewSigner(p.leaf.Key, p.leaf.Chain, notation.SignerOptions{UserMetadata: map[string]string{"io.cncf.notary.x": "y"}})
			return err
		},
		"tsa-without-roots": func() error {
			_, err := notation.NewSigner(p.leaf.Key, p.leaf.Chain, notation.SignerOptions{Timestamp: &notation.Timestamping{URL: "http://127.0.0.1:1"}})
			return err
		},
		"missing-files": func() error {
			_, err := notation.NewSignerFromFiles("/nonexistent.key", "/nonexistent.crt", notation.SignerOptions{})
			return err
		},
		"no-plugin-dir": func() error {
			_, err := notation.NewPluginSigner(context.Background(), t.TempDir(), "absent", "key", notation.SignerOptions{})
			return err
		},
	} {
		assert.ErrorIs(t, f(), sign.ErrInvalidConfig, name)
	}
}

// TestMetadataAndExpiry checks user metadata requirements (signatures are
// made with an expiry an hour ahead, which must pass).
func TestMetadataAndExpiry(t *testing.T) {
	ctx := context.Background()
	p := newPKI(t, devpki.ECDSAP256, "")
	repo := newMemRepo(t)
	img := pushImage(t, repo, 1)
	s := newSigner(t, p.leaf.Key, p.leaf.Chain, notation.SignerOptions{UserMetadata: map[string]string{"stage": "golden"}, Expiry: time.Hour})
	_, err := s.Sign(ctx, repo, img)
	require.NoError(t, err)
	for _, c := range []struct {
		want  map[string]string
		state sign.State
	}{
		{map[string]string{"stage": "golden"}, sign.StateVerified},
		{map[string]string{"stage": "quarantine"}, sign.StateFailed},
	} {
		v := newVerifier(t, notation.VerifierOptions{TrustPolicy: policy(t, "strict"), TrustStore: store(t, p.ca.Certificate), UserMetadata: c.want})
		res, err := v.Verify(ctx, repo, img)
		require.NoError(t, err)
		require.Len(t, res.Signatures, 1)
		assert.Equal(t, c.state, res.Signatures[0].State, "%v: %s", c.want, res.Signatures[0].Cause)
		assert.NotEqual(t, sign.CheckSkipped, check(res.Signatures[0], "userMetadata").Result)
	}
}

// TestVerificationJSON checks that a Verification marshals to the agreed
// stable field names.
func TestVerificationJSON(t *testing.T) {
	ctx := context.Background()
	p := newPKI(t, devpki.ECDSAP256, "")
	repo := newMemRepo(t)
	img := pushImage(t, repo, 1)
	_, err := newSigner(t, p.leaf.Key, p.leaf.Chain, notation.SignerOptions{}).Sign(ctx, repo, img)
	require.NoError(t, err)
	v := newVerifier(t, notation.VerifierOptions{TrustPolicy: policy(t, "strict"), TrustStore: store(t, p.ca.Certificate)})
	res, err := v.Verify(ctx, repo, img)
	require.NoError(t, err)
	raw, err := json.Marshal(res)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	require.Contains(t, m, "subject")
	sigs := m["signatures"].([]any)
	require.Len(t, sigs, 1)
	s := sigs[0].(map[string]any)
	for _, k := range []string{"format", "digest", "state", "identity", "issuer", "trustPolicy", "level", "timestamp", "checks"} {
		assert.Contains(t, s, k)
	}
	assert.Equal(t, "notation-jws", s["format"])
	assert.Equal(t, "verified", s["state"])
	names := []string{}
	for _, c := range s["checks"].([]any) {
		names = append(names, c.(map[string]any)["name"].(string))
	}
	assert.Equal(t, []string{"integrity", "authenticity", "expiry", "authenticTimestamp", "revocation", "subject"}, names)

	// An unsigned subject marshals an empty list, not null.
	res, err = v.Verify(ctx, repo, pushImage(t, repo, 2))
	require.NoError(t, err)
	raw, err = json.Marshal(res)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"signatures":[]`)
	assert.True(t, errors.Is(res.Err(), sign.ErrNoSignature))
}

func fsSub(fsys fs.FS, dir string) (fs.FS, error) { return fs.Sub(fsys, dir) }
