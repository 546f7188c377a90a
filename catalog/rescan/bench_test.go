package rescan_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/fstest"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/rescan"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/osv"
)

// seedFindings gives every entry the findings db gives its packages and a
// recent trusted report, as a sweep would have left them.
func seedFindings(b *testing.B, store catalog.Store, db *osv.DB) {
	ctx := context.Background()
	q := catalog.Query{Limit: catalog.MaxLimit}
	for {
		res, err := store.Search(ctx, q)
		require.NoError(b, err)
		for _, s := range res.Entries {
			e, err := store.Get(ctx, s.Repository, s.Digest)
			require.NoError(b, err)
			c := &e.Children[0]
			pkgs := make([]sbom.Package, len(c.Packages))
			for i, p := range c.Packages {
				pkgs[i] = sbom.Package{Name: p.Name, Version: p.Version, PURL: p.PURL, Ecosystem: p.Ecosystem, SourceName: p.SourceName}
			}
			each, err := db.MatchEach(ctx, pkgs)
			require.NoError(b, err)
			var fs []scan.Finding
			for _, x := range each {
				fs = append(fs, x...)
			}
			c.Findings = nil
			for _, f := range fs {
				c.Findings = append(c.Findings, catalog.Finding{ID: f.ID, Aliases: f.Aliases, Package: f.Package.Name, Version: f.Package.Version,
					FixedVersion: f.FixedVersion, Severity: f.Severity.String()})
			}
			c.Vulnerabilities = catalog.VulnerabilitySummary{Scanned: true, DatabaseVersions: []string{db.Version()}}
			e.Reports = []catalog.Report{{Subject: c.Digest, Digest: digest.FromString("report " + c.Digest.String()), Kind: artifact.ReportKindVulnerability,
				Scanner: osv.ToolName, DatabaseVersion: db.Version(), Time: time.Now().UTC(), Findings: len(fs), Trusted: true}}
			require.NoError(b, store.Put(ctx, e))
		}
		if res.Next == "" {
			return
		}
		q.Cursor = res.Next
	}
}

// benchCorpus is a synthetic catalog: images of 200 packages drawn from a
// pool of package versions (npm and Debian), and an OSV database of
// records over the pool's names.
type benchCorpus struct {
	pool []catalog.Package
}

func newBenchCorpus(names int) *benchCorpus {
	c := &benchCorpus{}
	for i := range names {
		for v := range 3 {
			if i%2 == 0 {
				c.pool = append(c.pool, catalog.Package{Name: fmt.Sprintf("pkg-%d", i), Version: fmt.Sprintf("1.%d.%d", v*3, i%7), Ecosystem: "npm"})
			} else {
				c.pool = append(c.pool, catalog.Package{Name: fmt.Sprintf("lib%d", i), Version: fmt.Sprintf("1.%d-%d", v*3, i%5+1), Ecosystem: "Debian:12", SourceName: fmt.Sprintf("src%d", i)})
			}
		}
	}
	return c
}

func (c *benchCorpus) image(rng *rand.Rand, n int) []catalog.Package {
	out := make([]catalog.Package, 0, n)
	seen := map[int]bool{}
	for len(out) < n {
		i := rng.IntN(len(c.pool))
		if !seen[i] {
			seen[i] = true
			out = append(out, c.pool[i])
		}
	}
	return out
}

// records returns n OSV records over the pool's names, modified at mod.
func (c *benchCorpus) records(n int, mod string) fstest.MapFS {
	names := len(c.pool) / 3
	fs := fstest.MapFS{}
	for i := range n {
		k := i % names
		var eco, name, fixed string
		if k%2 == 0 {
			eco, name, fixed = "npm", fmt.Sprintf("pkg-%d", k), fmt.Sprintf("1.%d.0", 1+i%8)
		} else {
			eco, name, fixed = "Debian:12", fmt.Sprintf("src%d", k), fmt.Sprintf("1.%d-1", 1+i%8)
		}
		fs[fmt.Sprintf("r/%06d.json", i)] = &fstest.MapFile{Data: fmt.Appendf(nil,
			`{"id":"BENCH-%06d","modified":%q,"aliases":["CVE-2024-%06d"],"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}],`+
				`"affected":[{"package":{"ecosystem":%q,"name":%q},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":%q}]}]}]}`,
			i, mod, i, eco, name, fixed)}
	}
	return fs
}

