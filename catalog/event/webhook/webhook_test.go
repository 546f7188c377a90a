package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/event/webhook"
)

var secret = []byte("0123456789abcdef-webhook-secret")

func newEvent(t *testing.T, subject string) event.Event {
	t.Helper()
	e, err := event.New(event.TypeFindingsNew, "/catalog", subject, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		event.Findings{Image: event.Image{Repository: "golden/nginx", Digest: "sha256:aa"}, Findings: []catalog.Finding{{ID: "CVE-2024-1", Severity: "high"}}})
	require.NoError(t, err)
	return e
}

// receiver is a real webhook.Handler on loopback whose first answers can
// be scripted.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	got      []event.Event
	requests atomic.Int64
	script   []int // status codes answered first, before the handler
}

func startReceiver(t *testing.T, script ...int) *receiver {
	t.Helper()
	r := &receiver{script: script}
	h, err := webhook.NewHandler(webhook.HandlerOptions{Secrets: [][]byte{secret}}, event.Func(func(_ context.Context, e event.Event) error {
		r.mu.Lock()
		r.got = append(r.got, e)
		r.mu.Unlock()
		return nil
	}))
	require.NoError(t, err)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n := r.requests.Add(1)
		if int(n) <= len(r.script) {
			w.WriteHeader(r.script[n-1])
			return
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) events() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event.Event(nil), r.got...)
}

func sender(t *testing.T, url string, opts ...func(*webhook.Options)) *webhook.Sender {
	t.Helper()
	o := webhook.Options{URL: url, Secret: secret, Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	s, err := webhook.New(o)
	require.NoError(t, err)
	return s
}

func TestDeliverSigned(t *testing.T) {
	r := startReceiver(t)
	s := sender(t, r.srv.URL)
	e := newEvent(t, "golden/nginx@sha256:aa")
	require.NoError(t, s.Emit(context.Background(), e))
	got := r.events()
	require.Len(t, got, 1, "delivered once")
	assert.Equal(t, e.ID, got[0].ID)
	assert.Equal(t, string(e.Data), string(got[0].Data), "data arrives intact")
	assert.True(t, s.Delivered(e.ID))
}

func TestRetryThenDeliver(t *testing.T) {
	r := startReceiver(t, 500, 503, 429)
	s := sender(t, r.srv.URL)
	require.NoError(t, s.Emit(context.Background(), newEvent(t, "x")))
	assert.Equal(t, int64(4), r.requests.Load(), "three failures, then delivery")
	assert.Len(t, r.events(), 1)
}

func TestGiveUp(t *testing.T) {
	r := startReceiver(t, 500, 500, 500, 500, 500, 500, 500)
	s := sender(t, r.srv.URL, func(o *webhook.Options) { o.MaxAttempts = 3 })
	err := s.Emit(context.Background(), newEvent(t, "x"))
	assert.ErrorIs(t, err, webhook.ErrDelivery)
	assert.Equal(t, int64(3), r.requests.Load(), "MaxAttempts caps the attempts")

	// A 4xx other than 408 and 429 is final at once.
	r2 := startReceiver(t, http.StatusBadRequest)
	s2 := sender(t, r2.srv.URL)
	err = s2.Emit(context.Background(), newEvent(t, "y"))
	assert.ErrorIs(t, err, webhook.ErrDelivery)
	assert.Equal(t, int64(1), r2.requests.Load(), "no retry after 400")
	assert.False(t, s2.Delivered(newEvent(t, "y").ID))
}

func TestDeduplicated(t *testing.T) {
	r := startReceiver(t)
	s := sender(t, r.srv.URL)
	e := newEvent(t, "x")
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { assert.NoError(t, s.Emit(ctx, e)) })
	}
	wg.Wait()
	require.NoError(t, s.Emit(ctx, e, e))
	assert.Equal(t, int64(1), r.requests.Load(), "the same event, emitted concurrently and again, is sent once")

	// Another sender (another instance) sends it again: the receiver
	// drops the duplicate.
	s2 := sender(t, r.srv.URL)
	require.NoError(t, s2.Emit(ctx, e))
	assert.Equal(t, int64(2), r.requests.Load())
	assert.Len(t, r.events(), 1, "the receiver hands the event over once")

	// Remember bounds the memory of delivered ids.
	s3 := sender(t, r.srv.URL, func(o *webhook.Options) { o.Remember = 2 })
	for i := range 3 {
		require.NoError(t, s3.Emit(ctx, newEvent(t, fmt.Sprint(i))))
	}
	assert.False(t, s3.Delivered(newEvent(t, "0").ID), "the oldest id is forgotten")
	assert.True(t, s3.Delivered(newEvent(t, "2").ID))
}

