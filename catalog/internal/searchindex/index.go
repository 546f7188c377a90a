package searchindex

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// Sections of a record's value ids (rec.vals), in order.
const (
	secPlatform = iota
	secLicense
	secSigner
	secTag
	secLabel
	secLabelKey
	secTerm
	secVuln
	secPackage // pairs of name and version ids in packageIndex, not a dict
	numSections
)

// rec is one entry in the index. It holds no pointers (its strings and
// lists are offsets into the state's arenas), so that the garbage
// collector does not scan the index's largest array; what filters and
// facet counts read comes first.
type rec struct {
	status   uint32 // ids in state.status and state.owner
	owner    uint32
	severity uint8
	fixable  bool
	trusted  bool
	hasEOL   bool
	eol      int64 // Unix seconds
	// The ids of the entry's platforms, licences and signers (the
	// multi-valued facets, read by every count) are
	// state.facetArena[facetOff:][:facetEnds[secSigner]].
	facetOff  uint32
	facetEnds [secSigner + 1]uint32

	id   int64
	repo uint32 // in state.repoNames
	// At state.arena[off:][:size]: the digest (digestLen bytes); the
	// children's digests (childrenLen bytes: a count, then each prefixed
	// by its length, uvarints); the ids of the other sections, for
	// removal (per section a count and the sorted ids as deltas, and for
	// packages the (name, version) pairs sorted, names as deltas).
	off, size, digestLen, childrenLen uint32
}

// section returns section s of ids laid out by ends.
func section(ids []uint32, ends *[numSections]uint32, s int) []uint32 {
	start := uint32(0)
	if s > 0 {
		start = ends[s-1]
	}
	return ids[start:ends[s]]
}

