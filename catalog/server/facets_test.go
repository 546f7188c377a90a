package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
)

func TestFacetCache(t *testing.T) {
	var mu sync.Mutex
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	c := newFacetCache(time.Minute, now)
	var calls atomic.Int32
	var value atomic.Int32
	count := func(ctx context.Context) (*catalog.Facets, error) {
		calls.Add(1)
		return &catalog.Facets{Status: []catalog.FacetCount{{Value: "active", Count: int(value.Load())}}}, nil
	}
	get := func(q catalog.Query) int {
		f, err := c.get(context.Background(), q, count)
		require.NoError(t, err)
		return f.Status[0].Count
	}
	q := catalog.Query{Status: catalog.StatusActive}
	value.Store(1)
	assert.Equal(t, 1, get(q))
	value.Store(2)
	assert.Equal(t, 1, get(catalog.Query{Status: catalog.StatusActive, Cursor: "x", Limit: 7, Now: clock.Add(time.Hour)}), "paging and the clock share the counts")
	assert.EqualValues(t, 1, calls.Load())
	assert.Equal(t, 2, get(catalog.Query{Status: catalog.StatusRetired}), "another filter set counts on its own")

	advance(2 * time.Minute)
	assert.Equal(t, 1, get(q), "a stale count is served while it is recounted")
	assert.Eventually(t, func() bool { return get(q) == 2 }, 5*time.Second, 10*time.Millisecond, "the background recount lands")

	value.Store(3)
	advance(11 * time.Minute)
	assert.Equal(t, 3, get(q), "a count older than ten times the TTL is recounted before answering")

	// Errors are not kept.
	boom := errors.New("store down")
	_, err := c.get(context.Background(), catalog.Query{Text: "x"}, func(context.Context) (*catalog.Facets, error) { return nil, boom })
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, 3, get(catalog.Query{Text: "x"}), "the next call counts again")

	// Concurrent callers of a missing key share one count.
	calls.Store(0)
	release := make(chan struct{})
	slow := func(ctx context.Context) (*catalog.Facets, error) {
		calls.Add(1)
		<-release
		return &catalog.Facets{}, nil
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := c.get(context.Background(), catalog.Query{Text: "shared"}, slow)
			assert.NoError(t, err)
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	assert.EqualValues(t, 1, calls.Load(), "one count for every waiter")

	// A bounded number of filter sets.
	small := newFacetCache(time.Minute, now)
	small.maxKeys = 3
	for i := range 10 {
		_, err := small.get(context.Background(), catalog.Query{Limit: 0, Text: string(rune('a' + i))}, count)
		require.NoError(t, err)
	}
	assert.Len(t, small.m, 3)
	assert.Len(t, small.order, 3)

	// Disabled: every call counts.
	off := newFacetCache(-1, now)
	calls.Store(0)
	for range 3 {
		_, err := off.get(context.Background(), q, count)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 3, calls.Load())
}
