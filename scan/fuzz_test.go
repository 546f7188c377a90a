package scan_test

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

	"github.com/cssc-go/cssc/scan"
	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
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
		opts := scan.WalkOptions{
			MaxTotalBytes: 1 << 20, MaxFiles: 1000,
			OnNotice: func(n scan.Notice) {
				if errors.Is(n.Reason, scan.ErrDuplicateEntry) {
					dups = true
				}
			},
		}
		err := scan.Walk(context.Background(), m, desc, opts, func(ctx context.Context, file *scan.File, r io.Reader) error {
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

// FuzzDecodeSARIF feeds arbitrary SARIF to DecodeSARIF and checks that
// what it accepts re-encodes to valid SARIF with the same findings.
func FuzzDecodeSARIF(f *testing.F) {
	r := sampleReport()
	good, _ := r.SARIF()
	f.Add(good)
	f.Add([]byte(`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"Trivy","rules":[{"id":"X","help":{"text":"Severity: LOW"}}]}},"results":[{"ruleId":"X","message":{"text":"m"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"a%zz"}}}]}]}]}`))
	f.Add([]byte(`{"version":"2.1.0","runs":[{"results":[{"ruleId":"A","properties":{"severity":"9.9","package":{"name":"p"}}}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := scan.DecodeSARIF(data)
		_ = scan.ValidateSARIF(data)
		if err != nil {
			return
		}
		if r.Tool.Name == "" {
			r.Tool.Name = "fuzz"
		}
		out, err := r.SARIF()
		if err != nil {
			return // e.g. a finding without an ID is refused on output
		}
		if err := scan.ValidateSARIF(out); err != nil {
			t.Fatalf("re-encoded SARIF is invalid: %v\n%s", err, out)
		}
		back, err := scan.DecodeSARIF(out)
		if err != nil {
			t.Fatalf("re-encoded SARIF does not decode: %v", err)
		}
		if len(back.Findings) != len(r.Findings) {
			t.Fatalf("findings %d -> %d", len(r.Findings), len(back.Findings))
		}
	})
}

// FuzzDecodeJSON checks that DecodeJSON never panics and that what it
// accepts marshals again.
func FuzzDecodeJSON(f *testing.F) {
	good, _ := json.Marshal(sampleReport())
	f.Add(good)
	f.Add([]byte(`{"findings":[{"severity":"moderate"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := scan.DecodeJSON(data)
		if err != nil {
			return
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("decoded report does not marshal: %v", err)
		}
	})
}
