package catalogtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
)

// NewRequestStore returns a fresh, empty catalog.RequestStore for one
// subtest. A second call within the same subtest must return another
// handle on the same store (as for NewTrackStore).
type NewRequestStore func(t *testing.T) catalog.RequestStore

// RunRequests checks that stores made by newStore behave as
// catalog.RequestStore says: round trips, duplicates collapsing into the
// open request (also under concurrency), compare-and-swap revisions,
// filters, order and paging, state kept across handles, and invalid
// input.
func RunRequests(t *testing.T, newStore NewRequestStore) {
	t.Run("RoundTrip", func(t *testing.T) { testRequestRoundTrip(t, newStore(t)) })
	t.Run("Collapse", func(t *testing.T) { testRequestCollapse(t, newStore(t)) })
	t.Run("ConcurrentCreate", func(t *testing.T) { testRequestConcurrentCreate(t, newStore(t)) })
	t.Run("CompareAndSwap", func(t *testing.T) { testRequestCAS(t, newStore(t)) })
	t.Run("List", func(t *testing.T) { testRequestList(t, newStore(t)) })
	t.Run("Restart", func(t *testing.T) {
		s := newStore(t)
		testRequestRestart(t, s, newStore(t))
	})
	t.Run("Invalid", func(t *testing.T) { testRequestInvalid(t, newStore(t)) })
	t.Run("Limit", func(t *testing.T) {
		s, ok := newStore(t).(catalog.LimitedRequestStore)
		if !ok {
			t.Skip("not a catalog.LimitedRequestStore")
		}
		testRequestLimit(t, s)
	})
}

