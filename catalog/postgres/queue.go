package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cssc-go/cssc/catalog"
)

var (
	_ catalog.Queue       = (*Store)(nil)
	_ catalog.Coordinator = (*Store)(nil)
	_ catalog.SweepLog    = (*Store)(nil)
)

// lockClassNamed is the first key of the session advisory locks TryLock
// takes (the second is hashtext(name)); far from the classes of migrate.go.
const lockClassNamed = lockClass + 0x100

// Job states as stored.
const (
	statePending   = 0
	stateLeased    = 1
	stateDone      = 2
	stateFailed    = 3
	stateCancelled = 4
)

var stateNames = map[int16]catalog.JobState{
	statePending: catalog.JobPending, stateLeased: catalog.JobLeased, stateDone: catalog.JobDone,
	stateFailed: catalog.JobFailed, stateCancelled: catalog.JobCancelled,
}

const jobColumns = "id, kind, key, grp, priority, payload, state, ready_at, attempts, owner, created, finished, outcome, error"

func scanJob(row pgx.Row) (catalog.Job, error) {
	var j catalog.Job
	var state int16
	var readyAt, created time.Time
	var finished *time.Time
	if err := row.Scan(&j.ID, &j.Kind, &j.Key, &j.Group, &j.Priority, &j.Payload, &state, &readyAt, &j.Attempts,
		&j.Owner, &created, &finished, &j.Outcome, &j.Error); err != nil {
		return j, err
	}
	j.State = stateNames[state]
	j.Created = created.UTC()
	switch state {
	case statePending:
		j.NotBefore = readyAt.UTC()
	case stateLeased:
		j.LeaseExpires = readyAt.UTC()
	}
	if finished != nil {
		j.Finished = finished.UTC()
	}
	if len(j.Payload) == 0 {
		j.Payload = nil
	}
	return j, nil
}