// BenchmarkFullRematch: a sweep that re-matches 10,000 images of 200
// packages against 100,000 records where nothing changed (so no report
// is written): what a full re-match costs.
func BenchmarkFullRematch(b *testing.B) {
	const images, pkgs, records = 10_000, 200, 100_000
	ctx := context.Background()
	corpus := newBenchCorpus(20_000)
	start := time.Now()
	db, err := osv.LoadFS(ctx, corpus.records(records, "2024-10-01T00:00:00Z"), osv.Options{})
	require.NoError(b, err)
	b.Logf("database: %d records loaded in %v", db.Len(), time.Since(start).Round(time.Millisecond))
	f := newFixture(b, fixtureOptions{})
	rng := rand.New(rand.NewPCG(1, 1))
	start = time.Now()
	for i := range images {
		d := digest.FromString(fmt.Sprint("image ", i))
		e := &catalog.Entry{Repository: fmt.Sprintf("%s/golden/app%d", f.reg.Host, i%100), Digest: d, MediaType: "application/vnd.oci.image.manifest.v1+json",
			Children: []catalog.Child{{Digest: d, Platform: "linux/amd64", SBOM: &catalog.SBOM{Digest: d, Packages: pkgs}, Packages: corpus.image(rng, pkgs)}}}
		require.NoError(b, f.store.Put(ctx, e))
	}
	b.Logf("catalog: %d entries stored in %v", images, time.Since(start).Round(time.Millisecond))

	// An earlier sweep left every entry with its findings and a recent
	// report: set them the way that sweep would have, without a registry.
	r := f.rescanner(b, func(o *rescan.Options) { o.Concurrency = 8 })
	start = time.Now()
	seedFindings(b, f.store, db)
	b.Logf("catalog: findings of %d entries set in %v", images, time.Since(start).Round(time.Millisecond))
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		// The first database: a full sweep, everything unchanged. Run with
		// -benchtime=1x (a second load of the same version does nothing).
		_, err = r.SetDatabase(ctx, db)
		require.NoError(b, err)
		require.NoError(b, r.Drain(ctx))
		b.ReportMetric(time.Since(start).Seconds(), "s/sweep")
	}
	b.StopTimer()
	sweeps, err := f.queue.Sweeps(ctx, 1)
	require.NoError(b, err)
	b.Logf("sweep %s: %v, %d distinct package versions matched", sweeps[0].Kind, sweeps[0].Outcomes, r.Matched())
	require.Equal(b, images, sweeps[0].Outcomes[rescan.OutcomeUnchanged], "nothing changed, nothing written")
}

// BenchmarkDelta1000: a database update that affects 1,000 of 10,000
// images: new reports attached and signed (notation, ECDSA P-256) in a
// registry on loopback.
func BenchmarkDelta1000(b *testing.B) {
	const images, affected = 10_000, 1_000
	ctx := context.Background()
	f := newFixture(b, fixtureOptions{})
	dir := b.TempDir()
	db1 := osvDB(b, dir+"/db1", db1Records())
	r := f.rescanner(b, func(o *rescan.Options) { o.Concurrency = 16 })
	_, err := r.SetDatabase(ctx, db1) // empty catalog: an empty sweep
	require.NoError(b, err)

	start := time.Now()
	for i := range images {
		repoName := fmt.Sprintf("golden/app%d", i%50)
		var d digest.Digest
		mt := "application/vnd.oci.image.manifest.v1+json"
		pkgs := []catalog.Package{base, opensslNew}
		if i < affected {
			repo := f.reg.Repository(b, repoName)
			desc, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "id", Data: fmt.Appendf(nil, "%d", i)})}}.Push(ctx, repo)
			require.NoError(b, err)
			d, mt = desc.Digest, desc.MediaType
			pkgs = append(pkgs, curlOld)
		} else {
			d = digest.FromString(fmt.Sprint("unpushed ", i))
		}
		e := &catalog.Entry{Repository: f.reg.Location(repoName), Digest: d, MediaType: mt,
			Children: []catalog.Child{{Digest: d, MediaType: mt, Platform: "linux/amd64", SBOM: &catalog.SBOM{Digest: d, Packages: len(pkgs)}, Packages: pkgs}}}
		require.NoError(b, f.store.Put(ctx, e))
		if i == 0 {
			f.entries = append(f.entries, e) // the image whose reports are checked below
		}
	}
	b.Logf("setup: %d entries, %d images pushed, in %v", images, affected, time.Since(start).Round(time.Millisecond))
	recs := db1Records()
	recs["CVE-C"] = advisory("CVE-C", "2024-10-01T00:00:00Z", "curl", "7.88.1-10+deb12u8", "high")
	db2 := osvDB(b, dir+"/db2", recs)

	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		sw, err := r.SetDatabase(ctx, db2)
		require.NoError(b, err)
		enq := time.Since(start)
		require.NoError(b, r.Drain(ctx))
		total := time.Since(start)
		b.ReportMetric(total.Seconds(), "s/delta")
		b.ReportMetric(enq.Seconds(), "s/diff+enqueue")
		rec, err := f.queue.Sweep(ctx, sw.ID)
		require.NoError(b, err)
		require.Equal(b, affected, rec.Outcomes[rescan.OutcomeWritten], "every affected image gets a new signed report")
		b.Logf("delta: %+v, %v", *rec.Diff, rec.Outcomes)
	}
	b.StopTimer()
	reps := f.reports(0, artifact.ReportKindVulnerability)
	require.Len(b, reps, 1)
	require.True(b, reps[0].signed)
}
