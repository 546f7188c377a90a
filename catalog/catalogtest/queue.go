package catalogtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
)

// QueueStore is what a store offers instances that share work: a job
// queue with leases, cluster-wide locks and values, and sweep records.
type QueueStore interface {
	catalog.Queue
	catalog.Coordinator
	catalog.SweepLog
}

// NewQueue returns a fresh, empty QueueStore for one subtest. A second
// call within the same subtest must return another handle on the same
// store (another connection, as a second instance would have), so that
// locks can be checked between holders; for MemoryQueue it may return the
// same value.
type NewQueue func(t *testing.T) QueueStore

// RunQueue checks that queues made by newQueue behave as catalog.Queue,
// catalog.Coordinator and catalog.SweepLog say: unique keys, priority
// order, exclusive claims under concurrency, lease expiry and fencing,
// extension, retries and final failures, cancellation, group status,
// locks, compare-and-swap values, sweep records and invalid input.
func RunQueue(t *testing.T, newQueue NewQueue) {
	t.Run("EnqueueUnique", func(t *testing.T) { testEnqueueUnique(t, newQueue(t)) })
	t.Run("Priority", func(t *testing.T) { testPriority(t, newQueue(t)) })
	t.Run("Exclusive", func(t *testing.T) { testExclusive(t, newQueue(t)) })
	t.Run("LeaseExpiry", func(t *testing.T) { testLeaseExpiry(t, newQueue(t)) })
	t.Run("Fail", func(t *testing.T) { testFail(t, newQueue(t)) })
	t.Run("Cancel", func(t *testing.T) { testCancel(t, newQueue(t)) })
	t.Run("Status", func(t *testing.T) { testStatus(t, newQueue(t)) })
	t.Run("Invalid", func(t *testing.T) { testQueueInvalid(t, newQueue(t)) })
	t.Run("Lock", func(t *testing.T) {
		q := newQueue(t)
		testLock(t, q, newQueue(t))
	})
	t.Run("Values", func(t *testing.T) { testValues(t, newQueue(t)) })
	t.Run("Sweeps", func(t *testing.T) { testSweeps(t, newQueue(t)) })
}

func job(kind, key string, prio int) catalog.Job {
	return catalog.Job{Kind: kind, Key: key, Priority: prio, Group: "g", Payload: []byte(`{"k":"` + key + `"}`)}
}

func testEnqueueUnique(t *testing.T, q QueueStore) {
	ctx := context.Background()
	n, err := q.Enqueue(ctx, job("k", "a", 0), job("k", "b", 0))
	require.NoError(t, err)
	assert.Equal(t, 2, n, "jobs added")
	n, err = q.Enqueue(ctx, job("k", "a", 0), job("k", "c", 0))
	require.NoError(t, err)
	assert.Equal(t, 1, n, "a key already queued must not be added again")

	// Payloads round-trip; a done key is never queued again.
	js, err := q.Claim(ctx, catalog.ClaimRequest{Owner: "w1", Kinds: []string{"k"}, Max: 10})
	require.NoError(t, err)
	require.Len(t, js, 3)
	for _, j := range js {
		assert.Equal(t, `{"k":"`+j.Key+`"}`, string(j.Payload), "payload of %s", j.Key)
		assert.Equal(t, catalog.JobLeased, j.State)
		assert.Equal(t, 1, j.Attempts)
		assert.Equal(t, "w1", j.Owner)
		assert.Equal(t, "g", j.Group)
		assert.NotZero(t, j.ID)
		assert.True(t, j.LeaseExpires.After(j.Created), "lease expiry %v after creation %v", j.LeaseExpires, j.Created)
	}
	var done []catalog.Completion
	for _, j := range js {
		done = append(done, catalog.Completion{Job: j, Outcome: "ok"})
	}
	require.NoError(t, q.Complete(ctx, done...))
	n, err = q.Enqueue(ctx, job("k", "a", 5))
	require.NoError(t, err)
	assert.Equal(t, 0, n, "a done key must not be queued again")
	js, err = q.Claim(ctx, catalog.ClaimRequest{Owner: "w1", Kinds: []string{"k"}, Max: 10})
	require.NoError(t, err)
	assert.Empty(t, js, "nothing left to claim")

	// A duplicate key within one call is added once.
	n, err = q.Enqueue(ctx, job("k", "d", 0), job("k", "d", 0))
	require.NoError(t, err)
	assert.Equal(t, 1, n, "a key given twice in one call")
}

