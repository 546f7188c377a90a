package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
	"github.com/cssc-go/cssc/catalog/postgres"
	"github.com/cssc-go/cssc/catalog/server"
	"github.com/cssc-go/cssc/catalog/server/internal/demodata"
	"github.com/cssc-go/cssc/catalog/sqlite"
	"github.com/cssc-go/cssc/internal/pgtest"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// benchEntries is the catalog size of the portal benchmarks:
// CSSC_BENCH_ENTRIES, default 100,000.
func benchEntries(b *testing.B) int {
	n := 100_000
	if s := os.Getenv("CSSC_BENCH_ENTRIES"); s != "" {
		v, err := strconv.Atoi(s)
		require.NoError(b, err, "CSSC_BENCH_ENTRIES")
		n = v
	}
	return n
}

// benchStore returns a SQLite store with n generated entries plus the demo
// images. The generated part is built once per size and kept in the user
// cache directory (building 100,000 entries takes minutes); each run works
// on a copy.
func benchStore(b *testing.B, n int, opts sqlite.Options) (catalog.Store, string) {
	b.Helper()
	ctx := context.Background()
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "cssc-bench")
	require.NoError(b, os.MkdirAll(dir, 0o755))
	// v3: the schema with binary bodies (catalog/sqlite migration 0012);
	// an older file would be migrated again on every run's copy, so a v2
	// file (search records, migration 0010) is migrated once into v3.
	cached := filepath.Join(dir, fmt.Sprintf("portal-corpus-%d-v3.db", n))
	v2 := filepath.Join(dir, fmt.Sprintf("portal-corpus-%d-v2.db", n))
	if _, err := os.Stat(cached); err != nil {
		if _, err := os.Stat(v2); err == nil {
			start := time.Now()
			tmp := cached + ".building"
			copyFile(b, v2, tmp)
			s, err := sqlite.Open(ctx, tmp, sqlite.Options{})
			require.NoError(b, err)
			require.NoError(b, s.Close())
			require.NoError(b, os.Rename(tmp, cached))
			b.Logf("migrated %s to %s in %s", v2, cached, time.Since(start).Round(time.Second))
		}
	}
	if _, err := os.Stat(cached); err != nil {
		start := time.Now()
		tmp := cached + ".building"
		_ = os.Remove(tmp)
		s, err := sqlite.Open(ctx, tmp, sqlite.Options{})
		require.NoError(b, err)
		const batch = 2000
		for i := 0; i < n; i += batch {
			entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: uint64(1 + i/batch), Entries: min(batch, n-i), Packages: 40})
			require.NoError(b, s.PutAll(ctx, entries))
		}
		require.NoError(b, s.Close())
		require.NoError(b, os.Rename(tmp, cached))
		b.Logf("built a %d-entry catalog in %s (%s)", n, time.Since(start).Round(time.Second), cached)
	}
	work := filepath.Join(b.TempDir(), "catalog.db")
	copyFile(b, cached, work)
	s, err := sqlite.Open(ctx, work, opts)
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Close() })
	return s, work
}

func copyFile(b *testing.B, from, to string) {
	src, err := os.Open(from)
	require.NoError(b, err)
	defer src.Close()
	dst, err := os.Create(to)
	require.NoError(b, err)
	_, err = io.Copy(dst, src)
	require.NoError(b, err)
	require.NoError(b, dst.Close())
}

