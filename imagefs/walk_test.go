package imagefs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-go/cssc/imagefs"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// memRepo returns a fresh in-memory repository.
func memRepo(t testing.TB) registry.Repository {
	t.Helper()
	c := registry.NewClient(registry.Options{})
	repo, err := c.Repository(context.Background(), "mem:"+strings.ReplaceAll(t.Name(), "/", "_"))
	require.NoError(t, err)
	return repo
}

func push(t testing.TB, repo content.Pusher, layers ...imagetest.Blob) ocispec.Descriptor {
	t.Helper()
	desc, err := imagetest.Image{Layers: layers}.Push(context.Background(), repo)
	require.NoError(t, err)
	return desc
}

type visited struct {
	File    imagefs.File
	Content string
}

// walkAll walks desc and returns what was visited by path, the visit
// order, and the notices.
func walkAll(t testing.TB, f content.Fetcher, desc ocispec.Descriptor, opts imagefs.WalkOptions) (map[string]visited, []string, []imagefs.Notice, error) {
	t.Helper()
	got := map[string]visited{}
	var order []string
	var notices []imagefs.Notice
	opts.OnNotice = func(n imagefs.Notice) { notices = append(notices, n) }
	err := imagefs.Walk(context.Background(), f, desc, opts, func(ctx context.Context, file *imagefs.File, r io.Reader) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if !file.Mode.IsRegular() && len(b) > 0 {
			t.Errorf("%s: non-regular file has content", file.Path)
		}
		got[file.Path] = visited{File: *file, Content: string(b)}
		order = append(order, file.Path)
		return nil
	})
	return got, order, notices, err
}

func reg(path, data string) imagetest.File { return imagetest.File{Path: path, Data: []byte(data)} }

func TestWalkMergedFilesystem(t *testing.T) {
	for _, c := range []struct {
		name string
		comp imagetest.Compression
	}{{"gzip", imagetest.Gzip}, {"zstd", imagetest.Zstd}, {"uncompressed", imagetest.Uncompressed}} {
		t.Run(c.name, func(t *testing.T) {
			repo := memRepo(t)
			l0 := imagetest.LayerWith(c.comp,
				imagetest.Dir("etc"), reg("etc/passwd", "root:x:0:0"), reg("etc/shadow", "secret"),
				imagetest.Dir("var"), imagetest.Dir("var/cache"), reg("var/cache/a", "a"), reg("var/cache/b", "b"),
				imagetest.Dir("opt"), imagetest.Dir("opt/app"), reg("opt/app/old", "old"),
				imagetest.Dir("usr"), imagetest.Dir("usr/lib"), reg("usr/lib/x", "x"),
				reg("bin-was-file", "file"),
				imagetest.Dir("data"), reg("data/keep", "keep"),
			)
			l1 := imagetest.LayerWith(c.comp,
				reg("etc/passwd", "root:x:0:0\nuser:x:1000"), // replaces
				imagetest.Whiteout("etc/shadow"),             // deletes a file
				imagetest.Whiteout("var/cache"),              // deletes a directory
				imagetest.Dir("opt/app"), imagetest.OpaqueWhiteout("opt/app"), reg("opt/app/new", "new"),
				reg("usr/lib", "now a file"), // file replaces directory
				imagetest.Symlink("bin", "usr/bin"),
				reg("data/new", "n"),
			)
			l2 := imagetest.LayerWith(c.comp,
				reg("var/cache/c", "c"), // re-created after the whiteout below
				reg("etc/shadow", "again"),
			)
			desc := push(t, repo, l0, l1, l2)
			got, _, notices, err := walkAll(t, repo, desc, imagefs.WalkOptions{})
			require.NoError(t, err)
			assert.Empty(t, notices)
			want := map[string]string{
				"etc": "", "etc/passwd": "root:x:0:0\nuser:x:1000", "etc/shadow": "again",
				"var": "", "var/cache/c": "c",
				"opt": "", "opt/app": "", "opt/app/new": "new",
				"usr": "", "usr/lib": "now a file",
				"bin-was-file": "file", "bin": "",
				"data": "", "data/keep": "keep", "data/new": "n",
			}
			assert.ElementsMatch(t, slices.Collect(maps.Keys(want)), slices.Collect(maps.Keys(got)), "visited paths")
			for p, w := range want {
				assert.Equal(t, w, got[p].Content, "content of %s", p)
			}
			assert.Equal(t, 2, got["etc/shadow"].File.Layer)
			assert.Equal(t, l2.Desc.Digest, got["etc/shadow"].File.LayerDigest)
			assert.Equal(t, l1.Desc.Digest, got["etc/passwd"].File.LayerDigest)
			assert.Equal(t, fs.ModeSymlink, got["bin"].File.Mode.Type())
			assert.Equal(t, "usr/bin", got["bin"].File.Linkname)
			assert.True(t, got["opt/app"].File.Mode.IsDir())
			assert.Equal(t, int64(len("again")), got["etc/shadow"].File.Size)
		})
	}
}