func testPriority(t *testing.T, q QueueStore) {
	ctx := context.Background()
	_, err := q.Enqueue(ctx, job("k", "low1", 1), job("k", "high", 3), job("k", "low2", 1), job("k", "mid", 2),
		job("other", "x", 9))
	require.NoError(t, err)
	// Re-enqueueing with a higher priority raises a pending job.
	_, err = q.Enqueue(ctx, job("k", "low2", 4))
	require.NoError(t, err)
	// A delayed job waits.
	delayed := job("k", "later", 10)
	delayed.NotBefore = time.Now().Add(time.Hour)
	_, err = q.Enqueue(ctx, delayed)
	require.NoError(t, err)

	var got []string
	for {
		js, err := q.Claim(ctx, catalog.ClaimRequest{Owner: "w", Kinds: []string{"k"}, Max: 1})
		require.NoError(t, err)
		if len(js) == 0 {
			break
		}
		got = append(got, js[0].Key)
	}
	assert.Equal(t, []string{"low2", "high", "mid", "low1"}, got, "claim order: priority, then age; other kinds and delayed jobs untouched")
}

func testExclusive(t *testing.T, q QueueStore) {
	ctx := context.Background()
	const n = 300
	var jobs []catalog.Job
	for i := range n {
		jobs = append(jobs, job("k", fmt.Sprintf("job-%04d", i), i%3))
	}
	added, err := q.Enqueue(ctx, jobs...)
	require.NoError(t, err)
	require.Equal(t, n, added)

	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				js, err := q.Claim(ctx, catalog.ClaimRequest{Owner: fmt.Sprintf("w%d", w), Kinds: []string{"k"}, Max: 7})
				if err != nil {
					errs <- err
					return
				}
				if len(js) == 0 {
					return
				}
				var done []catalog.Completion
				mu.Lock()
				for _, j := range js {
					claimed[j.Key]++
					done = append(done, catalog.Completion{Job: j, Outcome: "ok"})
				}
				mu.Unlock()
				if err := q.Complete(ctx, done...); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Len(t, claimed, n, "every job claimed")
	for k, c := range claimed {
		assert.Equal(t, 1, c, "job %s claimed %d times", k, c)
	}
	st, err := q.Status(ctx, "g")
	require.NoError(t, err)
	assert.Equal(t, n, st.Done, "done")
	assert.Equal(t, map[string]int{"ok": n}, st.Outcomes)
}

