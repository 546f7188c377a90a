package registry_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// slowLoris wraps a registry: requests for which stall returns true get
// nothing back (before) or half a body (after the headers) and then hang
// until the client goes away.
func slowLoris(stall func(r *http.Request) (before, body bool), hits *atomic.Int32) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			before, body := stall(r)
			switch {
			case before:
				hits.Add(1)
				<-r.Context().Done()
			case body:
				hits.Add(1)
				rec := &captured{header: http.Header{}}
				next.ServeHTTP(rec, r)
				for k, v := range rec.header {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.status())
				_, _ = w.Write(rec.body[:len(rec.body)/2])
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
}

type captured struct {
	header http.Header
	code   int
	body   []byte
}

func (c *captured) Header() http.Header         { return c.header }
func (c *captured) WriteHeader(code int)        { c.code = code }
func (c *captured) Write(b []byte) (int, error) { c.body = append(c.body, b...); return len(b), nil }
func (c *captured) status() int {
	if c.code == 0 {
		return http.StatusOK
	}
	return c.code
}

// within fails the test if f does not return within d: without a stall
// timeout these calls hang forever.
func within[T any](t *testing.T, d time.Duration, f func() (T, error)) (T, error, time.Duration) {
	t.Helper()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() { v, err := f(); done <- result{v, err} }()
	select {
	case r := <-done:
		return r.v, r.err, time.Since(start)
	case <-time.After(d):
		t.Fatalf("still waiting after %s: a stalled registry hangs the client", d)
	}
	var zero T
	return zero, nil, 0
}

// TestStallBeforeResponse: a registry that accepts the connection and
// never answers is retried, then reported with a typed error (issue 10
// item 10).
func TestStallBeforeResponse(t *testing.T) {
	var hits atomic.Int32
	reg := registrytest.Start(t, registrytest.OCI, registrytest.Options{Middleware: slowLoris(func(r *http.Request) (bool, bool) {
		return strings.Contains(r.URL.Path, "/manifests/"), false
	}, &hits)})
	const stall = 200 * time.Millisecond
	client := registry.NewClient(registry.Options{PlainHTTP: []string{reg.Host}, StallTimeout: stall, MaxRetries: 2, MaxRetryAfter: 10 * time.Millisecond})
	repo, err := client.Repository(context.Background(), reg.Location("slow/loris"))
	require.NoError(t, err)
	_, err, took := within(t, 20*time.Second, func() (ocispec.Descriptor, error) { return repo.Resolve(context.Background(), "latest") })
	require.Error(t, err)
	assert.ErrorIs(t, err, registry.ErrStalled)
	var se *registry.StallError
	require.ErrorAs(t, err, &se)
	assert.False(t, se.Body, "stalled before the response")
	assert.Equal(t, stall, se.After)
	var rerr *registry.Error
	assert.ErrorAs(t, err, &rerr, "wrapped in the registry's *Error")
	assert.EqualValues(t, 3, hits.Load(), "one attempt and MaxRetries retries")
	assert.Less(t, took, 3*time.Second, "gave up after about 3 x %s", stall)
	t.Logf("gave up after %s (%d attempts, stall timeout %s)", took, hits.Load(), stall)
}

// TestStallInBody: a blob whose body stops half way is a typed, timeout
// error from Read.
func TestStallInBody(t *testing.T) {
	var hits atomic.Int32
	reg := registrytest.Start(t, registrytest.OCI, registrytest.Options{Middleware: slowLoris(func(r *http.Request) (bool, bool) {
		return false, r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/")
	}, &hits)})
	ctx := context.Background()
	img, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "big", Data: imagetest.Random(1, 256<<10)})}}.Push(ctx, reg.Repository(t, "slow/body"))
	require.NoError(t, err)
	client := registry.NewClient(registry.Options{PlainHTTP: []string{reg.Host}, StallTimeout: 200 * time.Millisecond, MaxRetries: 2})
	repo, err := client.Repository(ctx, reg.Location("slow/body"))
	require.NoError(t, err)
	raw, err := manifest.Fetch(ctx, repo, img, 0)
	require.NoError(t, err)
	m, err := manifest.Parse(img.MediaType, raw)
	require.NoError(t, err)
	_, err, _ = within(t, 20*time.Second, func() ([]byte, error) {
		rc, err := repo.Fetch(ctx, m.Layers[0])
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	})
	require.Error(t, err)
	assert.ErrorIs(t, err, registry.ErrStalled)
	var se *registry.StallError
	require.ErrorAs(t, err, &se)
	assert.True(t, se.Body)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "a stall is a timeout, so copies attempt it again")
}

