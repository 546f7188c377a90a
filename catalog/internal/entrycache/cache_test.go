package entrycache

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
)

func TestCache(t *testing.T) {
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 1, Entries: 3})
	c := New(2)
	c.Put("a", 1, 10, entries[0])
	c.Put("b", 2, 20, entries[1])
	got := c.Get("a", 1, 10)
	want, _ := catalog.Marshal(entries[0])
	have, _ := catalog.Marshal(got)
	assert.Equal(t, string(want), string(have), "a cached entry")
	got.Tags = append(got.Tags, "changed by the caller")
	assert.NotContains(t, c.Get("a", 1, 10).Tags, "changed by the caller", "Get returns a copy")
	assert.Nil(t, c.Get("a", 1, 11), "another change number")
	assert.Nil(t, c.Get("a", 2, 10), "another store id")
	c.Put("c", 3, 30, entries[2]) // b is the least recently used
	assert.Nil(t, c.Get("b", 2, 20), "evicted")
	id, seq, ok := c.Version("c")
	assert.True(t, ok)
	assert.Equal(t, [2]int64{3, 30}, [2]int64{id, seq})
	c.Forget("c")
	_, _, ok = c.Version("c")
	assert.False(t, ok)

	var none *Cache = New(0)
	none.Put("a", 1, 1, entries[0])
	assert.Nil(t, none.Get("a", 1, 1))
}

func TestLoad(t *testing.T) {
	e := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 2, Entries: 1})[0]
	doc, err := catalog.Marshal(e)
	require.NoError(t, err)
	c := New(1)
	got, err := c.Load("a", 1, 10, doc)
	require.NoError(t, err)
	have, _ := catalog.Marshal(got)
	assert.Equal(t, string(doc), string(have), "decoded from the document")
	got, err = c.Load("a", 1, 10, nil)
	require.NoError(t, err)
	have, _ = catalog.Marshal(got)
	assert.Equal(t, string(doc), string(have), "no document: the cached entry")
	got, err = c.Load("a", 1, 11, nil)
	require.NoError(t, err)
	assert.Nil(t, got, "no document and not cached at that change: evicted")
	_, err = c.Load("a", 1, 12, []byte("not an entry"))
	assert.Error(t, err)
}
