package searchindex

import "slices"

// dict maps the distinct values of one kind (terms, tags, licences,
// package versions, ...) to small ids, and keeps for each the sorted
// slots of the entries that have it. A value no entry has any more is
// released and its id reused.
type dict struct {
	ids   map[string]uint32
	keys  []string
	lists [][]uint32
	free  []uint32
	// bits, when track is set, are the lists as bitsets (the facets,
	// counted over many matches by intersecting bitsets).
	track bool
	bits  [][]uint64
	// onNew and onRelease, if set, follow the ids given and released
	// (the trigram index of the term dictionary).
	onNew, onRelease func(id uint32, key string)
}

func newDict() *dict { return &dict{ids: map[string]uint32{}} }

// lookup returns the id of b, and false if no entry has it.
func (d *dict) lookup(b []byte) (uint32, bool) {
	id, ok := d.ids[string(b)]
	return id, ok
}

// list returns the slots of value b (nil if none).
func (d *dict) list(b []byte) []uint32 {
	if id, ok := d.ids[string(b)]; ok {
		return d.lists[id]
	}
	return nil
}

// intern returns the id of b, giving it one if it has none.
func (d *dict) intern(b []byte) uint32 {
	if id, ok := d.ids[string(b)]; ok {
		return id
	}
	key := string(b)
	var id uint32
	if n := len(d.free); n > 0 {
		id = d.free[n-1]
		d.free = d.free[:n-1]
		d.keys[id] = key
	} else {
		id = uint32(len(d.keys))
		d.keys = append(d.keys, key)
		d.lists = append(d.lists, nil)
	}
	d.ids[key] = id
	if d.onNew != nil {
		d.onNew(id, key)
	}
	return id
}

// add records that slot has value id.
func (d *dict) add(id, slot uint32) {
	if d.track {
		for int(id) >= len(d.bits) {
			d.bits = append(d.bits, nil)
		}
		setBit(&d.bits[id], slot)
	}
	l := d.lists[id]
	if n := len(l); n == 0 || l[n-1] < slot {
		d.lists[id] = append(l, slot)
		return
	}
	i, found := slices.BinarySearch(l, slot)
	if !found {
		d.lists[id] = slices.Insert(l, i, slot)
	}
}

// remove records that slot no longer has value id, releasing the value if
// no slot has it.
func (d *dict) remove(id, slot uint32) {
	if d.track && int(id) < len(d.bits) {
		clearBit(d.bits[id], slot)
	}
	l := d.lists[id]
	if i, found := slices.BinarySearch(l, slot); found {
		l = slices.Delete(l, i, i+1)
	}
	if len(l) > 0 {
		if cap(l) > 64 && len(l) < cap(l)/4 {
			l = slices.Clip(slices.Clone(l))
		}
		d.lists[id] = l
		return
	}
	key := d.keys[id]
	if d.onRelease != nil {
		d.onRelease(id, key)
	}
	delete(d.ids, key)
	if int(id) < len(d.bits) {
		d.bits[id] = nil
	}
	d.keys[id] = ""
	d.lists[id] = nil
	d.free = append(d.free, id)
}

// rebuildBits makes the bitsets again from the lists.
func (d *dict) rebuildBits(slots int) {
	if !d.track {
		return
	}
	d.bits = make([][]uint64, len(d.lists))
	for id, l := range d.lists {
		if len(l) > 0 {
			d.bits[id] = bitsOf(l, slots)
		}
	}
}

// live returns the number of values some entry has.
func (d *dict) live() int { return len(d.keys) - len(d.free) }

// bytes estimates the heap the dictionary holds.
func (d *dict) bytes() int {
	n := len(d.keys)*(16+24) + cap(d.free)*4 + len(d.ids)*48 + cap(d.bits)*24
	for i, k := range d.keys {
		n += len(k) + cap(d.lists[i])*4
	}
	for _, b := range d.bits {
		n += cap(b) * 8
	}
	return n
}
