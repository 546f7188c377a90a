package notation_test

import (
	"context"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	csscpolicy "github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"
)

// A publisher and an enterprise, each with its own CA, in the subjects
// notation users give their certificates.
type party struct {
	ca     *devpki.CA
	signer *notation.Signer
}

func newParty(t testing.TB, org, cn string) party {
	t.Helper()
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{Subject: pkix.Name{
		Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{org}, CommonName: org + " Root CA"}})
	require.NoError(t, err)
	leaf, err := ca.Issue(devpki.LeafOptions{Subject: pkix.Name{
		Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{org}, CommonName: cn}})
	require.NoError(t, err)
	return party{ca: ca, signer: newSigner(t, leaf.Key, leaf.Chain, notation.SignerOptions{})}
}

// scopedTrustPolicy is a trust policy as notation users write it: one
// statement per repository they verify, identities in the x509.subject
// form, no "*" scope.
const scopedTrustPolicy = `{
  "version": "1.0",
  "trustPolicies": [
    {
      "name": "nginx-publisher",
      "registryScopes": ["docker.io/library/nginx"],
      "signatureVerification": {"level": "strict"},
      "trustStores": ["ca:publisher"],
      "trustedIdentities": ["x509.subject: C=US, ST=WA, O=Example Publisher, CN=Example Publisher Release Signing"]
    },
    {
      "name": "golden",
      "registryScopes": ["registry.corp/golden/library/nginx"],
      "signatureVerification": {"level": "strict"},
      "trustStores": ["ca:enterprise"],
      "trustedIdentities": ["x509.subject: C=US, ST=WA, O=Example Corp, CN=Example Corp Golden Images"]
    }
  ]
}`

// notationDir writes a notation CLI configuration directory.
func notationDir(t testing.TB, files map[string]string, stores map[string]*devpki.CA) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644))
	}
	for name, ca := range stores {
		d := filepath.Join(dir, "truststore", "x509", "ca", name)
		require.NoError(t, os.MkdirAll(d, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(d, name+".crt"), ca.CertificatePEM(), 0o644))
	}
	return dir
}

func stateOf(t testing.TB, res *sign.Verification, identity string) sign.State {
	t.Helper()
	for _, s := range res.Signatures {
		if s.Identity == identity {
			return s.State
		}
	}
	return ""
}

// TestScopedTrustPolicy verifies signatures found in a quarantine
// repository under the names they are trusted for: the publisher's under
// the source repository, the enterprise's under golden (issue 10 item 2).
func TestScopedTrustPolicy(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OCI)
	repo := reg.Repository(t, "quarantine/library/nginx")
	img := pushImage(t, repo, 7)
	publisher := newParty(t, "Example Publisher", "Example Publisher Release Signing")
	enterprise := newParty(t, "Example Corp", "Example Corp Golden Images")
	for _, p := range []party{publisher, enterprise} {
		_, err := p.signer.Sign(ctx, repo, img)
		require.NoError(t, err)
	}
	doc, ts, err := notation.LoadConfigDir(notationDir(t, map[string]string{"trustpolicy.oci.json": scopedTrustPolicy},
		map[string]*devpki.CA{"publisher": publisher.ca, "enterprise": enterprise.ca}))
	require.NoError(t, err)
	v := newVerifier(t, notation.VerifierOptions{TrustPolicy: doc, TrustStore: ts})
	pubID := "C=US, ST=WA, O=Example Publisher, CN=Example Publisher Release Signing"
	entID := "C=US, ST=WA, O=Example Corp, CN=Example Corp Golden Images"

	// Under the quarantine name no statement applies: nothing verifies.
	res, err := v.Verify(ctx, repo, img)
	require.NoError(t, err)
	require.Len(t, res.Signatures, 2)
	for _, s := range res.Signatures {
		assert.Equal(t, sign.StateInconclusive, s.State, "no trust policy for %s", repo.Location())
		assert.Contains(t, s.Cause, "no applicable trust policy")
	}

	for _, tc := range []struct {
		name               string
		wantPub, wantEnt   sign.State
		wantPolicyApplying string
	}{
		{"docker.io/library/nginx", sign.StateVerified, sign.StateFailed, "nginx-publisher"},
		{"docker.io/nginx", sign.StateVerified, sign.StateFailed, "nginx-publisher"},
		{"nginx", sign.StateVerified, sign.StateFailed, "nginx-publisher"},
		{"registry.corp/golden/library/nginx", sign.StateFailed, sign.StateVerified, "golden"},
	} {
		for vname, sv := range map[string]sign.Verifier{"notation": v, "multi": sign.Multi{v}} {
			res, err := sign.VerifyAs(ctx, sv, repo, tc.name, img)
			require.NoError(t, err, tc.name)
			assert.Equal(t, tc.wantPub, stateOf(t, res, pubID), "%s: publisher signature verified as %s", vname, tc.name)
			assert.Equal(t, tc.wantEnt, stateOf(t, res, entID), "%s: enterprise signature verified as %s", vname, tc.name)
			for _, s := range res.Signatures {
				assert.Equal(t, tc.wantPolicyApplying, s.TrustPolicy, "%s: statement applied as %s", vname, tc.name)
			}
		}
	}
}

