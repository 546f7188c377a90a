package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
)

// facts is what a filter or a facet reads about an entry: the compact
// JSON kept in entries.facets and, decoded, in the in-memory index.
type facts struct {
	Status    string   `json:"s"`
	Severity  int      `json:"v"`
	Fixable   bool     `json:"f,omitempty"`
	Trusted   bool     `json:"t,omitempty"`
	Owner     string   `json:"o,omitempty"`
	EndOfLife int64    `json:"e,omitempty"` // Unix seconds; 0 with HasEOL false means none
	HasEOL    bool     `json:"h,omitempty"`
	Platforms []string `json:"p,omitempty"`
	Licenses  []string `json:"l,omitempty"`
	Signers   []string `json:"g,omitempty"` // "" for an unsigned entry
	Tags      []string `json:"tg,omitempty"`
	Labels    []string `json:"lb,omitempty"` // "k=v"
	LabelKeys []string `json:"lk,omitempty"`
	Children  []string `json:"c,omitempty"`
}

func factsOf(e *catalog.Entry) facts {
	sev, _ := catalog.SeverityRank(e.Vulnerabilities.Max())
	f := facts{
		Status: string(cmp.Or(e.Status, catalog.StatusActive)), Severity: sev, Fixable: e.Vulnerabilities.Fixable > 0,
		Trusted: e.Trusted(), Owner: e.Owner, Platforms: e.Platforms, Licenses: e.Licenses, Signers: e.Signature.Identities,
		Tags: e.Tags,
	}
	if len(f.Signers) == 0 {
		f.Signers = []string{""}
	}
	if e.EndOfLife != nil {
		f.EndOfLife, f.HasEOL = e.EndOfLife.Date.Unix(), true
	}
	for k, v := range e.Labels {
		f.Labels = append(f.Labels, k+"="+v)
		f.LabelKeys = append(f.LabelKeys, k)
	}
	slices.Sort(f.Labels)
	slices.Sort(f.LabelKeys)
	for _, c := range e.Children {
		f.Children = append(f.Children, c.Digest.String())
	}
	return f
}

// interner maps the values of one kind of fact to small integers, so that
// filters compare integers and facets count into slices.
type interner struct {
	ids   map[string]uint32
	names []string
}

func newInterner() *interner { return &interner{ids: map[string]uint32{}} }

func (in *interner) id(s string) uint32 {
	if id, ok := in.ids[s]; ok {
		return id
	}
	id := uint32(len(in.names))
	in.ids[s] = id
	in.names = append(in.names, s)
	return id
}

// lookup returns the id of s, and false if no entry ever had it.
func (in *interner) lookup(s string) (uint32, bool) {
	id, ok := in.ids[s]
	return id, ok
}

func (in *interner) all(ss []string) []uint32 {
	out := make([]uint32, len(ss))
	for i, s := range ss {
		out[i] = in.id(s)
	}
	return out
}

// rec is one entry in the in-memory index.
type rec struct {
	id                int64
	repository        string
	digest            string
	status, owner     uint32
	severity          int
	fixable, trusted  bool
	eol               int64
	hasEOL            bool
	platforms, lics   []uint32
	signers, tags     []uint32
	labels, labelKeys []uint32
	children          []string
}

func (r *rec) key() (string, string) { return r.repository, r.digest }

func compareRec(a, b *rec) int {
	return cmp.Or(strings.Compare(a.repository, b.repository), strings.Compare(a.digest, b.digest))
}

// index is the in-memory index of every entry's facts, in result order,
// kept in step with the database through the changes table.
type index struct {
	mu       sync.RWMutex
	seq      int64 // last change applied
	loaded   bool
	byID     map[int64]*rec
	sorted   []*rec // by repository, digest
	status   *interner
	owner    *interner
	platform *interner
	license  *interner
	signer   *interner
	tag      *interner
	label    *interner
	labelKey *interner
}