// TestSlowIsNotStalled: a registry that trickles bytes, and a reader that
// pauses between reads, are not stalls. The margins hold on a loaded
// machine under -race: the trickle's 10 ms gaps are 50 times below the
// stall timeout, while the whole body takes longer than it (so a timeout on
// the body as a whole would fail) and the reader pauses for three times it.
func TestSlowIsNotStalled(t *testing.T) {
	ctx := context.Background()
	trickle := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
				next.ServeHTTP(w, r)
				return
			}
			rec := &captured{header: http.Header{}}
			next.ServeHTTP(rec, r)
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.status())
			for i := 0; i < len(rec.body); i += 1024 {
				_, _ = w.Write(rec.body[i:min(i+1024, len(rec.body))])
				w.(http.Flusher).Flush()
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	reg := registrytest.Start(t, registrytest.OCI, registrytest.Options{Middleware: trickle})
	const stall = 500 * time.Millisecond
	data := imagetest.Random(2, 80<<10) // 80 gaps of 10 ms: over 800 ms in all
	d := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(data), Size: int64(len(data))}
	require.NoError(t, reg.Repository(t, "slow/ok").Push(ctx, d, strings.NewReader(string(data))))
	client := registry.NewClient(registry.Options{PlainHTTP: []string{reg.Host}, StallTimeout: stall, MaxRetries: -1})
	repo, err := client.Repository(ctx, reg.Location("slow/ok"))
	require.NoError(t, err)
	rc, err := repo.Fetch(ctx, d)
	require.NoError(t, err)
	defer rc.Close()
	head := make([]byte, 1024)
	_, err = io.ReadFull(rc, head)
	require.NoError(t, err)
	time.Sleep(3 * stall) // the reader is slow, not the registry
	rest, err := content.ReadAll(io.MultiReader(strings.NewReader(string(head)), rc), d)
	require.NoError(t, err, "a trickle (a KiB every 10 ms) and a slow reader are not stalls")
	assert.Len(t, rest, len(data))
}

// TestStallTimeoutDisabled: a negative StallTimeout leaves only the
// caller's context.
func TestStallTimeoutDisabled(t *testing.T) {
	slow := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(300 * time.Millisecond)
			next.ServeHTTP(w, r)
		})
	}
	reg := registrytest.Start(t, registrytest.OCI, registrytest.Options{Middleware: slow})
	ctx := context.Background()
	_, err := imagetest.Image{}.Push(ctx, reg.Repository(t, "slow/tag"))
	require.NoError(t, err)
	for _, tc := range []struct {
		stall time.Duration
		want  error
	}{{-1, nil}, {100 * time.Millisecond, registry.ErrStalled}} {
		client := registry.NewClient(registry.Options{PlainHTTP: []string{reg.Host}, StallTimeout: tc.stall, MaxRetries: -1})
		repo, err := client.Repository(ctx, reg.Location("slow/tag"))
		require.NoError(t, err)
		err = repo.Tags(ctx, "", func([]string) error { return nil })
		if tc.want == nil {
			assert.NoError(t, err, "stall timeout %s", tc.stall)
		} else {
			assert.ErrorIs(t, err, tc.want, "stall timeout %s", tc.stall)
		}
	}
	assert.Equal(t, 30*time.Second, registry.DefaultStallTimeout)
	assert.False(t, errors.Is(context.Canceled, registry.ErrStalled))
}
