package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/internal/entrycodec"
)

// Search implements catalog.Store. The instance's in-memory index, first
// brought up to date through cssc_changes (one query when nothing
// changed), finds the page, the total and the facets; the page's
// summaries are read in a second query.
func (s *Store) Search(ctx context.Context, q catalog.Query) (*catalog.Result, error) {
	q, err := q.Validate()
	if err != nil {
		return nil, err
	}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if err := s.ix.Refresh(ctx, feed{s}); err != nil {
		return nil, s.wrap("search: index", err)
	}
	found, err := s.ix.Search(q)
	if err != nil {
		return nil, s.wrap("search", err)
	}
	res := &catalog.Result{Total: found.Total, Next: found.Next, Facets: found.Facets, Entries: []catalog.Summary{}}
	if len(found.IDs) == 0 {
		return res, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT entry_id, summary FROM cssc_entry_docs WHERE entry_id = ANY($1)`, found.IDs)
	if err != nil {
		return nil, s.wrap("search", err)
	}
	byID := make(map[int64]catalog.Summary, len(found.IDs))
	var id int64
	var raw []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &raw}, func() error {
		sm, err := entrycodec.DecodeSummary(raw)
		if err != nil {
			return fmt.Errorf("stored summary of entry %d: %w", id, err)
		}
		byID[id] = sm
		return nil
	})
	if err != nil {
		return nil, s.wrap("search", err)
	}
	for _, id := range found.IDs {
		if sm, ok := byID[id]; ok { // else deleted since the index was refreshed
			res.Entries = append(res.Entries, sm)
		}
	}
	return res, nil
}
