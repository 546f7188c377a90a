package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Queue is a work queue kept in the catalog's store, so that several
// instances share work without a coordinator beside the database: a job is
// taken with a lease that expires, so the work of an instance that dies is
// taken again by another once the lease runs out. Implementations:
// MemoryQueue (one process), catalog/sqlite (one writer) and
// catalog/postgres (FOR UPDATE SKIP LOCKED); catalogtest.RunQueue checks
// any implementation. A Queue is safe for concurrent use.
//
// Leases are fenced: a lease is the pair (Job.ID, Job.Attempts) returned by
// Claim, and Extend, Complete and Fail with a lease that is no longer the
// job's current one fail with an error wrapping ErrLeaseLost. Times that
// decide expiry come from the store's clock (the database server's for
// PostgreSQL), never from the caller's.
type Queue interface {
	// Enqueue adds jobs and returns how many were added. A job whose Key
	// the queue already holds, in any state, is not added again (a key is
	// unique over the queue's history, so a job is done at most once);
	// if that job is pending with a lower priority, its priority is raised
	// to the new one. Jobs are validated first (ErrInvalidJob), and
	// nothing is added when one is invalid.
	Enqueue(ctx context.Context, jobs ...Job) (int, error)
	// Claim leases up to req.Max jobs of req.Kinds that are ready (pending
	// and past NotBefore, or leased with an expired lease), the highest
	// priority first, then the oldest. Each claim increments the job's
	// Attempts, which is its lease token. No job is handed to two
	// claimers at once. An empty result is not an error.
	Claim(ctx context.Context, req ClaimRequest) ([]Job, error)
	// Extend renews the leases of jobs for d from now (the store's clock).
	// It fails with ErrLeaseLost if any lease is no longer current; the
	// others are extended.
	Extend(ctx context.Context, d time.Duration, jobs ...Job) error
	// Complete ends leased jobs as done, each with its outcome (a short
	// label counted by Status). Completions whose lease is no longer
	// current are not applied and make Complete return an error wrapping
	// ErrLeaseLost (a *LeaseLostError naming them); the others are.
	Complete(ctx context.Context, done ...Completion) error
	// Fail ends a leased job's attempt with cause. If retryAt is zero the
	// job fails for good (JobFailed); otherwise it is pending again from
	// retryAt. A lease that is no longer current gives ErrLeaseLost.
	Fail(ctx context.Context, job Job, cause string, retryAt time.Time) error
	// Cancel ends every pending or leased job of kind as cancelled and
	// returns them (their leases become stale).
	Cancel(ctx context.Context, kind string) ([]Job, error)
	// Status counts the jobs of group by state, the outcomes of its done
	// jobs, and returns up to MaxStatusFailures failed jobs (the most
	// recently finished first).
	Status(ctx context.Context, group string) (*GroupStatus, error)
}

// Coordinator holds the little cluster-wide state that instances sharing a
// catalog need: locks for cluster-wide jobs and compare-and-swap values.
// Implementations: MemoryQueue, catalog/sqlite, catalog/postgres (session
// advisory locks).
type Coordinator interface {
	// TryLock takes the cluster-wide lock name if nobody holds it. It
	// returns ok false (and a nil error) if another holder has it. The
	// lock is held until unlock is called or the holder's process dies;
	// unlock is idempotent.
	TryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)
	// Value returns the value of key, "" if it is unset.
	Value(ctx context.Context, key string) (string, error)
	// SwapValue sets key to new if its value is old ("" means unset) and
	// reports whether it did.
	SwapValue(ctx context.Context, key, old, new string) (bool, error)
}

// SweepLog keeps the records of sweeps (rescans of many images).
// Implementations: MemoryQueue, catalog/sqlite, catalog/postgres.
type SweepLog interface {
	// PutSweep inserts s, or replaces the record with the same ID.
	PutSweep(ctx context.Context, s *Sweep) error
	// Sweep returns the record with id, or an error wrapping ErrNotFound.
	Sweep(ctx context.Context, id string) (*Sweep, error)
	// Sweeps returns up to limit records (0 means 50, at most MaxLimit),
	// the most recently started first, then by ID.
	Sweeps(ctx context.Context, limit int) ([]*Sweep, error)
}

