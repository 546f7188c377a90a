package registry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// TestLyingSizesAreTyped: content fetched by a descriptor whose size is
// wrong (an index or manifest that lies about what it refers to) fails
// with the registry's typed errors, on every storage kind (issue 10 item
// 11). oras-go reports it for remote registries as an untyped "mismatch
// Content-Length" error; this test pins that text.
func TestLyingSizesAreTyped(t *testing.T) {
	ctx := context.Background()
	for _, store := range registrytest.Stores(t) {
		repo := store.Repository(t, "lying/sizes")
		img, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "x", Data: []byte("x")})}}.Push(ctx, repo)
		require.NoError(t, err)
		raw, err := manifest.Fetch(ctx, repo, img, 0)
		require.NoError(t, err)
		m, err := manifest.Parse(img.MediaType, raw)
		require.NoError(t, err)
		for _, delta := range []int64{-10, -1, 1, 10} {
			name := fmt.Sprintf("%s/%+d", store.Name, delta)
			lie := img
			lie.Size += delta
			_, err := manifest.Fetch(ctx, repo, lie, 0)
			require.Error(t, err, name)
			assert.True(t, errors.Is(err, registry.ErrSizeMismatch) || errors.Is(err, registry.ErrSizeExceeded),
				"%s: manifest fetched with a lying size: got %v, want ErrSizeMismatch or ErrSizeExceeded", name, err)
			if store.Remote != nil {
				assert.ErrorIs(t, err, registry.ErrSizeMismatch, "%s: a registry's Content-Length disagrees with the descriptor", name)
			}

			layer := m.Layers[0]
			layer.Size += delta
			err = func() error {
				rc, err := repo.Fetch(ctx, layer)
				if err != nil {
					return err
				}
				defer rc.Close()
				_, err = content.ReadAll(rc, layer)
				return err
			}()
			require.Error(t, err, name)
			if store.Remote != nil {
				assert.ErrorIs(t, err, registry.ErrSizeMismatch, "%s: blob fetched with a lying size: %v", name, err)
				var rerr *registry.Error
				assert.ErrorAs(t, err, &rerr, name)
			} else {
				assert.True(t, errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, content.ErrTrailingData), "%s: %v", name, err)
			}
		}
	}
}
