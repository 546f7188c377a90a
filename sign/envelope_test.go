package sign_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/sign"
)

// TestStoreSignature: an envelope made apart from storage lands as a
// signature referrer of its subject on every storage kind; bad subjects
// and bad envelopes are refused before anything is pushed.
func TestStoreSignature(t *testing.T) {
	ctx := context.Background()
	signed := time.Date(2026, 4, 5, 6, 7, 8, 0, time.UTC)
	var calls int
	es := sign.EnvelopeSignerFunc(func(_ context.Context, subject ocispec.Descriptor) (*sign.Envelope, error) {
		calls++
		return &sign.Envelope{MediaType: "application/jose+json", Data: []byte("envelope over " + subject.Digest),
			Annotations: map[string]string{"io.cncf.notary.x509chain.thumbprint#S256": `["ab"]`}, Created: signed}, nil
	})
	for _, st := range registrytest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			repo := st.Repository(t, "envelope/app")
			img, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "a", Data: []byte(st.Name)})}}.Push(ctx, repo)
			require.NoError(t, err)
			img.Platform = nil

			d, err := sign.AsReferrer(es).Sign(ctx, repo, img)
			require.NoError(t, err)
			assert.Equal(t, artifact.TypeNotarySignature, d.ArtifactType, "Notary Project signature by default")
			refs, err := registry.Referrers(ctx, repo, img, artifact.TypeNotarySignature)
			require.NoError(t, err)
			require.Len(t, refs, 1)
			assert.Equal(t, d.Digest, refs[0].Digest)
			raw, err := manifest.Fetch(ctx, repo, d, 0)
			require.NoError(t, err)
			m, err := manifest.Parse(d.MediaType, raw)
			require.NoError(t, err)
			require.Len(t, m.Layers, 1, "one layer: the envelope")
			assert.Equal(t, "application/jose+json", m.Layers[0].MediaType)
			assert.Equal(t, `["ab"]`, m.Annotations["io.cncf.notary.x509chain.thumbprint#S256"])
			assert.Equal(t, "2026-04-05T06:07:08Z", m.Annotations[ocispec.AnnotationCreated], "created at the signing time")

			// Refused before anything is pushed.
			before := calls
			missing := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("missing"), Size: 7}
			_, err = sign.AsReferrer(es).Sign(ctx, repo, missing)
			assert.ErrorIs(t, err, sign.ErrSigningFailed, "missing subject")
			wrong := img
			wrong.Size++
			_, err = sign.AsReferrer(es).Sign(ctx, repo, wrong)
			assert.ErrorIs(t, err, sign.ErrInvalidSubject, "size differs from the repository's")
			_, err = sign.AsReferrer(es).Sign(ctx, repo, ocispec.Descriptor{})
			assert.ErrorIs(t, err, sign.ErrInvalidSubject, "empty descriptor")
			assert.Equal(t, before, calls, "the envelope signer is not asked to sign a bad subject")
			for name, env := range map[string]*sign.Envelope{
				"nil":       nil,
				"no data":   {MediaType: "application/jose+json"},
				"no type":   {Data: []byte("x")},
				"too large": {MediaType: "application/jose+json", Data: make([]byte, sign.MaxEnvelopeBytes+1)},
			} {
				_, err := sign.StoreSignature(ctx, repo, img, env)
				assert.ErrorIs(t, err, sign.ErrSigningFailed, name)
			}
			_, err = sign.AsReferrer(sign.EnvelopeSignerFunc(func(context.Context, ocispec.Descriptor) (*sign.Envelope, error) {
				return nil, errors.New("kms unavailable")
			})).Sign(ctx, repo, img)
			assert.ErrorIs(t, err, sign.ErrSigningFailed)
			assert.ErrorContains(t, err, "kms unavailable")
			refs, err = registry.Referrers(ctx, repo, img, "")
			require.NoError(t, err)
			assert.Len(t, refs, 1, "nothing else pushed")
		})
	}
}