func testLeaseExpiry(t *testing.T, q QueueStore) {
	ctx := context.Background()
	_, err := q.Enqueue(ctx, job("k", "a", 0))
	require.NoError(t, err)
	const lease = 400 * time.Millisecond
	first, err := q.Claim(ctx, catalog.ClaimRequest{Owner: "dies", Kinds: []string{"k"}, Lease: lease})
	require.NoError(t, err)
	require.Len(t, first, 1)
	none, err := q.Claim(ctx, catalog.ClaimRequest{Owner: "other", Kinds: []string{"k"}})
	require.NoError(t, err)
	assert.Empty(t, none, "a leased job must not be claimed again before its lease expires")

	// Extend keeps the lease alive past its first expiry.
	require.NoError(t, q.Extend(ctx, 2*lease, first...))
	time.Sleep(lease + 100*time.Millisecond)
	none, err = q.Claim(ctx, catalog.ClaimRequest{Owner: "other", Kinds: []string{"k"}})
	require.NoError(t, err)
	assert.Empty(t, none, "an extended lease must hold")

	time.Sleep(2 * lease)
	st, err := q.Status(ctx, "g")
	require.NoError(t, err)
	assert.Equal(t, 1, st.Pending, "an expired lease counts as pending")
	second, err := q.Claim(ctx, catalog.ClaimRequest{Owner: "other", Kinds: []string{"k"}})
	require.NoError(t, err)
	require.Len(t, second, 1, "an expired lease must be claimable")
	assert.Equal(t, 2, second[0].Attempts, "attempts count the claims")
	assert.Equal(t, "other", second[0].Owner)

	// The first lease is fenced off.
	err = q.Complete(ctx, catalog.Completion{Job: first[0]})
	assert.ErrorIs(t, err, catalog.ErrLeaseLost, "complete with a stale lease")
	err = q.Extend(ctx, time.Minute, first[0])
	assert.ErrorIs(t, err, catalog.ErrLeaseLost, "extend with a stale lease")
	err = q.Fail(ctx, first[0], "late", time.Time{})
	assert.ErrorIs(t, err, catalog.ErrLeaseLost, "fail with a stale lease")
	require.NoError(t, q.Complete(ctx, catalog.Completion{Job: second[0], Outcome: "second"}))
	err = q.Complete(ctx, catalog.Completion{Job: second[0]})
	assert.ErrorIs(t, err, catalog.ErrLeaseLost, "completing twice")
	st, err = q.Status(ctx, "g")
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"second": 1}, st.Outcomes, "only the current lease completes")

	// A batch with one stale lease applies the others.
	_, err = q.Enqueue(ctx, job("k", "b", 0), job("k", "c", 0))
	require.NoError(t, err)
	js, err := q.Claim(ctx, catalog.ClaimRequest{Owner: "w", Kinds: []string{"k"}, Max: 2})
	require.NoError(t, err)
	require.Len(t, js, 2)
	err = q.Complete(ctx, catalog.Completion{Job: js[0]}, catalog.Completion{Job: first[0]}, catalog.Completion{Job: js[1]})
	var lle *catalog.LeaseLostError
	require.ErrorAs(t, err, &lle)
	assert.Equal(t, []int64{first[0].ID}, lle.IDs)
	st, err = q.Status(ctx, "g")
	require.NoError(t, err)
	assert.Equal(t, 3, st.Done, "the current leases of the batch completed")
}

func testFail(t *testing.T, q QueueStore) {
	ctx := context.Background()
	_, err := q.Enqueue(ctx, job("k", "a", 0))
	require.NoError(t, err)
	js, err := q.Claim(ctx, catalog.ClaimRequest{Owner: "w", Kinds: []string{"k"}})
	require.NoError(t, err)
	require.Len(t, js, 1)
	require.NoError(t, q.Fail(ctx, js[0], "registry down", time.Now().Add(500*time.Millisecond)))
	none, err := q.Claim(ctx, catalog.ClaimRequest{Owner: "w", Kinds: []string{"k"}})
	require.NoError(t, err)
	assert.Empty(t, none, "a job must wait for its retry time")
	time.Sleep(700 * time.Millisecond)
	js2, err := q.Claim(ctx, catalog.ClaimRequest{Owner: "w", Kinds: []string{"k"}})
	require.NoError(t, err)
	require.Len(t, js2, 1, "claimable after its retry time")
	assert.Equal(t, 2, js2[0].Attempts)
	assert.Equal(t, "registry down", js2[0].Error, "the last cause is kept")

	long := strings.Repeat("é", catalog.MaxCauseBytes)
	require.NoError(t, q.Fail(ctx, js2[0], long+"\x00", time.Time{}))
	none, err = q.Claim(ctx, catalog.ClaimRequest{Owner: "w", Kinds: []string{"k"}})
	require.NoError(t, err)
	assert.Empty(t, none, "a failed job is never claimed again")
	st, err := q.Status(ctx, "g")
	require.NoError(t, err)
	assert.Equal(t, 1, st.Failed)
	require.Len(t, st.Failures, 1)
	assert.Equal(t, "a", st.Failures[0].Key)
	assert.Equal(t, catalog.JobFailed, st.Failures[0].State)
	assert.LessOrEqual(t, len(st.Failures[0].Error), catalog.MaxCauseBytes, "cause is capped")
	assert.Equal(t, catalog.CutCause(long), st.Failures[0].Error)
	assert.False(t, st.Failures[0].Finished.IsZero(), "failed jobs carry their end time")
	n, err := q.Enqueue(ctx, job("k", "a", 0))
	require.NoError(t, err)
	assert.Equal(t, 0, n, "a failed key is not queued again")
}

