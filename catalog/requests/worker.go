package requests

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/internal/inflight"
	"github.com/cssc-go/cssc/catalog/upstream"
	"github.com/cssc-go/cssc/registry"
)

// digestIndexer indexes one image by digest (*catalog.Syncer).
type digestIndexer interface {
	Index(ctx context.Context, location string, d digest.Digest) (*catalog.Entry, error)
}

var _ digestIndexer = (*catalog.Syncer)(nil)

// Job outcomes beside the acquisition's own.
const (
	outcomeStale = "stale" // the request ended before the job ran
)

// Run works until ctx ends: it claims the acquisition jobs of approved
// requests with leases that it renews while they run (instances sharing
// the store share them; the job of an instance that died is taken over
// when its lease expires), and now and then queues again the job of an
// approved request whose instance died before queueing it. It returns
// ctx's error.
func (s *Service) Run(ctx context.Context) error { return s.work(ctx, false) }

// Drain works like Run until no job is left to claim and this instance's
// jobs have ended, then returns. Tests and batch programs use it.
func (s *Service) Drain(ctx context.Context) error { return s.work(ctx, true) }

func (s *Service) work(ctx context.Context, drain bool) error {
	if s.opts.Acquirer == nil {
		return fmt.Errorf("%w: Run needs an Acquirer", ErrInvalidConfig)
	}
	active := inflight.New(s.opts.Queue, s.log, "requests")
	slots := make(chan struct{}, s.opts.Concurrency)
	defer active.Wait()

	renewCtx, stopRenew := context.WithCancel(ctx)
	defer stopRenew()
	go active.Renew(renewCtx, s.opts.Lease)

	var lastRepair time.Time
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Since(lastRepair) >= 30*time.Second {
			lastRepair = time.Now()
			s.requeue(ctx)
		}
		free := cap(slots) - len(slots)
		claimed := 0
		if free > 0 {
			jobs, err := s.opts.Queue.Claim(ctx, catalog.ClaimRequest{Owner: s.opts.Instance, Kinds: []string{KindAcquire}, Max: free, Lease: s.opts.Lease})
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				s.log.Warn("requests: claiming jobs", "error", err)
			}
			claimed = len(jobs)
			for _, j := range jobs {
				active.Start(ctx, j, s.opts.Lease, slots, s.runJob)
			}
		}
		if claimed > 0 {
			continue
		}
		busy := active.Len()
		if drain && busy == 0 {
			return nil
		}
		wait := s.opts.Poll
		if busy > 0 && drain {
			wait = min(wait, 20*time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.wake:
		case <-time.After(wait):
		}
	}
}

// repairGrace is how long an approved request is left to the instance
// that approved it before another queues its job again: that instance
// queues it right after saying it is approved.
const repairGrace = time.Minute

// requeue queues the jobs of approved requests again (Enqueue ignores the
// ones queued already): the repair for an instance that died between
// approving a request and queueing its job. A request approved in the
// last repairGrace is left alone, so that its approval event comes first.
func (s *Service) requeue(ctx context.Context) {
	rs, err := s.opts.Requests.Requests(ctx, catalog.RequestQuery{State: catalog.RequestApproved, Limit: catalog.MaxRequestLimit})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("requests: listing approved requests", "error", err)
		}
		return
	}
	now := s.opts.Now()
	for _, r := range rs {
		if now.Sub(r.Since) < repairGrace {
			continue
		}
		if err := s.enqueue(ctx, r); err != nil && ctx.Err() == nil {
			s.log.Warn("requests: queueing an approved request", "request", r.ID, "error", err)
		}
	}
}

// runJob runs one claimed job and ends it.
func (s *Service) runJob(ctx context.Context, j catalog.Job) {
	outcome, retry, err := s.acquireJob(ctx, j)
	if ctx.Err() != nil && err != nil {
		return // abandoned (lease lost, shutdown): the lease decides who goes on
	}
	ctx = context.WithoutCancel(ctx)
	switch {
	case err == nil:
		err = s.opts.Queue.Complete(ctx, catalog.Completion{Job: j, Outcome: outcome})
	case retry:
		s.log.Warn("requests: acquisition failed; it will be tried again", "job", j.Key, "error", err)
		err = s.opts.Queue.Fail(ctx, j, err.Error(), time.Now().Add(s.opts.RetryAfter))
	default:
		s.log.Warn("requests: job failed", "job", j.Key, "error", err)
		err = s.opts.Queue.Fail(ctx, j, err.Error(), time.Time{})
	}
	if err != nil {
		s.log.Warn("requests: ending job", "job", j.Key, "error", err)
	}
}

// update applies fn to the stored request id and writes it, again on a
// conflict. fn returns false to write nothing.
func (s *Service) update(ctx context.Context, id string, fn func(r *catalog.Request) (bool, error)) (*catalog.Request, bool, error) {
	for range 20 {
		r, err := s.opts.Requests.Request(ctx, id)
		if err != nil {
			return nil, false, err
		}
		ok, err := fn(r)
		if err != nil || !ok {
			return r, false, err
		}
		err = s.opts.Requests.PutRequest(ctx, r)
		if errors.Is(err, catalog.ErrConflict) {
			continue
		}
		return r, err == nil, err
	}
	return nil, false, fmt.Errorf("%w: request %s kept changing", catalog.ErrConflict, id)
}

