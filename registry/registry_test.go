package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

func sampleImage(seed uint64) imagetest.Image {
	return imagetest.Image{Layers: []imagetest.Blob{
		imagetest.Layer(imagetest.OSRelease("debian", "12", "bookworm"), imagetest.File{Path: "data.bin", Data: imagetest.Random(seed, 4096)}),
	}}
}

// TestStores runs one table of operations against every storage kind.
func TestStores(t *testing.T) {
	ctx := context.Background()
	for _, store := range registrytest.Stores(t) {
		t.Run(store.Name, func(t *testing.T) {
			repo := store.Repository(t, "team/app")
			img, err := sampleImage(1).Push(ctx, repo)
			require.NoError(t, err)

			t.Run("tag and resolve", func(t *testing.T) {
				require.NoError(t, repo.Tag(ctx, img, "v1"))
				got, err := repo.Resolve(ctx, "v1")
				require.NoError(t, err)
				assert.Equal(t, img.Digest, got.Digest, "resolve v1: got %s want %s", got.Digest, img.Digest)
				assert.Equal(t, img.Size, got.Size)
			})
			t.Run("resolve by digest", func(t *testing.T) {
				got, err := repo.Resolve(ctx, img.Digest.String())
				require.NoError(t, err)
				assert.Equal(t, img.Digest, got.Digest)
			})
			t.Run("fetch manifest", func(t *testing.T) {
				raw, err := manifest.Fetch(ctx, repo, img, 0)
				require.NoError(t, err)
				m, err := manifest.Parse(img.MediaType, raw)
				require.NoError(t, err)
				assert.Len(t, m.Layers, 1)
			})
			t.Run("list tags", func(t *testing.T) {
				require.NoError(t, repo.Tag(ctx, img, "v2"))
				var tags []string
				require.NoError(t, repo.Tags(ctx, "", func(ts []string) error { tags = append(tags, ts...); return nil }))
				assert.Subset(t, tags, []string{"v1", "v2"})
			})
			t.Run("not found", func(t *testing.T) {
				_, err := repo.Resolve(ctx, "missing")
				assert.ErrorIs(t, err, registry.ErrNotFound)
				_, err = repo.Fetch(ctx, imagetest.Descriptor("application/octet-stream", []byte("nope")))
				assert.ErrorIs(t, err, registry.ErrNotFound)
				var rerr *registry.Error
				assert.ErrorAs(t, err, &rerr)
			})
			t.Run("attach and list referrers", func(t *testing.T) {
				a := registry.Artifact{
					ArtifactType: artifact.TypeSPDX,
					Blobs:        []registry.Blob{{MediaType: artifact.MediaTypeSPDX, Data: []byte(`{"spdxVersion":"SPDX-2.3"}`)}},
					Annotations:  map[string]string{"k": "v"},
				}
				d1, err := registry.Attach(ctx, repo, img, a)
				require.NoError(t, err)
				d2, err := registry.Attach(ctx, repo, img, a)
				require.NoError(t, err)
				assert.Equal(t, d1.Digest, d2.Digest, "attaching the same content twice must give the same digest")

				lc := registry.Artifact{ArtifactType: artifact.TypeLifecycle, Annotations: map[string]string{artifact.AnnotationEndOfLife: "2030-01-01T00:00:00Z"}}
				d3, err := registry.Attach(ctx, repo, img, lc)
				require.NoError(t, err)

				all, err := registry.Referrers(ctx, repo, img, "")
				require.NoError(t, err)
				assert.ElementsMatch(t, []digest.Digest{d1.Digest, d3.Digest}, digests(all), "all referrers")

				spdx, err := registry.Referrers(ctx, repo, img, artifact.TypeSPDX)
				require.NoError(t, err)
				require.Len(t, spdx, 1, "filtered referrers: got %v", digests(spdx))
				assert.Equal(t, d1.Digest, spdx[0].Digest)
				assert.Equal(t, artifact.TypeSPDX, spdx[0].ArtifactType)
				assert.Equal(t, "v", spdx[0].Annotations["k"])
			})
			t.Run("no referrers is empty", func(t *testing.T) {
				other, err := sampleImage(2).Push(ctx, repo)
				require.NoError(t, err)
				refs, err := registry.Referrers(ctx, repo, other, "")
				require.NoError(t, err)
				assert.Empty(t, refs)
			})
			t.Run("copy with oras", func(t *testing.T) {
				dst := store.Repository(t, "team/copy")
				got, err := oras.Copy(ctx, repo, "v1", dst, "v1", oras.DefaultCopyOptions)
				require.NoError(t, err)
				assert.Equal(t, img.Digest, got.Digest)
			})
			t.Run("delete", func(t *testing.T) {
				victim, err := sampleImage(3).Push(ctx, repo)
				require.NoError(t, err)
				require.NoError(t, repo.Delete(ctx, victim))
				_, err = repo.Resolve(ctx, victim.Digest.String())
				assert.ErrorIs(t, err, registry.ErrNotFound)
			})
		})
	}
}

