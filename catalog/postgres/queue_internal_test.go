package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/internal/pgtest"
)

func openInternal(t *testing.T) (*Store, *pgx.Conn) {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.New(t)
	s, err := Open(ctx, dsn, Options{})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(ctx) })
	return s, conn
}

func enqueueN(t *testing.T, s *Store, kind, prefix string, n int) {
	t.Helper()
	var js []catalog.Job
	for i := range n {
		js = append(js, catalog.Job{Kind: kind, Key: fmt.Sprintf("%s-%d", prefix, i), Group: "g", Priority: i % 3})
	}
	added, err := s.Enqueue(context.Background(), js...)
	require.NoError(t, err)
	require.Equal(t, n, added)
}

// planNodes returns the nodes of an EXPLAIN (FORMAT JSON) plan, depth
// first.
func planNodes(t *testing.T, doc []byte) []map[string]any {
	t.Helper()
	var plans []struct {
		Plan map[string]any `json:"Plan"`
	}
	require.NoError(t, json.Unmarshal(doc, &plans), "plan: %s", doc)
	require.Len(t, plans, 1)
	var out []map[string]any
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		out = append(out, n)
		subs, _ := n["Plans"].([]any)
		for _, sub := range subs {
			walk(sub.(map[string]any))
		}
	}
	walk(plans[0].Plan)
	return out
}

// TestClaimPlan: a claim reads the claim index in order and sorts nothing
// (beyond the few jobs of several kinds), even when the statistics are
// stale: 100,000 jobs enqueued in a table never analyzed.
func TestClaimPlan(t *testing.T) {
	if testing.Short() {
		t.Skip("enqueues 100,000 jobs")
	}
	ctx := context.Background()
	s, conn := openInternal(t)
	// The table was never analyzed: the planner expects one row. With
	// this many, it would read them all and sort them if it could.
	enqueueN(t, s, "k", "k", 100_000)
	enqueueN(t, s, "other", "other", 1000)

	for name, c := range map[string]struct {
		sql     string
		kinds   any
		maxSort float64 // rows a Sort node may see
	}{
		"one kind":   {claimOneSQL, "k", 0},
		"many kinds": {claimManySQL, []string{"k", "other"}, 200},
	} {
		t.Run(name, func(t *testing.T) {
			tx, err := conn.Begin(ctx)
			require.NoError(t, err)
			defer tx.Rollback(ctx)
			_, err = tx.Exec(ctx, claimSettings)
			require.NoError(t, err)
			var doc []byte
			require.NoError(t, tx.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+c.sql, c.kinds, 100, "w", int64(60e6)).Scan(&doc))
			claimIndex := false
			for _, n := range planNodes(t, doc) {
				typ, _ := n["Node Type"].(string)
				rel, _ := n["Relation Name"].(string)
				switch {
				case typ == "Index Scan" && n["Index Name"] == "cssc_jobs_claim":
					claimIndex = true
				case typ == "Sort":
					rows, _ := n["Actual Rows"].(float64)
					assert.LessOrEqual(t, rows, c.maxSort, "a claim sorts %v rows: %s", rows, doc)
				case rel == "cssc_jobs" && typ != "Index Scan" && typ != "ModifyTable":
					t.Errorf("a claim reads cssc_jobs with a %s: %s", typ, doc)
				}
			}
			assert.True(t, claimIndex, "a claim reads the claim index: %s", doc)
			assert.NotContains(t, string(doc), `"JIT"`, "a claim is not compiled (JIT): %s", doc)
		})
	}
}

// TestClaimIsHeapOnly: a claim writes the leased row as a heap-only tuple
// and an extension too, so neither adds an entry to any index: pageinspect
// shows the new row versions as heap-only, and every index of the table
// holds one entry per job.
func TestClaimIsHeapOnly(t *testing.T) {
	ctx := context.Background()
	s, conn := openInternal(t)
	_, err := conn.Exec(ctx, "CREATE EXTENSION pageinspect")
	require.NoError(t, err)
	enqueueN(t, s, "k", "j", 20)
	js, err := s.Claim(ctx, catalog.ClaimRequest{Owner: "w", Kinds: []string{"k"}, Max: 10})
	require.NoError(t, err)
	require.Len(t, js, 10)
	var heapOnly int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM generate_series(0, pg_relation_size('cssc_jobs') / 8192 - 1) AS p,
		heap_page_items(get_raw_page('cssc_jobs', p::int)) WHERE t_infomask2 & 32768 <> 0`).Scan(&heapOnly)) // HEAP_ONLY_TUPLE
	assert.Equal(t, 10, heapOnly, "heap-only row versions after claiming 10 jobs")
	entries := func() map[string]int {
		rows, err := conn.Query(ctx, `SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'cssc_jobs'::regclass`)
		require.NoError(t, err)
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		out := map[string]int{}
		for _, name := range names {
			var n int
			// 20 entries fit in the root leaf, block 1 (block 0 is the
			// metapage).
			require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM bt_page_items($1, 1)", name).Scan(&n))
			out[name] = n
		}
		return out
	}
	want := map[string]int{"cssc_jobs_pkey": 20, "cssc_jobs_key_key": 20, "cssc_jobs_claim": 20, "cssc_jobs_group": 20}
	assert.Equal(t, want, entries(), "index entries after claiming 10 of 20 jobs")
	require.NoError(t, s.Extend(ctx, time.Hour, js...))
	assert.Equal(t, want, entries(), "index entries after extending their leases")
}
