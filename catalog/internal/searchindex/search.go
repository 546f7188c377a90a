package searchindex

import (
	"errors"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
)

// ErrNotLoaded is returned by Search before the first Refresh.
var ErrNotLoaded = errors.New("searchindex: not loaded")

// Result is what a search finds in the index: the store ids of one page,
// which the store turns into summaries.
type Result struct {
	// IDs are the store ids of the page's entries, in result order.
	IDs []int64
	// Total counts every match.
	Total int
	// Next is the cursor of the next page; empty on the last.
	Next string
	// Facets counts the matches by facet; nil unless Query.Facets.
	Facets *catalog.Facets
}

// set is a set of slots: a sorted list, or a bitset.
type set struct {
	list []uint32
	bits []uint64
	n    int
}

func (s *set) has(slot uint32) bool {
	if s.bits != nil {
		return int(slot>>6) < len(s.bits) && s.bits[slot>>6]&(1<<(slot&63)) != 0
	}
	_, found := slices.BinarySearch(s.list, slot)
	return found
}

// union returns the union of sorted slot lists.
func union(lists [][]uint32, slots int) set {
	switch len(lists) {
	case 0:
		return set{list: []uint32{}}
	case 1:
		return set{list: lists[0], n: len(lists[0])}
	}
	total := 0
	for _, l := range lists {
		total += len(l)
	}
	if total*32 < slots {
		out := make([]uint32, 0, total)
		for _, l := range lists {
			out = append(out, l...)
		}
		slices.Sort(out)
		out = slices.Compact(out)
		return set{list: out, n: len(out)}
	}
	b := newBits(slots)
	for _, l := range lists {
		for _, s := range l {
			b[s>>6] |= 1 << (s & 63)
		}
	}
	return set{bits: b, n: popcount(b)}
}

// intersect returns the intersection of sets.
func intersect(sets []set, slots int) set {
	slices.SortFunc(sets, func(a, b set) int { return a.n - b.n })
	base := sets[0]
	if len(sets) == 1 || base.n == 0 {
		return base
	}
	others := sets[1:]
	if base.list != nil {
		out := make([]uint32, 0, base.n)
	next:
		for _, s := range base.list {
			for i := range others {
				if !others[i].has(s) {
					continue next
				}
			}
			out = append(out, s)
		}
		return set{list: out, n: len(out)}
	}
	b := slices.Clone(base.bits)
	for _, o := range others {
		ob := o.bits
		if ob == nil {
			ob = newBits(slots)
			for _, s := range o.list {
				ob[s>>6] |= 1 << (s & 63)
			}
		}
		for i := range b {
			if i < len(ob) {
				b[i] &= ob[i]
			} else {
				b[i] = 0
			}
		}
	}
	return set{bits: b, n: popcount(b)}
}

// wordTerms returns the ids of the terms that contain word.
func (st *state) wordTerms(word string) []uint32 {
	terms := st.dicts[secTerm]
	var out []uint32
	if len(word) < 3 {
		for id, t := range terms.keys {
			if t != "" && strings.Contains(t, word) {
				out = append(out, uint32(id))
			}
		}
		return out
	}
	var best []uint32
	for i := 0; i+3 <= len(word); i++ {
		l, ok := st.trigrams[trigram(word[i:i+3])]
		if !ok {
			return nil
		}
		if best == nil || len(l) < len(best) {
			best = l
		}
	}
	for _, id := range best {
		if strings.Contains(terms.keys[id], word) {
			out = append(out, id)
		}
	}
	return out
}

// ceilUnix returns the smallest whole second >= t: end-of-life dates are
// whole seconds, so date >= t and date < t hold for a date exactly when
// they hold for the ceiling of t.
func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// filter is what a query asks of the facts of an entry in the walk.
type filter struct {
	repo                string
	repoPrefix          bool
	status, owner       int64 // -1: no condition
	maxSeverity         int   // -1: none
	fixable             bool
	trusted             *bool
	eolAfter, eolBefore int64
	hasAfter, hasBefore bool
	hasEOLCondition     bool
	candidates          *set // nil: every entry
	repoNames           []string
	hidden              []bool // by repository id: hidden from the caller; nil: none
}