func TestWalkHardLinks(t *testing.T) {
	repo := memRepo(t)
	l0 := imagetest.Layer(
		reg("lower/target", "lower content"),
	)
	l1 := imagetest.Layer(
		reg("a/target", "same layer"),
		imagetest.File{Path: "a/link", Type: tar.TypeLink, Linkname: "a/target"},
		reg("b/hidden", "hidden content"),
		imagetest.File{Path: "b/link1", Type: tar.TypeLink, Linkname: "b/hidden"},
		imagetest.File{Path: "b/link2", Type: tar.TypeLink, Linkname: "/b/hidden"},
		imagetest.File{Path: "c/cross", Type: tar.TypeLink, Linkname: "lower/target"},
		imagetest.File{Path: "c/missing", Type: tar.TypeLink, Linkname: "nowhere"},
	)
	l2 := imagetest.Layer(imagetest.Whiteout("b/hidden"))
	desc := push(t, repo, l0, l1, l2)
	got, _, notices, err := walkAll(t, repo, desc, imagefs.WalkOptions{})
	require.NoError(t, err)

	assert.Equal(t, "same layer", got["a/target"].Content)
	assert.True(t, got["a/link"].File.Hardlink)
	assert.Equal(t, "a/target", got["a/link"].File.Linkname)
	assert.Equal(t, "", got["a/link"].Content, "link to a visited target gets no content")
	assert.Equal(t, int64(len("same layer")), got["a/link"].File.Size)

	assert.NotContains(t, got, "b/hidden")
	// The target is hidden: exactly one of the links carries its content.
	contents := []string{got["b/link1"].Content, got["b/link2"].Content}
	assert.ElementsMatch(t, []string{"hidden content", ""}, contents)
	assert.Equal(t, int64(len("hidden content")), got["b/link2"].File.Size)

	assert.Equal(t, "lower content", got["lower/target"].Content)
	assert.True(t, got["c/cross"].File.Hardlink)
	assert.Equal(t, 1, got["c/cross"].File.Layer)

	assert.NotContains(t, got, "c/missing")
	require.Len(t, notices, 1)
	assert.ErrorIs(t, notices[0].Reason, imagefs.ErrMissingLinkTarget)
	assert.Equal(t, "c/missing", notices[0].Path)
}

func TestWalkCrossLayerLinkToHiddenTarget(t *testing.T) {
	repo := memRepo(t)
	l0 := imagetest.Layer(reg("t", "original"))
	l1 := imagetest.Layer(imagetest.File{Path: "l", Type: tar.TypeLink, Linkname: "t"})
	l2 := imagetest.Layer(imagetest.Whiteout("t"))
	got, _, _, err := walkAll(t, repo, push(t, repo, l0, l1, l2), imagefs.WalkOptions{})
	require.NoError(t, err)
	assert.NotContains(t, got, "t")
	assert.Equal(t, "original", got["l"].Content)
}

// rawTar writes hand-made headers, for entries imagetest will not write.
func rawTar(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		require.NoError(t, tw.WriteHeader(&h))
		if len(e.data) > 0 {
			_, err := tw.Write(e.data)
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

type tarEntry struct {
	hdr  tar.Header
	data []byte
}

func entry(name, data string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Format: tar.FormatPAX}, data: []byte(data)}
}

