package searchindex

import "math/bits"

// Bitsets over slots, as []uint64: bit s of word s/64. A bitset may be
// shorter than the slots; the missing bits are zeros.

func newBits(slots int) []uint64 { return make([]uint64, (slots+63)/64) }

func setBit(b *[]uint64, s uint32) {
	w := int(s >> 6)
	if w >= len(*b) {
		*b = append(*b, make([]uint64, w+1-len(*b))...)
	}
	(*b)[w] |= 1 << (s & 63)
}

func clearBit(b []uint64, s uint32) {
	if w := int(s >> 6); w < len(b) {
		b[w] &^= 1 << (s & 63)
	}
}

func popcount(b []uint64) int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// andCount returns the number of bits set in both a and b.
func andCount(a, b []uint64) int {
	n := 0
	b = b[:min(len(a), len(b))]
	for i, w := range b {
		n += bits.OnesCount64(a[i] & w)
	}
	return n
}

// bitsOf returns the bitset of sorted (or not) slots.
func bitsOf(slots []uint32, n int) []uint64 {
	b := newBits(n)
	for _, s := range slots {
		b[s>>6] |= 1 << (s & 63)
	}
	return b
}
