package imagefs_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-go/cssc/imagefs"
	"github.com/cssc-go/cssc/imagefs/imagetest"
)

// countFetcher counts fetches per digest.
type countFetcher struct {
	content.Fetcher
	mu sync.Mutex
	n  map[string]int
}

func (c *countFetcher) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	c.mu.Lock()
	c.n[d.Digest.String()]++
	c.mu.Unlock()
	return c.Fetcher.Fetch(ctx, d)
}

// recorder is a Visitor that wants the files whose path has one of its
// prefixes, records their content, and fails on a given path.
type recorder struct {
	prefixes []string
	failOn   string
	files    []string          // every file visited, in order
	content  map[string]string // content of the wanted files
	readers  map[string]string // type of reader given
}

func newRecorder(failOn string, prefixes ...string) *recorder {
	return &recorder{prefixes: prefixes, failOn: failOn, content: map[string]string{}, readers: map[string]string{}}
}

func (r *recorder) Wants(f *imagefs.File) bool {
	for _, p := range r.prefixes {
		if strings.HasPrefix(f.Path, p) {
			return true
		}
	}
	return false
}

func (r *recorder) Visit(ctx context.Context, f *imagefs.File, body io.Reader) error {
	r.files = append(r.files, f.Path)
	if f.Path == r.failOn {
		return errors.New("visitor failed on " + f.Path)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	if len(b) > 0 || r.Wants(f) {
		r.content[f.Path] = string(b)
		_, ra := body.(io.ReaderAt)
		r.readers[f.Path] = map[bool]string{true: "random access", false: "stream"}[ra]
	}
	return nil
}

// TestWalkAll: one walk (each layer fetched once) feeds every visitor every
// file; a file several visitors want is read once, from memory or from a
// temporary copy, and a file one visitor wants is streamed to it; a
// failing visitor stops alone; nothing is left on disk.
func TestWalkAll(t *testing.T) {
	ctx := context.Background()
	repo := memRepo(t)
	big := string(imagetest.Random(7, 3<<20))
	desc := push(t, repo,
		imagetest.Layer(reg("etc/os-release", "ID=debian\n"), reg("usr/bin/tool", big)),
		imagetest.Layer(reg("usr/share/doc/a/copyright", "MIT"), reg("srv/app/data", "only b"), imagetest.Symlink("usr/bin/sh", "bash")),
	)
	cf := &countFetcher{Fetcher: repo, n: map[string]int{}}
	tmp := t.TempDir()
	a := newRecorder("", "etc/", "usr/")
	b := newRecorder("", "usr/", "srv/")
	errs, err := imagefs.WalkAll(ctx, cf, desc, imagefs.WalkOptions{}, imagefs.ShareOptions{MaxSharedMemory: 1 << 20, TempDir: tmp}, a, b)
	require.NoError(t, err)
	assert.Equal(t, []error{nil, nil}, errs)
	for d, n := range cf.n {
		if d != desc.Digest.String() {
			assert.Equal(t, 1, n, "layer %s fetched once", d)
		}
	}
	assert.Len(t, cf.n, 3, "manifest and two layers (the config is not read)")
	assert.Equal(t, a.files, b.files, "every visitor sees every file, in the same order")
	assert.Equal(t, big, a.content["usr/bin/tool"])
	assert.Equal(t, big, b.content["usr/bin/tool"])
	assert.Equal(t, "random access", a.readers["usr/bin/tool"], "a large shared file comes from a temporary copy")
	assert.Equal(t, "MIT", a.content["usr/share/doc/a/copyright"])
	assert.Equal(t, "MIT", b.content["usr/share/doc/a/copyright"])
	assert.Equal(t, "ID=debian\n", a.content["etc/os-release"])
	assert.Equal(t, "stream", a.readers["etc/os-release"], "a file one visitor wants is streamed")
	_, got := b.content["etc/os-release"]
	assert.False(t, got, "b does not want os-release: it gets no content")
	assert.Equal(t, "only b", b.content["srv/app/data"])
	entries, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, entries, "temporary copies removed")

	// A visitor that fails is called no more; the other one sees it all.
	a = newRecorder("usr/share/doc/a/copyright", "etc/", "usr/")
	b = newRecorder("", "usr/", "srv/")
	errs, err = imagefs.WalkAll(ctx, repo, desc, imagefs.WalkOptions{}, imagefs.ShareOptions{}, a, b)
	require.NoError(t, err)
	require.Error(t, errs[0])
	assert.NoError(t, errs[1])
	assert.Equal(t, "usr/share/doc/a/copyright", a.files[len(a.files)-1], "a stopped at its failure")
	assert.Contains(t, b.files, "usr/bin/tool", "b went on")

	// When every visitor has failed, the walk stops early without error.
	a = newRecorder("usr/share/doc/a/copyright", "usr/")
	errs, err = imagefs.WalkAll(ctx, repo, desc, imagefs.WalkOptions{}, imagefs.ShareOptions{}, a)
	require.NoError(t, err)
	require.Error(t, errs[0])
	assert.NotContains(t, a.files, "usr/bin/tool", "nothing visited after the last visitor failed")

	// A corrupt layer is the walk's error.
	_, err = imagefs.WalkAll(ctx, corruptLayers{repo}, desc, imagefs.WalkOptions{}, imagefs.ShareOptions{}, newRecorder("", "usr/"), newRecorder("", "usr/"))
	assert.Error(t, err)
}

// corruptLayers flips a byte of every layer it fetches.
type corruptLayers struct{ content.Fetcher }

func (c corruptLayers) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := c.Fetcher.Fetch(ctx, d)
	if err != nil || !strings.Contains(d.MediaType, "layer") {
		return rc, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	b[len(b)-1] ^= 0xff
	return io.NopCloser(strings.NewReader(string(b))), nil
}

// detacher is a Visitor that keeps a handle on every shared temporary copy
// it is given (imagefs.SharedCopy.Detach) and reads it after the walk.
type detacher struct{ handles map[string]*os.File }

func (d *detacher) Wants(*imagefs.File) bool { return true }
func (d *detacher) Visit(_ context.Context, f *imagefs.File, body io.Reader) error {
	if sc, ok := body.(*imagefs.SharedCopy); ok {
		h, err := sc.Detach()
		if err != nil {
			return err
		}
		d.handles[f.Path] = h
	}
	return nil
}

// TestSharedCopyDetach: a visitor can keep reading a shared temporary copy
// after its Visit returned and the walk removed the copy's name.
func TestSharedCopyDetach(t *testing.T) {
	ctx := context.Background()
	repo := memRepo(t)
	big := string(imagetest.Random(8, 2<<20))
	desc := push(t, repo, imagetest.Layer(reg("usr/bin/tool", big), reg("etc/hostname", "h\n")))
	tmp := t.TempDir()
	d := &detacher{handles: map[string]*os.File{}}
	errs, err := imagefs.WalkAll(ctx, repo, desc, imagefs.WalkOptions{}, imagefs.ShareOptions{TempDir: tmp}, d, newRecorder("", ""))
	require.NoError(t, err)
	require.Equal(t, []error{nil, nil}, errs)
	entries, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, entries, "the copy's name is removed when the visitors return")
	require.Len(t, d.handles, 1, "only the large shared file is a temporary copy")
	h := d.handles["usr/bin/tool"]
	require.NotNil(t, h)
	got, err := io.ReadAll(h)
	require.NoError(t, err)
	assert.Equal(t, big, string(got), "the detached handle reads the whole content after the walk")
	assert.NoError(t, h.Close())
}