// BenchmarkPortal measures server time (the handler alone, in process) and
// page weight (the page with its stylesheet, script and icon) of every
// page and the main API routes over a SQLite catalog of CSSC_BENCH_ENTRIES
// entries (default 100,000). The goal is under 20 ms per request and
// under 100 KB per page.
func BenchmarkPortal(b *testing.B) {
	n := benchEntries(b)
	store, _ := benchStore(b, n, sqlite.Options{})
	ctx := context.Background()
	reg := registrytest.Start(b, registrytest.OCI)
	demo, err := demodata.Seed(ctx, reg.Client, reg.Host+"/golden", store, demodata.Now)
	require.NoError(b, err)
	sweeps := demo.Sweeps
	h, err := server.New(server.Options{Store: store, Registry: reg.Client, Now: func() time.Time { return demodata.Now },
		Sweeps: server.SweepListerFunc(func(ctx context.Context, limit int) ([]*catalog.Sweep, error) { return sweeps, nil })})
	require.NoError(b, err)
	res, err := store.Search(ctx, catalog.Query{Limit: 1})
	require.NoError(b, err)
	b.Logf("catalog of %d entries", res.Total)
	nginx := demo.Entry("library/nginx", "1.27.3")
	old := demo.Entry("library/nginx", "1.27.2")
	corpus := res.Entries[0]
	assets := 0
	for _, a := range []string{"style.css", "app.js", "favicon.svg"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/static/"+a, nil))
		assets += rec.Body.Len()
	}
	routes := []struct {
		name, path string
		page       bool
	}{
		{"page/search", "/", true},
		{"page/search-text", "/?q=app1", true},
		{"page/search-facet", "/?status=deprecated&platform=linux%2Farm64", true},
		{"page/search-reverse", "/?package=pkg001-zlib&range=%3E%3D+1.0.0", true},
		{"page/image-demo", "/images/" + nginx.Key(), true},
		{"page/image-corpus", "/images/" + corpus.Repository + "@" + corpus.Digest.String(), true},
		{"page/cve", "/cve/CVE-2024-0042", true},
		{"page/compare", "/compare?a=" + url.QueryEscape(old.Key()) + "&b=" + url.QueryEscape(nginx.Key()), true},
		{"page/sweeps", "/sweeps", true},
		{"api/search-facets", "/api/v1/search?facets=true", false},
		{"api/search-text", "/api/v1/search?q=pkg012", false},
		{"api/image", "/api/v1/images/" + nginx.Key(), false},
		{"api/vulnerability", "/api/v1/vulnerabilities/CVE-2024-0042", false},
		{"api/package", "/api/v1/packages/pkg001-zlib?range=%3E%3D+1.0.0", false},
		{"api/endoflife", "/api/v1/endoflife?eolWithin=30", false},
	}
	for _, r := range routes {
		b.Run(r.name, func(b *testing.B) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, r.path, nil))
			require.Equal(b, http.StatusOK, rec.Code, "%s: %s", r.path, rec.Body.String())
			weight := rec.Body.Len()
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, r.path, nil)
				rec := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(rec, req)
				times = append(times, time.Since(start))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d", r.path, rec.Code)
				}
			}
			slices.Sort(times)
			if len(times) > 0 {
				b.ReportMetric(float64(times[len(times)*99/100])/1e6, "ms-p99")
			}
			if r.page {
				b.ReportMetric(float64(weight+assets), "B/page")
			} else {
				b.ReportMetric(float64(weight), "B/body")
			}
		})
	}
}

// coldRoutes are the routes that read whole entries (Store.Get, or
// catalog.GetMany for a page of images), each with several variants so
// that consecutive requests show other images.
func coldRoutes(corpus []catalog.Summary) []struct {
	name  string
	paths []string
} {
	var cves, apiCVEs, pkgs, images, compares []string
	for i := range 16 {
		id := fmt.Sprintf("CVE-2024-%04d", 3+i*17)
		cves = append(cves, "/cve/"+id)
		apiCVEs = append(apiCVEs, "/api/v1/vulnerabilities/"+id)
		pkgs = append(pkgs, "/api/v1/packages/"+catalogtest.PackageName(1+i*23)+"?range=%3E%3D+1.0.0")
	}
	for i, s := range corpus {
		images = append(images, "/images/"+s.Repository+"@"+s.Digest.String())
		if i > 0 {
			p := corpus[i-1]
			compares = append(compares, "/compare?a="+url.QueryEscape(p.Repository+"@"+p.Digest.String())+"&b="+url.QueryEscape(s.Repository+"@"+s.Digest.String()))
		}
	}
	return []struct {
		name  string
		paths []string
	}{
		{"page/cve", cves},
		{"page/image-corpus", images},
		{"page/compare-corpus", compares},
		{"api/vulnerability", apiCVEs},
		{"api/package", pkgs},
	}
}

