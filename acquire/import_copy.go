package acquire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	orasregistry "oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/cssc-go/cssc/registry"
)

// tracked wraps a repository so that every call counts its HTTP requests
// and waits for the per-host rate limit (both through an httptrace hook
// that runs once per request, retries and token requests included).
type tracked struct {
	registry.Repository
	im       *ORASImporter
	requests *atomic.Int64
}

func (t *tracked) ctx(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GetConn: func(hostPort string) {
			t.requests.Add(1)
			if l := t.im.limiter(hostPort); l != nil {
				_ = l.Wait(ctx) // on cancellation the request itself fails
			}
		},
	})
}

func (t *tracked) resolve(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	return t.Repository.Resolve(t.ctx(ctx), ref)
}

// Fetch, Exists and Referrers are overridden so that helpers taking the
// repository as an interface (manifest.Fetch, registry.Referrers)
// are tracked too.

func (t *tracked) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	return t.Repository.Fetch(t.ctx(ctx), d)
}

func (t *tracked) Exists(ctx context.Context, d ocispec.Descriptor) (bool, error) {
	return t.Repository.Exists(t.ctx(ctx), d)
}

func (t *tracked) Referrers(ctx context.Context, d ocispec.Descriptor, artifactType string, fn func([]ocispec.Descriptor) error) error {
	return t.Repository.Referrers(t.ctx(ctx), d, artifactType, fn)
}

func isNotFound(err error) bool { return errors.Is(err, registry.ErrNotFound) }

// copyBlobs copies the planned blobs, Concurrency at a time, of which at
// most half (rounded up) stream bytes at a time; the others wait for the
// destination to commit the bytes they have sent.
//
// The wait matters: a registry storing blobs on a filesystem (distribution)
// fsyncs an upload before it answers the final request, which for large
// blobs takes about as long as the transfer itself. A blob whose bytes are
// all sent (and verified) gives its streaming slot to the next blob, so the
// destination's disk writes of one blob overlap with the transfer of the
// next, instead of every blob finishing, then fsyncing, at the same time.
func (j *job) copyBlobs(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(j.im.opts.Concurrency)
	j.streams = make(chan struct{}, streamSlots(j.im.opts.Concurrency))
	for _, b := range j.blobs {
		g.Go(func() error { return j.copyBlob(gctx, b) })
	}
	return g.Wait()
}

func (j *job) count(f func(*BlobCounts)) {
	j.mu.Lock()
	f(&j.res.Blobs)
	j.mu.Unlock()
}

func (j *job) progress(d ocispec.Descriptor, done int64, state string) {
	if j.opts.Progress != nil {
		j.opts.Progress(BlobProgress{Descriptor: d, Done: done, Total: d.Size, State: state})
	}
}

