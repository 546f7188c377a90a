package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cssc-go/cssc/catalog"
)

// where builds the condition of a query over cssc_entries e.
type where struct {
	conds []string
	args  []any
	never bool // a condition no entry can meet
}

func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *where) add(format string, args ...any) {
	ph := make([]any, len(args))
	for i, a := range args {
		ph[i] = w.arg(a)
	}
	w.conds = append(w.conds, fmt.Sprintf(format, ph...))
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return "true"
	}
	return strings.Join(w.conds, " AND ")
}

// likeEscape escapes the LIKE wildcards of s (the escape character is the
// default backslash).
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// Search implements catalog.Store.
func (s *Store) Search(ctx context.Context, q catalog.Query) (*catalog.Result, error) {
	q, err := q.Validate()
	if err != nil {
		return nil, err
	}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	// One snapshot for the total, the page and the facets.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, s.wrap("search", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	w := &where{}
	value := func(kind int16, h []byte) {
		w.add("e.id IN (SELECT entry_id FROM cssc_entry_values WHERE kind = %s AND hash = %s)", kind, h)
	}
	for _, word := range q.Words() {
		w.add("e.id IN (SELECT et.entry_id FROM cssc_entry_terms et JOIN cssc_terms t ON t.id = et.term_id WHERE t.term LIKE %s)",
			"%"+likeEscape(pgText(word))+"%")
	}
	if q.Repository != "" {
		if !storable(q.Repository) {
			w.never = true
		} else if strings.HasSuffix(q.Repository, "/") {
			w.add("e.repository LIKE %s", likeEscape(q.Repository)+"%")
		} else {
			w.add("e.repository = %s", q.Repository)
		}
	}
	if q.Digest != "" {
		value(kindDigest, hash(q.Digest.String()))
	}
	if q.Tag != "" {
		value(kindTag, hash(q.Tag))
	}
	if q.Platform != "" {
		value(kindPlatform, hash(q.Platform))
	}
	if q.Status != "" {
		w.add("e.status = %s", string(q.Status))
	}
	if q.MaxSeverity != "" {
		rank, _ := catalog.SeverityRank(q.MaxSeverity)
		w.add("e.sev_rank <= %s", rank)
	}
	if q.Fixable {
		w.conds = append(w.conds, "e.fixable")
	}
	if q.License != "" {
		value(kindLicense, hash(q.License))
	}
	if !q.EndOfLifeAfter.IsZero() || !q.EndOfLifeBefore.IsZero() {
		w.conds = append(w.conds, "e.eol_s IS NOT NULL")
		if !q.EndOfLifeAfter.IsZero() {
			sec, ns := split(q.EndOfLifeAfter)
			w.add("(e.eol_s, e.eol_ns) >= (%s::bigint, %s::integer)", sec, ns)
		}
		if !q.EndOfLifeBefore.IsZero() {
			sec, ns := split(q.EndOfLifeBefore)
			w.add("(e.eol_s, e.eol_ns) < (%s::bigint, %s::integer)", sec, ns)
		}
	}
	if q.Signer != "" {
		value(kindSigner, hash(q.Signer))
	}
	if q.Owner != "" {
		value(kindOwner, hash(q.Owner))
	}
	if q.Label != "" {
		if k, v, hasValue := strings.Cut(q.Label, "="); hasValue {
			value(kindLabel, labelHash(k, v))
		} else {
			value(kindLabelKey, hash(k))
		}
	}
	if q.Vulnerability != "" {
		value(kindVuln, hash(fold(q.Vulnerability)))
	}
	if q.Trusted != nil {
		w.add("e.trusted = %s", *q.Trusted)
	}
	if q.Package != nil && !w.never {
		if err := s.packageCond(ctx, tx, w, q.Package); err != nil {
			return nil, err
		}
	}
	if w.never {
		res := &catalog.Result{Entries: []catalog.Summary{}}
		if q.Facets {
			res.Facets = catalog.FacetsFromCounts(nil, q.FacetLimit)
		}
		return res, tx.Commit(ctx)
	}
	cond := w.sql()

	b := &pgx.Batch{}
	var total int
	var summaries [][]byte
	pageArgs := append([]any(nil), w.args...)
	after := "true"
	if q.Cursor != "" {
		c, err := catalog.DecodeCursor(q.Cursor)
		if err != nil {
			return nil, err
		}
		if !storable(c.Repository) {
			return nil, fmt.Errorf("%w: cursor", catalog.ErrInvalidQuery)
		}
		pageArgs = append(pageArgs, c.Repository, c.Digest.String())
		after = fmt.Sprintf("(repository, digest) > ($%d, $%d)", len(pageArgs)-1, len(pageArgs))
	}
	pageArgs = append(pageArgs, q.Limit+1)
	limit := "$" + strconv.Itoa(len(pageArgs))
	collect := func(rows pgx.Rows) error {
		var err error
		summaries, err = pgx.CollectRows(rows, pgx.RowTo[[]byte])
		return err
	}
	if len(w.conds) == 0 {
		// Every entry: walk the (repository, digest) index to the page.
		b.Queue("SELECT count(*) FROM cssc_entries").QueryRow(func(r pgx.Row) error { return r.Scan(&total) })
		b.Queue(`SELECT d.summary FROM (
				SELECT id, repository, digest FROM cssc_entries WHERE `+after+` ORDER BY repository, digest LIMIT `+limit+`) p
			JOIN cssc_entry_docs d ON d.entry_id = p.id ORDER BY p.repository, p.digest`, pageArgs...).Query(collect)
	} else {
		// The matches once, for the total and the page: walking the
		// index in page order and filtering can read every entry to find
		// a few.
		b.Queue(`WITH m AS MATERIALIZED (SELECT e.id, e.repository, e.digest FROM cssc_entries e WHERE `+cond+`),
				p AS (SELECT id, repository, digest FROM m WHERE `+after+` ORDER BY repository, digest LIMIT `+limit+`)
			SELECT (SELECT count(*) FROM m), d.summary FROM (SELECT 1) one
			LEFT JOIN (p JOIN cssc_entry_docs d ON d.entry_id = p.id) ON true
			ORDER BY p.repository, p.digest`, pageArgs...).Query(func(rows pgx.Rows) error {
			var sum []byte
			_, err := pgx.ForEachRow(rows, []any{&total, &sum}, func() error {
				if sum != nil {
					summaries = append(summaries, sum)
				}
				return nil
			})
			return err
		})
	}

	counts := map[string]map[string]int{}
	add := func(facet, value string, n int) {
		m := counts[facet]
		if m == nil {
			m = map[string]int{}
			counts[facet] = m
		}
		m[value] += n
	}
	if q.Facets {
		// One pass over the matches groups them by every facet at once
		// (entries of one base share their facet values, so the groups
		// are few); the groups are then counted per facet value, arrays
		// unnested once per group rather than once per entry.
		facetArgs := append([]any(nil), w.args...)
		n := len(facetArgs)
		for _, d := range []time.Duration{0, 30 * 24 * time.Hour, 90 * 24 * time.Hour, 365 * 24 * time.Hour} {
			sec, ns := split(q.Now.Add(d))
			facetArgs = append(facetArgs, sec, ns)
		}
		le := func(i int) string {
			return fmt.Sprintf("(e.eol_s, e.eol_ns) <= ($%d::bigint, $%d::integer)", n+2*i+1, n+2*i+2)
		}
		names := []string{catalog.FacetStatus, catalog.FacetSeverity, catalog.FacetFixable, catalog.FacetOwner,
			catalog.FacetEndOfLife, catalog.FacetPlatform, catalog.FacetLicense, catalog.FacetSigner}
		b.Queue(`WITH g AS MATERIALIZED (
				SELECT e.status, e.severity, e.fixable, e.owner, CASE
					WHEN e.eol_s IS NULL THEN '`+catalog.EndOfLifeUnknown+`'
					WHEN `+le(0)+` THEN '`+catalog.EndOfLifePast+`'
					WHEN `+le(1)+` THEN '`+catalog.EndOfLife30+`'
					WHEN `+le(2)+` THEN '`+catalog.EndOfLife90+`'
					WHEN `+le(3)+` THEN '`+catalog.EndOfLife365+`'
					ELSE '`+catalog.EndOfLifeLater+`' END AS eol, e.platforms, e.licenses, e.signers, count(*) AS n
				FROM cssc_entries e WHERE `+cond+` GROUP BY 1, 2, 3, 4, 5, 6, 7, 8)
			SELECT 0, convert_to(status, 'UTF8'), sum(n) FROM g GROUP BY 2
			UNION ALL SELECT 1, convert_to(severity, 'UTF8'), sum(n) FROM g GROUP BY 2
			UNION ALL SELECT 2, convert_to(fixable::text, 'UTF8'), sum(n) FROM g GROUP BY 2
			UNION ALL SELECT 3, owner, sum(n) FROM g GROUP BY 2
			UNION ALL SELECT 4, convert_to(eol, 'UTF8'), sum(n) FROM g GROUP BY 2
			UNION ALL SELECT 5, v, sum(n) FROM g, unnest(g.platforms) v GROUP BY 2
			UNION ALL SELECT 6, v, sum(n) FROM g, unnest(g.licenses) v GROUP BY 2
			UNION ALL SELECT 7, v, sum(n) FROM g, unnest(g.signers) v GROUP BY 2`, facetArgs...).Query(func(rows pgx.Rows) error {
			var f, count int
			var v []byte
			_, err := pgx.ForEachRow(rows, []any{&f, &v, &count}, func() error {
				add(names[f], string(v), count)
				return nil
			})
			return err
		})
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, s.wrap("search", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, s.wrap("search", err)
	}

	res := &catalog.Result{Total: total, Entries: make([]catalog.Summary, 0, min(len(summaries), q.Limit))}
	for i, b := range summaries {
		if i == q.Limit {
			last := res.Entries[len(res.Entries)-1]
			res.Next = catalog.Cursor{Repository: last.Repository, Digest: last.Digest}.Encode()
			break
		}
		var sum catalog.Summary
		if err := json.Unmarshal(b, &sum); err != nil {
			return nil, fmt.Errorf("postgres: search: stored summary: %w", err)
		}
		res.Entries = append(res.Entries, sum)
	}
	if q.Facets {
		res.Facets = catalog.FacetsFromCounts(counts, q.FacetLimit)
	}
	return res, nil
}

// packageCond adds the condition of a reverse package query. Versions are
// compared by the rules of their ecosystem, which SQL does not know: the
// distinct (ecosystem, version) pairs of the package are read from the
// index and matched here, once each, and the entries are selected by the
// pairs that match.
func (s *Store) packageCond(ctx context.Context, tx pgx.Tx, w *where, pq *catalog.PackageQuery) error {
	r, err := catalog.ParseVersionRange(pq.Range)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, "SELECT id, ecosystem, version FROM cssc_packages WHERE name_hash = $1", hash(pq.Name))
	if err != nil {
		return s.wrap("search", err)
	}
	var ids []int64
	var id int64
	var eco, version []byte
	_, err = pgx.ForEachRow(rows, []any{&id, &eco, &version}, func() error {
		if pq.MatchesPackage(r, catalog.Package{Name: pq.Name, Ecosystem: string(eco), Version: string(version)}) {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return s.wrap("search", err)
	}
	if len(ids) == 0 {
		w.never = true
		return nil
	}
	w.add("e.id IN (SELECT entry_id FROM cssc_entry_packages WHERE package_id = ANY(%s::bigint[]))", ids)
	return nil
}