func (f *filter) match(r *rec) bool {
	switch {
	case f.hidden != nil && f.hidden[r.repo],
		f.repo != "" && !f.repoPrefix && f.repoNames[r.repo] != f.repo,
		f.repoPrefix && !strings.HasPrefix(f.repoNames[r.repo], f.repo),
		f.status >= 0 && int64(r.status) != f.status,
		f.owner >= 0 && int64(r.owner) != f.owner,
		f.maxSeverity >= 0 && int(r.severity) > f.maxSeverity,
		f.fixable && !r.fixable,
		f.trusted != nil && *f.trusted != r.trusted,
		f.hasEOLCondition && !r.hasEOL,
		f.hasAfter && r.eol < f.eolAfter,
		f.hasBefore && r.eol >= f.eolBefore:
		return false
	}
	return true
}

// unconditional reports whether f has no condition on facts.
func (f *filter) unconditional() bool {
	return f.repo == "" && f.status < 0 && f.owner < 0 && f.maxSeverity < 0 && !f.fixable && f.trusted == nil && !f.hasEOLCondition
}

// everything answers a query without conditions from the counts the
// index keeps, without visiting the entries.
func (st *state) everything(q catalog.Query, after *key, res *Result, c *counter) {
	order := st.order
	res.Total = len(order)
	start := 0
	if after != nil {
		start, _ = slices.BinarySearchFunc(order, *after, func(s uint32, after key) int { return st.compareKey(&st.recs[s], after) })
		if start < len(order) && st.compareKey(&st.recs[order[start]], *after) == 0 {
			start++
		}
	}
	end := min(start+q.Limit, len(order))
	for _, s := range order[start:end] {
		res.IDs = append(res.IDs, st.recs[s].id)
	}
	if end < len(order) && end > start {
		last := &st.recs[order[end-1]]
		res.Next = catalog.Cursor{Repository: st.repository(last), Digest: digest.Digest(st.digest(last))}.Encode()
	}
	if c == nil {
		return
	}
	st.countEverything(c)
	res.Facets = c.facets(q.FacetLimit)
}

// countEverything counts the facets of every entry into c from the counts
// the index keeps.
func (st *state) countEverything(c *counter) {
	order := st.order
	for _, x := range []struct {
		d      *dict
		counts []int
	}{{st.status, c.status}, {st.owner, c.owner}, {st.dicts[secPlatform], c.platform}, {st.dicts[secLicense], c.license}, {st.dicts[secSigner], c.signer}} {
		for id, l := range x.d.lists {
			x.counts[id] = len(l)
		}
	}
	c.severity, c.fixable = st.severities, st.fixables
	// Buckets as counter.add sorts dates: <= now, <= 30 days, ...
	upTo := func(t int64) int {
		i, _ := slices.BinarySearch(st.eols, t+1)
		return i
	}
	past, d30, d90, d365 := upTo(c.now), upTo(c.day30), upTo(c.day90), upTo(c.day365)
	c.eol = [6]int{len(order) - len(st.eols), past, d30 - past, d90 - d30, d365 - d90, len(st.eols) - d365}
}