func collectJobs(rows pgx.Rows) ([]catalog.Job, error) {
	defer rows.Close()
	var out []catalog.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// Enqueue implements catalog.Queue, in one statement.
func (s *Store) Enqueue(ctx context.Context, jobs ...catalog.Job) (int, error) {
	for i := range jobs {
		if err := jobs[i].Validate(); err != nil {
			return 0, err
		}
	}
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	// One row per key (a statement may not touch a row twice), with the
	// highest priority given.
	idx := make(map[string]int, len(jobs))
	var kinds, keys, groups []string
	var prios []int32
	var payloads [][]byte
	var notBefore []int64
	for _, j := range jobs {
		if i, ok := idx[j.Key]; ok {
			prios[i] = max(prios[i], int32(j.Priority))
			continue
		}
		idx[j.Key] = len(keys)
		kinds, keys, groups = append(kinds, j.Kind), append(keys, j.Key), append(groups, j.Group)
		prios = append(prios, int32(j.Priority))
		p := j.Payload
		if p == nil {
			p = []byte{}
		}
		payloads = append(payloads, p)
		var nb int64
		if !j.NotBefore.IsZero() {
			nb = j.NotBefore.UnixMicro()
		}
		notBefore = append(notBefore, nb)
	}
	if len(keys) == 0 {
		return 0, nil
	}
	rows, err := s.pool.Query(ctx, `INSERT INTO cssc_jobs AS j (kind, key, grp, priority, payload, state, ready_at)
		SELECT u.kind, u.key, u.grp, u.priority, u.payload, 0,
			CASE WHEN u.nb = 0 THEN now() ELSE to_timestamp(u.nb::double precision / 1e6) END
		FROM unnest($1::text[], $2::text[], $3::text[], $4::integer[], $5::bytea[], $6::bigint[])
			AS u(kind, key, grp, priority, payload, nb)
		ON CONFLICT (key) DO UPDATE SET priority = EXCLUDED.priority
			WHERE j.state = 0 AND j.priority < EXCLUDED.priority
		RETURNING (xmax = 0)`, kinds, keys, groups, prios, payloads, notBefore)
	if err != nil {
		return 0, s.wrap("enqueue", err)
	}
	inserted, err := pgx.CollectRows(rows, pgx.RowTo[bool])
	if err != nil {
		return 0, s.wrap("enqueue", err)
	}
	n := 0
	for _, ins := range inserted {
		if ins {
			n++
		}
	}
	return n, nil
}

// The claim statements, one for a claim of one kind ($1 text) and one for
// several ($1 text[]); $2 is the number of jobs, $3 the owner, $4 the
// lease in microseconds.
var (
	claimOneSQL = `WITH c AS (
			SELECT id FROM cssc_jobs
			WHERE kind = $1 AND finished IS NULL AND ready_at <= now()
			ORDER BY priority DESC, id
			LIMIT $2
			FOR UPDATE SKIP LOCKED)
		` + claimLease
	// kind = ANY($1) would read every live job of the kinds and sort them:
	// one ordered range of the index per kind instead.
	claimManySQL = `WITH c AS (
			SELECT r.id FROM unnest($1::text[]) AS k(kind) CROSS JOIN LATERAL (
				SELECT id, priority FROM cssc_jobs
				WHERE kind = k.kind AND finished IS NULL AND ready_at <= now()
				ORDER BY priority DESC, id
				LIMIT $2
				FOR UPDATE SKIP LOCKED) AS r
			ORDER BY r.priority DESC, r.id
			LIMIT $2)
		` + claimLease
	claimLease = `UPDATE cssc_jobs j SET state = 1, attempts = j.attempts + 1, owner = $3,
			ready_at = now() + $4 * interval '1 microsecond'
		FROM c WHERE j.id = c.id
		RETURNING ` + prefixed("j.", jobColumns)
)

// claimSettings makes the planner read the claim index in order whatever
// the table's statistics say. They are often stale in a queue: in a table
// never analyzed, or analyzed before a burst of jobs was enqueued, the
// planner expects a row or two, reads every live job of the kind with a
// bitmap scan and sorts them, at every claim (100 ms per claim of 100 jobs
// out of 100,000 on PostgreSQL 15, against 0.2 ms in index order).
// Disabling sorts adds a huge cost to every plan that sorts, which would
// set off JIT compilation of the claim of several kinds (whose few rows
// are sorted in any plan): a second or more per claim, so JIT is off too.
// Both hold until the end of the transaction.
const claimSettings = "SELECT set_config('enable_sort', 'off', true), set_config('jit', 'off', true)"

// Claim implements catalog.Queue in one statement: the ready jobs are
// read in claim order from the claim index (kind, priority DESC, id),
// locked with FOR UPDATE SKIP LOCKED, so that concurrent claimers never
// wait for each other's rows, and leased. The lease changes no indexed
// column, so PostgreSQL writes it as a heap-only tuple on the same page
// (see migration 0110). With several kinds, each kind's index range is
// read and locked apart (up to req.Max jobs each) and the first req.Max of
// them by priority are leased; the others are unlocked when the claim's
// transaction ends, at once.
func (s *Store) Claim(ctx context.Context, req catalog.ClaimRequest) ([]catalog.Job, error) {
	req, err := req.Validate()
	if err != nil {
		return nil, err
	}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	sql, kinds := claimOneSQL, any(req.Kinds[0])
	if len(req.Kinds) > 1 {
		sql, kinds = claimManySQL, slices.Compact(slices.Sorted(slices.Values(req.Kinds)))
	}
	// A batch runs in one implicit transaction: claimSettings holds for
	// the claim alone, sent in the same round trip.
	b := &pgx.Batch{}
	b.Queue(claimSettings)
	var out []catalog.Job
	b.Queue(sql, kinds, req.Max, pgText(req.Owner), req.Lease.Microseconds()).Query(func(rows pgx.Rows) error {
		var err error
		out, err = collectJobs(rows)
		return err
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, s.wrap("claim", err)
	}
	slices.SortFunc(out, func(a, b catalog.Job) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func prefixed(p, cols string) string {
	var out []byte
	for i, c := range []byte(cols) {
		if i == 0 || cols[i-1] == ' ' {
			out = append(out, p...)
		}
		out = append(out, c)
	}
	return string(out)
}

// lost returns the ids of want missing from got, in want's order, as a
// *catalog.LeaseLostError, or nil.
func lost(want []int64, got []int64) error {
	ok := make(map[int64]bool, len(got))
	for _, id := range got {
		ok[id] = true
	}
	var ids []int64
	for _, id := range want {
		if !ok[id] {
			ids = append(ids, id)
		}
	}
	if ids == nil {
		return nil
	}
	return &catalog.LeaseLostError{IDs: ids}
}

// Extend implements catalog.Queue.
func (s *Store) Extend(ctx context.Context, d time.Duration, jobs ...catalog.Job) error {
	if d <= 0 {
		return fmt.Errorf("%w: extend by %v", catalog.ErrInvalidJob, d)
	}
	if err := s.check(ctx); err != nil {
		return err
	}
	ids, attempts := leases(jobs)
	rows, err := s.pool.Query(ctx, `UPDATE cssc_jobs j SET ready_at = now() + $3 * interval '1 microsecond'
		FROM unnest($1::bigint[], $2::integer[]) AS u(id, attempts)
		WHERE j.id = u.id AND j.attempts = u.attempts AND j.state = 1
		RETURNING j.id`, ids, attempts, d.Microseconds())
	if err != nil {
		return s.wrap("extend", err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return s.wrap("extend", err)
	}
	return lost(ids, got)
}

func leases(jobs []catalog.Job) ([]int64, []int32) {
	ids := make([]int64, len(jobs))
	attempts := make([]int32, len(jobs))
	for i, j := range jobs {
		ids[i], attempts[i] = j.ID, int32(j.Attempts)
	}
	return ids, attempts
}

// Complete implements catalog.Queue, in one statement.
func (s *Store) Complete(ctx context.Context, done ...catalog.Completion) error {
	for _, c := range done {
		if err := catalog.CheckName("outcome", c.Outcome, false); err != nil {
			return err
		}
	}
	if err := s.check(ctx); err != nil {
		return err
	}
	if len(done) == 0 {
		return nil
	}
	jobs := make([]catalog.Job, len(done))
	outcomes := make([]string, len(done))
	for i, c := range done {
		jobs[i], outcomes[i] = c.Job, c.OutcomeOf()
	}
	ids, attempts := leases(jobs)
	rows, err := s.pool.Query(ctx, `UPDATE cssc_jobs j SET state = 2, outcome = u.outcome, finished = now()
		FROM unnest($1::bigint[], $2::integer[], $3::text[]) AS u(id, attempts, outcome)
		WHERE j.id = u.id AND j.attempts = u.attempts AND j.state = 1
		RETURNING j.id`, ids, attempts, outcomes)
	if err != nil {
		return s.wrap("complete", err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return s.wrap("complete", err)
	}
	return lost(ids, got)
}

// Fail implements catalog.Queue.
func (s *Store) Fail(ctx context.Context, job catalog.Job, cause string, retryAt time.Time) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	cause = catalog.CutCause(cause)
	var sql string
	args := []any{job.ID, job.Attempts, cause}
	if retryAt.IsZero() {
		sql = `UPDATE cssc_jobs SET state = 3, error = $3, finished = now() WHERE id = $1 AND attempts = $2 AND state = 1`
	} else {
		sql = `UPDATE cssc_jobs SET state = 0, error = $3, ready_at = $4 WHERE id = $1 AND attempts = $2 AND state = 1`
		args = append(args, retryAt)
	}
	tag, err := s.pool.Exec(ctx, sql, args...)
	if err != nil {
		return s.wrap("fail", err)
	}
	if tag.RowsAffected() == 0 {
		return &catalog.LeaseLostError{IDs: []int64{job.ID}}
	}
	return nil
}

// Cancel implements catalog.Queue.
func (s *Store) Cancel(ctx context.Context, kind string) ([]catalog.Job, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `UPDATE cssc_jobs SET state = 4, finished = now()
		WHERE kind = $1 AND finished IS NULL RETURNING `+jobColumns, kind)
	if err != nil {
		return nil, s.wrap("cancel", err)
	}
	out, err := collectJobs(rows)
	if err != nil {
		return nil, s.wrap("cancel", err)
	}
	slices.SortFunc(out, func(a, b catalog.Job) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Status implements catalog.Queue.
func (s *Store) Status(ctx context.Context, group string) (*catalog.GroupStatus, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	st := &catalog.GroupStatus{}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT state, state = 1 AND ready_at <= now(), outcome, count(*)
			FROM cssc_jobs WHERE grp = $1 GROUP BY 1, 2, 3`, group)
		if err != nil {
			return err
		}
		var state int16
		var expired bool
		var outcome string
		var n int
		if _, err := pgx.ForEachRow(rows, []any{&state, &expired, &outcome, &n}, func() error {
			switch state {
			case statePending:
				st.Pending += n
			case stateLeased:
				if expired {
					st.Pending += n
				} else {
					st.Leased += n
				}
			case stateDone:
				st.Done += n
				if st.Outcomes == nil {
					st.Outcomes = map[string]int{}
				}
				st.Outcomes[outcome] += n
			case stateFailed:
				st.Failed += n
			case stateCancelled:
				st.Cancelled += n
			}
			return nil
		}); err != nil {
			return err
		}
		if st.Failed == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, `SELECT `+jobColumns+` FROM cssc_jobs WHERE grp = $1 AND state = 3
			ORDER BY finished DESC, id LIMIT $2`, group, catalog.MaxStatusFailures)
		if err != nil {
			return err
		}
		st.Failures, err = collectJobs(rows)
		return err
	})
	if err != nil {
		return nil, s.wrap("status", err)
	}
	return st, nil
}

// TryLock implements catalog.Coordinator with a session-level advisory
// lock on a connection set aside for it: the lock is released by unlock,
// or by the server when the holder's connection ends (its process died).
// Names are hashed to 32 bits (hashtext): two names that collide share a
// lock, which only delays one of their holders.
func (s *Store) TryLock(ctx context.Context, name string) (func(), bool, error) {
	if err := catalog.CheckName("lock name", name, true); err != nil {
		return nil, false, err
	}
	if err := s.check(ctx); err != nil {
		return nil, false, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, s.wrap("lock", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1, hashtext($2))", lockClassNamed, name).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, s.wrap("lock", err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var released bool
			if err := conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1, hashtext($2))", lockClassNamed, name).Scan(&released); err != nil || !released {
				// The session may still hold it: do not hand the
				// connection back to the pool.
				_ = conn.Conn().Close(ctx)
			}
			conn.Release()
		})
	}, true, nil
}

// Value implements catalog.Coordinator.
func (s *Store) Value(ctx context.Context, key string) (string, error) {
	if err := catalog.CheckName("key", key, true); err != nil {
		return "", err
	}
	if err := s.check(ctx); err != nil {
		return "", err
	}
	var v string
	err := s.pool.QueryRow(ctx, "SELECT value FROM cssc_values WHERE key = $1", key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", s.wrap("value", err)
	}
	return v, nil
}

// SwapValue implements catalog.Coordinator.
func (s *Store) SwapValue(ctx context.Context, key, old, new string) (bool, error) {
	if err := catalog.CheckValue(key, new); err != nil {
		return false, err
	}
	if err := s.check(ctx); err != nil {
		return false, err
	}
	var sql string
	args := []any{key}
	switch {
	case old == "" && new == "":
		var unset bool
		err := s.pool.QueryRow(ctx, "SELECT NOT EXISTS (SELECT 1 FROM cssc_values WHERE key = $1)", key).Scan(&unset)
		return unset, s.wrap("swap value", err)
	case old == "":
		sql, args = "INSERT INTO cssc_values (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", append(args, new)
	case new == "":
		sql, args = "DELETE FROM cssc_values WHERE key = $1 AND value = $2", append(args, old)
	default:
		sql, args = "UPDATE cssc_values SET value = $3 WHERE key = $1 AND value = $2", append(args, old, new)
	}
	tag, err := s.pool.Exec(ctx, sql, args...)
	if err != nil {
		return false, s.wrap("swap value", err)
	}
	return tag.RowsAffected() == 1, nil
}

// PutSweep implements catalog.SweepLog.
func (s *Store) PutSweep(ctx context.Context, sw *catalog.Sweep) error {
	if err := sw.Validate(); err != nil {
		return err
	}
	doc, err := json.Marshal(sw)
	if err != nil {
		return fmt.Errorf("%w: %v", catalog.ErrInvalidJob, err)
	}
	if err := s.check(ctx); err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO cssc_sweeps (id, started, doc) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET started = EXCLUDED.started, doc = EXCLUDED.doc`, sw.ID, sw.Started.UnixNano(), doc)
	return s.wrap("put sweep", err)
}

// Sweep implements catalog.SweepLog.
func (s *Store) Sweep(ctx context.Context, id string) (*catalog.Sweep, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var doc []byte
	err := s.pool.QueryRow(ctx, "SELECT doc FROM cssc_sweeps WHERE id = $1", pgText(id)).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: sweep %q", catalog.ErrNotFound, id)
	}
	if err != nil {
		return nil, s.wrap("sweep", err)
	}
	var sw catalog.Sweep
	if err := json.Unmarshal(doc, &sw); err != nil {
		return nil, fmt.Errorf("postgres: sweep %q: %w", id, err)
	}
	return &sw, nil
}

// Sweeps implements catalog.SweepLog.
func (s *Store) Sweeps(ctx context.Context, limit int) ([]*catalog.Sweep, error) {
	limit, err := catalog.SweepLimit(limit)
	if err != nil {
		return nil, err
	}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, "SELECT doc FROM cssc_sweeps ORDER BY started DESC, id LIMIT $1", limit)
	if err != nil {
		return nil, s.wrap("sweeps", err)
	}
	docs, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, s.wrap("sweeps", err)
	}
	out := make([]*catalog.Sweep, len(docs))
	for i, d := range docs {
		out[i] = &catalog.Sweep{}
		if err := json.Unmarshal(d, out[i]); err != nil {
			return nil, fmt.Errorf("postgres: sweep: %w", err)
		}
	}
	catalog.SortSweeps(out)
	return out, nil
}
