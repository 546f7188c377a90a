package upstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/internal/inflight"
)

// Run works until ctx ends: it starts a sweep when one is due
// (Options.Interval, cluster-wide), claims check and acquisition jobs
// with leases that it renews while they run (several instances share
// them; the jobs of an instance that dies are taken over when their
// leases expire), and closes the records of sweeps whose jobs have all
// ended. It returns ctx's error.
func (t *Tracker) Run(ctx context.Context) error { return t.work(ctx, false) }

// Drain works like Run until no job is left to claim, the jobs of this
// instance have ended and every sweep is closed, then returns. No sweep
// is started. Tests and batch programs use it after Sweep.
func (t *Tracker) Drain(ctx context.Context) error { return t.work(ctx, true) }

func (t *Tracker) work(ctx context.Context, drain bool) error {
	var (
		active   = inflight.New(t.opts.Queue, t.log, "upstream")
		checks   = make(chan struct{}, t.opts.Concurrency)
		acquires = make(chan struct{}, t.opts.Acquisitions)
	)
	defer active.Wait()

	renewCtx, stopRenew := context.WithCancel(ctx)
	defer stopRenew()
	go active.Renew(renewCtx, min(t.opts.Lease, t.opts.AcquireLease))

	var lastHousekeeping time.Time
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !drain && t.opts.Interval > 0 && time.Since(lastHousekeeping) >= t.opts.Poll {
			lastHousekeeping = time.Now()
			if _, err := t.sweep(ctx, false); err != nil && ctx.Err() == nil {
				t.log.Warn("upstream: starting a sweep", "error", err)
			}
		}
		claimed := 0
		for _, k := range []struct {
			kind  string
			slots chan struct{}
			lease time.Duration
		}{{KindAcquire, acquires, t.opts.AcquireLease}, {KindCheck, checks, t.opts.Lease}} {
			free := cap(k.slots) - len(k.slots)
			if free == 0 {
				continue
			}
			jobs, err := t.opts.Queue.Claim(ctx, catalog.ClaimRequest{Owner: t.opts.Instance, Kinds: []string{k.kind}, Max: free, Lease: k.lease})
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				t.log.Warn("upstream: claiming jobs", "kind", k.kind, "error", err)
				continue
			}
			claimed += len(jobs)
			for _, j := range jobs {
				active.Start(ctx, j, k.lease, k.slots, t.runJob)
			}
		}
		if claimed > 0 {
			continue
		}
		busy := active.Len()
		if drain && busy == 0 && t.finalizeSweeps(ctx) == 0 {
			return nil
		}
		wait := t.opts.Poll
		if busy > 0 || drain {
			wait = min(wait, 20*time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		if !drain && busy == 0 {
			t.finalizeSweeps(ctx)
		}
	}
}

// runJob runs one claimed job and ends it.
func (t *Tracker) runJob(ctx context.Context, j catalog.Job) {
	if j.Attempts > t.opts.MaxAttempts {
		cause := fmt.Sprintf("claimed %d times without completing (instances died or leases expired)", j.Attempts-1)
		if j.Kind == KindAcquire {
			t.failAcquisition(context.WithoutCancel(ctx), j, cause)
		}
		t.end(ctx, j, "", errors.New(cause))
		return
	}
	var outcome string
	var err error
	switch j.Kind {
	case KindCheck:
		outcome, err = t.checkJob(ctx, j)
	case KindAcquire:
		outcome, err = t.acquireJob(ctx, j)
	default:
		err = fmt.Errorf("unknown job kind %q", j.Kind)
	}
	if ctx.Err() != nil && err != nil {
		return // abandoned (lease lost, shutdown): the lease decides who goes on
	}
	if err != nil && j.Kind == KindAcquire {
		t.failAcquisition(ctx, j, err.Error())
	}
	t.end(ctx, j, outcome, err)
}

// end completes a job, or fails it for good: a check that could not
// reach its registry is not retried within the sweep (the next sweep
// checks again), and an acquisition's failure is on its track.
func (t *Tracker) end(ctx context.Context, j catalog.Job, outcome string, jobErr error) {
	ctx = context.WithoutCancel(ctx)
	var err error
	if jobErr == nil {
		err = t.opts.Queue.Complete(ctx, catalog.Completion{Job: j, Outcome: outcome})
	} else {
		t.log.Warn("upstream: job failed", "job", j.Key, "error", jobErr)
		err = t.opts.Queue.Fail(ctx, j, jobErr.Error(), time.Time{})
	}
	if err != nil {
		t.log.Warn("upstream: ending job", "job", j.Key, "error", err)
	}
}

// finalizeSweeps closes the records of running tracking sweeps whose jobs
// have all ended, and returns how many are still running (or could not be
// looked at).
func (t *Tracker) finalizeSweeps(ctx context.Context) int {
	sweeps, err := t.opts.Sweeps.Sweeps(ctx, 100)
	if err != nil {
		if ctx.Err() == nil {
			t.log.Warn("upstream: listing sweeps", "error", err)
		}
		return 1
	}
	open := 0
	for _, sw := range sweeps {
		if sw.Kind != SweepKind || sw.State != catalog.SweepRunning {
			continue
		}
		done, err := t.finalize(ctx, sw)
		if err != nil && ctx.Err() == nil {
			t.log.Warn("upstream: closing sweep", "sweep", sw.ID, "error", err)
		}
		if !done {
			open++
		}
	}
	return open
}

// finalize closes sw if its jobs have all ended. Its outcomes count the
// tracks by state, and "unchecked" for those the sweep could not check
// (left as they were); its failures are the jobs that failed.
func (t *Tracker) finalize(ctx context.Context, sw *catalog.Sweep) (bool, error) {
	st, err := t.opts.Queue.Status(ctx, sw.ID)
	if err != nil {
		return false, err
	}
	if st.Active() > 0 {
		return false, nil
	}
	ok, err := t.opts.Coordinator.SwapValue(ctx, keySweepDonePrefix+sw.ID, "", "1")
	if err != nil || !ok {
		return err == nil, err // another instance closes it
	}
	tracks, err := catalog.AllTracks(ctx, t.opts.Tracks, catalog.TrackQuery{})
	if err != nil {
		return false, err
	}
	sw.Outcomes = map[string]int{}
	for _, tr := range tracks {
		if tr.Checked.Before(sw.Started) {
			sw.Outcomes["unchecked"]++
			continue
		}
		sw.Outcomes[string(tr.State)]++
	}
	for o, n := range st.Outcomes {
		if o == OutcomePromoted || o == OutcomeDenied || o == OutcomeError || o == OutcomeUnchanged || o == OutcomeAudited {
			sw.Outcomes["acquisition-"+o] += n
		}
	}
	sw.Failures = nil
	for _, j := range st.Failures {
		sw.Failures = append(sw.Failures, catalog.SweepFailure{Job: j.Key, Error: j.Error})
	}
	sw.State, sw.Finished = catalog.SweepFinished, t.now()
	t.log.Info("upstream: sweep finished", "sweep", sw.ID, "outcomes", sw.Outcomes)
	return true, t.opts.Sweeps.PutSweep(ctx, sw)
}