// Sentinel errors of queues.
var (
	// ErrInvalidJob: a job, claim request or completion fails validation.
	ErrInvalidJob = errors.New("catalog: invalid job")
	// ErrLeaseLost: the lease given is no longer the job's current one
	// (it expired and another claimer took the job, or the job was
	// cancelled or ended).
	ErrLeaseLost = errors.New("catalog: lease lost")
)

// LeaseLostError names the jobs whose leases were lost. It matches
// ErrLeaseLost.
type LeaseLostError struct {
	// IDs are the jobs whose leases were lost, in the order given.
	IDs []int64
}

// Error implements error.
func (e *LeaseLostError) Error() string {
	return fmt.Sprintf("%v: job(s) %v", ErrLeaseLost, e.IDs)
}

// Is reports whether target is ErrLeaseLost.
func (e *LeaseLostError) Is(target error) bool { return target == ErrLeaseLost }

// JobState is the state of a job.
type JobState string

// Job states.
const (
	// JobPending: waiting to be claimed.
	JobPending JobState = "pending"
	// JobLeased: claimed; claimable again once the lease expires.
	JobLeased JobState = "leased"
	// JobDone: completed.
	JobDone JobState = "done"
	// JobFailed: failed for good.
	JobFailed JobState = "failed"
	// JobCancelled: cancelled before it completed.
	JobCancelled JobState = "cancelled"
)

// Caps and defaults of queues.
const (
	// MaxPayloadBytes caps Job.Payload: 64 KiB.
	MaxPayloadBytes = 64 << 10
	// MaxKeyBytes caps Job.Key, Job.Kind, Job.Group, coordinator keys and
	// lock names: 1024 bytes.
	MaxKeyBytes = 1024
	// MaxValueBytes caps coordinator values: 1 MiB.
	MaxValueBytes = 1 << 20
	// MaxClaim caps ClaimRequest.Max: 1000.
	MaxClaim = 1000
	// DefaultLease is the lease of a ClaimRequest whose Lease is zero.
	DefaultLease = time.Minute
	// MaxStatusFailures caps GroupStatus.Failures: 20.
	MaxStatusFailures = 20
	// MaxCauseBytes caps the cause of Fail kept in Job.Error: 4 KiB (the
	// rest is cut).
	MaxCauseBytes = 4 << 10
)

