package sqlite

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cssc-go/cssc/catalog"
)

var (
	_ catalog.Queue       = (*Store)(nil)
	_ catalog.Coordinator = (*Store)(nil)
	_ catalog.SweepLog    = (*Store)(nil)
)

// LockTTL is how long a lock of TryLock outlives its holder: the holder
// renews it every LockTTL/3, so a process that dies releases its locks
// within LockTTL.
const LockTTL = 30 * time.Second

// Job states as stored.
const (
	statePending   = 0
	stateLeased    = 1
	stateDone      = 2
	stateFailed    = 3
	stateCancelled = 4
)

var stateNames = map[int]catalog.JobState{
	statePending: catalog.JobPending, stateLeased: catalog.JobLeased, stateDone: catalog.JobDone,
	stateFailed: catalog.JobFailed, stateCancelled: catalog.JobCancelled,
}

const jobColumns = "id, kind, key, grp, priority, payload, state, ready_at, attempts, owner, created, finished, outcome, error"

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

type scanner interface{ Scan(dest ...any) error }

func scanJob(row scanner) (catalog.Job, error) {
	var j catalog.Job
	var state int
	var readyAt, created int64
	var finished sql.NullInt64
	if err := row.Scan(&j.ID, &j.Kind, &j.Key, &j.Group, &j.Priority, &j.Payload, &state, &readyAt, &j.Attempts,
		&j.Owner, &created, &finished, &j.Outcome, &j.Error); err != nil {
		return j, err
	}
	j.State = stateNames[state]
	j.Created = fromNanos(created)
	switch state {
	case statePending:
		j.NotBefore = fromNanos(readyAt)
	case stateLeased:
		j.LeaseExpires = fromNanos(readyAt)
	}
	if finished.Valid {
		j.Finished = fromNanos(finished.Int64)
	}
	if len(j.Payload) == 0 {
		j.Payload = nil
	}
	return j, nil
}

func collectJobs(rows *sql.Rows) ([]catalog.Job, error) {
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

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("catalog/sqlite: %s: %w", op, err)
}

