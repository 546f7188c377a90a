package scalibr

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/osv-scalibr/extractor"
	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/language/golang/gobinary"
	"github.com/google/osv-scalibr/extractor/filesystem/language/java/archive"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/packagejson"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/wheelegg"
	"github.com/google/osv-scalibr/extractor/filesystem/os/apk"
	apkmeta "github.com/google/osv-scalibr/extractor/filesystem/os/apk/metadata"
	"github.com/google/osv-scalibr/extractor/filesystem/os/dpkg"
	dpkgmeta "github.com/google/osv-scalibr/extractor/filesystem/os/dpkg/metadata"
	"github.com/google/osv-scalibr/extractor/filesystem/os/rpm"
	rpmmeta "github.com/google/osv-scalibr/extractor/filesystem/os/rpm/metadata"
	opencontainers "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/semaphore"
	"oras.land/oras-go/v2/content"

	cpb "github.com/google/osv-scalibr/binary/proto/config_go_proto"

	"github.com/cssc-go/cssc/imagefs"
	"github.com/cssc-go/cssc/sbom"
)

// Defaults for [Options].
const (
	// DefaultMaxFileSize is the default cap on one file handed to an
	// extractor: 512 MiB.
	DefaultMaxFileSize = 512 << 20
	// DefaultMaxBufferedBytes is the default cap on the files kept in memory
	// until the end of the walk (package databases, os-release): 256 MiB.
	DefaultMaxBufferedBytes = 256 << 20
	// DefaultSpillSize is the default size above which a file is copied to
	// a temporary file instead of memory: 4 MiB.
	DefaultSpillSize = 4 << 20
	// Creator is the SPDX creator Generate records when Options.Creators
	// is empty.
	Creator = "Tool: cssc-sbom-scalibr"
)

// ErrTooLarge is wrapped when the files deferred to the end of the walk
// exceed Options.MaxBufferedBytes.
var ErrTooLarge = errors.New("sbom/scalibr: buffered files exceed limit")

// Options tunes [Generate]. The zero value is ready to use.
type Options struct {
	// Name becomes Document.Name (the image reference, typically). Empty
	// means the manifest digest.
	Name string
	// Created becomes Document.Created. Zero means the zero time: the
	// encoders then write the Unix epoch, keeping output independent of the
	// clock.
	Created time.Time
	// Creators becomes Document.Creators. Nil means []string{Creator}.
	Creators []string
	// Extractors replaces the default extractor set ([DefaultExtractors]).
	// Nil means the default set. Extractors whose name starts with "os/" are
	// deferred to the end of the walk and given the in-memory FS (os/rpm
	// also gets ScanInput.Root: its file is copied under TempDir); the others
	// run on a worker goroutine as soon as their file is read, concurrently
	// with the walk, and see an empty FS in ScanInput.FS (only ScanInput.Reader
	// holds content). The extractors must be safe for concurrent use if the
	// same Options serve concurrent Generate calls (osv-scalibr's built-in
	// ones are).
	Extractors []filesystem.Extractor
	// MaxFileSize caps the size of one file handed to an extractor. A
	// larger file that an extractor needs is not examined: it is listed in
	// Document.Skipped (the SBOM says it is incomplete, and the policy sees
	// it) and reported to OnWarning. <= 0 means DefaultMaxFileSize
	// (512 MiB).
	MaxFileSize int64
	// SpillSize bounds memory: a file an in-process extractor needs (a Go
	// binary, a jar) that is larger than SpillSize is copied to a private
	// temporary file under TempDir and read from there (Go build info and
	// jar directories are read at offsets, not whole), instead of being
	// held in memory. <= 0 means DefaultSpillSize (4 MiB).
	SpillSize int64
	// NoLicenseClassifier skips classifying free-text Debian copyright
	// files (their packages then get no licence). False (the default)
	// classifies them with github.com/google/licenseclassifier/v2, after
	// the walk: a Generate call that meets a free-text file whose licences
	// this process has not classified yet builds the classifier once
	// (~0.2 s of CPU, ~2 MiB held) and releases it when it returns.
	NoLicenseClassifier bool
	// MaxBufferedBytes caps the total size of the files kept until the end
	// of the walk for deferred extractors and of the distinct free-text
	// copyright files kept for the classifier; exceeding it fails Generate with
	// an error wrapping ErrTooLarge. <= 0 means DefaultMaxBufferedBytes
	// (256 MiB).
	MaxBufferedBytes int64
	// Walk is passed to imagefs.Walk (caps on layers, entries and bytes). Its
	// Logger, if nil, is set to Logger.
	Walk imagefs.WalkOptions
	// OnWarning, if not nil, is called for each file that could not be
	// used (malformed database, oversized file, an extractor that crashed,
	// licences past the cap). Generate still succeeds; files that were not
	// examined are also in Document.Skipped. Calls come from the walking
	// goroutine or the extraction worker, never two at once. Nil means
	// warnings are only logged.
	OnWarning func(Warning)
	// TempDir is where Generate creates its private temporary directory
	// (mode 0700, created on first need): copies of rpm databases
	// (osv-scalibr's rpm extractor opens the database as a file) and of
	// files larger than SpillSize, each at most MaxFileSize bytes. Spilled
	// files are removed as soon as they are extracted (at most two at a
	// time exist), the directory before Generate returns. Empty means
	// os.TempDir().
	TempDir string
	// Logger receives debug and warning messages. Nil means silent.
	// (osv-scalibr's extractors log through osv-scalibr's own package-level
	// logger, which cssc leaves alone.)
	Logger *slog.Logger
}

