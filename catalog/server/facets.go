package server

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/cssc-go/cssc/catalog"
)

// facetCache keeps facet counts per filter set. Counting facets over every
// match is the expensive part of a search at catalog scale, and the counts
// move slowly, so they are reused for a while: a fresh entry (younger than
// ttl) is served as is; an older one is served while one background
// refresh recounts it; one older than staleFactor times ttl is recounted
// before answering. Errors are not kept. At most maxKeys filter sets are
// kept (the oldest is dropped).
type facetCache struct {
	ttl     time.Duration
	maxKeys int
	now     func() time.Time
	mu      sync.Mutex
	m       map[string]*facetEntry
	order   []string
}

type facetEntry struct {
	ready      chan struct{} // closed when facets/err are set
	at         time.Time
	facets     *catalog.Facets
	err        error
	refreshing bool
}

const staleFactor = 10

func newFacetCache(ttl time.Duration, now func() time.Time) *facetCache {
	return &facetCache{ttl: ttl, maxKeys: 1024, now: now, m: map[string]*facetEntry{}}
}

// facetKey is the filter set of q, and what its caller may see:
// everything but paging, facet options and the clock.
func facetKey(q catalog.Query) string {
	vis := q.Visibility.Key()
	q.Cursor, q.Limit, q.Facets, q.FacetLimit, q.Now, q.Visibility = "", 0, false, 0, time.Time{}, nil
	b, _ := json.Marshal(q)
	return vis + "\x00" + string(b)
}

// get returns the facet counts of q, computing them with count when they
// are missing or too old.
func (c *facetCache) get(ctx context.Context, q catalog.Query, count func(ctx context.Context) (*catalog.Facets, error)) (*catalog.Facets, error) {
	if c.ttl <= 0 {
		return count(ctx)
	}
	key := facetKey(q)
	c.mu.Lock()
	e, ok := c.m[key]
	now := c.now()
	switch {
	case ok && e.facets != nil && now.Sub(e.at) > staleFactor*c.ttl:
		ok = false // too old to serve: count again before answering
	case ok && e.facets != nil && now.Sub(e.at) > c.ttl && !e.refreshing:
		e.refreshing = true
		go c.refresh(key, count)
	}
	if !ok {
		e = &facetEntry{ready: make(chan struct{})}
		c.put(key, e)
		c.mu.Unlock()
		// The count outlives a cancelled request: others may wait on it.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		f, err := count(cctx)
		cancel()
		c.mu.Lock()
		e.facets, e.err, e.at = f, err, c.now()
		if err != nil && c.m[key] == e {
			c.drop(key)
		}
		close(e.ready)
		c.mu.Unlock()
		return f, err
	}
	if e.facets != nil {
		// Ready: serve what it holds now; a background recount may replace
		// it before this call returns.
		f := e.facets
		c.mu.Unlock()
		return f, nil
	}
	c.mu.Unlock()
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return e.facets, e.err
}

// refresh recounts key in the background and replaces its entry.
func (c *facetCache) refresh(key string, count func(ctx context.Context) (*catalog.Facets, error)) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	f, err := count(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return
	}
	e.refreshing = false
	if err == nil {
		e.facets, e.at = f, c.now()
	}
}

// put adds an entry, dropping the oldest beyond maxKeys. Call with mu held.
func (c *facetCache) put(key string, e *facetEntry) {
	if _, ok := c.m[key]; !ok {
		c.order = append(c.order, key)
	}
	c.m[key] = e
	for len(c.order) > c.maxKeys {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
}

// drop removes key. Call with mu held.
func (c *facetCache) drop(key string) {
	delete(c.m, key)
	for i, k := range c.order {
		if k == key {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
}

// searchWithFacets runs q over st (what the caller sees) for its page
// (fresh) and takes the facet counts from the cache, where counts are
// kept per filter set and per visibility: callers who see different
// entries never share counts.
func (h *Handler) searchWithFacets(ctx context.Context, st *catalog.View, q catalog.Query) (*catalog.Result, error) {
	q.Visibility = st.Visibility()
	if h.facets.ttl <= 0 {
		q.Facets = true
		return st.Search(ctx, q)
	}
	q.Facets = false
	res, err := st.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	f, err := h.facets.get(ctx, q, func(ctx context.Context) (*catalog.Facets, error) {
		fq := q
		fq.Cursor, fq.Limit, fq.Facets, fq.Now = "", 1, true, h.now()
		r, err := st.Search(ctx, fq)
		if err != nil {
			return nil, err
		}
		return r.Facets, nil
	})
	if err != nil {
		return nil, err
	}
	res.Facets = f
	return res, nil
}
