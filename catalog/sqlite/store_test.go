package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
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
	_, err = s.RecordTags(ctx, entries[0].Repository, map[string]digest.Digest{"1.0": entries[0].Digest}, catalogtest.Now(), true)
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

// TestTwoStoresOneFile checks that a store sees what another store (as in
// another process) writes to the same file: its in-memory index catches up
// through the changes table.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "catalog.db")
	a, err := sqlite.Open(ctx, file, sqlite.Options{})
	require.NoError(t, err)
	defer a.Close()
	b, err := sqlite.Open(ctx, file, sqlite.Options{})
	require.NoError(t, err)
	defer b.Close()
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 11, Entries: 30})
	require.NoError(t, a.PutAll(ctx, entries[:20]))
	count := func(s *sqlite.Store, q catalog.Query) int {
		res, err := s.Search(ctx, q)
		require.NoError(t, err)
		return res.Total
	}
	require.Equal(t, 20, count(b, catalog.Query{}), "b sees a's writes")
	require.NoError(t, b.PutAll(ctx, entries[20:]))
	require.NoError(t, a.Delete(ctx, entries[0].Repository, entries[0].Digest))
	changed := entries[1].Clone()
	changed.Owner = "moved-team"
	require.NoError(t, a.Put(ctx, changed))
	// Get keeps decoded entries: another store's change is seen at once.
	for _, s := range []*sqlite.Store{a, b} {
		got, err := s.Get(ctx, changed.Repository, changed.Digest)
		require.NoError(t, err)
		require.Equal(t, "moved-team", got.Owner)
		got.Owner = "changed by the caller"
	}
	again := changed.Clone()
	again.Owner = "moved-again"
	require.NoError(t, b.Put(ctx, again))
	got, err := a.Get(ctx, changed.Repository, changed.Digest)
	require.NoError(t, err)
	require.Equal(t, "moved-again", got.Owner, "a's Get after b's Put")
	require.NoError(t, b.Delete(ctx, again.Repository, again.Digest))
	_, err = a.Get(ctx, again.Repository, again.Digest)
	require.ErrorIs(t, err, catalog.ErrNotFound, "a's Get after b's Delete")
	require.NoError(t, b.Put(ctx, changed))
	got, err = a.Get(ctx, changed.Repository, changed.Digest)
	require.NoError(t, err)
	require.Equal(t, "moved-team", got.Owner, "a's Get after b put it back")
	for name, s := range map[string]*sqlite.Store{"a": a, "b": b} {
		require.Equal(t, 29, count(s, catalog.Query{}), "%s: total after writes by both", name)
		require.Equal(t, 1, count(s, catalog.Query{Owner: "moved-team"}), "%s: a replaced entry", name)
		require.Zero(t, count(s, catalog.Query{Digest: entries[0].Digest}), "%s: a deleted entry", name)
	}
}

// TestMigrateOlderSchema opens a database written before search records
// were kept (the first schema, its SQL search tables filled or not): Open
// migrates it, writes every entry's search record from its body, and
// searches find what the reference semantics select.
func TestMigrateOlderSchema(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "catalog.db")
	db, err := sql.Open("sqlite", file)
	require.NoError(t, err)
	schema, err := os.ReadFile("migrations/0001_init.sql")
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, string(schema))
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, `CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied INTEGER NOT NULL);
		INSERT INTO schema_migrations VALUES ('0001_init', 0)`)
	require.NoError(t, err)
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 12, Entries: 40})
	for _, e := range entries {
		body, err := catalog.Marshal(e)
		require.NoError(t, err)
		summary, err := json.Marshal(e.Summary())
		require.NoError(t, err)
		res, err := db.ExecContext(ctx, `INSERT INTO entries (repository, digest, facets) VALUES (?, ?, '{}')`, e.Repository, e.Digest.String())
		require.NoError(t, err)
		id, err := res.LastInsertId()
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, `INSERT INTO bodies (entry_id, body, summary) VALUES (?, ?, ?); INSERT INTO changes (entry_id) VALUES (?)`, id, body, summary, id)
		require.NoError(t, err)
	}
	require.NoError(t, db.Close())

	s, err := sqlite.Open(ctx, file, sqlite.Options{})
	require.NoError(t, err)
	defer s.Close()
	for name, q := range map[string]catalog.Query{
		"all":           {},
		"text":          {Text: catalogtest.PackageName(3)[:5]},
		"vulnerability": {Vulnerability: entries[0].Children[0].Findings[0].ID},
		"package":       {Package: &catalog.PackageQuery{Name: catalogtest.PackageName(7), Range: ">= 1.0.0"}},
		"platform":      {Platform: "linux/arm64"},
	} {
		q.Limit = catalog.MaxLimit
		q, err := q.Validate()
		require.NoError(t, err)
		var want []string
		for _, e := range entries {
			if q.Matches(e) {
				want = append(want, e.Key())
			}
		}
		res, err := s.Search(ctx, q)
		require.NoError(t, err, name)
		var got []string
		for _, sm := range res.Entries {
			got = append(got, sm.Repository+"@"+sm.Digest.String())
		}
		require.ElementsMatch(t, want, got, "%s", name)
		require.Equal(t, len(want), res.Total, "%s: total", name)
	}
	// The records were stored: a reopen reads them, not the bodies.
	var missing int
	raw, err := sql.Open("sqlite", file)
	require.NoError(t, err)
	defer raw.Close()
	require.NoError(t, raw.QueryRowContext(ctx, `SELECT count(*) FROM entries WHERE search IS NULL`).Scan(&missing))
	require.Zero(t, missing, "entries without a search record after Open")
	// The JSON bodies were re-encoded in the binary form, the same entries.
	var left, marked int
	require.NoError(t, raw.QueryRowContext(ctx, `SELECT count(*) FROM bodies WHERE substr(body, 1, 1) = x'7b' OR substr(summary, 1, 1) = x'7b'`).Scan(&left))
	require.Zero(t, left, "bodies or summaries left in JSON after Open")
	require.NoError(t, raw.QueryRowContext(ctx, `SELECT count(*) FROM entries WHERE body_json <> 0`).Scan(&marked))
	require.Zero(t, marked, "entries still marked as JSON after Open")
	for _, e := range entries {
		got, err := s.Get(ctx, e.Repository, e.Digest)
		require.NoError(t, err)
		want, _ := catalog.Marshal(e)
		have, _ := catalog.Marshal(got)
		require.Equal(t, string(want), string(have), "re-encoded %s", e.Key())
	}
}