// pack stores the entry's digests and ids (laid out by ends) in the
// arenas, for r.
func (st *state) pack(r *rec, digest []byte, children [][]byte, ids []uint32, ends *[numSections]uint32) {
	r.facetOff = uint32(len(st.facetArena))
	st.facetArena = append(st.facetArena, ids[:ends[secSigner]]...)
	copy(r.facetEnds[:], ends[:secSigner+1])
	b := st.arena
	r.off = uint32(len(b))
	b = append(b, digest...)
	r.digestLen = uint32(len(digest))
	b = binary.AppendUvarint(b, uint64(len(children)))
	for _, c := range children {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	r.childrenLen = uint32(len(b)) - r.off - r.digestLen
	for s := secSigner + 1; s < secPackage; s++ {
		sec := section(ids, ends, s)
		b = binary.AppendUvarint(b, uint64(len(sec)))
		prev := uint32(0)
		for _, v := range sec {
			b = binary.AppendUvarint(b, uint64(v-prev))
			prev = v
		}
	}
	pairs := section(ids, ends, secPackage)
	b = binary.AppendUvarint(b, uint64(len(pairs)/2))
	prev := uint32(0)
	for i := 0; i+1 < len(pairs); i += 2 {
		b = binary.AppendUvarint(b, uint64(pairs[i]-prev))
		b = binary.AppendUvarint(b, uint64(pairs[i+1]))
		prev = pairs[i]
	}
	r.size = uint32(len(b)) - r.off
	st.arena = b
}

// facets returns the facet value ids of r (see rec.facetEnds).
func (st *state) facets(r *rec) []uint32 {
	return st.facetArena[r.facetOff : r.facetOff+r.facetEnds[secSigner]]
}

// digest returns r's digest. The string shares the arena's bytes, which
// are never overwritten (the arena only grows, and a compaction makes a
// new one).
func (st *state) digest(r *rec) string {
	if r.digestLen == 0 {
		return ""
	}
	return unsafe.String(&st.arena[r.off], int(r.digestLen))
}

func (st *state) repository(r *rec) string { return st.repoNames[r.repo] }

// children calls fn with the digest of each of r's children.
func (st *state) children(r *rec, fn func(string)) {
	b := st.arena[r.off+r.digestLen : r.off+r.digestLen+r.childrenLen]
	n, k := binary.Uvarint(b)
	b = b[k:]
	for range n {
		l, k := binary.Uvarint(b)
		fn(unsafe.String(&b[k], int(l)))
		b = b[k+int(l):]
	}
}

// unpack returns every id of r, laid out by the returned ends, in buf.
func (st *state) unpack(r *rec, buf []uint32) ([]uint32, [numSections]uint32) {
	var ends [numSections]uint32
	ids := append(buf[:0], st.facets(r)...)
	copy(ends[:], r.facetEnds[:])
	b := st.arena[r.off+r.digestLen+r.childrenLen : r.off+r.size]
	next := func() uint32 {
		v, n := binary.Uvarint(b)
		b = b[n:]
		return uint32(v)
	}
	for s := secSigner + 1; s < secPackage; s++ {
		prev := uint32(0)
		for range next() {
			prev += next()
			ids = append(ids, prev)
		}
		ends[s] = uint32(len(ids))
	}
	prev := uint32(0)
	for range next() {
		prev += next()
		ids = append(ids, prev, next())
	}
	ends[secPackage] = uint32(len(ids))
	return ids, ends
}

func (r *rec) live() bool { return r.digestLen > 0 }

// compare orders entries by repository, then digest.
func (st *state) compare(a, b *rec) int {
	if a.repo != b.repo {
		return strings.Compare(st.repoNames[a.repo], st.repoNames[b.repo])
	}
	return strings.Compare(st.digest(a), st.digest(b))
}

// key is a position in result order (a cursor's).
type key struct{ repository, digest string }

func (st *state) compareKey(r *rec, k key) int {
	return cmp.Or(strings.Compare(st.repoNames[r.repo], k.repository), strings.Compare(st.digest(r), k.digest))
}

// state is the content of an Index at one change number.
type state struct {
	seq   int64 // last change applied
	recs  []rec // by slot
	free  []uint32
	byID  map[int64]uint32
	order []uint32 // live slots by repository, then digest

	repoIDs        map[string]uint32 // repository names, interned
	repoNames      []string
	arena          []byte   // see rec.off
	facetArena     []uint32 // see rec.facetOff
	garbage        int      // bytes of the arenas no live entry uses
	digests        hashIndex
	status, owner  *dict
	dicts          [numSections]*dict
	trigrams       map[uint32][]uint32 // term trigram -> term ids, sorted
	packages       *packageIndex
	ranges         rangeCache
	scratch        []byte
	scratchIDs     []uint32
	decoded        decoded
	postingsLength int // total length of the postings of every section
	// Counts over every entry, for searches without conditions: by
	// severity rank, by fixable, and the end-of-life dates, sorted.
	severities [8]int
	fixables   [2]int
	eols       []int64
	// The same as bitsets over slots, for counting facets over many
	// matches: by severity rank, fixable, with an end-of-life date; and
	// the end-of-life dates by slot.
	severityBits [8][]uint64
	fixableBits  []uint64
	eolBits      []uint64
	eolOf        []int64

	// monotone is true while st.order is in increasing slot order, so
	// that slot order is result order.
	monotone bool
	// scattered counts the entries put in another slot than the one
	// their place in the order had at the last compaction.
	scattered int

	// version counts the changes applied (see hidden), and access keeps
	// what each visibility hides.
	version uint64
	access  accessCache
}

func newState() *state {
	st := &state{byID: map[int64]uint32{}, repoIDs: map[string]uint32{}, digests: newHashIndex(), status: newDict(), owner: newDict(),
		trigrams: map[uint32][]uint32{}, packages: newPackageIndex(), monotone: true}
	for i := range secPackage {
		st.dicts[i] = newDict()
	}
	st.packages.onVersionRelease = st.ranges.clear
	for _, d := range []*dict{st.status, st.owner, st.dicts[secPlatform], st.dicts[secLicense], st.dicts[secSigner]} {
		d.track = true
	}
	terms := st.dicts[secTerm]
	terms.onNew = func(id uint32, key string) {
		forTrigrams(key, func(t uint32) {
			l := st.trigrams[t]
			if i, found := slices.BinarySearch(l, id); !found {
				st.trigrams[t] = slices.Insert(l, i, id)
			}
		})
	}
	terms.onRelease = func(id uint32, key string) {
		forTrigrams(key, func(t uint32) {
			l := st.trigrams[t]
			if i, found := slices.BinarySearch(l, id); found {
				l = slices.Delete(l, i, i+1)
			}
			if len(l) == 0 {
				delete(st.trigrams, t)
			} else {
				st.trigrams[t] = l
			}
		})
	}
	return st
}

// forTrigrams calls fn with each distinct trigram (three consecutive
// bytes) of s, some more than once.
func forTrigrams(s string, fn func(uint32)) {
	for i := 0; i+3 <= len(s); i++ {
		fn(trigram(s[i : i+3]))
	}
}

func trigram(s string) uint32 { return uint32(s[0])<<16 | uint32(s[1])<<8 | uint32(s[2]) }

// put adds the entry with store id and record rec (decoded in
// st.decoded) in a free slot, and returns the slot; the caller places it
// in st.order.
func (st *state) put(id int64, d *decoded) uint32 {
	var slot uint32
	if n := len(st.free); n > 0 {
		slot = st.free[n-1]
		st.free = st.free[:n-1]
	} else {
		slot = uint32(len(st.recs))
		st.recs = append(st.recs, rec{})
	}
	repo, ok := st.repoIDs[string(d.repository)]
	if !ok {
		repo = uint32(len(st.repoNames))
		st.repoNames = append(st.repoNames, string(d.repository))
		st.repoIDs[st.repoNames[repo]] = repo
	}
	r := rec{id: id, repo: repo, severity: uint8(d.severity),
		fixable: d.flags&flagFixable != 0, trusted: d.flags&flagTrusted != 0, hasEOL: d.flags&flagEOL != 0, eol: d.eol}
	r.status = st.status.intern(d.status)
	st.status.add(r.status, slot)
	r.owner = st.owner.intern(d.owner)
	st.owner.add(r.owner, slot)

	vals := st.scratchIDs[:0]
	var ends [numSections]uint32
	intern := func(s int, values [][]byte) {
		dict := st.dicts[s]
		start := len(vals)
		for _, v := range values {
			vals = append(vals, dict.intern(v))
		}
		vals = sortedIDs(vals, start)
		ends[s] = uint32(len(vals))
	}
	intern(secPlatform, d.platforms)
	intern(secLicense, d.licenses)
	if len(d.signers) == 0 {
		intern(secSigner, [][]byte{{}}) // the facet value of an unsigned entry
	} else {
		intern(secSigner, d.signers)
	}
	intern(secTag, d.tags)
	// Labels: "key" and "key\x00value" would be ambiguous with NUL in
	// keys; a length-prefixed pair is not.
	labels := make([][]byte, len(d.labels))
	keys := make([][]byte, len(d.labels))
	for i, kv := range d.labels {
		labels[i] = labelKey(nil, kv[0], kv[1])
		keys[i] = kv[0]
	}
	intern(secLabel, labels)
	intern(secLabelKey, keys)

	// Terms, as catalog.Entry.Terms: lower-cased repository, tags,
	// package and source package names, vulnerability IDs and aliases,
	// label keys and values.
	terms := st.dicts[secTerm]
	start := len(vals)
	term := func(b []byte) {
		if len(b) == 0 {
			return
		}
		st.scratch = lower(st.scratch[:0], b)
		vals = append(vals, terms.intern(st.scratch))
	}
	term(d.repository)
	for _, t := range d.tags {
		term(t)
	}
	for i, p := range d.packages {
		if i == 0 || string(p[0]) != string(d.packages[i-1][0]) {
			term(p[0])
		}
	}
	for _, v := range d.vulns {
		term(v)
	}
	for _, kv := range d.labels {
		term(kv[0])
		term(kv[1])
	}
	vals = sortedIDs(vals, start)
	ends[secTerm] = uint32(len(vals))

	vulns := st.dicts[secVuln]
	start = len(vals)
	for _, v := range d.vulns {
		st.scratch = fold(st.scratch[:0], v)
		vals = append(vals, vulns.intern(st.scratch))
	}
	vals = sortedIDs(vals, start)
	ends[secVuln] = uint32(len(vals))

	st.digests.add(st.digests.hash(d.digest), slot)
	for _, c := range d.children {
		if string(c) != string(d.digest) {
			st.digests.add(st.digests.hash(c), slot)
		}
	}

	// Packages: (name, version) id pairs; the triples are distinct.
	for _, p := range d.packages {
		st.scratch = versionKey(st.scratch[:0], p[1], p[2])
		n, v := st.packages.ids(p[0], st.scratch)
		vals = append(vals, n, v)
	}
	ends[secPackage] = uint32(len(vals))

	sortPairs(section(vals, &ends, secPackage))
	st.pack(&r, d.digest, d.children, vals, &ends)
	st.scratchIDs = vals[:0]
	for s := range secPackage {
		dict := st.dicts[s]
		for _, v := range section(vals, &ends, s) {
			dict.add(v, slot)
		}
	}
	pairs := section(vals, &ends, secPackage)
	for i := 0; i+1 < len(pairs); i += 2 {
		st.packages.add(pairs[i], pairs[i+1], slot)
	}
	st.postingsLength += len(vals)
	st.severities[r.severity]++
	st.fixables[b2i(r.fixable)]++
	setBit(&st.severityBits[r.severity], slot)
	if r.fixable {
		setBit(&st.fixableBits, slot)
	}
	if r.hasEOL {
		i, _ := slices.BinarySearch(st.eols, r.eol)
		st.eols = slices.Insert(st.eols, i, r.eol)
		setBit(&st.eolBits, slot)
		for int(slot) >= len(st.eolOf) {
			st.eolOf = append(st.eolOf, 0)
		}
		st.eolOf[slot] = r.eol
	}
	st.recs[slot] = r
	st.byID[id] = slot
	return slot
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sortPairs sorts (name, version) id pairs by name, then version.
func sortPairs(pairs []uint32) {
	n := len(pairs) / 2
	keys := make([]uint64, n)
	for i := range n {
		keys[i] = uint64(pairs[2*i])<<32 | uint64(pairs[2*i+1])
	}
	slices.Sort(keys)
	for i, k := range keys {
		pairs[2*i], pairs[2*i+1] = uint32(k>>32), uint32(k)
	}
}

// labelKey appends the dictionary key of a label to dst.
func labelKey(dst, k, v []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(k)))
	dst = append(dst, k...)
	return append(dst, v...)
}