func TestWalkHostileLayer(t *testing.T) {
	repo := memRepo(t)
	raw := rawTar(t,
		entry("../../etc/evil", "traversal"),
		entry("/abs/file", "absolute"),
		entry("./ok/../fine", "fine"),
		tarEntry{hdr: tar.Header{Name: "dev/sda", Typeflag: tar.TypeBlock, Devmajor: 8}},
		tarEntry{hdr: tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}},
		tarEntry{hdr: tar.Header{Name: "run/fifo", Typeflag: tar.TypeFifo}},
		tarEntry{hdr: tar.Header{Name: "escape", Typeflag: tar.TypeSymlink, Linkname: "../../../../etc/shadow"}},
		entry("dup", "first"),
		entry("dup", "second"),
		tarEntry{hdr: tar.Header{Name: "./", Typeflag: tar.TypeDir}},
	)
	desc := push(t, repo, imagetest.Compress(imagetest.Gzip, raw))
	got, _, notices, err := walkAll(t, repo, desc, imagefs.WalkOptions{})
	require.NoError(t, err)
	assert.Equal(t, "traversal", got["etc/evil"].Content, "traversal is mapped into the root like runtimes do")
	assert.Equal(t, "absolute", got["abs/file"].Content)
	assert.Equal(t, "fine", got["fine"].Content)
	assert.NotContains(t, got, "dev/sda")
	assert.NotContains(t, got, "dev/null")
	assert.NotContains(t, got, "run/fifo")
	assert.Equal(t, "../../../../etc/shadow", got["escape"].File.Linkname, "symlinks are reported, never followed")
	assert.Equal(t, "second", got["dup"].Content, "the later duplicate is visited last")
	for p := range got {
		assert.False(t, strings.HasPrefix(p, "/") || strings.HasPrefix(p, "..") || strings.Contains(p, "/../"), "unsafe path %q", p)
	}
	var reasons []error
	for _, n := range notices {
		reasons = append(reasons, n.Reason)
	}
	count := func(target error) int {
		n := 0
		for _, r := range reasons {
			if errors.Is(r, target) {
				n++
			}
		}
		return n
	}
	assert.Equal(t, 2, count(imagefs.ErrUnsafePath), "notices: %v", reasons)
	assert.Equal(t, 3, count(imagefs.ErrSpecialFile), "notices: %v", reasons)
	assert.Equal(t, 1, count(imagefs.ErrDuplicateEntry), "notices: %v", reasons)
}

func TestWalkLimits(t *testing.T) {
	repo := memRepo(t)
	big := imagetest.Layer(reg("big", strings.Repeat("A", 1<<20)))
	many := imagetest.Layer(reg("1", ""), reg("2", ""), reg("3", ""), reg("4", ""))
	long := imagetest.Layer(reg(strings.Repeat("d/", 100)+"f", "x"))
	cases := []struct {
		name   string
		layers []imagetest.Blob
		opts   imagefs.WalkOptions
		limit  string
	}{
		{"total bytes (bomb)", []imagetest.Blob{big}, imagefs.WalkOptions{MaxTotalBytes: 64 << 10}, "MaxTotalBytes"},
		{"file size", []imagetest.Blob{big}, imagefs.WalkOptions{MaxFileSize: 1000}, "MaxFileSize"},
		{"file count", []imagetest.Blob{many}, imagefs.WalkOptions{MaxFiles: 3}, "MaxFiles"},
		{"file count across layers", []imagetest.Blob{many, many}, imagefs.WalkOptions{MaxFiles: 7}, "MaxFiles"},
		{"path length", []imagetest.Blob{long}, imagefs.WalkOptions{MaxPathLength: 100}, "MaxPathLength"},
		{"layers", []imagetest.Blob{many, many, many}, imagefs.WalkOptions{MaxLayers: 2}, "MaxLayers"},
		{"manifest", []imagetest.Blob{many}, imagefs.WalkOptions{MaxManifestBytes: 10}, "MaxManifestBytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			desc := push(t, repo, c.layers...)
			_, _, _, err := walkAll(t, repo, desc, c.opts)
			require.Error(t, err)
			assert.ErrorIs(t, err, imagefs.ErrLimitExceeded)
			var le *imagefs.LimitError
			require.ErrorAs(t, err, &le)
			assert.Equal(t, c.limit, le.Limit)
		})
	}
	t.Run("huge PAX header", func(t *testing.T) {
		rec := " comment=" + strings.Repeat("h", 2<<20) + "\n"
		rec = fmt.Sprint(len(rec)+7) + rec // 7 digits of length
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: "PaxHeaders/f", Typeflag: tar.TypeReg, Size: int64(len(rec)), Mode: 0o644, Format: tar.FormatUSTAR}))
		_, err := tw.Write([]byte(rec))
		require.NoError(t, err)
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: "f", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644, Format: tar.FormatUSTAR}))
		tw.Write([]byte("x"))
		require.NoError(t, tw.Close())
		raw := buf.Bytes()
		setTypeflag(raw[:512], tar.TypeXHeader)
		desc := push(t, repo, imagetest.Compress(imagetest.Gzip, raw))
		_, _, _, err = walkAll(t, repo, desc, imagefs.WalkOptions{})
		assert.ErrorIs(t, err, imagefs.ErrLimitExceeded)
		var le *imagefs.LimitError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, "MaxHeaderSize", le.Limit)
	})
	t.Run("just under the caps", func(t *testing.T) {
		desc := push(t, repo, many)
		_, _, _, err := walkAll(t, repo, desc, imagefs.WalkOptions{MaxFiles: 4, MaxFileSize: 1})
		require.NoError(t, err)
	})
}

