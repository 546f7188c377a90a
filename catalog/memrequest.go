package catalog

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

var _ LimitedRequestStore = (*MemoryStore)(nil)

// memRequests are the requests of a MemoryStore: their bytes and
// revisions by ID, and the open request of each key.
type memRequests struct {
	byID map[string]memRequest
	open map[string]string // key -> id of its open request
}

type memRequest struct {
	b   []byte
	r   *Request // decoded, never handed out
	rev int64
}

// CreateRequest implements RequestStore.
func (m *MemoryStore) CreateRequest(ctx context.Context, r *Request) (*Request, bool, error) {
	return m.CreateRequestLimited(ctx, r, RequestLimit{})
}

// CreateRequestLimited implements LimitedRequestStore: the count and the
// insert happen under the store's lock.
func (m *MemoryStore) CreateRequestLimited(ctx context.Context, r *Request, limit RequestLimit) (*Request, bool, error) {
	b, err := MarshalNewRequest(r)
	if err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, false, err
	}
	if m.reqs == nil {
		m.reqs = &memRequests{byID: map[string]memRequest{}, open: map[string]string{}}
	}
	if limit.Max > 0 {
		since := RequestTime(limit.Since)
		var times []time.Time
		for _, mr := range m.reqs.byID {
			if mr.r.Requester == r.Requester && mr.r.Created.After(since) {
				times = append(times, mr.r.Created)
			}
		}
		if len(times) >= limit.Max {
			slices.SortFunc(times, func(a, b time.Time) int { return b.Compare(a) })
			return nil, false, &RequestLimitError{Requester: r.Requester, Max: limit.Max, Oldest: times[limit.Max-1]}
		}
	}
	if id, ok := m.reqs.open[r.Key]; ok && r.Open() {
		mr := m.reqs.byID[id]
		got, err := UnmarshalRequest(mr.b, mr.rev)
		return got, false, err
	}
	if _, ok := m.reqs.byID[r.ID]; ok {
		return nil, false, fmt.Errorf("%w: request id %s is taken", ErrConflict, r.ID)
	}
	dec, err := UnmarshalRequest(b, 1)
	if err != nil {
		return nil, false, err
	}
	m.reqs.byID[r.ID] = memRequest{b: b, r: dec, rev: 1}
	if r.Open() {
		m.reqs.open[r.Key] = r.ID
	}
	r.Revision = 1
	return r, true, nil
}

// PutRequest implements RequestStore.
func (m *MemoryStore) PutRequest(ctx context.Context, r *Request) error {
	b, err := MarshalRequest(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return err
	}
	var old memRequest
	ok := false
	if m.reqs != nil {
		old, ok = m.reqs.byID[r.ID]
	}
	switch {
	case !ok:
		return fmt.Errorf("%w: request %s", ErrNotFound, r.ID)
	case old.rev != r.Revision:
		return fmt.Errorf("%w: request %s: revision %d, stored %d", ErrConflict, r.ID, r.Revision, old.rev)
	case old.r.Key != r.Key:
		return fmt.Errorf("%w: request %s: the key of a request does not change", ErrConflict, r.ID)
	}
	if id, held := m.reqs.open[r.Key]; r.Open() && held && id != r.ID {
		return fmt.Errorf("%w: request %s: request %s is open for %s", ErrConflict, r.ID, id, r.Key)
	}
	dec, err := UnmarshalRequest(b, old.rev+1)
	if err != nil {
		return err
	}
	m.reqs.byID[r.ID] = memRequest{b: b, r: dec, rev: old.rev + 1}
	if r.Open() {
		m.reqs.open[r.Key] = r.ID
	} else if m.reqs.open[r.Key] == r.ID {
		delete(m.reqs.open, r.Key)
	}
	r.Revision = old.rev + 1
	return nil
}

// Request implements RequestStore.
func (m *MemoryStore) Request(ctx context.Context, id string) (*Request, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	if m.reqs != nil {
		if mr, ok := m.reqs.byID[id]; ok {
			return UnmarshalRequest(mr.b, mr.rev)
		}
	}
	return nil, fmt.Errorf("%w: request %s", ErrNotFound, id)
}

// Requests implements RequestStore.
func (m *MemoryStore) Requests(ctx context.Context, q RequestQuery) ([]*Request, error) {
	q, err := q.Validate()
	if err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	if m.reqs == nil {
		return nil, nil
	}
	var sel []memRequest
	for _, mr := range m.reqs.byID {
		if q.Matches(mr.r) && q.Before.After(mr.r) {
			sel = append(sel, mr)
		}
	}
	slices.SortFunc(sel, func(a, b memRequest) int {
		return cmp.Or(b.r.Created.Compare(a.r.Created), strings.Compare(b.r.ID, a.r.ID))
	})
	if len(sel) > q.Limit {
		sel = sel[:q.Limit]
	}
	out := make([]*Request, 0, len(sel))
	for _, mr := range sel {
		r, err := UnmarshalRequest(mr.b, mr.rev)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
