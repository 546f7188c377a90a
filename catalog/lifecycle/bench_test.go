package lifecycle_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/lifecycle"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// BenchmarkRun measures a lifecycle run over 200 golden images on a
// loopback registry with real notation signatures: the first run writes
// and signs one marker per image ("first"), later runs only read and
// verify markers ("steady", the daily cost), and a run that deprecates
// every image ("transition").
func BenchmarkRun(b *testing.B) {
	const n = 200
	ctx := context.Background()
	w := newWorld(b, registrytest.OCI)
	w.clock.Set(utc(2025, 1, 1, 0, 0, 0))
	store := catalog.NewMemoryStore()
	for i := range n {
		name := fmt.Sprintf("golden/library/img%03d", i)
		img := w.pushImage(name, uint64(i), nil, "1")
		w.catalogInto(store, name, img, "1")
	}
	r := w.runner(store, lifecycle.Config{Rules: []lifecycle.Rule{{Repository: "*/golden/library/*", EndOfLife: date(b, "2026-01-01")}}})
	step := func(name string, at time.Time, want string) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				w.clock.Set(at)
				p, sw, err := r.Run(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if want != "" && sw.Outcomes[want] != n {
					b.Fatalf("%s: %v (%d changes)", name, sw.Outcomes, len(p.Changes))
				}
				want = ""
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n)/1000, "ms/image")
		})
	}
	step("first", utc(2025, 6, 1, 0, 0, 0), "updated")
	step("steady", utc(2025, 6, 2, 0, 0, 0), "unchanged")
	step("transition", utc(2025, 11, 1, 0, 0, 0), "deprecated")
}