// testRequestLimit checks CreateRequestLimited: the window, the count per
// requester, the oldest time reported, and that racing creations of one
// requester never pass the limit together.
func testRequestLimit(t *testing.T, s catalog.LimitedRequestStore) {
	ctx := context.Background()
	now := Now()
	limit := catalog.RequestLimit{Max: 3, Since: now.Add(-time.Hour)}
	old := Request("old", "old", "1", "alice")
	old.Created = now.Add(-2 * time.Hour) // outside the window
	_, created, err := s.CreateRequestLimited(ctx, old, limit)
	require.NoError(t, err)
	require.True(t, created)
	for i := range 3 {
		r := Request(fmt.Sprintf("in%d", i), fmt.Sprintf("app%d", i), "1", "alice")
		r.Created = now.Add(time.Duration(i-3) * time.Minute)
		_, created, err := s.CreateRequestLimited(ctx, r, limit)
		require.NoError(t, err, "request %d of 3", i)
		assert.True(t, created)
	}
	_, _, err = s.CreateRequestLimited(ctx, Request("over", "over", "1", "alice"), limit)
	var le *catalog.RequestLimitError
	require.ErrorAs(t, err, &le, "the fourth request in the window")
	assert.ErrorIs(t, err, catalog.ErrRequestLimit)
	assert.True(t, le.Oldest.Equal(now.Add(-3*time.Minute)), "oldest %v, want %v", le.Oldest, now.Add(-3*time.Minute))
	_, err = s.Request(ctx, "over")
	assert.ErrorIs(t, err, catalog.ErrNotFound, "nothing written past the limit")
	// A duplicate of an open request is refused too; another requester is not.
	_, _, err = s.CreateRequestLimited(ctx, Request("dup", "app0", "1", "alice"), limit)
	assert.ErrorIs(t, err, catalog.ErrRequestLimit, "a duplicate past the limit")
	_, created, err = s.CreateRequestLimited(ctx, Request("bob1", "bobapp", "1", "bob"), limit)
	require.NoError(t, err)
	assert.True(t, created, "another requester")
	_, created, err = s.CreateRequestLimited(ctx, Request("bob2", "bobapp", "1", "bob"), limit)
	require.NoError(t, err)
	assert.False(t, created, "a duplicate within the limit collapses")

	// Racing: 40 creations of one requester, limit 5.
	race := catalog.RequestLimit{Max: 5, Since: now.Add(-time.Hour)}
	var wg sync.WaitGroup
	var ok, limited atomic.Int32
	for i := range 40 {
		wg.Go(func() {
			_, created, err := s.CreateRequestLimited(ctx, Request(fmt.Sprintf("race%d", i), fmt.Sprintf("race%d", i), "1", "carol"), race)
			switch {
			case err == nil && created:
				ok.Add(1)
			case errors.Is(err, catalog.ErrRequestLimit):
				limited.Add(1)
			default:
				t.Errorf("creation %d: created %v, %v", i, created, err)
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, 5, ok.Load(), "created while racing")
	assert.EqualValues(t, 35, limited.Load(), "limited while racing")
}

// Request returns a valid pending request id for
// "docker.io/library/<name>:<tag>" by requester.
func Request(id, name, tag, requester string) *catalog.Request {
	ref := "docker.io/library/" + name + ":" + tag
	r := &catalog.Request{ID: id, Reference: ref, Key: ref, Reason: "the payments team builds on " + name,
		Owner: "team-payments", Requester: requester, Created: Now()}
	r.Move(catalog.RequestPending, Now(), requester, "submitted")
	return r
}

func testRequestRoundTrip(t *testing.T, s catalog.RequestStore) {
	ctx := context.Background()
	r := Request("r1", "nginx", "1.27", "alice")
	r.Created = Now().Add(123456789 * time.Nanosecond) // stored to the microsecond
	r.Typosquat = &catalog.Typosquat{Resembles: "docker.io/library/nginx", Kind: "edit-distance", Detail: "one edit away"}
	r.Rule, r.Golden, r.Tag = "waits for an approver", "registry.corp/golden/library/nginx", "1.27"
	got, created, err := s.CreateRequest(ctx, r)
	require.NoError(t, err)
	assert.True(t, created, "a new request is created")
	assert.Equal(t, int64(1), r.Revision, "revision after create")
	assert.Same(t, r, got, "create returns the request given")

	back, err := s.Request(ctx, "r1")
	require.NoError(t, err)
	want := r.Clone()
	want.Created = catalog.RequestTime(r.Created)
	assert.Equal(t, want.Created, back.Created, "created is kept to the microsecond, in UTC")
	assert.Equal(t, want, back, "round trip")

	back.Move(catalog.RequestApproved, Now().Add(time.Minute), "bob", "looks fine")
	back.Decider = "bob"
	require.NoError(t, s.PutRequest(ctx, back))
	assert.Equal(t, int64(2), back.Revision)
	again, err := s.Request(ctx, "r1")
	require.NoError(t, err)
	assert.Equal(t, catalog.RequestApproved, again.State)
	assert.Len(t, again.History, 2, "history: got %v", again.History)
	assert.Equal(t, "bob", again.Decider)

	_, err = s.Request(ctx, "nope")
	assert.ErrorIs(t, err, catalog.ErrNotFound, "unknown id")
}

func testRequestCollapse(t *testing.T, s catalog.RequestStore) {
	ctx := context.Background()
	first := Request("a", "redis", "7", "alice")
	_, created, err := s.CreateRequest(ctx, first)
	require.NoError(t, err)
	require.True(t, created)

	dup := Request("b", "redis", "7", "bob")
	got, created, err := s.CreateRequest(ctx, dup)
	require.NoError(t, err)
	assert.False(t, created, "a duplicate of an open request is not created")
	assert.Equal(t, "a", got.ID, "the duplicate answers with the open request")
	assert.Equal(t, int64(0), dup.Revision, "the duplicate is not stored")
	_, err = s.Request(ctx, "b")
	assert.ErrorIs(t, err, catalog.ErrNotFound, "nothing is stored for the duplicate")

	// Once the first request ends, the reference may be requested again.
	got.Move(catalog.RequestDenied, Now().Add(time.Minute), "carol", "not needed")
	require.NoError(t, s.PutRequest(ctx, got))
	again := Request("c", "redis", "7", "bob")
	_, created, err = s.CreateRequest(ctx, again)
	require.NoError(t, err)
	assert.True(t, created, "a request after the open one ended is created")

	// The denied one cannot be reopened while "c" is open.
	got.Move(catalog.RequestPending, Now().Add(2*time.Minute), "carol", "reopen")
	assert.ErrorIs(t, s.PutRequest(ctx, got), catalog.ErrConflict, "reopening while another request is open for the key")

	// An id that is taken is a conflict.
	taken := Request("c", "postgres", "16", "dave")
	_, _, err = s.CreateRequest(ctx, taken)
	assert.ErrorIs(t, err, catalog.ErrConflict, "a taken id")
}

func testRequestConcurrentCreate(t *testing.T, s catalog.RequestStore) {
	ctx := context.Background()
	const n = 16
	var wg sync.WaitGroup
	ids := make([]string, n)
	createdN := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			got, created, err := s.CreateRequest(ctx, Request(fmt.Sprintf("c%02d", i), "alpine", "3.20", fmt.Sprintf("user%d", i)))
			errs[i], createdN[i] = err, created
			if got != nil {
				ids[i] = got.ID
			}
		})
	}
	wg.Wait()
	winners := 0
	for i := range n {
		require.NoError(t, errs[i], "create %d", i)
		if createdN[i] {
			winners++
		}
	}
	assert.Equal(t, 1, winners, "exactly one of %d concurrent requests for one reference is created", n)
	for i := 1; i < n; i++ {
		assert.Equal(t, ids[0], ids[i], "every caller gets the same open request")
	}
	open, err := s.Requests(ctx, catalog.RequestQuery{Open: true})
	require.NoError(t, err)
	assert.Len(t, open, 1, "one open request is stored")
}

