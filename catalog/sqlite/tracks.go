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

var _ catalog.TrackStore = (*Store)(nil)

// checkedNanos stores a check time: 0 for never.
func checkedNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func checkedTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return fromNanos(n)
}

// PutTrack implements catalog.TrackStore.
func (s *Store) PutTrack(ctx context.Context, t *catalog.Track) error {
	doc, err := catalog.MarshalTrack(t)
	if err != nil {
		return err
	}
	return s.use(ctx, func() error {
		var res sql.Result
		var err error
		if t.Revision == 0 {
			res, err = s.w.ExecContext(ctx, `INSERT INTO upstream_tracks (golden, tag, source_name, revision, checked, doc)
				VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT (golden, tag) DO NOTHING`,
				t.Golden, t.Tag, t.SourceName(), checkedNanos(t.Checked), doc)
		} else {
			res, err = s.w.ExecContext(ctx, `UPDATE upstream_tracks SET source_name = ?, revision = revision + 1,
				checked = max(checked, ?), doc = ? WHERE golden = ? AND tag = ? AND revision = ?`,
				t.SourceName(), checkedNanos(t.Checked), doc, t.Golden, t.Tag, t.Revision)
		}
		if err != nil {
			return fmt.Errorf("catalog/sqlite: put track: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("catalog/sqlite: put track: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("%w: track %s: revision %d is not the stored one", catalog.ErrConflict, t.Key(), t.Revision)
		}
		t.Revision++
		return nil
	})
}

const trackColumns = "revision, checked, doc"

func scanTrack(row scanner) (*catalog.Track, error) {
	var rev, checked int64
	var doc []byte
	if err := row.Scan(&rev, &checked, &doc); err != nil {
		return nil, err
	}
	return catalog.UnmarshalTrack(doc, rev, checkedTime(checked))
}

// Track implements catalog.TrackStore.
func (s *Store) Track(ctx context.Context, golden, tag string) (*catalog.Track, error) {
	var t *catalog.Track
	err := s.use(ctx, func() error {
		var err error
		t, err = scanTrack(s.r.QueryRowContext(ctx, `SELECT `+trackColumns+` FROM upstream_tracks WHERE golden = ? AND tag = ?`, golden, tag))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: track %s:%s", catalog.ErrNotFound, golden, tag)
		}
		if err != nil {
			return fmt.Errorf("catalog/sqlite: track: %w", err)
		}
		return nil
	})
	return t, err
}

// Tracks implements catalog.TrackStore.
func (s *Store) Tracks(ctx context.Context, q catalog.TrackQuery) ([]*catalog.Track, error) {
	q, err := q.Validate()
	if err != nil {
		return nil, err
	}
	var where []string
	var args []any
	if q.After != (catalog.TrackKey{}) {
		where = append(where, `(golden > ? OR (golden = ? AND tag > ?))`)
		args = append(args, q.After.Golden, q.After.Golden, q.After.Tag)
	}
	if q.SourceName != "" {
		where = append(where, `source_name = ?`)
		args = append(args, q.SourceName)
	}
	stmt := `SELECT ` + trackColumns + ` FROM upstream_tracks`
	if len(where) > 0 {
		stmt += ` WHERE ` + strings.Join(where, " AND ")
	}
	stmt += ` ORDER BY golden, tag LIMIT ?`
	args = append(args, q.Limit)
	var out []*catalog.Track
	err = s.use(ctx, func() error {
		rows, err := s.r.QueryContext(ctx, stmt, args...)
		if err != nil {
			return fmt.Errorf("catalog/sqlite: tracks: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanTrack(rows)
			if err != nil {
				return fmt.Errorf("catalog/sqlite: tracks: %w", err)
			}
			out = append(out, t)
		}
		return rows.Err()
	})
	return out, err
}

// TouchTracks implements catalog.TrackStore: one transaction for every
// key.
func (s *Store) TouchTracks(ctx context.Context, at time.Time, keys ...catalog.TrackKey) error {
	if len(keys) == 0 {
		return nil
	}
	return s.use(ctx, func() error {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			st, err := tx.PrepareContext(ctx, `UPDATE upstream_tracks SET checked = max(checked, ?) WHERE golden = ? AND tag = ?`)
			if err != nil {
				return err
			}
			defer st.Close()
			ns := checkedNanos(at)
			for _, k := range keys {
				if _, err := st.ExecContext(ctx, ns, k.Golden, k.Tag); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("catalog/sqlite: touch tracks: %w", err)
		}
		return nil
	})
}

// DeleteTrack implements catalog.TrackStore.
func (s *Store) DeleteTrack(ctx context.Context, golden, tag string) error {
	return s.use(ctx, func() error {
		res, err := s.w.ExecContext(ctx, `DELETE FROM upstream_tracks WHERE golden = ? AND tag = ?`, golden, tag)
		if err != nil {
			return fmt.Errorf("catalog/sqlite: delete track: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("catalog/sqlite: delete track: %w", err)
		} else if n == 0 {
			return fmt.Errorf("%w: track %s:%s", catalog.ErrNotFound, golden, tag)
		}
		return nil
	})
}
