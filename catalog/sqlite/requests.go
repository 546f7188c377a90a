package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cssc-go/cssc/catalog"
)

var _ catalog.LimitedRequestStore = (*Store)(nil)

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CreateRequest implements catalog.RequestStore: one write transaction
// (SQLite has one writer) that looks for the open request of the key and
// inserts r if there is none.
func (s *Store) CreateRequest(ctx context.Context, r *catalog.Request) (*catalog.Request, bool, error) {
	return s.CreateRequestLimited(ctx, r, catalog.RequestLimit{})
}

// CreateRequestLimited implements catalog.LimitedRequestStore: the count
// and the insert run in one write transaction (BEGIN IMMEDIATE), which
// SQLite serializes with every other writer of the file, whichever
// process or handle it comes from.
func (s *Store) CreateRequestLimited(ctx context.Context, r *catalog.Request, limit catalog.RequestLimit) (*catalog.Request, bool, error) {
	doc, err := catalog.MarshalNewRequest(r)
	if err != nil {
		return nil, false, err
	}
	var stored *catalog.Request
	created := false
	err = s.use(ctx, func() error {
		return s.tx(ctx, func(tx *sql.Tx) error {
			if limit.Max > 0 {
				if err := requestLimit(ctx, tx, r.Requester, limit); err != nil {
					return err
				}
			}
			if r.Open() {
				got, err := scanRequest(tx.QueryRowContext(ctx, `SELECT revision, doc FROM image_requests WHERE key = ? AND open = 1`, r.Key))
				if err == nil {
					stored = got
					return nil
				}
				if !errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("catalog/sqlite: create request: %w", err)
				}
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO image_requests (id, key, state, open, requester, created, revision, doc)
				VALUES (?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT (id) DO NOTHING`,
				r.ID, r.Key, string(r.State), boolInt(r.Open()), r.Requester, catalog.RequestTime(r.Created).UnixMicro(), doc)
			if err != nil {
				return fmt.Errorf("catalog/sqlite: create request: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("catalog/sqlite: create request: %w", err)
			} else if n == 0 {
				return fmt.Errorf("%w: request id %s is taken", catalog.ErrConflict, r.ID)
			}
			r.Revision, stored, created = 1, r, true
			return nil
		})
	})
	if err != nil {
		return nil, false, err
	}
	return stored, created, nil
}

// requestLimit fails with a *catalog.RequestLimitError when requester
// created limit.Max requests or more after limit.Since.
func requestLimit(ctx context.Context, tx *sql.Tx, requester string, limit catalog.RequestLimit) error {
	rows, err := tx.QueryContext(ctx, `SELECT created FROM image_requests WHERE requester = ? AND created > ?
		ORDER BY created DESC, id DESC LIMIT ?`, requester, catalog.RequestTime(limit.Since).UnixMicro(), limit.Max)
	if err != nil {
		return fmt.Errorf("catalog/sqlite: create request: %w", err)
	}
	defer rows.Close()
	n := 0
	var oldest int64
	for rows.Next() {
		if err := rows.Scan(&oldest); err != nil {
			return fmt.Errorf("catalog/sqlite: create request: %w", err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("catalog/sqlite: create request: %w", err)
	}
	if n >= limit.Max {
		return &catalog.RequestLimitError{Requester: requester, Max: limit.Max, Oldest: time.UnixMicro(oldest).UTC()}
	}
	return nil
}

// PutRequest implements catalog.RequestStore.
func (s *Store) PutRequest(ctx context.Context, r *catalog.Request) error {
	doc, err := catalog.MarshalRequest(r)
	if err != nil {
		return err
	}
	return s.use(ctx, func() error {
		return s.tx(ctx, func(tx *sql.Tx) error {
			var key string
			var rev int64
			err := tx.QueryRowContext(ctx, `SELECT key, revision FROM image_requests WHERE id = ?`, r.ID).Scan(&key, &rev)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%w: request %s", catalog.ErrNotFound, r.ID)
			}
			if err != nil {
				return fmt.Errorf("catalog/sqlite: put request: %w", err)
			}
			switch {
			case rev != r.Revision:
				return fmt.Errorf("%w: request %s: revision %d, stored %d", catalog.ErrConflict, r.ID, r.Revision, rev)
			case key != r.Key:
				return fmt.Errorf("%w: request %s: the key of a request does not change", catalog.ErrConflict, r.ID)
			}
			if r.Open() {
				var other string
				err := tx.QueryRowContext(ctx, `SELECT id FROM image_requests WHERE key = ? AND open = 1 AND id <> ?`, r.Key, r.ID).Scan(&other)
				if err == nil {
					return fmt.Errorf("%w: request %s: request %s is open for %s", catalog.ErrConflict, r.ID, other, r.Key)
				}
				if !errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("catalog/sqlite: put request: %w", err)
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE image_requests SET state = ?, open = ?, requester = ?, revision = revision + 1, doc = ?
				WHERE id = ?`, string(r.State), boolInt(r.Open()), r.Requester, doc, r.ID); err != nil {
				return fmt.Errorf("catalog/sqlite: put request: %w", err)
			}
			r.Revision++
			return nil
		})
	})
}

func scanRequest(row scanner) (*catalog.Request, error) {
	var rev int64
	var doc []byte
	if err := row.Scan(&rev, &doc); err != nil {
		return nil, err
	}
	return catalog.UnmarshalRequest(doc, rev)
}

// Request implements catalog.RequestStore.
func (s *Store) Request(ctx context.Context, id string) (*catalog.Request, error) {
	var r *catalog.Request
	err := s.use(ctx, func() error {
		var err error
		r, err = scanRequest(s.r.QueryRowContext(ctx, `SELECT revision, doc FROM image_requests WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: request %s", catalog.ErrNotFound, id)
		}
		if err != nil {
			return fmt.Errorf("catalog/sqlite: request: %w", err)
		}
		return nil
	})
	return r, err
}

// Requests implements catalog.RequestStore.
func (s *Store) Requests(ctx context.Context, q catalog.RequestQuery) ([]*catalog.Request, error) {
	q, err := q.Validate()
	if err != nil {
		return nil, err
	}
	var where []string
	var args []any
	if q.State != "" {
		where, args = append(where, `state = ?`), append(args, string(q.State))
	}
	if q.Open {
		where = append(where, `open = 1`)
	}
	if q.Requester != "" {
		where, args = append(where, `requester = ?`), append(args, q.Requester)
	}
	if q.Key != "" {
		where, args = append(where, `key = ?`), append(args, q.Key)
	}
	if q.Before.ID != "" {
		c := q.Before.Created.UnixMicro()
		where, args = append(where, `(created < ? OR (created = ? AND id < ?))`), append(args, c, c, q.Before.ID)
	}
	stmt := `SELECT revision, doc FROM image_requests`
	if len(where) > 0 {
		stmt += ` WHERE ` + strings.Join(where, " AND ")
	}
	stmt += ` ORDER BY created DESC, id DESC LIMIT ?`
	args = append(args, q.Limit)
	var out []*catalog.Request
	err = s.use(ctx, func() error {
		rows, err := s.r.QueryContext(ctx, stmt, args...)
		if err != nil {
			return fmt.Errorf("catalog/sqlite: requests: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRequest(rows)
			if err != nil {
				return fmt.Errorf("catalog/sqlite: requests: %w", err)
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, err
}
