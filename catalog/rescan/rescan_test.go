package rescan_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/rescan"
	"github.com/cssc-go/cssc/catalog/sqlite"
	"github.com/cssc-go/cssc/scan/osv"
)

// The test images: Debian packages whose source packages the advisories
// name.
var (
	opensslOld = deb("libssl3", "3.0.11-1~deb12u2", "openssl")
	opensslNew = deb("libssl3", "3.0.15-1~deb12u1", "openssl")
	zlibOld    = deb("zlib1g", "1:1.2.13.dfsg-1", "zlib")
	curlOld    = deb("libcurl4", "7.88.1-10+deb12u5", "curl")
	base       = deb("base-files", "12.4+deb12u7", "")
)

// db1 has an OpenSSL advisory (fixed in 3.0.14) and an unfixed zlib one.
func db1Records() map[string]string {
	return map[string]string{
		"DSA-1": advisory("DSA-1", "2024-09-01T00:00:00Z", "openssl", "3.0.14-1~deb12u2", "critical"),
		"CVE-Z": advisory("CVE-Z", "2024-09-01T00:00:00Z", "zlib", "", "low"),
	}
}

func images() [][]catalog.Package {
	return [][]catalog.Package{
		{base, opensslOld, zlibOld}, // 0: both
		{base, opensslNew, zlibOld}, // 1: zlib only
		{base, opensslOld},          // 2: openssl only
		{base},                      // 3: clean
		{base, curlOld},             // 4: curl (no advisory in db1)
		{base, opensslOld, curlOld}, // 5: openssl and curl
	}
}

func drain(t *testing.T, r *rescan.Rescanner) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, r.Drain(ctx))
}

func TestFirstDatabaseThenUnchangedThenDelta(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testFirstUnchangedDelta(t, fixtureOptions{}) })
	t.Run("sqlite", func(t *testing.T) {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "catalog.db"), sqlite.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		testFirstUnchangedDelta(t, fixtureOptions{store: s, queue: s})
	})
}