// everythingExcept is everything for a caller from whom h hides some
// entries: the hidden ranges of the order are skipped, and their facet
// counts subtracted.
func (st *state) everythingExcept(q catalog.Query, after *key, res *Result, c *counter, h *hidden) {
	order := st.order
	res.Total = len(order) - h.n
	start := 0
	if after != nil {
		start, _ = slices.BinarySearchFunc(order, *after, func(s uint32, after key) int { return st.compareKey(&st.recs[s], after) })
		if start < len(order) && st.compareKey(&st.recs[order[start]], *after) == 0 {
			start++
		}
	}
	page := make([]uint32, 0, min(q.Limit+1, 64))
ranges:
	for _, r := range visibleRanges(h, start, len(order)) {
		for _, s := range order[r[0]:r[1]] {
			if len(page) > q.Limit {
				break ranges
			}
			page = append(page, s)
		}
	}
	if len(page) > q.Limit {
		page = page[:q.Limit]
		last := &st.recs[page[len(page)-1]]
		res.Next = catalog.Cursor{Repository: st.repository(last), Digest: digest.Digest(st.digest(last))}.Encode()
	}
	for _, s := range page {
		res.IDs = append(res.IDs, st.recs[s].id)
	}
	if c == nil {
		return
	}
	st.countEverything(c)
	c.subtract(st.hiddenCounts(h, c))
	res.Facets = c.facets(q.FacetLimit)
}

// candidatesOnly answers a query whose only conditions are candidate
// sets, without facets, when slot order is result order: the total is the
// candidates' count and the page their first slots after the cursor.
func (st *state) candidatesOnly(q catalog.Query, after *key, c *set, res *Result) {
	res.Total = c.n
	from := uint32(0)
	if after != nil {
		i, _ := slices.BinarySearchFunc(st.order, *after, func(s uint32, after key) int { return st.compareKey(&st.recs[s], after) })
		if i < len(st.order) && st.compareKey(&st.recs[st.order[i]], *after) == 0 {
			i++
		}
		if i == len(st.order) {
			return
		}
		from = st.order[i]
	}
	page := make([]uint32, 0, min(q.Limit+1, 64))
	if c.list != nil {
		i, _ := slices.BinarySearch(c.list, from)
		page = append(page, c.list[i:min(i+q.Limit+1, len(c.list))]...)
	} else {
	words:
		for i := int(from >> 6); i < len(c.bits); i++ {
			w := c.bits[i]
			if i == int(from>>6) {
				w &^= 1<<(from&63) - 1
			}
			for w != 0 {
				page = append(page, uint32(i*64+bits.TrailingZeros64(w)))
				if len(page) > q.Limit {
					break words
				}
				w &= w - 1
			}
		}
	}
	if len(page) > q.Limit {
		page = page[:q.Limit]
		last := &st.recs[page[len(page)-1]]
		res.Next = catalog.Cursor{Repository: st.repository(last), Digest: digest.Digest(st.digest(last))}.Encode()
	}
	for _, s := range page {
		res.IDs = append(res.IDs, st.recs[s].id)
	}
}

