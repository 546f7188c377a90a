package osv_test

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan/osv"
)

// benchEcosystem describes how generated records and packages of one
// ecosystem look.
type benchEcosystem struct {
	eco, dir string
	share    int // percent of records
	version  func(r *rand.Rand, major, minor, patch int) string
	semver   bool
}

var benchEcosystems = []benchEcosystem{
	{"Debian:12", "Debian", 40, func(r *rand.Rand, a, b, c int) string {
		v := fmt.Sprintf("%d.%d.%d-%d+deb12u%d", a, b, c, 1+r.IntN(3), r.IntN(5))
		if r.IntN(10) == 0 {
			v = "1:" + v
		}
		return v
	}, false},
	{"Alpine:v3.20", "Alpine", 10, func(r *rand.Rand, a, b, c int) string { return fmt.Sprintf("%d.%d.%d-r%d", a, b, c, r.IntN(30)) }, false},
	{"Go", "Go", 10, func(r *rand.Rand, a, b, c int) string { return fmt.Sprintf("%d.%d.%d", a, b, c) }, true},
	{"npm", "npm", 15, func(r *rand.Rand, a, b, c int) string { return fmt.Sprintf("%d.%d.%d", a, b, c) }, true},
	{"PyPI", "PyPI", 15, func(r *rand.Rand, a, b, c int) string { return fmt.Sprintf("%d.%d.%d", a, b, c) }, false},
	{"Maven", "Maven", 10, func(r *rand.Rand, a, b, c int) string { return fmt.Sprintf("%d.%d.%d", a, b, c) }, false},
}

func benchName(e benchEcosystem, i int) string {
	switch e.dir {
	case "Go":
		return fmt.Sprintf("github.com/example%d/module%d", i%97, i)
	case "Maven":
		return fmt.Sprintf("org.example%d:artifact-%d", i%53, i)
	case "npm":
		if i%5 == 0 {
			return fmt.Sprintf("@scope%d/pkg-%d", i%31, i)
		}
	}
	return fmt.Sprintf("pkg-%d", i)
}

// generateDB writes n OSV records spread over per-ecosystem all.zip files
// in dir, about 5 records per package name, each with one or two affected
// ranges, aliases, a CVSS vector on half of them and a realistic details
// text. It returns the number of package names per ecosystem.
func generateDB(tb testing.TB, dir string, n int) map[string]int {
	tb.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	names := map[string]int{}
	details := "A flaw was found in the parsing of crafted input which may allow a remote attacker to cause a denial of service or possibly execute arbitrary code. Upgrade to a fixed version. "
	for _, e := range benchEcosystems {
		count := n * e.share / 100
		names[e.eco] = max(1, count/5)
		require.NoError(tb, os.MkdirAll(filepath.Join(dir, e.dir), 0o755))
		f, err := os.Create(filepath.Join(dir, e.dir, "all.zip"))
		require.NoError(tb, err)
		zw := zip.NewWriter(f)
		rangeType := "ECOSYSTEM"
		if e.semver {
			rangeType = "SEMVER"
		}
		for i := range count {
			id := fmt.Sprintf("BENCH-%s-%d", e.dir, i)
			name := benchName(e, r.IntN(names[e.eco]))
			major := r.IntN(5)
			var ranges []map[string]any
			for k := range 1 + r.IntN(2) {
				intro := "0"
				if k > 0 || r.IntN(2) == 0 {
					intro = e.version(r, major+k, r.IntN(10), 0)
				}
				events := []map[string]string{{"introduced": intro}}
				switch r.IntN(10) {
				case 0: // unfixed
				case 1:
					events = append(events, map[string]string{"last_affected": e.version(r, major+k, 10+r.IntN(10), r.IntN(10))})
				default:
					events = append(events, map[string]string{"fixed": e.version(r, major+k, 10+r.IntN(10), r.IntN(10))})
				}
				ranges = append(ranges, map[string]any{"type": rangeType, "events": events})
			}
			rec := map[string]any{
				"schema_version": "1.6.0",
				"id":             id,
				"modified":       time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute).Format(time.RFC3339),
				"published":      "2023-01-01T00:00:00Z",
				"aliases":        []string{fmt.Sprintf("CVE-2024-%05d", i)},
				"summary":        "generated vulnerability in " + name,
				"details":        details + details,
				"affected": []map[string]any{{
					"package": map[string]string{"ecosystem": e.eco, "name": name},
					"ranges":  ranges,
				}},
				"references": []map[string]string{{"type": "ADVISORY", "url": "https://example.org/advisories/" + id}},
			}
			if i%2 == 0 {
				rec["severity"] = []map[string]string{{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}
			}
			data, err := json.Marshal(rec)
			require.NoError(tb, err)
			w, err := zw.Create(id + ".json")
			require.NoError(tb, err)
			_, err = w.Write(data)
			require.NoError(tb, err)
		}
		require.NoError(tb, zw.Close())
		require.NoError(tb, f.Close())
	}
	return names
}

