package resolve_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/postgres"
	"github.com/cssc-go/cssc/catalog/resolve"
	"github.com/cssc-go/cssc/catalog/sqlite"
	"github.com/cssc-go/cssc/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var now = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

const golden = "registry.corp/golden/"

func d(s string) digest.Digest { return digest.FromString(s) }

// catalogEntries is a small catalog: nginx 1.27 followed a rebuild (the
// older digest is deprecated with a replacement), python 3.12 is
// deprecated, redis 7 is retired, a licensed image is restricted.
func catalogEntries() []*catalog.Entry {
	e := func(repo, dig, source string, srcDigest digest.Digest, promoted time.Time, tags ...string) *catalog.Entry {
		return &catalog.Entry{Repository: golden + repo, Digest: d(dig), Tags: tags, PromotedAt: promoted,
			Source:   catalog.Source{Reference: source, Digest: srcDigest},
			Children: []catalog.Child{{Digest: d(dig + "-amd64"), Platform: "linux/amd64"}}}
	}
	nginx := e("library/nginx", "nginx-new", "docker.io/library/nginx:1.27", d("up-nginx-new"), now.Add(-time.Hour), "1.27")
	old := e("library/nginx", "nginx-old", "docker.io/library/nginx:1.27", d("up-nginx-old"), now.Add(-48*time.Hour))
	old.Status, old.Replacement = catalog.StatusDeprecated, golden+"library/nginx:1.27@"+d("nginx-new").String()
	old.EndOfLife = &catalog.EndOfLife{Date: now.Add(29 * 24 * time.Hour), Source: "superseded"}
	python := e("library/python", "python", "docker.io/library/python:3.12", d("up-python"), now.Add(-time.Hour), "3.12")
	python.Status, python.Replacement = catalog.StatusDeprecated, golden+"library/python:3.13"
	python.EndOfLife = &catalog.EndOfLife{Date: now.Add(20 * 24 * time.Hour), Source: "data-file"}
	redis := e("library/redis", "redis", "docker.io/library/redis:7", d("up-redis"), now.Add(-time.Hour), "7")
	redis.Status, redis.Replacement = catalog.StatusRetired, golden+"library/redis:8"
	redis.EndOfLife = &catalog.EndOfLife{Date: now.Add(-24 * time.Hour), Source: "rule"}
	oracle := e("licensed/oracle-db", "oracle", "container-registry.oracle.com/database/enterprise:21", d("up-oracle"), now.Add(-time.Hour), "21")
	oracle.AccessLevel = "licensed"
	return []*catalog.Entry{nginx, old, python, redis, oracle}
}

func stores(t *testing.T) map[string]catalog.Store {
	out := map[string]catalog.Store{"memory": catalog.NewMemoryStore()}
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "catalog.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	out["sqlite"] = s
	if !testing.Short() {
		p, err := postgres.Open(context.Background(), pgtest.New(t), postgres.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { p.Close() })
		out["postgres"] = p
	}
	return out
}

const dockerfile = `# syntax=docker/dockerfile:1
ARG PY=3.12
FROM python:${PY} AS build
RUN pip install app
FROM nginx:1.27
COPY --from=redis:7 /usr/local/bin/redis-cli /usr/bin/
COPY --from=build /app /app
FROM container-registry.oracle.com/database/enterprise:21 AS db
FROM ubuntu:24.04
FROM nginx@` + "sha256:PLACEHOLDER" + `
FROM registry.corp/golden/library/nginx:1.27
FROM ${MISSING}
`

