package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/internal/pgtest"
)

// BenchmarkLeaseClaims measures claims per second: 8 claimers (two
// stores, as two instances) take jobs in batches of 100 (and of 10, as
// the rescanner and the tracker do with a few free slots) with FOR UPDATE
// SKIP LOCKED and complete them in batches, until 100,000 jobs are done.
// Outside the timer it checks that the claims were real: every job of the
// run was handed out exactly once, and the table says each is done after
// exactly one attempt.
func BenchmarkLeaseClaims(b *testing.B) {
	for _, batch := range []int{100, 10} {
		b.Run(fmt.Sprint("batch=", batch), func(b *testing.B) { benchmarkLeaseClaims(b, batch) })
	}
}

func benchmarkLeaseClaims(b *testing.B, batch int) {
	const jobs, claimers = 100_000, 8
	ctx := context.Background()
	dsn := pgtest.New(b)
	stores := []catalog.Queue{open(b, dsn), open(b, dsn)}
	admin, err := pgx.Connect(ctx, dsn)
	require.NoError(b, err)
	defer admin.Close(ctx)
	for b.Loop() {
		b.StopTimer()
		group := fmt.Sprint("bench-", time.Now().UnixNano())
		var js []catalog.Job
		for i := range jobs {
			js = append(js, catalog.Job{Kind: "bench", Key: fmt.Sprintf("%s/%d", group, i), Group: group, Priority: i % 3})
			if len(js) == 5000 {
				_, err := stores[0].Enqueue(ctx, js...)
				require.NoError(b, err)
				js = js[:0]
			}
		}
		b.StartTimer()
		start := time.Now()
		var claimed atomic.Int64
		var claimTime atomic.Int64
		var wg sync.WaitGroup
		seen := make([][]int64, claimers)
		for w := range claimers {
			q := stores[w%len(stores)]
			wg.Go(func() {
				for {
					t0 := time.Now()
					got, err := q.Claim(ctx, catalog.ClaimRequest{Owner: fmt.Sprint("w", w), Kinds: []string{"bench"}, Max: batch})
					claimTime.Add(int64(time.Since(t0)))
					if err != nil {
						b.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					claimed.Add(int64(len(got)))
					done := make([]catalog.Completion, len(got))
					for i, j := range got {
						done[i] = catalog.Completion{Job: j, Outcome: "ok"}
						seen[w] = append(seen[w], j.ID)
					}
					if err := q.Complete(ctx, done...); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		el := time.Since(start)
		b.StopTimer()
		require.EqualValues(b, jobs, claimed.Load(), "every job claimed once")
		ids := map[int64]bool{}
		for _, w := range seen {
			for _, id := range w {
				require.False(b, ids[id], "job %d handed out twice", id)
				ids[id] = true
			}
		}
		var n, once, lo, hi int64
		require.NoError(b, admin.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state = 2 AND attempts = 1 AND outcome = 'ok'),
			min(id), max(id) FROM cssc_jobs WHERE grp = $1`, group).Scan(&n, &once, &lo, &hi))
		require.EqualValues(b, jobs, n, "jobs in the table")
		require.EqualValues(b, jobs, once, "jobs done after exactly one claim")
		require.Len(b, ids, jobs, "distinct jobs handed out")
		for id := range ids {
			require.True(b, id >= lo && id <= hi, "job %d is not of this run", id)
		}
		b.StartTimer()
		b.ReportMetric(float64(jobs)/el.Seconds(), "claims+completes/s")
		b.ReportMetric(float64(jobs)/(time.Duration(claimTime.Load())/claimers).Seconds(), "claims/s")
	}
}
