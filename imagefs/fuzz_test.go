package imagefs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/imagefs"
)

// mapFetcher serves blobs from memory.
type mapFetcher map[digest.Digest][]byte

func (m mapFetcher) Fetch(_ context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	b, ok := m[d.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: not found", d.Digest)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m mapFetcher) add(mt string, b []byte) ocispec.Descriptor {
	d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(b), Size: int64(len(b))}
	m[d.Digest] = b
	return d
}

// image stores layers and a manifest over them.
func (m mapFetcher) image(layers []ocispec.Descriptor) ocispec.Descriptor {
	cfg := m.add(ocispec.MediaTypeImageConfig, []byte("{}"))
	raw, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: layers})
	return m.add(ocispec.MediaTypeImageManifest, raw)
}

var fuzzParts = []string{"a", "b", "..", ".", "", ".wh.a", ".wh..wh..opq", ".wh.b", "c d", "dir", "x/../..", "wh", ".wh..wh.plnk"}
var fuzzTypes = []byte{tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo, tar.TypeReg, tar.TypeDir, 'Z'}

// genLayers turns fuzz bytes into up to 4 tar layers of hostile-looking
// entries: traversal, absolute paths, whiteouts, opaque markers, links,
// devices, duplicates.
func genLayers(data []byte) [][]byte {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b)
	}
	name := func() string {
		var parts []string
		switch next() % 4 {
		case 1:
			parts = append(parts, "")
		case 2:
			parts = append(parts, ".")
		}
		for range 1 + next()%3 {
			parts = append(parts, fuzzParts[next()%len(fuzzParts)])
		}
		return strings.Join(parts, "/")
	}
	var layers [][]byte
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for len(data) > 0 && len(layers) < 4 {
		op := next()
		if op == 0xff {
			tw.Close()
			layers = append(layers, bytes.Clone(buf.Bytes()))
			buf.Reset()
			tw = tar.NewWriter(&buf)
			continue
		}
		h := &tar.Header{Name: name(), Typeflag: fuzzTypes[op%len(fuzzTypes)], Mode: 0o644, Format: tar.FormatPAX}
		var body []byte
		switch h.Typeflag {
		case tar.TypeReg:
			body = bytes.Repeat([]byte{byte(op)}, next()%64)
			h.Size = int64(len(body))
		case tar.TypeSymlink, tar.TypeLink:
			h.Linkname = name()
		}
		if h.Name == "" {
			h.Name = "."
		}
		if tw.WriteHeader(h) != nil {
			continue
		}
		tw.Write(body)
	}
	tw.Close()
	return append(layers, buf.Bytes())
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// FuzzWalk walks generated hostile layers (and raw bytes as a layer) and
// checks the walk's invariants: no panic, every path clean and inside the
// root, no whiteout visited, regular files delivered with their size, and
// no path visited twice unless a duplicate was reported.
func FuzzWalk(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 3, 0xff, 1, 1, 5, 6})
	f.Add([]byte{3, 1, 2, 2, 9, 4, 0xff, 0, 1, 1, 0, 0, 0})
	f.Add([]byte{1, 0, 0, 1, 6, 0xff, 0, 0, 0, 9, 9, 9})
	f.Add(bytes.Repeat([]byte{7, 3, 1, 2}, 40))
	f.Add([]byte("raw: not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := mapFetcher{}
		var descs []ocispec.Descriptor
		if bytes.HasPrefix(data, []byte("raw:")) {
			descs = append(descs, m.add(ocispec.MediaTypeImageLayer, data[4:]))
		} else {
			for i, l := range genLayers(data) {
				if i%2 == 0 {
					descs = append(descs, m.add(ocispec.MediaTypeImageLayerGzip, gz(l)))
				} else {
					descs = append(descs, m.add(ocispec.MediaTypeImageLayer, l))
				}
			}
		}
		desc := m.image(descs)
		seen := map[string]int{}
		dups := false
		opts := imagefs.WalkOptions{
			MaxTotalBytes: 1 << 20, MaxFiles: 1000,
			OnNotice: func(n imagefs.Notice) {
				if errors.Is(n.Reason, imagefs.ErrDuplicateEntry) {
					dups = true
				}
			},
		}
		err := imagefs.Walk(context.Background(), m, desc, opts, func(ctx context.Context, file *imagefs.File, r io.Reader) error {
			p := file.Path
			if p == "" || p == "." || strings.HasPrefix(p, "/") || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") {
				t.Fatalf("unclean path %q", p)
			}
			if strings.HasPrefix(path.Base(p), ".wh.") {
				t.Fatalf("whiteout visited: %q", p)
			}
			seen[p]++
			n, err := io.Copy(io.Discard, r)
			if err != nil {
				return err
			}
			if file.Mode.IsRegular() && !file.Hardlink && n != file.Size {
				t.Fatalf("%s: read %d bytes, size %d", p, n, file.Size)
			}
			if !file.Mode.IsRegular() && n != 0 {
				t.Fatalf("%s: non-regular file with content", p)
			}
			return nil
		})
		if err != nil {
			return
		}
		if !dups {
			for p, n := range seen {
				if n > 1 {
					t.Fatalf("%q visited %d times without a duplicate entry", p, n)
				}
			}
		}
	})
}
