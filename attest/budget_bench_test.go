package attest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
)

// bigSBOM returns an SPDX document of about size bytes, shaped as real
// ones are: packages with purls, licences, a source package and locations.
func bigSBOM(tb testing.TB, seed, size int) []byte {
	tb.Helper()
	gen := func(n int) []byte {
		doc := &sbom.Document{Name: fmt.Sprintf("publisher-%d", seed), Creators: []string{"Tool: syft-1.0"}}
		for i := range n {
			name := fmt.Sprintf("pkg-%d-%d", seed, i)
			doc.Packages = append(doc.Packages, sbom.Package{
				Name: name, Version: "1.2.3-r4", PURL: "pkg:npm/" + name + "@1.2.3-r4",
				Ecosystem: "npm", Licenses: []string{"MIT OR Apache-2.0"},
				Locations: []string{"/usr/lib/node_modules/" + name + "/package.json"},
			})
		}
		data, err := sbom.EncodeSPDX(doc, sbom.SPDXOptions{})
		if err != nil {
			tb.Fatal(err)
		}
		return data
	}
	perPackage := len(gen(1000)) / 1000
	return gen(size / perPackage)
}

// blob is one publisher metadata blob: artifact and layer type, and data.
type blob struct {
	artifactType, mediaType string
	data                    []byte
}

// repeated returns prefix, elem repeated (comma-separated) to about size
// bytes, and suffix.
func repeated(prefix, elem, suffix string, size int) []byte {
	var b bytes.Buffer
	b.Grow(size + len(prefix) + len(suffix))
	b.WriteString(prefix)
	b.WriteString(elem)
	for b.Len() < size {
		b.WriteByte(',')
		b.WriteString(elem)
	}
	b.WriteString(suffix)
	return b.Bytes()
}

const spdxHead = `{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"x","documentNamespace":"https://x","creationInfo":{"created":"2024-01-01T00:00:00Z","creators":["Tool: x"]},`

