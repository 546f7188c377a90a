package inflight_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/internal/inflight"
)

// extender records the leases it is asked to extend and reports the
// lease of job lost as lost.
type extender struct {
	lost int64

	mu    sync.Mutex
	calls map[time.Duration][]int64
	seen  chan struct{} // closed once both leases were extended
}

func (e *extender) Extend(_ context.Context, d time.Duration, jobs ...catalog.Job) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, j := range jobs {
		if !slices.Contains(e.calls[d], j.ID) {
			e.calls[d] = append(e.calls[d], j.ID)
		}
	}
	if len(e.calls) == 2 && e.seen != nil {
		close(e.seen)
		e.seen = nil
	}
	for _, j := range jobs {
		if j.ID == e.lost {
			return &catalog.LeaseLostError{IDs: []int64{j.ID}}
		}
	}
	return nil
}

func TestRenewExtendsByLeaseAndCancelsLostJobs(t *testing.T) {
	ctx := t.Context()
	ext := &extender{lost: 1, calls: map[time.Duration][]int64{}, seen: make(chan struct{})}
	seen := ext.seen
	active := inflight.New(ext, slog.New(slog.DiscardHandler), "test")
	slots := make(chan struct{}, 2)

	ended := make(chan int64, 2)
	release := make(chan struct{})
	run := func(ctx context.Context, j catalog.Job) {
		select {
		case <-ctx.Done():
		case <-release:
		}
		ended <- j.ID
	}
	active.Start(ctx, catalog.Job{ID: 1, Key: "lost"}, time.Minute, slots, run)
	active.Start(ctx, catalog.Job{ID: 2, Key: "kept"}, time.Hour, slots, run)
	require.Equal(t, 2, active.Len(), "jobs in flight after two starts")
	require.Len(t, slots, 2, "slots taken after two starts")

	renewCtx, stopRenew := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		active.Renew(renewCtx, time.Millisecond)
	}()

	assert.Equal(t, int64(1), <-ended, "the job whose lease was lost ends first")
	<-seen
	stopRenew()
	<-renewed
	close(release)
	assert.Equal(t, int64(2), <-ended, "the other job runs until released")
	active.Wait()

	assert.Equal(t, 0, active.Len(), "jobs in flight after Wait")
	assert.Empty(t, slots, "slots taken after Wait")
	ext.mu.Lock()
	defer ext.mu.Unlock()
	assert.Equal(t, map[time.Duration][]int64{time.Minute: {1}, time.Hour: {2}}, ext.calls, "jobs extended by lease length")
}
