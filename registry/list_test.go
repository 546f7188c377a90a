package registry_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

func TestRepositories(t *testing.T) {
	ctx := context.Background()
	img := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "a", Data: []byte("a")})}}
	for _, s := range registrytest.Stores(t) {
		t.Run(s.Name, func(t *testing.T) {
			for _, name := range []string{"golden/library/nginx", "golden/team/app", "quarantine/library/nginx"} {
				repo := s.Repository(t, name)
				d, err := img.Push(ctx, repo)
				require.NoError(t, err)
				require.NoError(t, repo.Tag(ctx, d, "1"))
			}
			prefix := registry.Join(s.Prefix, "golden")
			if s.Prefix == "mem:" {
				prefix = "mem:golden"
			}
			got, err := s.Client.Repositories(ctx, prefix)
			require.NoError(t, err)
			want := []string{registry.Join(prefix, "library/nginx"), registry.Join(prefix, "team/app")}
			assert.Equal(t, want, got)
			for _, loc := range got {
				repo, err := s.Client.Repository(ctx, loc)
				require.NoError(t, err)
				_, err = repo.Resolve(ctx, "1")
				assert.NoError(t, err, "a listed repository opens: %s", loc)
			}
		})
	}
	_, err := registry.NewClient(registry.Options{}).Repositories(ctx, "oci:"+t.TempDir()+"/missing")
	assert.ErrorIs(t, err, registry.ErrNotFound)
}
