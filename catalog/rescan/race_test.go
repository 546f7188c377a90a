package rescan_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/rescan"
)

// onRunning calls hook (once) when a running sweep is first recorded.
type onRunning struct {
	catalog.SweepLog
	once sync.Once
	hook func()
}

func (o *onRunning) PutSweep(ctx context.Context, s *catalog.Sweep) error {
	if err := o.SweepLog.PutSweep(ctx, s); err != nil {
		return err
	}
	if s.State == catalog.SweepRunning {
		o.once.Do(o.hook)
	}
	return nil
}

// A second instance that looks at the sweeps the moment one is recorded
// must not close it before its jobs are enqueued (it did, with no
// outcomes, while the jobs ran afterwards).
func TestSweepNotClosedBeforeItsJobs(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{})
	f.seed(images()...)
	log := &onRunning{SweepLog: f.queue}
	other := f.rescanner(t, func(o *rescan.Options) { o.Sweeps = log })
	// The other instance has no database, so it only looks after the
	// sweep records: it would close the sweep, not run its jobs.
	log.hook = func() {
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_ = other.Drain(ctx)
	}
	r := f.rescanner(t, func(o *rescan.Options) { o.Sweeps = log })

	sw, err := r.SetDatabase(ctx, osvDB(t, filepath.Join(t.TempDir(), "db1"), db1Records()))
	require.NoError(t, err)
	drain(t, r)
	rec, err := f.queue.Sweep(ctx, sw.ID)
	require.NoError(t, err)
	assert.Equal(t, catalog.SweepFinished, rec.State)
	assert.Equal(t, map[string]int{rescan.OutcomeWritten: 6}, rec.Outcomes, "every job counted in the sweep record")
}

// The sweep log is shared with other work (upstream tracking, the
// lifecycle): a rescanner closes its own sweeps only. It closed a
// tracking sweep whose check jobs had ended, with the jobs' outcomes,
// before the tracker could count its tracks, and its Drain waited for
// such sweeps.
func TestOtherSweepsLeftAlone(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOptions{})
	f.seed(images()...)
	other := &catalog.Sweep{ID: "upstream-1", Kind: "upstream", Started: time.Now().UTC(), State: catalog.SweepRunning}
	require.NoError(t, f.queue.PutSweep(ctx, other))
	_, err := f.queue.Enqueue(ctx, catalog.Job{Kind: "upstream.check", Key: "check-1", Group: other.ID})
	require.NoError(t, err)
	js, err := f.queue.Claim(ctx, catalog.ClaimRequest{Owner: "tracker", Kinds: []string{"upstream.check"}})
	require.NoError(t, err)
	require.Len(t, js, 1)
	require.NoError(t, f.queue.Complete(ctx, catalog.Completion{Job: js[0], Outcome: "checked"}))

	r := f.rescanner(t, nil)
	sw, err := r.SetDatabase(ctx, osvDB(t, filepath.Join(t.TempDir(), "db1"), db1Records()))
	require.NoError(t, err)
	drain(t, r)
	rec, err := f.queue.Sweep(ctx, sw.ID)
	require.NoError(t, err)
	assert.Equal(t, catalog.SweepFinished, rec.State, "the rescan sweep is closed")
	got, err := f.queue.Sweep(ctx, other.ID)
	require.NoError(t, err)
	assert.Equal(t, catalog.SweepRunning, got.State, "another package's sweep is left to it")
	assert.Empty(t, got.Outcomes)
}
