package catalog

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// MemoryQueue is a Queue, Coordinator and SweepLog in memory, for one
// process: tests, examples and a single instance over a MemoryStore. Locks
// are held by this process only. Claim looks at every live job, so it
// suits up to some tens of thousands of them.
type MemoryQueue struct {
	mu     sync.Mutex
	now    func() time.Time
	nextID int64
	jobs   map[int64]*Job
	keys   map[string]int64
	locks  map[string]uint64
	lockN  uint64
	values map[string]string
	sweeps map[string][]byte
}

var (
	_ Queue       = (*MemoryQueue)(nil)
	_ Coordinator = (*MemoryQueue)(nil)
	_ SweepLog    = (*MemoryQueue)(nil)
)

// NewMemoryQueue returns an empty MemoryQueue on the system clock.
func NewMemoryQueue() *MemoryQueue {
	return &MemoryQueue{now: time.Now, jobs: map[int64]*Job{}, keys: map[string]int64{},
		locks: map[string]uint64{}, values: map[string]string{}, sweeps: map[string][]byte{}}
}

func cloneJob(j *Job) Job {
	c := *j
	c.Payload = slices.Clone(j.Payload)
	return c
}

// Enqueue implements Queue.
func (q *MemoryQueue) Enqueue(ctx context.Context, jobs ...Job) (int, error) {
	for i := range jobs {
		if err := jobs[i].Validate(); err != nil {
			return 0, err
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now().UTC()
	added := 0
	for _, j := range jobs {
		if id, ok := q.keys[j.Key]; ok {
			old := q.jobs[id]
			if old.State == JobPending && old.Priority < j.Priority {
				old.Priority = j.Priority
			}
			continue
		}
		q.nextID++
		nj := Job{ID: q.nextID, Kind: j.Kind, Key: j.Key, Group: j.Group, Priority: j.Priority,
			Payload: slices.Clone(j.Payload), NotBefore: j.NotBefore.UTC(), State: JobPending, Created: now}
		if j.NotBefore.IsZero() {
			nj.NotBefore = time.Time{}
		}
		q.jobs[nj.ID] = &nj
		q.keys[nj.Key] = nj.ID
		added++
	}
	return added, nil
}

// ready reports whether j can be claimed at now.
func ready(j *Job, now time.Time) bool {
	switch j.State {
	case JobPending:
		return !j.NotBefore.After(now)
	case JobLeased:
		return !j.LeaseExpires.After(now)
	}
	return false
}

// Claim implements Queue.
func (q *MemoryQueue) Claim(ctx context.Context, req ClaimRequest) ([]Job, error) {
	req, err := req.Validate()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now().UTC()
	var cands []*Job
	for _, j := range q.jobs {
		if ready(j, now) && slices.Contains(req.Kinds, j.Kind) {
			cands = append(cands, j)
		}
	}
	slices.SortFunc(cands, func(a, b *Job) int { return cmp.Or(cmp.Compare(b.Priority, a.Priority), cmp.Compare(a.ID, b.ID)) })
	var out []Job
	for _, j := range cands[:min(len(cands), req.Max)] {
		j.State = JobLeased
		j.Attempts++
		j.Owner = req.Owner
		j.LeaseExpires = now.Add(req.Lease)
		out = append(out, cloneJob(j))
	}
	return out, nil
}

// current returns the job if lease (ID, Attempts) is its live lease.
func (q *MemoryQueue) current(lease Job) (*Job, bool) {
	j, ok := q.jobs[lease.ID]
	if !ok || j.State != JobLeased || j.Attempts != lease.Attempts {
		return nil, false
	}
	return j, true
}

// Extend implements Queue.
func (q *MemoryQueue) Extend(ctx context.Context, d time.Duration, jobs ...Job) error {
	if d <= 0 {
		return fmt.Errorf("%w: extend by %v", ErrInvalidJob, d)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now().UTC()
	var lost []int64
	for _, l := range jobs {
		j, ok := q.current(l)
		if !ok {
			lost = append(lost, l.ID)
			continue
		}
		j.LeaseExpires = now.Add(d)
	}
	if lost != nil {
		return &LeaseLostError{IDs: lost}
	}
	return nil
}

// Complete implements Queue.
func (q *MemoryQueue) Complete(ctx context.Context, done ...Completion) error {
	for _, c := range done {
		if err := checkName("outcome", c.Outcome, false); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now().UTC()
	var lost []int64
	for _, c := range done {
		j, ok := q.current(c.Job)
		if !ok {
			lost = append(lost, c.Job.ID)
			continue
		}
		j.State, j.Outcome, j.Finished, j.LeaseExpires = JobDone, c.OutcomeOf(), now, time.Time{}
	}
	if lost != nil {
		return &LeaseLostError{IDs: lost}
	}
	return nil
}

// Fail implements Queue.
func (q *MemoryQueue) Fail(ctx context.Context, job Job, cause string, retryAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	j, ok := q.current(job)
	if !ok {
		return &LeaseLostError{IDs: []int64{job.ID}}
	}
	j.Error = CutCause(cause)
	j.LeaseExpires = time.Time{}
	if retryAt.IsZero() {
		j.State, j.Finished = JobFailed, q.now().UTC()
		return nil
	}
	j.State, j.NotBefore = JobPending, retryAt.UTC()
	return nil
}

// Cancel implements Queue.
func (q *MemoryQueue) Cancel(ctx context.Context, kind string) ([]Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now().UTC()
	var out []Job
	for _, j := range q.jobs {
		if j.Kind == kind && (j.State == JobPending || j.State == JobLeased) {
			j.State, j.Finished, j.LeaseExpires = JobCancelled, now, time.Time{}
			out = append(out, cloneJob(j))
		}
	}
	slices.SortFunc(out, func(a, b Job) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Status implements Queue.
func (q *MemoryQueue) Status(ctx context.Context, group string) (*GroupStatus, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now().UTC()
	st := &GroupStatus{}
	for _, j := range q.jobs {
		if j.Group != group {
			continue
		}
		switch j.State {
		case JobPending:
			st.Pending++
		case JobLeased:
			if ready(j, now) {
				st.Pending++
			} else {
				st.Leased++
			}
		case JobDone:
			st.Done++
			if st.Outcomes == nil {
				st.Outcomes = map[string]int{}
			}
			st.Outcomes[j.Outcome]++
		case JobFailed:
			st.Failed++
			st.Failures = append(st.Failures, cloneJob(j))
		case JobCancelled:
			st.Cancelled++
		}
	}
	SortFailures(st.Failures)
	if len(st.Failures) > MaxStatusFailures {
		st.Failures = st.Failures[:MaxStatusFailures]
	}
	return st, nil
}

// SortFailures orders failed jobs as GroupStatus.Failures lists them: the
// most recently finished first, then by ID.
func SortFailures(js []Job) {
	slices.SortFunc(js, func(a, b Job) int { return cmp.Or(b.Finished.Compare(a.Finished), cmp.Compare(a.ID, b.ID)) })
}

// TryLock implements Coordinator. The lock is held by this process only.
func (q *MemoryQueue) TryLock(ctx context.Context, name string) (func(), bool, error) {
	if err := checkName("lock name", name, true); err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, held := q.locks[name]; held {
		return nil, false, nil
	}
	q.lockN++
	token := q.lockN
	q.locks[name] = token
	var once sync.Once
	return func() {
		once.Do(func() {
			q.mu.Lock()
			defer q.mu.Unlock()
			if q.locks[name] == token {
				delete(q.locks, name)
			}
		})
	}, true, nil
}

// Value implements Coordinator.
func (q *MemoryQueue) Value(ctx context.Context, key string) (string, error) {
	if err := checkName("key", key, true); err != nil {
		return "", err
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.values[key], nil
}

// SwapValue implements Coordinator.
func (q *MemoryQueue) SwapValue(ctx context.Context, key, old, new string) (bool, error) {
	if err := CheckValue(key, new); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.values[key] != old {
		return false, nil
	}
	if new == "" {
		delete(q.values, key)
	} else {
		q.values[key] = new
	}
	return true, nil
}

// CheckValue validates a coordinator key and value (see CheckName; the
// value is at most MaxValueBytes of UTF-8 text). Errors wrap
// ErrInvalidJob.
func CheckValue(key, value string) error {
	if err := checkName("key", key, true); err != nil {
		return err
	}
	if len(value) > MaxValueBytes {
		return fmt.Errorf("%w: value of %d bytes, cap %d", ErrInvalidJob, len(value), MaxValueBytes)
	}
	if !utf8.ValidString(value) || strings.ContainsRune(value, 0) {
		return fmt.Errorf("%w: value is not UTF-8 text", ErrInvalidJob)
	}
	return nil
}

// PutSweep implements SweepLog.
func (q *MemoryQueue) PutSweep(ctx context.Context, s *Sweep) error {
	if err := s.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidJob, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sweeps[s.ID] = b
	return nil
}

// Sweep implements SweepLog.
func (q *MemoryQueue) Sweep(ctx context.Context, id string) (*Sweep, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.mu.Lock()
	b, ok := q.sweeps[id]
	q.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: sweep %q", ErrNotFound, id)
	}
	var s Sweep
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Sweeps implements SweepLog.
func (q *MemoryQueue) Sweeps(ctx context.Context, limit int) ([]*Sweep, error) {
	limit, err := SweepLimit(limit)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.mu.Lock()
	var out []*Sweep
	for _, id := range slices.Sorted(maps.Keys(q.sweeps)) {
		var s Sweep
		if err := json.Unmarshal(q.sweeps[id], &s); err != nil {
			q.mu.Unlock()
			return nil, err
		}
		out = append(out, &s)
	}
	q.mu.Unlock()
	SortSweeps(out)
	return out[:min(len(out), limit)], nil
}

// SweepLimit validates the limit of SweepLog.Sweeps and fills in its
// default (0 means 50; at most MaxLimit). Errors wrap ErrInvalidJob.
func SweepLimit(limit int) (int, error) {
	if limit < 0 || limit > MaxLimit {
		return 0, fmt.Errorf("%w: limit %d not in 0..%d", ErrInvalidJob, limit, MaxLimit)
	}
	if limit == 0 {
		limit = 50
	}
	return limit, nil
}

// SortSweeps orders sweeps as SweepLog.Sweeps returns them: the most
// recently started first, then by ID.
func SortSweeps(ss []*Sweep) {
	slices.SortStableFunc(ss, func(a, b *Sweep) int {
		return cmp.Or(b.Started.Compare(a.Started), strings.Compare(a.ID, b.ID))
	})
}