// generatePackages returns n packages, 90% of them with names that have
// records, with random versions.
func generatePackages(n int, names map[string]int) []sbom.Package {
	r := rand.New(rand.NewPCG(3, 4))
	pkgs := make([]sbom.Package, 0, n)
	for i := range n {
		e := benchEcosystems[i%len(benchEcosystems)]
		idx := r.IntN(names[e.eco])
		if r.IntN(10) == 0 {
			idx += 1_000_000 // not in the database
		}
		p := sbom.Package{Name: benchName(e, idx), Version: e.version(r, r.IntN(6), r.IntN(20), r.IntN(10)), Ecosystem: e.eco}
		if e.dir == "Debian" || e.dir == "Alpine" {
			p.SourceName, p.Name = p.Name, "lib"+p.Name
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

const (
	benchRecords  = 100_000
	benchPackages = 10_000
)

// benchDB is the generated database shared by the benchmarks of one test
// binary run (generating it takes longer than most benchmarks).
var benchDB struct {
	once  sync.Once
	dir   string
	names map[string]int
}

func benchDir(b *testing.B) (string, map[string]int) {
	b.Helper()
	benchDB.once.Do(func() {
		dir, err := os.MkdirTemp("", "osv-bench-")
		require.NoError(b, err)
		benchDB.dir = dir
		benchDB.names = generateDB(b, dir, benchRecords)
	})
	if benchDB.dir == "" {
		b.Fatal("benchmark database generation failed")
	}
	return benchDB.dir, benchDB.names
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDB.dir != "" {
		os.RemoveAll(benchDB.dir)
	}
	os.Exit(code)
}

func BenchmarkLoad(b *testing.B) {
	dir, _ := benchDir(b)
	var db *osv.DB
	var m cpuMeter
	for b.Loop() {
		var err error
		m.begin()
		db, err = osv.Load(context.Background(), dir, osv.Options{})
		m.end()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	m.report(b)
	b.ReportMetric(float64(db.Stats().Bytes)/1e6, "input-MB")
	if db.Len() != benchRecords {
		b.Fatalf("loaded %d records, want %d", db.Len(), benchRecords)
	}
	reportHeap(b, &db)
}

// reportHeap reports the live heap held by the database.
func reportHeap(b *testing.B, db **osv.DB) {
	var before, after runtime.MemStats
	keep := *db
	*db = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	keep = nil
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportMetric(float64(after.HeapAlloc-min(after.HeapAlloc, before.HeapAlloc))/(1<<20), "db-MiB")
}

// BenchmarkMatchCold matches 10,000 packages against a freshly loaded
// database of 100,000 records: the first match parses the range events of
// every record it touches.
func BenchmarkMatchCold(b *testing.B) {
	dir, names := benchDir(b)
	pkgs := generatePackages(benchPackages, names)
	findings := 0
	var m cpuMeter
	for b.Loop() {
		b.StopTimer()
		db, err := osv.Load(context.Background(), dir, osv.Options{})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		b.StartTimer()
		m.begin()
		rep, err := db.Match(context.Background(), pkgs)
		m.end()
		if err != nil {
			b.Fatal(err)
		}
		findings = len(rep.Findings)
	}
	m.report(b)
	b.ReportMetric(float64(findings), "findings")
}

// BenchmarkMatchWarm matches 10,000 packages against a database of 100,000
// records that has already served a match (a rescan).
func BenchmarkMatchWarm(b *testing.B) {
	dir, names := benchDir(b)
	pkgs := generatePackages(benchPackages, names)
	db, err := osv.Load(context.Background(), dir, osv.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Match(context.Background(), pkgs); err != nil {
		b.Fatal(err)
	}
	findings := 0
	var m cpuMeter
	for b.Loop() {
		m.begin()
		rep, err := db.Match(context.Background(), pkgs)
		m.end()
		if err != nil {
			b.Fatal(err)
		}
		findings = len(rep.Findings)
	}
	m.report(b)
	b.ReportMetric(float64(findings), "findings")
}

// cpuTime returns the user plus system CPU time of the process so far. The
// benchmarks report it per operation ("cpu-ms/op") next to the wall time,
// because on a shared machine the wall time says more about the neighbours
// than about the code.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter accumulates CPU time over the timed parts of a benchmark.
type cpuMeter struct {
	total time.Duration
	start time.Duration
	n     int
}

func (m *cpuMeter) begin() { m.start = cpuTime() }
func (m *cpuMeter) end()   { m.total += cpuTime() - m.start; m.n++ }
func (m *cpuMeter) report(b *testing.B) {
	if m.n > 0 {
		b.ReportMetric(float64(m.total.Milliseconds())/float64(m.n), "cpu-ms/op")
	}
}