func testCancel(t *testing.T, q QueueStore) {
	ctx := context.Background()
	_, err := q.Enqueue(ctx, job("old", "a", 0), job("old", "b", 0), job("old", "c", 0), job("new", "d", 0))
	require.NoError(t, err)
	js, err := q.Claim(ctx, catalog.ClaimRequest{Owner: "w", Kinds: []string{"old"}})
	require.NoError(t, err)
	require.Len(t, js, 1)
	require.NoError(t, q.Complete(ctx, catalog.Completion{Job: js[0]}))
	leased, err := q.Claim(ctx, catalog.ClaimRequest{Owner: "w", Kinds: []string{"old"}})
	require.NoError(t, err)
	require.Len(t, leased, 1)

	cancelled, err := q.Cancel(ctx, "old")
	require.NoError(t, err)
	var keys []string
	for _, j := range cancelled {
		keys = append(keys, j.Key)
		assert.Equal(t, catalog.JobCancelled, j.State)
	}
	assert.ElementsMatch(t, []string{"b", "c"}, keys, "pending and leased jobs of the kind are cancelled, done ones are not")
	err = q.Complete(ctx, catalog.Completion{Job: leased[0]})
	assert.ErrorIs(t, err, catalog.ErrLeaseLost, "a cancelled job's lease is stale")
	st, err := q.Status(ctx, "g")
	require.NoError(t, err)
	assert.Equal(t, 2, st.Cancelled)
	assert.Equal(t, 1, st.Done)
	assert.Equal(t, 1, st.Pending, "the other kind is untouched")
}

func testStatus(t *testing.T, q QueueStore) {
	ctx := context.Background()
	var jobs []catalog.Job
	for i := range 30 {
		j := job("k", fmt.Sprintf("s%02d", i), 0)
		j.Group = fmt.Sprintf("g%d", i%2)
		jobs = append(jobs, j)
	}
	_, err := q.Enqueue(ctx, jobs...)
	require.NoError(t, err)
	js, err := q.Claim(ctx, catalog.ClaimRequest{Owner: "w", Kinds: []string{"k"}, Max: 30})
	require.NoError(t, err)
	require.Len(t, js, 30)
	for i, j := range js {
		switch {
		case i < 25 && i%2 == 0:
			require.NoError(t, q.Fail(ctx, j, fmt.Sprintf("cause %d", i), time.Time{}))
			time.Sleep(2 * time.Millisecond)
		case i < 28:
			require.NoError(t, q.Complete(ctx, catalog.Completion{Job: j, Outcome: []string{"written", "unchanged"}[i%2]}))
		}
	}
	for _, g := range []string{"g0", "g1"} {
		st, err := q.Status(ctx, g)
		require.NoError(t, err)
		want := &catalog.GroupStatus{}
		for i, j := range js {
			if j.Group != g {
				continue
			}
			switch {
			case i < 25 && i%2 == 0:
				want.Failed++
			case i < 28:
				want.Done++
				if want.Outcomes == nil {
					want.Outcomes = map[string]int{}
				}
				want.Outcomes[[]string{"written", "unchanged"}[i%2]]++
			default:
				want.Leased++
			}
		}
		assert.Equal(t, want.Failed, st.Failed, "%s failed", g)
		assert.Equal(t, want.Done, st.Done, "%s done", g)
		assert.Equal(t, want.Leased, st.Leased, "%s leased", g)
		assert.Equal(t, want.Outcomes, st.Outcomes, "%s outcomes", g)
		assert.Equal(t, want.Leased, st.Active(), "%s active", g)
		if g == "g0" {
			require.Len(t, st.Failures, 13)
			for i := 1; i < len(st.Failures); i++ {
				assert.False(t, st.Failures[i].Finished.After(st.Failures[i-1].Finished), "failures newest first")
			}
			assert.Equal(t, "cause 24", st.Failures[0].Error, "the newest failure first")
		}
	}
	st, err := q.Status(ctx, "none")
	require.NoError(t, err)
	assert.Zero(t, st.Active()+st.Done+st.Failed+st.Cancelled, "an unknown group is empty")
}