func digests(ds []ocispec.Descriptor) []digest.Digest {
	var out []digest.Digest
	for _, d := range ds {
		out = append(out, d.Digest)
	}
	return out
}

func TestParseRef(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nginx", "docker.io/library/nginx:latest"},
		{"docker.io/alpine", "docker.io/library/alpine:latest"},
		{"nginx:1.27", "docker.io/library/nginx:1.27"},
		{"ghcr.io/org/app:v1", "ghcr.io/org/app:v1"},
		{"localhost:5000/x", "localhost:5000/x:latest"},
		{"127.0.0.1:5000/a/b:t", "127.0.0.1:5000/a/b:t"},
		{"nginx@sha256:" + strings.Repeat("a", 64), "docker.io/library/nginx@sha256:" + strings.Repeat("a", 64)},
		{"nginx:1.27@sha256:" + strings.Repeat("a", 64), "docker.io/library/nginx:1.27@sha256:" + strings.Repeat("a", 64)},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := registry.ParseRef(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, r.String())
		})
	}
	for _, bad := range []string{"", "upper/CASE", "nginx:", "a b", "nginx@sha256:abc", "http://x/y", ":tag", strings.Repeat("a", 5000), " nginx"} {
		t.Run("bad/"+bad[:min(len(bad), 20)], func(t *testing.T) {
			_, err := registry.ParseRef(bad)
			assert.ErrorIs(t, err, registry.ErrInvalidReference, "ParseRef(%q)", bad)
		})
	}
}

func TestParseLocation(t *testing.T) {
	for _, tc := range []struct{ in, kind, repo, ref string }{
		{"oci:/var/q/library/nginx", registry.KindLayout, "oci:/var/q/library/nginx", ""},
		{"oci:/var/q/nginx:1.27", registry.KindLayout, "oci:/var/q/nginx", "1.27"},
		{"oci:./rel/dir@sha256:" + strings.Repeat("b", 64), registry.KindLayout, "oci:./rel/dir", "sha256:" + strings.Repeat("b", 64)},
		{"mem:q/nginx:v1", registry.KindMemory, "mem:q/nginx", "v1"},
		{"nginx", registry.KindRemote, "docker.io/library/nginx", ""},
		{"localhost:5000/x:t", registry.KindRemote, "localhost:5000/x", "t"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			l, err := registry.ParseLocation(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.kind, l.Kind)
			assert.Equal(t, tc.repo, l.Repository)
			assert.Equal(t, tc.ref, l.Reference())
		})
	}
	for _, bad := range []string{"", "oci:", "mem:", "oci:/x@sha256:zz", "https://reg/x", "oci:/x:bad tag"} {
		_, err := registry.ParseLocation(bad)
		assert.ErrorIs(t, err, registry.ErrInvalidReference, "ParseLocation(%q)", bad)
	}
	assert.Equal(t, "oci:/var/q/library/nginx", registry.Join("oci:/var/q/", "/library/nginx"))
}

// lyingRegistry serves a blob whose bytes do not match the requested digest.
func TestDigestMismatch(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OCI, registrytest.Options{Middleware: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				body := rec.Body.Bytes()
				if len(body) > 0 {
					body[0] ^= 0xff
				}
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				w.Write(body)
				return
			}
			h.ServeHTTP(w, r)
		})
	}})
	repo := reg.Repository(t, "lying")
	blob := imagetest.Descriptor("application/octet-stream", []byte("hello, world"))
	require.NoError(t, repo.Push(ctx, blob, bytes.NewReader([]byte("hello, world"))))
	_, err := content.FetchAll(ctx, repo, blob)
	assert.ErrorIs(t, err, content.ErrMismatchedDigest)
	_, err = manifest.Fetch(ctx, repo, blob, 0)
	assert.ErrorIs(t, err, registry.ErrDigestMismatch, "got %v", err)
}