// placeholders returns "?, ?, ..." for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Enqueue implements catalog.Queue.
func (s *Store) Enqueue(ctx context.Context, jobs ...catalog.Job) (int, error) {
	for i := range jobs {
		if err := jobs[i].Validate(); err != nil {
			return 0, err
		}
	}
	added := 0
	err := s.use(ctx, func() error {
		return s.tx(ctx, func(tx *sql.Tx) error {
			added = 0
			now := nanos(time.Now())
			ins, err := tx.PrepareContext(ctx, `INSERT INTO jobs (kind, key, grp, priority, payload, state, ready_at, created)
				VALUES (?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (key) DO NOTHING`)
			if err != nil {
				return err
			}
			defer ins.Close()
			raise, err := tx.PrepareContext(ctx, `UPDATE jobs SET priority = ? WHERE key = ? AND state = 0 AND priority < ?`)
			if err != nil {
				return err
			}
			defer raise.Close()
			for _, j := range jobs {
				ready := now
				if !j.NotBefore.IsZero() {
					ready = nanos(j.NotBefore)
				}
				p := j.Payload
				if p == nil {
					p = []byte{}
				}
				res, err := ins.ExecContext(ctx, j.Kind, j.Key, j.Group, j.Priority, p, ready, now)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 1 {
					added++
					continue
				}
				if _, err := raise.ExecContext(ctx, j.Priority, j.Key, j.Priority); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return 0, wrap("enqueue", err)
	}
	return added, nil
}

// Claim implements catalog.Queue. SQLite has one writer: a claim is one
// immediate transaction, so claimers in other processes wait for it (up
// to Options.BusyTimeout) rather than skip.
func (s *Store) Claim(ctx context.Context, req catalog.ClaimRequest) ([]catalog.Job, error) {
	req, err := req.Validate()
	if err != nil {
		return nil, err
	}
	var out []catalog.Job
	err = s.use(ctx, func() error {
		return s.tx(ctx, func(tx *sql.Tx) error {
			now := time.Now()
			args := []any{nanos(now)}
			for _, k := range req.Kinds {
				args = append(args, k)
			}
			args = append(args, req.Max)
			rows, err := tx.QueryContext(ctx, `SELECT id FROM jobs WHERE state < 2 AND ready_at <= ? AND kind IN (`+
				placeholders(len(req.Kinds))+`) ORDER BY priority DESC, id LIMIT ?`, args...)
			if err != nil {
				return err
			}
			var ids []int64
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				ids = append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			out = out[:0]
			upd, err := tx.PrepareContext(ctx, `UPDATE jobs SET state = 1, attempts = attempts + 1, owner = ?, ready_at = ?
				WHERE id = ? RETURNING `+jobColumns)
			if err != nil {
				return err
			}
			defer upd.Close()
			for _, id := range ids {
				j, err := scanJob(upd.QueryRowContext(ctx, req.Owner, nanos(now.Add(req.Lease)), id))
				if err != nil {
					return err
				}
				out = append(out, j)
			}
			return nil
		})
	})
	if err != nil {
		return nil, wrap("claim", err)
	}
	slices.SortFunc(out, func(a, b catalog.Job) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// leaseOp runs stmt (whose first two arguments are id and attempts,
// then extra) for each lease and returns the lost ones as a
// *catalog.LeaseLostError.
func (s *Store) leaseOp(ctx context.Context, op, stmt string, jobs []catalog.Job, extra func(i int) []any) error {
	var lost []int64
	err := s.use(ctx, func() error {
		return s.tx(ctx, func(tx *sql.Tx) error {
			lost = lost[:0]
			st, err := tx.PrepareContext(ctx, stmt)
			if err != nil {
				return err
			}
			defer st.Close()
			for i, j := range jobs {
				res, err := st.ExecContext(ctx, append([]any{j.ID, j.Attempts}, extra(i)...)...)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 0 {
					lost = append(lost, j.ID)
				}
			}
			return nil
		})
	})
	if err != nil {
		return wrap(op, err)
	}
	if len(lost) > 0 {
		return &catalog.LeaseLostError{IDs: lost}
	}
	return nil
}

// Extend implements catalog.Queue.
func (s *Store) Extend(ctx context.Context, d time.Duration, jobs ...catalog.Job) error {
	if d <= 0 {
		return fmt.Errorf("%w: extend by %v", catalog.ErrInvalidJob, d)
	}
	until := nanos(time.Now().Add(d))
	return s.leaseOp(ctx, "extend", `UPDATE jobs SET ready_at = ?3 WHERE id = ?1 AND attempts = ?2 AND state = 1`, jobs,
		func(int) []any { return []any{until} })
}

// Complete implements catalog.Queue.
func (s *Store) Complete(ctx context.Context, done ...catalog.Completion) error {
	for _, c := range done {
		if err := catalog.CheckName("outcome", c.Outcome, false); err != nil {
			return err
		}
	}
	if len(done) == 0 {
		return s.use(ctx, func() error { return nil })
	}
	jobs := make([]catalog.Job, len(done))
	for i, c := range done {
		jobs[i] = c.Job
	}
	now := nanos(time.Now())
	return s.leaseOp(ctx, "complete", `UPDATE jobs SET state = 2, outcome = ?3, finished = ?4 WHERE id = ?1 AND attempts = ?2 AND state = 1`, jobs,
		func(i int) []any { return []any{done[i].OutcomeOf(), now} })
}

// Fail implements catalog.Queue.
func (s *Store) Fail(ctx context.Context, job catalog.Job, cause string, retryAt time.Time) error {
	cause = catalog.CutCause(cause)
	if retryAt.IsZero() {
		now := nanos(time.Now())
		return s.leaseOp(ctx, "fail", `UPDATE jobs SET state = 3, error = ?3, finished = ?4 WHERE id = ?1 AND attempts = ?2 AND state = 1`,
			[]catalog.Job{job}, func(int) []any { return []any{cause, now} })
	}
	return s.leaseOp(ctx, "fail", `UPDATE jobs SET state = 0, error = ?3, ready_at = ?4 WHERE id = ?1 AND attempts = ?2 AND state = 1`,
		[]catalog.Job{job}, func(int) []any { return []any{cause, nanos(retryAt)} })
}

// Cancel implements catalog.Queue.
func (s *Store) Cancel(ctx context.Context, kind string) ([]catalog.Job, error) {
	var out []catalog.Job
	err := s.use(ctx, func() error {
		return s.tx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, `UPDATE jobs SET state = 4, finished = ? WHERE kind = ? AND state < 2 RETURNING `+jobColumns,
				nanos(time.Now()), kind)
			if err != nil {
				return err
			}
			out, err = collectJobs(rows)
			return err
		})
	})
	if err != nil {
		return nil, wrap("cancel", err)
	}
	slices.SortFunc(out, func(a, b catalog.Job) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Status implements catalog.Queue.
func (s *Store) Status(ctx context.Context, group string) (*catalog.GroupStatus, error) {
	st := &catalog.GroupStatus{}
	err := s.use(ctx, func() error {
		tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return err
		}
		defer tx.Rollback()
		rows, err := tx.QueryContext(ctx, `SELECT state, state = 1 AND ready_at <= ?, outcome, count(*) FROM jobs WHERE grp = ? GROUP BY 1, 2, 3`,
			nanos(time.Now()), group)
		if err != nil {
			return err
		}
		for rows.Next() {
			var state, n int
			var expired bool
			var outcome string
			if err := rows.Scan(&state, &expired, &outcome, &n); err != nil {
				rows.Close()
				return err
			}
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
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if st.Failed == 0 {
			return nil
		}
		rows, err = tx.QueryContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE grp = ? AND state = 3 ORDER BY finished DESC, id LIMIT ?`,
			group, catalog.MaxStatusFailures)
		if err != nil {
			return err
		}
		st.Failures, err = collectJobs(rows)
		return err
	})
	if err != nil {
		return nil, wrap("status", err)
	}
	return st, nil
}

// TryLock implements catalog.Coordinator with a row that expires: the
// holder renews it while it holds the lock, so the lock of a process that
// died is free again within LockTTL.
func (s *Store) TryLock(ctx context.Context, name string) (func(), bool, error) {
	if err := catalog.CheckName("lock name", name, true); err != nil {
		return nil, false, err
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	owner := hex.EncodeToString(b[:])
	take := func(ctx context.Context) (bool, error) {
		var ok bool
		err := s.use(ctx, func() error {
			now := time.Now()
			res, err := s.w.ExecContext(ctx, `INSERT INTO locks (name, owner, expires) VALUES (?1, ?2, ?3)
				ON CONFLICT (name) DO UPDATE SET owner = ?2, expires = ?3 WHERE locks.owner = ?2 OR locks.expires < ?4`,
				name, owner, nanos(now.Add(LockTTL)), nanos(now))
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			ok = n == 1
			return nil
		})
		return ok, err
	}
	ok, err := take(ctx)
	if err != nil || !ok {
		return nil, false, wrap("lock", err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(LockTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if ok, err := take(context.Background()); err != nil || !ok {
					s.log.Warn("catalog/sqlite: lock lost", "lock", name, "error", err)
					return
				}
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			wg.Wait()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = s.use(ctx, func() error {
				_, err := s.w.ExecContext(ctx, `DELETE FROM locks WHERE name = ? AND owner = ?`, name, owner)
				return err
			})
		})
	}, true, nil
}

// Value implements catalog.Coordinator.
func (s *Store) Value(ctx context.Context, key string) (string, error) {
	if err := catalog.CheckName("key", key, true); err != nil {
		return "", err
	}
	var v string
	err := s.use(ctx, func() error {
		err := s.r.QueryRowContext(ctx, `SELECT value FROM coord_values WHERE key = ?`, key).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	return v, wrap("value", err)
}

// SwapValue implements catalog.Coordinator.
func (s *Store) SwapValue(ctx context.Context, key, old, new string) (bool, error) {
	if err := catalog.CheckValue(key, new); err != nil {
		return false, err
	}
	var ok bool
	err := s.use(ctx, func() error {
		var stmt string
		args := []any{key}
		switch {
		case old == "" && new == "":
			var n int
			if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM coord_values WHERE key = ?`, key).Scan(&n); err != nil {
				return err
			}
			ok = n == 0
			return nil
		case old == "":
			stmt, args = `INSERT INTO coord_values (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, append(args, new)
		case new == "":
			stmt, args = `DELETE FROM coord_values WHERE key = ? AND value = ?`, append(args, old)
		default:
			stmt, args = `UPDATE coord_values SET value = ?3 WHERE key = ?1 AND value = ?2`, append(args, old, new)
		}
		res, err := s.w.ExecContext(ctx, stmt, args...)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		ok = n == 1
		return nil
	})
	return ok, wrap("swap value", err)
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
	return wrap("put sweep", s.use(ctx, func() error {
		_, err := s.w.ExecContext(ctx, `INSERT INTO sweeps (id, started, doc) VALUES (?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET started = excluded.started, doc = excluded.doc`, sw.ID, nanos(sw.Started), doc)
		return err
	}))
}

// Sweep implements catalog.SweepLog.
func (s *Store) Sweep(ctx context.Context, id string) (*catalog.Sweep, error) {
	var doc []byte
	err := s.use(ctx, func() error {
		return s.r.QueryRowContext(ctx, `SELECT doc FROM sweeps WHERE id = ?`, id).Scan(&doc)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: sweep %q", catalog.ErrNotFound, id)
	}
	if err != nil {
		return nil, wrap("sweep", err)
	}
	var sw catalog.Sweep
	if err := json.Unmarshal(doc, &sw); err != nil {
		return nil, wrap("sweep", err)
	}
	return &sw, nil
}

// Sweeps implements catalog.SweepLog.
func (s *Store) Sweeps(ctx context.Context, limit int) ([]*catalog.Sweep, error) {
	limit, err := catalog.SweepLimit(limit)
	if err != nil {
		return nil, err
	}
	var out []*catalog.Sweep
	err = s.use(ctx, func() error {
		rows, err := s.r.QueryContext(ctx, `SELECT doc FROM sweeps ORDER BY started DESC, id LIMIT ?`, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var doc []byte
			if err := rows.Scan(&doc); err != nil {
				return err
			}
			var sw catalog.Sweep
			if err := json.Unmarshal(doc, &sw); err != nil {
				return err
			}
			out = append(out, &sw)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap("sweeps", err)
	}
	catalog.SortSweeps(out)
	return out, nil
}
