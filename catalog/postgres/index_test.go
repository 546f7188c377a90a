package postgres_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
	"github.com/cssc-go/cssc/catalog/internal/searchindex"
	"github.com/cssc-go/cssc/catalog/postgres"
	"github.com/cssc-go/cssc/internal/pgtest"
)

// keysOf returns the keys of every match of q, through every page.
func keysOf(t *testing.T, s *postgres.Store, q catalog.Query) []string {
	t.Helper()
	out := []string{}
	q.Limit = catalog.MaxLimit
	for {
		res, err := s.Search(context.Background(), q)
		require.NoError(t, err)
		for _, sm := range res.Entries {
			out = append(out, sm.Repository+"@"+sm.Digest.String())
		}
		if res.Next == "" {
			return out
		}
		q.Cursor = res.Next
	}
}

func wantKeys(entries []*catalog.Entry, q catalog.Query) []string {
	q, _ = q.Validate()
	var matches []*catalog.Entry
	for _, e := range entries {
		if q.Matches(e) {
			matches = append(matches, e)
		}
	}
	slices.SortFunc(matches, func(a, b *catalog.Entry) int {
		return cmp.Or(strings.Compare(a.Repository, b.Repository), strings.Compare(string(a.Digest), string(b.Digest)))
	})
	out := []string{}
	for _, e := range matches {
		out = append(out, e.Key())
	}
	return out
}

// TestInstancesSeeEachOther: several stores over one database (as several
// processes), each writing while the others search concurrently; each
// store's next search after the writes sees every write of every store.
func TestInstancesSeeEachOther(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.New(t)
	stores := make([]*postgres.Store, 4)
	for i := range stores {
		stores[i] = open(t, dsn)
	}
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 31, Entries: 400})
	// Each writer puts its share, replaces some and deletes some; readers
	// search all the while, so that their indexes catch up while numbers
	// are being given out.
	final := make([]*catalog.Entry, len(entries))
	var writers, readers sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 100)
	for w, s := range stores {
		writers.Go(func() {
			for i := w; i < len(entries); i += len(stores) {
				e := entries[i]
				if err := s.Put(ctx, e); err != nil {
					errs <- err
					return
				}
				final[i] = e
				switch i % 10 {
				case 3:
					c := e.Clone()
					c.Owner = fmt.Sprintf("replaced-by-%d", w)
					c.Normalize()
					if err := s.Put(ctx, c); err != nil {
						errs <- err
						return
					}
					final[i] = c
				case 7:
					if err := s.Delete(ctx, e.Repository, e.Digest); err != nil {
						errs <- err
						return
					}
					final[i] = nil
				}
			}
		})
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := s.Search(ctx, catalog.Query{Text: "app", Facets: true}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	writers.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var live []*catalog.Entry
	for _, e := range final {
		if e != nil {
			live = append(live, e)
		}
	}
	for i, s := range stores {
		for name, q := range map[string]catalog.Query{
			"all":      {},
			"replaced": {Owner: "replaced-by-2"},
			"text":     {Text: "pkg01"},
			"cve":      {Vulnerability: "CVE-2024-0042"},
		} {
			assert.Equal(t, wantKeys(live, q), keysOf(t, s, q), "instance %d: %s", i, name)
		}
	}
	// Get keeps decoded entries: each instance sees another's change at
	// once.
	e := live[0]
	for _, s := range stores {
		got, err := s.Get(ctx, e.Repository, e.Digest)
		require.NoError(t, err)
		require.Equal(t, e.Owner, got.Owner)
	}
	changed := e.Clone()
	changed.Owner = "changed-by-0"
	require.NoError(t, stores[0].Put(ctx, changed))
	for i, s := range stores {
		got, err := s.Get(ctx, e.Repository, e.Digest)
		require.NoError(t, err)
		assert.Equal(t, "changed-by-0", got.Owner, "instance %d: Get after another's Put", i)
	}
	require.NoError(t, stores[1].Delete(ctx, e.Repository, e.Digest))
	for i, s := range stores {
		_, err := s.Get(ctx, e.Repository, e.Digest)
		assert.ErrorIs(t, err, catalog.ErrNotFound, "instance %d: Get after another's Delete", i)
	}
	require.NoError(t, stores[2].Put(ctx, e))

	// A store opened now loads the same.
	assert.Equal(t, wantKeys(live, catalog.Query{}), keysOf(t, open(t, dsn), catalog.Query{}), "a new instance")
}

// waitAdvisory waits until n backends wait for an advisory lock.
func waitAdvisory(t *testing.T, conn *pgx.Conn, n int) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		var waiting int
		require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'`).Scan(&waiting))
		if waiting >= n {
			return
		}
		require.Less(t, time.Since(start), time.Minute, "no writer waits for the change lock")
	}
}

