package registry_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// basicAuth guards a registry with HTTP basic auth, as many private
// registries do.
func basicAuth(user, pass string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestCredentials(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OCI, registrytest.Options{Middleware: basicAuth("alice", "s3cret")})
	seed := registry.NewClient(registry.Options{PlainHTTP: []string{reg.Host}, Credentials: registry.StaticCredentials(map[string]registry.Credential{reg.Host: {Username: "alice", Password: "s3cret"}})})
	repo, err := seed.Repository(ctx, reg.Location("private/app"))
	require.NoError(t, err)
	img, err := sampleImage(9).Push(ctx, repo)
	require.NoError(t, err)
	require.NoError(t, repo.Tag(ctx, img, "v1"))

	resolve := func(creds registry.CredentialFunc) error {
		c := registry.NewClient(registry.Options{PlainHTTP: []string{reg.Host}, Credentials: creds})
		r, err := c.Repository(ctx, reg.Location("private/app"))
		require.NoError(t, err)
		_, err = r.Resolve(ctx, "v1")
		return err
	}

	t.Run("anonymous is refused", func(t *testing.T) {
		assert.ErrorIs(t, resolve(nil), registry.ErrUnauthorized)
	})
	t.Run("wrong password is refused", func(t *testing.T) {
		err := resolve(registry.StaticCredentials(map[string]registry.Credential{reg.Host: {Username: "alice", Password: "nope"}}))
		assert.ErrorIs(t, err, registry.ErrUnauthorized)
	})
	t.Run("docker config auths", func(t *testing.T) {
		dir := t.TempDir()
		auth := base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
		cfg := filepath.Join(dir, "config.json")
		require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, `{"auths":{%q:{"auth":%q}}}`, reg.Host, auth), 0o600))
		creds, err := registry.DockerCredentials(cfg)
		require.NoError(t, err)
		assert.NoError(t, resolve(creds))
	})
	t.Run("docker credential helper", func(t *testing.T) {
		dir := t.TempDir()
		helper := filepath.Join(dir, "docker-credential-cssctest")
		script := "#!/bin/sh\nread server\necho '{\"ServerURL\":\"'$server'\",\"Username\":\"alice\",\"Secret\":\"s3cret\"}'\n"
		require.NoError(t, os.WriteFile(helper, []byte(script), 0o755))
		t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
		cfg := filepath.Join(dir, "config.json")
		require.NoError(t, os.WriteFile(cfg, fmt.Appendf(nil, `{"credHelpers":{%q:"cssctest"}}`, reg.Host), 0o600))
		creds, err := registry.DockerCredentials(cfg)
		require.NoError(t, err)
		assert.NoError(t, resolve(creds))
	})
	t.Run("empty path is an error", func(t *testing.T) {
		_, err := registry.DockerCredentials("")
		assert.Error(t, err)
	})
}
