package upstream_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/upstream"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// watched is a source registry with tags tracked by a tracker whose
// acquirer must never be called: for the tests of checks alone.
type watched struct {
	t       *testing.T
	ctx     context.Context
	src     *registrytest.Registry
	count   *counter
	st      stores
	clock   *clock
	tracker *upstream.Tracker
	keys    []catalog.TrackKey
}

// newWatched pushes one image under n tags of library/app and tracks
// each, current.
func newWatched(t *testing.T, st stores, n int, tune ...func(*upstream.Options)) *watched {
	t.Helper()
	w := &watched{t: t, ctx: context.Background(), count: newCounter(), st: st, clock: &clock{t: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}}
	w.src = registrytest.Start(t, registrytest.OCI, registrytest.Options{Middleware: w.count.middleware})
	repo := w.src.Repository(t, "library/app")
	d, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "app", Data: []byte("app")})}}.Push(w.ctx, repo)
	require.NoError(t, err)
	for i := range n {
		tag := fmt.Sprintf("1.%d", i)
		require.NoError(t, repo.Tag(w.ctx, d, tag))
		tr := &catalog.Track{Golden: "registry.corp/golden/library/app", Tag: tag, Source: w.src.Location("library/app") + ":" + tag,
			SourceDigest: d.Digest, GoldenDigest: d.Digest, Observed: d.Digest, State: catalog.TrackCurrent, Since: w.clock.Now()}
		require.NoError(t, st.tracks.PutTrack(w.ctx, tr))
		w.keys = append(w.keys, tr.Key())
	}
	w.tracker = w.newTracker(st, tune...)
	w.count.take()
	return w
}

func (w *watched) newTracker(st stores, tune ...func(*upstream.Options)) *upstream.Tracker {
	o := upstream.Options{
		Tracks: st.tracks, Queue: st.queue, Coordinator: st.coord, Sweeps: st.sweeps,
		Registry: registry.Options{PlainHTTP: []string{w.src.Host}},
		Acquirer: upstream.AcquirerFunc(func(context.Context, upstream.Request) (*upstream.Result, error) {
			w.t.Error("an unchanged tag was acquired")
			return &upstream.Result{Outcome: upstream.OutcomeError}, nil
		}),
		Interval: -1, Poll: 10 * time.Millisecond, Now: w.clock.Now, HeadConcurrency: 1, Concurrency: 1, MaxWait: 10 * time.Millisecond,
	}
	for _, fn := range tune {
		fn(&o)
	}
	tr, err := upstream.New(o)
	require.NoError(w.t, err)
	return tr
}

func (w *watched) sweep() *catalog.Sweep {
	w.t.Helper()
	sw, err := w.tracker.Sweep(w.ctx)
	require.NoError(w.t, err)
	require.NoError(w.t, w.tracker.Drain(w.ctx))
	got, err := w.st.sweeps.Sweep(w.ctx, sw.ID)
	require.NoError(w.t, err)
	return got
}

func memoryStores() stores {
	m, q := catalog.NewMemoryStore(), catalog.NewMemoryQueue()
	return stores{m, m, q, q, q}
}

// checked counts the tracks checked at the clock's time.
func (w *watched) checked() int {
	n := 0
	for _, k := range w.keys {
		tr, err := w.st.tracks.Track(w.ctx, k.Golden, k.Tag)
		require.NoError(w.t, err)
		if tr.Checked.Equal(w.clock.Now()) {
			n++
		}
		assert.Equal(w.t, catalog.TrackCurrent, tr.State)
	}
	return n
}