func newIndex() *index {
	return &index{byID: map[int64]*rec{}, status: newInterner(), owner: newInterner(), platform: newInterner(),
		license: newInterner(), signer: newInterner(), tag: newInterner(), label: newInterner(), labelKey: newInterner()}
}

func (ix *index) makeRec(id int64, repository, dgst string, raw []byte) (*rec, error) {
	var f facts
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("entry %d facets: %w", id, err)
	}
	return &rec{
		id: id, repository: repository, digest: dgst, status: ix.status.id(f.Status), owner: ix.owner.id(f.Owner),
		severity: f.Severity, fixable: f.Fixable, trusted: f.Trusted, eol: f.EndOfLife, hasEOL: f.HasEOL,
		platforms: ix.platform.all(f.Platforms), lics: ix.license.all(f.Licenses), signers: ix.signer.all(f.Signers),
		tags: ix.tag.all(f.Tags), labels: ix.label.all(f.Labels), labelKeys: ix.labelKey.all(f.LabelKeys), children: f.Children,
	}, nil
}

// upsert puts r in place of the record with its id (or key).
func (ix *index) upsert(r *rec) {
	ix.remove(r.id)
	i, _ := slices.BinarySearchFunc(ix.sorted, r, compareRec)
	ix.sorted = slices.Insert(ix.sorted, i, r)
	ix.byID[r.id] = r
}

func (ix *index) remove(id int64) {
	old, ok := ix.byID[id]
	if !ok {
		return
	}
	delete(ix.byID, id)
	if i, found := slices.BinarySearchFunc(ix.sorted, old, compareRec); found && ix.sorted[i] == old {
		ix.sorted = slices.Delete(ix.sorted, i, i+1)
	}
}

// queryer is what refresh reads with: a connection or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// maxCatchUp is how many changes refresh applies one by one; further
// behind, it reloads everything.
const maxCatchUp = 20000

// refresh brings the index up to the last change visible to q.
func (ix *index) refresh(ctx context.Context, q queryer) error {
	var last, first sql.NullInt64
	// Two subqueries: each is one b-tree probe, where max and min in one
	// SELECT would scan the table.
	if err := q.QueryRowContext(ctx, `SELECT (SELECT max(seq) FROM changes), (SELECT min(seq) FROM changes)`).Scan(&last, &first); err != nil {
		return err
	}
	ix.mu.RLock()
	current := ix.loaded && ix.seq >= last.Int64
	ix.mu.RUnlock()
	if current {
		return nil
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.loaded && ix.seq >= last.Int64 {
		return nil
	}
	if !ix.loaded || last.Int64-ix.seq > maxCatchUp || (first.Valid && first.Int64 > ix.seq+1) {
		return ix.reload(ctx, q, last.Int64)
	}
	rows, err := q.QueryContext(ctx, `SELECT c.seq, c.entry_id, e.repository, e.digest, e.facets FROM changes c
		LEFT JOIN entries e ON e.id = c.entry_id WHERE c.seq > ? AND c.seq <= ? ORDER BY c.seq`, ix.seq, last.Int64)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var seq, id int64
		var repo, dgst sql.NullString
		var raw []byte
		if err := rows.Scan(&seq, &id, &repo, &dgst, &raw); err != nil {
			return err
		}
		if !repo.Valid {
			ix.remove(id)
		} else {
			r, err := ix.makeRec(id, repo.String, dgst.String, raw)
			if err != nil {
				return err
			}
			ix.upsert(r)
		}
		ix.seq = seq
	}
	if err := rows.Err(); err != nil {
		return err
	}
	ix.seq = last.Int64
	return nil
}

