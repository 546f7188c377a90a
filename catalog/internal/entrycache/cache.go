// Package entrycache keeps recently read catalog entries decoded, for the
// stores' Get. Decoding an entry of a few hundred packages from its JSON
// takes a few hundred microseconds, and pages that show the findings or
// packages of 50 images read 50 entries. A cached entry is only used when
// the store's change feed says the entry did not change since it was
// cached: the store reads, in the query that would read the entry, the
// number of the entry's last change, and the entry's bytes only when that
// number differs from the cached one.
package entrycache

import (
	"container/list"
	"sync"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/internal/entrycodec"
)

// Cache is a least-recently-used set of decoded entries by key, each with
// the store id and the number of the last change of the entry it was
// read at. The zero Cache and a nil *Cache keep nothing. Safe for
// concurrent use.
type Cache struct {
	mu  sync.Mutex
	max int
	m   map[string]*list.Element
	lru list.List // of *item, most recent first
}

type item struct {
	key     string
	id, seq int64
	e       *catalog.Entry
}

// New returns a cache of at most max entries; nil (no cache) if max <= 0.
func New(max int) *Cache {
	if max <= 0 {
		return nil
	}
	return &Cache{max: max, m: map[string]*list.Element{}}
}

// Version returns the store id and change number the entry with key was
// cached at, and false if it is not cached.
func (c *Cache) Version(key string) (id, seq int64, ok bool) {
	if c == nil {
		return 0, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[key]
	if !ok {
		return 0, 0, false
	}
	it := el.Value.(*item)
	return it.id, it.seq, true
}

// Get returns a copy of the entry with key if it is cached at store id
// and change number seq, else nil.
func (c *Cache) Get(key string, id, seq int64) *catalog.Entry {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	el, ok := c.m[key]
	if !ok || el.Value.(*item).id != id || el.Value.(*item).seq != seq {
		c.mu.Unlock()
		return nil
	}
	c.lru.MoveToFront(el)
	e := el.Value.(*item).e
	c.mu.Unlock()
	return e.Clone()
}

// Put caches e (which the caller no longer changes) as the entry with key
// at store id and change number seq.
func (c *Cache) Put(key string, id, seq int64, e *catalog.Entry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		it := el.Value.(*item)
		it.id, it.seq, it.e = id, seq, e
		c.lru.MoveToFront(el)
		return
	}
	c.m[key] = c.lru.PushFront(&item{key: key, id: id, seq: seq, e: e})
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.m, old.Value.(*item).key)
	}
}

// Decode decodes doc, the stored document of the entry with key read at
// store id and change number seq, and caches a copy of the entry.
func (c *Cache) Decode(key string, id, seq int64, doc []byte) (*catalog.Entry, error) {
	e, err := entrycodec.Decode(doc)
	if err != nil {
		return nil, err
	}
	if c != nil {
		c.Put(key, id, seq, e.Clone())
	}
	return e, nil
}

// Load returns the entry with key read at store id and change number seq:
// decoded from doc and cached, or, when doc is nil (the store did not read
// it because the cache had the entry at that change), a copy of the cached
// entry, nil if it was evicted since.
func (c *Cache) Load(key string, id, seq int64, doc []byte) (*catalog.Entry, error) {
	if doc == nil {
		return c.Get(key, id, seq), nil
	}
	return c.Decode(key, id, seq, doc)
}

// Forget drops the entry with key.
func (c *Cache) Forget(key string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		c.lru.Remove(el)
		delete(c.m, key)
	}
}
