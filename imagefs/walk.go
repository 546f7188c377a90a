package imagefs

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
)

// Default caps of WalkOptions (used when a field is <= 0).
const (
	// DefaultMaxTotalBytes caps the uncompressed bytes read from all layers
	// together (tar headers included): 16 GiB.
	DefaultMaxTotalBytes int64 = 16 << 30
	// DefaultMaxFileSize caps the size of one file in a layer: 4 GiB.
	DefaultMaxFileSize int64 = 4 << 30
	// DefaultMaxFiles caps the number of tar entries in all layers
	// together, hidden ones included: 2,000,000.
	DefaultMaxFiles = 2_000_000
	// DefaultMaxLayers caps the number of layers of the manifest: 512.
	DefaultMaxLayers = 512
	// DefaultMaxPathLength caps the length in bytes of a path or link
	// target: 4096 (PATH_MAX).
	DefaultMaxPathLength = 4096
	// DefaultMaxManifestBytes caps the size of the image manifest: 4 MiB.
	DefaultMaxManifestBytes int64 = 4 << 20
	// MaxHeaderSize caps the PAX extended headers and GNU long names of one
	// tar entry: 1 MiB (archive/tar's own cap; not configurable).
	MaxHeaderSize = 1 << 20
)

// Errors of Walk, for errors.Is.
var (
	// ErrLimitExceeded: a layer exceeded one of the caps of WalkOptions
	// (total bytes, file size, file count, layer count, path length). The
	// error is a *LimitError. Walk never truncates silently.
	ErrLimitExceeded = errors.New("limit exceeded")
	// ErrInvalidLayer: a layer is not a valid tar stream in a supported
	// compression, or its media type is not a layer media type.
	ErrInvalidLayer = errors.New("invalid layer")
)

// Reasons of a Notice (errors.Is-able): things Walk found in hostile or
// unusual layers and handled without failing.
var (
	// ErrUnsafePath: a tar entry had an absolute path or a path with ".."
	// components leading out of the root. Walk maps it inside the root the
	// way container runtimes do when they extract the layer ("../../etc/x"
	// and "/etc/x" become "etc/x"), and visits it there.
	ErrUnsafePath = errors.New("unsafe path mapped into the root")
	// ErrSpecialFile: a device node, fifo or other special file, which Walk
	// does not visit.
	ErrSpecialFile = errors.New("special file skipped")
	// ErrMissingLinkTarget: a hard link whose target is not in the image,
	// which Walk does not visit.
	ErrMissingLinkTarget = errors.New("hard link target missing")
	// ErrDuplicateEntry: a layer holds the same non-directory path twice;
	// both are visited (the later one is what extraction leaves).
	ErrDuplicateEntry = errors.New("duplicate entry in layer")
)

// LimitError is the error Walk returns when a cap of WalkOptions is
// exceeded. It matches ErrLimitExceeded with errors.Is.
type LimitError struct {
	// Limit names the cap: "MaxTotalBytes", "MaxFileSize", "MaxFiles",
	// "MaxLayers", "MaxPathLength", "MaxManifestBytes" or "MaxHeaderSize".
	Limit string
	// Max is the value of the cap.
	Max int64
	// Layer is the digest of the layer being read, empty if none.
	Layer digest.Digest
	// Path is the tar entry being read, empty if none.
	Path string
}

// Error describes the cap, the layer and the entry.
func (e *LimitError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s %d", ErrLimitExceeded, e.Limit, e.Max)
	if e.Layer != "" {
		fmt.Fprintf(&b, " in layer %s", e.Layer)
	}
	if e.Path != "" {
		fmt.Fprintf(&b, " at %q", truncate(e.Path, 256))
	}
	return b.String()
}

// Is reports whether target is ErrLimitExceeded.
func (e *LimitError) Is(target error) bool { return target == ErrLimitExceeded }

