package lifecycle_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/event/webhook"
	"github.com/cssc-go/cssc/catalog/lifecycle"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// TestTransitionsReachWebhookAndCallback: with the default action (mark
// only), a retirement keeps the tags, and every transition reaches both an
// HMAC-signed webhook (verified by the receiving Handler) and a Go
// callback.
func TestTransitionsReachWebhookAndCallback(t *testing.T) {
	ctx := context.Background()
	secret := []byte("0123456789abcdef0123456789abcdef")
	var mu sync.Mutex
	var received []event.Event
	h, err := webhook.NewHandler(webhook.HandlerOptions{Secrets: [][]byte{secret}}, event.Func(func(_ context.Context, e event.Event) error {
		mu.Lock()
		defer mu.Unlock()
		received = append(received, e)
		return nil
	}))
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	sender, err := webhook.New(webhook.Options{URL: srv.URL, Secret: secret})
	require.NoError(t, err)

	w := newWorld(t, registrytest.OCI)
	const name = "golden/library/web"
	loc := w.location(name)
	w.clock.Set(utc(2025, 1, 1, 0, 0, 0))
	store := catalog.NewMemoryStore()
	img := w.pushImage(name, 11, nil, "5")
	w.catalogInto(store, name, img, "5")
	var callback []string
	r := w.runner(store, lifecycle.Config{Rules: []lifecycle.Rule{{Repository: "*/golden/library/web", EndOfLife: date(t, "2025-04-01T00:00:00+02:00")}}},
		func(o *lifecycle.Options) {
			o.Events = event.Multi(sender, event.Func(func(_ context.Context, e event.Event) error {
				callback = append(callback, e.Type)
				return nil
			}))
		})
	for _, at := range []string{"2024-12-15", "2025-02-01", "2025-03-31T22:00:00Z"} {
		d, err := lifecycle.ParseDate(at)
		require.NoError(t, err)
		w.clock.Set(d.Time)
		_, _, err = r.Run(ctx)
		require.NoError(t, err)
	}
	want := []string{lifecycle.TypeChanged, lifecycle.TypeDeprecated, lifecycle.TypeRetired}
	assert.Equal(t, want, callback)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, received, 3, "every change reached the webhook")
	for i, e := range received {
		assert.Equal(t, want[i], e.Type)
		assert.Equal(t, loc+"@"+img.Digest.String(), e.Subject)
	}
	var tr lifecycle.Transition
	require.NoError(t, received[2].Decode(&tr))
	assert.Equal(t, catalog.StatusRetired, tr.To)
	assert.Empty(t, tr.Actions, "mark only")
	d, err := w.repo(name).Resolve(ctx, "5")
	require.NoError(t, err, "marking keeps the tags")
	assert.Equal(t, img.Digest, d.Digest)
	e, err := store.Get(ctx, loc, img.Digest)
	require.NoError(t, err)
	assert.Equal(t, catalog.StatusRetired, e.Status)
	assert.Equal(t, []string{"5"}, e.Tags)
}
