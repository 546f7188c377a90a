package registry_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

func TestUntagKeepsTheManifest(t *testing.T) {
	for _, st := range registrytest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			repo := st.Repository(t, "golden/untag")
			img, err := imagetest.Image{}.Push(ctx, repo)
			require.NoError(t, err)
			img.Platform = nil
			require.NoError(t, repo.Tag(ctx, img, "1.0"))
			require.NoError(t, repo.Tag(ctx, img, "stable"))

			require.NoError(t, registry.Untag(ctx, repo, "1.0"))
			_, err = repo.Resolve(ctx, "1.0")
			assert.ErrorIs(t, err, registry.ErrNotFound, "the tag is gone")
			d, err := repo.Resolve(ctx, img.Digest.String())
			require.NoError(t, err, "the manifest stays for consumers who pinned its digest")
			assert.Equal(t, img.Digest, d.Digest)
			d, err = repo.Resolve(ctx, "stable")
			require.NoError(t, err, "other tags stay")
			assert.Equal(t, img.Digest, d.Digest)
			var tags []string
			require.NoError(t, repo.Tags(ctx, "", func(ts []string) error { tags = append(tags, ts...); return nil }))
			assert.Equal(t, []string{"stable"}, tags)

			err = registry.Untag(ctx, repo, "1.0")
			assert.ErrorIs(t, err, registry.ErrNotFound, "untagging a missing tag: got %v", err)
			err = registry.Untag(ctx, repo, "bad tag")
			assert.ErrorIs(t, err, registry.ErrInvalidReference)
		})
	}
}

func TestUntagRefusedByRegistry(t *testing.T) {
	r := registrytest.Start(t, registrytest.OCI, registrytest.Options{Middleware: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.Method == http.MethodDelete && strings.Contains(req.URL.Path, "/manifests/") {
				http.Error(w, `{"errors":[{"code":"UNSUPPORTED"}]}`, http.StatusMethodNotAllowed)
				return
			}
			h.ServeHTTP(w, req)
		})
	}})
	ctx := context.Background()
	repo := r.Repository(t, "golden/refused")
	img, err := imagetest.Image{}.Push(ctx, repo)
	require.NoError(t, err)
	img.Platform = nil
	require.NoError(t, repo.Tag(ctx, img, "1.0"))
	err = registry.Untag(ctx, repo, "1.0")
	assert.ErrorIs(t, err, registry.ErrUnsupported, "got %v", err)
	d, err := repo.Resolve(ctx, "1.0")
	require.NoError(t, err, "nothing was removed")
	assert.Equal(t, img.Digest, d.Digest)
}
