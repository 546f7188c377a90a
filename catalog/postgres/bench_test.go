package postgres_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
	"github.com/cssc-go/cssc/catalog/postgres"
	"github.com/cssc-go/cssc/internal/pgtest"
)

// Benchmark sizes; CSSC_BENCH_ENTRIES and CSSC_BENCH_IMAGES shrink them
// while iterating.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// benchStore is a store filled once per test binary and size.
type benchStore struct {
	once  sync.Once
	s     *postgres.Store
	err   error
	load  time.Duration
	count int
	dsn   string
	heap  float64 // MiB of Go heap of a store's index
}

// heapInUse returns the live Go heap, after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// measureIndex opens a second store on the database and records the heap
// its index takes and the time it takes to open.
func (bs *benchStore) measureIndex(b *testing.B) {
	before := heapInUse()
	start := time.Now()
	s, err := postgres.Open(context.Background(), bs.dsn, postgres.Options{MaxConns: 2})
	if err != nil {
		bs.err = err
		return
	}
	opened := time.Since(start)
	bs.heap = float64(heapInUse()-before) / (1 << 20)
	s.Close()
	b.Logf("a store opens (index loaded) in %v; its index takes %.1f MiB of heap", opened.Round(time.Millisecond), bs.heap)
}

var (
	searchStore  benchStore
	reverseStore benchStore
)

// fill loads n entries of corpus shape o (in chunks of 1,000 with their
// own seeds, so that memory stays small) with 4 writers.
func (bs *benchStore) fill(b *testing.B, n int, o catalogtest.CorpusOptions) *postgres.Store {
	bs.once.Do(func() {
		// The server is shared by the test binary; the store outlives the
		// benchmark function that fills it, so it is not closed here.
		srv := pgtest.Shared(b)
		// A server reached through pgtest.EnvAdminDSN keeps the database,
		// so that a later run with the same sizes skips the load.
		ctx := context.Background()
		name := fmt.Sprintf("cssc_bench_%d_%d_%d", n, o.Packages, o.PackagePool)
		dsn := srv.DSN(name)
		bs.dsn = dsn
		_, err := srv.CreateDatabase(ctx, name, "")
		exists := err != nil && strings.Contains(err.Error(), "already exists")
		if err != nil && !exists {
			bs.err = err
			return
		}
		s, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: 8})
		if err != nil {
			bs.err = err
			return
		}
		bs.s = s
		if exists {
			res, err := s.Search(ctx, catalog.Query{Limit: 1})
			if err == nil && res.Total == n {
				b.Logf("reusing database %s with %d entries", name, n)
				bs.measureIndex(b)
				return
			}
			bs.err = fmt.Errorf("database %s exists with %d entries, want %d (%v)", name, res.Total, n, err)
			return
		}
		start := time.Now()
		const chunk = 1000
		for c := 0; c*chunk < n; c++ {
			o.Seed, o.Entries = uint64(1000+c), min(chunk, n-c*chunk)
			entries := catalogtest.Corpus(o)
			work := make(chan *catalog.Entry)
			var wg sync.WaitGroup
			var mu sync.Mutex
			for range 4 {
				wg.Go(func() {
					for e := range work {
						if err := s.Put(context.Background(), e); err != nil {
							mu.Lock()
							bs.err = err
							mu.Unlock()
						}
					}
				})
			}
			for _, e := range entries {
				work <- e
			}
			close(work)
			wg.Wait()
			if bs.err != nil {
				return
			}
			bs.count += len(entries)
		}
		bs.load = time.Since(start)
		b.Logf("loaded %d entries (%d packages per child) in %v (%.0f entries/s)", n, o.Packages, bs.load.Round(time.Millisecond), float64(n)/bs.load.Seconds())
		// What autovacuum would do soon after a bulk load: statistics for
		// the planner, and the visibility map for index-only scans.
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			bs.err = err
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "VACUUM ANALYZE"); err != nil {
			bs.err = err
			return
		}
		bs.measureIndex(b)
	})
	require.NoError(b, bs.err)
	return bs.s
}

