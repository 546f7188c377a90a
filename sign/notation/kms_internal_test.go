package notation

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"io"
	"math/big"
	"testing"

	"github.com/notaryproject/notation-core-go/signature"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawSigner returns raw r||s itself, as some KMS clients do.
type rawSigner struct{ *ecdsa.PrivateKey }

func (r rawSigner) Sign(_ io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	x, y, err := ecdsa.Sign(rand.Reader, r.PrivateKey, digest)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 64)
	x.FillBytes(out[:32])
	y.FillBytes(out[32:])
	return out, nil
}

func TestSignRaw(t *testing.T) {
	payload := []byte("payload")
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ks := signature.KeySpec{Type: signature.KeyTypeEC, Size: 256}
	for name, key := range map[string]crypto.Signer{"asn1": ec, "raw": rawSigner{ec}} {
		sig, alg, err := signRaw(key, ks, payload)
		require.NoError(t, err, name)
		assert.Equal(t, "ECDSA-SHA-256", string(alg))
		require.Len(t, sig, 64, name)
		h := sha256.Sum256(payload)
		assert.True(t, ecdsa.Verify(&ec.PublicKey, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])), name)
	}

	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	sig, _, err := signRaw(ec384, signature.KeySpec{Type: signature.KeyTypeEC, Size: 384}, payload)
	require.NoError(t, err)
	assert.Len(t, sig, 96)

	rk, err := rsa.GenerateKey(rand.Reader, 3072)
	require.NoError(t, err)
	sig, alg, err := signRaw(rk, signature.KeySpec{Type: signature.KeyTypeRSA, Size: 3072}, payload)
	require.NoError(t, err)
	assert.Equal(t, "RSASSA-PSS-SHA-384", string(alg))
	h := sha512.Sum384(payload)
	assert.NoError(t, rsa.VerifyPSS(&rk.PublicKey, crypto.SHA384, h[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}))

	_, err = ecdsaRaw([]byte("garbage"), 32)
	assert.Error(t, err)
	_, err = ecdsaRaw(make([]byte, 64), 32)
	assert.NoError(t, err, "64 raw bytes are taken as r||s")
}
