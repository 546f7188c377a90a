package searchindex

import (
	"slices"
	"strings"
	"sync"

	"github.com/cssc-go/cssc/catalog"
)

// Access filtering. Access levels are decided by repository, and result
// order is by repository, so the entries a caller may not see are a few
// ranges of st.order: one per hidden repository, merged where adjacent.
// A search with a visibility that hides something excludes those ranges:
// the filter rejects the hidden repositories' entries in the walk, the
// unconditioned search counts everything minus the hidden entries, and the
// candidate-only search drops the hidden slots from its candidates. What a
// visibility hides is worked out once per index change and kept.

// hidden is what one visibility hides in one state of the index.
type hidden struct {
	version uint64
	repo    []bool   // by repository id: hidden
	ranges  [][2]int // [lo, hi) positions of st.order, sorted, merged
	n       int      // entries hidden
	// counts of the hidden entries' facets, for the unconditioned search,
	// at the end-of-life buckets of now (zero: not counted yet).
	counts    *counter
	countsNow int64
}

// accessCache keeps what each visibility hides, by visibility key. It has
// its own lock: searches fill it while holding the index's read lock.
type accessCache struct {
	mu sync.Mutex
	m  map[string]*hidden
}

// maxAccessKeys caps the visibilities an index remembers (distinct sets
// of allowed rules); the cache starts again when it is full.
const maxAccessKeys = 64

// hiddenFor returns what v hides in st, nil when it hides nothing. The
// result is shared: callers only read it.
func (st *state) hiddenFor(v *catalog.Visibility) *hidden {
	if !v.Restricts() {
		return nil
	}
	key := v.Key()
	c := &st.access
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*hidden{}
	}
	h := c.m[key]
	if h != nil && h.version == st.version && len(h.repo) == len(st.repoNames) {
		if h.n == 0 {
			return nil
		}
		return h
	}
	if len(c.m) >= maxAccessKeys {
		clear(c.m)
	}
	nh := &hidden{version: st.version}
	if h != nil {
		nh.repo = h.repo // repository ids are never reused within a state
	}
	for i := len(nh.repo); i < len(st.repoNames); i++ {
		nh.repo = append(nh.repo, !v.Visible(st.repoNames[i]))
	}
	// The ranges of the hidden repositories that have entries.
	order := st.order
	for id, hide := range nh.repo {
		if !hide {
			continue
		}
		name := st.repoNames[id]
		lo, _ := slices.BinarySearchFunc(order, name, func(s uint32, name string) int {
			return strings.Compare(st.repository(&st.recs[s]), name)
		})
		hi := lo
		for hi < len(order) && st.recs[order[hi]].repo == uint32(id) {
			hi++
		}
		if hi > lo {
			nh.ranges = append(nh.ranges, [2]int{lo, hi})
			nh.n += hi - lo
		}
	}
	slices.SortFunc(nh.ranges, func(a, b [2]int) int { return a[0] - b[0] })
	merged := nh.ranges[:0]
	for _, r := range nh.ranges {
		if k := len(merged); k > 0 && merged[k-1][1] == r[0] {
			merged[k-1][1] = r[1]
		} else {
			merged = append(merged, r)
		}
	}
	nh.ranges = merged
	c.m[key] = nh
	if nh.n == 0 {
		return nil
	}
	return nh
}

// hiddenCounts returns the facet counts of the hidden entries at the
// buckets of c (a fresh counter), counting them once per change and
// clock.
func (st *state) hiddenCounts(h *hidden, like *counter) *counter {
	st.access.mu.Lock()
	defer st.access.mu.Unlock()
	if h.counts != nil && h.countsNow == like.now && len(h.counts.status) == len(like.status) &&
		len(h.counts.owner) == len(like.owner) && len(h.counts.platform) == len(like.platform) &&
		len(h.counts.license) == len(like.license) && len(h.counts.signer) == len(like.signer) {
		return h.counts
	}
	c := &counter{st: st, now: like.now, day30: like.day30, day90: like.day90, day365: like.day365,
		status: make([]int, len(like.status)), owner: make([]int, len(like.owner)), platform: make([]int, len(like.platform)),
		license: make([]int, len(like.license)), signer: make([]int, len(like.signer))}
	for _, r := range h.ranges {
		for _, s := range st.order[r[0]:r[1]] {
			c.add(&st.recs[s])
		}
	}
	h.counts, h.countsNow = c, like.now
	return c
}

// subtract removes the counts of o from c.
func (c *counter) subtract(o *counter) {
	for _, x := range []struct{ a, b []int }{{c.status, o.status}, {c.owner, o.owner}, {c.platform, o.platform},
		{c.license, o.license}, {c.signer, o.signer}, {c.severity[:], o.severity[:]}, {c.fixable[:], o.fixable[:]}, {c.eol[:], o.eol[:]}} {
		for i := range min(len(x.a), len(x.b)) {
			x.a[i] -= x.b[i]
		}
	}
}

// visibleRanges returns the [lo, hi) ranges of positions of st.order that
// h does not hide, from position start on.
func visibleRanges(h *hidden, start, end int) [][2]int {
	var out [][2]int
	at := start
	for _, r := range h.ranges {
		if r[1] <= at {
			continue
		}
		if r[0] >= end {
			break
		}
		if r[0] > at {
			out = append(out, [2]int{at, r[0]})
		}
		at = max(at, r[1])
	}
	if at < end {
		out = append(out, [2]int{at, end})
	}
	return out
}

// withoutHidden returns the candidates c without the slots h hides. It
// needs slot order to be result order (st.monotone): a hidden range of
// positions is then the range of slots from its first to its last.
func (st *state) withoutHidden(c *set, h *hidden) *set {
	if c.list != nil {
		out := make([]uint32, 0, len(c.list))
		ri := 0
		for _, s := range c.list {
			for ri < len(h.ranges) && st.order[h.ranges[ri][1]-1] < s {
				ri++
			}
			if ri < len(h.ranges) && st.order[h.ranges[ri][0]] <= s {
				continue
			}
			out = append(out, s)
		}
		return &set{list: out, n: len(out)}
	}
	b := slices.Clone(c.bits)
	for _, r := range h.ranges {
		lo, hi := st.order[r[0]], st.order[r[1]-1]
		for s := lo; s <= hi; s++ {
			if int(s>>6) < len(b) {
				b[s>>6] &^= 1 << (s & 63)
			}
		}
	}
	return &set{bits: b, n: popcount(b)}
}
