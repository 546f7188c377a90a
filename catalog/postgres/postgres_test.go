package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
	"github.com/cssc-go/cssc/catalog/postgres"
	"github.com/cssc-go/cssc/internal/pgtest"
)

// TestMain starts one PostgreSQL server for the package, with room in
// shared buffers for the benchmarks' 100,000 entries.
func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, pgtest.Options{Settings: map[string]string{"shared_buffers": "256MB"}}))
}

func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	require.NoError(t, err, "open %s", dsn)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Store { return open(t, pgtest.New(t)) })
}

// TestMigrateConcurrently starts several instances on one empty database
// at once: the schema is applied once, and every instance works.
func TestMigrateConcurrently(t *testing.T) {
	dsn := pgtest.New(t)
	ctx := context.Background()
	stores := make([]*postgres.Store, 6)
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(ctx, dsn, postgres.Options{}) })
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "instance %d", i)
		defer stores[i].Close()
	}
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n, v int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*), max(version) FROM cssc_schema_migrations").Scan(&n, &v))
	assert.Equal(t, postgres.SchemaVersion(), v, "schema version")
	files, err := filepath.Glob("migrations/*.sql")
	require.NoError(t, err)
	assert.Equal(t, len(files), n, "each migration recorded once")

	// What one instance writes, another reads.
	e := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 3, Entries: 1})[0]
	require.NoError(t, stores[0].Put(ctx, e))
	got, err := stores[5].Get(ctx, e.Repository, e.Digest)
	require.NoError(t, err)
	want, _ := catalog.Marshal(e)
	have, _ := catalog.Marshal(got)
	assert.Equal(t, string(want), string(have))

	// Reopening migrates nothing.
	s := open(t, dsn)
	require.NotNil(t, s)
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM cssc_schema_migrations").Scan(&n))
	assert.Equal(t, len(files), n, "a reopen applied migrations again")
}

// TestNewerSchemaRefused: an instance does not run against a database that
// a newer version migrated.
func TestNewerSchemaRefused(t *testing.T) {
	dsn := pgtest.New(t)
	ctx := context.Background()
	open(t, dsn).Close()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "INSERT INTO cssc_schema_migrations (version, name) VALUES (9999, '9999_future')")
	require.NoError(t, err)
	_, err = postgres.Open(ctx, dsn, postgres.Options{})
	assert.ErrorContains(t, err, "newer", "a newer schema must be refused")
}

// TestUnusualText: values PostgreSQL text cannot hold (NUL), LIKE
// wildcards and case folding beyond ASCII still behave as the reference
// semantics say.
func TestUnusualText(t *testing.T) {
	ctx := context.Background()
	s := open(t, pgtest.New(t))
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 9, Entries: 6})
	entries[0].Labels = map[string]string{"note": "a\x00b", "under_score": "100%"}
	entries[0].Owner = "team\x00x"
	entries[1].Labels = map[string]string{"underXscore": "100x"}
	long := strings.Repeat("x", 5000)
	entries[3].Labels = map[string]string{"long": long}
	entries[3].Tags = append(entries[3].Tags, "t"+long[:100])
	entries[3].Children[0].Packages = append(entries[3].Children[0].Packages, catalog.Package{Name: "p" + long, Version: "1.0.0", Ecosystem: "Go", Licenses: []string{"L" + long}})
	entries[2].Children[0].Findings = append(entries[2].Children[0].Findings, catalog.Finding{ID: "CVE-2024-\u212a", Severity: catalog.SeverityLow})
	for _, e := range entries {
		e.Normalize()
		require.NoError(t, s.Put(ctx, e))
		got, err := s.Get(ctx, e.Repository, e.Digest)
		require.NoError(t, err)
		want, _ := catalog.Marshal(e)
		have, _ := catalog.Marshal(got)
		assert.Equal(t, string(want), string(have), "entry %s", e.Key())
	}
	for name, q := range map[string]catalog.Query{
		"underscore is not a wildcard": {Text: "under_score"},
		"percent is not a wildcard":    {Text: "100%"},
		"nul label":                    {Label: "note=a\x00b"},
		"nul owner":                    {Owner: "team\x00x"},
		"kelvin sign folds to k":       {Vulnerability: "cve-2024-k"},
		"not utf-8 owner":              {Owner: "\xff"},
		"not utf-8 package":            {Package: &catalog.PackageQuery{Name: "\xff"}},
		"long label":                   {Label: "long=" + long},
		"long licence":                 {License: "L" + long},
		"long package":                 {Package: &catalog.PackageQuery{Name: "p" + long, Range: "< 2"}},
		"long term":                    {Text: long[:400]},
		"not utf-8 repository":         {Repository: "\xff/"},
	} {
		q.Now = catalogtest.Now()
		vq, err := q.Validate()
		require.NoError(t, err)
		var want []string
		for _, e := range matching(entries, vq) {
			want = append(want, e.Key())
		}
		q.Facets = true
		res, err := s.Search(ctx, q)
		require.NoError(t, err, name)
		assert.Equal(t, catalog.CountFacets(matching(entries, vq), q.Now, 20), res.Facets, "%s: facets", name)
		var got []string
		for _, x := range res.Entries {
			got = append(got, x.Repository+"@"+x.Digest.String())
		}
		assert.ElementsMatch(t, want, got, "%s: got %v, want %v", name, got, want)
	}
}

func matching(entries []*catalog.Entry, q catalog.Query) []*catalog.Entry {
	var out []*catalog.Entry
	for _, e := range entries {
		if q.Matches(e) {
			out = append(out, e)
		}
	}
	return out
}

func TestLongRepositoryRefused(t *testing.T) {
	s := open(t, pgtest.New(t))
	e := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 4, Entries: 1})[0]
	e.Repository = "registry.corp/" + strings.Repeat("r", postgres.MaxRepositoryBytes)
	assert.ErrorIs(t, s.Put(context.Background(), e), catalog.ErrInvalidEntry)
	_, err := s.Get(context.Background(), e.Repository, e.Digest)
	assert.ErrorIs(t, err, catalog.ErrNotFound)
	_, err = s.Get(context.Background(), "bad\x00repo", e.Digest)
	assert.ErrorIs(t, err, catalog.ErrNotFound)
}

// TestGetManySmallCache: with a cache smaller than the refs, GetMany's
// own decoded entries evict the cached ones it planned to use, which it
// then reads again.
func TestGetManySmallCache(t *testing.T) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.New(t), postgres.Options{EntryCache: 2})
	require.NoError(t, err)
	defer s.Close()
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 14, Entries: 20})
	var refs []catalog.EntryRef
	for _, e := range entries {
		require.NoError(t, s.Put(ctx, e))
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
