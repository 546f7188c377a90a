package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
	"github.com/cssc-go/cssc/internal/pgtest"
)

func TestQueueConformance(t *testing.T) {
	dsns := map[*testing.T]string{}
	catalogtest.RunQueue(t, func(t *testing.T) catalogtest.QueueStore {
		// A second call in the same subtest opens a second store (its own
		// pool) on the same database, as a second instance would.
		dsn, ok := dsns[t]
		if !ok {
			dsn = pgtest.New(t)
			dsns[t] = dsn
		}
		return open(t, dsn)
	})
}

// TestMigrateQueueClaims: a queue written under the schema before
// migration 0110 (leases in the claim index's predicate) keeps every job
// and its state through the migration, and claims go on from where they
// were: pending jobs and expired leases are claimed, a live lease, done,
// failed and cancelled jobs are not.
func TestMigrateQueueClaims(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.New(t)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `CREATE TABLE cssc_schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`)
	require.NoError(t, err)
	files, err := filepath.Glob("migrations/*.sql")
	require.NoError(t, err)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".sql")
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		require.NoError(t, err)
		if v == 110 {
			continue // what this test migrates
		}
		sql, err := os.ReadFile(f)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, string(sql))
		require.NoError(t, err, "migration %s", name)
		_, err = conn.Exec(ctx, "INSERT INTO cssc_schema_migrations (version, name) VALUES ($1, $2)", v, name)
		require.NoError(t, err)
	}
	_, err = conn.Exec(ctx, `INSERT INTO cssc_jobs (kind, key, grp, priority, payload, state, ready_at, attempts, owner, finished, outcome) VALUES
		('k', 'pending', 'g', 1, '', 0, now() - interval '1 minute', 0, '', NULL, ''),
		('k', 'expired', 'g', 2, '', 1, now() - interval '1 second', 1, 'dead', NULL, ''),
		('k', 'live', 'g', 3, '', 1, now() + interval '1 hour', 1, 'alive', NULL, ''),
		('k', 'done', 'g', 4, '', 2, now() - interval '1 hour', 1, 'w', now(), 'ok'),
		('k', 'failed', 'g', 5, '', 3, now() - interval '1 hour', 1, 'w', now(), ''),
		('k', 'cancelled', 'g', 6, '', 4, now() - interval '1 hour', 0, '', now(), '')`)
	require.NoError(t, err)

	s := open(t, dsn)
	var def string
	require.NoError(t, conn.QueryRow(ctx, "SELECT indexdef FROM pg_indexes WHERE indexname = 'cssc_jobs_claim'").Scan(&def))
	assert.Contains(t, def, "WHERE (finished IS NULL)", "claim index after the migration")
	st, err := s.Status(ctx, "g")
	require.NoError(t, err)
	assert.Equal(t, &catalog.GroupStatus{Pending: 2, Leased: 1, Done: 1, Failed: 1, Cancelled: 1, Outcomes: map[string]int{"ok": 1}},
		&catalog.GroupStatus{Pending: st.Pending, Leased: st.Leased, Done: st.Done, Failed: st.Failed, Cancelled: st.Cancelled, Outcomes: st.Outcomes},
		"status after the migration")
	js, err := s.Claim(ctx, catalog.ClaimRequest{Owner: "new", Kinds: []string{"k"}, Max: 10})
	require.NoError(t, err)
	var keys []string
	for _, j := range js {
		keys = append(keys, j.Key)
	}
	assert.Equal(t, []string{"expired", "pending"}, keys, "claimed after the migration, by priority")
	require.Len(t, js, 2)
	assert.Equal(t, 2, js[0].Attempts, "the expired lease's job is claimed a second time")
	require.NoError(t, s.Complete(ctx, catalog.Completion{Job: js[0]}, catalog.Completion{Job: js[1]}))
	cancelled, err := s.Cancel(ctx, "k")
	require.NoError(t, err)
	require.Len(t, cancelled, 1)
	assert.Equal(t, "live", cancelled[0].Key, "only the live lease is left to cancel")
}
