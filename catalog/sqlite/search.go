package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cssc-go/cssc/catalog"
)

// where is the WHERE clause of a query over entries e, with its args.
type where struct {
	conds []string
	args  []any
	empty bool // a condition that nothing can match (no entry has the package)
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return "1"
	}
	return strings.Join(w.conds, " AND ")
}

// ftsPhrase quotes s as an FTS5 string (a phrase of its trigrams).
func ftsPhrase(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// likeEscape escapes the LIKE wildcards of s (escape character '\').
func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// build translates q (validated) into conditions over entries e, except
// the cursor. Package version ranges are evaluated in Go against the
// component table first.
func (s *Store) build(ctx context.Context, q catalog.Query) (*where, error) {
	w := &where{}
	for _, word := range q.Words() {
		if len([]rune(word)) >= 3 {
			w.add(`e.id IN (SELECT et.entry_id FROM entry_terms et WHERE et.term_id IN (SELECT rowid FROM terms_fts WHERE terms_fts MATCH ?))`, ftsPhrase(word))
		} else {
			w.add(`e.id IN (SELECT et.entry_id FROM entry_terms et WHERE et.term_id IN (SELECT id FROM terms WHERE term LIKE ? ESCAPE '\'))`, "%"+likeEscape(word)+"%")
		}
	}
	if q.Repository != "" {
		if strings.HasSuffix(q.Repository, "/") {
			w.add(`e.repository >= ? AND e.repository < ?`, q.Repository, strings.TrimSuffix(q.Repository, "/")+"0")
		} else {
			w.add(`e.repository = ?`, q.Repository)
		}
	}
	value := func(kind, v string) {
		w.add(`e.id IN (SELECT entry_id FROM entry_values WHERE kind = ? AND value = ?)`, kind, v)
	}
	if q.Digest != "" {
		w.add(`(e.digest = ? OR e.id IN (SELECT entry_id FROM entry_values WHERE kind = 'child' AND value = ?))`, q.Digest.String(), q.Digest.String())
	}
	if q.Tag != "" {
		value("tag", q.Tag)
	}
	if q.Platform != "" {
		value("platform", q.Platform)
	}
	if q.Status != "" {
		w.add(`e.status = ?`, string(q.Status))
	}
	if q.MaxSeverity != "" {
		r, _ := catalog.SeverityRank(q.MaxSeverity)
		w.add(`e.severity <= ?`, r)
	}
	if q.Fixable {
		w.add(`e.fixable = 1`)
	}
	if q.License != "" {
		value("license", q.License)
	}
	if !q.EndOfLifeAfter.IsZero() || !q.EndOfLifeBefore.IsZero() {
		w.add(`e.eol IS NOT NULL`)
		if !q.EndOfLifeAfter.IsZero() {
			w.add(`e.eol >= ?`, ceilUnix(q.EndOfLifeAfter))
		}
		if !q.EndOfLifeBefore.IsZero() {
			w.add(`e.eol < ?`, ceilUnix(q.EndOfLifeBefore))
		}
	}
	if q.Signer != "" {
		value("signer", q.Signer)
	}
	if q.Owner != "" {
		w.add(`e.owner = ?`, q.Owner)
	}
	if q.Label != "" {
		if strings.Contains(q.Label, "=") {
			value("label", q.Label)
		} else {
			value("labelkey", q.Label)
		}
	}
	if q.Vulnerability != "" {
		value("vuln", strings.ToLower(q.Vulnerability))
	}
	if q.Trusted != nil {
		w.add(`e.trusted = ?`, boolInt(*q.Trusted))
	}
	if q.Package != nil {
		ids, err := s.packageEntries(ctx, q.Package)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			w.empty = true
		}
		b, _ := json.Marshal(ids)
		w.add(`e.id IN (SELECT value FROM json_each(?))`, string(b))
	}
	return w, nil
}

// ceilUnix returns the smallest whole second >= t: end-of-life dates are
// stored in whole seconds, so date >= t and date < t hold for the stored
// second exactly when they hold for its ceiling.
func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// packageEntries returns the ids of entries with a package matching pq,
// version ranges compared in Go with the ecosystem's rules.
func (s *Store) packageEntries(ctx context.Context, pq *catalog.PackageQuery) ([]int64, error) {
	r, err := catalog.ParseVersionRange(pq.Range)
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT entry_id, version, ecosystem FROM packages WHERE name = ?`, pq.Name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ids := []int64{}
	last := int64(-1)
	for rows.Next() {
		var id int64
		var p catalog.Package
		if err := rows.Scan(&id, &p.Version, &p.Ecosystem); err != nil {
			return nil, err
		}
		if id == last {
			continue
		}
		p.Name = pq.Name
		if pq.MatchesPackage(r, p) {
			ids = append(ids, id)
			last = id
		}
	}
	return ids, rows.Err()
}

// Search implements catalog.Store.
func (s *Store) Search(ctx context.Context, q catalog.Query) (*catalog.Result, error) {
	q, err := q.Validate()
	if err != nil {
		return nil, err
	}
	var res *catalog.Result
	err = s.use(ctx, func() error {
		conn, err := s.r.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		w, err := s.build(ctx, q)
		if err != nil {
			return err
		}
		res = &catalog.Result{Entries: []catalog.Summary{}}
		if w.empty {
			if q.Facets {
				res.Facets = catalog.FacetsFromCounts(nil, q.FacetLimit)
			}
			return nil
		}
		// One read transaction: the page, the total and the facets see
		// the same snapshot.
		tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := s.page(ctx, tx, q, w, res); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM entries e WHERE `+w.sql(), w.args...).Scan(&res.Total); err != nil {
			return err
		}
		if q.Facets {
			if res.Facets, err = s.facets(ctx, tx, q, w); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("catalog/sqlite: search: %w", err)
	}
	return res, nil
}