func TestRetryAfterAndCancel(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	s := sender(t, srv.URL, func(o *webhook.Options) { o.MaxBackoff = 2 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Emit(ctx, newEvent(t, "x"))
	assert.ErrorIs(t, err, context.DeadlineExceeded, "a cancelled context ends the backoff")
	assert.Equal(t, int64(2), n.Load(), "Retry-After of 1 s spaced the attempts")
	assert.Less(t, time.Since(start), 3*time.Second)
}

func TestNewRefuses(t *testing.T) {
	for _, o := range []webhook.Options{
		{Secret: secret},
		{URL: "ftp://x", Secret: secret},
		{URL: "http://127.0.0.1:1", Secret: []byte("short")},
	} {
		_, err := webhook.New(o)
		assert.ErrorIs(t, err, webhook.ErrInvalidConfig, "%+v", o)
	}
	_, err := webhook.NewHandler(webhook.HandlerOptions{}, event.Func(nil))
	assert.ErrorIs(t, err, webhook.ErrInvalidConfig, "no secret")
	_, err = webhook.NewHandler(webhook.HandlerOptions{Secrets: [][]byte{[]byte("short")}}, event.Func(nil))
	assert.ErrorIs(t, err, webhook.ErrInvalidConfig, "short secret")
}

func TestHandlerRefuses(t *testing.T) {
	now := time.Now()
	var handled atomic.Int64
	h, err := webhook.NewHandler(webhook.HandlerOptions{Secrets: [][]byte{[]byte("an-old-secret-being-rotated"), secret}},
		event.Func(func(context.Context, event.Event) error { handled.Add(1); return nil }))
	require.NoError(t, err)
	e := newEvent(t, "x")
	body, err := json.Marshal(e)
	require.NoError(t, err)
	ts := strconv.FormatInt(now.Unix(), 10)
	good := "v1," + webhook.Sign(secret, e.ID, ts, body)
	post := func(mutate func(h http.Header, body []byte) []byte) int {
		hd := http.Header{}
		hd.Set(webhook.HeaderID, e.ID)
		hd.Set(webhook.HeaderTimestamp, ts)
		hd.Set(webhook.HeaderSignature, good)
		b := bytes.Clone(body)
		if mutate != nil {
			b = mutate(hd, b)
		}
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(b))
		req.Header = hd
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	cases := map[string]struct {
		mutate func(h http.Header, body []byte) []byte
		want   int
	}{
		"tampered body": {func(h http.Header, b []byte) []byte {
			return bytes.Replace(b, []byte("CVE-2024-1"), []byte("CVE-2024-2"), 1)
		}, 401},
		"wrong secret": {func(h http.Header, b []byte) []byte {
			h.Set(webhook.HeaderSignature, "v1,"+webhook.Sign([]byte("another-secret-of-enough-bytes"), e.ID, ts, b))
			return b
		}, 401},
		"no signature": {func(h http.Header, b []byte) []byte { h.Del(webhook.HeaderSignature); return b }, 401},
		"stale timestamp": {func(h http.Header, b []byte) []byte {
			old := strconv.FormatInt(now.Add(-time.Hour).Unix(), 10)
			h.Set(webhook.HeaderTimestamp, old)
			h.Set(webhook.HeaderSignature, "v1,"+webhook.Sign(secret, e.ID, old, b))
			return b
		}, 401},
		"id is not the event's": {func(h http.Header, b []byte) []byte {
			h.Set(webhook.HeaderID, "other")
			h.Set(webhook.HeaderSignature, "v1,"+webhook.Sign(secret, "other", ts, b))
			return b
		}, 400},
		"not an event": {func(h http.Header, b []byte) []byte {
			b = []byte(`{"hello":1}`)
			h.Set(webhook.HeaderSignature, "v1,"+webhook.Sign(secret, e.ID, ts, b))
			return b
		}, 400},
		"too large": {func(h http.Header, b []byte) []byte { return make([]byte, 3<<20) }, 413},
	}
	for name, c := range cases {
		assert.Equal(t, c.want, post(c.mutate), name)
	}
	assert.Zero(t, handled.Load(), "no refused request reaches the sink")
	assert.Equal(t, http.StatusNoContent, post(func(h http.Header, b []byte) []byte {
		h.Set(webhook.HeaderSignature, "v1,bm90IGl0 "+good)
		return b
	}), "one of several signatures verifies")
	assert.Equal(t, http.StatusNoContent, post(nil), "a redelivery is acknowledged")
	assert.Equal(t, int64(1), handled.Load(), "and dropped")

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
}

func TestHandlerSinkFailureIsRetried(t *testing.T) {
	var calls atomic.Int64
	h, err := webhook.NewHandler(webhook.HandlerOptions{Secrets: [][]byte{secret}}, event.Func(func(context.Context, event.Event) error {
		if calls.Add(1) == 1 {
			return fmt.Errorf("database busy")
		}
		return nil
	}))
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()
	s := sender(t, srv.URL)
	require.NoError(t, s.Emit(context.Background(), newEvent(t, "x")))
	assert.Equal(t, int64(2), calls.Load(), "a sink failure answers 500, the sender retries, and the retry is not dropped as a duplicate")
}