func testFirstUnchangedDelta(t *testing.T, o fixtureOptions) {
	ctx := context.Background()
	f := newFixture(t, o)
	f.seed(images()...)
	dir := t.TempDir()
	r := f.rescanner(t, nil)

	// The first database: every image is matched and gets a signed
	// report.
	db1 := osvDB(t, filepath.Join(dir, "db1"), db1Records())
	sw, err := r.SetDatabase(ctx, db1)
	require.NoError(t, err)
	require.NotNil(t, sw)
	assert.Equal(t, catalog.SweepFull, sw.Kind)
	assert.Equal(t, 6, sw.Images)
	drain(t, r)
	assert.Equal(t, 5, r.Matched(), "each distinct package matched once (base, 2 openssl, zlib, curl)")

	want := [][]string{{"CVE-Z", "DSA-1"}, {"CVE-Z"}, {"DSA-1"}, nil, nil, {"DSA-1"}}
	for i, ids := range want {
		reps := f.reports(i, artifact.ReportKindVulnerability)
		require.Len(t, reps, 1, "image %d: one report", i)
		assert.True(t, reps[0].signed, "image %d: the report carries a verified enterprise signature", i)
		assert.Equal(t, 1, reps[0].sigCount, "image %d: signed once", i)
		assert.Equal(t, ids, findingIDs(reps[0].report), "image %d: report findings", i)
		assert.Equal(t, db1.Version(), reps[0].report.Tool.DatabaseVersion)
		e := f.entry(i)
		assert.Equal(t, ids, entryFindingIDs(e), "image %d: entry findings", i)
		assert.True(t, e.Vulnerabilities.Scanned, "image %d: scanned", i)
		assert.Empty(t, e.Problems, "image %d: the missing report problem is gone", i)
		require.Len(t, e.Reports, 1)
		assert.Equal(t, reps[0].desc.Digest, e.Reports[0].Digest, "image %d: the entry is on the new report", i)
		assert.True(t, e.Reports[0].Trusted)
	}
	rec, err := f.queue.Sweep(ctx, sw.ID)
	require.NoError(t, err)
	assert.Equal(t, catalog.SweepFinished, rec.State)
	assert.Equal(t, map[string]int{rescan.OutcomeWritten: 6}, rec.Outcomes)
	assert.Len(t, f.events.ofType(event.TypeFindingsNew), 4, "new findings on images 0, 1, 2, 5")

	// The same database again (reloaded): nothing to do. The periodic
	// sweep is skipped and says why.
	matched := r.Matched()
	again, err := osv.Load(ctx, filepath.Join(dir, "db1"), osv.Options{})
	require.NoError(t, err)
	sw, err = r.SetDatabase(ctx, again)
	require.NoError(t, err)
	assert.Nil(t, sw, "an unchanged database starts no sweep")
	sw, err = r.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, catalog.SweepSkipped, sw.State)
	assert.Equal(t, "skipped: database unchanged", sw.Reason)
	drain(t, r)
	assert.Equal(t, matched, r.Matched(), "nothing matched again against the unchanged database")
	for i := range want {
		assert.Len(t, f.reports(i, artifact.ReportKindVulnerability), 1, "image %d: no new report", i)
	}

	// A delta: the zlib advisory is withdrawn, a curl advisory added; the
	// OpenSSL advisory is untouched. Only the images with zlib or curl are
	// rescanned.
	recs := db1Records()
	recs["CVE-Z"] = `{"id":"CVE-Z","modified":"2024-10-01T00:00:00Z","withdrawn":"2024-10-01T00:00:00Z","affected":[]}`
	recs["CVE-C"] = advisory("CVE-C", "2024-10-01T00:00:00Z", "curl", "7.88.1-10+deb12u8", "high")
	db2 := osvDB(t, filepath.Join(dir, "db2"), recs)
	sw, err = r.SetDatabase(ctx, db2)
	require.NoError(t, err)
	require.NotNil(t, sw)
	assert.Equal(t, catalog.SweepDelta, sw.Kind)
	require.NotNil(t, sw.Diff)
	assert.Equal(t, catalog.SweepDiff{Added: 1, Withdrawn: 1, Packages: 2, Affected: 4}, *sw.Diff, "images 0, 1, 4, 5 hold zlib or curl")
	drain(t, r)
	assert.Equal(t, 5, r.Matched(), "the affected images' distinct packages are matched once each")

	cataloger, err := catalog.NewCataloger(catalog.CatalogerOptions{Verifier: f.verify, Identities: []string{identity}})
	require.NoError(t, err)
	want2 := map[int][]string{0: {"DSA-1"}, 1: nil, 4: {"CVE-C"}, 5: {"CVE-C", "DSA-1"}}
	for i := range images() {
		reps := f.reports(i, artifact.ReportKindVulnerability)
		ids, affected := want2[i]
		if !affected {
			require.Len(t, reps, 1, "image %d is not affected: no new report", i)
			continue
		}
		require.Len(t, reps, 2, "image %d: a new report beside the old one", i)
		assert.True(t, reps[0].signed && reps[1].signed, "image %d: both reports signed", i)
		assert.Equal(t, ids, findingIDs(reps[0].report), "image %d: newest report findings", i)
		assert.Equal(t, db2.Version(), reps[0].report.Tool.DatabaseVersion)
		e := f.entry(i)
		assert.Equal(t, ids, entryFindingIDs(e), "image %d: the entry moved to the new findings", i)
		assert.Equal(t, []string{db2.Version()}, e.Vulnerabilities.DatabaseVersions)
		require.Len(t, e.Reports, 2, "image %d: the entry lists the kept reports", i)
		for _, rep := range e.Reports {
			newest := rep.Digest == reps[0].desc.Digest
			assert.Equal(t, !newest, rep.Superseded, "image %d: report %s (newest %v) superseded", i, rep.Digest, newest)
		}
		// A rebuild from the registry says the same.
		repo, err := f.open(ctx, e.Repository)
		require.NoError(t, err)
		rebuilt, err := cataloger.Catalog(ctx, repo, e.Digest.String())
		require.NoError(t, err)
		assert.Equal(t, rebuilt.Reports, e.Reports, "image %d: reports as the Cataloger reads them from the registry", i)
	}
	resolved := f.events.ofType(event.TypeFindingsResolved)
	assert.Len(t, resolved, 2, "zlib resolved on images 0 and 1")
	assert.Len(t, f.events.ofType(event.TypeFindingsNew), 6, "curl new on images 4 and 5")

	// The periodic sweep after a delta re-matches everything once, and
	// writes nothing where nothing changed.
	sw, err = r.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, catalog.SweepRunning, sw.State)
	drain(t, r)
	rec, err = f.queue.Sweep(ctx, sw.ID)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{rescan.OutcomeUnchanged: 6}, rec.Outcomes)
	assert.Equal(t, 5, r.Matched(), "no package is matched twice against one database")
	sw, err = r.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, "skipped: database unchanged", sw.Reason)
}
