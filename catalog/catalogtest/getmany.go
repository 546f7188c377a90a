package catalogtest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
)

// testGetMany checks catalog.GetMany on the store (its own GetMany when it
// is a catalog.BatchGetter): the entries in the order asked, nil for
// missing ones, each as Get returns it, never stale after a Put or a
// Delete, and through a View as the View's Get answers.
func testGetMany(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	entries := Corpus(CorpusOptions{Seed: 6, Entries: 40})
	putAll(t, s, entries)
	require.NoError(t, s.Delete(ctx, entries[5].Repository, entries[5].Digest))
	refs := []catalog.EntryRef{
		{Repository: entries[3].Repository, Digest: entries[3].Digest},
		{Repository: entries[0].Repository, Digest: Digest("nope")},
		{Repository: entries[5].Repository, Digest: entries[5].Digest}, // deleted
		{Repository: "registry.corp/golden/none", Digest: entries[1].Digest},
		{Repository: entries[1].Repository, Digest: entries[1].Digest},
		{Repository: entries[3].Repository, Digest: entries[3].Digest}, // twice
		{Repository: "bad\xff\x00", Digest: "sha256:\x00"},
	}
	for _, e := range entries[6:] {
		refs = append(refs, catalog.EntryRef{Repository: e.Repository, Digest: e.Digest})
	}
	check := func(name string, s catalog.Store, refs []catalog.EntryRef) {
		t.Helper()
		got, err := catalog.GetMany(ctx, s, refs)
		require.NoError(t, err, name)
		require.Len(t, got, len(refs), "%s: one result per ref", name)
		for i, r := range refs {
			want, err := s.Get(ctx, r.Repository, r.Digest)
			if err != nil {
				assert.ErrorIs(t, err, catalog.ErrNotFound, "%s: Get %s@%s", name, r.Repository, r.Digest)
				assert.Nil(t, got[i], "%s: ref %d (%s@%s) is missing: want nil", name, i, r.Repository, r.Digest)
				continue
			}
			if assert.NotNil(t, got[i], "%s: ref %d (%s@%s)", name, i, r.Repository, r.Digest) {
				assert.Equal(t, string(mustMarshal(t, want)), string(mustMarshal(t, got[i])), "%s: ref %d as Get returns it", name, i)
			}
		}
	}
	check("cold", s, refs)
	check("again", s, refs) // served from a store's cache, if it has one
	got, err := catalog.GetMany(ctx, s, nil)
	require.NoError(t, err)
	assert.Empty(t, got, "no refs")

	// A change is seen at once, by this store's cache too.
	changed := entries[1].Clone()
	changed.Owner = "team-changed"
	require.NoError(t, s.Put(ctx, changed))
	require.NoError(t, s.Delete(ctx, entries[3].Repository, entries[3].Digest))
	got, err = catalog.GetMany(ctx, s, refs)
	require.NoError(t, err)
	if assert.NotNil(t, got[4]) {
		assert.Equal(t, "team-changed", got[4].Owner, "GetMany after a Put returns a stale entry")
	}
	assert.Nil(t, got[0], "GetMany after a Delete returns the deleted entry")
	assert.Nil(t, got[5], "GetMany after a Delete returns the deleted entry")
	check("after changes", s, refs)

	// Many refs at once.
	var many []catalog.EntryRef
	for len(many) < 1200 {
		many = append(many, refs...)
	}
	check("1,200 refs", s, many)

	// Through views: hidden entries are nil, visible ones carry their
	// access, as the view's Get answers.
	policy, err := catalog.NewAccessPolicy(AccessRules())
	require.NoError(t, err)
	for name, v := range map[string]*catalog.Visibility{"outsider": policy.For(), "pay": policy.For("pay"), "inside": nil} {
		check("view "+name, catalog.NewView(s, v), refs)
	}
}
