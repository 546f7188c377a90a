package rescan

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/internal/inflight"
)

// Run works until ctx ends: it claims the jobs of the versions this
// instance holds (on-demand first, then deltas, then periodic sweeps),
// rescans the images with up to Options.Concurrency at once, renews their
// leases, starts the periodic sweep when it is due, starts a malware sweep
// when the signature version changes, and finalizes the sweep records whose
// jobs have all ended. It returns ctx's error.
func (r *Rescanner) Run(ctx context.Context) error {
	return r.work(ctx, false)
}

// Drain works like Run until no job of the versions this instance holds
// is left to claim and its own jobs have ended, then finalizes the sweeps
// whose jobs all ended and returns. Periodic and malware sweeps are not
// started. Tests and batch programs use it.
func (r *Rescanner) Drain(ctx context.Context) error {
	return r.work(ctx, true)
}

// kinds returns the job kinds this instance can work on.
func (r *Rescanner) kinds() []string {
	var out []string
	if db, _ := r.database(); db != nil {
		out = append(out, KindVulnerability+"/"+db.Version())
	}
	if v := r.malwareVersion.Load(); v != nil {
		out = append(out, KindMalware+"/"+*v)
	}
	return out
}

func (r *Rescanner) work(ctx context.Context, drain bool) error {
	active := inflight.New(r.opts.Queue, r.log, "rescan")
	slots := make(chan struct{}, r.opts.Concurrency)
	defer active.Wait()

	// Leases are renewed for every job in flight.
	renewCtx, stopRenew := context.WithCancel(ctx)
	defer stopRenew()
	go active.Renew(renewCtx, r.opts.Lease)

	var lastHousekeeping time.Time
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !drain && time.Since(lastHousekeeping) >= r.opts.Poll {
			lastHousekeeping = time.Now()
			r.housekeeping(ctx)
		}
		paused, err := r.Paused(ctx)
		if err != nil {
			r.log.Warn("rescan: reading the pause flag", "error", err)
			paused = true
		}
		kinds := r.kinds()
		free := r.opts.Concurrency - len(slots)
		var jobs []catalog.Job
		if !paused && len(kinds) > 0 && free > 0 {
			jobs, err = r.opts.Queue.Claim(ctx, catalog.ClaimRequest{Owner: r.opts.Instance, Kinds: kinds, Max: free, Lease: r.opts.Lease})
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				r.log.Warn("rescan: claiming jobs", "error", err)
			}
		}
		if len(jobs) == 0 {
			done, err := r.idle(ctx, drain, paused, active.Len(), free)
			if done || err != nil {
				return err
			}
			continue
		}
		for _, j := range jobs {
			active.Start(ctx, j, r.opts.Lease, slots, r.runJob)
		}
	}
}

// idle waits when no job was claimed: a draining run is done (done true)
// once nothing is in flight, nothing is paused and every sweep has ended;
// otherwise it waits for the poll interval (less when jobs are running or
// every slot is taken) and, when not draining and idle, closes the sweeps
// that have ended.
func (r *Rescanner) idle(ctx context.Context, drain, paused bool, busy, free int) (bool, error) {
	if drain && busy == 0 && !paused {
		// Done when every sweep has ended (jobs waiting for a
		// retry, or held by other instances, are waited for).
		if r.finalizeSweeps(ctx) == 0 {
			return true, nil
		}
	}
	wait := r.opts.Poll
	if busy > 0 || free == 0 {
		wait = min(wait, 20*time.Millisecond)
	}
	select {
	case <-ctx.Done():
		return true, ctx.Err()
	case <-time.After(wait):
	}
	if !drain && busy == 0 {
		r.finalizeSweeps(ctx)
	}
	return false, nil
}

// housekeeping starts what is due: the periodic sweep and a malware
// sweep after a signature update.
func (r *Rescanner) housekeeping(ctx context.Context) {
	if r.opts.Interval > 0 {
		if db, _ := r.database(); db != nil {
			last, err := r.opts.Coordinator.Value(ctx, keyPeriodicAt)
			t, _ := time.Parse(time.RFC3339Nano, last)
			if err == nil && r.now().Sub(t) >= r.opts.Interval {
				if _, err := r.Sweep(ctx); err != nil && ctx.Err() == nil {
					r.log.Warn("rescan: periodic sweep", "error", err)
				}
			}
		}
	}
	if r.opts.Malware != nil {
		if _, err := r.CheckMalware(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("rescan: malware signature check", "error", err)
		}
	}
}