// sortedIDs sorts and compacts ids[start:].
func sortedIDs(ids []uint32, start int) []uint32 {
	s := ids[start:]
	slices.Sort(s)
	return append(ids[:start], slices.Compact(s)...)
}

// drop removes the entry in slot from every posting and frees the slot;
// the caller removes it from st.order.
func (st *state) drop(slot uint32) {
	r := &st.recs[slot]
	st.status.remove(r.status, slot)
	st.owner.remove(r.owner, slot)
	dgst := st.digest(r)
	st.digests.remove(st.digests.hash([]byte(dgst)), slot)
	st.children(r, func(c string) {
		if c != dgst {
			st.digests.remove(st.digests.hash([]byte(c)), slot)
		}
	})
	st.garbage += int(r.size) + 4*int(r.facetEnds[secSigner])
	vals, ends := st.unpack(r, st.scratchIDs)
	st.scratchIDs = vals[:0]
	for s := range secPackage {
		dict := st.dicts[s]
		for _, v := range section(vals, &ends, s) {
			dict.remove(v, slot)
		}
	}
	pairs := section(vals, &ends, secPackage)
	for i := 0; i+1 < len(pairs); i += 2 {
		st.packages.remove(pairs[i], pairs[i+1], slot)
	}
	st.postingsLength -= len(vals)
	st.severities[r.severity]--
	st.fixables[b2i(r.fixable)]--
	clearBit(st.severityBits[r.severity], slot)
	clearBit(st.fixableBits, slot)
	clearBit(st.eolBits, slot)
	if r.hasEOL {
		if i, found := slices.BinarySearch(st.eols, r.eol); found {
			st.eols = slices.Delete(st.eols, i, i+1)
		}
	}
	delete(st.byID, r.id)
	*r = rec{}
	st.free = append(st.free, slot)
}

