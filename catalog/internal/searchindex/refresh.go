package searchindex

import (
	"bytes"
	"context"
	"fmt"
)

// Feed is a store's change feed, as Refresh reads it. Every write of an
// entry (put or delete) adds a change numbered by a sequence, in the same
// transaction as the write, and a store must guarantee that once a change
// is visible to a reader, every change with a smaller number that will
// ever be visible is visible too (numbers are given in commit order; a
// rolled-back write leaves a gap that is never filled).
type Feed interface {
	// Head returns the numbers of the first and the last change the feed
	// keeps (zeros when it keeps none). A store may forget old changes;
	// an index behind the first reloads.
	Head(ctx context.Context) (first, last int64, err error)
	// Changes calls fn for each change numbered after seq, in order, with
	// the id of the entry and its current record (see Encode), nil if the
	// entry no longer exists. rec is only valid during the call.
	Changes(ctx context.Context, after int64, fn func(seq, id int64, rec []byte) error) error
	// Snapshot calls fn with the id and record of every entry, all read
	// at one point of the feed, and returns the number of the last change
	// they include.
	Snapshot(ctx context.Context, fn func(id int64, rec []byte) error) (int64, error)
}

// MaxCatchUp is how many changes Refresh applies one by one; an index
// further behind reloads every record.
const MaxCatchUp = 20000

// minScattered is how many entries may be put out of result order in
// memory (new entries, see state.compact) before a refresh loads the
// index again, compacted; above it, a quarter of the entries may.
const minScattered = 10000

// minGarbage is how many bytes of the index's arenas may belong to
// entries that changed since the last load before a refresh loads the
// index again; above it, half of the arenas may.
const minGarbage = 16 << 20

// bulk is the number of changes from which Refresh sorts the result order
// once at the end rather than keeping it sorted change by change.
const bulk = 256

// Loaded reports whether the index has been loaded.
func (ix *Index) Loaded() bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.st != nil
}

// Refresh brings the index up to the last change of feed: it loads every
// record on the first call (or when too far behind), else applies the
// changes after the last one applied. Searches wait only while changes
// are applied, not while they are read.
func (ix *Index) Refresh(ctx context.Context, feed Feed) error {
	first, last, err := feed.Head(ctx)
	if err != nil {
		return err
	}
	if ix.current(last) {
		return nil
	}
	ix.refreshing.Lock()
	defer ix.refreshing.Unlock()
	if ix.current(last) {
		return nil
	}
	ix.mu.RLock()
	st := ix.st
	ix.mu.RUnlock()
	if st == nil || last-st.seq > MaxCatchUp || first > st.seq+1 ||
		st.scattered > max(minScattered, len(st.byID)/4) || st.garbage > max(minGarbage, len(st.arena)/2) {
		return ix.reload(ctx, feed)
	}
	type change struct {
		seq, id int64
		rec     []byte
	}
	var changes []change
	err = feed.Changes(ctx, st.seq, func(seq, id int64, rec []byte) error {
		if rec != nil {
			rec = bytes.Clone(rec)
		}
		changes = append(changes, change{seq, id, rec})
		return nil
	})
	if err != nil {
		return err
	}
	if len(changes) > MaxCatchUp {
		return ix.reload(ctx, feed)
	}
	// Only the last change of an entry counts (each carries the entry's
	// current record).
	lastOf := make(map[int64]int, len(changes))
	for i, c := range changes {
		lastOf[c.id] = i
	}
	ordered := len(lastOf) < bulk
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for i, c := range changes {
		if lastOf[c.id] != i {
			continue
		}
		if err := st.apply(c.id, c.rec, ordered); err != nil {
			// The index is no longer in step: load it again next time.
			ix.st = nil
			return err
		}
	}
	if !ordered {
		st.sortOrder()
	}
	if n := len(changes); n > 0 {
		st.seq = max(st.seq, changes[n-1].seq)
	}
	st.seq = max(st.seq, last)
	return nil
}

func (ix *Index) current(last int64) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.st != nil && ix.st.seq >= last
}

// reload builds the index again from every record and replaces the old
// one, which serves searches until then.
func (ix *Index) reload(ctx context.Context, feed Feed) error {
	st := newState()
	st.packages.bulk = true
	seq, err := feed.Snapshot(ctx, func(id int64, rec []byte) error {
		if err := st.decoded.decode(rec); err != nil {
			return fmt.Errorf("entry %d: %w", id, err)
		}
		if _, dup := st.byID[id]; dup {
			return fmt.Errorf("entry %d: twice in a snapshot", id)
		}
		st.put(id, &st.decoded)
		return nil
	})
	if err != nil {
		return err
	}
	st.sortOrder()
	st.compact() // sorts the package pairs too
	st.packages.bulk = false
	st.seq = seq
	ix.mu.Lock()
	ix.st = st
	ix.mu.Unlock()
	return nil
}