// TestRetryAfterLeavesTheHostAlone: a 429 with Retry-After stops every
// check of that host, for every track, until the time it named; the
// tracks wait, unchanged, and the sweep after that time checks them.
func TestRetryAfterLeavesTheHostAlone(t *testing.T) {
	w := newWatched(t, memoryStores(), 5)
	w.count.set(func(rw http.ResponseWriter, r *http.Request) bool {
		rw.Header().Set("Retry-After", "120")
		http.Error(rw, "slow down", http.StatusTooManyRequests)
		return true
	})
	sw := w.sweep()
	assert.Equal(t, map[string]int{"HEAD manifests": 1}, w.count.take(), "one 429, then no request")
	assert.Equal(t, map[string]int{"unchecked": 5}, sw.Outcomes)
	assert.Empty(t, sw.Failures, "deferred, not failed")
	assert.Zero(t, w.checked())

	w.count.set(nil)
	w.clock.Add(time.Minute)
	w.sweep()
	assert.Empty(t, w.count.take(), "before the Retry-After time: no request")
	w.clock.Add(90 * time.Second)
	sw = w.sweep()
	assert.Equal(t, map[string]int{"HEAD manifests": 5}, w.count.take())
	assert.Equal(t, map[string]int{"current": 5}, sw.Outcomes)
	assert.Equal(t, 5, w.checked())
}

// TestRateLimitHeadersLeaveTheHostAlone: a response saying that no
// request is left (Docker Hub's form) stops the checks of that host until
// the window ends.
func TestRateLimitHeadersLeaveTheHostAlone(t *testing.T) {
	w := newWatched(t, memoryStores(), 4)
	var n atomic.Int32
	w.count.set(func(rw http.ResponseWriter, r *http.Request) bool {
		if n.Add(1) == 2 {
			rw.Header().Set("ratelimit-limit", "100;w=21600")
			rw.Header().Set("ratelimit-remaining", "0;w=21600")
		}
		return false
	})
	sw := w.sweep()
	assert.Equal(t, map[string]int{"HEAD manifests": 2}, w.count.take(), "no request after the one that said none is left")
	assert.Equal(t, map[string]int{"current": 2, "unchecked": 2}, sw.Outcomes)
	w.clock.Add(5 * time.Hour)
	w.sweep()
	assert.Empty(t, w.count.take(), "within the window")
	w.clock.Add(time.Hour + time.Minute)
	sw = w.sweep()
	assert.Equal(t, map[string]int{"HEAD manifests": 4}, w.count.take())
	assert.Equal(t, map[string]int{"current": 4}, sw.Outcomes)
}

// TestBudgetPerHost: a host's request budget bounds the checks of a
// sweep; the rest wait for the next one.
func TestBudgetPerHost(t *testing.T) {
	var host string
	w := newWatched(t, memoryStores(), 5)
	host = w.src.Host
	w.tracker = w.newTracker(w.st, func(o *upstream.Options) {
		o.Budgets = map[string]upstream.Budget{host: {Requests: 2, Per: time.Hour}}
	})
	sw := w.sweep()
	assert.Equal(t, map[string]int{"HEAD manifests": 2}, w.count.take())
	assert.Equal(t, map[string]int{"current": 2, "unchecked": 3}, sw.Outcomes)
	assert.Equal(t, 2, w.checked())
}

// TestInstancesShareASweep: two instances on one PostgreSQL database
// drain one sweep together; every tag is checked exactly once.
func TestInstancesShareASweep(t *testing.T) {
	open := storeKinds()["postgres"](t)
	w := newWatched(t, open(), 60)
	var heads [2]atomic.Int32
	trackers := make([]*upstream.Tracker, 2)
	for i := range trackers {
		trackers[i] = w.newTracker(open(), func(o *upstream.Options) {
			o.Batch, o.Concurrency = 5, 2
			o.Registry.Transport = roundTripper(func(r *http.Request) (*http.Response, error) {
				heads[i].Add(1)
				return http.DefaultTransport.RoundTrip(r)
			})
		})
	}
	sw, err := trackers[0].Sweep(w.ctx)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for _, tr := range trackers {
		wg.Go(func() { assert.NoError(t, tr.Drain(w.ctx)) })
	}
	wg.Wait()
	assert.Equal(t, map[string]int{"HEAD manifests": 60}, w.count.take(), "each tag checked once")
	assert.Positive(t, heads[0].Load(), "instance 0 worked")
	assert.Positive(t, heads[1].Load(), "instance 1 worked")
	got, err := w.st.sweeps.Sweep(w.ctx, sw.ID)
	require.NoError(t, err)
	assert.Equal(t, catalog.SweepFinished, got.State)
	assert.Equal(t, map[string]int{"current": 60}, got.Outcomes)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