// benchCold measures the routes that read whole entries with the store's
// entry cache off (opened with EntryCache < 0), so that every request
// reads and decodes every entry it shows: the first view of a page. It
// reports the mean (ns/op), p50 and p99 server time, and the entries a
// request reads.
func benchCold(b *testing.B, store catalog.Store) {
	ctx := context.Background()
	h, err := server.New(server.Options{Store: store, Now: func() time.Time { return catalogtest.Now() }})
	require.NoError(b, err)
	res, err := store.Search(ctx, catalog.Query{Limit: 64})
	require.NoError(b, err)
	b.Logf("catalog of %d entries", res.Total)
	// The store alone: the 50 entries of a CVE page's search, one Get
	// each (what the handlers did) or in one catalog.GetMany (what they do).
	var pages [][]catalog.EntryRef
	for i := range 16 {
		page, err := store.Search(ctx, catalog.Query{Vulnerability: fmt.Sprintf("CVE-2024-%04d", 3+i*17)})
		require.NoError(b, err)
		var refs []catalog.EntryRef
		for _, s := range page.Entries {
			refs = append(refs, s.Ref())
		}
		pages = append(pages, refs)
	}
	for _, m := range []struct {
		name string
		get  func(refs []catalog.EntryRef) error
	}{
		{"store/get-each", func(refs []catalog.EntryRef) error {
			for _, r := range refs {
				if _, err := store.Get(ctx, r.Repository, r.Digest); err != nil {
					return err
				}
			}
			return nil
		}},
		{"store/get-many", func(refs []catalog.EntryRef) error {
			_, err := catalog.GetMany(ctx, store, refs)
			return err
		}},
	} {
		b.Run(m.name, func(b *testing.B) {
			times := make([]time.Duration, 0, b.N)
			i := 0
			for b.Loop() {
				refs := pages[i%len(pages)]
				i++
				start := time.Now()
				if err := m.get(refs); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2])/1e6, "ms-p50")
			b.ReportMetric(float64(times[len(times)*99/100])/1e6, "ms-p99")
		})
	}
	for _, r := range coldRoutes(res.Entries) {
		b.Run(r.name, func(b *testing.B) {
			for _, p := range r.paths {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
				require.Equal(b, http.StatusOK, rec.Code, "%s: %s", p, rec.Body.String())
			}
			times := make([]time.Duration, 0, b.N)
			i := 0
			cpu := cpuTime()
			b.ResetTimer()
			for b.Loop() {
				p := r.paths[i%len(r.paths)]
				i++
				req := httptest.NewRequest(http.MethodGet, p, nil)
				rec := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(rec, req)
				times = append(times, time.Since(start))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d", p, rec.Code)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu)/1e6/float64(len(times)), "cpu-ms/op")
			slices.Sort(times)
			if len(times) > 0 {
				b.ReportMetric(float64(times[len(times)/2])/1e6, "ms-p50")
				b.ReportMetric(float64(times[len(times)*99/100])/1e6, "ms-p99")
			}
		})
	}
}

// cpuTime returns the user and system CPU time of the process so far: a
// request's cost that the load of a shared machine does not inflate as
// much as its wall time (the database's own CPU, in PostgreSQL's
// processes, is not in it).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPortalCold measures the first, uncached view of the pages and
// API routes that read whole entries (CVE page, image page, comparison,
// vulnerability and package reverse queries: up to 50 entries each) over
// the SQLite catalog of BenchmarkPortal, with the store's entry cache off.
// The goal is under 20 ms p99.
func BenchmarkPortalCold(b *testing.B) {
	store, _ := benchStore(b, benchEntries(b), sqlite.Options{EntryCache: -1})
	benchCold(b, store)
}

// BenchmarkPortalColdPostgres is BenchmarkPortalCold over a PostgreSQL
// store (internal/pgtest: PostgreSQL 15 on loopback, fsync off) holding
// the same generated entries, loaded by 4 writers at the start of each
// run (a server reached through pgtest.EnvAdminDSN keeps the database, and
// a later run reuses it).
func BenchmarkPortalColdPostgres(b *testing.B) {
	n := benchEntries(b)
	ctx := context.Background()
	srv := pgtest.Shared(b)
	name := fmt.Sprintf("cssc_portal_cold_%d", n)
	dsn := srv.DSN(name)
	_, err := srv.CreateDatabase(ctx, name, "")
	exists := err != nil && strings.Contains(err.Error(), "already exists")
	if err != nil && !exists {
		require.NoError(b, err)
	}
	s, err := postgres.Open(ctx, dsn, postgres.Options{EntryCache: -1, MaxConns: 8})
	require.NoError(b, err)
	defer s.Close()
	res, err := s.Search(ctx, catalog.Query{Limit: 1})
	require.NoError(b, err)
	if res.Total != n {
		require.False(b, exists, "database %s has %d entries, want %d", name, res.Total, n)
		start := time.Now()
		const batch = 2000
		for i := 0; i < n; i += batch {
			entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: uint64(1 + i/batch), Entries: min(batch, n-i), Packages: 40})
			work := make(chan *catalog.Entry)
			errs := make(chan error, 4)
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for e := range work {
						if err := s.Put(ctx, e); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			for _, e := range entries {
				work <- e
			}
			close(work)
			wg.Wait()
			close(errs)
			require.NoError(b, <-errs)
		}
		conn, err := pgx.Connect(ctx, dsn)
		require.NoError(b, err)
		_, err = conn.Exec(ctx, "VACUUM ANALYZE")
		require.NoError(b, err)
		require.NoError(b, conn.Close(ctx))
		b.Logf("loaded %d entries in %s", n, time.Since(start).Round(time.Second))
	}
	benchCold(b, s)
}