// tamperFetcher returns altered content for one digest.
type tamperFetcher struct {
	content.Fetcher
	alter func([]byte) []byte
	which ocispec.Descriptor
}

func (f tamperFetcher) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := f.Fetcher.Fetch(ctx, d)
	if err != nil || d.Digest != f.which.Digest {
		return rc, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(f.alter(b))), nil
}

func TestWalkVerifiesLayers(t *testing.T) {
	repo := memRepo(t)
	layer := imagetest.Layer(reg("a", strings.Repeat("content ", 1000)), reg("b", "b"))
	desc := push(t, repo, layer)
	cases := []struct {
		name  string
		alter func([]byte) []byte
		want  error
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)-10] }, nil},
		{"trailing data", func(b []byte) []byte { return append(b, 0, 0, 0, 0) }, registry.ErrSizeExceeded},
		{"flipped byte in trailer", func(b []byte) []byte {
			c := bytes.Clone(b)
			c[len(c)-5] ^= 0xff
			return c
		}, nil},
		{"other valid layer of the same size", func(b []byte) []byte {
			other := imagetest.Layer(reg("a", strings.Repeat("CONTENT ", 1000)), reg("b", "b")).Data
			if len(other) >= len(b) {
				return other[:len(b)]
			}
			return append(other, make([]byte, len(b)-len(other))...)
		}, nil},
		{"empty", func([]byte) []byte { return nil }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := tamperFetcher{Fetcher: repo, alter: c.alter, which: layer.Desc}
			_, _, _, err := walkAll(t, f, desc, imagefs.WalkOptions{})
			require.Error(t, err, "a tampered layer must fail the walk")
			if c.want != nil {
				assert.ErrorIs(t, err, c.want)
			}
		})
	}
}