// orderIndex returns where slot's entry is (or belongs) in st.order.
func (st *state) orderIndex(slot uint32) (int, bool) {
	r := &st.recs[slot]
	i, found := slices.BinarySearchFunc(st.order, r, func(s uint32, r *rec) int { return st.compare(&st.recs[s], r) })
	return i, found && st.order[i] == slot
}

// apply brings the entry with store id to rec (nil: deleted). With
// ordered, st.order is kept sorted; without, the caller re-sorts it.
func (st *state) apply(id int64, rec []byte, ordered bool) error {
	st.version++
	var d *decoded
	if rec != nil {
		d = &st.decoded
		if err := d.decode(rec); err != nil {
			return fmt.Errorf("entry %d: %w", id, err)
		}
	}
	slot, replaced := st.byID[id]
	if replaced {
		if ordered {
			if i, found := st.orderIndex(slot); found {
				st.order = slices.Delete(st.order, i, i+1)
			}
		}
		st.drop(slot)
	}
	if d == nil {
		return nil
	}
	if newSlot := st.put(id, d); !replaced || newSlot != slot {
		st.scattered++
		slot = newSlot
	}
	if ordered {
		i, _ := st.orderIndex(slot)
		st.order = slices.Insert(st.order, i, slot)
		if i > 0 && st.order[i-1] > slot || i+1 < len(st.order) && st.order[i+1] < slot {
			st.monotone = false
		}
	}
	return nil
}

