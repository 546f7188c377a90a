package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cssc-go/cssc/catalog"
)

var _ catalog.LimitedRequestStore = (*Store)(nil)

// CreateRequest implements catalog.RequestStore: an insert that the
// partial unique index on open keys turns away when an open request holds
// the key; then the open request is read (and, should it have closed in
// between, the insert tried again).
func (s *Store) CreateRequest(ctx context.Context, r *catalog.Request) (*catalog.Request, bool, error) {
	return s.CreateRequestLimited(ctx, r, catalog.RequestLimit{})
}

// CreateRequestLimited implements catalog.LimitedRequestStore. With a
// limit, the count and the insert run in one transaction that holds a
// transaction-scoped advisory lock on the requester, so that the
// transactions of one requester (on any instance) count one after the
// other; without one, it is CreateRequest's single insert.
func (s *Store) CreateRequestLimited(ctx context.Context, r *catalog.Request, limit catalog.RequestLimit) (*catalog.Request, bool, error) {
	doc, err := catalog.MarshalNewRequest(r)
	if err != nil {
		return nil, false, err
	}
	if err := s.check(ctx); err != nil {
		return nil, false, err
	}
	if limit.Max > 0 {
		return s.createLimited(ctx, r, doc, limit)
	}
	for range 5 {
		stored, created, err := insertRequest(ctx, s.pool, r, doc)
		switch {
		case err == nil:
			if created {
				r.Revision = 1
			}
			return stored, created, nil
		case errors.Is(err, catalog.ErrConflict):
			return nil, false, err
		case errors.Is(err, errRetry):
			continue
		}
		return nil, false, s.wrap("create request", err)
	}
	return nil, false, fmt.Errorf("%w: request for %s: the open request kept changing", catalog.ErrConflict, r.Key)
}

// errRetry asks CreateRequestLimited to try again.
var errRetry = errors.New("retry")

// requestDB is what insertRequest runs on: the pool, or a transaction.
type requestDB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// insertRequest inserts r, which the partial unique index on open keys
// turns away when an open request holds the key: it then returns that
// request (created false), an error wrapping catalog.ErrConflict when r's
// ID is taken, or errRetry when the open request closed meanwhile.
func insertRequest(ctx context.Context, db requestDB, r *catalog.Request, doc []byte) (*catalog.Request, bool, error) {
	tag, err := db.Exec(ctx, `INSERT INTO cssc_requests (id, key, state, open, requester, created, revision, doc)
		VALUES ($1, $2, $3, $4, $5, $6, 1, $7) ON CONFLICT DO NOTHING`,
		r.ID, r.Key, string(r.State), r.Open(), r.Requester, catalog.RequestTime(r.Created), doc)
	if err != nil {
		return nil, false, err
	}
	if tag.RowsAffected() == 1 {
		return r, true, nil
	}
	// Either the id is taken or an open request holds the key.
	var taken bool
	if err := db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM cssc_requests WHERE id = $1)`, r.ID).Scan(&taken); err != nil {
		return nil, false, err
	}
	if taken {
		return nil, false, fmt.Errorf("%w: request id %s is taken", catalog.ErrConflict, r.ID)
	}
	got, err := scanRequest(db.QueryRow(ctx, `SELECT revision, doc FROM cssc_requests WHERE key = $1 AND open`, r.Key))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, errRetry
	}
	if err != nil {
		return nil, false, err
	}
	return got, false, nil
}

// createLimited counts and inserts under the requester's advisory lock:
// the insert that the partial unique index on open keys turns away when
// an open request holds the key (which is then read), as CreateRequest
// does.
func (s *Store) createLimited(ctx context.Context, r *catalog.Request, doc []byte, limit catalog.RequestLimit) (*catalog.Request, bool, error) {
	for range 5 {
		var stored *catalog.Request
		created := false
		err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('cssc/request-limit/' || $1, 0))`, r.Requester); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT created FROM cssc_requests WHERE requester = $1 AND created > $2
				ORDER BY created DESC, id DESC LIMIT $3`, r.Requester, catalog.RequestTime(limit.Since), limit.Max)
			if err != nil {
				return err
			}
			times, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
			if err != nil {
				return err
			}
			if len(times) >= limit.Max {
				return &catalog.RequestLimitError{Requester: r.Requester, Max: limit.Max, Oldest: times[limit.Max-1].UTC()}
			}
			stored, created, err = insertRequest(ctx, tx, r, doc)
			return err
		})
		var pe *pgconn.PgError
		var le *catalog.RequestLimitError
		switch {
		case err == nil:
			if created {
				r.Revision = 1
			}
			return stored, created, nil
		case errors.As(err, &le), errors.Is(err, catalog.ErrConflict):
			return nil, false, err
		case errors.Is(err, errRetry), errors.As(err, &pe) && pe.Code == "23505":
			continue
		}
		return nil, false, s.wrap("create request", err)
	}
	return nil, false, fmt.Errorf("%w: request for %s: the open request kept changing", catalog.ErrConflict, r.Key)
}

// PutRequest implements catalog.RequestStore: one conditional update on
// the revision and the key.
func (s *Store) PutRequest(ctx context.Context, r *catalog.Request) error {
	doc, err := catalog.MarshalRequest(r)
	if err != nil {
		return err
	}
	if err := s.check(ctx); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `UPDATE cssc_requests SET state = $1, open = $2, requester = $3, revision = revision + 1, doc = $4
		WHERE id = $5 AND revision = $6 AND key = $7`, string(r.State), r.Open(), r.Requester, doc, r.ID, r.Revision, r.Key)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return fmt.Errorf("%w: request %s: another request is open for %s", catalog.ErrConflict, r.ID, r.Key)
		}
		return s.wrap("put request", err)
	}
	if tag.RowsAffected() == 0 {
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM cssc_requests WHERE id = $1)`, r.ID).Scan(&exists); err != nil {
			return s.wrap("put request", err)
		}
		if !exists {
			return fmt.Errorf("%w: request %s", catalog.ErrNotFound, r.ID)
		}
		return fmt.Errorf("%w: request %s: revision %d (or key) is not the stored one", catalog.ErrConflict, r.ID, r.Revision)
	}
	r.Revision++
	return nil
}

