package clamav

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/imagefs"
	"github.com/cssc-go/cssc/scan"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
)

// ToolName is the Tool.Name of clamav reports.
const ToolName = "clamav"

// Defaults of Options (used when a field is <= 0).
const (
	DefaultConcurrency     = 4
	DefaultStreamMaxLength = 25 << 20 // clamd's own default StreamMaxLength
	DefaultChunkSize       = 64 << 10
	DefaultTimeout         = 2 * time.Minute
	DefaultDialTimeout     = 10 * time.Second
	DefaultIdleTimeout     = 20 * time.Second
	DefaultMaxBuffered     = 64 << 20
)

// bufferLimit is the largest file read into memory and queued for a
// worker; larger files are streamed straight from the layer.
const bufferLimit = 1 << 20

// maxQueued is how many files may wait for a worker. The queue lets the
// walk run ahead of clamd, so that clamd always has files to scan while the
// walk decompresses a layer or copies a large file; the bytes of the small
// files waiting are bounded by Options.MaxBuffered, the large ones by
// maxDetached.
const maxQueued = 1024

// maxDetached is how many large files (handles on the walk's temporary
// copies) may be queued for or scanned by the workers.
func maxDetached(concurrency int) int { return 2 * concurrency }

// Oversize says what to do with a file larger than StreamMaxLength, which
// clamd would refuse.
type Oversize int

const (
	// OversizeFail (the zero value) fails the scan with an error wrapping
	// scan.ErrScanFailed.
	OversizeFail Oversize = iota
	// OversizeReport completes the scan and reports each oversize file as a
	// finding with ID OversizeFindingID and severity unknown, so that the
	// report is never clean while a file went unscanned.
	OversizeReport
	// OversizeSkipUnsafe skips oversize files with only a log warning: the
	// report may be clean although files were not scanned.
	OversizeSkipUnsafe
)

// OversizeFindingID is the finding ID of a file not scanned because it is
// larger than StreamMaxLength (with OversizeReport). It mirrors the name
// clamd uses with AlertExceedsMax.
const OversizeFindingID = "Heuristics.Limits.Exceeded.StreamMaxLength"

// Options configure a Scanner. Only Address is required.
type Options struct {
	// Address of clamd: "tcp://127.0.0.1:3310", "unix:///run/clamav/clamd.ctl"
	// or a bare socket path "/run/clamav/clamd.ctl". Required.
	Address string
	// Concurrency is the number of clamd connections (IDSESSION sessions)
	// and so of files in flight. <= 0 means DefaultConcurrency (4). Keep it
	// at or below clamd's MaxThreads.
	Concurrency int
	// StreamMaxLength is clamd's StreamMaxLength in bytes: larger files are
	// not sent (see Oversize). Set it to the server's value; if the server's
	// is lower, its "size limit exceeded" reply fails the scan anyway.
	// <= 0 means DefaultStreamMaxLength (25 MiB, clamd's default).
	StreamMaxLength int64
	// Oversize says what to do with files larger than StreamMaxLength. The
	// zero value, OversizeFail, fails the scan.
	Oversize Oversize
	// ChunkSize is the size of INSTREAM chunks. <= 0 means DefaultChunkSize
	// (64 KiB); it is capped at 1 MiB.
	ChunkSize int
	// Timeout bounds the scan of one file (sending it and waiting for the
	// verdict). <= 0 means DefaultTimeout (2 minutes).
	Timeout time.Duration
	// DialTimeout bounds connecting to clamd. <= 0 means DefaultDialTimeout
	// (10 seconds).
	DialTimeout time.Duration
	// IdleTimeout is how long an idle session is kept for reuse; keep it
	// below clamd's IdleTimeout (30 s by default). <= 0 means
	// DefaultIdleTimeout (20 seconds).
	IdleTimeout time.Duration
	// MaxBuffered caps the memory holding small files (up to 1 MiB each)
	// while they wait for a free connection or are being sent: each is
	// held in a recycled buffer of its size rounded up to a power of two,
	// 4 KiB at least. <= 0 means DefaultMaxBuffered (64 MiB).
	MaxBuffered int64
	// Walk bounds the image filesystem walk (see imagefs.WalkOptions; its zero
	// value uses the documented defaults). Walk.Logger nil means Logger.
	Walk imagefs.WalkOptions
	// Logger receives debug and warning messages. Nil means silent.
	Logger *slog.Logger
}

