package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
)

// RecordTags implements catalog.Store. Observations of one repository are
// serialized across instances by an advisory lock.
func (s *Store) RecordTags(ctx context.Context, repository string, tags map[string]digest.Digest, at time.Time, complete bool) ([]catalog.TagEvent, error) {
	if err := catalog.CheckTags(repository, tags); err != nil {
		return nil, err
	}
	if len(repository) > MaxRepositoryBytes || !storable(repository) {
		return nil, fmt.Errorf("%w: repository %q is longer than %d bytes or not UTF-8", catalog.ErrInvalidEntry, repository, MaxRepositoryBytes)
	}
	for tag := range tags {
		if !storable(tag) {
			return nil, fmt.Errorf("%w: tag %q is not UTF-8", catalog.ErrInvalidEntry, tag)
		}
	}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	at = at.UTC()
	atS, atNS := split(at)
	var events []catalog.TagEvent
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		events = nil
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", lockClass+lockTags, repository); err != nil {
			return err
		}
		type cur struct {
			id     int64
			digest digest.Digest
			last   time.Time
		}
		current := map[string]cur{}
		rows, err := tx.Query(ctx, "SELECT id, tag, digest, last_s, last_ns FROM cssc_tags WHERE repository = $1 AND current", repository)
		if err != nil {
			return err
		}
		var c cur
		var tag string
		var lastS int64
		var lastNS int32
		if _, err := pgx.ForEachRow(rows, []any{&c.id, &tag, &c.digest, &lastS, &lastNS}, func() error {
			c.last = unsplit(lastS, lastNS)
			current[tag] = c
			return nil
		}); err != nil {
			return err
		}
		// Updates first: the unique index on current tags needs an old
		// record ended before its successor is inserted.
		b := &pgx.Batch{}
		var inserts []string
		for _, tag := range slices.Sorted(maps.Keys(tags)) {
			d := tags[tag]
			c, ok := current[tag]
			switch {
			case ok && c.digest == d:
				if at.After(c.last) {
					b.Queue("UPDATE cssc_tags SET last_s = $2, last_ns = $3 WHERE id = $1", c.id, atS, atNS)
				}
				continue
			case ok:
				b.Queue("UPDATE cssc_tags SET current = false WHERE id = $1", c.id)
				events = append(events, catalog.TagEvent{Type: catalog.TagMoved, Repository: repository, Tag: tag, From: c.digest, To: d, At: at})
			default:
				events = append(events, catalog.TagEvent{Type: catalog.TagAdded, Repository: repository, Tag: tag, To: d, At: at})
			}
			inserts = append(inserts, tag)
		}
		if complete {
			for _, tag := range slices.Sorted(maps.Keys(current)) {
				if _, ok := tags[tag]; ok {
					continue
				}
				b.Queue("UPDATE cssc_tags SET current = false WHERE id = $1", current[tag].id)
				events = append(events, catalog.TagEvent{Type: catalog.TagRemoved, Repository: repository, Tag: tag, From: current[tag].digest, At: at})
			}
		}
		for _, tag := range inserts {
			b.Queue(`INSERT INTO cssc_tags (repository, tag, digest, first_s, first_ns, last_s, last_ns, current)
				VALUES ($1, $2, $3, $4, $5, $4, $5, true)`, repository, tag, tags[tag].String(), atS, atNS)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, s.wrap("record tags", err)
	}
	slices.SortStableFunc(events, func(a, b catalog.TagEvent) int { return strings.Compare(a.Tag, b.Tag) })
	return events, nil
}

// Tags implements catalog.Store.
func (s *Store) Tags(ctx context.Context, repository string) (map[string]digest.Digest, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out := map[string]digest.Digest{}
	if !storable(repository) {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, "SELECT tag, digest FROM cssc_tags WHERE repository = $1 AND current", repository)
	if err != nil {
		return nil, s.wrap("tags", err)
	}
	var tag string
	var d digest.Digest
	if _, err := pgx.ForEachRow(rows, []any{&tag, &d}, func() error {
		out[tag] = d
		return nil
	}); err != nil {
		return nil, s.wrap("tags", err)
	}
	return out, nil
}

// TagHistory implements catalog.Store.
func (s *Store) TagHistory(ctx context.Context, repository, tag string) ([]catalog.TagRecord, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if !storable(repository) || !storable(tag) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT tag, digest, first_s, first_ns, last_s, last_ns, current FROM cssc_tags
		WHERE repository = $1 AND ($2 = '' OR tag = $2) ORDER BY tag, first_s, first_ns, digest`, repository, tag)
	if err != nil {
		return nil, s.wrap("tag history", err)
	}
	var out []catalog.TagRecord
	var r catalog.TagRecord
	var fs, ls int64
	var fns, lns int32
	if _, err := pgx.ForEachRow(rows, []any{&r.Tag, &r.Digest, &fs, &fns, &ls, &lns, &r.Current}, func() error {
		r.Repository = repository
		r.FirstSeen, r.LastSeen = unsplit(fs, fns), unsplit(ls, lns)
		out = append(out, r)
		return nil
	}); err != nil {
		return nil, s.wrap("tag history", err)
	}
	catalog.SortTagRecords(out)
	return out, nil
}