func testQueueInvalid(t *testing.T, q QueueStore) {
	ctx := context.Background()
	bad := []catalog.Job{
		{Kind: "", Key: "a"},
		{Kind: "k", Key: ""},
		{Kind: "k", Key: strings.Repeat("x", catalog.MaxKeyBytes+1)},
		{Kind: "k", Key: "a\x00b"},
		{Kind: "k", Key: "\xff"},
		{Kind: "k", Key: "a", Payload: make([]byte, catalog.MaxPayloadBytes+1)},
	}
	for i, j := range bad {
		n, err := q.Enqueue(ctx, job("k", fmt.Sprintf("ok%d", i), 0), j)
		assert.ErrorIs(t, err, catalog.ErrInvalidJob, "bad job %d", i)
		assert.Zero(t, n, "nothing added with bad job %d", i)
	}
	js, err := q.Claim(ctx, catalog.ClaimRequest{Owner: "w", Kinds: []string{"k"}, Max: 100})
	require.NoError(t, err)
	assert.Empty(t, js, "no job of a refused batch was added")

	for i, req := range []catalog.ClaimRequest{
		{Kinds: []string{"k"}},
		{Owner: "w"},
		{Owner: "w", Kinds: []string{"k"}, Max: catalog.MaxClaim + 1},
		{Owner: "w", Kinds: []string{"k"}, Max: -1},
		{Owner: "w", Kinds: []string{"k"}, Lease: -time.Second},
	} {
		_, err := q.Claim(ctx, req)
		assert.ErrorIs(t, err, catalog.ErrInvalidJob, "bad claim %d", i)
	}
	err = q.Complete(ctx, catalog.Completion{Job: catalog.Job{ID: 424242, Attempts: 1}})
	assert.ErrorIs(t, err, catalog.ErrLeaseLost, "completing an unknown job")
	_, err = q.Value(ctx, "")
	assert.ErrorIs(t, err, catalog.ErrInvalidJob, "empty key")
	_, err = q.SwapValue(ctx, "k", "", "\xff")
	assert.ErrorIs(t, err, catalog.ErrInvalidJob, "value not UTF-8")
	_, _, err = q.TryLock(ctx, "")
	assert.ErrorIs(t, err, catalog.ErrInvalidJob, "empty lock name")
	err = q.PutSweep(ctx, &catalog.Sweep{ID: "s", State: "bogus"})
	assert.ErrorIs(t, err, catalog.ErrInvalidJob, "unknown sweep state")
	_, err = q.Sweeps(ctx, -1)
	assert.ErrorIs(t, err, catalog.ErrInvalidJob, "negative limit")
	_, err = q.Sweep(ctx, "missing")
	assert.ErrorIs(t, err, catalog.ErrNotFound, "unknown sweep")
}