// Scanner is a clamd client that scans images (scan.Scanner) and single
// streams. It is safe for concurrent use; Close releases its idle
// connections.
type Scanner struct {
	opts    Options
	pool    *pool
	buffers buffers
	logger  *slog.Logger
}

var _ scan.Scanner = (*Scanner)(nil)

// New returns a Scanner for the clamd at opts.Address. It does not connect
// yet (see Ping).
func New(opts Options) (*Scanner, error) {
	network, address, err := parseAddress(opts.Address)
	if err != nil {
		return nil, err
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.StreamMaxLength <= 0 {
		opts.StreamMaxLength = DefaultStreamMaxLength
	}
	if opts.ChunkSize <= 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	opts.ChunkSize = min(opts.ChunkSize, 1<<20)
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxBuffered <= 0 {
		opts.MaxBuffered = DefaultMaxBuffered
	}
	switch opts.Oversize {
	case OversizeFail, OversizeReport, OversizeSkipUnsafe:
	default:
		return nil, fmt.Errorf("clamav: unknown Oversize %d", opts.Oversize)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.Walk.Logger == nil {
		opts.Walk.Logger = logger
	}
	return &Scanner{
		opts:   opts,
		pool:   newPool(network, address, opts.Concurrency, opts.DialTimeout, opts.IdleTimeout),
		logger: logger,
	}, nil
}

// Close ends the idle clamd sessions. The Scanner stays usable.
func (s *Scanner) Close() error {
	s.pool.close()
	return nil
}

// do runs fn on a session from the pool. If fn fails because a reused
// session turned out to be closed (clamd drops idle sessions) and again is
// true, it runs fn once more on a fresh session.
func (s *Scanner) do(ctx context.Context, again bool, fn func(c *conn) error) error {
	for attempt := 0; ; attempt++ {
		c, err := s.pool.get(ctx)
		if err != nil {
			return err
		}
		reused := c.reused()
		err = fn(c)
		s.pool.put(c, err == nil)
		if err != nil && again && attempt == 0 && reused && retryable(ctx, err) {
			s.logger.Debug("clamav: session lost, retrying on a new one", "err", err)
			continue
		}
		return err
	}
}

// command sends a simple command on a session and returns the reply.
func (s *Scanner) command(ctx context.Context, cmd string) (string, error) {
	var reply string
	err := s.do(ctx, true, func(c *conn) error {
		stop := c.watch(ctx)
		defer stop()
		c.c.SetDeadline(time.Now().Add(s.opts.Timeout))
		defer c.c.SetDeadline(time.Time{})
		if err := c.write(ctx, []byte("z"+cmd+"\x00")); err != nil {
			return err
		}
		var err error
		reply, err = c.readReply(ctx, true)
		return err
	})
	return reply, err
}

// Ping checks that clamd answers.
func (s *Scanner) Ping(ctx context.Context) error {
	reply, err := s.command(ctx, "PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("%w: clamd answered PING with %q", scan.ErrScanFailed, reply)
	}
	return nil
}

// Version asks clamd for its engine and database versions.
func (s *Scanner) Version(ctx context.Context) (Version, error) {
	reply, err := s.command(ctx, "VERSION")
	if err != nil {
		return Version{}, err
	}
	if !strings.HasPrefix(reply, "ClamAV ") {
		return Version{}, fmt.Errorf("%w: clamd answered VERSION with %q", scan.ErrScanFailed, reply)
	}
	parts := strings.SplitN(reply, "/", 3)
	v := Version{Engine: parts[0]}
	if len(parts) > 1 {
		v.Database = parts[1]
	}
	if len(parts) > 2 {
		v.DatabaseTime = parts[2]
	}
	return v, nil
}

// ScanReader streams r to clamd and returns its verdict. A stream larger
// than StreamMaxLength is refused before clamd sees the excess; any reply
// other than OK or FOUND is an error wrapping scan.ErrScanFailed.
func (s *Scanner) ScanReader(ctx context.Context, r io.Reader) (Result, error) {
	buf := make([]byte, 4+s.opts.ChunkSize)
	return s.stream(ctx, r, buf)
}

// stream sends r to clamd. If r can seek back to its start (a
// *bytes.Reader, an *io.SectionReader at offset 0) it can be sent again,
// and a stream that failed on a lost idle session is retried once.
func (s *Scanner) stream(ctx context.Context, r io.Reader, buf []byte) (Result, error) {
	var res Result
	// A reader that can seek back to its start can be sent again.
	rs, again := r.(io.ReadSeeker)
	if again {
		start, err := rs.Seek(0, io.SeekCurrent)
		again = err == nil && start == 0
	}
	err := s.do(ctx, again, func(c *conn) error {
		if again {
			if _, err := rs.Seek(0, io.SeekStart); err != nil {
				return err
			}
		}
		var err error
		res, err = c.instream(ctx, r, buf, s.opts.StreamMaxLength, s.opts.Timeout, true)
		return err
	})
	if errors.Is(err, errTooLarge) {
		return Result{}, fmt.Errorf("%w: %w (%d bytes)", scan.ErrScanFailed, errTooLarge, s.opts.StreamMaxLength)
	}
	return res, err
}

// ScanError is the error of a scan that could not complete. It matches
// scan.ErrScanFailed with errors.Is (and keeps its cause, such as
// context.Canceled, in the chain), and carries the detections made before
// the failure: a failed scan is never clean, but what was found is known.
type ScanError struct {
	// Path and Layer locate the file whose scan failed, empty if the
	// failure was not about one file.
	Path, Layer string
	// Findings are the detections made before the scan stopped.
	Findings []scan.Finding
	// Err is the cause.
	Err error
}

// Error describes the failure, the file and the detections made before it.
func (e *ScanError) Error() string {
	s := "clamav: scan failed"
	if e.Path != "" {
		s += " at " + e.Path
	}
	if len(e.Findings) > 0 {
		s += fmt.Sprintf(" (%d detections before the failure)", len(e.Findings))
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause and scan.ErrScanFailed.
func (e *ScanError) Unwrap() []error { return []error{scan.ErrScanFailed, e.Err} }

// fileError ties a failure to a file.
type fileError struct {
	path, layer string
	err         error
}

func (e *fileError) Error() string { return e.path + ": " + e.err.Error() }
func (e *fileError) Unwrap() error { return e.err }

// Scan walks every regular file of img's final filesystem and streams it
// to clamd. It returns a report of kind artifact.ReportKindMalware with one
// finding (severity critical) per detection, or a *ScanError (matching
// scan.ErrScanFailed) if any file could not be scanned. Files larger than
// StreamMaxLength follow Options.Oversize. img.SBOM is ignored.
func (s *Scanner) Scan(ctx context.Context, img *scan.Image) (*scan.Report, error) {
	fs, err := s.StartFiles(ctx, img)
	if err != nil {
		return nil, err
	}
	walkErr := imagefs.Walk(ctx, img.Repository, img.Manifest, s.opts.Walk, func(ctx context.Context, f *imagefs.File, r io.Reader) error {
		if !fs.Wants(f) {
			return nil
		}
		return fs.Visit(ctx, f, r)
	})
	return fs.Finish(ctx, walkErr)
}

var _ scan.FileScanner = (*Scanner)(nil)

var _ scan.Declarer = (*Scanner)(nil)

// Declaration declares the scanner a malware scanner, so that its reports
// meet a policy's malware requirement (see scan.Declaration).
func (s *Scanner) Declaration() scan.Declaration { return scan.Declaration{Malware: true} }

// StartFiles begins a scan of img fed by the caller's walk (see
// scan.FileScanner): it asks clamd for its version, then streams every
// regular file given to Visit to clamd, as Scan does; Finish returns the
// report. Visit must be called from one goroutine; files are queued for
// Options.Concurrency connections (small ones in memory, up to
// Options.MaxBuffered bytes; large shared copies by handle, up to 2 x
// Concurrency), so that the walk runs ahead of clamd.
func (s *Scanner) StartFiles(ctx context.Context, img *scan.Image) (scan.FileScan, error) {
	if err := img.Validate(); err != nil {
		return nil, fmt.Errorf("clamav: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := time.Now().UTC()
	v, err := s.Version(ctx)
	if err != nil {
		return nil, &ScanError{Err: err}
	}
	fs := &fileScan{
		s:      s,
		start:  start,
		jobs:   make(chan fileJob, maxQueued),
		mem:    semaphore.NewWeighted(s.opts.MaxBuffered),
		held:   make(chan struct{}, maxDetached(s.opts.Concurrency)),
		inline: make([]byte, 4+s.opts.ChunkSize),
		report: &scan.Report{
			Kind:    artifact.ReportKindMalware,
			Tool:    scan.Tool{Name: ToolName, Version: v.Engine, DatabaseVersion: v.Database},
			Subject: img.Manifest.Digest,
			Time:    start,
		},
	}
	fs.g, fs.gctx = errgroup.WithContext(ctx)
	for range s.opts.Concurrency {
		fs.g.Go(func() error {
			buf := make([]byte, 4+s.opts.ChunkSize)
			for j := range fs.jobs {
				var res Result
				var err error
				if j.handle != nil {
					res, err = s.stream(fs.gctx, io.NewSectionReader(j.handle, 0, j.size), buf)
				} else {
					res, err = s.stream(fs.gctx, bytes.NewReader(j.data), buf)
				}
				fs.drop(j)
				if err != nil {
					return &fileError{path: j.file.Path, layer: j.file.LayerDigest.String(), err: err}
				}
				fs.record(&j.file, res)
			}
			return nil
		})
	}
	return fs, nil
}

// fileScan is one scan fed by a walk.
type fileScan struct {
	s      *Scanner
	start  time.Time
	report *scan.Report
	g      *errgroup.Group
	gctx   context.Context
	jobs   chan fileJob
	closed bool
	mem    *semaphore.Weighted
	held   chan struct{} // one token per detached handle queued or in a worker
	inline []byte

	mu       sync.Mutex
	findings []scan.Finding
	files    int
}

// fileJob is one file for a worker: small files in memory (data), large
// ones through a detached handle on the walk's temporary copy (handle,
// size bytes).
type fileJob struct {
	file   imagefs.File
	data   []byte
	handle *os.File
	size   int64
}

func (fs *fileScan) record(f *imagefs.File, res Result) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.files++
	if res.Found {
		fs.s.logger.Warn("clamav: detection", "path", f.Path, "layer", f.LayerDigest, "signature", res.Signature)
		fs.findings = append(fs.findings, scan.Finding{
			ID: res.Signature, Severity: scan.SeverityCritical, Summary: "ClamAV signature " + res.Signature,
			Path: f.Path, Layer: f.LayerDigest.String(),
		})
	}
}

// Wants reports whether f is scanned: every non-empty regular file.
func (fs *fileScan) Wants(f *imagefs.File) bool { return f.Mode.IsRegular() && f.Size > 0 }

// Visit streams one file to clamd, or queues it for the workers.
func (fs *fileScan) Visit(ctx context.Context, f *imagefs.File, r io.Reader) error {
	if !fs.Wants(f) {
		return nil
	}
	// A worker's failure cancels gctx: stop feeding files.
	if err := fs.gctx.Err(); err != nil {
		return err
	}
	s := fs.s
	if f.Hardlink {
		// Links get the content only when their target is hidden.
		br := bufio.NewReaderSize(r, 512)
		if _, err := br.Peek(1); err == io.EOF {
			return nil
		}
		r = br
	}
	if f.Size > s.opts.StreamMaxLength {
		switch s.opts.Oversize {
		case OversizeReport:
			s.logger.Warn("clamav: file larger than StreamMaxLength reported, not scanned", "path", f.Path, "size", f.Size)
			fs.mu.Lock()
			fs.findings = append(fs.findings, scan.Finding{
				ID: OversizeFindingID, Severity: scan.SeverityUnknown, Path: f.Path, Layer: f.LayerDigest.String(),
				Summary: fmt.Sprintf("not scanned: %d bytes, larger than clamd's StreamMaxLength %d", f.Size, s.opts.StreamMaxLength),
			})
			fs.mu.Unlock()
			return nil
		case OversizeSkipUnsafe:
			s.logger.Warn("clamav: UNSAFE: file larger than StreamMaxLength skipped", "path", f.Path, "size", f.Size)
			return nil
		}
		return &fileError{path: f.Path, layer: f.LayerDigest.String(),
			err: fmt.Errorf("%w: %d bytes, larger than clamd's StreamMaxLength %d", scan.ErrScanFailed, f.Size, s.opts.StreamMaxLength)}
	}
	if f.Size > bufferLimit {
		// A large file that imagefs.WalkAll copied to a temporary file
		// (another visitor wants it too) is queued for a worker with its
		// own handle on that copy: the walk goes on while clamd scans it.
		// At most maxDetached(Concurrency) such handles are queued or in a
		// worker (each keeps its copy's disk space until it is closed).
		// Otherwise, or if the copy cannot be reopened, the file is
		// streamed now, as it is read.
		if sc, ok := r.(*imagefs.SharedCopy); ok {
			select {
			case fs.held <- struct{}{}:
			case <-fs.gctx.Done():
				return fs.gctx.Err()
			}
			if h, err := sc.Detach(); err == nil {
				select {
				case fs.jobs <- fileJob{file: *f, handle: h, size: sc.Size()}:
					return nil
				case <-fs.gctx.Done():
					_ = h.Close()
					<-fs.held
					return fs.gctx.Err()
				}
			} else {
				<-fs.held
				s.logger.Debug("clamav: streaming a shared copy in the walk", "path", f.Path, "err", err)
			}
		}
		res, err := s.stream(fs.gctx, r, fs.inline)
		if err != nil {
			return &fileError{path: f.Path, layer: f.LayerDigest.String(), err: err}
		}
		fs.record(f, res)
		return nil
	}
	if err := fs.mem.Acquire(fs.gctx, fs.weight(bufferSize(f.Size))); err != nil {
		return err
	}
	data := s.buffers.get(f.Size)
	n, err := io.ReadFull(r, data)
	if err != nil && !(f.Hardlink && errors.Is(err, io.ErrUnexpectedEOF)) {
		fs.release(data)
		return fmt.Errorf("read %s: %w", f.Path, err)
	}
	data = data[:n]
	select {
	case fs.jobs <- fileJob{file: *f, data: data}:
		return nil
	case <-fs.gctx.Done():
		fs.release(data)
		return fs.gctx.Err()
	}
}

// drop releases what a job holds: its handle on a temporary copy, or its
// buffer.
func (fs *fileScan) drop(j fileJob) {
	if j.handle != nil {
		_ = j.handle.Close()
		<-fs.held
		return
	}
	fs.release(j.data)
}

// release recycles the buffer of a small file and frees its share of
// Options.MaxBuffered.
func (fs *fileScan) release(data []byte) {
	fs.mem.Release(fs.weight(int64(cap(data))))
	fs.s.buffers.put(data)
}

// weight is what a buffer of capacity n holds of Options.MaxBuffered: n,
// or all of it for a buffer larger than the whole budget (which then
// waits for every other buffer and goes alone).
func (fs *fileScan) weight(n int64) int64 { return min(n, fs.s.opts.MaxBuffered) }

// buffers recycles the in-memory copies of small files, by size rounded
// up to a power of two from 4 KiB to bufferLimit: a scan of thousands of
// files then allocates (and the collector clears) a few buffers, not one
// per file. Options.MaxBuffered counts the rounded sizes.
type buffers struct {
	classes [bufferClasses]sync.Pool // of *[]byte
}

const (
	minBufferShift = 12 // 4 KiB
	bufferClasses  = 20 - minBufferShift + 1
)

// bufferSize is the capacity of the buffer that holds n bytes.
func bufferSize(n int64) int64 {
	return 1 << (minBufferShift + bufferClass(n))
}

func bufferClass(n int64) int {
	return max(bits.Len64(uint64(max(n, 1)-1)), minBufferShift) - minBufferShift
}

// get returns a buffer of length n (at most bufferLimit).
func (b *buffers) get(n int64) []byte {
	c := bufferClass(n)
	if p, ok := b.classes[c].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, bufferSize(n))
}

// put recycles a buffer obtained from get (whose capacity is its class's).
func (b *buffers) put(buf []byte) {
	buf = buf[:0]
	b.classes[bufferClass(int64(cap(buf)))].Put(&buf)
}

// Finish waits for the queued files and returns the report, or a
// *ScanError if any file could not be scanned or walkErr is not nil.
func (fs *fileScan) Finish(ctx context.Context, walkErr error) (*scan.Report, error) {
	if !fs.closed {
		fs.closed = true
		close(fs.jobs)
	}
	err := fs.g.Wait()
	// Workers stop at the first failure: release what they left queued.
	for j := range fs.jobs {
		fs.drop(j)
	}
	if walkErr != nil {
		// The walk's error explains what the workers saw (a cancelled
		// context), unless a worker failed on a file first.
		var fe *fileError
		if err == nil || !errors.As(err, &fe) {
			err = walkErr
		}
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err != nil {
		se := &ScanError{Err: err, Findings: fs.findings}
		var fe *fileError
		if errors.As(err, &fe) {
			se.Path, se.Layer, se.Err = fe.path, fe.layer, fe.err
		}
		if ctx.Err() != nil {
			se.Err = ctx.Err()
		}
		return nil, se
	}
	fs.report.Findings = fs.findings
	fs.report.Sort()
	fs.s.logger.Debug("clamav: scan done", "subject", fs.report.Subject, "files", fs.files, "detections", len(fs.findings), "took", time.Since(fs.start))
	return fs.report, nil
}
