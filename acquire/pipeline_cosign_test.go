package acquire_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/cosign"
	"github.com/cssc-go/cssc/sign/cosign/cosigntest"
)

// TestCosignSignaturesReachGolden: a publisher's cosign signatures, in the
// legacy tag form (sha256-<hex>.sig) and as sigstore bundle referrers, on
// the index and on a platform image, are promoted in their own form with
// publisher artifacts: `cosign verify` (here sign/cosign's verifier with
// the publisher's key) finds and verifies them in golden as it did in
// quarantine (issue 10 item 3). Before, they stayed in quarantine and
// golden had none.
func TestCosignSignaturesReachGolden(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx := context.Background()
	for _, kind := range []registrytest.Kind{registrytest.OCI, registrytest.Distribution} {
		t.Run(string(kind), func(t *testing.T) {
			f := newPipeFixture(t, pipeOptions{noClamd: true, dstKind: kind})
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			require.NoError(t, err)
			src := f.src.Repository(t, sample.Multi)
			root, err := src.Resolve(ctx, sample.Tag)
			require.NoError(t, err)
			raw, err := manifest.Fetch(ctx, src, root, 0)
			require.NoError(t, err)
			idx, err := manifest.Parse(root.MediaType, raw)
			require.NoError(t, err)
			ref := f.src.Location(sample.Multi)
			child := idx.Manifests[1]
			subjects := []ocispec.Descriptor{
				{MediaType: root.MediaType, Digest: root.Digest, Size: root.Size},
				{MediaType: child.MediaType, Digest: child.Digest, Size: child.Size},
			}
			for _, s := range subjects {
				_, err := cosigntest.SignLegacy(ctx, src, s, key, ref)
				require.NoError(t, err)
				_, err = cosigntest.AttachBundle(ctx, src, s, key, ref, time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC))
				require.NoError(t, err)
			}

			rec, err := f.pipeline(t).Run(ctx, f.location(sample.Multi), acquire.RunOptions{})
			require.NoError(t, err, rec.Reason)
			require.Equal(t, acquire.OutcomePromoted, rec.Outcome, rec.Reason)

			v, err := cosign.New(cosign.Options{PublicKeys: []crypto.PublicKey{key.Public()}, IgnoreTransparencyLogUnsafe: true})
			require.NoError(t, err)
			for _, repo := range []registry.Repository{f.quarantine(t, sample.Multi), f.golden(t, sample.Multi)} {
				for _, s := range subjects {
					res, err := v.Verify(ctx, repo, s)
					require.NoError(t, err)
					formats := map[string]int{}
					for _, sig := range res.Signatures {
						assert.Equal(t, sign.StateVerified, sig.State, "%s %s: %s", repo.Location(), sig.Format, sig.Cause)
						formats[sig.Format]++
					}
					assert.Equal(t, map[string]int{sign.FormatCosign: 1, sign.FormatSigstoreBundle: 1}, formats,
						"%s@%s: cosign verifies the publisher's signature in both forms", repo.Location(), s.Digest)
				}
			}
			// The tag-form signature is a tag in golden, as cosign looks
			// it up.
			sig, err := f.golden(t, sample.Multi).Resolve(ctx, cosign.SignatureTag(root.Digest))
			require.NoError(t, err)
			assert.Contains(t, rec.Promoted, sig.Digest, "the record lists the promoted signature manifest")
		})
	}
}
