package sqlite_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
	"github.com/cssc-go/cssc/catalog/sqlite"
)

// benchDB builds (once per process) a store of n generated entries and
// returns it. The database lives in a temporary directory removed when the
// process ends.
// benchDir, if set with -catalog.benchdir, keeps the benchmark databases
// between runs (they take minutes to build); by default they are built in
// a temporary directory and removed.
var keepDir = flag.String("catalog.benchdir", "", "directory that keeps the benchmark databases between runs")

var (
	benchMu   sync.Mutex
	benchDBs  = map[string]*sqlite.Store{}
	benchHeap = map[*sqlite.Store]float64{} // MiB of Go heap the store holds (its search index)
	benchDir  string
)

// heapInUse returns the live Go heap, after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, s := range benchDBs {
		s.Close()
	}
	if benchDir != "" && *keepDir == "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

func benchStore(b *testing.B, o catalogtest.CorpusOptions) *sqlite.Store {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	return benchStoreLocked(b, o)
}

func benchStoreLocked(b *testing.B, o catalogtest.CorpusOptions) *sqlite.Store {
	key := fmt.Sprintf("%d-%d-%d-%d", o.Seed, o.Entries, o.Packages, o.PackagePool)
	if s, ok := benchDBs[key]; ok {
		return s
	}
	if benchDir == "" && *keepDir != "" {
		if err := os.MkdirAll(*keepDir, 0o755); err != nil {
			b.Fatal(err)
		}
		benchDir = *keepDir
	}
	if benchDir == "" {
		d, err := os.MkdirTemp("", "catalog-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = d
	}
	ctx := context.Background()
	file := filepath.Join(benchDir, key+".db")
	_, statErr := os.Stat(file)
	start := time.Now()
	s, err := sqlite.Open(ctx, file, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if statErr == nil {
		b.Logf("opened %s (index loaded) in %s", file, time.Since(start).Round(time.Millisecond))
		benchDBs[key] = s
		// The heap of the index: a second store on the file loads its own.
		before := heapInUse()
		start = time.Now()
		s2, err := sqlite.Open(ctx, file, sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		loaded := time.Since(start)
		benchHeap[s] = float64(heapInUse()-before) / (1 << 20)
		s2.Close()
		b.Logf("index of %s: %.1f MiB of heap, loaded in %s", key, benchHeap[s], loaded.Round(time.Millisecond))
		return s
	}
	const batch = 1000
	for i := 0; i < o.Entries; i += batch {
		c := o
		c.Seed, c.Entries = o.Seed*1_000_000+uint64(i), min(batch, o.Entries-i)
		if err := s.PutAll(ctx, catalogtest.Corpus(c)); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("built %d entries (%d packages each, pool %d) in %s", o.Entries, o.Packages, o.PackagePool, time.Since(start).Round(time.Second))
	s.Close()
	delete(benchDBs, key)
	return benchStoreLocked(b, o) // measured as a reopened database
}

// runClass runs the queries of one class round-robin, b.N times, and
// reports the latency percentiles and the mean number of matches.
func runClass(b *testing.B, s catalog.Store, queries []catalog.Query) {
	b.Helper()
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	total := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := queries[i%len(queries)]
		t0 := time.Now()
		res, err := s.Search(ctx, q)
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		total += res.Total
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(total)/float64(b.N), "matches")
	if h, ok := benchHeap[s.(*sqlite.Store)]; ok {
		b.ReportMetric(h, "index-MiB")
	}
}

// BenchmarkSearch measures each query class on 100,000 entries (20
// packages per platform from a pool of 5,000, up to 5 findings from 300
// CVEs, 4 platforms, 7 licences), with facets, first page of 50. Run with
// -benchtime=300x for stable percentiles.
func BenchmarkSearch(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 100,000-entry database")
	}
	s := benchStore(b, catalogtest.CorpusOptions{Seed: 1, Entries: 100000, Packages: 20, PackagePool: 5000})
	now := catalogtest.Now()
	for _, c := range searchClasses(now) {
		b.Run(c.name, func(b *testing.B) {
			qs := make([]catalog.Query, 64)
			for i := range qs {
				qs[i] = c.gen(i)
				qs[i].Facets, qs[i].Now = true, now
			}
			runClass(b, s, qs)
		})
	}
}

type searchClass struct {
	name string
	gen  func(i int) catalog.Query
}

// searchClasses are the query classes of BenchmarkSearch.
func searchClasses(now time.Time) []searchClass {
	return []searchClass{
		{"text-package", func(i int) catalog.Query { return catalog.Query{Text: catalogtest.PackageName(i * 37 % 5000)} }},
		{"text-cve", func(i int) catalog.Query { return catalog.Query{Text: fmt.Sprintf("CVE-2024-%04d", i*7%300)} }},
		{"text-repository", func(i int) catalog.Query {
			return catalog.Query{Text: fmt.Sprintf("%s/app%02d", []string{"payments", "search", "platform", "data", "web"}[i%5], i%40)}
		}},
		{"text-two-words", func(i int) catalog.Query {
			return catalog.Query{Text: fmt.Sprintf("app%02d %s", i%40, catalogtest.PackageName(i * 13 % 5000)[:6])}
		}},
		{"facets-filter", func(i int) catalog.Query {
			return catalog.Query{Platform: []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x"}[i%4],
				Status: catalog.StatusActive, MaxSeverity: catalog.SeverityHigh, Owner: "team-" + []string{"payments", "search", "platform", "data", "web"}[i%5]}
		}},
		{"cve", func(i int) catalog.Query { return catalog.Query{Vulnerability: fmt.Sprintf("CVE-2024-%04d", i*11%300)} }},
		{"license", func(i int) catalog.Query {
			return catalog.Query{License: []string{"MIT", "Apache-2.0", "GPL-2.0-only", "BSD-3-Clause", "LGPL-2.1-or-later", "MPL-2.0", "ISC"}[i%7], Repository: "registry.corp/golden/"}
		}},
		{"end-of-life-30d", func(i int) catalog.Query {
			return catalog.Query{EndOfLifeAfter: now.Add(time.Duration(i%10) * 24 * time.Hour), EndOfLifeBefore: now.Add(time.Duration(30+i%10) * 24 * time.Hour)}
		}},
		{"package-range", func(i int) catalog.Query {
			return catalog.Query{Package: &catalog.PackageQuery{Name: catalogtest.PackageName(i * 53 % 5000), Range: ">= 1.2.0, < 3.0.0"}}
		}},
		{"browse-all", func(i int) catalog.Query { return catalog.Query{} }},
	}
}

// BenchmarkSearchAccess measures what access filtering adds to search:
// each query of BenchmarkSearch's classes runs twice per iteration, as a
// caller inside the service (no visibility) and as an outsider from whom
// a rule hides one team's images under every registry ("**/payments/*",
// a fifth of the 100,000 entries), with facets. It reports p50 and p99 of
// both and their ratio (outsider / inside). Run with -benchtime=300x.
func BenchmarkSearchAccess(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 100,000-entry database")
	}
	s := benchStore(b, catalogtest.CorpusOptions{Seed: 1, Entries: 100000, Packages: 20, PackagePool: 5000})
	now := catalogtest.Now()
	policy, err := catalog.NewAccessPolicy([]catalog.AccessRule{
		{Name: "payments", Repositories: []string{"**/payments/*"}, Level: "licensed", Groups: []string{"payments"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	outsider := policy.For()
	ctx := context.Background()
	base := searchClasses(now)
	// "all-classes" mixes every class's queries: the search p99 over the
	// whole workload.
	classes := append(slices.Clone(base), searchClass{"all-classes", func(i int) catalog.Query {
		return base[i%len(base)].gen(i / len(base))
	}})
	for _, c := range classes {
		b.Run(c.name, func(b *testing.B) {
			qs := make([]catalog.Query, 64)
			if c.name == "all-classes" {
				qs = make([]catalog.Query, 64*len(base))
			}
			for i := range qs {
				qs[i] = c.gen(i)
				qs[i].Facets, qs[i].Now = true, now
			}
			var open, hidden []time.Duration
			seen, total := 0, 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				q := qs[i%len(qs)]
				// Alternate which runs first, so that neither gains from
				// the other's warm caches.
				for k := range 2 {
					qq := q
					if (i+k)%2 == 1 {
						qq.Visibility = outsider
					}
					t0 := time.Now()
					res, err := s.Search(ctx, qq)
					d := time.Since(t0)
					if err != nil {
						b.Fatal(err)
					}
					if qq.Visibility != nil {
						hidden = append(hidden, d)
						seen += res.Total
					} else {
						open = append(open, d)
						total += res.Total
					}
				}
			}
			b.StopTimer()
			pct := func(lat []time.Duration, p float64) float64 {
				slices.Sort(lat)
				return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
			}
			o50, o99, h50, h99 := pct(open, 0.50), pct(open, 0.99), pct(hidden, 0.50), pct(hidden, 0.99)
			b.ReportMetric(o50, "p50-ms")
			b.ReportMetric(o99, "p99-ms")
			b.ReportMetric(h50, "outsider-p50-ms")
			b.ReportMetric(h99, "outsider-p99-ms")
			b.ReportMetric(h99/o99, "p99-ratio")
			b.ReportMetric(float64(total)/float64(b.N), "matches")
			b.ReportMetric(float64(seen)/float64(b.N), "outsider-matches")
		})
	}
}

// BenchmarkReverse measures reverse queries on 10,000 images with 200
// packages each (2,000,000 component rows), with facets, first page.
func BenchmarkReverse(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 10,000-image database")
	}
	s := benchStore(b, catalogtest.CorpusOptions{Seed: 2, Entries: 10000, Packages: 200, PackagePool: 2000})
	now := catalogtest.Now()
	for _, c := range []struct {
		name string
		gen  func(i int) catalog.Query
	}{
		{"package-any", func(i int) catalog.Query {
			return catalog.Query{Package: &catalog.PackageQuery{Name: catalogtest.PackageName(i * 31 % 2000)}}
		}},
		{"package-range", func(i int) catalog.Query {
			return catalog.Query{Package: &catalog.PackageQuery{Name: catalogtest.PackageName(i * 31 % 2000), Range: ">= 1.3.0, < 2.5.0"}}
		}},
		{"cve", func(i int) catalog.Query { return catalog.Query{Vulnerability: fmt.Sprintf("CVE-2024-%04d", i*11%300)} }},
		{"license", func(i int) catalog.Query {
			return catalog.Query{License: []string{"MIT", "Apache-2.0", "GPL-2.0-only", "BSD-3-Clause", "LGPL-2.1-or-later", "MPL-2.0", "ISC"}[i%7]}
		}},
		{"end-of-life-window", func(i int) catalog.Query {
			return catalog.Query{EndOfLifeBefore: now.Add(time.Duration(30+i%60) * 24 * time.Hour)}
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			qs := make([]catalog.Query, 64)
			for i := range qs {
				qs[i] = c.gen(i)
				qs[i].Facets, qs[i].Now = true, now
			}
			runClass(b, s, qs)
		})
	}
}