func TestResolve(t *testing.T) {
	src := strings.Replace(dockerfile, "sha256:PLACEHOLDER", d("up-nginx-old").String(), 1)
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for _, e := range catalogEntries() {
				require.NoError(t, st.Put(ctx, e))
			}
			refs, err := resolve.ParseDockerfile(strings.NewReader(src), resolve.DockerfileOptions{})
			require.NoError(t, err)
			r, err := resolve.New(resolve.Options{Store: st, Now: func() time.Time { return now }})
			require.NoError(t, err)
			res, err := r.Resolve(ctx, refs)
			require.NoError(t, err)
			type row struct {
				Image  string
				Status resolve.Status
				Golden string
			}
			var got []row
			for _, x := range res {
				got = append(got, row{x.Image, x.Status, x.Golden})
			}
			assert.Equal(t, []row{
				{"python:3.12", resolve.StatusDeprecated, golden + "library/python:3.12@" + d("python").String()},
				{"nginx:1.27", resolve.StatusGolden, golden + "library/nginx:1.27@" + d("nginx-new").String()},
				{"redis:7", resolve.StatusEndOfLife, ""},
				{"container-registry.oracle.com/database/enterprise:21", resolve.StatusRestricted, ""},
				{"ubuntu:24.04", resolve.StatusNone, ""},
				{"nginx@" + d("up-nginx-old").String(), resolve.StatusDeprecated, golden + "library/nginx@" + d("nginx-old").String()},
				{golden + "library/nginx:1.27", resolve.StatusGolden, golden + "library/nginx:1.27@" + d("nginx-new").String()},
				{"", resolve.StatusUnresolved, ""},
			}, got)
			assert.Contains(t, res[0].Reason, "replaced by "+golden+"library/python:3.13")
			assert.Contains(t, res[2].Reason, "use "+golden+"library/redis:8")
			assert.Equal(t, golden+"library/redis:8", res[2].Replacement)
			assert.Contains(t, res[3].Reason, "licensed")
			assert.Empty(t, res[3].Repository, "a restricted entry is not named")
			assert.Equal(t, "already golden", res[6].Reason)
			assert.Contains(t, res[7].Reason, "MISSING")

			out, n, err := resolve.Rewrite([]byte(src), res)
			require.NoError(t, err)
			assert.Equal(t, 4, n, "python, nginx, the pinned nginx, the golden tag")
			want := strings.NewReplacer(
				"FROM python:${PY} AS build", "FROM "+golden+"library/python:3.12@"+d("python").String()+" AS build",
				"FROM nginx:1.27\n", "FROM "+golden+"library/nginx:1.27@"+d("nginx-new").String()+"\n",
				"FROM nginx@"+d("up-nginx-old").String(), "FROM "+golden+"library/nginx@"+d("nginx-old").String(),
				"FROM registry.corp/golden/library/nginx:1.27\n", "FROM "+golden+"library/nginx:1.27@"+d("nginx-new").String()+"\n",
			).Replace(src)
			assert.Equal(t, want, string(out))
			// Resolving the rewritten file changes nothing more.
			refs2, err := resolve.ParseDockerfile(strings.NewReader(string(out)), resolve.DockerfileOptions{})
			require.NoError(t, err)
			res2, err := r.Resolve(ctx, refs2)
			require.NoError(t, err)
			out2, _, err := resolve.Rewrite(out, res2)
			require.NoError(t, err)
			assert.Equal(t, string(out), string(out2), "rewriting is idempotent")
		})
	}
}

func TestResolveKubernetesAndAccessHook(t *testing.T) {
	ctx := context.Background()
	st := catalog.NewMemoryStore()
	for _, e := range catalogEntries() {
		require.NoError(t, st.Put(ctx, e))
	}
	src := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - name: web
        image: "nginx:1.27"   # quoted
      - {name: db, image: container-registry.oracle.com/database/enterprise:21}
`
	refs, err := resolve.ParseKubernetes(strings.NewReader(src))
	require.NoError(t, err)
	var asked []string
	r, err := resolve.New(resolve.Options{Store: st, Now: func() time.Time { return now }, Access: func(_ context.Context, e *catalog.Entry) (bool, string) {
		asked = append(asked, e.Repository)
		return true, ""
	}})
	require.NoError(t, err)
	res, err := r.Resolve(ctx, refs)
	require.NoError(t, err)
	require.Len(t, res, 2)
	assert.Equal(t, resolve.StatusGolden, res[0].Status)
	assert.Equal(t, resolve.StatusGolden, res[1].Status, "the hook lets the team use the licensed image")
	assert.Equal(t, []string{golden + "library/nginx", golden + "licensed/oracle-db"}, asked)
	out, n, err := resolve.Rewrite([]byte(src), res)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Contains(t, string(out), `image: "`+golden+`library/nginx:1.27@`+d("nginx-new").String()+`"   # quoted`)
	assert.Contains(t, string(out), `image: `+golden+`licensed/oracle-db:21@`+d("oracle").String()+`}`)

	// A result that does not match the file is refused.
	bad := res[:1]
	bad[0].Line = 1
	_, _, err = resolve.Rewrite([]byte(src), bad)
	assert.ErrorIs(t, err, resolve.ErrRewrite)
}