// compact renumbers the slots in result order, so that a search walks
// the entries (and their facet values, laid out together) in memory
// order, rewrites the arenas without the garbage, and trims the posting
// lists to their length.
func (st *state) compact() {
	st.version++
	remap := make([]uint32, len(st.recs))
	recs := make([]rec, len(st.order))
	facets, size := 0, 0
	for _, old := range st.order {
		facets += int(st.recs[old].facetEnds[secSigner])
		size += int(st.recs[old].size)
	}
	facetArena := make([]uint32, 0, facets)
	arena := make([]byte, 0, size)
	for i, old := range st.order {
		r := st.recs[old]
		off := len(facetArena)
		facetArena = append(facetArena, st.facets(&r)...)
		r.facetOff = uint32(off)
		off = len(arena)
		arena = append(arena, st.arena[r.off:r.off+r.size]...)
		r.off = uint32(off)
		recs[i] = r
		remap[old] = uint32(i)
		st.byID[r.id] = uint32(i)
		st.order[i] = uint32(i)
	}
	st.arena, st.facetArena, st.garbage = arena, facetArena, 0
	renumber := func(d *dict) {
		for id, l := range d.lists {
			if len(l) == 0 {
				continue
			}
			out := make([]uint32, len(l))
			for i, s := range l {
				out[i] = remap[s]
			}
			slices.Sort(out)
			d.lists[id] = out
		}
	}
	renumber(st.status)
	renumber(st.owner)
	for _, d := range st.dicts[:secPackage] {
		renumber(d)
	}
	for n, l := range st.packages.pairs {
		if len(l) == 0 {
			continue
		}
		out := make([]uint64, len(l))
		for i, p := range l {
			out[i] = p&^(1<<32-1) | uint64(remap[uint32(p)])
		}
		slices.Sort(out)
		st.packages.pairs[n] = out
	}
	st.recs, st.free, st.scattered, st.monotone = recs, nil, 0, true
	n := len(recs)
	st.digests = newHashIndex()
	for i := range recs {
		r := &recs[i]
		dgst := st.digest(r)
		st.digests.add(st.digests.hash([]byte(dgst)), uint32(i))
		st.children(r, func(c string) {
			if c != dgst {
				st.digests.add(st.digests.hash([]byte(c)), uint32(i))
			}
		})
	}
	for _, d := range []*dict{st.status, st.owner, st.dicts[secPlatform], st.dicts[secLicense], st.dicts[secSigner]} {
		d.rebuildBits(n)
	}
	st.severityBits, st.fixableBits, st.eolBits, st.eolOf = [8][]uint64{}, newBits(n), newBits(n), make([]int64, n)
	for i := range st.severityBits {
		st.severityBits[i] = newBits(n)
	}
	for i := range recs {
		r := &recs[i]
		s := uint32(i)
		setBit(&st.severityBits[r.severity], s)
		if r.fixable {
			setBit(&st.fixableBits, s)
		}
		if r.hasEOL {
			setBit(&st.eolBits, s)
			st.eolOf[i] = r.eol
		}
	}
}

