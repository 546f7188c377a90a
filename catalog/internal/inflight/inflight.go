// Package inflight keeps the claimed queue jobs that a worker is running:
// it starts each in its own goroutine under a slot, renews the leases of
// all of them while they run, and cancels a job whose lease was lost so
// that the instance that took it over goes on alone.
//
// The catalog's queue workers (catalog/requests, catalog/upstream and
// catalog/rescan) share it; their claim loops stay their own.
package inflight

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cssc-go/cssc/catalog"
)

// Extender extends the leases of claimed jobs (catalog.Queue).
type Extender interface {
	Extend(ctx context.Context, d time.Duration, jobs ...catalog.Job) error
}

type running struct {
	job    catalog.Job
	lease  time.Duration
	cancel context.CancelFunc
}

// Jobs is the set of jobs in flight, by id; safe for concurrent use. The
// zero value is not usable: make one with New.
type Jobs struct {
	queue Extender
	log   *slog.Logger
	name  string

	wg   sync.WaitGroup
	mu   sync.Mutex
	jobs map[int64]*running
}

// New returns an empty set whose leases queue extends. Its warnings go to
// log (never nil) with messages that start with name and ": ".
func New(queue Extender, log *slog.Logger, name string) *Jobs {
	return &Jobs{queue: queue, log: log, name: name, jobs: map[int64]*running{}}
}

// Start takes a slot (a send on slots, which the caller has checked is
// free), then runs run(jctx, j) in a goroutine, with jctx a child of ctx
// that is cancelled if the job's lease is lost. When run returns, the job
// leaves the set, jctx is cancelled and the slot is given back. lease is
// how long each renewal extends the job's lease.
func (in *Jobs) Start(ctx context.Context, j catalog.Job, lease time.Duration, slots chan struct{}, run func(context.Context, catalog.Job)) {
	slots <- struct{}{}
	jctx, cancel := context.WithCancel(ctx)
	in.mu.Lock()
	in.jobs[j.ID] = &running{job: j, lease: lease, cancel: cancel}
	in.mu.Unlock()
	in.wg.Go(func() {
		defer func() { <-slots }()
		defer cancel()
		run(jctx, j)
		in.mu.Lock()
		delete(in.jobs, j.ID)
		in.mu.Unlock()
	})
}

// Len returns how many jobs are in flight.
func (in *Jobs) Len() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.jobs)
}

// Wait waits until every job started has returned.
func (in *Jobs) Wait() { in.wg.Wait() }

// Renew extends the leases of the jobs in flight until ctx ends, every
// third of shortest (the shortest lease of the jobs; at least every 10
// ms): one Extend call for each lease length. A job whose lease was lost
// is cancelled; other errors are logged while ctx lasts. Run it in its
// own goroutine.
func (in *Jobs) Renew(ctx context.Context, shortest time.Duration) {
	tick := time.NewTicker(max(shortest/3, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for lease, jobs := range in.byLease() {
			err := in.queue.Extend(ctx, lease, jobs...)
			var lle *catalog.LeaseLostError
			if errors.As(err, &lle) {
				in.cancel(lle.IDs)
			} else if err != nil && ctx.Err() == nil {
				in.log.Warn(in.name+": renewing leases", "error", err)
			}
		}
	}
}

// byLease returns the jobs in flight by the length of their lease.
func (in *Jobs) byLease() map[time.Duration][]catalog.Job {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := map[time.Duration][]catalog.Job{}
	for _, rj := range in.jobs {
		out[rj.lease] = append(out[rj.lease], rj.job)
	}
	return out
}

// cancel cancels the jobs in flight among ids.
func (in *Jobs) cancel(ids []int64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, id := range ids {
		if rj, ok := in.jobs[id]; ok {
			in.log.Warn(in.name+": lease lost, abandoning job", "job", rj.job.Key)
			rj.cancel()
		}
	}
}
