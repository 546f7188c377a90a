package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/internal/entrycodec"
)

// Search implements catalog.Store. The in-memory index, first brought up
// to date with the database through the changes table, finds the page,
// the total and the facets; the page's summaries are read from the
// database in the same read transaction.
func (s *Store) Search(ctx context.Context, q catalog.Query) (*catalog.Result, error) {
	q, err := q.Validate()
	if err != nil {
		return nil, err
	}
	var res *catalog.Result
	err = s.use(ctx, func() error {
		tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := s.ix.Refresh(ctx, feed{tx, s.stmts.head}); err != nil {
			return fmt.Errorf("index: %w", err)
		}
		found, err := s.ix.Search(q)
		if err != nil {
			return err
		}
		res = &catalog.Result{Total: found.Total, Next: found.Next, Facets: found.Facets}
		res.Entries, err = summaries(ctx, tx.StmtContext(ctx, s.stmts.summaries), found.IDs)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("catalog/sqlite: search: %w", err)
	}
	return res, nil
}

// summaries reads the summaries of the entries ids, in that order.
func summaries(ctx context.Context, stmt *sql.Stmt, ids []int64) ([]catalog.Summary, error) {
	out := []catalog.Summary{}
	if len(ids) == 0 {
		return out, nil
	}
	b, _ := json.Marshal(ids)
	rows, err := stmt.QueryContext(ctx, string(b))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byID := make(map[int64]catalog.Summary, len(ids))
	for rows.Next() {
		var id int64
		var raw []byte
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, err
		}
		sm, err := entrycodec.DecodeSummary(raw)
		if err != nil {
			return nil, fmt.Errorf("summary of entry %d: %w", id, err)
		}
		byID[id] = sm
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if sm, ok := byID[id]; ok { // a concurrent delete may have removed it
			out = append(out, sm)
		}
	}
	return out, nil
}
