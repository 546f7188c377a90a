package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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

// text returns s for an equality condition; an s that is not UTF-8 can
// equal no stored value (stored values come from JSON, always UTF-8).
func (w *where) text(s string) string {
	if !utf8.ValidString(s) {
		w.never = true
	}
	return pgText(s)
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
	if words := q.Words(); len(words) > 0 {
		var likes []string
		for _, word := range words {
			likes = append(likes, "t.terms LIKE "+w.arg("%"+likeEscape(pgText(word))+"%"))
		}
		w.conds = append(w.conds, "e.id IN (SELECT t.entry_id FROM cssc_entry_text t WHERE "+strings.Join(likes, " AND ")+")")
	}
	if q.Repository != "" {
		if strings.HasSuffix(q.Repository, "/") {
			w.add("e.repository LIKE %s", likeEscape(w.text(q.Repository))+"%")
		} else {
			w.add("e.repository = %s", w.text(q.Repository))
		}
	}
	if q.Digest != "" {
		w.add("e.id IN (SELECT entry_id FROM cssc_entry_digests WHERE digest = %s)", q.Digest.String())
	}
	if q.Tag != "" {
		w.add("e.tags @> ARRAY[%s::text]", w.text(q.Tag))
	}
	if q.Platform != "" {
		w.add("e.platforms @> ARRAY[%s::text]", w.text(q.Platform))
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
		w.add("e.licenses @> ARRAY[%s::text]", w.text(q.License))
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
		w.add("e.signers @> ARRAY[%s::text]", w.text(q.Signer))
	}
	if q.Owner != "" {
		w.add("e.owner = %s", w.text(q.Owner))
	}
	if q.Label != "" {
		k, v, hasValue := strings.Cut(q.Label, "=")
		if hasValue {
			obj, _ := json.Marshal(map[string]string{w.text(k): w.text(v)})
			w.add("e.labels @> %s::jsonb", string(obj))
		} else {
			w.add("e.labels ? %s", w.text(k))
		}
	}
	if q.Vulnerability != "" {
		w.add("e.id IN (SELECT entry_id FROM cssc_entry_vulns WHERE vuln = %s)", pgText(fold(q.Vulnerability)))
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
	b.Queue("SELECT count(*) FROM cssc_entries e WHERE "+cond, w.args...).QueryRow(func(r pgx.Row) error { return r.Scan(&total) })

	pageArgs := append([]any(nil), w.args...)
	pageCond := cond
	if q.Cursor != "" {
		c, err := catalog.DecodeCursor(q.Cursor)
		if err != nil {
			return nil, err
		}
		pageArgs = append(pageArgs, pgText(c.Repository), pgText(c.Digest.String()))
		pageCond += fmt.Sprintf(" AND (e.repository, e.digest) > ($%d, $%d)", len(pageArgs)-1, len(pageArgs))
	}
	pageArgs = append(pageArgs, q.Limit+1)
	var summaries [][]byte
	b.Queue(`SELECT d.summary FROM cssc_entries e JOIN cssc_entry_docs d ON d.entry_id = e.id WHERE `+pageCond+
		` ORDER BY e.repository, e.digest LIMIT $`+strconv.Itoa(len(pageArgs)), pageArgs...).Query(func(rows pgx.Rows) error {
		var err error
		summaries, err = pgx.CollectRows(rows, pgx.RowTo[[]byte])
		return err
	})

	counts := map[string]map[string]int{}
	if q.Facets {
		facetArgs := append([]any(nil), w.args...)
		n := len(facetArgs)
		for _, d := range []time.Duration{0, 30 * 24 * time.Hour, 90 * 24 * time.Hour, 365 * 24 * time.Hour} {
			sec, ns := split(q.Now.Add(d))
			facetArgs = append(facetArgs, sec, ns)
		}
		le := func(i int) string {
			return fmt.Sprintf("(m.eol_s, m.eol_ns) <= ($%d::bigint, $%d::integer)", n+2*i+1, n+2*i+2)
		}
		b.Queue(`WITH m AS MATERIALIZED (
				SELECT e.status, e.severity, e.fixable, e.owner, e.eol_s, e.eol_ns, e.platforms, e.licenses, e.signers
				FROM cssc_entries e WHERE `+cond+`)
			SELECT '`+catalog.FacetStatus+`', status, count(*) FROM m GROUP BY 2
			UNION ALL SELECT '`+catalog.FacetSeverity+`', severity, count(*) FROM m GROUP BY 2
			UNION ALL SELECT '`+catalog.FacetFixable+`', fixable::text, count(*) FROM m GROUP BY 2
			UNION ALL SELECT '`+catalog.FacetOwner+`', owner, count(*) FROM m GROUP BY 2
			UNION ALL SELECT '`+catalog.FacetPlatform+`', v, count(*) FROM m, unnest(m.platforms) v GROUP BY 2
			UNION ALL SELECT '`+catalog.FacetLicense+`', v, count(*) FROM m, unnest(m.licenses) v GROUP BY 2
			UNION ALL SELECT '`+catalog.FacetSigner+`', v, count(*) FROM m, unnest(m.signers) v GROUP BY 2
			UNION ALL SELECT '`+catalog.FacetEndOfLife+`', CASE
					WHEN m.eol_s IS NULL THEN '`+catalog.EndOfLifeUnknown+`'
					WHEN `+le(0)+` THEN '`+catalog.EndOfLifePast+`'
					WHEN `+le(1)+` THEN '`+catalog.EndOfLife30+`'
					WHEN `+le(2)+` THEN '`+catalog.EndOfLife90+`'
					WHEN `+le(3)+` THEN '`+catalog.EndOfLife365+`'
					ELSE '`+catalog.EndOfLifeLater+`' END, count(*) FROM m GROUP BY 2`, facetArgs...).Query(func(rows pgx.Rows) error {
			var facet, value string
			var count int
			_, err := pgx.ForEachRow(rows, []any{&facet, &value, &count}, func() error {
				if counts[facet] == nil {
					counts[facet] = map[string]int{}
				}
				counts[facet][value] = count
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
	if !utf8.ValidString(pq.Name) {
		w.never = true
		return nil
	}
	r, err := catalog.ParseVersionRange(pq.Range)
	if err != nil {
		return err
	}
	name := pgText(pq.Name)
	rows, err := tx.Query(ctx, "SELECT DISTINCT ecosystem, version FROM cssc_entry_packages WHERE name = $1", name)
	if err != nil {
		return s.wrap("search", err)
	}
	var ecos, versions []string
	var eco, version string
	_, err = pgx.ForEachRow(rows, []any{&eco, &version}, func() error {
		if pq.MatchesPackage(r, catalog.Package{Name: pq.Name, Ecosystem: eco, Version: version}) {
			ecos, versions = append(ecos, eco), append(versions, version)
		}
		return nil
	})
	if err != nil {
		return s.wrap("search", err)
	}
	if len(ecos) == 0 {
		w.never = true
		return nil
	}
	w.add(`e.id IN (SELECT p.entry_id FROM cssc_entry_packages p
		JOIN unnest(%s::text[], %s::text[]) AS v(ecosystem, version) ON p.ecosystem = v.ecosystem AND p.version = v.version
		WHERE p.name = %s)`, ecos, versions, name)
	return nil
}