func scanRequest(row pgx.Row) (*catalog.Request, error) {
	var rev int64
	var doc []byte
	if err := row.Scan(&rev, &doc); err != nil {
		return nil, err
	}
	return catalog.UnmarshalRequest(doc, rev)
}

// Request implements catalog.RequestStore.
func (s *Store) Request(ctx context.Context, id string) (*catalog.Request, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	r, err := scanRequest(s.pool.QueryRow(ctx, `SELECT revision, doc FROM cssc_requests WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: request %s", catalog.ErrNotFound, id)
	}
	if err != nil {
		return nil, s.wrap("request", err)
	}
	return r, nil
}

// Requests implements catalog.RequestStore.
func (s *Store) Requests(ctx context.Context, q catalog.RequestQuery) ([]*catalog.Request, error) {
	q, err := q.Validate()
	if err != nil {
		return nil, err
	}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", fmt.Sprintf("$%d", len(args))))
	}
	if q.State != "" {
		add(`state = $?`, string(q.State))
	}
	if q.Open {
		where = append(where, `open`)
	}
	if q.Requester != "" {
		add(`requester = $?`, q.Requester)
	}
	if q.Key != "" {
		add(`key = $?`, q.Key)
	}
	if q.Before.ID != "" {
		args = append(args, q.Before.Created, q.Before.ID)
		where = append(where, fmt.Sprintf(`(created, id) < ($%d, $%d)`, len(args)-1, len(args)))
	}
	stmt := `SELECT revision, doc FROM cssc_requests`
	if len(where) > 0 {
		stmt += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, q.Limit)
	stmt += fmt.Sprintf(` ORDER BY created DESC, id DESC LIMIT $%d`, len(args))
	rows, err := s.pool.Query(ctx, stmt, args...)
	if err != nil {
		return nil, s.wrap("requests", err)
	}
	defer rows.Close()
	var out []*catalog.Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, s.wrap("requests", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("requests", err)
	}
	return out, nil
}