// File is one file of the merged image filesystem, as passed to the
// function of Walk.
type File struct {
	// Path is clean, relative to the root and slash-separated ("etc/passwd");
	// never absolute, never "." and never with ".." components.
	Path string
	// Mode holds the permission bits and the type: a directory
	// (fs.ModeDir), a symbolic link (fs.ModeSymlink) or a regular file.
	// Hard links are regular files with Hardlink set.
	Mode fs.FileMode
	// Size is the size in bytes of a regular file's content, 0 otherwise.
	Size int64
	// Linkname is the target of a symbolic link as written in the layer
	// (never resolved, never followed by Walk), or the clean path of the
	// target of a hard link.
	Linkname string
	// Hardlink says the file is a hard link to Linkname; Size is the
	// target's. Content is passed once per target: when the target is
	// visited itself, the links get an empty reader; when the target is
	// hidden in the final filesystem (removed or replaced by a higher
	// layer), the first link gets the content and the others an empty
	// reader.
	Hardlink bool
	// Layer is the index of the layer holding the file in the manifest
	// (0 is the bottom layer).
	Layer int
	// LayerDigest is the digest of that layer.
	LayerDigest digest.Digest
}

// Notice is something unusual that Walk found in a layer and handled
// without failing: see ErrUnsafePath, ErrSpecialFile, ErrMissingLinkTarget
// and ErrDuplicateEntry.
type Notice struct {
	// Path is the path of the entry as written in the layer (raw, possibly
	// hostile, truncated to 4096 bytes).
	Path string
	// Layer is the index of the layer in the manifest.
	Layer int
	// LayerDigest is the digest of the layer.
	LayerDigest digest.Digest
	// Reason is one of the Err* reasons above (possibly wrapped).
	Reason error
}

// WalkOptions bounds and observes Walk. The zero value is ready to use:
// every cap falls back to its documented default.
type WalkOptions struct {
	// MaxTotalBytes caps the uncompressed bytes read from all layers
	// together, tar headers and hidden files included (decompression bombs),
	// and separately the bytes of file content passed to the WalkFunc
	// (sparse files expand holes that the layer does not hold).
	// <= 0 means DefaultMaxTotalBytes (16 GiB).
	MaxTotalBytes int64
	// MaxFileSize caps the size of any one entry of a layer, hidden ones
	// included. <= 0 means DefaultMaxFileSize (4 GiB).
	MaxFileSize int64
	// MaxFiles caps the number of tar entries of all layers together,
	// hidden ones and whiteouts included. <= 0 means DefaultMaxFiles
	// (2,000,000).
	MaxFiles int
	// MaxLayers caps the number of layers of the manifest. <= 0 means
	// DefaultMaxLayers (512).
	MaxLayers int
	// MaxPathLength caps the length of an entry's path and link target.
	// <= 0 means DefaultMaxPathLength (4096). PAX extended headers are
	// additionally capped at MaxHeaderSize (1 MiB).
	MaxPathLength int
	// MaxManifestBytes caps the size of the image manifest. <= 0 means
	// DefaultMaxManifestBytes (4 MiB).
	MaxManifestBytes int64
	// OnNotice, if not nil, is called (from the walking goroutine) for each
	// Notice. Nil means notices are only logged.
	OnNotice func(Notice)
	// Logger receives debug and warning messages. Nil means silent.
	Logger *slog.Logger
}

