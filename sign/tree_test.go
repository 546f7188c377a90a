package sign_test

import (
	"context"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/sign"
)

func TestSignTree(t *testing.T) {
	ctx := context.Background()
	for _, st := range registrytest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			repo := st.Repository(t, "tree/app")
			img, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "a", Data: []byte("a")})}}.Push(ctx, repo)
			require.NoError(t, err)
			img.Platform = nil
			attach := func(subject ocispec.Descriptor, at, data string) ocispec.Descriptor {
				d, err := registry.Attach(ctx, repo, subject, registry.Artifact{ArtifactType: at, Blobs: []registry.Blob{{MediaType: at, Data: []byte(data)}}})
				require.NoError(t, err)
				return d
			}
			sbom := attach(img, artifact.TypeSPDX, `{"spdxVersion":"SPDX-2.3"}`)
			sarif := attach(img, artifact.TypeSARIF, `{"version":"2.1.0"}`)
			vsa := attach(sbom, artifact.TypeInToto, `{}`) // a referrer of a referrer
			attach(img, artifact.TypeNotarySignature, "old signature")
			attach(img, artifact.TypeLifecycle, "{}")

			var mu sync.Mutex
			var signed []digest.Digest
			s := sign.SignerFunc(func(_ context.Context, r registry.Repository, d ocispec.Descriptor) (ocispec.Descriptor, error) {
				mu.Lock()
				defer mu.Unlock()
				signed = append(signed, d.Digest)
				// Like a real signer: add a signature referrer.
				return registry.Attach(ctx, r, d, registry.Artifact{ArtifactType: artifact.TypeNotarySignature, Blobs: []registry.Blob{{MediaType: "application/jose+json", Data: []byte(d.Digest)}}})
			})
			done, err := sign.SignTree(ctx, s, repo, img, sign.TreeOptions{Skip: []string{artifact.TypeLifecycle}})
			require.NoError(t, err)
			assert.Len(t, done, 4)
			assert.Equal(t, img.Digest, signed[0], "subject first")
			assert.ElementsMatch(t, []digest.Digest{img.Digest, sbom.Digest, sarif.Digest, vsa.Digest}, signed)

			signed = nil
			done, err = sign.SignTree(ctx, s, repo, img, sign.TreeOptions{MaxDepth: -1})
			require.NoError(t, err)
			assert.Equal(t, []digest.Digest{img.Digest}, signed)
			assert.Len(t, done, 1)

			_, err = sign.SignTree(ctx, s, repo, img, sign.TreeOptions{MaxArtifacts: 2})
			assert.Error(t, err)
			_, err = sign.SignTree(ctx, s, repo, ocispec.Descriptor{}, sign.TreeOptions{})
			assert.ErrorIs(t, err, sign.ErrInvalidSubject)
		})
	}
}