func testRequestCAS(t *testing.T, s catalog.RequestStore) {
	ctx := context.Background()
	r := Request("x", "busybox", "1.36", "alice")
	_, _, err := s.CreateRequest(ctx, r)
	require.NoError(t, err)
	a, err := s.Request(ctx, "x")
	require.NoError(t, err)
	b, err := s.Request(ctx, "x")
	require.NoError(t, err)
	a.Move(catalog.RequestApproved, Now(), "bob", "")
	require.NoError(t, s.PutRequest(ctx, a))
	b.Move(catalog.RequestDenied, Now(), "carol", "")
	assert.ErrorIs(t, s.PutRequest(ctx, b), catalog.ErrConflict, "a stale revision loses")
	got, err := s.Request(ctx, "x")
	require.NoError(t, err)
	assert.Equal(t, catalog.RequestApproved, got.State, "the first writer's state stays")

	// Concurrent writers from the same revision: one wins.
	const n = 8
	var wg sync.WaitGroup
	wins := make([]bool, n)
	for i := range n {
		wg.Go(func() {
			c := got.Clone()
			c.Move(catalog.RequestAcquiring, Now(), fmt.Sprintf("w%d", i), "")
			err := s.PutRequest(ctx, c)
			if err == nil {
				wins[i] = true
			} else if !errors.Is(err, catalog.ErrConflict) {
				t.Errorf("writer %d: %v, want nil or ErrConflict", i, err)
			}
		})
	}
	wg.Wait()
	won := 0
	for _, w := range wins {
		if w {
			won++
		}
	}
	assert.Equal(t, 1, won, "exactly one concurrent writer wins")

	missing := Request("missing", "busybox", "1", "alice")
	missing.Revision = 1
	assert.ErrorIs(t, s.PutRequest(ctx, missing), catalog.ErrNotFound, "put of an unknown request")
	keyed, err := s.Request(ctx, "x")
	require.NoError(t, err)
	keyed.Key = "docker.io/library/other:1"
	assert.ErrorIs(t, s.PutRequest(ctx, keyed), catalog.ErrConflict, "the key does not change")
}

