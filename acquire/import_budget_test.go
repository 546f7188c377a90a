package acquire_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// resetFirst breaks off the first k downloads of each big blob half way,
// and never serves ranges: the source of issue 10 item 11 that resets
// half of its connections and cannot resume.
func resetFirst(k int) fault {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler, n int) bool {
		r.Header.Del("Range")
		rec := record(next, r)
		rec.Header().Del("Accept-Ranges")
		if !big(rec) || n > k {
			replay(w, rec, rec.Body.Bytes(), rec.Body.Len())
			return true
		}
		b := rec.Body.Bytes()
		head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\n\r\n", len(b))
		drop(w, b[:len(b)/2], head)
		return true
	}
}

// TestBlobRetryBudget: the number of attempts at a broken blob download is
// an option, and its default survives a source that breaks off four
// downloads in a row (three attempts, the old default, did not).
func TestBlobRetryBudget(t *testing.T) {
	for _, tc := range []struct {
		name     string
		attempts int
		wantErr  bool
	}{
		{"default", 0, false},
		{"budget of 4", 4, true},
		{"budget of 5", 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			in := &injector{match: blobGet, fault: resetFirst(4)}
			src := registrytest.Start(t, registrytest.OCI, registrytest.Options{Middleware: in.middleware})
			dstReg := registrytest.Start(t, registrytest.OCI)
			client := newClient(src.Host, dstReg.Host)
			f := publish(t, src.Repository(t, "lib/app"), "1.0", 21)
			dst := dstReg.Repository(t, "q/app")
			im := acquire.NewImporter(client, acquire.ImporterOptions{Concurrency: 2, BlobAttempts: tc.attempts})
			in.set(true)
			start := time.Now()
			_, err := im.Import(ctx, src.Location("lib/app:1.0"), dst, acquire.ImportOptions{})
			in.set(false)
			if tc.wantErr {
				require.Error(t, err)
				assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "a budget spent on truncated downloads says so")
				_, rerr := dst.Resolve(ctx, "1.0")
				assert.ErrorIs(t, rerr, registry.ErrNotFound)
				return
			}
			require.NoError(t, err, "attempts %d", tc.attempts)
			d, err := dst.Resolve(ctx, "1.0")
			require.NoError(t, err)
			assert.Equal(t, f.index.Digest, d.Digest)
			t.Logf("imported through 4 broken downloads per blob in %s", time.Since(start))
		})
	}
	assert.Equal(t, 6, acquire.DefaultBlobAttempts)
}

// TestImportLyingChildSize: an index that lies about the size of a child
// manifest fails the import with the registry's typed error (issue 10
// item 11), on every kind of source registry.
func TestImportLyingChildSize(t *testing.T) {
	ctx := context.Background()
	for _, kind := range registrytest.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			src := registrytest.Start(t, kind)
			dstReg := registrytest.Start(t, registrytest.OCI)
			repo := src.Repository(t, "lib/liar")
			child, err := imagetest.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
				Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "x", Data: []byte("x")})}}.Push(ctx, repo)
			require.NoError(t, err)
			for _, delta := range []int64{-7, 7} {
				lie := child
				lie.Size += delta
				raw, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{lie}})
				require.NoError(t, err)
				idx := imagetest.Descriptor(ocispec.MediaTypeImageIndex, raw)
				require.NoError(t, repo.Push(ctx, idx, bytesReader(raw)))
				tag := "larger"
				if delta < 0 {
					tag = "smaller"
				}
				require.NoError(t, repo.Tag(ctx, idx, tag))

				im := acquire.NewImporter(newClient(src.Host, dstReg.Host), acquire.ImporterOptions{})
				dst := dstReg.Repository(t, "q/liar")
				_, err = im.Import(ctx, src.Location("lib/liar:"+tag), dst, acquire.ImportOptions{})
				require.Error(t, err, "size %+d", delta)
				assert.ErrorIs(t, err, registry.ErrSizeMismatch, "size %+d: %v", delta, err)
				_, rerr := dst.Resolve(ctx, tag)
				assert.ErrorIs(t, rerr, registry.ErrNotFound, "nothing tagged")
			}
		})
	}
}

func bytesReader(b []byte) io.Reader { return &sliceReader{b: b} }

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}
