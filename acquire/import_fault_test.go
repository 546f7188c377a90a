package acquire_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// fault decides, per request, whether to misbehave. It returns true when it
// has written (or dropped) the response itself.
type fault func(w http.ResponseWriter, r *http.Request, next http.Handler, n int) bool

// injector is an http.Handler middleware that applies a fault to the
// requests it matches; n counts the matching requests (from 1).
type injector struct {
	mu     sync.Mutex
	match  func(r *http.Request) bool
	fault  fault
	counts map[string]int
	on     bool
}

func (in *injector) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.mu.Lock()
		on := in.on && in.match(r)
		n := 0
		if on {
			if in.counts == nil {
				in.counts = map[string]int{}
			}
			key := r.Method + r.URL.Path
			if strings.Contains(r.URL.Path, "/blobs/uploads/") { // one key per blob, not per upload session
				key = r.Method + " upload " + r.URL.Query().Get("digest")
			}
			in.counts[key]++
			n = in.counts[key]
		}
		in.mu.Unlock()
		if on && in.fault(w, r, next, n) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (in *injector) set(on bool) {
	in.mu.Lock()
	in.on, in.counts = on, nil
	in.mu.Unlock()
}

// blobGet matches downloads of blobs larger than 100 KiB (the fixture's
// layers).
func blobGet(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:")
}

// record serves r into a recorder.
func record(next http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	return rec
}

// replay writes rec to w with body.
func replay(w http.ResponseWriter, rec *httptest.ResponseRecorder, body []byte, length int) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(length))
	w.WriteHeader(rec.Code)
	w.Write(body)
}

// drop hijacks the connection and closes it.
func drop(w http.ResponseWriter, partial []byte, header string) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	buf.WriteString(header)
	buf.Write(partial)
	buf.Flush()
	conn.Close()
}

func big(rec *httptest.ResponseRecorder) bool {
	return rec.Code == http.StatusOK && rec.Body.Len() > 100<<10
}

var (
	// lieBlob serves other bytes of the same length for big blobs.
	lieBlob fault = func(w http.ResponseWriter, r *http.Request, next http.Handler, n int) bool {
		rec := record(next, r)
		if !big(rec) {
			replay(w, rec, rec.Body.Bytes(), rec.Body.Len())
			return true
		}
		b := bytes.Clone(rec.Body.Bytes())
		b[len(b)/2] ^= 0xff
		replay(w, rec, b, len(b))
		return true
	}
	// truncateOnce sends half a big blob with the full Content-Length and
	// closes the connection, the first time each blob is asked for.
	truncateOnce fault = func(w http.ResponseWriter, r *http.Request, next http.Handler, n int) bool {
		rec := record(next, r)
		if !big(rec) || n > 1 || r.Header.Get("Range") != "" {
			replay(w, rec, rec.Body.Bytes(), rec.Body.Len())
			return true
		}
		b := rec.Body.Bytes()
		head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nAccept-Ranges: bytes\r\nDocker-Content-Digest: %s\r\nContent-Type: application/octet-stream\r\n\r\n",
			len(b), rec.Header().Get("Docker-Content-Digest"))
		drop(w, b[:len(b)/2], head)
		return true
	}
	// truncateAlways sends a short body with a short Content-Length, every
	// time, and refuses range requests.
	truncateAlways fault = func(w http.ResponseWriter, r *http.Request, next http.Handler, n int) bool {
		r.Header.Del("Range")
		rec := record(next, r)
		if !big(rec) {
			replay(w, rec, rec.Body.Bytes(), rec.Body.Len())
			return true
		}
		rec.Header().Del("Accept-Ranges")
		b := rec.Body.Bytes()
		head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\n\r\n", len(b))
		drop(w, b[:len(b)-10], head)
		return true
	}
	// status503Once answers 503, then 429, then serves.
	statusOnce fault = func(w http.ResponseWriter, r *http.Request, next http.Handler, n int) bool {
		switch n {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		case 2:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	}
	// dropOnce closes the connection without an answer, the first time.
	dropOnce fault = func(w http.ResponseWriter, r *http.Request, next http.Handler, n int) bool {
		if n == 1 {
			io.Copy(io.Discard, io.LimitReader(r.Body, 50<<10))
			drop(w, nil, "")
			return true
		}
		return false
	}
)

