package searchindex

import (
	"encoding/binary"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cssc-go/cssc/catalog"
)

// packageIndex is the component-to-image index: per package name (or
// source package name), every (version, slot) pair of the entries that
// have it, where a version is an interned (ecosystem, version) pair.
// Sorted by version, the pairs of one version are contiguous, so that a
// version range is evaluated once per distinct (name, ecosystem,
// version), not once per entry; and a distinct package version costs no
// more than its pairs (8 bytes per entry that has it).
type packageIndex struct {
	names *dict      // package names; their lists stay empty
	pairs [][]uint64 // by name id: version id << 32 | slot, sorted
	// versions interns (ecosystem, version) pairs, counting their uses.
	versions map[string]uint32
	vkeys    []string
	vrefs    []uint32
	vfree    []uint32
	// bulk, while an index is loaded, appends pairs unsorted (the load
	// sorts them at the end, see state.compact).
	bulk bool
	// onVersionRelease, if set, is called when a version id is released
	// (it will be given to another version).
	onVersionRelease func()
}

func newPackageIndex() *packageIndex {
	return &packageIndex{names: newDict(), versions: map[string]uint32{}}
}

// versionKey appends the key of an ecosystem and version to dst.
func versionKey(dst, eco, version []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(eco)))
	dst = append(dst, eco...)
	return append(dst, version...)
}

// splitVersionKey returns the ecosystem and version of a key.
func splitVersionKey(key string) (eco, version string) {
	n, k := uvarint(key)
	key = key[k:]
	return key[:n], key[n:]
}

// uvarint reads a uvarint at the start of s (written by this package, so
// well formed).
func uvarint(s string) (int, int) {
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return int(v), i + 1
		}
	}
	return 0, len(s)
}

// ids returns the name and version ids of a package, interning them.
func (p *packageIndex) ids(name, versionKey []byte) (uint32, uint32) {
	n := p.names.intern(name)
	for int(n) >= len(p.pairs) {
		p.pairs = append(p.pairs, nil)
	}
	v, ok := p.versions[string(versionKey)]
	if !ok {
		key := string(versionKey)
		if k := len(p.vfree); k > 0 {
			v = p.vfree[k-1]
			p.vfree = p.vfree[:k-1]
			p.vkeys[v], p.vrefs[v] = key, 0
		} else {
			v = uint32(len(p.vkeys))
			p.vkeys = append(p.vkeys, key)
			p.vrefs = append(p.vrefs, 0)
		}
		p.versions[key] = v
	}
	return n, v
}

// add records that slot has version v of package n.
func (p *packageIndex) add(n, v, slot uint32) {
	pair := uint64(v)<<32 | uint64(slot)
	l := p.pairs[n]
	if p.bulk {
		// A loaded entry's pairs are distinct.
		p.pairs[n] = append(l, pair)
	} else {
		i, found := slices.BinarySearch(l, pair)
		if found {
			return
		}
		p.pairs[n] = slices.Insert(l, i, pair)
	}
	p.vrefs[v]++
	// The names dictionary counts users through its lists: one slot per
	// pair would duplicate the pairs, so it holds one marker instead.
	if len(p.names.lists[n]) == 0 {
		p.names.lists[n] = []uint32{0}
	}
}

// remove undoes add, releasing the name and the version no pair uses.
func (p *packageIndex) remove(n, v, slot uint32) {
	pair := uint64(v)<<32 | uint64(slot)
	l := p.pairs[n]
	i, found := slices.BinarySearch(l, pair)
	if !found {
		return
	}
	l = slices.Delete(l, i, i+1)
	if cap(l) > 64 && len(l) < cap(l)/4 {
		l = slices.Clip(slices.Clone(l))
	}
	p.pairs[n] = l
	if p.vrefs[v]--; p.vrefs[v] == 0 {
		delete(p.versions, p.vkeys[v])
		p.vkeys[v] = ""
		p.vfree = append(p.vfree, v)
		if p.onVersionRelease != nil {
			p.onVersionRelease()
		}
	}
	if len(l) == 0 {
		p.pairs[n] = nil
		p.names.remove(n, 0)
	}
}

// bytes estimates the heap the index holds.
func (p *packageIndex) bytes() int {
	n := p.names.bytes() + cap(p.pairs)*24 + len(p.versions)*48 + cap(p.vkeys)*16 + cap(p.vrefs)*4 + cap(p.vfree)*4
	for _, l := range p.pairs {
		n += cap(l) * 8
	}
	for _, k := range p.vkeys {
		n += len(k)
	}
	return n
}

// occurrences returns the number of (package, entry) pairs.
func (p *packageIndex) occurrences() int {
	n := 0
	for _, l := range p.pairs {
		n += len(l)
	}
	return n
}

// rangeCache remembers, per version range and ecosystem condition of a
// reverse package query, whether each version (an interned ecosystem and
// version, whatever the package name) satisfies it: evaluating a range
// parses versions by the ecosystem's rules, a few microseconds each, and
// portal links repeat the same ranges. Safe for concurrent searches.
type rangeCache struct {
	mu sync.Mutex
	m  map[string][]atomic.Uint32 // by version id: 0 unknown, 1 no, 2 yes
}

// maxRanges caps the ranges a rangeCache remembers; beyond, it starts
// over.
const maxRanges = 64

// clear forgets everything (a version id is about to mean another
// version).
func (c *rangeCache) clear() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

// matcher returns a function that tells whether version id v of package
// pq.Name is in the query's range (r, parsed from pq.Range).
func (c *rangeCache) matcher(p *packageIndex, pq *catalog.PackageQuery, r catalog.VersionRange) func(v uint32) bool {
	key := pq.Ecosystem + "\x00" + pq.Range
	c.mu.Lock()
	known := c.m[key]
	if len(known) < len(p.vkeys) {
		grown := make([]atomic.Uint32, len(p.vkeys)+len(p.vkeys)/4)
		for i := range known {
			grown[i].Store(known[i].Load())
		}
		if c.m == nil || known == nil && len(c.m) >= maxRanges {
			c.m = map[string][]atomic.Uint32{}
		}
		c.m[key] = grown
		known = grown
	}
	c.mu.Unlock()
	return func(v uint32) bool {
		switch known[v].Load() {
		case 1:
			return false
		case 2:
			return true
		}
		eco, version := splitVersionKey(p.vkeys[v])
		ok := pq.MatchesPackage(r, catalog.Package{Name: pq.Name, Ecosystem: eco, Version: version})
		known[v].Store(uint32(1 + b2i(ok)))
		return ok
	}
}