type benchQuery struct {
	name string
	q    catalog.Query
}

// measure runs q b.N times and reports the latency percentiles and the
// number of matches.
func measure(b *testing.B, bs *benchStore, q catalog.Query) {
	s := bs.s
	ctx := context.Background()
	q.Now = catalogtest.Now()
	res, err := s.Search(ctx, q) // warm up, and the match count
	require.NoError(b, err)
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := s.Search(ctx, q); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(durations)
	pct := func(p float64) float64 {
		i := min(len(durations)-1, int(float64(len(durations))*p))
		return float64(durations[i].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(res.Total), "matches")
	b.ReportMetric(bs.heap, "index-MiB")
}

// BenchmarkSearch: every query class over 100,000 entries (the corpus of
// catalogtest: 12 packages per platform image), with facets, a page of 50.
func BenchmarkSearch(b *testing.B) {
	n := envInt("CSSC_BENCH_ENTRIES", 100_000)
	s := searchStore.fill(b, n, catalogtest.CorpusOptions{})
	bs := &searchStore
	classes := searchClasses(n)
	for _, facets := range []bool{false, true} {
		for _, c := range classes {
			b.Run(fmt.Sprintf("%s/facets=%v", c.name, facets), func(b *testing.B) {
				q := c.q
				q.Facets = facets
				measure(b, bs, q)
			})
		}
	}
	// A deep page: the cursor after the 50,000th entry.
	b.Run("page-deep", func(b *testing.B) {
		q := catalog.Query{Limit: catalog.MaxLimit}
		for range min(50, n/catalog.MaxLimit) {
			res, err := s.Search(context.Background(), q)
			require.NoError(b, err)
			q.Cursor = res.Next
		}
		q.Limit = 50
		measure(b, bs, q)
	})
}

// BenchmarkSearchAccess measures what access filtering adds to search:
// every class of BenchmarkSearch, with facets, mixed, each query run
// twice per iteration (which first alternates): as a caller inside the
// service and as an outsider from whom one rule hides a fifth of the
// entries ("**/payments/*"). It reports both percentiles and the p99
// ratio (outsider / inside).
func BenchmarkSearchAccess(b *testing.B) {
	n := envInt("CSSC_BENCH_ENTRIES", 100_000)
	s := searchStore.fill(b, n, catalogtest.CorpusOptions{})
	policy, err := catalog.NewAccessPolicy([]catalog.AccessRule{
		{Name: "payments", Repositories: []string{"**/payments/*"}, Level: "licensed", Groups: []string{"payments"}},
	})
	require.NoError(b, err)
	outsider := policy.For()
	classes := searchClasses(n)
	ctx := context.Background()
	var open, hidden []time.Duration
	b.ResetTimer()
	for i := range b.N {
		q := classes[i%len(classes)].q
		q.Facets, q.Now = true, catalogtest.Now()
		for k := range 2 {
			qq := q
			if (i/len(classes)+k)%2 == 1 {
				qq.Visibility = outsider
			}
			t0 := time.Now()
			if _, err := s.Search(ctx, qq); err != nil {
				b.Fatal(err)
			}
			if qq.Visibility != nil {
				hidden = append(hidden, time.Since(t0))
			} else {
				open = append(open, time.Since(t0))
			}
		}
	}
	b.StopTimer()
	pct := func(lat []time.Duration, p float64) float64 {
		slices.Sort(lat)
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(open, 0.50), "p50-ms")
	b.ReportMetric(pct(open, 0.99), "p99-ms")
	b.ReportMetric(pct(hidden, 0.50), "outsider-p50-ms")
	b.ReportMetric(pct(hidden, 0.99), "outsider-p99-ms")
	b.ReportMetric(pct(hidden, 0.99)/pct(open, 0.99), "p99-ratio")
}

// searchClasses are BenchmarkSearch's query classes over n entries.
func searchClasses(n int) []benchQuery {
	return []benchQuery{
		{"all", catalog.Query{}},
		{"text-rare", catalog.Query{Text: "pkg123-util"}},
		{"text-common", catalog.Query{Text: "ssl"}},
		{"text-two-words", catalog.Query{Text: "payments pkg042"}},
		{"text-short", catalog.Query{Text: "v7"}},
		{"text-cve", catalog.Query{Text: "cve-2024-0042"}},
		{"repository-prefix", catalog.Query{Repository: "registry.corp/golden/search/"}},
		{"digest", catalog.Query{Digest: catalogtest.Digest(fmt.Sprintf("entry-%d-%d", 1000+(n-1)/1000, (n-1)%1000))}},
		{"tag", catalog.Query{Tag: "latest"}},
		{"facets-narrow", catalog.Query{Status: catalog.StatusDeprecated, Platform: "linux/arm64", MaxSeverity: catalog.SeverityHigh, Owner: "team-search"}},
		{"severity-fixable", catalog.Query{MaxSeverity: catalog.SeverityMedium, Fixable: true}},
		{"label", catalog.Query{Label: "pci=true"}},
		{"signer-untrusted", catalog.Query{Signer: "C=US, ST=WA, O=Corp, CN=Corp Legacy Signing", Trusted: new(false)}},
		{"package", catalog.Query{Package: &catalog.PackageQuery{Name: "pkg007-core"}}},
		{"package-range", catalog.Query{Package: &catalog.PackageQuery{Name: "pkg007-core", Range: ">= 2.3.0, < 2.5.0"}}},
		{"cve", catalog.Query{Vulnerability: "CVE-2024-0042"}},
		{"license", catalog.Query{License: "MPL-2.0"}},
		{"eol-30d", catalog.Query{EndOfLifeBefore: catalogtest.Now().Add(30 * 24 * time.Hour), EndOfLifeAfter: catalogtest.Now()}},
	}
}

// BenchmarkReverse: reverse queries over 10,000 images of 200 packages per
// platform image (indexes have two or three), with facets.
func BenchmarkReverse(b *testing.B) {
	n := envInt("CSSC_BENCH_IMAGES", 10_000)
	reverseStore.fill(b, n, catalogtest.CorpusOptions{Packages: 200, PackagePool: 2000})
	bs := &reverseStore
	for _, c := range []benchQuery{
		{"package", catalog.Query{Package: &catalog.PackageQuery{Name: catalogtest.PackageName(7)}}},
		{"package-range", catalog.Query{Package: &catalog.PackageQuery{Name: catalogtest.PackageName(7), Range: ">= 2.3.0, < 2.5.0"}}},
		{"source-package", catalog.Query{Package: &catalog.PackageQuery{Name: "src001"}}},
		{"package-ecosystem", catalog.Query{Package: &catalog.PackageQuery{Name: catalogtest.PackageName(12), Ecosystem: "Debian"}}},
		{"cve", catalog.Query{Vulnerability: "CVE-2024-0042"}},
		{"license", catalog.Query{License: "MPL-2.0"}},
		{"eol-30d", catalog.Query{EndOfLifeBefore: catalogtest.Now().Add(30 * 24 * time.Hour), EndOfLifeAfter: catalogtest.Now()}},
		{"eol-past", catalog.Query{EndOfLifeBefore: catalogtest.Now()}},
	} {
		for _, facets := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/facets=%v", c.name, facets), func(b *testing.B) {
				q := c.q
				q.Facets = facets
				measure(b, bs, q)
			})
		}
	}
}

// BenchmarkPut: writing entries of 12 packages per platform image into a
// store of a few thousand.
func BenchmarkPut(b *testing.B) {
	s := open(b, pgtest.New(b))
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 77, Entries: 2000})
	b.ResetTimer()
	for i := range b.N {
		if err := s.Put(context.Background(), entries[i%len(entries)]); err != nil {
			b.Fatal(err)
		}
	}
}
