package cosigntest_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/cosign"
	"github.com/cssc-go/cssc/sign/cosign/cosigntest"
)

// TestSignaturesVerify: what the kit writes verifies with sign/cosign's
// verifier for the key that made it, in both schemes and for every key
// type cosign signs with, and does not verify with another key.
func TestSignaturesVerify(t *testing.T) {
	ctx := context.Background()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	for name, key := range map[string]crypto.Signer{"ecdsa": ec, "rsa": rk, "ed25519": ed} {
		t.Run(name, func(t *testing.T) {
			repo, err := registry.NewClient(registry.Options{}).Repository(ctx, "mem:"+name)
			require.NoError(t, err)
			img, err := imagetest.Image{}.Push(ctx, repo)
			require.NoError(t, err)
			img.Platform = nil
			first, err := cosigntest.SignLegacy(ctx, repo, img, key, "registry.example/app")
			require.NoError(t, err)
			second, err := cosigntest.SignLegacy(ctx, repo, img, key, "registry.example/app")
			require.NoError(t, err)
			assert.NotEqual(t, first.Digest, second.Digest, "a second signature is appended")
			_, err = cosigntest.AttachBundle(ctx, repo, img, key, "registry.example/app", time.Time{})
			require.NoError(t, err)

			v, err := cosign.New(cosign.Options{PublicKeys: []crypto.PublicKey{key.Public()}, IgnoreTransparencyLogUnsafe: true})
			require.NoError(t, err)
			res, err := v.Verify(ctx, repo, img)
			require.NoError(t, err)
			formats := map[string]int{}
			for _, s := range res.Signatures {
				assert.Equal(t, sign.StateVerified, s.State, "%s: %s", s.Format, s.Cause)
				formats[s.Format]++
			}
			assert.Equal(t, map[string]int{sign.FormatCosign: 2, sign.FormatSigstoreBundle: 1}, formats)

			v, err = cosign.New(cosign.Options{PublicKeys: []crypto.PublicKey{other.Public()}, IgnoreTransparencyLogUnsafe: true})
			require.NoError(t, err)
			res, err = v.Verify(ctx, repo, img)
			require.NoError(t, err)
			assert.False(t, res.Verified(), "another key verifies nothing")
		})
	}
}
