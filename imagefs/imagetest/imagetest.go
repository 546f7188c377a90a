package imagetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// Epoch returns the fixed time stamped into layers and configs:
// 2024-01-01T00:00:00Z.
func Epoch() time.Time { return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) }

// File is one entry of a layer.
type File struct {
	Path     string // relative or absolute; written as given
	Data     []byte
	Mode     int64  // zero means 0644 for files, 0755 for directories
	Type     byte   // tar type flag; zero means tar.TypeReg
	Linkname string // for symlinks and hard links
}

// Dir returns a directory entry.
func Dir(path string) File { return File{Path: path, Type: tar.TypeDir} }

// Symlink returns a symbolic link entry.
func Symlink(path, target string) File {
	return File{Path: path, Type: tar.TypeSymlink, Linkname: target}
}

// Whiteout returns the whiteout entry that deletes path in lower layers.
func Whiteout(path string) File {
	dir, base := splitPath(path)
	return File{Path: dir + ".wh." + base}
}

// OpaqueWhiteout returns the entry that hides everything below dir in lower
// layers.
func OpaqueWhiteout(dir string) File {
	return File{Path: trimSlash(dir) + "/.wh..wh..opq"}
}

func splitPath(p string) (string, string) {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i+1], p[i+1:]
		}
	}
	return "", p
}

func trimSlash(p string) string {
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}

// Compression of a layer.
type Compression int

// Layer compressions.
const (
	Gzip Compression = iota
	Zstd
	Uncompressed
)

// Blob is content with its descriptor.
type Blob struct {
	Desc ocispec.Descriptor
	Data []byte
	// DiffID is the digest of the uncompressed layer (layers only).
	DiffID digest.Digest
}

// Tar returns the uncompressed tar stream of files.
func Tar(files ...File) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.Path, Typeflag: f.Type, Mode: f.Mode, Linkname: f.Linkname, ModTime: Epoch(), Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(fmt.Sprintf("imagetest: %v", err))
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(f.Data)
		}
	}
	tw.Close()
	return buf.Bytes()
}

// Layer returns a gzip-compressed tar layer of files.
func Layer(files ...File) Blob { return LayerWith(Gzip, files...) }

// LayerWith returns a tar layer of files compressed with c.
func LayerWith(c Compression, files ...File) Blob {
	return Compress(c, Tar(files...))
}

// Compress wraps an uncompressed tar stream as a layer compressed with c.
func Compress(c Compression, raw []byte) Blob {
	var data []byte
	mt := ocispec.MediaTypeImageLayer
	switch c {
	case Gzip:
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		zw.Write(raw)
		zw.Close()
		data, mt = buf.Bytes(), ocispec.MediaTypeImageLayerGzip
	case Zstd:
		enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
		data, mt = enc.EncodeAll(raw, nil), ocispec.MediaTypeImageLayerZstd
	default:
		data = raw
	}
	return Blob{Desc: Descriptor(mt, data), Data: data, DiffID: digest.FromBytes(raw)}
}

// Descriptor returns the descriptor of data with media type mt.
func Descriptor(mt string, data []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

// Random returns n deterministic pseudo-random (incompressible) bytes.
func Random(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n - n%8; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Image describes a single-platform image.
type Image struct {
	// Platform defaults to linux/amd64.
	Platform ocispec.Platform
	Layers   []Blob
	// Env, Cmd and Labels go into the config.
	Env         []string
	Cmd         []string
	Labels      map[string]string
	Annotations map[string]string // manifest annotations
}

// Build returns the image's manifest and config blobs.
func (img Image) Build() (manifest, config Blob) {
	p := img.Platform
	if p.OS == "" {
		p.OS = "linux"
	}
	if p.Architecture == "" {
		p.Architecture = "amd64"
	}
	created := Epoch()
	cfg := ocispec.Image{
		Created:  &created,
		Platform: p,
		Config:   ocispec.ImageConfig{Env: img.Env, Cmd: img.Cmd, Labels: img.Labels},
		RootFS:   ocispec.RootFS{Type: "layers"},
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Annotations: img.Annotations}
	for _, l := range img.Layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
		m.Layers = append(m.Layers, l.Desc)
	}
	cfgRaw, _ := json.Marshal(cfg)
	config = Blob{Desc: Descriptor(ocispec.MediaTypeImageConfig, cfgRaw), Data: cfgRaw}
	m.Config = config.Desc
	if m.Layers == nil {
		m.Layers = []ocispec.Descriptor{}
	}
	raw, _ := json.Marshal(m)
	manifest = Blob{Desc: Descriptor(ocispec.MediaTypeImageManifest, raw), Data: raw}
	manifest.Desc.Platform = &p
	return manifest, config
}

// Push pushes the image's layers, config and manifest to target and returns
// the manifest descriptor (with Platform set). Content present already is
// skipped.
func (img Image) Push(ctx context.Context, target content.Pusher) (ocispec.Descriptor, error) {
	manifest, config := img.Build()
	for _, b := range append(append([]Blob{}, img.Layers...), config, manifest) {
		if err := PushBlob(ctx, target, b); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	return manifest.Desc, nil
}

// PushBlob pushes b unless it exists.
func PushBlob(ctx context.Context, target content.Pusher, b Blob) error {
	if s, ok := target.(content.ReadOnlyStorage); ok {
		if ok, err := s.Exists(ctx, b.Desc); err == nil && ok {
			return nil
		}
	}
	err := target.Push(ctx, b.Desc, bytes.NewReader(b.Data))
	if err != nil && !isAlreadyExists(err) {
		return fmt.Errorf("imagetest: push %s: %w", b.Desc.Digest, err)
	}
	return nil
}

func isAlreadyExists(err error) bool {
	return errors.Is(err, errdef.ErrAlreadyExists) || err != nil && strings.Contains(err.Error(), "already exists")
}

// BuildIndex returns an image index over manifests (whose descriptors should
// carry Platform).
func BuildIndex(annotations map[string]string, manifests ...ocispec.Descriptor) Blob {
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests, Annotations: annotations}
	raw, _ := json.Marshal(idx)
	return Blob{Desc: Descriptor(ocispec.MediaTypeImageIndex, raw), Data: raw}
}

// PushIndex pushes an index over manifests (already pushed) and returns its
// descriptor.
func PushIndex(ctx context.Context, target content.Pusher, manifests ...ocispec.Descriptor) (ocispec.Descriptor, error) {
	b := BuildIndex(nil, manifests...)
	return b.Desc, PushBlob(ctx, target, b)
}
