package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cssc-go/cssc/catalog/internal/entrycodec"
	"github.com/cssc-go/cssc/catalog/internal/searchindex"
)

// feed is cssc_changes as the search index reads it. Writers number
// their changes under an advisory lock held until they commit (see
// queueChangeLock), so numbers become visible in order, which is what
// searchindex.Feed asks.
type feed struct{ s *Store }

var _ searchindex.Feed = feed{}

func (f feed) Head(ctx context.Context) (first, last int64, err error) {
	err = f.s.pool.QueryRow(ctx, `SELECT coalesce(min(seq), 0), coalesce(max(seq), 0) FROM cssc_changes`).Scan(&first, &last)
	return first, last, err
}

// record returns the search record of an entry: the stored one, or one
// made from the entry for an entry written before records were kept.
func record(id int64, rec, doc []byte) ([]byte, error) {
	if searchindex.Current(rec) || doc == nil {
		return rec, nil
	}
	e, err := entrycodec.Decode(doc)
	if err != nil {
		return nil, fmt.Errorf("entry %d: %w", id, err)
	}
	return searchindex.Encode(e), nil
}

// withDoc selects the entry document of entry e only when its record must
// be rebuilt from it.
const withDoc = `CASE WHEN e.search IS NULL OR get_byte(e.search, 0) <> 1
	THEN (SELECT doc FROM cssc_entry_docs WHERE entry_id = e.id) END`

func (f feed) Changes(ctx context.Context, after int64, fn func(seq, id int64, rec []byte) error) error {
	rows, err := f.s.pool.Query(ctx, `SELECT c.seq, c.entry_id, e.id IS NOT NULL, e.search, `+withDoc+`
		FROM cssc_changes c LEFT JOIN cssc_entries e ON e.id = c.entry_id WHERE c.seq > $1 ORDER BY c.seq`, after)
	if err != nil {
		return err
	}
	var seq, id int64
	var exists bool
	var rec, doc []byte
	_, err = pgx.ForEachRow(rows, []any{&seq, &id, &exists, &rec, &doc}, func() error {
		r := []byte(nil)
		if exists {
			var err error
			if r, err = record(id, rec, doc); err != nil {
				return err
			}
			if r == nil {
				r = []byte{}
			}
		}
		return fn(seq, id, r)
	})
	return err
}

// Snapshot reads the records and the last change number in one
// repeatable-read transaction.
func (f feed) Snapshot(ctx context.Context, fn func(id int64, rec []byte) error) (int64, error) {
	var last int64
	err := pgx.BeginTxFunc(ctx, f.s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM cssc_changes`).Scan(&last); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT e.id, e.search, `+withDoc+` FROM cssc_entries e`)
		if err != nil {
			return err
		}
		var id int64
		var rec, doc []byte
		_, err = pgx.ForEachRow(rows, []any{&id, &rec, &doc}, func() error {
			r, err := record(id, rec, doc)
			if err != nil {
				return err
			}
			return fn(id, r)
		})
		return err
	})
	return last, err
}

// backfill stores the search record of the entries written before
// records were kept (a migrated database), so that loading the index
// reads records rather than entry documents. The records say what the
// documents say: no change is recorded. Instances that start together
// may fill the same entries; they write the same bytes.
func (s *Store) backfill(ctx context.Context) (int, error) {
	done := 0
	for {
		rows, err := s.pool.Query(ctx, `SELECT e.id, d.doc FROM cssc_entries e JOIN cssc_entry_docs d ON d.entry_id = e.id
			WHERE e.search IS NULL LIMIT 1000`)
		if err != nil {
			return done, err
		}
		var ids []int64
		var recs [][]byte
		var id int64
		var doc []byte
		_, err = pgx.ForEachRow(rows, []any{&id, &doc}, func() error {
			rec, err := record(id, nil, doc)
			ids, recs = append(ids, id), append(recs, rec)
			return err
		})
		if err != nil {
			return done, err
		}
		if len(ids) == 0 {
			return done, nil
		}
		if _, err := s.pool.Exec(ctx, `UPDATE cssc_entries e SET search = x.rec FROM unnest($1::bigint[], $2::bytea[]) AS x(id, rec)
			WHERE e.id = x.id AND e.search IS NULL`, ids, recs); err != nil {
			return done, err
		}
		done += len(ids)
	}
}

// reencode rewrites in the binary form the entry documents and summaries
// that entries written before it (or by an instance of an older version)
// keep as JSON, 500 at a time; it returns how many documents were JSON. The facts do not change, so no change is recorded. A
// document that a Put replaced meanwhile is left alone (its mark is
// clear); instances that start together write the same bytes.
func (s *Store) reencode(ctx context.Context) (int, error) {
	done := 0
	for {
		rows, err := s.pool.Query(ctx, `SELECT entry_id, doc FROM cssc_entry_docs WHERE json LIMIT 500`)
		if err != nil {
			return done, err
		}
		var ids []int64
		var docs, sums [][]byte
		var id int64
		var doc []byte
		n := 0
		_, err = pgx.ForEachRow(rows, []any{&id, &doc}, func() error {
			e, err := entrycodec.Decode(doc)
			if err != nil {
				return fmt.Errorf("entry %d: %w", id, err)
			}
			if !entrycodec.IsBinary(doc) {
				n++
			}
			sm := e.Summary()
			ids, docs, sums = append(ids, id), append(docs, entrycodec.Encode(e)), append(sums, entrycodec.EncodeSummary(&sm))
			return nil
		})
		if err != nil {
			return done, err
		}
		if len(ids) == 0 {
			return done, nil
		}
		if _, err := s.pool.Exec(ctx, `UPDATE cssc_entry_docs d SET doc = x.doc, summary = x.summary, json = false
			FROM unnest($1::bigint[], $2::bytea[], $3::bytea[]) AS x(id, doc, summary) WHERE d.entry_id = x.id AND d.json`, ids, docs, sums); err != nil {
			return done, err
		}
		done += n
	}
}