// Warning is a file that could not be used for the SBOM.
type Warning struct {
	// Path is the file's path in the image filesystem.
	Path string
	// Layer is the digest of the layer holding the file.
	Layer string
	// Extractor names the osv-scalibr extractor, empty if none ran.
	Extractor string
	// Err says what went wrong.
	Err error
}

// DefaultExtractors returns new instances of the extractors Generate uses by
// default: dpkg, apk, rpm, Go binaries, Java archives, npm package.json and
// Python wheel/egg metadata, each with osv-scalibr's default configuration.
func DefaultExtractors() ([]filesystem.Extractor, error) {
	cfg := &cpb.PluginConfig{}
	ctors := []func(*cpb.PluginConfig) (filesystem.Extractor, error){
		dpkg.New, apk.New, rpm.New, gobinary.New, archive.New, packagejson.New, wheelegg.New,
	}
	out := make([]filesystem.Extractor, 0, len(ctors))
	for _, c := range ctors {
		e, err := c(cfg)
		if err != nil {
			return nil, fmt.Errorf("sbom/scalibr: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// Generate returns the SBOM of the platform image manifest described by
// manifest, read from fetcher (see the package documentation for how files
// are read and what is kept in memory).
//
// Packages are sorted ([sbom.Document.Sort]) and a package found at the same
// place twice is listed once. A malformed package database or an
// unreadable file is skipped with a Warning, never a failure; a file that
// could not be examined is listed in Document.Skipped. An error is
// returned only when the image itself cannot be read (imagefs.Walk errors:
// missing or corrupt blobs, caps exceeded), when the deferred files exceed
// MaxBufferedBytes, when a temporary file cannot be written (see
// Options.TempDir), or when ctx ends.
//
// To generate the SBOM from a walk shared with other consumers (a malware
// scanner: one decompression and one digest check per layer), use [Start]
// and imagefs.WalkAll instead.
func Generate(ctx context.Context, fetcher content.Fetcher, manifest ocispec.Descriptor, opts Options) (*sbom.Document, error) {
	s, err := Start(manifest, opts)
	if err != nil {
		return nil, err
	}
	wopts := opts.Walk
	if wopts.Logger == nil {
		wopts.Logger = opts.Logger
	}
	walkErr := imagefs.Walk(ctx, fetcher, manifest, wopts, func(ctx context.Context, f *imagefs.File, r io.Reader) error {
		if f.Mode.IsRegular() && !s.Wants(f) {
			r = eofReader{}
		}
		return s.Visit(ctx, f, r)
	})
	return s.Finish(ctx, walkErr)
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// Session generates the SBOM of one image from the files it is given: an
// imagefs.Visitor for a walk shared with other consumers
// (imagefs.WalkAll). Create it with [Start], feed it every file of one walk
// of the manifest, then call Finish once (also after a failed walk, to
// release its worker and temporary files). Visit must be called from one
// goroutine.
type Session struct {
	g        *generator
	name     string
	finished bool
	want     wanted
}

// wanted caches what Wants found about the last file, for Visit.
type wanted struct {
	path                     string
	inline, deferred, onDisk []filesystem.Extractor
}

// Start begins the SBOM of the platform image manifest manifest (its digest
// names the document when Options.Name is empty); Options.Walk is not used
// (the caller walks).
func Start(manifest ocispec.Descriptor, opts Options) (*Session, error) {
	g, err := newGenerator(opts)
	if err != nil {
		return nil, err
	}
	name := opts.Name
	if name == "" {
		name = manifest.Digest.String()
	}
	return &Session{g: g, name: name}, nil
}

// Wants reports whether the generator reads the content of f: a file some
// extractor needs, os-release, or a Debian copyright file.
func (s *Session) Wants(f *imagefs.File) bool {
	if !f.Mode.IsRegular() {
		return false
	}
	w := s.g.required(f)
	s.want = w
	return len(w.inline)+len(w.deferred)+len(w.onDisk) > 0 || osReleasePaths[f.Path] || isCopyright(f.Path)
}

// Visit takes one file of the walk.
func (s *Session) Visit(ctx context.Context, f *imagefs.File, r io.Reader) error {
	if s.finished {
		return errors.New("sbom/scalibr: Visit after Finish")
	}
	w := s.want
	if !f.Mode.IsRegular() || w.path != f.Path {
		w = s.g.required(f)
	}
	s.want = wanted{}
	return s.g.visit(ctx, f, r, w)
}

// Finish ends the session: it waits for the extraction worker, runs the
// deferred extractors (package databases) and returns the document, or
// walkErr (wrapped) when the walk failed, in which case nothing is
// returned. The temporary directory is removed either way. Finish may be
// called once.
func (s *Session) Finish(ctx context.Context, walkErr error) (*sbom.Document, error) {
	if s.finished {
		return nil, errors.New("sbom/scalibr: Finish called twice")
	}
	s.finished = true
	defer s.g.removeTemp()
	defer s.g.stop()
	if walkErr != nil {
		return nil, fmt.Errorf("sbom/scalibr: walk %s: %w", s.name, walkErr)
	}
	return s.g.finish(ctx, s.name)
}

var _ imagefs.Visitor = (*Session)(nil)

// generator holds the state of one Generate call.
type generator struct {
	opts     Options
	log      *slog.Logger
	inline   []filesystem.Extractor
	deferred []filesystem.Extractor
	maxFile  int64
	maxBuf   int64
	buffered int64
	mem      *memFS
	emptyFS  *memFS // what inline extractors see: they run concurrently with the walk
	pending  []pendingFile
	found    []found
	foundMu  sync.Mutex // the worker and a walk that hands random-access readers both extract
	br       *bufio.Reader
	// dpkgLayers maps a dpkg package name to the layer holding its
	// var/lib/dpkg/info/NAME[:ARCH].list file: the layer that installed (or
	// last upgraded) it.
	dpkgLayers map[string]string
	// copyrights maps the path of a Debian copyright file
	// (usr/share/doc/NAME/copyright) to its licences; written by the walk
	// (machine-readable files) and the worker (classified free text),
	// under mu.
	copyrights map[string][]string
	mu         sync.Mutex
	// freeText holds the distinct free-text copyright files (by SHA-256
	// of their content) whose licences the classifier has not yet
	// found; they are classified by finish, after the walk, in the order
	// of freeOrder. Written by the walk, under mu.
	freeText  map[[32]byte]*freeTextFile
	freeOrder [][32]byte
	// skipped lists the files not examined (Document.Skipped), under
	// warnMu.
	skipped []sbom.SkippedFile
	// spillSize and spillSlots bound the files copied to disk for the
	// worker (at most cap(spillSlots) at a time).
	spillSize  int64
	spillSlots chan struct{}

	// The extraction pipeline: visit (the walking goroutine) reads a file's
	// content and queues it; one worker goroutine runs the inline
	// extractors, so that reading, decompressing and verifying layers
	// overlaps with extraction. inFlight bounds the bytes queued or being
	// extracted; free recycles buffers.
	jobs     chan job
	done     chan struct{}
	inFlight *semaphore.Weighted
	limit    int64
	free     chan []byte
	freeBig  chan []byte
	exe      []byte
	warnMu   sync.Mutex

	// tmpDir holds the on-disk copies of the files whose extractors need a
	// real file (rpm databases); created on first use, removed by
	// removeTemp. spooled counts the copies.
	tmpDir  string
	tmpMu   sync.Mutex
	spooled int
}

// job is one file for the worker: content for the inline extractors.
type job struct {
	exs     []filesystem.Extractor
	file    imagefs.File
	layer   string
	content fileContent
	weight  int64 // bytes held against inFlight; 0 if not counted
	pooled  bool  // content.data came from (and goes back to) free
}

// fileContent is a file's content: in memory, in a spilled temporary file,
// or behind a caller's random-access reader.
type fileContent struct {
	data []byte
	file *os.File    // when not nil, the content is file[0:size]
	ra   io.ReaderAt // when not nil (and file is nil), the content is ra[0:size]
	size int64
}

// sizedReaderAt is a random-access reader that knows its size
// (*io.SectionReader, *bytes.Reader).
type sizedReaderAt interface {
	io.Reader
	io.ReaderAt
	Size() int64
}

// reader returns a fresh reader of the content; it implements io.ReaderAt
// (extractors such as Go binaries and jars read at offsets).
func (c fileContent) reader() io.Reader {
	switch {
	case c.file != nil:
		return io.NewSectionReader(c.file, 0, c.size)
	case c.ra != nil:
		return io.NewSectionReader(c.ra, 0, c.size)
	}
	return bytes.NewReader(c.data)
}

// head returns at most n bytes of the start of the content.
func (c fileContent) head(n int64) []byte {
	var ra io.ReaderAt = c.file
	switch {
	case c.file != nil:
	case c.ra != nil:
		ra = c.ra
	default:
		return c.data[:min(int64(len(c.data)), n)]
	}
	b := make([]byte, min(c.size, n))
	m, _ := ra.ReadAt(b, 0)
	return b[:m]
}

// maxInFlight is the budget of bytes held in memory for the worker (files
// are at most SpillSize each; larger ones are spilled to disk).
const maxInFlight = 32 << 20

// maxSpilled is how many spilled files may wait for or be in extraction.
const maxSpilled = 2

// start launches the worker (once).
func (g *generator) start(ctx context.Context) {
	if g.jobs != nil {
		return
	}
	g.jobs = make(chan job, 16)
	g.done = make(chan struct{})
	go func() {
		defer close(g.done)
		for j := range g.jobs {
			g.extract(ctx, g.emptyFS, j.exs, &j.file, j.layer, j.content)
			g.release(j)
		}
	}()
}

// release frees what a job held: its buffer, its share of inFlight, its
// spilled file and slot.
func (g *generator) release(j job) {
	if j.pooled {
		g.recycle(j.content.data)
	}
	if j.weight > 0 {
		g.inFlight.Release(j.weight)
	}
	if f := j.content.file; f != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		<-g.spillSlots
	}
}

// queue hands a job to the worker, or releases it if ctx ends first.
func (g *generator) queue(ctx context.Context, j job) error {
	g.start(ctx)
	select {
	case g.jobs <- j:
		return nil
	case <-ctx.Done():
		g.release(j)
		return ctx.Err()
	}
}

// stop waits for the worker to finish the queued files (idempotent).
func (g *generator) stop() {
	if g.jobs == nil {
		return
	}
	close(g.jobs)
	<-g.done
	g.jobs = nil
}

// buffer returns a buffer of length n, recycled when a free one is big
// enough. Small buffers (<= 1 MiB) and large ones (<= 64 MiB, at most two
// kept) are recycled separately; bigger ones are left to the GC.
func (g *generator) buffer(n int64) ([]byte, bool) {
	list, pooled := g.free, true
	switch {
	case n > maxPooled:
		return make([]byte, n), false
	case n > smallPooled:
		list = g.freeBig
	}
	select {
	case b := <-list:
		if int64(cap(b)) >= n {
			return b[:n], pooled
		}
	default:
	}
	if list == g.free {
		return make([]byte, n, max(n, 64<<10)), pooled
	}
	return make([]byte, n), pooled
}

// recycle returns a buffer obtained from buffer.
func (g *generator) recycle(b []byte) {
	list := g.free
	if cap(b) > smallPooled {
		list = g.freeBig
	}
	select {
	case list <- b[:0]:
	default:
	}
}

const (
	smallPooled = 1 << 20
	maxPooled   = 64 << 20
)

// pendingFile is a file kept for a deferred extractor: in memory (g.mem),
// or, when root is not empty, on disk at root/path.
type pendingFile struct {
	path       string
	layer      string
	root       string
	size       int64
	mode       fs.FileMode
	extractors []filesystem.Extractor
}

// found is one package with where it came from.
type found struct {
	pkg   *extractor.Package
	path  string
	layer string
	os    osInfo
}

func newGenerator(opts Options) (*generator, error) {
	exs := opts.Extractors
	if exs == nil {
		var err error
		if exs, err = DefaultExtractors(); err != nil {
			return nil, err
		}
	}
	g := &generator{
		opts:    opts,
		log:     opts.Logger,
		maxFile: opts.MaxFileSize,
		maxBuf:  opts.MaxBufferedBytes,
		mem:     newMemFS(),
		emptyFS: newMemFS(),
		br:      bufio.NewReaderSize(nil, 64<<10),

		dpkgLayers: map[string]string{},
		copyrights: map[string][]string{},
		free:       make(chan []byte, 32),
		freeBig:    make(chan []byte, 2),
		spillSize:  opts.SpillSize,
		spillSlots: make(chan struct{}, maxSpilled),
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.maxFile <= 0 {
		g.maxFile = DefaultMaxFileSize
	}
	if g.maxBuf <= 0 {
		g.maxBuf = DefaultMaxBufferedBytes
	}
	if g.spillSize <= 0 {
		g.spillSize = DefaultSpillSize
	}
	g.limit = max(maxInFlight, g.spillSize)
	g.inFlight = semaphore.NewWeighted(g.limit)
	for _, e := range exs {
		if strings.HasPrefix(e.Name(), "os/") {
			g.deferred = append(g.deferred, e)
		} else {
			g.inline = append(g.inline, e)
		}
	}
	return g, nil
}

// fileAPI adapts a imagefs.File to scalibr's FileAPI.
type fileAPI struct {
	f *imagefs.File
}

func (a fileAPI) Path() string { return a.f.Path }
func (a fileAPI) Stat() (fs.FileInfo, error) {
	return fileInfo{name: path.Base(a.f.Path), size: a.f.Size, mode: a.f.Mode}, nil
}

// osReleasePaths are kept for the deferred extractors.
var osReleasePaths = map[string]bool{"etc/os-release": true, "usr/lib/os-release": true}

// required returns the extractors that need the regular file f.
func (g *generator) required(f *imagefs.File) wanted {
	w := wanted{path: f.Path}
	api := fileAPI{f}
	for _, e := range g.inline {
		if e.FileRequired(api) {
			w.inline = append(w.inline, e)
		}
	}
	for _, e := range g.deferred {
		if e.FileRequired(api) {
			if needsRealFile(e) {
				w.onDisk = append(w.onDisk, e)
			} else {
				w.deferred = append(w.deferred, e)
			}
		}
	}
	return w
}

// isCopyright reports whether p is a Debian copyright file.
func isCopyright(p string) bool {
	_, ok := copyrightPackage(p)
	return ok
}

func (g *generator) visit(ctx context.Context, f *imagefs.File, r io.Reader, w wanted) error {
	switch {
	case f.Mode&fs.ModeSymlink != 0:
		g.mem.addLink(f.Path, f.Linkname)
		return nil
	case f.Mode.IsDir():
		if f.Path == "etc" || f.Path == "usr/lib" {
			g.mem.addDir(f.Path)
		}
		return nil
	case !f.Mode.IsRegular():
		return nil
	}
	if name, ok := dpkgInfoPackage(f.Path); ok {
		g.dpkgLayers[name] = f.LayerDigest.String()
	}
	inline, deferred, onDisk := w.inline, w.deferred, w.onDisk
	if len(onDisk) > 0 {
		spooled, err := g.spool(f, r, onDisk)
		if err != nil || spooled == nil {
			return err
		}
		defer spooled.Close()
		r = spooled
	}
	keep := len(deferred) > 0 || osReleasePaths[f.Path]
	if _, ok := copyrightPackage(f.Path); ok {
		data, err := g.copyright(ctx, f, r)
		if err != nil {
			return err
		}
		r = bytes.NewReader(data)
	}
	if len(inline) == 0 && !keep {
		return nil
	}
	layer := f.LayerDigest.String()
	if f.Size > g.maxFile {
		g.skip(f.Path, layer, "", fmt.Errorf("file of %d bytes exceeds the %d-byte limit", f.Size, g.maxFile))
		return nil
	}
	if keep {
		return g.visitKept(ctx, f, r, layer, inline, deferred)
	}
	return g.visitInline(ctx, f, r, layer, inline)
}

// visitKept buffers the file f (content r) in the in-memory filesystem for the
// deferred extractors, which run once the walk is over, and queues it for
// the inline ones.
func (g *generator) visitKept(ctx context.Context, f *imagefs.File, r io.Reader, layer string, inline, deferred []filesystem.Extractor) error {
	if g.buffered+f.Size > g.maxBuf {
		return fmt.Errorf("%w: %s would bring %d bytes over the %d-byte limit", ErrTooLarge, f.Path, g.buffered+f.Size, g.maxBuf)
	}
	data, err := readCapped(r, f.Size)
	if err != nil {
		return err
	}
	if f.Hardlink && len(data) == 0 && f.Size > 0 {
		return nil
	}
	g.buffered += int64(len(data))
	g.mem.addFile(f.Path, data, f.Mode)
	if len(deferred) > 0 {
		g.pending = append(g.pending, pendingFile{path: f.Path, layer: layer, extractors: deferred})
	}
	if len(inline) > 0 {
		return g.queue(ctx, job{exs: inline, file: *f, layer: layer, content: fileContent{data: data, size: int64(len(data))}})
	}
	return nil
}

// visitInline hands the file f (content r) to the inline extractors only: at
// once from a random-access reader, else read into a pooled buffer or
// spilled to a temporary file, and queued for a worker.
func (g *generator) visitInline(ctx context.Context, f *imagefs.File, r io.Reader, layer string, inline []filesystem.Extractor) error {
	// Inline only. A reader with random access over the whole content
	// (imagefs.WalkAll hands one for a file another visitor reads too) is
	// extracted at once, without a copy: Go build info and jar directories
	// are a few small reads.
	goOnly := onlyGoBinary(inline)
	if ra, ok := r.(sizedReaderAt); ok {
		if goOnly {
			var head [4]byte
			if n, _ := ra.ReadAt(head[:], 0); !executableMagic(head[:n]) {
				return nil
			}
		}
		g.extract(ctx, g.emptyFS, inline, f, layer, fileContent{ra: ra, size: ra.Size()})
		return nil
	}
	// Go binaries are most of the executables offered; look at the magic
	// number before reading a file that cannot be one.
	g.br.Reset(r)
	defer g.br.Reset(nil)
	if goOnly {
		head, _ := g.br.Peek(4)
		if !executableMagic(head) {
			return nil
		}
	}
	if f.Size > g.spillSize {
		c, err := g.spill(ctx, f, g.br)
		if err != nil || c.file == nil {
			return err
		}
		return g.queue(ctx, job{exs: inline, file: *f, layer: layer, content: c})
	}
	// An executable small enough for memory is read into one reused buffer
	// and checked here (the Go build info check is quick); other files go
	// to the worker in a pooled buffer counted against inFlight.
	j := job{exs: inline, file: *f, layer: layer}
	var data []byte
	if goOnly {
		if int64(cap(g.exe)) < f.Size {
			g.exe = make([]byte, f.Size)
		}
		data = g.exe[:f.Size]
	} else {
		j.weight = f.Size
		if err := g.inFlight.Acquire(ctx, j.weight); err != nil {
			return err
		}
		data, j.pooled = g.buffer(f.Size)
	}
	n, err := io.ReadFull(g.br, data)
	j.content = fileContent{data: data[:n], size: int64(n)}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		g.release(j)
		return err
	}
	if f.Hardlink && n == 0 && f.Size > 0 {
		g.release(j)
		return nil
	}
	if goOnly {
		g.extract(ctx, g.emptyFS, inline, f, layer, j.content)
		return nil
	}
	return g.queue(ctx, j)
}

// spill copies a file's content to a new private temporary file for the
// worker, waiting for a free slot (at most maxSpilled exist). It returns a
// zero content (no file) for a hard link without content.
func (g *generator) spill(ctx context.Context, f *imagefs.File, r io.Reader) (fileContent, error) {
	select {
	case g.spillSlots <- struct{}{}:
	case <-ctx.Done():
		return fileContent{}, ctx.Err()
	}
	dir, err := g.tempDir(f.Path)
	if err != nil {
		<-g.spillSlots
		return fileContent{}, err
	}
	out, err := os.CreateTemp(dir, "spill-*")
	if err != nil {
		<-g.spillSlots
		return fileContent{}, fmt.Errorf("sbom/scalibr: spill %s: %w", f.Path, err)
	}
	c := fileContent{file: out}
	n, err := io.Copy(out, io.LimitReader(r, f.Size))
	if err == nil && n == 0 && f.Hardlink && f.Size > 0 {
		err = errNoContent
	}
	if err != nil {
		g.release(job{content: c})
		if errors.Is(err, errNoContent) {
			return fileContent{}, nil
		}
		return fileContent{}, fmt.Errorf("sbom/scalibr: spill %s: %w", f.Path, err)
	}
	c.size = n
	return c, nil
}

// errNoContent marks a hard link whose content comes with its target.
var errNoContent = errors.New("no content")

// copyright reads a Debian copyright file (at most maxCopyrightSize bytes;
// a larger one is not read, with a Warning) and records its licences: a
// machine-readable file is parsed at once, a free-text one is queued for
// the classifier. It returns the content read, for the extractors.
func (g *generator) copyright(ctx context.Context, f *imagefs.File, r io.Reader) ([]byte, error) {
	layer := f.LayerDigest.String()
	if f.Size > maxCopyrightSize {
		g.warn(Warning{Path: f.Path, Layer: layer, Err: fmt.Errorf("copyright file of %d bytes exceeds the %d-byte limit: its licences are not read", f.Size, maxCopyrightSize)})
		return nil, nil
	}
	data, err := readCapped(r, f.Size)
	if err != nil || len(data) == 0 {
		return data, err
	}
	if isDEP5(data) {
		lics, dropped := debianLicenses(data)
		if dropped > 0 {
			g.warn(Warning{Path: f.Path, Layer: layer, Err: fmt.Errorf("%d more licences past the first %d not recorded", dropped, maxLicenses)})
		}
		g.mu.Lock()
		g.copyrights[f.Path] = lics
		g.mu.Unlock()
		return data, nil
	}
	if g.opts.NoLicenseClassifier {
		return data, nil
	}
	return data, g.deferClassify(f.Path, layer, data)
}

// copyrightLicenses returns the licences of a dpkg package's copyright
// file, usr/share/doc/NAME/copyright, following symbolic links (Debian
// links the doc directory of a package to the one of the package it was
// built with: libncursesw6 -> libtinfo6).
func (g *generator) copyrightLicenses(name string) []string {
	p := "usr/share/doc/" + name + "/copyright"
	g.mu.Lock()
	defer g.mu.Unlock()
	if l, ok := g.copyrights[p]; ok {
		return l
	}
	if resolved, err := g.mem.resolve(p); err == nil && resolved != p {
		return g.copyrights[resolved]
	}
	return nil
}

func readCapped(r io.Reader, size int64) ([]byte, error) {
	data := make([]byte, size)
	n, err := io.ReadFull(r, data)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return data[:n], nil // a hard link's empty reader, or a short file
	case err != nil:
		return nil, err
	}
	var one [1]byte
	if m, _ := r.Read(one[:]); m > 0 {
		return nil, fmt.Errorf("sbom/scalibr: more content than the declared %d bytes", size)
	}
	return data, nil
}

func onlyGoBinary(exs []filesystem.Extractor) bool {
	for _, e := range exs {
		if e.Name() != gobinary.Name {
			return false
		}
	}
	return true
}

// executableMagic reports whether head starts like an ELF, Mach-O, PE or
// XCOFF file: the formats Go's debug/buildinfo reads.
func executableMagic(head []byte) bool {
	if len(head) < 4 {
		return false
	}
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")),
		bytes.HasPrefix(head, []byte("MZ")),
		bytes.HasPrefix(head, []byte{0xfe, 0xed, 0xfa}),       // Mach-O big-endian
		bytes.HasPrefix(head[1:], []byte{0xfa, 0xed, 0xfe}),   // Mach-O little-endian
		bytes.HasPrefix(head, []byte{0xca, 0xfe, 0xba, 0xbe}), // Mach-O fat
		bytes.HasPrefix(head, []byte{0x01, 0xdf}),             // XCOFF32
		bytes.HasPrefix(head, []byte{0x01, 0xf7}):             // XCOFF64
		return true
	}
	return false
}

// extract runs exs on one file's content, recording packages and warnings.
// Extractor panics are recovered: osv-scalibr's parsers see hostile input.
func (g *generator) extract(ctx context.Context, fsys *memFS, exs []filesystem.Extractor, f *imagefs.File, layer string, c fileContent) {
	info := fileInfo{name: path.Base(f.Path), size: c.size, mode: f.Mode}
	for _, e := range exs {
		input := &filesystem.ScanInput{
			FS:     fsys,
			Path:   f.Path,
			Info:   info,
			Reader: c.reader(),
		}
		inv, err := safeExtract(ctx, e, input)
		var crashed *panicError
		switch {
		case errors.As(err, &crashed):
			// The extractor gave up half-way: what the file holds is unknown.
			g.skip(f.Path, layer, e.Name(), err)
		case err != nil:
			g.warn(Warning{Path: f.Path, Layer: layer, Extractor: e.Name(), Err: err})
		}
		var lics []string
		switch e.Name() {
		case packagejson.Name:
			lics = npmLicenses(c.head(maxManifestSize))
		case wheelegg.Name:
			if base := path.Base(f.Path); base == "METADATA" || base == "PKG-INFO" {
				lics = pythonLicenses(c.head(maxManifestSize))
			}
		}
		for _, p := range inv {
			if len(p.Licenses) == 0 && len(lics) > 0 {
				p.Licenses = slices.Clone(lics)
			}
			g.foundMu.Lock()
			g.found = append(g.found, found{pkg: p, path: f.Path, layer: layer})
			g.foundMu.Unlock()
		}
	}
}

// maxManifestSize caps what is read of a package.json or METADATA file
// for its licences.
const maxManifestSize = 1 << 20

// panicError is the error of an extractor that panicked.
type panicError struct {
	extractor string
	value     any
}

func (e *panicError) Error() string {
	return fmt.Sprintf("extractor %s panicked: %v", e.extractor, e.value)
}

func safeExtract(ctx context.Context, e filesystem.Extractor, input *filesystem.ScanInput) (pkgs []*extractor.Package, err error) {
	defer func() {
		if r := recover(); r != nil {
			pkgs, err = nil, &panicError{extractor: e.Name(), value: r}
		}
	}()
	inv, err := e.Extract(ctx, input)
	return inv.Packages, err
}

// skip records a file that was not examined (Document.Skipped) and warns.
func (g *generator) skip(path, layer, extractor string, err error) {
	g.warnMu.Lock()
	if len(g.skipped) < maxSkipped {
		g.skipped = append(g.skipped, sbom.SkippedFile{Path: path, Layer: layer, Reason: err.Error()})
	}
	g.warnMu.Unlock()
	g.warn(Warning{Path: path, Layer: layer, Extractor: extractor, Err: err})
}

// maxSkipped caps Document.Skipped; past it the document is incomplete
// anyway, and the warnings still name every file.
const maxSkipped = 1 << 12

func (g *generator) warn(w Warning) {
	g.warnMu.Lock()
	defer g.warnMu.Unlock()
	g.log.Warn("sbom: file skipped", "path", w.Path, "layer", w.Layer, "extractor", w.Extractor, "err", w.Err)
	if g.opts.OnWarning != nil {
		g.opts.OnWarning(w)
	}
}

// finish runs the deferred extractors and builds the document.
func (g *generator) finish(ctx context.Context, name string) (*sbom.Document, error) {
	g.stop()
	if err := g.classifyFreeText(ctx); err != nil {
		return nil, err
	}
	osr := g.osRelease()
	for _, p := range g.pending {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if p.root != "" {
			start := len(g.found)
			g.extractOnDisk(ctx, p)
			for i := start; i < len(g.found); i++ {
				g.found[i].os = osr
			}
			continue
		}
		mf := g.mem.files[p.path]
		f := &imagefs.File{Path: p.path, Mode: mf.mode, Size: int64(len(mf.data)), LayerDigest: opencontainers.Digest(p.layer)}
		start := len(g.found)
		g.extract(ctx, g.mem, p.extractors, f, p.layer, fileContent{data: mf.data, size: int64(len(mf.data))})
		for i := start; i < len(g.found); i++ {
			g.found[i].os = osr
		}
	}
	creators := g.opts.Creators
	if creators == nil {
		creators = []string{Creator}
	}
	doc := &sbom.Document{Name: name, Created: g.opts.Created, Creators: slices.Clone(creators), Skipped: g.skipped}
	seen := map[string]int{}
	for _, fnd := range g.found {
		p := convert(fnd)
		if m, ok := fnd.pkg.Metadata.(*dpkgmeta.Metadata); ok {
			if l := g.dpkgLayers[m.PackageName]; l != "" && fnd.path == "var/lib/dpkg/status" {
				p.Layer = l
			}
			if len(p.Licenses) == 0 {
				p.Licenses = slices.Clone(g.copyrightLicenses(m.PackageName))
			}
		}
		key := strings.Join([]string{p.Name, p.Version, p.PURL, p.Layer, strings.Join(p.Locations, "\x00")}, "\x01")
		if _, dup := seen[key]; dup {
			continue
		}
		seen[key] = len(doc.Packages)
		doc.Packages = append(doc.Packages, p)
	}
	doc.Sort()
	return doc, nil
}

// dpkgInfoPackage returns the package name of a dpkg file list,
// var/lib/dpkg/info/NAME.list or NAME:ARCH.list.
func dpkgInfoPackage(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "var/lib/dpkg/info/")
	if !ok || strings.Contains(rest, "/") {
		return "", false
	}
	rest, ok = strings.CutSuffix(rest, ".list")
	if !ok || rest == "" {
		return "", false
	}
	name, _, _ := strings.Cut(rest, ":")
	return name, name != ""
}

// osInfo is what os-release says about the distribution.
type osInfo struct {
	id, versionID, codename string
}

func (g *generator) osRelease() osInfo {
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		f, err := g.mem.Open(p)
		if err != nil {
			continue
		}
		data, _ := io.ReadAll(io.LimitReader(f, 64<<10))
		_ = f.Close()
		return parseOSRelease(data)
	}
	return osInfo{}
}

