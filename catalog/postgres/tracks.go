package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cssc-go/cssc/catalog"
)

var _ catalog.TrackStore = (*Store)(nil)

// checkedAt stores a check time: NULL for never.
func checkedAt(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// PutTrack implements catalog.TrackStore: one statement, a conditional
// insert or a conditional update on the revision.
func (s *Store) PutTrack(ctx context.Context, t *catalog.Track) error {
	doc, err := catalog.MarshalTrack(t)
	if err != nil {
		return err
	}
	if err := s.check(ctx); err != nil {
		return err
	}
	var n int64
	if t.Revision == 0 {
		tag, err := s.pool.Exec(ctx, `INSERT INTO cssc_upstream_tracks (golden, tag, source_name, revision, checked, doc)
			VALUES ($1, $2, $3, 1, $4, $5) ON CONFLICT (golden, tag) DO NOTHING`,
			t.Golden, t.Tag, t.SourceName(), checkedAt(t.Checked), doc)
		if err != nil {
			return s.wrap("put track", err)
		}
		n = tag.RowsAffected()
	} else {
		tag, err := s.pool.Exec(ctx, `UPDATE cssc_upstream_tracks SET source_name = $1, revision = revision + 1,
			checked = GREATEST(checked, $2), doc = $3 WHERE golden = $4 AND tag = $5 AND revision = $6`,
			t.SourceName(), checkedAt(t.Checked), doc, t.Golden, t.Tag, t.Revision)
		if err != nil {
			return s.wrap("put track", err)
		}
		n = tag.RowsAffected()
	}
	if n == 0 {
		return fmt.Errorf("%w: track %s: revision %d is not the stored one", catalog.ErrConflict, t.Key(), t.Revision)
	}
	t.Revision++
	return nil
}

const trackColumns = "revision, checked, doc"

func scanTrack(row pgx.Row) (*catalog.Track, error) {
	var rev int64
	var checked *time.Time
	var doc []byte
	if err := row.Scan(&rev, &checked, &doc); err != nil {
		return nil, err
	}
	var at time.Time
	if checked != nil {
		at = checked.UTC()
	}
	return catalog.UnmarshalTrack(doc, rev, at)
}

// Track implements catalog.TrackStore.
func (s *Store) Track(ctx context.Context, golden, tag string) (*catalog.Track, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	t, err := scanTrack(s.pool.QueryRow(ctx, `SELECT `+trackColumns+` FROM cssc_upstream_tracks WHERE golden = $1 AND tag = $2`, golden, tag))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: track %s:%s", catalog.ErrNotFound, golden, tag)
	}
	if err != nil {
		return nil, s.wrap("track", err)
	}
	return t, nil
}

// Tracks implements catalog.TrackStore.
func (s *Store) Tracks(ctx context.Context, q catalog.TrackQuery) ([]*catalog.Track, error) {
	q, err := q.Validate()
	if err != nil {
		return nil, err
	}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	if q.After != (catalog.TrackKey{}) {
		args = append(args, q.After.Golden, q.After.Tag)
		where = append(where, `(golden, tag) > ($1, $2)`)
	}
	if q.SourceName != "" {
		args = append(args, q.SourceName)
		where = append(where, fmt.Sprintf(`source_name = $%d`, len(args)))
	}
	stmt := `SELECT ` + trackColumns + ` FROM cssc_upstream_tracks`
	if len(where) > 0 {
		stmt += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, q.Limit)
	stmt += fmt.Sprintf(` ORDER BY golden, tag LIMIT $%d`, len(args))
	rows, err := s.pool.Query(ctx, stmt, args...)
	if err != nil {
		return nil, s.wrap("tracks", err)
	}
	defer rows.Close()
	var out []*catalog.Track
	for rows.Next() {
		t, err := scanTrack(rows)
		if err != nil {
			return nil, s.wrap("tracks", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("tracks", err)
	}
	return out, nil
}

// TouchTracks implements catalog.TrackStore: one statement for every key.
func (s *Store) TouchTracks(ctx context.Context, at time.Time, keys ...catalog.TrackKey) error {
	if len(keys) == 0 {
		return nil
	}
	if err := s.check(ctx); err != nil {
		return err
	}
	goldens, tags := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		goldens[i], tags[i] = k.Golden, k.Tag
	}
	_, err := s.pool.Exec(ctx, `UPDATE cssc_upstream_tracks t SET checked = GREATEST(t.checked, $1)
		FROM unnest($2::text[], $3::text[]) AS k(golden, tag) WHERE t.golden = k.golden AND t.tag = k.tag`,
		checkedAt(at), goldens, tags)
	return s.wrap("touch tracks", err)
}

// DeleteTrack implements catalog.TrackStore.
func (s *Store) DeleteTrack(ctx context.Context, golden, tag string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	res, err := s.pool.Exec(ctx, `DELETE FROM cssc_upstream_tracks WHERE golden = $1 AND tag = $2`, golden, tag)
	if err != nil {
		return s.wrap("delete track", err)
	}
	if res.RowsAffected() == 0 {
		return fmt.Errorf("%w: track %s:%s", catalog.ErrNotFound, golden, tag)
	}
	return nil
}