func testLock(t *testing.T, a, b QueueStore) {
	ctx := context.Background()
	unlock, ok, err := a.TryLock(ctx, "load-db")
	require.NoError(t, err)
	require.True(t, ok, "a free lock is taken")
	_, ok, err = b.TryLock(ctx, "load-db")
	require.NoError(t, err)
	assert.False(t, ok, "a held lock is not taken by another holder")
	_, ok, err = a.TryLock(ctx, "load-db")
	require.NoError(t, err)
	assert.False(t, ok, "a held lock is not taken twice by the same handle")
	unlock2, ok, err := b.TryLock(ctx, "other")
	require.NoError(t, err)
	assert.True(t, ok, "locks are independent")
	unlock2()
	unlock()
	unlock() // idempotent
	unlockB, ok, err := b.TryLock(ctx, "load-db")
	require.NoError(t, err)
	assert.True(t, ok, "a released lock is taken")
	_, ok, err = a.TryLock(ctx, "load-db")
	require.NoError(t, err)
	assert.False(t, ok, "the new holder keeps it")
	unlockB()
}

func testValues(t *testing.T, q QueueStore) {
	ctx := context.Background()
	v, err := q.Value(ctx, "osv/version")
	require.NoError(t, err)
	assert.Empty(t, v, "unset")
	ok, err := q.SwapValue(ctx, "osv/version", "x", "v1")
	require.NoError(t, err)
	assert.False(t, ok, "swap from a wrong old value")
	ok, err = q.SwapValue(ctx, "osv/version", "", "v1")
	require.NoError(t, err)
	assert.True(t, ok, "swap from unset")
	ok, err = q.SwapValue(ctx, "osv/version", "", "v1")
	require.NoError(t, err)
	assert.False(t, ok, "swap from unset when set")
	big := strings.Repeat("v", 100_000)
	ok, err = q.SwapValue(ctx, "osv/version", "v1", big)
	require.NoError(t, err)
	assert.True(t, ok)
	v, err = q.Value(ctx, "osv/version")
	require.NoError(t, err)
	assert.Equal(t, big, v)

	// Concurrent swaps from the same value: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := q.SwapValue(ctx, "osv/version", big, fmt.Sprintf("w%d", i))
			assert.NoError(t, err)
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, wins, "exactly one concurrent swap wins")
	v, err = q.Value(ctx, "osv/version")
	require.NoError(t, err)
	ok, err = q.SwapValue(ctx, "osv/version", v, "")
	require.NoError(t, err)
	assert.True(t, ok, "swap to unset")
	v, err = q.Value(ctx, "osv/version")
	require.NoError(t, err)
	assert.Empty(t, v, "unset again")
}

func testSweeps(t *testing.T, q QueueStore) {
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 5 {
		s := &catalog.Sweep{ID: fmt.Sprintf("s%d", i), Kind: catalog.SweepDelta, Trigger: "database", Scanner: "osv",
			DatabaseVersion: fmt.Sprintf("v%d", i), Started: base.Add(time.Duration(i%3) * time.Hour), State: catalog.SweepRunning,
			Images: i * 10}
		require.NoError(t, q.PutSweep(ctx, s))
	}
	fin := &catalog.Sweep{ID: "s1", Kind: catalog.SweepDelta, Started: base.Add(time.Hour), Finished: base.Add(2 * time.Hour),
		State: catalog.SweepFinished, Reason: "done", Diff: &catalog.SweepDiff{Added: 1, Changed: 2, Withdrawn: 3, Packages: 4, Affected: 5},
		Outcomes: map[string]int{"written": 3, "failed": 1}, Failures: []catalog.SweepFailure{{Job: "j", Error: "e"}}}
	require.NoError(t, q.PutSweep(ctx, fin))
	got, err := q.Sweep(ctx, "s1")
	require.NoError(t, err)
	assert.Equal(t, fin, got, "a sweep round-trips and is replaced by ID")
	all, err := q.Sweeps(ctx, 0)
	require.NoError(t, err)
	var ids []string
	for _, s := range all {
		ids = append(ids, s.ID)
	}
	assert.Equal(t, []string{"s2", "s1", "s4", "s0", "s3"}, ids, "newest first, then by ID")
	two, err := q.Sweeps(ctx, 2)
	require.NoError(t, err)
	assert.Len(t, two, 2, "limit")
}