// compile turns q into a filter and candidate sets; ok is false when no
// entry can match.
func (st *state) compile(q catalog.Query) (f *filter, ok bool) {
	slots := len(st.recs)
	f = &filter{repoNames: st.repoNames, status: -1, owner: -1, maxSeverity: -1, fixable: q.Fixable, trusted: q.Trusted}
	if q.Repository != "" {
		f.repo, f.repoPrefix = q.Repository, strings.HasSuffix(q.Repository, "/")
	}
	if q.Status != "" {
		id, found := st.status.lookup([]byte(q.Status))
		if !found {
			return nil, false
		}
		f.status = int64(id)
	}
	if q.Owner != "" {
		id, found := st.owner.lookup([]byte(q.Owner))
		if !found {
			return nil, false
		}
		f.owner = int64(id)
	}
	if q.MaxSeverity != "" {
		f.maxSeverity, _ = catalog.SeverityRank(q.MaxSeverity)
	}
	if !q.EndOfLifeAfter.IsZero() {
		f.eolAfter, f.hasAfter = ceilUnix(q.EndOfLifeAfter), true
	}
	if !q.EndOfLifeBefore.IsZero() {
		f.eolBefore, f.hasBefore = ceilUnix(q.EndOfLifeBefore), true
	}
	f.hasEOLCondition = f.hasAfter || f.hasBefore

	var sets []set
	exact := func(s int, value []byte) bool {
		l := st.dicts[s].list(value)
		if len(l) == 0 {
			return false
		}
		sets = append(sets, set{list: l, n: len(l)})
		return true
	}
	if q.Digest != "" {
		l := st.digestSlots(string(q.Digest))
		if len(l) == 0 {
			return nil, false
		}
		sets = append(sets, set{list: l, n: len(l)})
	}
	if q.Tag != "" && !exact(secTag, []byte(q.Tag)) {
		return nil, false
	}
	if q.Platform != "" && !exact(secPlatform, []byte(q.Platform)) {
		return nil, false
	}
	if q.License != "" && !exact(secLicense, []byte(q.License)) {
		return nil, false
	}
	if q.Signer != "" && !exact(secSigner, []byte(q.Signer)) {
		return nil, false
	}
	if q.Label != "" {
		if k, v, hasValue := strings.Cut(q.Label, "="); hasValue {
			if !exact(secLabel, labelKey(nil, []byte(k), []byte(v))) {
				return nil, false
			}
		} else if !exact(secLabelKey, []byte(k)) {
			return nil, false
		}
	}
	if q.Vulnerability != "" && !exact(secVuln, fold(nil, []byte(q.Vulnerability))) {
		return nil, false
	}
	terms := st.dicts[secTerm]
	for _, w := range q.Words() {
		ids := st.wordTerms(w)
		if len(ids) == 0 {
			return nil, false
		}
		lists := make([][]uint32, len(ids))
		for i, id := range ids {
			lists[i] = terms.lists[id]
		}
		sets = append(sets, union(lists, slots))
	}
	if q.Package != nil {
		r, err := catalog.ParseVersionRange(q.Package.Range)
		if err != nil {
			return nil, false
		}
		pkgs := st.packages
		n, found := pkgs.names.lookup([]byte(q.Package.Name))
		if !found {
			return nil, false
		}
		var list []uint32
		// Each distinct version of the package once: the pairs of a
		// version are contiguous.
		inRange := st.ranges.matcher(pkgs, q.Package, r)
		match, last := false, uint32(1<<32-1)
		for _, pair := range pkgs.pairs[n] {
			if v := uint32(pair >> 32); v != last {
				match, last = inRange(v), v
			}
			if match {
				list = append(list, uint32(pair))
			}
		}
		if len(list) == 0 {
			return nil, false
		}
		// An entry may have several versions of the package.
		if len(list)*32 < slots {
			slices.Sort(list)
			list = slices.Compact(list)
			sets = append(sets, set{list: list, n: len(list)})
		} else {
			b := newBits(slots)
			for _, s := range list {
				b[s>>6] |= 1 << (s & 63)
			}
			sets = append(sets, set{bits: b, n: popcount(b)})
		}
	}
	if len(sets) > 0 {
		c := intersect(sets, slots)
		if c.n == 0 {
			return nil, false
		}
		f.candidates = &c
	}
	return f, true
}

// counter counts facets over matches.
type counter struct {
	st                                       *state
	now, day30, day90, day365                int64
	status, owner, platform, license, signer []int
	severity                                 [8]int
	fixable                                  [2]int
	eol                                      [6]int // unknown, past, 30d, 90d, 365d, later
}

var severityNames = func() []string {
	names := []string{catalog.SeverityNone, catalog.SeverityLow, catalog.SeverityMedium, catalog.SeverityHigh,
		catalog.SeverityCritical, catalog.SeverityUnknown, catalog.SeverityUnscanned}
	out := make([]string, len(names))
	for _, s := range names {
		r, _ := catalog.SeverityRank(s)
		out[r] = s
	}
	return out
}()

var eolBuckets = []string{catalog.EndOfLifeUnknown, catalog.EndOfLifePast, catalog.EndOfLife30, catalog.EndOfLife90,
	catalog.EndOfLife365, catalog.EndOfLifeLater}

