package event_test

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
	"github.com/cssc-go/cssc/catalog/event"
)

func TestNewIDs(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	data := event.Findings{Image: event.Image{Repository: "r", Digest: "sha256:aa"}, Findings: []catalog.Finding{{ID: "CVE-1", Severity: "high"}}, Scanner: "osv", DatabaseVersion: "v2"}
	a, err := event.New(event.TypeFindingsNew, "/catalog", "r@sha256:aa", at, data)
	require.NoError(t, err)
	b, err := event.New(event.TypeFindingsNew, "/catalog", "r@sha256:aa", at.Add(time.Hour), data)
	require.NoError(t, err)
	assert.Equal(t, a.ID, b.ID, "the same occurrence at another time has the same id")
	assert.Len(t, a.ID, 32)
	assert.Equal(t, "1.0", a.SpecVersion)
	assert.Equal(t, "application/json", a.DataContentType)
	var back event.Findings
	require.NoError(t, a.Decode(&back))
	assert.Equal(t, data, back, "data round-trips")

	for name, other := range map[string]func() (event.Event, error){
		"type": func() (event.Event, error) {
			return event.New(event.TypeFindingsResolved, "/catalog", "r@sha256:aa", at, data)
		},
		"source": func() (event.Event, error) {
			return event.New(event.TypeFindingsNew, "/other", "r@sha256:aa", at, data)
		},
		"subject": func() (event.Event, error) {
			return event.New(event.TypeFindingsNew, "/catalog", "r@sha256:bb", at, data)
		},
		"data": func() (event.Event, error) {
			d := data
			d.DatabaseVersion = "v3"
			return event.New(event.TypeFindingsNew, "/catalog", "r@sha256:aa", at, d)
		},
	} {
		o, err := other()
		require.NoError(t, err)
		assert.NotEqual(t, a.ID, o.ID, "another %s gives another id", name)
	}

	_, err = event.New("", "/catalog", "", at, nil)
	assert.ErrorIs(t, err, event.ErrInvalidEvent, "no type")
	_, err = event.New("t", "", "", at, nil)
	assert.ErrorIs(t, err, event.ErrInvalidEvent, "no source")
	_, err = event.New("t", "/s", "", at, make([]byte, event.MaxDataBytes))
	assert.ErrorIs(t, err, event.ErrInvalidEvent, "data over the cap")
	_, err = event.New("t", "/s", "", at, func() {})
	assert.ErrorIs(t, err, event.ErrInvalidEvent, "data that does not marshal")
}

func TestTagMoved(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	moved := catalog.TagEvent{Type: catalog.TagMoved, Repository: "r", Tag: "1.27", From: "sha256:aa", To: "sha256:bb", At: at}
	e, err := event.TagMoved("/catalog", moved)
	require.NoError(t, err)
	require.NotNil(t, e)
	assert.Equal(t, event.TypeTagMoved, e.Type)
	assert.Equal(t, "r:1.27", e.Subject)
	var back catalog.TagEvent
	require.NoError(t, e.Decode(&back))
	assert.Equal(t, moved, back)
	e, err = event.TagMoved("/catalog", catalog.TagEvent{Type: catalog.TagAdded, Repository: "r", Tag: "x", To: "sha256:aa", At: at})
	require.NoError(t, err)
	assert.Nil(t, e, "an added tag is not a move")
}

func TestFuncAndMulti(t *testing.T) {
	ctx := context.Background()
	e1, _ := event.New("t", "/s", "a", time.Time{}, nil)
	e2, _ := event.New("t", "/s", "b", time.Time{}, nil)
	var got []string
	ok := event.Func(func(_ context.Context, e event.Event) error { got = append(got, e.Subject); return nil })
	boom := errors.New("boom")
	bad := event.Func(func(_ context.Context, e event.Event) error {
		if e.Subject == "a" {
			return boom
		}
		return nil
	})
	err := event.Multi(bad, nil, ok).Emit(ctx, e1, e2)
	assert.ErrorIs(t, err, boom, "a failing sink's error is returned")
	assert.Equal(t, []string{"a", "b"}, got, "a failing sink does not keep events from the others")
}

func TestAsync(t *testing.T) {
	var n atomic.Int64
	var mu sync.Mutex
	seen := map[string]bool{}
	slow := event.Func(func(_ context.Context, e event.Event) error {
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		seen[e.Subject] = true
		mu.Unlock()
		n.Add(1)
		return nil
	})
	a := event.Async(slow, event.AsyncOptions{Queue: 4, Workers: 2})
	ctx := context.Background()
	start := time.Now()
	for i := range 50 {
		e, err := event.New("t", "/s", string(rune('a'+i%26))+string(rune('a'+i/26)), time.Time{}, nil)
		require.NoError(t, err)
		require.NoError(t, a.Emit(ctx, e))
	}
	require.NoError(t, a.Close(ctx))
	assert.Equal(t, int64(50), n.Load(), "close delivers everything queued")
	assert.Len(t, seen, 50)
	assert.Less(t, time.Since(start), 5*time.Second)
	e, _ := event.New("t", "/s", "late", time.Time{}, nil)
	assert.ErrorIs(t, a.Emit(ctx, e), event.ErrClosed, "emit after close")

	// A full queue blocks Emit until its context ends.
	block := make(chan struct{})
	stuck := event.Async(event.Func(func(ctx context.Context, e event.Event) error { <-block; return nil }), event.AsyncOptions{Queue: 1, Workers: 1})
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	var err error
	for i := 0; i < 5 && err == nil; i++ {
		err = stuck.Emit(cctx, e)
	}
	assert.ErrorIs(t, err, context.DeadlineExceeded, "a full queue blocks until the context ends")
	close(block)
	require.NoError(t, stuck.Close(ctx))
}
