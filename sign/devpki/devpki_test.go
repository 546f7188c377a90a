package devpki_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"io"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/sign/devpki"
)

func TestCAAndLeaf(t *testing.T) {
	for _, kt := range []devpki.KeyType{"", devpki.ECDSAP384, devpki.RSA2048} {
		t.Run(string(kt), func(t *testing.T) {
			ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{Key: kt, CRLURL: "http://127.0.0.1:1/ca.crl"})
			require.NoError(t, err)
			root := ca.Certificate
			assert.True(t, root.IsCA)
			assert.Equal(t, x509.KeyUsageCertSign|x509.KeyUsageCRLSign, root.KeyUsage)
			assert.Equal(t, root.Subject.String(), root.Issuer.String(), "self-signed")

			leaf, err := ca.Issue(devpki.LeafOptions{Key: kt})
			require.NoError(t, err)
			c := leaf.Certificate
			assert.Equal(t, x509.KeyUsageDigitalSignature, c.KeyUsage)
			assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, c.ExtKeyUsage)
			assert.False(t, c.IsCA)
			assert.Equal(t, []string{"US"}, c.Subject.Country)
			assert.Equal(t, []string{"WA"}, c.Subject.Province)
			assert.Equal(t, []string{"cssc development"}, c.Subject.Organization)
			assert.Equal(t, []string{"http://127.0.0.1:1/ca.crl"}, c.CRLDistributionPoints)
			require.Len(t, leaf.Chain, 2)
			assert.Equal(t, c, leaf.Chain[0], "leaf first")
			assert.Equal(t, root, leaf.Chain[1], "root last")
			pool := x509.NewCertPool()
			pool.AddCert(root)
			_, err = c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}})
			assert.NoError(t, err)

			dir := t.TempDir()
			kp, cp, err := leaf.WriteFiles(dir, "dev")
			require.NoError(t, err)
			st, err := os.Stat(kp)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
			chain, err := os.ReadFile(cp)
			require.NoError(t, err)
			assert.Equal(t, leaf.ChainPEM(), chain)
		})
	}
}

func TestLeafOptions(t *testing.T) {
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{})
	require.NoError(t, err)
	past := time.Now().Add(-48 * time.Hour)
	l, err := ca.Issue(devpki.LeafOptions{NotBefore: past, NotAfter: past.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{}, CRLDistributionPoints: []string{}})
	require.NoError(t, err)
	assert.True(t, l.Certificate.NotAfter.Before(time.Now()))
	assert.Empty(t, l.Certificate.ExtKeyUsage)
	assert.Empty(t, l.Certificate.CRLDistributionPoints)
	_, err = devpki.GenerateKey("dsa-1024")
	assert.Error(t, err)
}

func TestCRL(t *testing.T) {
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{})
	require.NoError(t, err)
	leaf, err := ca.Issue(devpki.LeafOptions{})
	require.NoError(t, err)
	ca.Revoke(leaf.Certificate, time.Time{})
	der, err := ca.CRL()
	require.NoError(t, err)
	l, err := x509.ParseRevocationList(der)
	require.NoError(t, err)
	require.NoError(t, l.CheckSignatureFrom(ca.Certificate))
	require.Len(t, l.RevokedCertificateEntries, 1)
	assert.Equal(t, leaf.Certificate.SerialNumber, l.RevokedCertificateEntries[0].SerialNumber)

	srv := httptest.NewServer(ca.CRLHandler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	l2, err := x509.ParseRevocationList(body)
	require.NoError(t, err)
	assert.True(t, l2.Number.Cmp(l.Number) > 0, "CRL numbers increase")
}

// TestIssueForExternalKey: the CA certifies a public key whose private half
// it never sees (a KMS key); unsupported keys are refused.
func TestIssueForExternalKey(t *testing.T) {
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{})
	require.NoError(t, err)
	for _, kt := range []devpki.KeyType{devpki.ECDSAP256, devpki.ECDSAP521, devpki.RSA3072} {
		kms, err := devpki.GenerateKey(kt)
		require.NoError(t, err)
		leaf, err := ca.Issue(devpki.LeafOptions{PublicKey: kms.Public()})
		require.NoError(t, err, kt)
		assert.Nil(t, leaf.Key, "%s: no private key", kt)
		assert.True(t, leaf.Certificate.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(kms.Public()), "%s: the certificate certifies the external key", kt)
		require.NoError(t, leaf.Certificate.CheckSignatureFrom(ca.Certificate), kt)
		_, err = leaf.KeyPEM()
		assert.Error(t, err, "%s: no key to write", kt)
		_, _, err = leaf.WriteFiles(t.TempDir(), "kms")
		assert.Error(t, err, "%s: no key to write", kt)
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	require.NoError(t, err)
	_, edPub, _ := ed25519.GenerateKey(rand.Reader)
	for name, pub := range map[string]crypto.PublicKey{"rsa-1024": &weak.PublicKey, "p-224": &p224.PublicKey, "ed25519": edPub} {
		_, err := ca.Issue(devpki.LeafOptions{PublicKey: pub})
		assert.Error(t, err, name)
	}
}
