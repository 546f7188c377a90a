package imagefs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"oras.land/oras-go/v2/content"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// DefaultMaxSharedMemory is the default of ShareOptions.MaxSharedMemory:
// 1 MiB (larger files are what a malware scanner streams anyway; holding
// them in memory raised the peak by ~15 MiB on a 170 MB image and saved
// no time).
const DefaultMaxSharedMemory = 1 << 20

// Visitor is one consumer of a walk that several consumers share (see
// WalkAll): an SBOM generator, a malware scanner.
type Visitor interface {
	// Wants reports whether the visitor reads the content of the regular
	// file f. It is called once per regular file, just before Visit.
	Wants(f *File) bool
	// Visit is called for every file of the walk, in walk order, from the
	// walking goroutine. r holds the content of a regular file the visitor
	// wants (at most f.Size bytes: a hard link whose target was visited
	// has none) and is empty otherwise; it is valid only until Visit
	// returns. An error stops this visitor (WalkAll reports it and calls
	// the visitor no more) but not the others.
	Visit(ctx context.Context, f *File, r io.Reader) error
}

// ShareOptions tunes how WalkAll gives one file to several visitors. The
// zero value is ready to use.
type ShareOptions struct {
	// MaxSharedMemory bounds memory: a file that several visitors want is
	// read once into memory when it is at most this size, else copied once
	// to a private temporary file (under TempDir, mode 0600, removed as
	// soon as the visitors return) that each reads at its own pace. A
	// file only one visitor wants is streamed to it. <= 0 means
	// DefaultMaxSharedMemory (1 MiB).
	MaxSharedMemory int64
	// TempDir is where the temporary files are created. Empty means
	// os.TempDir().
	TempDir string
}

// WalkAll walks the platform image manifest desc once (see Walk: one
// decompression and one digest check per layer, whatever the number of
// visitors) and feeds every file to every visitor, in the order given.
//
// It returns one error per visitor, in order: nil when the visitor saw the
// whole walk, else the error its Visit returned (that visitor was not
// called again; the others went on). The walk stops early, without error,
// once every visitor has failed. The last result is the walk's own error
// (a corrupt or missing layer, a cap of opts exceeded, ctx ended); when it
// is not nil, what every visitor learnt must be discarded.
func WalkAll(ctx context.Context, fetcher content.Fetcher, desc ocispec.Descriptor, opts WalkOptions, share ShareOptions, visitors ...Visitor) ([]error, error) {
	if share.MaxSharedMemory <= 0 {
		share.MaxSharedMemory = DefaultMaxSharedMemory
	}
	t := &tee{visitors: visitors, errs: make([]error, len(visitors)), opts: share, wants: make([]bool, len(visitors))}
	err := Walk(ctx, fetcher, desc, opts, t.visit)
	return t.errs, err
}

// tee is the WalkFunc of WalkAll.
type tee struct {
	visitors []Visitor
	errs     []error
	failed   int
	opts     ShareOptions
	wants    []bool
	buf      []byte
}

func (t *tee) visit(ctx context.Context, f *File, r io.Reader) error {
	n := 0
	for i, v := range t.visitors {
		t.wants[i] = t.errs[i] == nil && f.Mode.IsRegular() && v.Wants(f)
		if t.wants[i] {
			n++
		}
	}
	var share func() io.Reader
	switch {
	case n == 0:
	case n == 1:
		share = func() io.Reader { return r }
	case f.Size <= t.opts.MaxSharedMemory:
		if int64(cap(t.buf)) < f.Size {
			t.buf = make([]byte, f.Size)
		}
		m, err := io.ReadFull(r, t.buf[:f.Size])
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return err
		}
		data := t.buf[:m]
		share = func() io.Reader { return bytes.NewReader(data) }
	default:
		tmp, size, err := t.spill(f, r)
		if err != nil {
			return err
		}
		defer func() {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}()
		share = func() io.Reader { return &SharedCopy{SectionReader: io.NewSectionReader(tmp, 0, size), file: tmp} }
	}
	for i, v := range t.visitors {
		if t.errs[i] != nil {
			continue
		}
		var body io.Reader = eofReader{}
		if t.wants[i] {
			body = share()
		}
		if err := v.Visit(ctx, f, body); err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			t.errs[i] = err
			t.failed++
		}
	}
	if t.failed == len(t.visitors) {
		return fs.SkipAll
	}
	return nil
}

// SharedCopy is the reader WalkAll hands each visitor of a file that
// several visitors want and that it copied to a private temporary file
// (larger than ShareOptions.MaxSharedMemory). Besides reading it as any
// reader (it is an *io.SectionReader over the whole copy), a visitor that
// wants to go on reading the file after Visit returns, so that the walk
// is not held up (a malware scanner streaming it to a daemon while the
// walk goes on), calls Detach.
type SharedCopy struct {
	*io.SectionReader
	file *os.File
}

// Detach opens a new read-only handle on the copy, positioned at its
// start, that stays valid after Visit returns; the caller reads at most
// Size bytes from it and must close it. The copy is never written again
// once visitors see it; its name is removed when every visitor has
// returned, and the handle keeps its content (and its disk space) until
// it is closed.
func (c *SharedCopy) Detach() (*os.File, error) {
	f, err := os.Open(c.file.Name())
	if err != nil {
		return nil, fmt.Errorf("walk: detach temporary copy: %w", err)
	}
	return f, nil
}

// spill copies a shared file's content to a private temporary file.
func (t *tee) spill(f *File, r io.Reader) (*os.File, int64, error) {
	tmp, err := os.CreateTemp(t.opts.TempDir, "cssc-walk-*")
	if err != nil {
		return nil, 0, fmt.Errorf("walk: temporary copy of %s: %w", truncate(f.Path, 256), err)
	}
	n, err := io.Copy(tmp, r)
	if err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return nil, 0, fmt.Errorf("walk: temporary copy of %s: %w", truncate(f.Path, 256), err)
	}
	return tmp, n, nil
}
