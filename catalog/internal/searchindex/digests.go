package searchindex

import (
	"hash/maphash"
	"slices"
)

// hashIndex finds the slots of the entries with a digest (their own or a
// child's) by a hash of the digest, in maps without pointers (the garbage
// collector does not scan them); the caller checks the digests of the
// slots it finds. Most hashes have one slot: a second one (the same image
// in two repositories, a hash collision) goes to more.
type hashIndex struct {
	seed maphash.Seed
	one  map[uint64]uint32
	more map[uint64][]uint32
}

func newHashIndex() hashIndex {
	return hashIndex{seed: maphash.MakeSeed(), one: map[uint64]uint32{}, more: map[uint64][]uint32{}}
}

func (h *hashIndex) hash(b []byte) uint64 { return maphash.Bytes(h.seed, b) }

func (h *hashIndex) add(x uint64, slot uint32) {
	first, ok := h.one[x]
	switch {
	case !ok:
		h.one[x] = slot
	case first != slot && !slices.Contains(h.more[x], slot):
		h.more[x] = append(h.more[x], slot)
	}
}

func (h *hashIndex) remove(x uint64, slot uint32) {
	first, ok := h.one[x]
	if !ok {
		return
	}
	more := h.more[x]
	if first == slot {
		if len(more) == 0 {
			delete(h.one, x)
			return
		}
		h.one[x], more = more[len(more)-1], more[:len(more)-1]
	} else if i := slices.Index(more, slot); i >= 0 {
		more = slices.Delete(more, i, i+1)
	}
	if len(more) == 0 {
		delete(h.more, x)
	} else {
		h.more[x] = more
	}
}

// slots returns the slots whose hash is x, sorted.
func (h *hashIndex) slots(x uint64) []uint32 {
	first, ok := h.one[x]
	if !ok {
		return nil
	}
	out := append([]uint32{first}, h.more[x]...)
	slices.Sort(out)
	return out
}

func (h *hashIndex) bytes() int {
	n := len(h.one) * 16
	for _, l := range h.more {
		n += 40 + cap(l)*4
	}
	return n
}

// digestSlots returns the slots of the entries with digest d, as theirs
// or a child's, sorted.
func (st *state) digestSlots(d string) []uint32 {
	var out []uint32
	for _, s := range st.digests.slots(st.digests.hash([]byte(d))) {
		r := &st.recs[s]
		found := st.digest(r) == d
		if !found {
			st.children(r, func(c string) { found = found || c == d })
		}
		if found {
			out = append(out, s)
		}
	}
	return out
}
