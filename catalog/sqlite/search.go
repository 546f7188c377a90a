package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cssc-go/cssc/catalog"
)

// ftsPhrase quotes s as an FTS5 string (a phrase of its trigrams).
func ftsPhrase(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// likeEscape escapes the LIKE wildcards of s (escape character '\').
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// ceilUnix returns the smallest whole second >= t: end-of-life dates are
// kept in whole seconds, so date >= t and date < t hold for a stored
// second exactly when they hold for the ceiling of t.
func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// ids runs a query returning entry ids.
func ids(ctx context.Context, q queryer, query string, args ...any) (map[int64]struct{}, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]struct{}{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = struct{}{}
	}
	return out, rows.Err()
}

// candidates returns the ids of the entries that satisfy the conditions
// evaluated in SQL (free text, vulnerability, package); ok is false when
// the query has none of them (every entry is a candidate).
func (s *Store) candidates(ctx context.Context, tx queryer, q catalog.Query) (map[int64]struct{}, bool, error) {
	var sets []map[int64]struct{}
	for _, word := range q.Words() {
		var set map[int64]struct{}
		var err error
		if len([]rune(word)) >= 3 {
			set, err = ids(ctx, tx, `SELECT DISTINCT entry_id FROM entry_terms WHERE term_id IN (SELECT rowid FROM terms_fts WHERE terms_fts MATCH ?)`, ftsPhrase(word))
		} else {
			set, err = ids(ctx, tx, `SELECT DISTINCT entry_id FROM entry_terms WHERE term_id IN (SELECT id FROM terms WHERE term LIKE ? ESCAPE '\')`, "%"+likeEscape(word)+"%")
		}
		if err != nil {
			return nil, false, fmt.Errorf("text: %w", err)
		}
		sets = append(sets, set)
	}
	if q.Vulnerability != "" {
		set, err := ids(ctx, tx, `SELECT entry_id FROM vulns WHERE vuln = ?`, strings.ToLower(q.Vulnerability))
		if err != nil {
			return nil, false, fmt.Errorf("vulnerability: %w", err)
		}
		sets = append(sets, set)
	}
	if q.Package != nil {
		set, err := packageEntries(ctx, tx, q.Package)
		if err != nil {
			return nil, false, fmt.Errorf("package: %w", err)
		}
		sets = append(sets, set)
	}
	if len(sets) == 0 {
		return nil, false, nil
	}
	slices.SortFunc(sets, func(a, b map[int64]struct{}) int { return len(a) - len(b) })
	out := sets[0]
	for _, other := range sets[1:] {
		for id := range out {
			if _, ok := other[id]; !ok {
				delete(out, id)
			}
		}
	}
	return out, true, nil
}

// packageEntries returns the ids of entries with a package matching pq,
// version ranges compared in Go with the ecosystem's rules.
func packageEntries(ctx context.Context, tx queryer, pq *catalog.PackageQuery) (map[int64]struct{}, error) {
	r, err := catalog.ParseVersionRange(pq.Range)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT entry_id, version, ecosystem FROM packages WHERE name = ?`, pq.Name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]struct{}{}
	for rows.Next() {
		var id int64
		p := catalog.Package{Name: pq.Name}
		if err := rows.Scan(&id, &p.Version, &p.Ecosystem); err != nil {
			return nil, err
		}
		if _, ok := out[id]; ok {
			continue
		}
		if pq.MatchesPackage(r, p) {
			out[id] = struct{}{}
		}
	}
	return out, rows.Err()
}

// Search implements catalog.Store. Free text, vulnerability and package
// conditions are answered by SQLite (FTS5 trigram index, vulnerability and
// component tables); every other condition, the order, the count and the
// facets by the in-memory index of entry facts, which each search first
// brings up to date with the database.
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
		if err := s.ix.refresh(ctx, tx); err != nil {
			return fmt.Errorf("index: %w", err)
		}
		cands, restricted, err := s.candidates(ctx, tx, q)
		if err != nil {
			return err
		}
		page, total, facets, err := s.evaluate(q, cands, restricted)
		if err != nil {
			return err
		}
		res = &catalog.Result{Entries: []catalog.Summary{}, Total: total, Facets: facets}
		if len(page) > q.Limit {
			page = page[:q.Limit]
			last := page[len(page)-1]
			res.Next = catalog.Cursor{Repository: last.repository, Digest: digestOf(last.digest)}.Encode()
		}
		res.Entries, err = summaries(ctx, tx, page)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("catalog/sqlite: search: %w", err)
	}
	return res, nil
}

// evaluate filters, counts, pages and facets in the in-memory index. The
// page has up to q.Limit+1 records (one more tells that there is a next
// page).
func (s *Store) evaluate(q catalog.Query, cands map[int64]struct{}, restricted bool) ([]*rec, int, *catalog.Facets, error) {
	ix := s.ix
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	f := ix.compile(q)
	var counter *counter
	if q.Facets {
		counter = ix.newCounter(q.Now)
	}
	facets := func() *catalog.Facets {
		if counter == nil {
			return nil
		}
		return counter.facets(q.FacetLimit)
	}
	if f.none {
		return nil, 0, facets(), nil
	}
	var after *rec
	if q.Cursor != "" {
		c, err := catalog.DecodeCursor(q.Cursor)
		if err != nil {
			return nil, 0, nil, err
		}
		after = &rec{repository: c.Repository, digest: c.Digest.String()}
	}
	var page []*rec
	total := 0
	visit := func(r *rec) {
		if !f.match(r) {
			return
		}
		total++
		if counter != nil {
			counter.add(r)
		}
		if len(page) <= q.Limit && (after == nil || compareRec(r, after) > 0) {
			page = append(page, r)
		}
	}
	if restricted {
		recs := make([]*rec, 0, len(cands))
		for id := range cands {
			if r, ok := ix.byID[id]; ok {
				recs = append(recs, r)
			}
		}
		slices.SortFunc(recs, compareRec)
		for _, r := range recs {
			visit(r)
		}
		return page, total, facets(), nil
	}
	all := ix.sorted
	if f.repo != "" {
		// The repository condition is a range of the sorted index.
		lo, _ := slices.BinarySearchFunc(all, f.repo, func(r *rec, repo string) int { return strings.Compare(r.repository, repo) })
		hi := lo
		for hi < len(all) && (all[hi].repository == f.repo || f.repoPrefix && strings.HasPrefix(all[hi].repository, f.repo)) {
			hi++
		}
		all = all[lo:hi]
	}
	for _, r := range all {
		visit(r)
	}
	return page, total, facets(), nil
}

// summaries reads the summaries of the page, in page order.
func summaries(ctx context.Context, tx queryer, page []*rec) ([]catalog.Summary, error) {
	out := []catalog.Summary{}
	if len(page) == 0 {
		return out, nil
	}
	idList := make([]int64, len(page))
	for i, r := range page {
		idList[i] = r.id
	}
	b, _ := json.Marshal(idList)
	rows, err := tx.QueryContext(ctx, `SELECT entry_id, summary FROM bodies WHERE entry_id IN (SELECT value FROM json_each(?))`, string(b))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byID := map[int64]catalog.Summary{}
	for rows.Next() {
		var id int64
		var raw []byte
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, err
		}
		var sm catalog.Summary
		if err := json.Unmarshal(raw, &sm); err != nil {
			return nil, fmt.Errorf("summary of entry %d: %w", id, err)
		}
		byID[id] = sm
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, r := range page {
		if sm, ok := byID[r.id]; ok { // a concurrent delete may have removed it
			out = append(out, sm)
		}
	}
	return out, nil
}