// Job is one unit of work in a Queue.
type Job struct {
	// ID identifies the job; set by the queue.
	ID int64 `json:"id"`
	// Kind says what the job is; claimers ask for kinds. Required.
	Kind string `json:"kind"`
	// Key identifies the work: the queue never holds two jobs with the
	// same key. Required.
	Key string `json:"key"`
	// Group gathers the jobs of one sweep; empty means none.
	Group string `json:"group,omitempty"`
	// Priority orders claims: higher first. Zero is the lowest usual
	// priority; negative values are allowed.
	Priority int `json:"priority"`
	// Payload is the job's data (opaque to the queue), at most
	// MaxPayloadBytes.
	Payload []byte `json:"payload,omitempty"`
	// NotBefore delays the job; zero means ready at once.
	NotBefore time.Time `json:"notBefore,omitzero"`

	// The fields below are set by the queue.

	// State is the job's state.
	State JobState `json:"state"`
	// Attempts counts the claims of the job; with ID it is the lease.
	Attempts int `json:"attempts"`
	// Owner is the last claimer.
	Owner string `json:"owner,omitempty"`
	// LeaseExpires is when the current lease expires (leased jobs).
	LeaseExpires time.Time `json:"leaseExpires,omitzero"`
	// Created is when the job was enqueued; Finished when it was done,
	// failed or cancelled.
	Created  time.Time `json:"created,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// Outcome is the label Complete gave a done job.
	Outcome string `json:"outcome,omitempty"`
	// Error is the cause of the last Fail.
	Error string `json:"error,omitempty"`
}

// Validate checks what Enqueue needs: a kind, a key and a group within
// MaxKeyBytes and valid UTF-8 without NUL, a payload within
// MaxPayloadBytes. Errors wrap ErrInvalidJob.
func (j *Job) Validate() error {
	if err := checkName("kind", j.Kind, true); err != nil {
		return err
	}
	if err := checkName("key", j.Key, true); err != nil {
		return err
	}
	if err := checkName("group", j.Group, false); err != nil {
		return err
	}
	if len(j.Payload) > MaxPayloadBytes {
		return fmt.Errorf("%w: payload of %d bytes, cap %d", ErrInvalidJob, len(j.Payload), MaxPayloadBytes)
	}
	return nil
}

// CheckName validates a job kind, key or group, a coordinator key or a
// lock name: valid UTF-8 without NUL, at most MaxKeyBytes, and not empty
// when required. Errors wrap ErrInvalidJob.
func CheckName(what, s string, required bool) error { return checkName(what, s, required) }

func checkName(what, s string, required bool) error {
	switch {
	case s == "" && required:
		return fmt.Errorf("%w: no %s", ErrInvalidJob, what)
	case len(s) > MaxKeyBytes:
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalidJob, what, MaxKeyBytes)
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		return fmt.Errorf("%w: %s is not UTF-8 text", ErrInvalidJob, what)
	}
	return nil
}

// ClaimRequest asks a Queue for jobs.
type ClaimRequest struct {
	// Owner names the claimer (an instance id), for the record. Required.
	Owner string
	// Kinds are the kinds of job wanted. At least one is required.
	Kinds []string
	// Max is how many jobs to claim at most. Zero means 1; at most
	// MaxClaim.
	Max int
	// Lease is how long the claim holds. Zero means DefaultLease.
	Lease time.Duration
}

// Validate checks req and returns it with its defaults filled in. Errors
// wrap ErrInvalidJob.
func (req ClaimRequest) Validate() (ClaimRequest, error) {
	if err := checkName("owner", req.Owner, true); err != nil {
		return req, err
	}
	if len(req.Kinds) == 0 {
		return req, fmt.Errorf("%w: claim without kinds", ErrInvalidJob)
	}
	for _, k := range req.Kinds {
		if err := checkName("kind", k, true); err != nil {
			return req, err
		}
	}
	if req.Max < 0 || req.Max > MaxClaim {
		return req, fmt.Errorf("%w: claim of %d jobs, not in 0..%d", ErrInvalidJob, req.Max, MaxClaim)
	}
	if req.Max == 0 {
		req.Max = 1
	}
	if req.Lease < 0 {
		return req, fmt.Errorf("%w: negative lease", ErrInvalidJob)
	}
	if req.Lease == 0 {
		req.Lease = DefaultLease
	}
	return req, nil
}

// Completion is one job to complete: the job as claimed (its ID and
// Attempts are the lease) and its outcome.
type Completion struct {
	Job Job
	// Outcome is a short label for Status to count ("written",
	// "unchanged"); empty means "done".
	Outcome string
}

// OutcomeOf returns the outcome Complete records for c: c.Outcome, or
// "done" when it is empty.
func (c Completion) OutcomeOf() string {
	if c.Outcome == "" {
		return "done"
	}
	return c.Outcome
}

// GroupStatus counts the jobs of a group.
type GroupStatus struct {
	// Pending counts jobs waiting to be claimed (including leased jobs
	// whose lease has expired), Leased the ones held by a live lease.
	Pending int `json:"pending"`
	Leased  int `json:"leased"`
	// Done, Failed and Cancelled count the ended jobs.
	Done      int `json:"done"`
	Failed    int `json:"failed"`
	Cancelled int `json:"cancelled"`
	// Outcomes counts the done jobs by outcome.
	Outcomes map[string]int `json:"outcomes,omitempty"`
	// Failures are up to MaxStatusFailures failed jobs, the most recently
	// finished first.
	Failures []Job `json:"failures,omitempty"`
}

// Active returns the number of jobs not yet ended.
func (s *GroupStatus) Active() int { return s.Pending + s.Leased }

// CutCause cuts a failure cause to MaxCauseBytes on a rune boundary and
// makes it valid UTF-8 without NUL. Queues store causes through it.
func CutCause(s string) string { return cutText(s, MaxCauseBytes) }

// cutText makes s valid UTF-8 without NUL and cuts it to max bytes on a
// rune boundary.
func cutText(s string, max int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Sweep kinds.
const (
	// SweepFull re-matches every image (the first database, or a periodic
	// sweep after the database changed).
	SweepFull = "full"
	// SweepDelta re-matches the images a database update affects.
	SweepDelta = "delta"
	// SweepRequest rescans images on request.
	SweepRequest = "request"
	// SweepMalware rescans layers after the malware signatures changed.
	SweepMalware = "malware"
)

// Sweep states.
const (
	// SweepRunning: jobs are enqueued and not all have ended.
	SweepRunning = "running"
	// SweepFinished: every job ended (done, failed or cancelled).
	SweepFinished = "finished"
	// SweepSkipped: nothing to do; Reason says why.
	SweepSkipped = "skipped"
)

// Sweep is the record of one rescan run over many images: what triggered
// it, against which database, what was matched, skipped and failed, and
// why.
type Sweep struct {
	// ID identifies the sweep. Required.
	ID string `json:"id"`
	// Kind is one of the Sweep kind constants.
	Kind string `json:"kind"`
	// Trigger says what started it ("periodic", "database", "request",
	// "signatures").
	Trigger string `json:"trigger,omitempty"`
	// Scanner names the scanner ("osv", "clamav").
	Scanner string `json:"scanner,omitempty"`
	// DatabaseVersion is the database the sweep matched against;
	// PreviousVersion the one before it (delta sweeps), if known.
	DatabaseVersion string `json:"databaseVersion,omitempty"`
	PreviousVersion string `json:"previousVersion,omitempty"`
	// Started and Finished bound the sweep; Finished is zero while it
	// runs.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	// State is one of the Sweep state constants.
	State string `json:"state"`
	// Reason explains the state in one line ("skipped: database
	// unchanged").
	Reason string `json:"reason,omitempty"`
	// Diff describes the database change of a delta sweep; nil otherwise.
	Diff *SweepDiff `json:"diff,omitempty"`
	// Images counts the images (jobs) the sweep enqueued.
	Images int `json:"images"`
	// Outcomes counts the ended jobs by outcome ("written", "unchanged",
	// "gone"), with "failed" and "cancelled" for the others.
	Outcomes map[string]int `json:"outcomes,omitempty"`
	// Failures names up to MaxStatusFailures images whose rescan failed,
	// and why.
	Failures []SweepFailure `json:"failures,omitempty"`
	// Subject is the one image ("repository@digest") a sweep of a single
	// image is about (SweepRequest); empty for a sweep over many. Readers
	// that show sweeps to callers with access levels leave out the sweep
	// of an image the caller may not see.
	Subject string `json:"subject,omitempty"`
	// TotalsWithheld is never stored: a reader sets it on the copy it
	// shows a caller who may not see every image (access levels), from
	// which it removed what counts or names images across the whole
	// catalog (Images, Outcomes, Diff.Affected, a Reason): those totals
	// were taken over every image and would reveal the hidden ones.
	TotalsWithheld bool `json:"totalsWithheld,omitempty"`
}

// SweepDiff describes a database update.
type SweepDiff struct {
	// Added, Changed and Withdrawn count advisories.
	Added     int `json:"added"`
	Changed   int `json:"changed"`
	Withdrawn int `json:"withdrawn"`
	// Packages counts the distinct (ecosystem, package) pairs the changed
	// advisories name.
	Packages int `json:"packages"`
	// Affected counts the images that contain one of them.
	Affected int `json:"affected"`
}

// SweepFailure is one failed rescan of a sweep.
type SweepFailure struct {
	// Job is the key of the job that failed.
	Job string `json:"job"`
	// Error is why.
	Error string `json:"error"`
}

// Validate checks what a SweepLog needs: an ID (see CheckName) and a
// known state. Errors wrap ErrInvalidJob.
func (s *Sweep) Validate() error {
	if s == nil {
		return fmt.Errorf("%w: nil sweep", ErrInvalidJob)
	}
	if err := checkName("sweep id", s.ID, true); err != nil {
		return err
	}
	switch s.State {
	case SweepRunning, SweepFinished, SweepSkipped:
	default:
		return fmt.Errorf("%w: sweep state %q", ErrInvalidJob, s.State)
	}
	return nil
}
