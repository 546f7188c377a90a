package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/requests"
	"github.com/cssc-go/cssc/catalog/resolve"
	"github.com/cssc-go/cssc/catalog/server"
	"github.com/cssc-go/cssc/catalog/sqlite"
)

const golden = "registry.corp/golden/"

// seed writes a SQLite catalog: nginx 1.27 (active), redis 7 (retired,
// replaced by 8).
func seed(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "catalog.db")
	st, err := sqlite.Open(context.Background(), file, sqlite.Options{})
	require.NoError(t, err)
	defer st.Close()
	nginx := &catalog.Entry{Repository: golden + "library/nginx", Digest: digest.FromString("nginx"), Tags: []string{"1.27"},
		Source: catalog.Source{Reference: "docker.io/library/nginx:1.27", Digest: digest.FromString("up-nginx")}}
	redis := &catalog.Entry{Repository: golden + "library/redis", Digest: digest.FromString("redis"), Tags: []string{"7"},
		Source: catalog.Source{Reference: "docker.io/library/redis:7"}, Status: catalog.StatusRetired, Replacement: golden + "library/redis:8",
		EndOfLife: &catalog.EndOfLife{Date: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Source: "rule"}}
	for _, e := range []*catalog.Entry{nginx, redis} {
		require.NoError(t, st.Put(context.Background(), e))
	}
	return file
}

func TestResolveCommand(t *testing.T) {
	db := seed(t)
	dir := t.TempDir()
	dockerfile := filepath.Join(dir, "Dockerfile")
	require.NoError(t, os.WriteFile(dockerfile, []byte("ARG V=1.27\nFROM nginx:${V} AS web\nCOPY --from=redis:7 /x /y\n"), 0o640))
	manifest := filepath.Join(dir, "deploy.yaml")
	require.NoError(t, os.WriteFile(manifest, []byte("kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: nginx:1.27}\n  - {name: b, image: ubuntu:24.04}\n"), 0o644))

	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-catalog", db, dockerfile, manifest}, &out, &errOut)
	assert.Equal(t, exitUnusable, code, "redis is retired and ubuntu has no golden image: %s", errOut.String())
	table := out.String()
	pinned := golden + "library/nginx:1.27@" + digest.FromString("nginx").String()
	for _, want := range []string{"WHERE", dockerfile + ":2", pinned, "end-of-life", "use " + golden + "library/redis:8", manifest + ":6", "ubuntu:24.04", "none"} {
		assert.Contains(t, table, want)
	}

	// -write pins nginx in both files and leaves the rest alone.
	out.Reset()
	code = run(context.Background(), []string{"-catalog", db, "-write", "-json", dockerfile, manifest}, &out, &errOut)
	assert.Equal(t, exitUnusable, code)
	var results []resolve.Result
	require.NoError(t, json.Unmarshal(out.Bytes(), &results))
	require.Len(t, results, 4)
	b, err := os.ReadFile(dockerfile)
	require.NoError(t, err)
	assert.Equal(t, "ARG V=1.27\nFROM "+pinned+" AS web\nCOPY --from=redis:7 /x /y\n", string(b))
	info, err := os.Stat(dockerfile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), info.Mode().Perm(), "mode kept")
	b, err = os.ReadFile(manifest)
	require.NoError(t, err)
	assert.Contains(t, string(b), "image: "+pinned+"}")
	assert.Contains(t, string(b), "image: ubuntu:24.04}")
	assert.Contains(t, errOut.String(), "pinned 1 reference(s)")

	// Only nginx: every reference usable.
	only := filepath.Join(dir, "only.dockerfile")
	require.NoError(t, os.WriteFile(only, []byte("FROM nginx:1.27\n"), 0o644))
	out.Reset()
	assert.Equal(t, exitOK, run(context.Background(), []string{"-catalog", db, only}, &out, &errOut))
}

func TestResolveCommandUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, exitUsage, run(context.Background(), nil, &out, &errOut))
	assert.Contains(t, errOut.String(), "usage: resolve")
	assert.Equal(t, exitUsage, run(context.Background(), []string{"-catalog", "x.db"}, &out, &errOut), "no file")
	assert.Equal(t, exitUsage, run(context.Background(), []string{"-arg", "novalue", "-catalog", "x.db", "f"}, &out, &errOut))
	errOut.Reset()
	assert.Equal(t, exitError, run(context.Background(), []string{"-catalog", filepath.Join(t.TempDir(), "missing.db"), "f"}, &out, &errOut))
	assert.True(t, strings.Contains(errOut.String(), "missing.db"), errOut.String())
}

