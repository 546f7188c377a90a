package catalog

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// MemoryStore is a Store in memory: for tests, examples and small
// catalogs that are rebuilt from the registry at start. It evaluates
// queries by scanning every entry (Query.Matches), so it is slow beyond a
// few thousand entries; use catalog/sqlite for more.
type MemoryStore struct {
	mu      sync.RWMutex
	closed  bool
	entries map[string]memEntry // by Entry.Key
	tags    map[string][]TagRecord
	tracks  map[TrackKey]memTrack // see memtrack.go; nil until the first PutTrack
	reqs    *memRequests          // see memrequest.go; nil until the first CreateRequest
}

var _ Store = (*MemoryStore)(nil)

// memEntry is a stored entry: its bytes, and the decoded entry that
// searches read (never handed out).
type memEntry struct {
	b []byte
	e *Entry
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{entries: map[string]memEntry{}, tags: map[string][]TagRecord{}}
}

func (m *MemoryStore) check(ctx context.Context) error {
	if m.closed {
		return ErrClosed
	}
	return ctx.Err()
}

// Put implements Store.
func (m *MemoryStore) Put(ctx context.Context, e *Entry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	b, err := Marshal(e)
	if err != nil {
		return err
	}
	n, err := Unmarshal(b)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	m.entries[e.Key()] = memEntry{b: b, e: n}
	return nil
}

// Get implements Store.
func (m *MemoryStore) Get(ctx context.Context, repository string, d digest.Digest) (*Entry, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	me, ok := m.entries[repository+"@"+d.String()]
	if !ok {
		return nil, fmt.Errorf("%w: %s@%s", ErrNotFound, repository, d)
	}
	return Unmarshal(me.b)
}

// Delete implements Store.
func (m *MemoryStore) Delete(ctx context.Context, repository string, d digest.Digest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	k := repository + "@" + d.String()
	if _, ok := m.entries[k]; !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, k)
	}
	delete(m.entries, k)
	return nil
}

// Search implements Store.
func (m *MemoryStore) Search(ctx context.Context, q Query) (*Result, error) {
	q, err := q.Validate()
	if err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	var matches []*Entry
	for _, me := range m.entries {
		if q.Matches(me.e) {
			matches = append(matches, me.e)
		}
	}
	slices.SortFunc(matches, func(a, b *Entry) int {
		return cmp.Or(strings.Compare(a.Repository, b.Repository), strings.Compare(string(a.Digest), string(b.Digest)))
	})
	page, next := Page(q, matches, func(e *Entry) (string, digest.Digest) { return e.Repository, e.Digest })
	res := &Result{Entries: make([]Summary, len(page)), Total: len(matches), Next: next}
	for i, e := range page {
		res.Entries[i] = e.Summary()
	}
	if q.Facets {
		res.Facets = CountFacets(matches, q.Now, q.FacetLimit)
	}
	return res, nil
}

// RecordTags implements Store.
func (m *MemoryStore) RecordTags(ctx context.Context, repository string, tags map[string]digest.Digest, at time.Time, complete bool) ([]TagEvent, error) {
	if err := checkTags(repository, tags); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	recs := m.tags[repository]
	current := map[string]int{}
	for i, r := range recs {
		if r.Current {
			current[r.Tag] = i
		}
	}
	at = at.UTC()
	var events []TagEvent
	for _, tag := range slices.Sorted(maps.Keys(tags)) {
		d := tags[tag]
		i, ok := current[tag]
		switch {
		case ok && recs[i].Digest == d:
			if at.After(recs[i].LastSeen) {
				recs[i].LastSeen = at
			}
			continue
		case ok:
			recs[i].Current = false
			events = append(events, TagEvent{Type: TagMoved, Repository: repository, Tag: tag, From: recs[i].Digest, To: d, At: at})
		default:
			events = append(events, TagEvent{Type: TagAdded, Repository: repository, Tag: tag, To: d, At: at})
		}
		recs = append(recs, TagRecord{Repository: repository, Tag: tag, Digest: d, FirstSeen: at, LastSeen: at, Current: true})
	}
	if complete {
		for _, tag := range slices.Sorted(maps.Keys(current)) {
			if _, ok := tags[tag]; ok {
				continue
			}
			i := current[tag]
			recs[i].Current = false
			events = append(events, TagEvent{Type: TagRemoved, Repository: repository, Tag: tag, From: recs[i].Digest, At: at})
		}
	}
	slices.SortStableFunc(events, func(a, b TagEvent) int { return strings.Compare(a.Tag, b.Tag) })
	m.tags[repository] = recs
	return events, nil
}

// checkTags validates a RecordTags call.
func checkTags(repository string, tags map[string]digest.Digest) error {
	if repository == "" || strings.ContainsAny(repository, "@\x00") {
		return fmt.Errorf("%w: repository %q", ErrInvalidEntry, repository)
	}
	for tag, d := range tags {
		if tag == "" || len(tag) > 128 || strings.ContainsAny(tag, "\x00/@: ") {
			return fmt.Errorf("%w: tag %q", ErrInvalidEntry, tag)
		}
		if err := d.Validate(); err != nil {
			return fmt.Errorf("%w: tag %s: digest %q: %v", ErrInvalidEntry, tag, d, err)
		}
	}
	return nil
}

// CheckTags validates the arguments of Store.RecordTags: a repository
// and tags with valid digests. Errors wrap ErrInvalidEntry. Stores call it
// before any write.
func CheckTags(repository string, tags map[string]digest.Digest) error {
	return checkTags(repository, tags)
}

// Tags implements Store.
func (m *MemoryStore) Tags(ctx context.Context, repository string) (map[string]digest.Digest, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	out := map[string]digest.Digest{}
	for _, r := range m.tags[repository] {
		if r.Current {
			out[r.Tag] = r.Digest
		}
	}
	return out, nil
}

// TagHistory implements Store.
func (m *MemoryStore) TagHistory(ctx context.Context, repository, tag string) ([]TagRecord, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	var out []TagRecord
	for _, r := range m.tags[repository] {
		if tag == "" || r.Tag == tag {
			out = append(out, r)
		}
	}
	SortTagRecords(out)
	return out, nil
}

// SortTagRecords sorts tag records by tag, then FirstSeen, then digest:
// the order of Store.TagHistory.
func SortTagRecords(rs []TagRecord) {
	slices.SortStableFunc(rs, func(a, b TagRecord) int {
		return cmp.Or(strings.Compare(a.Tag, b.Tag), a.FirstSeen.Compare(b.FirstSeen), strings.Compare(string(a.Digest), string(b.Digest)))
	})
}

// Repositories implements Store.
func (m *MemoryStore) Repositories(ctx context.Context) ([]string, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for k := range m.entries {
		set[k[:strings.LastIndex(k, "@")]] = true
	}
	for repo, recs := range m.tags {
		if slices.ContainsFunc(recs, func(r TagRecord) bool { return r.Current }) {
			set[repo] = true
		}
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// Close implements Store.
func (m *MemoryStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