func TestUnauthorized(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"errors":[{"code":"DENIED","message":"no"}]}`)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	c := registry.NewClient(registry.Options{PlainHTTP: []string{host}})
	repo, err := c.Repository(context.Background(), host+"/secret")
	require.NoError(t, err)
	_, err = repo.Resolve(context.Background(), "v1")
	assert.ErrorIs(t, err, registry.ErrUnauthorized, "got %v", err)
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens there any more
	c := registry.NewClient(registry.Options{PlainHTTP: []string{host}, MaxRetries: -1})
	repo, err := c.Repository(context.Background(), host+"/gone")
	require.NoError(t, err)
	_, err = repo.Resolve(context.Background(), "v1")
	require.Error(t, err)
	var rerr *registry.Error
	assert.ErrorAs(t, err, &rerr)
	assert.Equal(t, "resolve", rerr.Op)
}

func TestRetryAfter(t *testing.T) {
	var calls atomic.Int32
	reg := registrytest.Start(t, registrytest.OCI, registrytest.Options{Middleware: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead && calls.Add(1) <= 2 {
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			h.ServeHTTP(w, r)
		})
	}})
	ctx := context.Background()
	repo := reg.Repository(t, "busy")
	img, err := sampleImage(4).Push(ctx, repo)
	require.NoError(t, err)
	require.NoError(t, repo.Tag(ctx, img, "v1"))
	c := registry.NewClient(registry.Options{PlainHTTP: []string{reg.Host}})
	retrying, err := c.Repository(ctx, reg.Location("busy"))
	require.NoError(t, err)
	got, err := retrying.Resolve(ctx, "v1")
	require.NoError(t, err, "two 429s must be retried")
	assert.Equal(t, img.Digest, got.Digest)
	assert.GreaterOrEqual(t, calls.Load(), int32(3), "HEAD requests: got %d want >= 3", calls.Load())
}

func TestOversizedManifest(t *testing.T) {
	ctx := context.Background()
	c := registry.NewClient(registry.Options{})
	repo, err := c.Repository(ctx, "mem:big")
	require.NoError(t, err)
	big := bytes.Repeat([]byte(" "), 5<<20)
	desc := imagetest.Descriptor("application/octet-stream", big)
	require.NoError(t, repo.Push(ctx, desc, bytes.NewReader(big)))
	desc.MediaType = ocispec.MediaTypeImageManifest
	_, err = manifest.Fetch(ctx, repo, desc, 0)
	assert.ErrorIs(t, err, registry.ErrSizeExceeded)

	// A descriptor that understates the size is caught while reading.
	small := desc
	small.Size = 10
	_, err = manifest.Fetch(ctx, repo, small, 0)
	assert.Error(t, err)
}

func TestParseManifestRejects(t *testing.T) {
	for name, raw := range map[string]string{
		"not json":       `{`,
		"no config":      `{"schemaVersion":2,"layers":[]}`,
		"bad digest":     `{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:zz","size":1}}`,
		"negative size":  fmt.Sprintf(`{"schemaVersion":2,"config":{"mediaType":"x","digest":"%s","size":-1}}`, digest.FromString("x")),
		"media mismatch": `{"mediaType":"application/vnd.oci.image.index.v1+json","config":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := manifest.Parse(ocispec.MediaTypeImageManifest, []byte(raw))
			assert.ErrorIs(t, err, registry.ErrInvalidManifest)
		})
	}
	_, err := manifest.Parse("text/plain", []byte(`{}`))
	assert.ErrorIs(t, err, registry.ErrInvalidManifest)
}

func FuzzParseManifest(f *testing.F) {
	m, _ := sampleImage(1).Build()
	f.Add(m.Data)
	f.Add([]byte(`{"manifests":[{"digest":"sha256:` + strings.Repeat("0", 64) + `"}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, mt := range []string{ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex} {
			m, err := manifest.Parse(mt, raw)
			if err == nil {
				if _, err := json.Marshal(m); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"nginx", "localhost:5000/a:b", "oci:/x:y", "mem:a@sha256:" + strings.Repeat("a", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if r, err := registry.ParseRef(s); err == nil {
			again, err := registry.ParseRef(r.String())
			if err != nil || again != r {
				t.Fatalf("round trip %q -> %q -> %v, %v", s, r.String(), again, err)
			}
		} else if !errors.Is(err, registry.ErrInvalidReference) {
			t.Fatalf("untyped error %v", err)
		}
		registry.ParseLocation(s)
	})
}