// statementOf wraps a predicate in an in-toto statement about d.
func statementOf(d digest.Digest, predicateType string, predicate []byte) []byte {
	return append(fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":%q}}],"predicateType":%q,"predicate":`, d.Encoded(), predicateType), append(predicate, '}')...)
}

// shapes are the publisher metadata of the budget benchmark: a realistic
// SBOM, and documents of the tiniest values in each form Discover parses.
var shapes = []struct {
	name string
	make func(tb testing.TB, subject digest.Digest, i, size int) blob
}{
	{"spdx", func(tb testing.TB, _ digest.Digest, i, size int) blob {
		return blob{artifact.TypeSPDX, artifact.MediaTypeSPDX, bigSBOM(tb, i, size)}
	}},
	{"spdx-empty-packages", func(_ testing.TB, _ digest.Digest, _, size int) blob {
		return blob{artifact.TypeSPDX, artifact.MediaTypeSPDX, repeated(spdxHead+`"packages":[`, `{}`, `]}`, size)}
	}},
	{"spdx-tiny-packages", func(_ testing.TB, _ digest.Digest, _, size int) blob {
		return blob{artifact.TypeSPDX, artifact.MediaTypeSPDX, repeated(spdxHead+`"packages":[`, `{"name":"a"}`, `]}`, size)}
	}},
	{"spdx-empty-relationships", func(_ testing.TB, _ digest.Digest, _, size int) blob {
		return blob{artifact.TypeSPDX, artifact.MediaTypeSPDX, repeated(spdxHead+`"relationships":[`, `{}`, `]}`, size)}
	}},
	{"cyclonedx-empty-components", func(_ testing.TB, _ digest.Digest, _, size int) blob {
		return blob{artifact.TypeCycloneDX, artifact.MediaTypeCycloneDX, repeated(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[`, `{}`, `]}`, size)}
	}},
	{"intoto-spdx-empty-packages", func(_ testing.TB, d digest.Digest, _, size int) blob {
		return blob{artifact.TypeInToto, artifact.MediaTypeInToto, statementOf(d, artifact.PredicateSPDX, repeated(spdxHead+`"packages":[`, `{}`, `]}`, size))}
	}},
	{"intoto-nested-arrays", func(_ testing.TB, d digest.Digest, _, size int) blob {
		return blob{artifact.TypeInToto, artifact.MediaTypeInToto, statementOf(d, artifact.PredicateSLSAProvenanceV1, repeated(`{"x":[`, `[]`, `]}`, size))}
	}},
	{"dsse-numbers", func(_ testing.TB, d digest.Digest, _, size int) blob {
		payload := statementOf(d, "https://example.com/p", repeated(`{"x":[`, `0`, `]}`, size*3/4))
		env := fmt.Appendf(nil, `{"payloadType":%q,"payload":%q,"signatures":[]}`, artifact.MediaTypeInToto, base64.StdEncoding.EncodeToString(payload))
		return blob{artifact.TypeInToto, artifact.MediaTypeDSSE, env}
	}},
}

// publisherMetadata pushes an image to an OCI layout directory (so that the
// repository's content is on disk, not in the heap being measured) with n
// publisher blobs of the shape, of about size bytes each.
func publisherMetadata(tb testing.TB, n, size int, shape func(testing.TB, digest.Digest, int, int) blob) (registry.Repository, ocispec.Descriptor) {
	tb.Helper()
	ctx := context.Background()
	repo, err := registry.NewClient(registry.Options{}).Repository(ctx, "oci:"+tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	img, err := imagetest.Image{}.Push(ctx, repo)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		b := shape(tb, img.Digest, i, size)
		if _, err := registry.Attach(ctx, repo, img, registry.Artifact{ArtifactType: b.artifactType, Created: time.Unix(int64(i), 0).UTC(),
			Blobs: []registry.Blob{{MediaType: b.mediaType, Data: b.data}}}); err != nil {
			tb.Fatal(err)
		}
	}
	return repo, img
}

// heapPeak samples the bytes of live and not yet swept heap objects every
// millisecond while fn runs and returns the highest value, above what the
// heap held before.
func heapPeak(fn func()) (peak uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(s); return s[0].Value.Uint64() }
	runtime.GC()
	base := read()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if v := read(); v > peak {
				peak = v
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(done)
	wg.Wait()
	if v := read(); v > peak {
		peak = v
	}
	if peak < base {
		return 0
	}
	return peak - base
}

// BenchmarkDiscoverBudget: a publisher attaches more metadata than the
// default budget (attest.DefaultMaxTotalBytes) allows: 32 realistic SPDX
// SBOMs of 15 MiB each (the case of issue 10 item 9: 1.7 GiB of heap and 65 s
// before there was a budget), and, in each form Discover parses, blobs of
// 4 MiB made of the tiniest JSON values (where parsers spend hundreds of
// bytes of heap per byte). Discover parses what fits, then fails with
// ErrBudgetExceeded. The peak-heap-MiB metric (heap objects above the
// baseline, sampled every millisecond) must stay under 256 MiB.
func BenchmarkDiscoverBudget(b *testing.B) {
	type benchCase struct {
		name    string
		size, n int
		shape   func(testing.TB, digest.Digest, int, int) blob
	}
	var cases []benchCase
	for _, sh := range shapes {
		if sh.name == "spdx" {
			// The hostile count, and realistic SBOMs up to the cap.
			cases = append(cases, benchCase{"spdx-32x15MiB", 15 << 20, 32, sh.make}, benchCase{"spdx-4MiB-to-the-cap", 4 << 20, 32, sh.make})
			continue
		}
		// Tiny values: blobs small enough that several fit.
		cases = append(cases, benchCase{sh.name + "-256KiB-to-the-cap", 256 << 10, 128, sh.make})
	}
	for _, c := range cases {
		size, n := c.size, c.n
		b.Run(c.name, func(b *testing.B) {
			repo, img := publisherMetadata(b, n, size, c.shape)
			ctx := context.Background()
			var peak uint64
			var used int
			b.ResetTimer()
			for b.Loop() {
				p := heapPeak(func() {
					md, err := attest.Discover(ctx, repo, img, nil)
					if !errors.Is(err, attest.ErrBudgetExceeded) {
						b.Fatalf("err %v, want the budget exceeded", err)
					}
					var be *attest.BudgetError
					errors.As(err, &be)
					used = int(be.Read)
					runtime.KeepAlive(md)
				})
				peak = max(peak, p)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(used)/(1<<20), "budget-used-MiB")
			if peak > 256<<20 {
				b.Errorf("peak heap %d MiB over 256 MiB", peak>>20)
			}
		})
	}
}