func TestWalkBadInput(t *testing.T) {
	repo := memRepo(t)
	ctx := context.Background()
	desc := push(t, repo, imagetest.Layer(reg("a", "a")))

	t.Run("index", func(t *testing.T) {
		idx, err := imagetest.PushIndex(ctx, repo, desc)
		require.NoError(t, err)
		err = imagefs.Walk(ctx, repo, idx, imagefs.WalkOptions{}, func(context.Context, *imagefs.File, io.Reader) error { return nil })
		assert.ErrorIs(t, err, registry.ErrUnsupported)
	})
	t.Run("descriptor without media type", func(t *testing.T) {
		d := desc
		d.MediaType = ""
		got, _, _, err := walkAll(t, repo, d, imagefs.WalkOptions{})
		require.NoError(t, err)
		assert.Contains(t, got, "a")
		idx, err := imagetest.PushIndex(ctx, repo, desc)
		require.NoError(t, err)
		idx.MediaType = ""
		_, _, _, err = walkAll(t, repo, idx, imagefs.WalkOptions{})
		assert.ErrorIs(t, err, registry.ErrUnsupported)
	})
	t.Run("not a tar", func(t *testing.T) {
		garbage := imagetest.Compress(imagetest.Gzip, []byte(strings.Repeat("not a tar archive ", 100)))
		d := push(t, repo, garbage)
		_, _, _, err := walkAll(t, repo, d, imagefs.WalkOptions{})
		assert.ErrorIs(t, err, imagefs.ErrInvalidLayer)
	})
	t.Run("unknown layer media type", func(t *testing.T) {
		l := imagetest.Layer(reg("a", "a"))
		l.Desc.MediaType = "application/vnd.example.weird"
		d := push(t, repo, l)
		_, _, _, err := walkAll(t, repo, d, imagefs.WalkOptions{})
		assert.ErrorIs(t, err, imagefs.ErrInvalidLayer)
	})
	t.Run("missing layer", func(t *testing.T) {
		l := imagetest.Layer(reg("zzz", "missing"))
		m, cfg := imagetest.Image{Layers: []imagetest.Blob{l}}.Build()
		require.NoError(t, imagetest.PushBlob(ctx, repo, cfg))
		require.NoError(t, imagetest.PushBlob(ctx, repo, m))
		_, _, _, err := walkAll(t, repo, m.Desc, imagefs.WalkOptions{})
		assert.ErrorIs(t, err, registry.ErrNotFound)
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err := imagefs.Walk(cctx, repo, desc, imagefs.WalkOptions{}, func(context.Context, *imagefs.File, io.Reader) error { return nil })
		assert.ErrorIs(t, err, context.Canceled)
	})
	t.Run("callback error and SkipAll", func(t *testing.T) {
		boom := errors.New("boom")
		err := imagefs.Walk(ctx, repo, desc, imagefs.WalkOptions{}, func(context.Context, *imagefs.File, io.Reader) error { return boom })
		assert.ErrorIs(t, err, boom)
		n := 0
		err = imagefs.Walk(ctx, repo, desc, imagefs.WalkOptions{}, func(context.Context, *imagefs.File, io.Reader) error { n++; return fs.SkipAll })
		assert.NoError(t, err)
		assert.Equal(t, 1, n)
	})
	t.Run("nil fetcher", func(t *testing.T) {
		err := imagefs.Walk(ctx, nil, desc, imagefs.WalkOptions{}, func(context.Context, *imagefs.File, io.Reader) error { return nil })
		assert.Error(t, err)
	})
}

// TestWalkRegistries runs the walk against every storage kind.
func TestWalkRegistries(t *testing.T) {
	for _, s := range registrytest.Stores(t) {
		t.Run(s.Name, func(t *testing.T) {
			ctx := context.Background()
			repo, err := s.Client.Repository(ctx, registry.Join(s.Prefix, "walk/test"))
			require.NoError(t, err)
			desc := push(t, repo,
				imagetest.Layer(reg("etc/os-release", "ID=debian\n"), reg("gone", "x")),
				imagetest.LayerWith(imagetest.Zstd, imagetest.Whiteout("gone"), reg("app", "bin")))
			got, _, _, err := walkAll(t, repo, desc, imagefs.WalkOptions{})
			require.NoError(t, err)
			assert.ElementsMatch(t, []string{"etc/os-release", "app"}, slices.Collect(maps.Keys(got)))
		})
	}
}

// TestWalkDeepPaths: many deep paths under whiteouts cost amortised O(1)
// lookups each, not O(depth).
func TestWalkDeepPaths(t *testing.T) {
	repo := memRepo(t)
	deep := strings.Repeat("d/", 500)
	var lower []imagetest.File
	for i := range 2000 {
		lower = append(lower, reg(fmt.Sprintf("%s%d", deep, i), "x"))
	}
	upper := imagetest.Layer(imagetest.Whiteout("d/d/d/x"), reg("d/d/d/d/file", "f"))
	desc := push(t, repo, imagetest.Layer(lower...), upper)
	start := time.Now()
	got, _, _, err := walkAll(t, repo, desc, imagefs.WalkOptions{})
	require.NoError(t, err)
	assert.Len(t, got, 2001)
	assert.Less(t, time.Since(start), 20*time.Second)
}