// TestReadsJSONBodies checks that Get and a new store's index read the
// bodies that a program of an older version writes in JSON (without the
// mark that Open re-encodes by), and that Open re-encodes the marked ones.
func TestReadsJSONBodies(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "catalog.db")
	s, err := sqlite.Open(ctx, file, sqlite.Options{})
	require.NoError(t, err)
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 13, Entries: 30})
	require.NoError(t, s.PutAll(ctx, entries))
	require.NoError(t, s.Close())
	raw, err := sql.Open("sqlite", file)
	require.NoError(t, err)
	defer raw.Close()
	for i, e := range entries {
		body, err := catalog.Marshal(e)
		require.NoError(t, err)
		// Half marked as written before the binary form, half not.
		summary, err := json.Marshal(e.Summary())
		require.NoError(t, err)
		_, err = raw.ExecContext(ctx, `UPDATE bodies SET body = ?, summary = ? WHERE entry_id = (SELECT id FROM entries WHERE repository = ? AND digest = ?)`,
			body, summary, e.Repository, e.Digest.String())
		require.NoError(t, err)
		_, err = raw.ExecContext(ctx, `UPDATE entries SET body_json = ?, search = NULL WHERE repository = ? AND digest = ?`,
			i%2, e.Repository, e.Digest.String())
		require.NoError(t, err)
	}
	s, err = sqlite.Open(ctx, file, sqlite.Options{EntryCache: -1})
	require.NoError(t, err)
	defer s.Close()
	var left, summaries int
	require.NoError(t, raw.QueryRowContext(ctx, `SELECT count(*) FROM bodies WHERE substr(body, 1, 1) = x'7b'`).Scan(&left))
	require.Equal(t, len(entries)/2, left, "JSON bodies left: the unmarked ones")
	require.NoError(t, raw.QueryRowContext(ctx, `SELECT count(*) FROM bodies WHERE substr(summary, 1, 1) = x'7b'`).Scan(&summaries))
	require.Equal(t, len(entries)/2, summaries, "JSON summaries left: the unmarked ones")
	for _, e := range entries {
		got, err := s.Get(ctx, e.Repository, e.Digest)
		require.NoError(t, err)
		want, _ := catalog.Marshal(e)
		have, _ := catalog.Marshal(got)
		require.Equal(t, string(want), string(have), "%s", e.Key())
		res, err := s.Search(ctx, catalog.Query{Digest: e.Digest})
		require.NoError(t, err)
		require.Equal(t, 1, res.Total, "search record rebuilt from the body of %s", e.Key())
		require.Equal(t, e.Summary(), res.Entries[0], "summary of %s", e.Key())
	}
}

// TestGetManySmallCache: with a cache smaller than the refs, GetMany's
// own decoded entries evict the cached ones it planned to use, which it
// then reads again.
func TestGetManySmallCache(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "catalog.db"), sqlite.Options{EntryCache: 2})
	require.NoError(t, err)
	defer s.Close()
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 14, Entries: 20})
	require.NoError(t, s.PutAll(ctx, entries))
	var refs []catalog.EntryRef
	for _, e := range entries {
		refs = append(refs, catalog.EntryRef{Repository: e.Repository, Digest: e.Digest})
	}
	for round := range 3 {
		got, err := s.GetMany(ctx, refs)
		require.NoError(t, err)
		for i, e := range entries {
			want, _ := catalog.Marshal(e)
			have, _ := catalog.Marshal(got[i])
			require.Equal(t, string(want), string(have), "round %d, entry %d", round, i)
		}
	}
}