func testRequestList(t *testing.T, s catalog.RequestStore) {
	ctx := context.Background()
	states := []catalog.RequestState{catalog.RequestPending, catalog.RequestApproved, catalog.RequestPromoted, catalog.RequestDenied}
	for i := range 12 {
		r := Request(fmt.Sprintf("l%02d", i), fmt.Sprintf("img%d", i), "1", []string{"alice", "bob"}[i%2])
		r.Created = Now().Add(time.Duration(i/2) * time.Second) // pairs share a time: the id breaks the tie
		r.State = states[i%len(states)]
		_, created, err := s.CreateRequest(ctx, r)
		require.NoError(t, err)
		require.True(t, created)
	}
	all, err := s.Requests(ctx, catalog.RequestQuery{})
	require.NoError(t, err)
	var ids []string
	for _, r := range all {
		ids = append(ids, r.ID)
	}
	assert.Equal(t, "l11 l10 l09 l08 l07 l06 l05 l04 l03 l02 l01 l00", strings.Join(ids, " "), "most recent first, then by id descending")

	var paged []string
	q := catalog.RequestQuery{Limit: 5}
	for {
		page, err := s.Requests(ctx, q)
		require.NoError(t, err)
		for _, r := range page {
			paged = append(paged, r.ID)
		}
		if len(page) < q.Limit {
			break
		}
		q.Before = catalog.CursorOf(page[len(page)-1])
	}
	assert.Equal(t, ids, paged, "paging with the cursor walks the same list")

	for _, c := range []struct {
		name string
		q    catalog.RequestQuery
		want string
	}{
		{"state", catalog.RequestQuery{State: catalog.RequestApproved}, "l09 l05 l01"},
		{"open", catalog.RequestQuery{Open: true}, "l09 l08 l05 l04 l01 l00"},
		{"requester", catalog.RequestQuery{Requester: "bob", State: catalog.RequestPending}, ""},
		{"requester-open", catalog.RequestQuery{Requester: "bob", Open: true}, "l09 l05 l01"},
		{"key", catalog.RequestQuery{Key: "docker.io/library/img7:1"}, "l07"},
	} {
		got, err := s.Requests(ctx, c.q)
		require.NoError(t, err, c.name)
		var ids []string
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		assert.Equal(t, c.want, strings.Join(ids, " "), "filter %s", c.name)
	}
}

func testRequestRestart(t *testing.T, s, s2 catalog.RequestStore) {
	ctx := context.Background()
	r := Request("keep", "httpd", "2.4", "alice")
	_, _, err := s.CreateRequest(ctx, r)
	require.NoError(t, err)
	got, err := s2.Request(ctx, "keep")
	require.NoError(t, err)
	assert.Equal(t, r.Reference, got.Reference, "the request survives a restart")
	_, created, err := s2.CreateRequest(ctx, Request("keep2", "httpd", "2.4", "bob"))
	require.NoError(t, err)
	assert.False(t, created, "the other handle collapses duplicates too")
}

func testRequestInvalid(t *testing.T, s catalog.RequestStore) {
	ctx := context.Background()
	for name, mod := range map[string]func(r *catalog.Request){
		"no id":          func(r *catalog.Request) { r.ID = "" },
		"no reference":   func(r *catalog.Request) { r.Reference = "" },
		"no reason":      func(r *catalog.Request) { r.Reason = "" },
		"no owner":       func(r *catalog.Request) { r.Owner = "" },
		"long reason":    func(r *catalog.Request) { r.Reason = strings.Repeat("x", catalog.MaxRequestReason+1) },
		"long owner":     func(r *catalog.Request) { r.Owner = strings.Repeat("x", catalog.MaxRequestName+1) },
		"not utf-8":      func(r *catalog.Request) { r.Reason = "bad \xff" },
		"nul":            func(r *catalog.Request) { r.Requester = "a\x00b" },
		"state":          func(r *catalog.Request) { r.State = "maybe" },
		"no time":        func(r *catalog.Request) { r.Created = time.Time{} },
		"digest":         func(r *catalog.Request) { r.Digest = "sha256:nope" },
		"revision given": func(r *catalog.Request) { r.Revision = 3 },
	} {
		r := Request("bad", "nginx", "1", "alice")
		mod(r)
		_, _, err := s.CreateRequest(ctx, r)
		assert.ErrorIs(t, err, catalog.ErrInvalidRequest, "create with %s", name)
	}
	_, err := s.Request(ctx, "bad")
	assert.ErrorIs(t, err, catalog.ErrNotFound, "nothing invalid was stored")
	for name, q := range map[string]catalog.RequestQuery{
		"limit":    {Limit: catalog.MaxRequestLimit + 1},
		"negative": {Limit: -1},
		"state":    {State: "maybe"},
		"cursor":   {Before: catalog.RequestCursor{ID: "x"}},
	} {
		_, err := s.Requests(ctx, q)
		assert.ErrorIs(t, err, catalog.ErrInvalidRequest, "query with bad %s", name)
	}
}