// sortOrder rebuilds st.order from the live slots.
func (st *state) sortOrder() {
	st.version++
	st.order = st.order[:0]
	for slot := range st.recs {
		if st.recs[slot].live() {
			st.order = append(st.order, uint32(slot))
		}
	}
	slices.SortFunc(st.order, func(a, b uint32) int { return st.compare(&st.recs[a], &st.recs[b]) })
	st.monotone = slices.IsSorted(st.order)
}

// Index is the in-memory search index of one store. It is safe for
// concurrent use: searches share it, refreshes apply changes between
// them.
type Index struct {
	refreshing sync.Mutex // one refresh at a time
	mu         sync.RWMutex
	st         *state // nil until loaded
}

// New returns an empty index, loaded by its first Refresh.
func New() *Index { return &Index{} }

// Stats describe the content of an index.
type Stats struct {
	// Seq is the number of the last change applied.
	Seq int64
	// Entries is the number of entries.
	Entries int
	// Terms, Vulnerabilities and Packages count the distinct free-text
	// terms, case-folded vulnerability IDs and package names;
	// PackageVersions the distinct (ecosystem, version) pairs, and
	// PackageOccurrences the (package version, entry) pairs.
	Terms, Vulnerabilities, Packages, PackageVersions, PackageOccurrences int
	// Postings is the total length of the posting lists.
	Postings int
	// Bytes estimates the heap the index holds.
	Bytes int
}

// Stats returns the index's figures.
func (ix *Index) Stats() Stats {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	st := ix.st
	if st == nil {
		return Stats{}
	}
	s := Stats{Seq: st.seq, Entries: len(st.byID), Terms: st.dicts[secTerm].live(), Vulnerabilities: st.dicts[secVuln].live(),
		Packages: st.packages.names.live(), PackageVersions: len(st.packages.versions), PackageOccurrences: st.packages.occurrences(),
		Postings: st.postingsLength + 2*len(st.byID)}
	n := cap(st.recs)*int(unsafe.Sizeof(rec{})) + cap(st.eols)*8 + cap(st.eolOf)*8 + cap(st.fixableBits)*8 + cap(st.eolBits)*8 +
		cap(st.free)*4 + cap(st.order)*4 + len(st.byID)*24 + st.status.bytes() + st.owner.bytes()
	for _, b := range st.severityBits {
		n += cap(b) * 8
	}
	n += cap(st.arena) + cap(st.facetArena)*4 + st.digests.bytes()
	for _, d := range st.dicts[:secPackage] {
		n += d.bytes()
	}
	n += st.packages.bytes()
	for _, l := range st.trigrams {
		n += 24 + 16 + cap(l)*4
	}
	for _, k := range st.repoNames {
		n += 48 + len(k)
	}
	s.Bytes = n
	return s
}