// paxSparseTar hand-writes a PAX 1.0 sparse file: realSize logical bytes
// stored as one data byte, for the sparse expansion cap.
func paxSparseTar(t *testing.T, name string, realSize int64) []byte {
	t.Helper()
	records := ""
	for _, kv := range [][2]string{{"GNU.sparse.major", "1"}, {"GNU.sparse.minor", "0"}, {"GNU.sparse.name", name}, {"GNU.sparse.realsize", fmt.Sprint(realSize)}} {
		rec := " " + kv[0] + "=" + kv[1] + "\n"
		n := len(rec) + 2
		for len(fmt.Sprint(n))+len(rec) != n {
			n = len(fmt.Sprint(n)) + len(rec)
		}
		records += fmt.Sprint(n) + rec
	}
	sparseMap := "1\n0\n1\n"
	data := append([]byte(sparseMap), make([]byte, 512-len(sparseMap))...)
	data = append(data, 'Z')
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "PaxHeaders/" + name, Typeflag: tar.TypeReg, Size: int64(len(records)), Mode: 0o644, Format: tar.FormatUSTAR}))
	_, err := tw.Write([]byte(records))
	require.NoError(t, err)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "GNUSparseFile.0/" + name, Typeflag: tar.TypeReg, Size: int64(len(data)), Mode: 0o644, Format: tar.FormatUSTAR}))
	_, err = tw.Write(data)
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	b := buf.Bytes()
	setTypeflag(b[:512], tar.TypeXHeader) // the first entry is the PAX header
	return b
}

// setTypeflag rewrites the type flag of a ustar header block and fixes its
// checksum (archive/tar will not write PAX headers by hand).
func setTypeflag(h []byte, flag byte) {
	h[156] = flag
	for i := 148; i < 156; i++ {
		h[i] = ' '
	}
	sum := 0
	for _, c := range h[:512] {
		sum += int(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
}

func TestWalkSparseBomb(t *testing.T) {
	repo := memRepo(t)
	raw := paxSparseTar(t, "holes", 16<<20)
	desc := push(t, repo, imagetest.Compress(imagetest.Gzip, raw))

	got, _, _, err := walkAll(t, repo, desc, imagefs.WalkOptions{})
	require.NoError(t, err, "a sparse file within the caps is read")
	require.Contains(t, got, "holes")
	assert.Equal(t, int64(16<<20), got["holes"].File.Size)
	assert.Equal(t, byte('Z'), got["holes"].Content[0])

	_, _, _, err = walkAll(t, repo, desc, imagefs.WalkOptions{MaxTotalBytes: 1 << 20})
	assert.ErrorIs(t, err, imagefs.ErrLimitExceeded, "sparse expansion counts against MaxTotalBytes")
}

// TestWalkDockerMediaTypes walks a Docker v2 schema 2 manifest with Docker
// layer media types, as pulled from Docker Hub.
func TestWalkDockerMediaTypes(t *testing.T) {
	m := mapFetcher{}
	l0 := m.add("application/vnd.docker.image.rootfs.diff.tar.gzip", gz(rawTar(t, entry("bin/sh", "sh"), entry("etc/issue", "Debian"))))
	l1 := m.add("application/vnd.docker.image.rootfs.diff.tar", rawTar(t, entry(".wh.etc", ""), entry("app", "a")))
	cfg := m.add("application/vnd.docker.container.image.v1+json", []byte("{}"))
	raw, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": registry.MediaTypeDockerManifest,
		"config": cfg, "layers": []ocispec.Descriptor{l0, l1},
	})
	require.NoError(t, err)
	desc := m.add(registry.MediaTypeDockerManifest, raw)
	got, _, _, err := walkAll(t, m, desc, imagefs.WalkOptions{})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"bin/sh", "app"}, slices.Collect(maps.Keys(got)))
}
