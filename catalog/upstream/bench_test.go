package upstream_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/postgres"
	"github.com/cssc-go/cssc/catalog/sqlite"
	"github.com/cssc-go/cssc/catalog/upstream"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/internal/pgtest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// BenchmarkSweepUnchanged is one tracking sweep of 10,000 tracked tags
// (100 repositories of 100 tags) that did not move, against a loopback
// registry (cuelabs ociregistry), with the default batch and
// concurrency, on each store: the sweep record, the check jobs through
// the store's queue and leases, one HEAD per tag, one touch per batch,
// the sweep's close. It fails unless a sweep costs exactly 10,000 HEADs
// and no GET. Goal: under 10 s.
func BenchmarkSweepUnchanged(b *testing.B) {
	const repos, tags = 100, 100
	for _, kind := range []string{"memory", "sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			ctx := context.Background()
			var st stores
			switch kind {
			case "memory":
				st = memoryStores()
			case "sqlite":
				s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "catalog.db"), sqlite.Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				st = stores{s, s, s, s, s}
			case "postgres":
				s, err := postgres.Open(ctx, pgtest.New(b), postgres.Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				st = stores{s, s, s, s, s}
			}
			count := newCounter()
			src := registrytest.Start(b, registrytest.OCI, registrytest.Options{Middleware: count.middleware})
			img := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "app", Data: []byte("app")})}}
			manifest, config := img.Build()
			desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: manifest.Desc.Digest, Size: manifest.Desc.Size}
			clk := &clock{t: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
			for r := range repos {
				name := fmt.Sprintf("bench/app%03d", r)
				repo := src.Repository(b, name)
				for _, blob := range append([]imagetest.Blob{config}, img.Layers...) {
					if err := imagetest.PushBlob(ctx, repo, blob); err != nil {
						b.Fatal(err)
					}
				}
				pr := repo.(interface {
					PushReference(context.Context, ocispec.Descriptor, io.Reader, string) error
				})
				for i := range tags {
					tag := fmt.Sprintf("1.%d", i)
					if err := pr.PushReference(ctx, desc, bytes.NewReader(manifest.Data), tag); err != nil {
						b.Fatal(err)
					}
					tr := &catalog.Track{Golden: "registry.corp/golden/" + name, Tag: tag, Source: src.Location(name) + ":" + tag,
						SourceDigest: desc.Digest, GoldenDigest: desc.Digest, Observed: desc.Digest, State: catalog.TrackCurrent, Since: clk.Now()}
					if err := st.tracks.PutTrack(ctx, tr); err != nil {
						b.Fatal(err)
					}
				}
			}
			tracker, err := upstream.New(upstream.Options{
				Tracks: st.tracks, Queue: st.queue, Coordinator: st.coord, Sweeps: st.sweeps,
				Registry: registry.Options{PlainHTTP: []string{src.Host}},
				Acquirer: upstream.AcquirerFunc(func(context.Context, upstream.Request) (*upstream.Result, error) {
					b.Error("an unchanged tag was acquired")
					return &upstream.Result{Outcome: upstream.OutcomeError}, nil
				}),
				Interval: -1, Poll: 10 * time.Millisecond, Now: clk.Now,
			})
			if err != nil {
				b.Fatal(err)
			}
			count.take()
			sweeps := 0
			for b.Loop() {
				clk.Add(time.Hour)
				sw, err := tracker.Sweep(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := tracker.Drain(ctx); err != nil {
					b.Fatal(err)
				}
				got, err := st.sweeps.Sweep(ctx, sw.ID)
				if err != nil {
					b.Fatal(err)
				}
				if got.Outcomes["current"] != repos*tags {
					b.Fatalf("sweep outcomes %v, failures %v", got.Outcomes, got.Failures)
				}
				sweeps++
			}
			c := count.take()
			if c["HEAD manifests"] != repos*tags*sweeps || len(c) != 1 {
				b.Fatalf("requests of %d sweeps: %v; want %d HEAD manifests and nothing else", sweeps, c, repos*tags*sweeps)
			}
			b.ReportMetric(float64(c["HEAD manifests"])/float64(sweeps), "HEADs/op")
			b.ReportMetric(0, "GETs/op")
		})
	}
}