func (st *state) newCounter(now time.Time) *counter {
	// EndOfLifeBucket compares whole-second dates with now: date <= now
	// exactly when date <= now's second (Unix rounds down).
	n := now.Unix()
	const day = 24 * 3600
	return &counter{st: st, now: n, day30: n + 30*day, day90: n + 90*day, day365: n + 365*day,
		status: make([]int, len(st.status.keys)), owner: make([]int, len(st.owner.keys)),
		platform: make([]int, len(st.dicts[secPlatform].keys)), license: make([]int, len(st.dicts[secLicense].keys)),
		signer: make([]int, len(st.dicts[secSigner].keys))}
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
	f := c.st.facets(r)
	for _, v := range f[:r.facetEnds[secPlatform]] {
		c.platform[v]++
	}
	for _, v := range f[r.facetEnds[secPlatform]:r.facetEnds[secLicense]] {
		c.license[v]++
	}
	for _, v := range f[r.facetEnds[secLicense]:] {
		c.signer[v]++
	}
}

// forBits calls fn with each slot of b, in order.
func forBits(b []uint64, fn func(uint32)) {
	for i, w := range b {
		for w != 0 {
			fn(uint32(i*64 + bits.TrailingZeros64(w)))
			w &= w - 1
		}
	}
}

// addBits counts the n matches of bitset m by intersecting it with the
// bitsets of every facet value.
func (c *counter) addBits(m []uint64, n int) {
	st := c.st
	for _, x := range []struct {
		d      *dict
		counts []int
	}{{st.status, c.status}, {st.owner, c.owner}, {st.dicts[secPlatform], c.platform}, {st.dicts[secLicense], c.license}, {st.dicts[secSigner], c.signer}} {
		for id, b := range x.d.bits {
			if b != nil {
				x.counts[id] += andCount(m, b)
			}
		}
	}
	for r, b := range st.severityBits {
		c.severity[r] += andCount(m, b)
	}
	fixable := andCount(m, st.fixableBits)
	c.fixable[1] += fixable
	c.fixable[0] += n - fixable
	dated := 0
	for i, w := range m[:min(len(m), len(st.eolBits))] {
		w &= st.eolBits[i]
		for w != 0 {
			eol := st.eolOf[i*64+bits.TrailingZeros64(w)]
			w &= w - 1
			dated++
			switch {
			case eol <= c.now:
				c.eol[1]++
			case eol <= c.day30:
				c.eol[2]++
			case eol <= c.day90:
				c.eol[3]++
			case eol <= c.day365:
				c.eol[4]++
			default:
				c.eol[5]++
			}
		}
	}
	c.eol[0] += n - dated
}

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
	each := func(facet string, d *dict, ns []int) {
		for i, n := range ns {
			put(facet, d.keys[i], n)
		}
	}
	each(catalog.FacetStatus, c.st.status, c.status)
	each(catalog.FacetOwner, c.st.owner, c.owner)
	each(catalog.FacetPlatform, c.st.dicts[secPlatform], c.platform)
	each(catalog.FacetLicense, c.st.dicts[secLicense], c.license)
	each(catalog.FacetSigner, c.st.dicts[secSigner], c.signer)
	for r, name := range severityNames {
		put(catalog.FacetSeverity, name, c.severity[r])
	}
	put(catalog.FacetFixable, "false", c.fixable[0])
	put(catalog.FacetFixable, "true", c.fixable[1])
	for i, b := range eolBuckets {
		put(catalog.FacetEndOfLife, b, c.eol[i])
	}
	return catalog.FacetsFromCounts(counts, limit)
}