// acquireJob acquires the image of one approved request. It returns the
// job's outcome, or an error and whether the job should be tried again.
func (s *Service) acquireJob(ctx context.Context, j catalog.Job) (string, bool, error) {
	id := string(j.Payload)
	now := s.opts.Now()
	var first bool
	r, moved, err := s.update(ctx, id, func(r *catalog.Request) (bool, error) {
		if r.State != catalog.RequestApproved && r.State != catalog.RequestAcquiring {
			return false, nil
		}
		first = r.State == catalog.RequestApproved
		r.Attempts++
		note := fmt.Sprintf("acquisition %d started", r.Attempts)
		if !first {
			note = fmt.Sprintf("acquisition %d started (the previous attempt did not finish)", r.Attempts)
		}
		if r.Attempts > s.opts.MaxAttempts {
			r.Move(catalog.RequestFailed, now, s.opts.Instance, "gave up")
			r.Reasons = []string{fmt.Sprintf("the acquisition was started %d times without finishing (workers died or it kept failing)", r.Attempts-1)}
			r.Attempts--
			return true, nil
		}
		r.Move(catalog.RequestAcquiring, now, s.opts.Instance, note)
		return true, nil
	})
	if errors.Is(err, catalog.ErrNotFound) {
		return outcomeStale, false, nil
	}
	if err != nil {
		return "", true, err
	}
	if !moved {
		return outcomeStale, false, nil
	}
	if r.State == catalog.RequestFailed {
		s.emit(ctx, TypeFailed, now, r, s.opts.Instance)
		return upstream.OutcomeError, false, nil
	}
	if first {
		s.emit(ctx, TypeAcquiring, now, r, s.opts.Instance)
	}
	s.log.InfoContext(ctx, "requests: acquiring", "request", r.ID, "reference", r.Reference, "attempt", r.Attempts)
	req := upstream.Request{Source: r.Reference, Golden: r.Golden, Tag: r.Tag}
	if ref, err := registry.ParseRef(r.Reference); err == nil {
		req.Digest = ref.Digest
	}
	res, aerr := s.opts.Acquirer.Acquire(ctx, req)
	if aerr != nil && ctx.Err() != nil {
		return "", false, aerr // abandoned
	}
	if res == nil {
		res = &upstream.Result{Outcome: upstream.OutcomeError}
	}
	if aerr != nil {
		res.Promoted, res.Outcome = false, upstream.OutcomeError
		res.Reason = strings.TrimSpace(res.Reason + " " + aerr.Error())
	}
	if res.Promoted && s.opts.Syncer != nil {
		// Index the promotion before the request says so: a requester
		// told "promoted" finds the image in the catalog. An image
		// requested by digest alone has no tag for a reconcile to find:
		// it is indexed by digest when the syncer can.
		s.opts.Syncer.ReconcileRepository(context.WithoutCancel(ctx), r.Golden)
		if ix, ok := s.opts.Syncer.(digestIndexer); ok && r.Tag == "" && res.Digest != "" {
			if _, err := ix.Index(context.WithoutCancel(ctx), r.Golden, res.Digest); err != nil {
				s.log.WarnContext(ctx, "requests: index the promoted image", "request", r.ID, "digest", res.Digest, "error", err)
			}
		}
	}
	end := s.opts.Now()
	attempt := r.Attempts
	retry := false
	final := catalog.RequestState("")
	r, moved, err = s.update(context.WithoutCancel(ctx), id, func(r *catalog.Request) (bool, error) {
		if r.State != catalog.RequestAcquiring || r.Attempts != attempt {
			return false, nil // another worker took over
		}
		r.Outcome, r.SourceDigest = res.Outcome, res.SourceDigest
		switch {
		case res.Promoted:
			r.Digest = res.Digest
			r.Reasons = nil
			r.Move(catalog.RequestPromoted, end, s.opts.Instance, "the image passed the pipeline: "+res.Outcome)
		case res.Outcome == upstream.OutcomeDenied:
			r.Reasons = splitReasons(res.Reason)
			r.Decider = "policy"
			r.Move(catalog.RequestDenied, end, s.opts.Instance, "the policy denied the image")
		case attempt < s.opts.MaxAttempts:
			retry = true
			r.Reasons = []string{res.Reason}
			r.Note(end, s.opts.Instance, fmt.Sprintf("acquisition %d could not complete; it will be tried again: %s", attempt, res.Reason))
		default:
			r.Reasons = []string{res.Reason}
			r.Move(catalog.RequestFailed, end, s.opts.Instance, fmt.Sprintf("acquisition %d could not complete", attempt))
		}
		final = r.State
		return true, nil
	})
	if err != nil {
		return "", true, err
	}
	if !moved {
		return outcomeStale, false, nil
	}
	switch final {
	case catalog.RequestPromoted:
		s.log.InfoContext(ctx, "requests: promoted", "request", r.ID, "reference", r.Reference, "digest", r.Digest)
		s.emit(ctx, TypePromoted, end, r, s.opts.Instance)
	case catalog.RequestDenied:
		s.log.WarnContext(ctx, "requests: denied by the policy", "request", r.ID, "reference", r.Reference, "reasons", r.Reasons)
		s.emit(ctx, TypeDenied, end, r, "policy")
	case catalog.RequestFailed:
		s.emit(ctx, TypeFailed, end, r, s.opts.Instance)
	}
	if retry {
		return "", true, errors.New(res.Reason)
	}
	return res.Outcome, false, nil
}

// splitReasons splits the pipeline's one-line reason ("a; b; c") into the
// policy's reasons.
func splitReasons(s string) []string {
	var out []string
	for _, p := range strings.Split(s, "; ") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		out = []string{"denied by the policy"}
	}
	return out
}