func (s *Store) page(ctx context.Context, tx *sql.Tx, q catalog.Query, w *where, res *catalog.Result) error {
	conds, args := w.sql(), append([]any(nil), w.args...)
	if q.Cursor != "" {
		c, err := catalog.DecodeCursor(q.Cursor)
		if err != nil {
			return err
		}
		conds += ` AND (e.repository, e.digest) > (?, ?)`
		args = append(args, c.Repository, c.Digest.String())
	}
	args = append(args, q.Limit+1)
	rows, err := tx.QueryContext(ctx, `SELECT e.summary FROM entries e WHERE `+conds+` ORDER BY e.repository, e.digest LIMIT ?`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return err
		}
		var sm catalog.Summary
		if err := json.Unmarshal(b, &sm); err != nil {
			return fmt.Errorf("summary: %w", err)
		}
		res.Entries = append(res.Entries, sm)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(res.Entries) > q.Limit {
		res.Entries = res.Entries[:q.Limit]
		last := res.Entries[len(res.Entries)-1]
		res.Next = catalog.Cursor{Repository: last.Repository, Digest: last.Digest}.Encode()
	}
	return nil
}

// facets counts every facet over the matches of w.
func (s *Store) facets(ctx context.Context, tx *sql.Tx, q catalog.Query, w *where) (*catalog.Facets, error) {
	counts := map[string]map[string]int{}
	add := func(facet, value string, n int) {
		m := counts[facet]
		if m == nil {
			m = map[string]int{}
			counts[facet] = m
		}
		m[value] += n
	}
	// Buckets compare date <= now + k days; dates are whole seconds, so
	// the floor of now gives the same answers.
	now := q.Now.Unix()
	day := int64(24 * 3600)
	// Single-valued facets, in one pass over the matches.
	rows, err := tx.QueryContext(ctx, `SELECT e.status, e.severity, e.fixable, e.owner,
		CASE WHEN e.eol IS NULL THEN 'unknown'
		     WHEN e.eol <= ? THEN 'past'
		     WHEN e.eol <= ? THEN '30d'
		     WHEN e.eol <= ? THEN '90d'
		     WHEN e.eol <= ? THEN '365d'
		     ELSE 'later' END AS bucket,
		count(*)
		FROM entries e WHERE `+w.sql()+` GROUP BY 1, 2, 3, 4, 5`,
		append([]any{now, now + 30*day, now + 90*day, now + 365*day}, w.args...)...)
	if err != nil {
		return nil, err
	}
	ranks := map[int]string{}
	for _, name := range []string{catalog.SeverityNone, catalog.SeverityLow, catalog.SeverityMedium, catalog.SeverityHigh,
		catalog.SeverityCritical, catalog.SeverityUnknown, catalog.SeverityUnscanned} {
		r, _ := catalog.SeverityRank(name)
		ranks[r] = name
	}
	for rows.Next() {
		var status, owner, bucket string
		var sev, fixable, n int
		if err := rows.Scan(&status, &sev, &fixable, &owner, &bucket, &n); err != nil {
			rows.Close()
			return nil, err
		}
		add(catalog.FacetStatus, status, n)
		add(catalog.FacetSeverity, ranks[sev], n)
		add(catalog.FacetFixable, fmt.Sprint(fixable == 1), n)
		add(catalog.FacetOwner, owner, n)
		add(catalog.FacetEndOfLife, bucket, n)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	// Multi-valued facets.
	matches := `SELECT e.id FROM entries e WHERE ` + w.sql()
	if len(w.conds) == 0 {
		matches = ""
	}
	for _, f := range []struct{ facet, kind string }{
		{catalog.FacetPlatform, "platform"}, {catalog.FacetLicense, "license"}, {catalog.FacetSigner, "signer"},
	} {
		query := `SELECT v.value, count(*) FROM entry_values v WHERE v.kind = ? GROUP BY v.value`
		args := []any{f.kind}
		if matches != "" {
			query = `SELECT v.value, count(*) FROM entry_values v WHERE v.kind = ? AND v.entry_id IN (` + matches + `) GROUP BY v.value`
			args = append(args, w.args...)
		}
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var v string
			var n int
			if err := rows.Scan(&v, &n); err != nil {
				rows.Close()
				return nil, err
			}
			add(f.facet, v, n)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return catalog.FacetsFromCounts(counts, q.FacetLimit), nil
}