// copyBlob copies one blob: nothing if the destination has it, a mount if
// the destination host has it in another repository, else a streamed,
// verified upload, attempted again if it broke off mid-stream.
func (j *job) copyBlob(ctx context.Context, d ocispec.Descriptor) error {
	ok, err := j.dst.Exists(ctx, d)
	if err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	if ok {
		j.count(func(c *BlobCounts) { c.Existing++ })
		j.progress(d, d.Size, BlobExisting)
		return nil
	}
	if m, ok := j.dst.Repository.(orasregistry.Mounter); ok {
		for _, from := range j.mountFrom {
			uploaded := false
			err := m.Mount(j.dst.ctx(ctx), d, from, func() (io.ReadCloser, error) {
				// 202 without a mount: oras-go uploads through the session it
				// opened, from our verified source stream.
				uploaded = true
				return j.open(ctx, d)
			})
			if err == nil {
				if uploaded {
					j.bytes.Add(d.Size)
					j.count(func(c *BlobCounts) { c.Copied++ })
					j.progress(d, d.Size, BlobDone)
				} else {
					j.count(func(c *BlobCounts) { c.Mounted++ })
					j.progress(d, d.Size, BlobMounted)
				}
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			j.im.log.Debug("mount refused, uploading", "blob", d.Digest, "from", from, "error", err)
			if uploaded {
				break // the upload itself failed: retry below without mounting
			}
		}
	}
	var last error
	for attempt := range j.im.opts.BlobAttempts {
		if attempt > 0 {
			j.im.log.Debug("retrying blob copy", "blob", d.Digest, "attempt", attempt+1, "error", last)
			select {
			case <-time.After(blobBackoff(attempt)):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		last = j.upload(ctx, d)
		if last == nil {
			j.count(func(c *BlobCounts) { c.Copied++ })
			j.progress(d, d.Size, BlobDone)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(last, registry.ErrAlreadyExists) {
			j.count(func(c *BlobCounts) { c.Existing++ })
			return nil
		}
		if !transient(last) {
			break
		}
	}
	return fmt.Errorf("blob %s: %w", d.Digest, last)
}

// blobBackoff is the wait before attempt n (from 1) of a blob copy: 250 ms,
// doubling, at most 4 s.
func blobBackoff(n int) time.Duration {
	return min(250*time.Millisecond<<(n-1), 4*time.Second)
}

// upload streams one blob from the source to the destination.
func (j *job) upload(ctx context.Context, d ocispec.Descriptor) error {
	// A streaming slot, held until every byte is sent (see copyBlobs).
	select {
	case j.streams <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	var once sync.Once
	release := func() { once.Do(func() { <-j.streams }) }
	defer release()
	// The download gets its own context: when the upload stops, a stalled
	// download is cut off before the read-ahead is closed.
	fctx, cancel := context.WithCancel(ctx)
	rc, err := j.open(fctx, d)
	if err != nil {
		cancel()
		return err
	}
	ra := newReadAhead(rc, &j.im.buffers)
	ra.atEOF = release
	err = j.dst.Push(j.dst.ctx(ctx), d, ra)
	cancel()
	ra.Close()
	if err != nil {
		// The source side's own error (truncation, digest) says more than
		// the transport's wrapping of it.
		if serr := ra.srcErr; serr != nil && !errors.Is(err, serr) && !errors.Is(serr, context.Canceled) {
			return fmt.Errorf("%w (%w)", serr, err)
		}
		return err
	}
	j.bytes.Add(d.Size)
	return nil
}

// open fetches a blob from the source, wrapped in a reader that checks its
// size and digest, resumes a broken stream with a range request when the
// source supports it, and reports progress.
func (j *job) open(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := j.src.Fetch(ctx, d)
	if err != nil {
		return nil, err
	}
	if err := d.Digest.Validate(); err != nil {
		rc.Close()
		return nil, fmt.Errorf("%w: %w", registry.ErrInvalidReference, err)
	}
	j.progress(d, 0, BlobCopying)
	return &verifyReader{rc: rc, desc: d, h: d.Digest.Algorithm().Hash(), job: j, resumes: j.im.opts.BlobAttempts}, nil
}

// verifyReader reads a blob and fails, instead of returning its last bytes,
// when the content does not match the descriptor: an upload of a lying or
// truncated source never completes.
type verifyReader struct {
	rc       io.ReadCloser
	desc     ocispec.Descriptor
	h        hash.Hash
	n        int64
	reported int64
	err      error
	job      *job
	resumes  int
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if rem := v.desc.Size - v.n; int64(len(p)) > rem+1 {
		p = p[:rem+1] // one more byte to detect oversize content
	}
	n, err := v.rc.Read(p)
	if v.n+int64(n) > v.desc.Size {
		v.err = fmt.Errorf("blob %s: %w: more than %d bytes", v.desc.Digest, registry.ErrSizeExceeded, v.desc.Size)
		return 0, v.err
	}
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.n == v.desc.Size && n > 0 {
		if got := digest.NewDigest(v.desc.Digest.Algorithm(), v.h); got != v.desc.Digest {
			v.err = fmt.Errorf("blob %s: %w: content has digest %s", v.desc.Digest, registry.ErrDigestMismatch, got)
			return 0, v.err
		}
	}
	if v.n-v.reported >= 1<<20 || v.n == v.desc.Size && v.reported != v.n {
		v.reported = v.n
		v.job.progress(v.desc, v.n, BlobCopying)
	}
	switch {
	case err == io.EOF && v.n < v.desc.Size:
		v.err = fmt.Errorf("blob %s: truncated after %d of %d bytes: %w", v.desc.Digest, v.n, v.desc.Size, io.ErrUnexpectedEOF)
		return n, v.err
	case err != nil && err != io.EOF && v.n < v.desc.Size && v.resume(err):
		return n, nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		v.err = fmt.Errorf("blob %s: truncated after %d of %d bytes: %w", v.desc.Digest, v.n, v.desc.Size, err)
		return n, v.err
	case err != nil && err != io.EOF:
		v.err = fmt.Errorf("blob %s: read after %d of %d bytes: %w", v.desc.Digest, v.n, v.desc.Size, err)
		return n, v.err
	}
	return n, err
}

// resume reopens a broken source stream at the current offset when the
// source supports range requests (oras-go returns an io.Seeker then).
func (v *verifyReader) resume(err error) bool {
	s, ok := v.rc.(io.Seeker)
	if !ok || v.resumes <= 0 || !transient(err) || v.n == 0 {
		return false
	}
	v.resumes--
	// oras-go's seeker ignores a seek to its current offset, so seek one
	// byte back and drop that byte.
	if _, serr := s.Seek(v.n-1, io.SeekStart); serr != nil {
		return false
	}
	var one [1]byte
	if _, rerr := io.ReadFull(v.rc, one[:]); rerr != nil {
		return false
	}
	v.job.im.log.Debug("resumed blob download", "blob", v.desc.Digest, "offset", v.n, "error", err)
	return true
}

func (v *verifyReader) Close() error { return v.rc.Close() }

// transient reports whether a blob copy that failed with err may succeed
// when attempted again: broken connections and truncated streams, not
// digest mismatches, refusals or cancellation.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, registry.ErrDigestMismatch) || errors.Is(err, registry.ErrSizeExceeded) || errors.Is(err, registry.ErrSizeMismatch) ||
		errors.Is(err, registry.ErrUnauthorized) || errors.Is(err, registry.ErrNotFound) {
		return false
	}
	// The registry client retries 429 and 5xx, but cannot replay a
	// streamed upload body: such an upload is attempted again here.
	var resp *errcode.ErrorResponse
	if errors.As(err, &resp) {
		c := resp.StatusCode
		return c == http.StatusTooManyRequests || c == http.StatusRequestTimeout || c >= 500 && c != http.StatusNotImplemented
	}
	var ne net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &ne)
}

// pushManifest pushes the manifest n to the destination unless it is there
// already and, if tag is not empty, points tag to it. It reports whether
// bytes were pushed.
func (j *job) pushManifest(ctx context.Context, n node, tag string) (bool, error) {
	if tag == "" {
		ok, err := j.dst.Exists(ctx, n.desc)
		if err != nil {
			return false, fmt.Errorf("manifest %s: %w", n.desc.Digest, err)
		}
		if ok {
			return false, nil
		}
		err = j.dst.Push(j.dst.ctx(ctx), n.desc, bytes.NewReader(n.raw))
		if err != nil && !errors.Is(err, registry.ErrAlreadyExists) {
			return false, fmt.Errorf("manifest %s: %w", n.desc.Digest, err)
		}
		j.bytes.Add(n.desc.Size)
		return true, nil
	}
	if d, err := j.dst.resolve(ctx, tag); err == nil && d.Digest == n.desc.Digest {
		return false, nil
	}
	if rp, ok := j.dst.Repository.(orasregistry.ReferencePusher); ok {
		if err := rp.PushReference(j.dst.ctx(ctx), n.desc, bytes.NewReader(n.raw), tag); err != nil {
			return false, fmt.Errorf("tag %s: %w", tag, err)
		}
		return true, nil
	}
	if err := j.dst.Tag(j.dst.ctx(ctx), n.desc, tag); err != nil {
		return false, fmt.Errorf("tag %s: %w", tag, err)
	}
	return false, nil
}

// streamSlots returns how many blobs of those in flight stream bytes at a
// time: half of them, rounded up.
func streamSlots(concurrency int) int { return (concurrency + 1) / 2 }