// TestImportFaults injects faults into the source or the destination
// registry: what can be retried is, what cannot fails clearly, the
// destination never gets a tag on an incomplete image, and a rerun
// finishes the job.
func TestImportFaults(t *testing.T) {
	isPut := func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/")
	}
	cases := []struct {
		name    string
		onDst   bool
		match   func(*http.Request) bool
		fault   fault
		wantErr error  // nil: the import succeeds despite the fault
		errText string // part of the error message
	}{
		{name: "lying-blob", match: blobGet, fault: lieBlob, wantErr: registry.ErrDigestMismatch, errText: "content has digest"},
		{name: "lying-manifest", match: func(r *http.Request) bool {
			return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/sha256:")
		}, fault: func(w http.ResponseWriter, r *http.Request, next http.Handler, n int) bool {
			rec := record(next, r)
			b := bytes.Replace(rec.Body.Bytes(), []byte(`"schemaVersion":2`), []byte(`"schemaVersion":3`), 1)
			rec.Header().Del("Docker-Content-Digest")
			replay(w, rec, b, len(b))
			return true
		}, wantErr: registry.ErrDigestMismatch},
		{name: "truncated-once", match: blobGet, fault: truncateOnce},
		{name: "truncated-always", match: blobGet, fault: truncateAlways, wantErr: io.ErrUnexpectedEOF, errText: "truncated"},
		{name: "5xx-429-source", match: blobGet, fault: statusOnce},
		{name: "5xx-429-destination", onDst: true, match: isPut, fault: statusOnce},
		{name: "dropped-source", match: blobGet, fault: dropOnce},
		{name: "dropped-destination", onDst: true, match: isPut, fault: dropOnce},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			in := &injector{match: c.match, fault: c.fault}
			srcOpts, dstOpts := registrytest.Options{}, registrytest.Options{}
			if c.onDst {
				dstOpts.Middleware = in.middleware
			} else {
				srcOpts.Middleware = in.middleware
			}
			src := registrytest.Start(t, registrytest.OCI, srcOpts)
			dstReg := registrytest.Start(t, registrytest.Distribution, dstOpts)
			client := newClient(src.Host, dstReg.Host)
			f := publish(t, src.Repository(t, "lib/app"), "1.0", 11)
			dst := dstReg.Repository(t, "q/app")
			var logs lockedBuffer
			im := acquire.NewImporter(client, acquire.ImporterOptions{Concurrency: 2,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})

			in.set(true)
			res, err := im.Import(ctx, src.Location("lib/app:1.0"), dst, acquire.ImportOptions{})
			in.set(false)
			if c.wantErr == nil {
				require.NoError(t, err)
				assert.Equal(t, f.index.Digest, res.Descriptor.Digest)
				d, err := dst.Resolve(ctx, "1.0")
				require.NoError(t, err)
				assert.Equal(t, f.index.Digest, d.Digest)
				if c.name == "truncated-once" {
					assert.Contains(t, logs.String(), "resumed blob download", "a broken download resumes with a range request")
				}
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, c.wantErr)
			assert.Contains(t, err.Error(), c.errText)
			_, err = dst.Resolve(ctx, "1.0")
			assert.ErrorIs(t, err, registry.ErrNotFound, "no tag on an incomplete image")

			res, err = im.Import(ctx, src.Location("lib/app:1.0"), dst, acquire.ImportOptions{})
			require.NoError(t, err, "rerun finishes the job")
			d, err := dst.Resolve(ctx, "1.0")
			require.NoError(t, err)
			assert.Equal(t, f.index.Digest, d.Digest)
			for _, l := range f.layers {
				assert.True(t, exists(t, dst, l))
			}
		})
	}
}

// TestImportCancel cancels an import stuck on a slow source: it stops
// promptly and sets no tag.
func TestImportCancel(t *testing.T) {
	slow := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !blobGet(r) {
				next.ServeHTTP(w, r)
				return
			}
			rec := record(next, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			b := rec.Body.Bytes()
			for len(b) > 0 {
				n := min(len(b), 1024)
				if _, err := w.Write(b[:n]); err != nil {
					return
				}
				http.NewResponseController(w).Flush()
				b = b[n:]
				select {
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		})
	}
	src := registrytest.Start(t, registrytest.OCI, registrytest.Options{Middleware: slow})
	dstReg := registrytest.Start(t, registrytest.OCI)
	client := newClient(src.Host, dstReg.Host)
	publish(t, src.Repository(t, "lib/app"), "1.0", 12)
	dst := dstReg.Repository(t, "q/app")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := acquire.NewImporter(client, acquire.ImporterOptions{}).Import(ctx, src.Location("lib/app:1.0"), dst, acquire.ImportOptions{})
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "error %v", err)
	assert.Less(t, elapsed, 2*time.Second, "stops promptly")
	_, err = dst.Resolve(context.Background(), "1.0")
	assert.ErrorIs(t, err, registry.ErrNotFound)
}

// TestImportRateLimit checks that the per-registry limit spaces requests.
func TestImportRateLimit(t *testing.T) {
	var log requestLog
	src := registrytest.Start(t, registrytest.OCI, registrytest.Options{Middleware: log.middleware})
	client := newClient(src.Host)
	publish(t, src.Repository(t, "lib/app"), "1.0", 13)
	dst, err := client.Repository(context.Background(), "mem:q")
	require.NoError(t, err)
	log.reset()
	start := time.Now()
	res, err := acquire.NewImporter(client, acquire.ImporterOptions{RequestsPerSecond: 100, Burst: 1}).
		Import(context.Background(), src.Location("lib/app:1.0"), dst, acquire.ImportOptions{SkipCosignTags: true})
	require.NoError(t, err)
	n := len(log.list())
	assert.Equal(t, int64(n), res.Requests.Source, "requests counted")
	assert.GreaterOrEqual(t, time.Since(start), time.Duration(n-1)*10*time.Millisecond*9/10, "%d requests at 100/s", n)
}

// lockedBuffer is a bytes.Buffer safe for concurrent writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
