package rescan_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/rescan"
	"github.com/cssc-go/cssc/registry"
)

// TestRetention: reports beyond the newest Keep are deleted with their
// signatures; the entry lists the ones kept.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{})
	f.seed(images()...)
	dir := t.TempDir()
	r := f.rescanner(t, func(o *rescan.Options) { o.Keep = 2 })
	var seen []reportOnRegistry
	for v, sev := range []string{"low", "medium", "high", "critical", "low"} {
		recs := db1Records()
		recs["CVE-C"] = advisory("CVE-C", fmt.Sprintf("2024-10-0%dT00:00:00Z", v+1), "curl", "7.88.1-10+deb12u8", sev)
		_, err := r.SetDatabase(ctx, osvDB(t, filepath.Join(dir, fmt.Sprint("db", v)), recs))
		require.NoError(t, err)
		drain(t, r)
		reps := f.reports(4, artifact.ReportKindVulnerability)
		require.NotEmpty(t, reps)
		assert.Equal(t, sev, reps[0].report.Findings[0].Severity.String(), "version %d: the newest report has the new severity", v)
		seen = append(seen, reps[0])
	}
	kept := f.reports(4, artifact.ReportKindVulnerability)
	require.Len(t, kept, 2, "Keep caps the reports")
	assert.Equal(t, seen[4].desc.Digest, kept[0].desc.Digest)
	assert.Equal(t, seen[3].desc.Digest, kept[1].desc.Digest)
	for _, k := range kept {
		assert.True(t, k.signed)
	}
	e := f.entry(4)
	var listed []digest.Digest
	for _, rep := range e.Reports {
		listed = append(listed, rep.Digest)
	}
	assert.ElementsMatch(t, []digest.Digest{seen[4].desc.Digest, seen[3].desc.Digest}, listed, "the entry lists the reports kept")

	// The deleted reports and their signatures are gone from the registry.
	repo, err := f.open(ctx, e.Repository)
	require.NoError(t, err)
	for _, old := range seen[:3] {
		_, err := repo.Resolve(ctx, old.desc.Digest.String())
		assert.ErrorIs(t, err, registry.ErrNotFound, "report %s deleted", old.desc.Digest)
	}
	sigs := 0
	for _, old := range seen[:3] {
		refs, err := registry.Referrers(ctx, repo, old.desc, "")
		require.NoError(t, err)
		sigs += len(refs)
	}
	assert.Zero(t, sigs, "no signature of a deleted report is left")
}

// TestWriteOnlyOnChangeOrAge: a rescan whose findings did not change
// writes nothing until the report in force is older than MaxAge.
func TestWriteOnlyOnChangeOrAge(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{})
	f.seed(images()...)
	dir := t.TempDir()
	var now atomic.Pointer[time.Time]
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now.Store(&start)
	r := f.rescanner(t, func(o *rescan.Options) {
		o.MaxAge = 7 * 24 * time.Hour
		o.Now = func() time.Time { return *now.Load() }
	})
	curl := func(modified, summary string) map[string]string {
		recs := db1Records()
		recs["CVE-C"] = advisory("CVE-C", modified, "curl", "7.88.1-10+deb12u8", "high")
		recs["CVE-C"] = recs["CVE-C"][:len(recs["CVE-C"])-1] + `,"details":"` + summary + `"}`
		return recs
	}
	_, err := r.SetDatabase(ctx, osvDB(t, filepath.Join(dir, "db1"), curl("2024-10-01T00:00:00Z", "first")))
	require.NoError(t, err)
	drain(t, r)
	require.Len(t, f.reports(4, artifact.ReportKindVulnerability), 1)

	// The advisory changes in a way that changes no finding: the image is
	// rescanned, nothing is written.
	later := start.Add(24 * time.Hour)
	now.Store(&later)
	sw, err := r.SetDatabase(ctx, osvDB(t, filepath.Join(dir, "db2"), curl("2024-10-02T00:00:00Z", "second")))
	require.NoError(t, err)
	require.Equal(t, 2, sw.Diff.Affected, "images 4 and 5 hold curl")
	drain(t, r)
	rec, err := f.queue.Sweep(ctx, sw.ID)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{rescan.OutcomeUnchanged: 2}, rec.Outcomes)
	assert.Len(t, f.reports(4, artifact.ReportKindVulnerability), 1, "no report when nothing changed")

	// Past MaxAge, the same findings are written again.
	muchLater := start.Add(8 * 24 * time.Hour)
	now.Store(&muchLater)
	sw, err = r.SetDatabase(ctx, osvDB(t, filepath.Join(dir, "db3"), curl("2024-10-03T00:00:00Z", "third")))
	require.NoError(t, err)
	drain(t, r)
	rec, err = f.queue.Sweep(ctx, sw.ID)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{rescan.OutcomeWritten: 2}, rec.Outcomes)
	reps := f.reports(4, artifact.ReportKindVulnerability)
	require.Len(t, reps, 2, "a report past MaxAge is renewed")
	assert.Equal(t, findingIDs(reps[1].report), findingIDs(reps[0].report))
	assert.Equal(t, muchLater, reps[0].report.Time, "the renewed report is dated by its sweep")
}