// reload reads every entry's facts (caller holds the write lock).
func (ix *index) reload(ctx context.Context, q queryer, seq int64) error {
	fresh := newIndex()
	rows, err := q.QueryContext(ctx, `SELECT id, repository, digest, facets FROM entries`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var repo, dgst string
		var raw []byte
		if err := rows.Scan(&id, &repo, &dgst, &raw); err != nil {
			return err
		}
		r, err := fresh.makeRec(id, repo, dgst, raw)
		if err != nil {
			return err
		}
		fresh.byID[id] = r
		fresh.sorted = append(fresh.sorted, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	slices.SortFunc(fresh.sorted, compareRec)
	ix.seq, ix.loaded, ix.byID, ix.sorted = seq, true, fresh.byID, fresh.sorted
	ix.status, ix.owner, ix.platform, ix.license = fresh.status, fresh.owner, fresh.platform, fresh.license
	ix.signer, ix.tag, ix.label, ix.labelKey = fresh.signer, fresh.tag, fresh.label, fresh.labelKey
	return nil
}

// filter is a query's conditions on facts, with values resolved to ids.
type filter struct {
	none                     bool // a value no entry has: nothing matches
	repo                     string
	repoPrefix               bool
	digest                   string
	tag, platform, license   int64 // -1: no condition
	signer, owner, status    int64
	label, labelKey          int64
	maxSeverity              int // -1: none
	fixable                  bool
	trusted                  *bool
	eolAfter, eolBefore      int64
	hasEOLAfter, hasEOLBefor bool
}

func (ix *index) compile(q catalog.Query) *filter {
	f := &filter{tag: -1, platform: -1, license: -1, signer: -1, owner: -1, status: -1, label: -1, labelKey: -1, maxSeverity: -1,
		fixable: q.Fixable, trusted: q.Trusted, digest: q.Digest.String()}
	if q.Repository != "" {
		f.repo, f.repoPrefix = q.Repository, strings.HasSuffix(q.Repository, "/")
	}
	resolve := func(in *interner, v string, dst *int64) {
		if v == "" {
			return
		}
		id, ok := in.lookup(v)
		if !ok {
			f.none = true
			return
		}
		*dst = int64(id)
	}
	resolve(ix.tag, q.Tag, &f.tag)
	resolve(ix.platform, q.Platform, &f.platform)
	resolve(ix.license, q.License, &f.license)
	resolve(ix.signer, q.Signer, &f.signer)
	resolve(ix.status, string(q.Status), &f.status)
	if q.Owner != "" {
		resolve(ix.owner, q.Owner, &f.owner)
	}
	if q.Label != "" {
		if strings.Contains(q.Label, "=") {
			resolve(ix.label, q.Label, &f.label)
		} else {
			resolve(ix.labelKey, q.Label, &f.labelKey)
		}
	}
	if q.MaxSeverity != "" {
		f.maxSeverity, _ = catalog.SeverityRank(q.MaxSeverity)
	}
	if !q.EndOfLifeAfter.IsZero() {
		f.eolAfter, f.hasEOLAfter = ceilUnix(q.EndOfLifeAfter), true
	}
	if !q.EndOfLifeBefore.IsZero() {
		f.eolBefore, f.hasEOLBefor = ceilUnix(q.EndOfLifeBefore), true
	}
	return f
}

func has(vs []uint32, id int64) bool {
	for _, v := range vs {
		if int64(v) == id {
			return true
		}
	}
	return false
}

func (f *filter) match(r *rec) bool {
	switch {
	case f.repo != "" && !f.repoPrefix && r.repository != f.repo,
		f.repoPrefix && !strings.HasPrefix(r.repository, f.repo),
		f.digest != "" && r.digest != f.digest && !slices.Contains(r.children, f.digest),
		f.status >= 0 && int64(r.status) != f.status,
		f.owner >= 0 && int64(r.owner) != f.owner,
		f.maxSeverity >= 0 && r.severity > f.maxSeverity,
		f.fixable && !r.fixable,
		f.trusted != nil && *f.trusted != r.trusted,
		(f.hasEOLAfter || f.hasEOLBefor) && !r.hasEOL,
		f.hasEOLAfter && r.eol < f.eolAfter,
		f.hasEOLBefor && r.eol >= f.eolBefore,
		f.tag >= 0 && !has(r.tags, f.tag),
		f.platform >= 0 && !has(r.platforms, f.platform),
		f.license >= 0 && !has(r.lics, f.license),
		f.signer >= 0 && !has(r.signers, f.signer),
		f.label >= 0 && !has(r.labels, f.label),
		f.labelKey >= 0 && !has(r.labelKeys, f.labelKey):
		return false
	}
	return true
}

// counter counts facets over matches.
type counter struct {
	ix                               *index
	now                              int64
	status, owner, platform, license []int
	signer                           []int
	severity                         [8]int
	fixable                          [2]int
	eol                              [6]int // unknown, past, 30d, 90d, 365d, later
	day30, day90, day365             int64
}

func (ix *index) newCounter(now time.Time) *counter {
	n := now.Unix()
	const day = 24 * 3600
	return &counter{ix: ix, now: n, day30: n + 30*day, day90: n + 90*day, day365: n + 365*day,
		status: make([]int, len(ix.status.names)), owner: make([]int, len(ix.owner.names)),
		platform: make([]int, len(ix.platform.names)), license: make([]int, len(ix.license.names)), signer: make([]int, len(ix.signer.names))}
}

func (c *counter) add(r *rec) {
	c.status[r.status]++
	c.owner[r.owner]++
	c.severity[r.severity]++
	if r.fixable {
		c.fixable[1]++
	} else {
		c.fixable[0]++
	}
	switch {
	case !r.hasEOL:
		c.eol[0]++
	case r.eol <= c.now:
		c.eol[1]++
	case r.eol <= c.day30:
		c.eol[2]++
	case r.eol <= c.day90:
		c.eol[3]++
	case r.eol <= c.day365:
		c.eol[4]++
	default:
		c.eol[5]++
	}
	for _, v := range r.platforms {
		c.platform[v]++
	}
	for _, v := range r.lics {
		c.license[v]++
	}
	for _, v := range r.signers {
		c.signer[v]++
	}
}

var severityNames = func() map[int]string {
	m := map[int]string{}
	for _, s := range []string{catalog.SeverityNone, catalog.SeverityLow, catalog.SeverityMedium, catalog.SeverityHigh,
		catalog.SeverityCritical, catalog.SeverityUnknown, catalog.SeverityUnscanned} {
		r, _ := catalog.SeverityRank(s)
		m[r] = s
	}
	return m
}()

func (c *counter) facets(limit int) *catalog.Facets {
	counts := map[string]map[string]int{}
	put := func(facet, value string, n int) {
		if n == 0 {
			return
		}
		m := counts[facet]
		if m == nil {
			m = map[string]int{}
			counts[facet] = m
		}
		m[value] += n
	}
	for i, n := range c.status {
		put(catalog.FacetStatus, c.ix.status.names[i], n)
	}
	for i, n := range c.owner {
		put(catalog.FacetOwner, c.ix.owner.names[i], n)
	}
	for i, n := range c.platform {
		put(catalog.FacetPlatform, c.ix.platform.names[i], n)
	}
	for i, n := range c.license {
		put(catalog.FacetLicense, c.ix.license.names[i], n)
	}
	for i, n := range c.signer {
		put(catalog.FacetSigner, c.ix.signer.names[i], n)
	}
	for r, n := range c.severity {
		put(catalog.FacetSeverity, severityNames[r], n)
	}
	put(catalog.FacetFixable, "false", c.fixable[0])
	put(catalog.FacetFixable, "true", c.fixable[1])
	for i, b := range []string{catalog.EndOfLifeUnknown, catalog.EndOfLifePast, catalog.EndOfLife30, catalog.EndOfLife90, catalog.EndOfLife365, catalog.EndOfLifeLater} {
		put(catalog.FacetEndOfLife, b, c.eol[i])
	}
	return catalog.FacetsFromCounts(counts, limit)
}

func digestOf(s string) digest.Digest { return digest.Digest(s) }