// TestChangesCommitInOrder: a change numbered by a transaction still open
// holds back every later change, so that no index reads a later number
// while an earlier one can still commit (sequences alone give numbers out
// of commit order, and an index reading past the open one would skip it
// forever). A rolled-back change leaves a gap that harms nothing.
func TestChangesCommitInOrder(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.New(t)
	writer, reader := open(t, dsn), open(t, dsn)
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 32, Entries: 4})
	require.NoError(t, writer.Put(ctx, entries[0]))
	require.Equal(t, 1, len(keysOf(t, reader, catalog.Query{})))

	// Another writer (by hand, as a Put does) numbers a change for
	// entries[1] and does not commit yet.
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	watch, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer watch.Close(ctx)
	slow, err := conn.Begin(ctx)
	require.NoError(t, err)
	doc, err := catalog.Marshal(entries[1])
	require.NoError(t, err)
	summary, err := json.Marshal(entries[1].Summary())
	require.NoError(t, err)
	var id int64
	require.NoError(t, slow.QueryRow(ctx, `INSERT INTO cssc_entries (repository, digest, search) VALUES ($1, $2, $3) RETURNING id`,
		entries[1].Repository, entries[1].Digest.String(), searchindex.Encode(entries[1])).Scan(&id))
	_, err = slow.Exec(ctx, `INSERT INTO cssc_entry_docs (entry_id, doc, summary) VALUES ($1, $2, $3)`, id, doc, summary)
	require.NoError(t, err)
	_, err = slow.Exec(ctx, `SELECT pg_advisory_xact_lock(x'63737363'::int, 3)`)
	require.NoError(t, err)
	_, err = slow.Exec(ctx, `INSERT INTO cssc_changes (entry_id) VALUES ($1)`, id)
	require.NoError(t, err)

	// A Put and a Delete from the other store wait for it...
	putDone := make(chan error, 2)
	go func() { putDone <- writer.Put(ctx, entries[2]) }()
	go func() { putDone <- writer.Delete(ctx, entries[0].Repository, entries[0].Digest) }()
	waitAdvisory(t, watch, 2)
	// ...so the reader sees none of the three yet.
	assert.Equal(t, []string{entries[0].Key()}, keysOf(t, reader, catalog.Query{}), "before the slow writer commits")
	require.NoError(t, slow.Commit(ctx))
	require.NoError(t, <-putDone)
	require.NoError(t, <-putDone)
	assert.Equal(t, wantKeys(entries[1:3], catalog.Query{}), keysOf(t, reader, catalog.Query{}), "after")

	// A rolled-back change: a gap in the numbers.
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock(x'63737363'::int, 3)`)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `INSERT INTO cssc_changes (entry_id) VALUES ($1)`, id)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	require.NoError(t, writer.Put(ctx, entries[3]))
	assert.Equal(t, wantKeys(entries[1:4], catalog.Query{}), keysOf(t, reader, catalog.Query{}), "after a gap")
}

// TestMigrateOlderSchema: a database of the first schema (search in SQL
// tables) is migrated by Open, every entry gets its search record from
// its document, and searches find what the reference semantics select.
func TestMigrateOlderSchema(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.New(t)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	schema, err := os.ReadFile("migrations/0001_entries.sql")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, string(schema))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE cssc_schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()); INSERT INTO cssc_schema_migrations (version, name) VALUES (1, '0001_entries')`)
	require.NoError(t, err)
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 33, Entries: 40})
	for _, e := range entries {
		doc, err := catalog.Marshal(e)
		require.NoError(t, err)
		summary, err := json.Marshal(e.Summary())
		require.NoError(t, err)
		_, err = conn.Exec(ctx, `WITH e AS (INSERT INTO cssc_entries (repository, digest, status, severity, sev_rank, fixable, trusted,
				owner, platforms, licenses, signers) VALUES ($1, $2, 'active', 'none', 0, false, true, '', '{}', '{}', '{}') RETURNING id)
			INSERT INTO cssc_entry_docs (entry_id, doc, summary) SELECT id, $3, $4 FROM e`, e.Repository, e.Digest.String(), doc, summary)
		require.NoError(t, err)
	}
	s := open(t, dsn)
	var missing int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM cssc_entries WHERE search IS NULL`).Scan(&missing))
	assert.Zero(t, missing, "entries without a search record after Open")
	for name, q := range map[string]catalog.Query{
		"all":           {},
		"text":          {Text: catalogtest.PackageName(3)[:5]},
		"vulnerability": {Vulnerability: entries[0].Children[0].Findings[0].ID},
		"package":       {Package: &catalog.PackageQuery{Name: catalogtest.PackageName(7), Range: ">= 1.0.0"}},
		"platform":      {Platform: "linux/arm64"},
	} {
		assert.Equal(t, wantKeys(entries, q), keysOf(t, s, q), name)
	}
	// The JSON documents were re-encoded in the binary form, the same
	// entries.
	var left, marked int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM cssc_entry_docs WHERE substr(doc, 1, 1) = '\x7b'::bytea
		OR substr(summary, 1, 1) = '\x7b'::bytea`).Scan(&left))
	assert.Zero(t, left, "documents or summaries left in JSON after Open")
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM cssc_entry_docs WHERE json`).Scan(&marked))
	assert.Zero(t, marked, "documents still marked as JSON after Open")
	for _, e := range entries {
		got, err := s.Get(ctx, e.Repository, e.Digest)
		require.NoError(t, err)
		want, _ := catalog.Marshal(e)
		have, _ := catalog.Marshal(got)
		assert.Equal(t, string(want), string(have), "re-encoded %s", e.Key())
	}
}

// TestReadsJSONDocs checks that Get and a new store's index read the
// documents that an instance of an older version writes in JSON (its
// upsert leaves the mark that Open re-encodes by clear), and that Open
// re-encodes the marked ones.
func TestReadsJSONDocs(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.New(t)
	w := open(t, dsn)
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 34, Entries: 30})
	for _, e := range entries {
		require.NoError(t, w.Put(ctx, e))
	}
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for i, e := range entries {
		doc, err := catalog.Marshal(e)
		require.NoError(t, err)
		summary, err := json.Marshal(e.Summary())
		require.NoError(t, err)
		_, err = conn.Exec(ctx, `UPDATE cssc_entry_docs SET doc = $3, summary = $4, json = $5
			WHERE entry_id = (SELECT id FROM cssc_entries WHERE repository = $1 AND digest = $2)`,
			e.Repository, e.Digest.String(), doc, summary, i%2 == 1)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, `UPDATE cssc_entries SET search = NULL WHERE repository = $1 AND digest = $2`, e.Repository, e.Digest.String())
		require.NoError(t, err)
	}
	s, err := postgres.Open(ctx, dsn, postgres.Options{EntryCache: -1})
	require.NoError(t, err)
	defer s.Close()
	var left, summaries int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM cssc_entry_docs WHERE substr(doc, 1, 1) = '\x7b'::bytea`).Scan(&left))
	assert.Equal(t, len(entries)/2, left, "JSON documents left: the unmarked ones")
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM cssc_entry_docs WHERE substr(summary, 1, 1) = '\x7b'::bytea`).Scan(&summaries))
	assert.Equal(t, len(entries)/2, summaries, "JSON summaries left: the unmarked ones")
	for _, e := range entries {
		got, err := s.Get(ctx, e.Repository, e.Digest)
		require.NoError(t, err)
		want, _ := catalog.Marshal(e)
		have, _ := catalog.Marshal(got)
		assert.Equal(t, string(want), string(have), "%s", e.Key())
		res, err := s.Search(ctx, catalog.Query{Digest: e.Digest})
		require.NoError(t, err)
		require.Equal(t, 1, res.Total, "search record rebuilt from the document of %s", e.Key())
		assert.Equal(t, e.Summary(), res.Entries[0], "summary of %s", e.Key())
	}
}