// orderStore records the order in which jobs read entries.
type orderStore struct {
	catalog.Store
	mu    sync.Mutex
	order []digest.Digest
}

func (s *orderStore) Get(ctx context.Context, repo string, d digest.Digest) (*catalog.Entry, error) {
	s.mu.Lock()
	if !slices.Contains(s.order, d) {
		s.order = append(s.order, d)
	}
	s.mu.Unlock()
	return s.Store.Get(ctx, repo, d)
}

// TestPriorities: on-demand before delta before periodic.
func TestPriorities(t *testing.T) {
	ctx := context.Background()
	os := &orderStore{Store: catalog.NewMemoryStore()}
	f := newFixture(t, fixtureOptions{store: os})
	f.seed(images()...)
	dir := t.TempDir()
	r := f.rescanner(t, func(o *rescan.Options) { o.Concurrency = 1 })
	_, err := r.SetDatabase(ctx, osvDB(t, filepath.Join(dir, "db1"), db1Records()))
	require.NoError(t, err)
	drain(t, r)

	recs := db1Records()
	recs["CVE-C"] = advisory("CVE-C", "2024-10-01T00:00:00Z", "curl", "7.88.1-10+deb12u8", "high")
	r2 := r
	_, err = r2.SetDatabase(ctx, osvDB(t, filepath.Join(dir, "db2"), recs)) // delta: images 4 and 5
	require.NoError(t, err)
	periodic, err := r2.Sweep(ctx) // periodic: all six
	require.NoError(t, err)
	require.Equal(t, catalog.SweepRunning, periodic.State)
	req, err := r2.Request(ctx, f.entries[3].Repository, f.entries[3].Digest, true) // on demand
	require.NoError(t, err)
	assert.Equal(t, f.entries[3].Repository+"@"+f.entries[3].Digest.String(), req.Subject,
		"the sweep of one image names it, so that readers can leave it out for callers who may not see it")
	os.mu.Lock()
	os.order = nil
	os.mu.Unlock()
	drain(t, r2)
	os.mu.Lock()
	defer os.mu.Unlock()
	require.GreaterOrEqual(t, len(os.order), 3)
	assert.Equal(t, f.entries[3].Digest, os.order[0], "the request first")
	assert.ElementsMatch(t, []digest.Digest{f.entries[4].Digest, f.entries[5].Digest}, os.order[1:3], "then the delta")
}

// TestPauseResume: a paused cluster claims nothing until resumed.
func TestPauseResume(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{})
	f.seed(images()...)
	r := f.rescanner(t, nil)
	require.NoError(t, r.Pause(ctx))
	paused, err := r.Paused(ctx)
	require.NoError(t, err)
	require.True(t, paused)
	sw, err := r.SetDatabase(ctx, osvDB(t, filepath.Join(t.TempDir(), "db1"), db1Records()))
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	time.Sleep(300 * time.Millisecond)
	st, err := f.queue.Status(ctx, sw.ID)
	require.NoError(t, err)
	assert.Equal(t, 6, st.Pending, "nothing claimed while paused")
	require.NoError(t, r.Resume(ctx))
	require.Eventually(t, func() bool {
		rec, err := f.queue.Sweep(ctx, sw.ID)
		return err == nil && rec.State == catalog.SweepFinished
	}, time.Minute, 20*time.Millisecond, "the sweep finishes once resumed")
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

// TestRateLimit: Rate caps the images rescanned per second.
func TestRateLimit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{})
	f.seed(append(images(), images()...)...)
	r := f.rescanner(t, func(o *rescan.Options) { o.Rate = 4 })
	_, err := r.SetDatabase(ctx, osvDB(t, filepath.Join(t.TempDir(), "db1"), db1Records()))
	require.NoError(t, err)
	start := time.Now()
	drain(t, r)
	// A burst of 4, then one every 250 ms: 12 images take at least 2 s.
	assert.GreaterOrEqual(t, time.Since(start), 1900*time.Millisecond, "12 images at 4 per second")
}
