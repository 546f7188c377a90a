package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
	"github.com/cssc-go/cssc/catalog/sqlite"
)

func open(t testing.TB) *sqlite.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "catalog.db"), sqlite.Options{})
	require.NoError(t, err)
	return s
}

func TestConformance(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Store { return open(t) })
}

// TestReopen checks that the database is one file that keeps everything
// across Close and Open, and that migrations run once.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "catalog.db")
	s, err := sqlite.Open(ctx, file, sqlite.Options{})
	require.NoError(t, err)
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 9, Entries: 20})
	require.NoError(t, s.PutAll(ctx, entries))
	_, err = s.RecordTags(ctx, entries[0].Repository, map[string]digest.Digest{"1.0": entries[0].Digest}, catalogtest.Now, true)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, err = sqlite.Open(ctx, file, sqlite.Options{})
	require.NoError(t, err)
	defer s.Close()
	for _, e := range entries {
		got, err := s.Get(ctx, e.Repository, e.Digest)
		require.NoError(t, err)
		want, _ := catalog.Marshal(e)
		have, _ := catalog.Marshal(got)
		require.Equal(t, string(want), string(have))
	}
	res, err := s.Search(ctx, catalog.Query{Text: entries[0].Children[0].Packages[0].Name})
	require.NoError(t, err)
	require.NotZero(t, res.Total, "the text index did not survive a reopen")
	tags, err := s.Tags(ctx, entries[0].Repository)
	require.NoError(t, err)
	require.Equal(t, map[string]digest.Digest{"1.0": entries[0].Digest}, tags)
}

func TestOpenRefusesMemory(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		_, err := sqlite.Open(context.Background(), p, sqlite.Options{})
		require.Error(t, err, "Open(%q)", p)
	}
}

// TestPutAllIsAtomic checks that a batch with one invalid entry stores
// nothing.
func TestPutAllIsAtomic(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	defer s.Close()
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 10, Entries: 5})
	bad := entries[4].Clone()
	bad.Status = "zombie"
	require.ErrorIs(t, s.PutAll(ctx, append(entries[:4:4], bad)), catalog.ErrInvalidEntry)
	res, err := s.Search(ctx, catalog.Query{})
	require.NoError(t, err)
	require.Zero(t, res.Total)
}
