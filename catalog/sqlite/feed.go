package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/cssc-go/cssc/catalog/internal/entrycodec"
	"github.com/cssc-go/cssc/catalog/internal/searchindex"
)

// feed is the change feed of the database (the changes table) as the
// search index reads it, in a read transaction. SQLite has one writer, so
// change numbers are given in commit order.
type feed struct {
	q    *sql.Tx
	head *sql.Stmt // Store.stmts.head
}

var _ searchindex.Feed = feed{}

func (f feed) Head(ctx context.Context) (int64, int64, error) {
	var first, last sql.NullInt64
	// Two subqueries: each is one b-tree probe, where min and max in one
	// SELECT would scan the table.
	err := f.q.StmtContext(ctx, f.head).QueryRowContext(ctx).Scan(&first, &last)
	return first.Int64, last.Int64, err
}

// record returns the search record of an entry: the stored one, or one
// made from the body for an entry written before records were kept.
func record(id int64, rec, body []byte) ([]byte, error) {
	if searchindex.Current(rec) || body == nil {
		return rec, nil
	}
	e, err := entrycodec.Decode(body)
	if err != nil {
		return nil, fmt.Errorf("entry %d: %w", id, err)
	}
	return searchindex.Encode(e), nil
}

// withBody selects the body of entry e only when its record must be
// rebuilt from it.
const withBody = `CASE WHEN e.search IS NULL OR substr(e.search, 1, 1) <> x'01' THEN (SELECT body FROM bodies WHERE entry_id = e.id) END`

func (f feed) Changes(ctx context.Context, after int64, fn func(seq, id int64, rec []byte) error) error {
	rows, err := f.q.QueryContext(ctx, `SELECT c.seq, c.entry_id, e.id IS NOT NULL, e.search, `+withBody+`
		FROM changes c LEFT JOIN entries e ON e.id = c.entry_id WHERE c.seq > ? ORDER BY c.seq`, after)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var seq, id int64
		var exists bool
		var rec, body []byte
		if err := rows.Scan(&seq, &id, &exists, &rec, &body); err != nil {
			return err
		}
		if exists {
			if rec, err = record(id, rec, body); err != nil {
				return err
			}
			if rec == nil {
				rec = []byte{}
			}
		} else {
			rec = nil
		}
		if err := fn(seq, id, rec); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Snapshot reads every record and the last change number in the
// transaction, at one point.
func (f feed) Snapshot(ctx context.Context, fn func(id int64, rec []byte) error) (int64, error) {
	var last sql.NullInt64
	if err := f.q.QueryRowContext(ctx, `SELECT max(seq) FROM changes`).Scan(&last); err != nil {
		return 0, err
	}
	rows, err := f.q.QueryContext(ctx, `SELECT e.id, e.search, `+withBody+` FROM entries e`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var rec, body []byte
		if err := rows.Scan(&id, &rec, &body); err != nil {
			return 0, err
		}
		if rec, err = record(id, rec, body); err != nil {
			return 0, err
		}
		if err := fn(id, rec); err != nil {
			return 0, err
		}
	}
	return last.Int64, rows.Err()
}

// backfill stores the search record of the entries written before
// records were kept (a migrated database), so that loading the index
// reads records rather than bodies. The records say what the bodies say:
// no change is recorded.
func (s *Store) backfill(ctx context.Context) (int, error) {
	done := 0
	for {
		var batch []struct {
			id  int64
			rec []byte
		}
		err := s.tx(ctx, func(tx *sql.Tx) error {
			batch = batch[:0]
			rows, err := tx.QueryContext(ctx, `SELECT e.id, b.body FROM entries e JOIN bodies b ON b.entry_id = e.id
				WHERE e.search IS NULL LIMIT 1000`)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id int64
				var body []byte
				if err := rows.Scan(&id, &body); err != nil {
					rows.Close()
					return err
				}
				rec, err := record(id, nil, body)
				if err != nil {
					rows.Close()
					return err
				}
				batch = append(batch, struct {
					id  int64
					rec []byte
				}{id, rec})
			}
			if err := rows.Close(); err != nil {
				return err
			}
			for _, b := range batch {
				if _, err := tx.ExecContext(ctx, `UPDATE entries SET search = ? WHERE id = ?`, b.rec, b.id); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return done, err
		}
		done += len(batch)
		if len(batch) == 0 {
			return done, nil
		}
	}
}

// reencode rewrites in the binary form the bodies and summaries that
// entries written before it (or by another program) keep as JSON, in
// batches of 500, one write transaction each; it returns how many bodies
// were JSON. The facts do not change, so no change is
// recorded. Several processes opening the file at once each rewrite what
// is left; they write the same bytes.
func (s *Store) reencode(ctx context.Context) (int, error) {
	done := 0
	for {
		// rewritten counts the entries of the batch, wasJSON those whose body
		// was JSON (a body already binary under the mark is rewritten too).
		var rewritten, wasJSON int
		err := s.tx(ctx, func(tx *sql.Tx) error {
			rewritten, wasJSON = 0, 0
			rows, err := tx.QueryContext(ctx, `SELECT e.id, b.body FROM entries e JOIN bodies b ON b.entry_id = e.id
				WHERE e.body_json = 1 LIMIT 500`)
			if err != nil {
				return err
			}
			type item struct {
				id            int64
				body, summary []byte
			}
			var batch []item
			for rows.Next() {
				var it item
				var body []byte
				if err := rows.Scan(&it.id, &body); err != nil {
					rows.Close()
					return err
				}
				e, err := entrycodec.Decode(body)
				if err != nil {
					rows.Close()
					return fmt.Errorf("entry %d: %w", it.id, err)
				}
				if !entrycodec.IsBinary(body) {
					wasJSON++
				}
				sm := e.Summary()
				it.body, it.summary = entrycodec.Encode(e), entrycodec.EncodeSummary(&sm)
				batch = append(batch, it)
			}
			if err := rows.Close(); err != nil {
				return err
			}
			for _, it := range batch {
				if _, err := tx.ExecContext(ctx, `UPDATE bodies SET body = ?, summary = ? WHERE entry_id = ?`, it.body, it.summary, it.id); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `UPDATE entries SET body_json = 0 WHERE id = ?`, it.id); err != nil {
					return err
				}
			}
			rewritten = len(batch)
			return nil
		})
		if err != nil {
			return done, err
		}
		if rewritten == 0 {
			return done, nil
		}
		done += wasJSON
	}
}
