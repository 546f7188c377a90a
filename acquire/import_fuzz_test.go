package acquire

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
)

const fuzzIndex = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
	`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0,"platform":{"os":"linux","architecture":"amd64"}},` +
	`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0,"platform":{"os":"linux","architecture":"arm64"},"x-extra":[1,2]}],` +
	`"annotations":{"a":"b"},"x-unknown":{"kept":true}}`

// FuzzSubsetIndex checks that rewriting any index the parser accepts keeps
// it a valid index with the kept entries and the import annotations.
func FuzzSubsetIndex(f *testing.F) {
	f.Add([]byte(fuzzIndex), uint8(1))
	f.Add([]byte(`{"manifests":[]}`), uint8(0))
	f.Add([]byte(`{"manifests":[{}],"annotations":null}`), uint8(3))
	f.Fuzz(func(t *testing.T, raw []byte, mask uint8) {
		m, err := manifest.Parse(ocispec.MediaTypeImageIndex, raw)
		if err != nil {
			return
		}
		keep := make([]bool, len(m.Manifests))
		want := 0
		for i := range keep {
			keep[i] = mask&(1<<(i%8)) != 0
			if keep[i] {
				want++
			}
		}
		src := digest.FromBytes(raw)
		out, err := subsetIndex(raw, keep, src, "linux/amd64")
		if err != nil {
			return // e.g. annotations that are not a string map
		}
		got, err := manifest.Parse(ocispec.MediaTypeImageIndex, out)
		if err != nil {
			t.Fatalf("rewritten index does not parse: %v\n%s", err, out)
		}
		if len(got.Manifests) != want {
			t.Fatalf("got %d entries, want %d", len(got.Manifests), want)
		}
		if got.Annotations[AnnotationSourceDigest] != src.String() || got.Annotations[AnnotationSourcePlatforms] != "linux/amd64" {
			t.Fatalf("annotations %v", got.Annotations)
		}
		if !json.Valid(out) {
			t.Fatal("invalid JSON")
		}
	})
}

// FuzzImportManifest imports whatever manifest or index a source serves:
// no panic, and either an error or a destination tag on the same digest.
func FuzzImportManifest(f *testing.F) {
	f.Add([]byte(fuzzIndex), true)
	f.Add([]byte(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`), false)
	f.Add([]byte(`{"manifests":[{"digest":"sha256:zz","size":-1}]}`), true)
	f.Fuzz(func(t *testing.T, raw []byte, index bool) {
		ctx := context.Background()
		client := registry.NewClient(registry.Options{MaxManifestBytes: 1 << 16})
		src, _ := client.Repository(ctx, "mem:src")
		dst, _ := client.Repository(ctx, "mem:dst")
		empty := ocispec.DescriptorEmptyJSON
		_ = src.Push(ctx, empty, bytes.NewReader(empty.Data))
		mt := ocispec.MediaTypeImageManifest
		if index {
			mt = ocispec.MediaTypeImageIndex
		}
		d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
		if err := src.Push(ctx, d, bytes.NewReader(raw)); err != nil {
			return
		}
		if err := src.Tag(ctx, d, "t"); err != nil {
			return
		}
		for _, platforms := range [][]string{nil, {"linux/amd64"}} {
			res, err := NewImporter(client, ImporterOptions{}).Import(ctx, "mem:src:t", dst, ImportOptions{Platforms: platforms})
			if err != nil {
				continue
			}
			got, err := dst.Resolve(ctx, "t")
			if err != nil || got.Digest != res.Descriptor.Digest {
				t.Fatalf("tag: %v %s, want %s", err, got.Digest, res.Descriptor.Digest)
			}
		}
	})
}