func (o WalkOptions) withDefaults() WalkOptions {
	if o.MaxTotalBytes <= 0 {
		o.MaxTotalBytes = DefaultMaxTotalBytes
	}
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = DefaultMaxFileSize
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.MaxLayers <= 0 {
		o.MaxLayers = DefaultMaxLayers
	}
	if o.MaxPathLength <= 0 {
		o.MaxPathLength = DefaultMaxPathLength
	}
	if o.MaxManifestBytes <= 0 {
		o.MaxManifestBytes = DefaultMaxManifestBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// WalkFunc is called by Walk for each file of the merged filesystem. r
// reads the content of a regular file (Size bytes) and is empty for
// anything else; it is valid only until the function returns, and what is
// not read is skipped. Returning fs.SkipAll stops the walk without error;
// any other error stops it and is returned by Walk.
type WalkFunc func(ctx context.Context, f *File, r io.Reader) error

// Walk visits each file of the final, merged filesystem of the platform
// image manifest desc exactly once (see below for the one exception),
// streaming its layers from fetcher without extracting anything to disk.
//
// Layers may be uncompressed, gzip or zstd tar streams (OCI and Docker
// media types). They are read once each, top-down: a path already seen in
// a higher layer, removed by a whiteout (".wh.name") or under an opaque
// directory (".wh..wh..opq") of a higher layer, or under a non-directory of
// a higher layer, is not visited. Directories, regular files, symbolic
// links and hard links are visited; whiteout entries are not; device
// nodes, fifos and sockets are skipped with a Notice. Files are visited in
// layer order from the top layer down, and in tar order within a layer.
// A path that a layer holds twice is visited twice (ErrDuplicateEntry).
//
// Hostile layers: absolute paths and ".." components are mapped into the
// root like runtimes do (ErrUnsafePath); symbolic links are never followed;
// hard links to missing files are skipped (ErrMissingLinkTarget); paths,
// entry sizes, entry counts, layer counts and total uncompressed bytes are
// capped (see WalkOptions; exceeding a cap fails with a *LimitError that
// matches ErrLimitExceeded). Each layer's size and digest are verified
// while it is read: a blob that is truncated or does not match fails with
// registry.ErrDigestMismatch or registry.ErrSizeExceeded. The check
// completes at the end of each layer, so a caller must discard what it
// learnt from a walk that returned an error.
//
// desc must describe an OCI or Docker image manifest (an index is
// ErrUnsupported: pick the platform first); a descriptor without media type
// is accepted and the manifest's own is used. fn is called sequentially
// from the calling goroutine. Walk honours ctx between entries and while
// reading.
func Walk(ctx context.Context, fetcher content.Fetcher, desc ocispec.Descriptor, opts WalkOptions, fn WalkFunc) error {
	opts = opts.withDefaults()
	if fetcher == nil {
		return errors.New("walk: nil fetcher")
	}
	if desc.Size > opts.MaxManifestBytes {
		return &LimitError{Limit: "MaxManifestBytes", Max: opts.MaxManifestBytes}
	}
	if desc.MediaType != "" && !manifest.IsManifest(desc.MediaType) {
		return fmt.Errorf("walk %s: %w: want an image manifest, got %q", desc.Digest, registry.ErrUnsupported, desc.MediaType)
	}
	raw, err := manifest.Fetch(ctx, fetcher, desc, opts.MaxManifestBytes)
	if err != nil {
		return fmt.Errorf("walk: %w", err)
	}
	mediaType := desc.MediaType
	if mediaType == "" {
		// A descriptor without media type: take the manifest's own.
		var probe struct {
			MediaType string          `json:"mediaType"`
			Config    json.RawMessage `json:"config"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return fmt.Errorf("walk %s: %w: %w", desc.Digest, registry.ErrInvalidManifest, err)
		}
		mediaType = probe.MediaType
		if mediaType == "" && probe.Config != nil {
			mediaType = ocispec.MediaTypeImageManifest
		}
		if !manifest.IsManifest(mediaType) {
			return fmt.Errorf("walk %s: %w: want an image manifest, got %q", desc.Digest, registry.ErrUnsupported, mediaType)
		}
	}
	m, err := manifest.Parse(mediaType, raw)
	if err != nil {
		return fmt.Errorf("walk %s: %w", desc.Digest, err)
	}
	if len(m.Layers) > opts.MaxLayers {
		return &LimitError{Limit: "MaxLayers", Max: int64(opts.MaxLayers)}
	}
	w := &walker{
		opts:    opts,
		fetcher: fetcher,
		fn:      fn,
		layers:  m.Layers,
		seen:    make(map[string]seenEntry),
		removed: make(map[string]int),
		opaque:  make(map[string]int),
		pending: make(map[string][]pendingLink),
	}
	err = w.walk(ctx)
	if errors.Is(err, fs.SkipAll) {
		return nil
	}
	return err
}

// layerMediaTypes lists the layer media types Walk reads.
var layerMediaTypes = map[string]bool{
	ocispec.MediaTypeImageLayer:                                 true,
	ocispec.MediaTypeImageLayerGzip:                             true,
	ocispec.MediaTypeImageLayerZstd:                             true,
	ocispec.MediaTypeImageLayerNonDistributable:                 true, //nolint:staticcheck // still found in the wild
	ocispec.MediaTypeImageLayerNonDistributableGzip:             true, //nolint:staticcheck
	ocispec.MediaTypeImageLayerNonDistributableZstd:             true, //nolint:staticcheck
	"application/vnd.docker.image.rootfs.diff.tar":              true,
	"application/vnd.docker.image.rootfs.diff.tar.gzip":         true,
	"application/vnd.docker.image.rootfs.diff.tar.zstd":         true,
	"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": true,
}

type seenEntry struct {
	layer int
	dir   bool
}

type pendingLink struct {
	file  File
	layer int
}

type walker struct {
	opts    WalkOptions
	fetcher content.Fetcher
	fn      WalkFunc
	layers  []ocispec.Descriptor

	total   int64 // uncompressed bytes read so far
	logical int64 // file bytes passed to fn so far (sparse files expand)
	files   int   // tar entries read so far

	seen    map[string]seenEntry // visible paths, with the layer they came from
	removed map[string]int       // whiteouts: path -> layer of the whiteout
	opaque  map[string]int       // opaque dirs: path -> layer of the marker
	pending map[string][]pendingLink
	dirMemo map[string]bool // hiddenDir verdicts for the current layer
}

func (w *walker) walk(ctx context.Context) error {
	for i := len(w.layers) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return err
		}
		redo, err := w.layer(ctx, i, nil)
		if err != nil {
			return err
		}
		if len(redo) > 0 {
			// Hard links in this layer whose targets (also in this layer)
			// were hidden: read the layer again for the targets' content.
			if _, err := w.layer(ctx, i, redo); err != nil {
				return err
			}
		}
	}
	for _, target := range slices.Sorted(maps.Keys(w.pending)) {
		for _, l := range w.pending[target] {
			w.notice(Notice{Path: l.file.Path, Layer: l.file.Layer, LayerDigest: l.file.LayerDigest,
				Reason: fmt.Errorf("%w: %q", ErrMissingLinkTarget, truncate(target, 256))})
		}
	}
	return nil
}

func (w *walker) notice(n Notice) {
	n.Path = truncate(n.Path, 4096)
	w.opts.Logger.Warn("walk: notice", "path", n.Path, "layer", n.LayerDigest, "reason", n.Reason)
	if w.opts.OnNotice != nil {
		w.opts.OnNotice(n)
	}
}

// hidden reports whether p, found in layer i, is hidden by a higher layer.
func (w *walker) hidden(p string, i int) bool {
	if s, ok := w.seen[p]; ok && s.layer > i {
		return true
	}
	if l, ok := w.removed[p]; ok && l > i {
		return true
	}
	return w.hiddenDir(parent(p), i)
}

// hiddenDir reports whether entries under dir are hidden in layer i: dir
// or an ancestor was removed, made opaque, or replaced by a non-directory
// in a higher layer. The verdicts are memoised per layer (what higher
// layers did does not change while layer i is read), so deep or many paths
// cost amortised O(1) lookups each.
func (w *walker) hiddenDir(dir string, i int) bool {
	if v, ok := w.dirMemo[dir]; ok {
		return v
	}
	var v bool
	if l, ok := w.opaque[dir]; ok && l > i {
		v = true
	} else if dir != "" {
		if l, ok := w.removed[dir]; ok && l > i {
			v = true
		} else if s, ok := w.seen[dir]; ok && s.layer > i && !s.dir {
			v = true
		} else {
			v = w.hiddenDir(parent(dir), i)
		}
	}
	w.dirMemo[dir] = v
	return v
}

func parent(p string) string {
	if j := strings.LastIndexByte(p, '/'); j >= 0 {
		return p[:j]
	}
	return ""
}

// cleanPath maps a tar entry name into the root, the way runtimes extract
// it. It returns "" for the root itself and reports whether the name was
// unsafe (absolute or climbing out with "..").
func cleanPath(name string) (string, bool) {
	name = strings.TrimSuffix(name, "/")
	trimmed := strings.TrimPrefix(name, "./")
	unsafe := strings.HasPrefix(trimmed, "/")
	if !unsafe {
		c := path.Clean(trimmed)
		unsafe = c == ".." || strings.HasPrefix(c, "../")
	}
	p := strings.TrimPrefix(path.Clean("/"+name), "/")
	return p, unsafe
}

// layer streams layer i. With redo == nil it visits the layer's files and
// returns the hard links whose target is a hidden entry of the same layer;
// with redo != nil it only delivers those targets' content to those links.
func (w *walker) layer(ctx context.Context, i int, redo map[string][]File) (map[string][]File, error) {
	desc := w.layers[i]
	if !layerMediaTypes[desc.MediaType] {
		return nil, fmt.Errorf("layer %s: %w: media type %q", desc.Digest, ErrInvalidLayer, desc.MediaType)
	}
	rc, err := w.fetcher.Fetch(ctx, desc)
	if err != nil {
		return nil, fmt.Errorf("layer %s: fetch: %w", desc.Digest, err)
	}
	defer rc.Close()
	vr, err := newVerifyReader(ctx, rc, desc)
	if err != nil {
		return nil, err
	}
	dr, closeDecomp, err := decompress(vr.buffered())
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w: %w", desc.Digest, ErrInvalidLayer, err)
	}
	defer closeDecomp()
	cr := &countReader{r: dr, w: w, layer: desc.Digest}

	w.dirMemo = make(map[string]bool)
	ls := &layerState{
		i:       i,
		desc:    desc,
		tr:      tar.NewReader(cr),
		inLayer: make(map[string]int64),
		hidden:  make(map[string]bool),
		file:    File{Layer: i, LayerDigest: desc.Digest},
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := ls.tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, tarError(desc, err, cr, vr)
		}
		if redo == nil {
			w.files++
		}
		if err := w.checkHeader(desc, hdr); err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue // PAX global header: metadata, not a file
		}
		p, unsafe := cleanPath(hdr.Name)
		if p == "" {
			continue // the root directory itself
		}
		if redo != nil {
			err = w.redoLinks(ctx, ls, hdr, p, redo)
		} else {
			err = w.entry(ctx, ls, hdr, p, unsafe)
		}
		if err != nil {
			return nil, err
		}
	}
	if redo != nil {
		for _, target := range slices.Sorted(maps.Keys(redo)) {
			for _, l := range redo[target] {
				w.notice(Notice{Path: l.Path, Layer: i, LayerDigest: desc.Digest, Reason: fmt.Errorf("%w: %q", ErrMissingLinkTarget, truncate(target, 256))})
			}
		}
	}
	if cr.err != nil {
		return nil, cr.err
	}
	if err := vr.finish(); err != nil {
		return nil, err
	}
	return ls.redoOut, nil
}

// layerState is what the walk of one layer keeps between its entries.
type layerState struct {
	i       int
	desc    ocispec.Descriptor
	tr      *tar.Reader
	inLayer map[string]int64  // non-directory entries of this layer: path -> size
	hidden  map[string]bool   // entries of this layer that were hidden
	redoOut map[string][]File // hard links to hidden targets of this layer, by target
	file    File              // the entry being visited (copied before it is handed out)
}

// tarError is the error of a failed tar read: the layer's own read or
// verification error if there is one, else a limit or a malformed layer.
func tarError(desc ocispec.Descriptor, err error, cr *countReader, vr *verifyReader) error {
	if cr.err != nil {
		return cr.err
	}
	if vr.err != nil {
		return vr.err
	}
	if errors.Is(err, tar.ErrFieldTooLong) {
		return &LimitError{Limit: "MaxHeaderSize", Max: MaxHeaderSize, Layer: desc.Digest}
	}
	return fmt.Errorf("layer %s: %w: %w", desc.Digest, ErrInvalidLayer, err)
}

// checkHeader enforces the file count, path length and file size limits on
// one tar header.
func (w *walker) checkHeader(desc ocispec.Descriptor, hdr *tar.Header) error {
	if w.files > w.opts.MaxFiles {
		return &LimitError{Limit: "MaxFiles", Max: int64(w.opts.MaxFiles), Layer: desc.Digest, Path: truncate(hdr.Name, 256)}
	}
	if len(hdr.Name) > w.opts.MaxPathLength || len(hdr.Linkname) > w.opts.MaxPathLength {
		return &LimitError{Limit: "MaxPathLength", Max: int64(w.opts.MaxPathLength), Layer: desc.Digest, Path: truncate(hdr.Name, 256)}
	}
	if hdr.Size > w.opts.MaxFileSize {
		return &LimitError{Limit: "MaxFileSize", Max: w.opts.MaxFileSize, Layer: desc.Digest, Path: truncate(hdr.Name, 256)}
	}
	return nil
}

// redoLinks delivers the content of the entry p, if it is the regular
// target of hard links in redo, to those links (the first one reads it).
func (w *walker) redoLinks(ctx context.Context, ls *layerState, hdr *tar.Header, p string, redo map[string][]File) error {
	links, ok := redo[p]
	if !ok || !isRegular(hdr) {
		return nil
	}
	for k, l := range links {
		l.Size = hdr.Size
		var body io.Reader
		if k == 0 {
			body = ls.tr
		}
		if err := w.visitContent(ctx, &l, body, hdr.Size); err != nil {
			return err
		}
	}
	delete(redo, p)
	return nil
}

// entry visits one entry p of the layer: whiteouts are recorded, hidden
// entries only feed pending hard links, and every other entry is visited.
func (w *walker) entry(ctx context.Context, ls *layerState, hdr *tar.Header, p string, unsafe bool) error {
	i := ls.i
	dir, base := parent(p), path.Base(p)
	// Whiteouts apply to lower layers only; never visited.
	if strings.HasPrefix(base, ".wh.") {
		w.whiteout(dir, base, i)
		return nil
	}
	if unsafe {
		w.notice(Notice{Path: hdr.Name, Layer: i, LayerDigest: ls.desc.Digest, Reason: fmt.Errorf("%w: %q", ErrUnsafePath, truncate(p, 256))})
	}
	if w.hidden(p, i) {
		if hdr.Typeflag != tar.TypeDir {
			ls.hidden[p] = true
			ls.inLayer[p] = hdr.Size
		}
		if isRegular(hdr) && len(w.pending[p]) > 0 {
			return w.deliverLinks(ctx, p, hdr.Size, ls.tr, false)
		}
		return nil
	}

	file := &ls.file
	file.Path = p
	file.Mode = hdr.FileInfo().Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	file.Size = 0
	file.Linkname = ""
	file.Hardlink = false

	prev, dup := w.seen[p]
	switch hdr.Typeflag {
	case tar.TypeDir:
		if dup && prev.layer == i && prev.dir {
			return nil // repeated directory entry: harmless
		}
		file.Mode |= fs.ModeDir
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		file.Size = hdr.Size
	case tar.TypeSymlink:
		file.Mode |= fs.ModeSymlink
		file.Linkname = hdr.Linkname
	case tar.TypeLink:
		return w.hardlink(ctx, ls, hdr, p)
	default:
		// Char/block devices, fifos, and anything unknown.
		w.notice(Notice{Path: hdr.Name, Layer: i, LayerDigest: ls.desc.Digest, Reason: fmt.Errorf("%w: type %q", ErrSpecialFile, hdr.Typeflag)})
		w.seen[p] = seenEntry{layer: i}
		return nil
	}
	if dup && prev.layer == i {
		w.notice(Notice{Path: hdr.Name, Layer: i, LayerDigest: ls.desc.Digest, Reason: ErrDuplicateEntry})
	}
	w.seen[p] = seenEntry{layer: i, dir: hdr.Typeflag == tar.TypeDir}
	if hdr.Typeflag != tar.TypeDir {
		ls.inLayer[p] = file.Size
	}
	if err := w.visitContent(ctx, file, ls.tr, file.Size); err != nil {
		return err
	}
	if file.Mode.IsRegular() && len(w.pending[p]) > 0 {
		return w.deliverLinks(ctx, p, file.Size, nil, true)
	}
	return nil
}

// whiteout records the whiteout entry base in dir of layer i: an opaque
// directory or a removed path (hiding lower layers only).
func (w *walker) whiteout(dir, base string, i int) {
	if base == ".wh..wh..opq" {
		if _, ok := w.opaque[dir]; !ok {
			w.opaque[dir] = i
		}
	} else if !strings.HasPrefix(base, ".wh..wh.") && base != ".wh." {
		target := path.Join(dir, strings.TrimPrefix(base, ".wh."))
		if _, ok := w.removed[target]; !ok {
			w.removed[target] = i
		}
	}
}

// hardlink visits the hard link p (ls.file holds its path and mode): a
// link to an entry read earlier in the same layer is visited now (or, when
// that entry was hidden, redone in a second pass); a link to a lower layer
// waits until its target is read.
func (w *walker) hardlink(ctx context.Context, ls *layerState, hdr *tar.Header, p string) error {
	i, file := ls.i, &ls.file
	target, _ := cleanPath(hdr.Linkname)
	file.Hardlink = true
	file.Linkname = target
	if size, ok := ls.inLayer[target]; ok && target != p {
		w.seen[p] = seenEntry{layer: i}
		ls.inLayer[p] = size
		file.Size = size
		if ls.hidden[target] {
			if ls.redoOut == nil {
				ls.redoOut = make(map[string][]File)
			}
			ls.redoOut[target] = append(ls.redoOut[target], *file)
			return nil
		}
		return w.visitContent(ctx, file, nil, 0)
	}
	// Target in a lower layer (or missing): deliver when found.
	w.seen[p] = seenEntry{layer: i}
	if target == "" || target == p {
		w.notice(Notice{Path: hdr.Name, Layer: i, LayerDigest: ls.desc.Digest, Reason: fmt.Errorf("%w: %q", ErrMissingLinkTarget, truncate(hdr.Linkname, 256))})
		return nil
	}
	w.pending[target] = append(w.pending[target], pendingLink{file: *file, layer: i})
	return nil
}

// visitContent calls fn with f and up to size bytes of r (empty when r is
// nil or f is not a regular file).
func (w *walker) visitContent(ctx context.Context, f *File, r io.Reader, size int64) error {
	var body io.Reader = eofReader{}
	if r != nil && f.Mode.IsRegular() {
		// Count what files expand to as well as what the layers hold:
		// sparse entries expand holes that are not in the stream.
		w.logical += size
		if w.logical > w.opts.MaxTotalBytes {
			return &LimitError{Limit: "MaxTotalBytes", Max: w.opts.MaxTotalBytes, Layer: f.LayerDigest, Path: truncate(f.Path, 256)}
		}
		body = io.LimitReader(r, size)
	}
	cp := *f
	return w.fn(ctx, &cp, body)
}

// deliverLinks visits the hard links of higher layers pointing at the
// regular entry p of this layer. If the target is visible, it was (or will
// be) visited with its content and the links get an empty reader; if not,
// the first link gets the content and the others an empty reader.
func (w *walker) deliverLinks(ctx context.Context, p string, size int64, r io.Reader, targetVisible bool) error {
	links := w.pending[p]
	delete(w.pending, p)
	for _, l := range links {
		lf := l.file
		lf.Size = size
		var body io.Reader
		if !targetVisible {
			body, targetVisible = r, true
		}
		if err := w.visitContent(ctx, &lf, body, size); err != nil {
			return err
		}
	}
	return nil
}

func isRegular(hdr *tar.Header) bool {
	return hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA || hdr.Typeflag == tar.TypeGNUSparse
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// countReader counts uncompressed bytes against MaxTotalBytes.
type countReader struct {
	r     io.Reader
	w     *walker
	layer digest.Digest
	err   error
}

func (c *countReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if rem := c.w.opts.MaxTotalBytes - c.w.total; int64(len(p)) > rem+1 {
		p = p[:rem+1]
	}
	n, err := c.r.Read(p)
	c.w.total += int64(n)
	if c.w.total > c.w.opts.MaxTotalBytes {
		c.err = &LimitError{Limit: "MaxTotalBytes", Max: c.w.opts.MaxTotalBytes, Layer: c.layer}
		return 0, c.err
	}
	return n, err
}

// verifyReader hashes and counts the compressed blob as it is read, and
// refuses to read beyond the descriptor's size.
type verifyReader struct {
	ctx  context.Context
	r    io.Reader
	desc ocispec.Descriptor
	h    hash.Hash
	n    int64
	err  error
	br   *bufio.Reader
}

func newVerifyReader(ctx context.Context, r io.Reader, desc ocispec.Descriptor) (*verifyReader, error) {
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("layer %q: %w: %w", desc.Digest, ErrInvalidLayer, err)
	}
	if desc.Size < 0 {
		return nil, fmt.Errorf("layer %s: %w: negative size", desc.Digest, ErrInvalidLayer)
	}
	v := &verifyReader{ctx: ctx, r: r, desc: desc, h: desc.Digest.Algorithm().Hash()}
	v.br = bufio.NewReaderSize(v, 64<<10)
	return v, nil
}

func (v *verifyReader) buffered() *bufio.Reader { return v.br }

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if err := v.ctx.Err(); err != nil {
		return 0, err
	}
	if rem := v.desc.Size - v.n; int64(len(p)) > rem+1 {
		p = p[:rem+1]
	}
	n, err := v.r.Read(p)
	v.n += int64(n)
	v.h.Write(p[:n])
	if v.n > v.desc.Size {
		v.err = fmt.Errorf("layer %s: %w: more than %d bytes", v.desc.Digest, registry.ErrSizeExceeded, v.desc.Size)
		return 0, v.err
	}
	if err == io.EOF {
		if e := v.check(); e != nil {
			v.err = e
			return n, e
		}
	}
	return n, err
}

func (v *verifyReader) check() error {
	if v.n != v.desc.Size {
		return fmt.Errorf("layer %s: %w: got %d bytes, want %d", v.desc.Digest, registry.ErrDigestMismatch, v.n, v.desc.Size)
	}
	if got := digest.NewDigestFromBytes(v.desc.Digest.Algorithm(), v.h.Sum(nil)); got != v.desc.Digest {
		return fmt.Errorf("layer %s: %w: got %s", v.desc.Digest, registry.ErrDigestMismatch, got)
	}
	return nil
}

// finish drains what the decompressor left (padding, trailers) and checks
// size and digest.
func (v *verifyReader) finish() error {
	if _, err := io.Copy(io.Discard, v.br); err != nil {
		return err
	}
	if v.err != nil {
		return v.err
	}
	return v.check()
}

// decompress sniffs the compression of a layer from its first bytes.
func decompress(br *bufio.Reader) (io.Reader, func(), error) {
	magic, err := br.Peek(4)
	if err != nil && err != io.EOF && !errors.Is(err, bufio.ErrBufferFull) {
		if len(magic) == 0 {
			return nil, nil, err
		}
	}
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		return zr, func() { zr.Close() }, nil
	case len(magic) >= 4 && bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(256<<20), zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return nil, nil, err
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// truncate shortens s to n bytes for error messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
