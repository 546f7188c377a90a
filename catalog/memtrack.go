package catalog

import (
	"context"
	"fmt"
	"slices"
	"time"
)

var _ TrackStore = (*MemoryStore)(nil)

// memTrack is a stored track: its bytes, revision and check time.
type memTrack struct {
	b        []byte
	revision int64
	checked  time.Time
	source   string // SourceName
}

// PutTrack implements TrackStore.
func (m *MemoryStore) PutTrack(ctx context.Context, t *Track) error {
	b, err := MarshalTrack(t)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	if m.tracks == nil {
		m.tracks = map[TrackKey]memTrack{}
	}
	k := t.Key()
	old, ok := m.tracks[k]
	switch {
	case !ok && t.Revision != 0:
		return fmt.Errorf("%w: track %s: revision %d, none stored", ErrConflict, k, t.Revision)
	case ok && old.revision != t.Revision:
		return fmt.Errorf("%w: track %s: revision %d, stored %d", ErrConflict, k, t.Revision, old.revision)
	}
	checked := utc(t.Checked)
	if old.checked.After(checked) {
		checked = old.checked
	}
	m.tracks[k] = memTrack{b: b, revision: old.revision + 1, checked: checked, source: t.SourceName()}
	t.Revision = old.revision + 1
	return nil
}

// Track implements TrackStore.
func (m *MemoryStore) Track(ctx context.Context, golden, tag string) (*Track, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	mt, ok := m.tracks[TrackKey{golden, tag}]
	if !ok {
		return nil, fmt.Errorf("%w: track %s:%s", ErrNotFound, golden, tag)
	}
	return UnmarshalTrack(mt.b, mt.revision, mt.checked)
}

// Tracks implements TrackStore.
func (m *MemoryStore) Tracks(ctx context.Context, q TrackQuery) ([]*Track, error) {
	q, err := q.Validate()
	if err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	var keys []TrackKey
	for k, mt := range m.tracks {
		if (q.After == TrackKey{} || k.Compare(q.After) > 0) && (q.SourceName == "" || mt.source == q.SourceName) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, TrackKey.Compare)
	keys = keys[:min(len(keys), q.Limit)]
	out := make([]*Track, len(keys))
	for i, k := range keys {
		mt := m.tracks[k]
		if out[i], err = UnmarshalTrack(mt.b, mt.revision, mt.checked); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// TouchTracks implements TrackStore.
func (m *MemoryStore) TouchTracks(ctx context.Context, at time.Time, keys ...TrackKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	at = utc(at)
	for _, k := range keys {
		if mt, ok := m.tracks[k]; ok && at.After(mt.checked) {
			mt.checked = at
			m.tracks[k] = mt
		}
	}
	return nil
}

// DeleteTrack implements TrackStore.
func (m *MemoryStore) DeleteTrack(ctx context.Context, golden, tag string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	k := TrackKey{golden, tag}
	if _, ok := m.tracks[k]; !ok {
		return fmt.Errorf("%w: track %s", ErrNotFound, k)
	}
	delete(m.tracks, k)
	return nil
}