// TestTrustPolicyOCIJSONWins: with both files in a notation configuration
// directory, trustpolicy.oci.json is the one used, as the notation CLI
// does (issue 10 item 2).
func TestTrustPolicyOCIJSONWins(t *testing.T) {
	ctx := context.Background()
	repo := newMemRepo(t)
	img := pushImage(t, repo, 8)
	publisher := newParty(t, "Example Publisher", "Example Publisher Release Signing")
	_, err := publisher.signer.Sign(ctx, repo, img)
	require.NoError(t, err)
	stale := `{"version":"1.0","trustPolicies":[{"name":"stale","registryScopes":["*"],"signatureVerification":{"level":"skip"}}]}`
	doc, ts, err := notation.LoadConfigDir(notationDir(t, map[string]string{"trustpolicy.json": stale, "trustpolicy.oci.json": scopedTrustPolicy},
		map[string]*devpki.CA{"publisher": publisher.ca}))
	require.NoError(t, err)
	require.Len(t, doc.TrustPolicies, 2, "trustpolicy.oci.json was loaded")
	assert.Equal(t, "nginx-publisher", doc.TrustPolicies[0].Name)
	v := newVerifier(t, notation.VerifierOptions{TrustPolicy: doc, TrustStore: ts})
	res, err := v.VerifyAs(ctx, repo, "docker.io/library/nginx", img)
	require.NoError(t, err)
	assert.True(t, res.Verified(), "%+v", res.Signatures)
}

// TestPolicyJudgesRealSignature is the end-to-end check of issue 10 item
// 1: a real Notary Project signature, verified by the real verifier with a
// notation CLI configuration, judged by a policy whose signatures rule
// names the publisher the way the notation CLI's trust policy does.
func TestPolicyJudgesRealSignature(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.Distribution)
	repo := reg.Repository(t, "quarantine/library/nginx")
	img := pushImage(t, repo, 9)
	publisher := newParty(t, "Example Publisher", "Example Publisher Release Signing")
	_, err := publisher.signer.Sign(ctx, repo, img)
	require.NoError(t, err)
	doc, ts, err := notation.LoadConfigDir(notationDir(t, map[string]string{"trustpolicy.oci.json": scopedTrustPolicy},
		map[string]*devpki.CA{"publisher": publisher.ca}))
	require.NoError(t, err)
	v := newVerifier(t, notation.VerifierOptions{TrustPolicy: doc, TrustStore: ts})
	res, err := sign.VerifyAs(ctx, v, repo, "docker.io/library/nginx", img)
	require.NoError(t, err)
	require.True(t, res.Verified(), "%+v", res.Signatures)
	assert.Equal(t, "C=US, ST=WA, O=Example Publisher, CN=Example Publisher Release Signing", res.Signatures[0].Identity,
		"identities are reported in the trust policy's spelling")
	assert.Equal(t, "C=US, ST=WA, O=Example Publisher, CN=Example Publisher Root CA", res.Signatures[0].Issuer)
	assert.True(t, res.VerifiedBy("CN=Example Publisher Release Signing,O=Example Publisher,ST=WA,C=US"), "VerifiedBy compares names")

	ev := &csscpolicy.Evidence{Source: csscpolicy.Reference{Registry: "docker.io", Repository: "library/nginx", Tag: "1.27", Digest: img.Digest.String()}}
	for _, s := range res.Signatures {
		ev.Signatures = append(ev.Signatures, csscpolicy.Signature{Verifier: "notation", Format: s.Format, Identity: s.Identity,
			Issuer: s.Issuer, State: string(s.State), Level: s.Level, Cause: s.Cause})
	}
	judge := func(identity string) csscpolicy.Decision {
		pdoc, err := csscpolicy.Parse([]byte(`
name: publishers
signatures:
  signers:
    - name: example-publisher
      verifier: notation
      identities: ["` + identity + `"]
`))
		require.NoError(t, err)
		pol, err := csscpolicy.Compile(pdoc)
		require.NoError(t, err)
		return pol.Evaluate(ctx, ev)
	}
	for _, id := range []string{
		"C=US, ST=WA, O=Example Publisher, CN=Example Publisher Release Signing", // notation CLI
		"CN=Example Publisher Release Signing,O=Example Publisher,ST=WA,C=US",    // RFC 4514 / Go
		"C=US, ST=WA, O=Example Publisher",                                       // as a trust policy may trust a whole organisation
		"C=US, ST=WA, O=Example Publisher, CN=Example Publisher *",
	} {
		d := judge(id)
		assert.True(t, d.Allowed, "policy naming %q: %s", id, d)
	}
	for _, id := range []string{
		"C=US, ST=WA, O=Example Publisher, CN=Someone Else",
		"C=US, ST=CA, O=Example Publisher, CN=Example Publisher Release Signing",
	} {
		d := judge(id)
		assert.False(t, d.Allowed, "policy naming %q must deny: %s", id, d)
	}
}
