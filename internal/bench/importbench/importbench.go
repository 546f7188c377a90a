// Package importbench holds the import benchmark (BenchmarkImport) and
// the registries it runs against; see bench/import.sh and bench/README.md.
package importbench

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"

	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// Handler returns the HTTP handler of a fresh registry of kind:
// "distribution-fs" (distribution v3, filesystem driver under dir/name, or
// under a temporary directory when dir is empty; its removal is appended to
// cleanup), "distribution-mem" (in-memory driver) or "ociregistry"
// (cuelabs, in memory).
func Handler(kind, dir, name string, cleanup *[]func()) (http.Handler, error) {
	switch kind {
	case "ociregistry":
		return registrytest.NewHandler(registrytest.OCI)
	case "distribution-mem":
		return registrytest.NewHandler(registrytest.Distribution)
	case "distribution-fs":
		root := dir
		if root == "" {
			d, err := os.MkdirTemp("", "benchregistry-")
			if err != nil {
				return nil, err
			}
			*cleanup = append(*cleanup, func() { os.RemoveAll(d) })
			root = d
		}
		root += "/" + strings.ToLower(name)
		logrus.SetOutput(io.Discard)
		cfg := &configuration.Configuration{
			Storage: configuration.Storage{
				"filesystem":  configuration.Parameters{"rootdirectory": root},
				"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
			},
		}
		cfg.Log.Level = "error"
		return handlers.NewApp(context.Background(), cfg), nil
	}
	return nil, fmt.Errorf("unknown kind %q", kind)
}

// random returns a reader of n pseudo-random bytes from seed.
func random(seed uint64, n int64) io.Reader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	return io.LimitReader(rand.NewChaCha8(key), n)
}

// Seed pushes an image of random, incompressible layers of the given
// sizes, tagged tag; image varies the content. Layers are generated twice
// (once to hash, once to push), never held in memory.
func Seed(ctx context.Context, repo registry.Repository, tag string, image uint64, sizes []int64) error {
	var layers []ocispec.Descriptor
	var diffIDs []digest.Digest
	for i, size := range sizes {
		s := image<<32 | uint64(i)
		h := sha256.New()
		if _, err := io.Copy(h, random(s, size)); err != nil {
			return err
		}
		d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.NewDigest(digest.SHA256, h), Size: size}
		if err := repo.Push(ctx, d, random(s, size)); err != nil {
			return fmt.Errorf("push layer %d: %w", i, err)
		}
		layers = append(layers, d)
		diffIDs = append(diffIDs, d.Digest)
	}
	cfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs}})
	cfgDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))}
	if err := repo.Push(ctx, cfgDesc, strings.NewReader(string(cfg))); err != nil {
		return err
	}
	m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: layers})
	md := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(m), Size: int64(len(m))}
	if err := repo.Push(ctx, md, strings.NewReader(string(m))); err != nil {
		return err
	}
	return repo.Tag(ctx, md, tag)
}