// Search evaluates q (validated, see catalog.Query.Validate) over the
// index: the page's store ids, the total and, if asked, the facets.
func (ix *Index) Search(q catalog.Query) (*Result, error) {
	var after *key
	if q.Cursor != "" {
		c, err := catalog.DecodeCursor(q.Cursor)
		if err != nil {
			return nil, err
		}
		after = &key{repository: c.Repository, digest: c.Digest.String()}
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	st := ix.st
	if st == nil {
		return nil, ErrNotLoaded
	}
	var counter *counter
	if q.Facets {
		counter = st.newCounter(q.Now)
	}
	res := &Result{IDs: []int64{}}
	f, ok := st.compile(q)
	if !ok {
		if counter != nil {
			res.Facets = counter.facets(q.FacetLimit)
		}
		return res, nil
	}

	h := st.hiddenFor(q.Visibility)
	if h != nil {
		f.hidden = h.repo
	}
	if f.candidates == nil && f.unconditional() {
		if h != nil {
			st.everythingExcept(q, after, res, counter, h)
		} else {
			st.everything(q, after, res, counter)
		}
		return res, nil
	}
	slots := len(st.recs)
	// Counting facets over many matches: intersect bitsets rather than
	// visit each match's values.
	many := func(n int) bool { return n*16 >= slots }
	if f.unconditional() && st.monotone {
		c := f.candidates
		if h != nil {
			c = st.withoutHidden(c, h)
		}
		st.candidatesOnly(q, after, c, res)
		switch {
		case counter == nil:
			return res, nil
		case many(c.n):
			b := c.bits
			if b == nil {
				b = bitsOf(c.list, slots)
			}
			counter.addBits(b, c.n)
		case c.list != nil:
			for _, s := range c.list {
				counter.add(&st.recs[s])
			}
		default:
			forBits(c.bits, func(s uint32) { counter.add(&st.recs[s]) })
		}
		res.Facets = counter.facets(q.FacetLimit)
		return res, nil
	}
	var matches []uint64 // when counting by bitsets
	if counter != nil && (f.candidates == nil || many(f.candidates.n)) {
		matches = newBits(slots)
	}
	page := make([]*rec, 0, min(q.Limit+1, 64))
	visit := func(s uint32) {
		r := &st.recs[s]
		if !f.match(r) {
			return
		}
		res.Total++
		if matches != nil {
			matches[s>>6] |= 1 << (s & 63)
		} else if counter != nil {
			counter.add(r)
		}
		if len(page) <= q.Limit && (after == nil || st.compareKey(r, *after) > 0) {
			page = append(page, r)
		}
	}
	order := st.order
	if f.repo != "" {
		// The repository condition is a range of the order.
		lo, _ := slices.BinarySearchFunc(order, f.repo, func(s uint32, repo string) int {
			return strings.Compare(st.repository(&st.recs[s]), repo)
		})
		hi := lo
		for hi < len(order) {
			r := st.repository(&st.recs[order[hi]])
			if r != f.repo && !(f.repoPrefix && strings.HasPrefix(r, f.repo)) {
				break
			}
			hi++
		}
		order = order[lo:hi]
	}
	switch c := f.candidates; {
	case c == nil:
		for _, s := range order {
			visit(s)
		}
	case c.n*16 < len(order):
		// Few candidates: sort them rather than walk every entry.
		cands := c.list
		if cands == nil {
			cands = make([]uint32, 0, c.n)
			forBits(c.bits, func(s uint32) { cands = append(cands, s) })
		} else {
			cands = slices.Clone(cands)
		}
		slices.SortFunc(cands, func(a, b uint32) int { return st.compare(&st.recs[a], &st.recs[b]) })
		for _, s := range cands {
			visit(s)
		}
	default:
		b := c.bits
		if b == nil {
			b = bitsOf(c.list, slots)
		}
		for _, s := range order {
			if b[s>>6]&(1<<(s&63)) != 0 {
				visit(s)
			}
		}
	}
	if matches != nil {
		counter.addBits(matches, res.Total)
	}
	if len(page) > q.Limit {
		page = page[:q.Limit]
		last := page[len(page)-1]
		res.Next = catalog.Cursor{Repository: st.repository(last), Digest: digest.Digest(st.digest(last))}.Encode()
	}
	for _, r := range page {
		res.IDs = append(res.IDs, r.id)
	}
	if counter != nil {
		res.Facets = counter.facets(q.FacetLimit)
	}
	return res, nil
}