// TestResolveCommandAccess gives the command the catalog's access rules
// and a team's groups: an image the team may not use is restricted, with
// who may and how to ask; a member's team resolves it.
func TestResolveCommandAccess(t *testing.T) {
	db := seed(t)
	dir := t.TempDir()
	dockerfile := filepath.Join(dir, "Dockerfile")
	require.NoError(t, os.WriteFile(dockerfile, []byte("FROM nginx:1.27\n"), 0o644))
	rules := filepath.Join(dir, "access.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(`- name: web-only
  repositories: ["**/library/nginx"]
  level: licensed
  groups: [web-team]
  howToAsk: "ask in #web-access"
`), 0o644))
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-catalog", db, "-access", rules, "-groups", "data", dockerfile}, &out, &errOut)
	assert.Equal(t, exitUnusable, code, "%s", errOut.String())
	assert.Contains(t, out.String(), "restricted")
	assert.Contains(t, out.String(), "members of web-team may use it; ask in #web-access")

	out.Reset()
	code = run(context.Background(), []string{"-catalog", db, "-access", rules, "-groups", "data, web-team", dockerfile}, &out, &errOut)
	assert.Equal(t, exitOK, code, "%s %s", out.String(), errOut.String())
	assert.Contains(t, out.String(), golden+"library/nginx:1.27@")

	assert.Equal(t, exitUsage, run(context.Background(), []string{"-catalog", db, "-groups", "x", dockerfile}, &out, &errOut), "-groups without -access")
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("- {name: a, repositories: [licensed/*], level: l}\n"), 0o644))
	assert.Equal(t, exitError, run(context.Background(), []string{"-catalog", db, "-access", bad, dockerfile}, &out, &errOut), "a pattern that names no host")
}

// TestResolveOpensRequests: -request opens a request on a catalog service
// (catalog/server with catalog/requests) for each image with no golden
// equivalent, once per image; a source the service does not take is
// reported as refused.
func TestResolveOpensRequests(t *testing.T) {
	db := seed(t)
	store := catalog.NewMemoryStore()
	svc, err := requests.New(requests.Options{Requests: store, Queue: catalog.NewMemoryQueue(), Store: store, Golden: golden,
		Rules: requests.Rules{Sources: []string{"docker.io/library/*"}}})
	require.NoError(t, err)
	h, err := server.New(server.Options{Store: store, Requests: svc,
		Authorizer: identify{server.AuthorizerFunc(func(r *http.Request, a server.Action) error {
			if r.Header.Get("Authorization") != "Bearer team-token" {
				return server.ErrUnauthenticated
			}
			return nil
		})}})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()

	dir := t.TempDir()
	dockerfile := filepath.Join(dir, "Dockerfile")
	require.NoError(t, os.WriteFile(dockerfile, []byte("FROM nginx:1.27\nFROM ubuntu:24.04 AS a\nFROM ubuntu:24.04 AS b\nFROM quay.io/x/y:1\n"), 0o644))
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-catalog", db, "-request", srv.URL, "-reason", "the web tier", "-owner", "team-web",
		"-header", "Authorization=Bearer team-token", dockerfile}, &out, &errOut)
	assert.Equal(t, exitUnusable, code, "%s", errOut.String())
	assert.Contains(t, out.String(), "request ubuntu:24.04: opened request ")
	assert.Contains(t, out.String(), "request quay.io/x/y:1: refused: requests: quay.io/x/y is not from a source")
	assert.NotContains(t, out.String(), "request docker.io/library/nginx", "nginx is golden")
	all, err := svc.Requests(context.Background(), catalog.RequestQuery{})
	require.NoError(t, err)
	require.Len(t, all, 1, "one request for ubuntu, though it appears twice")
	assert.Equal(t, "docker.io/library/ubuntu:24.04", all[0].Reference)
	assert.Equal(t, "the web tier", all[0].Reason)
	assert.Equal(t, "team-web", all[0].Owner)
	assert.Equal(t, "team-token-holder", all[0].Requester, "the service names the requester")

	out.Reset()
	code = run(context.Background(), []string{"-catalog", db, "-request", srv.URL, "-reason", "r", "-owner", "o", "-json", dockerfile}, &out, &errOut)
	assert.Equal(t, exitUnusable, code)
	var res struct {
		Requests []resolve.Opened `json:"requests"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &res), "%s", out.String())
	require.Len(t, res.Requests, 2)
	assert.Contains(t, res.Requests[0].Err, "401 Unauthorized", "without the token the service refuses")

	assert.Equal(t, exitUsage, run(context.Background(), []string{"-catalog", db, "-request", srv.URL, dockerfile}, &out, &errOut), "-request needs -reason and -owner")
}

// identify names every caller with the team token.
type identify struct{ server.AuthorizerFunc }

func (identify) Identify(r *http.Request) string { return "team-token-holder" }