// parseOSRelease reads the ID, VERSION_ID and VERSION_CODENAME of an
// os-release(5) file.
func parseOSRelease(data []byte) osInfo {
	var o osInfo
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch k {
		case "ID":
			o.id = strings.ToLower(v)
		case "VERSION_ID":
			o.versionID = v
		case "VERSION_CODENAME":
			o.codename = strings.ToLower(v)
		}
	}
	return o
}

// convert turns an osv-scalibr package into a cssc one.
func convert(fnd found) sbom.Package {
	p := fnd.pkg
	out := sbom.Package{
		Name:      p.Name,
		Version:   p.Version,
		Layer:     fnd.layer,
		Locations: []string{fnd.path},
	}
	if loc := p.Location.PathOrEmpty(); loc != "" && loc != fnd.path {
		out.Locations = append(out.Locations, loc)
	}
	for _, l := range p.Licenses {
		if l = strings.TrimSpace(l); l != "" && l != "unknown" {
			out.Licenses = append(out.Licenses, l)
		}
	}
	if u := p.PURL(); u != nil {
		out.PURL = sbom.NormalizePURL(u.String())
	}
	switch m := p.Metadata.(type) {
	case *dpkgmeta.Metadata:
		out.SourceName = m.SourceName
		out.SourceVersion = m.SourceVersion
		switch id := strings.ToLower(cmpOr(m.OSID, fnd.os.id)); id {
		case "ubuntu":
			out.Ecosystem = sbom.UbuntuEcosystem(cmpOr(m.OSVersionID, fnd.os.versionID, m.OSVersionCodename, fnd.os.codename))
		case "debian", "":
			out.Ecosystem = sbom.DebianEcosystem(cmpOr(m.OSVersionID, fnd.os.versionID, m.OSVersionCodename, fnd.os.codename))
		}
	case *rpmmeta.Metadata:
		out.SourceName, out.SourceVersion = splitSourceRPM(m.SourceRPM)
		out.Ecosystem = rpmEcosystem(out.PURL, p)
	case *apkmeta.Metadata:
		out.SourceName = m.OriginName
		out.Ecosystem = sbom.AlpineEcosystem(cmpOr(m.OSVersionID, fnd.os.versionID))
	}
	if out.SourceName == out.Name {
		out.SourceName = ""
	}
	if out.SourceVersion == out.Version {
		out.SourceVersion = ""
	}
	if out.Ecosystem == "" {
		out.Ecosystem = sbom.Ecosystem(out.PURL)
	}
	if out.Ecosystem == "" {
		out.Ecosystem = p.Ecosystem().String()
	}
	// The Go toolchain ("go" here) becomes "stdlib", as OSV names it, in
	// the one place every SBOM goes through.
	return sbom.NormalizePackage(out)
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