// finalizeSweeps closes the records of running sweeps whose jobs have all
// ended: their outcomes and failures are counted once, by one instance. It
// returns how many of the recent sweeps are still running (or could not
// be looked at).
func (r *Rescanner) finalizeSweeps(ctx context.Context) int {
	sweeps, err := r.opts.Sweeps.Sweeps(ctx, 100)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("rescan: listing sweeps", "error", err)
		}
		return 1
	}
	open := 0
	for _, sw := range sweeps {
		if sw.State != catalog.SweepRunning || !ownSweep(sw) {
			continue
		}
		done, err := r.finalize(ctx, sw)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("rescan: finalizing sweep", "sweep", sw.ID, "error", err)
		}
		if !done {
			open++
		}
	}
	return open
}

// ownSweep reports whether sw is a rescan sweep: the sweep log is shared
// with other work (upstream tracking, the lifecycle), whose sweeps their
// own packages close.
func ownSweep(sw *catalog.Sweep) bool {
	switch sw.Kind {
	case catalog.SweepFull, catalog.SweepDelta, catalog.SweepRequest, catalog.SweepMalware:
		return true
	}
	return false
}

// finalize closes sw if its jobs have all ended, and reports whether they
// have.
func (r *Rescanner) finalize(ctx context.Context, sw *catalog.Sweep) (bool, error) {
	st, err := r.opts.Queue.Status(ctx, sw.ID)
	if err != nil {
		return false, err
	}
	if st.Active() > 0 {
		return false, nil
	}
	ok, err := r.opts.Coordinator.SwapValue(ctx, keySweepDonePrefix+sw.ID, "", "1")
	if err != nil || !ok {
		// Another instance finalizes it.
		return err == nil, err
	}
	sw.State, sw.Finished = catalog.SweepFinished, r.now()
	sw.Outcomes = maps.Clone(st.Outcomes)
	if sw.Outcomes == nil {
		sw.Outcomes = map[string]int{}
	}
	if st.Failed > 0 {
		sw.Outcomes["failed"] = st.Failed
	}
	if st.Cancelled > 0 {
		sw.Outcomes["cancelled"] = st.Cancelled
	}
	sw.Failures = nil
	for _, j := range st.Failures {
		sw.Failures = append(sw.Failures, catalog.SweepFailure{Job: j.Key, Error: j.Error})
	}
	r.running.Delete(sw.ID)
	r.log.Info("rescan: sweep finished", "sweep", sw.ID, "outcomes", sw.Outcomes)
	return true, r.opts.Sweeps.PutSweep(ctx, sw)
}

// runJob runs one claimed job and ends it: complete with its outcome, or
// fail with a retry time (the last attempt fails for good).
func (r *Rescanner) runJob(ctx context.Context, j catalog.Job) {
	if j.Attempts > r.opts.MaxAttempts {
		r.end(ctx, j, "", fmt.Errorf("claimed %d times without completing (instances died or leases expired)", j.Attempts-1), false)
		return
	}
	if r.limiter != nil {
		if err := r.limiter.Wait(ctx); err != nil {
			return // the lease runs out and another claimer takes the job
		}
	}
	var outcome string
	var err error
	kind, _, _ := strings.Cut(j.Kind, "/")
	switch kind {
	case KindVulnerability:
		outcome, err = r.vulnerabilityJob(ctx, j)
	case KindMalware:
		outcome, err = r.malwareJob(ctx, j)
	default:
		err = fmt.Errorf("unknown job kind %q", j.Kind)
	}
	if ctx.Err() != nil && err != nil {
		return // abandoned (lease lost, shutdown): the lease decides who goes on
	}
	r.end(ctx, j, outcome, err, true)
}

// end completes or fails a job.
func (r *Rescanner) end(ctx context.Context, j catalog.Job, outcome string, jobErr error, retry bool) {
	ctx = context.WithoutCancel(ctx)
	var err error
	if jobErr == nil {
		err = r.opts.Queue.Complete(ctx, catalog.Completion{Job: j, Outcome: outcome})
	} else {
		var at time.Time
		if retry && j.Attempts < r.opts.MaxAttempts {
			at = time.Now().Add(r.opts.Retry << min(j.Attempts-1, 10))
		}
		r.log.Warn("rescan: job failed", "job", j.Key, "attempt", j.Attempts, "final", at.IsZero(), "error", jobErr)
		err = r.opts.Queue.Fail(ctx, j, jobErr.Error(), at)
	}
	if err != nil {
		r.log.Warn("rescan: ending job", "job", j.Key, "error", err)
	}
}
