package webhook_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/event/webhook"
)

// TestRestrictedWebhooks delivers the catalog's events to two webhook
// subscribers over HTTP: one that serves the web team, one that serves
// nobody in particular. Events about a restricted image reach only the
// first; events about public images and events that name no image reach
// both.
func TestRestrictedWebhooks(t *testing.T) {
	ctx := context.Background()
	policy, err := catalog.NewAccessPolicy([]catalog.AccessRule{
		{Name: "licensed", Repositories: []string{"**/licensed/*"}, Level: "licensed", Groups: []string{"web-team"}},
	})
	require.NoError(t, err)
	secret := []byte("0123456789abcdef0123")
	type subscriber struct {
		mu  sync.Mutex
		got []string
	}
	start := func(s *subscriber) string {
		h, err := webhook.NewHandler(webhook.HandlerOptions{Secrets: [][]byte{secret}}, event.Func(func(ctx context.Context, e event.Event) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.got = append(s.got, e.Subject)
			return nil
		}))
		require.NoError(t, err)
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	var team, other subscriber
	sink := func(url string, groups ...string) event.Sink {
		s, err := webhook.New(webhook.Options{URL: url, Secret: secret, Backoff: time.Millisecond})
		require.NoError(t, err)
		return event.Restrict(s, policy.For(groups...))
	}
	all := event.Multi(sink(start(&team), "web-team"), sink(start(&other)))

	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	secretRepo, publicRepo := "registry.corp/golden/licensed/oracle", "registry.corp/golden/library/nginx"
	var events []event.Event
	for _, repo := range []string{secretRepo, publicRepo} {
		img := event.Image{Repository: repo, Digest: digest.FromString(repo)}
		e, err := event.New(event.TypeFindingsNew, "/catalog/rescan", img.Ref(), at, event.Findings{Image: img, Scanner: "osv"})
		require.NoError(t, err)
		events = append(events, e)
		moved, err := event.TagMoved("/catalog/sync", catalog.TagEvent{Type: catalog.TagMoved, Repository: repo, Tag: "1.0", From: "sha256:aa", To: "sha256:bb", At: at})
		require.NoError(t, err)
		events = append(events, *moved)
	}
	// An upstream change names the golden repository in its data; a
	// request event names no image.
	up, err := event.New("dev.cssc.catalog.upstream.moved", "/catalog/upstream", "x", at, map[string]string{"golden": secretRepo, "tag": "1.0"})
	require.NoError(t, err)
	req, err := event.New("dev.cssc.catalog.request.approved", "/catalog/requests", "req-1", at, map[string]string{"reference": "docker.io/library/nginx:1.27"})
	require.NoError(t, err)
	events = append(events, up, req)
	require.NoError(t, all.Emit(ctx, events...))

	sorted := func(s *subscriber) []string {
		s.mu.Lock()
		defer s.mu.Unlock()
		out := slices.Clone(s.got)
		slices.Sort(out)
		return out
	}
	want := []string{events[0].Subject, events[1].Subject, events[2].Subject, events[3].Subject, "req-1", "x"}
	slices.Sort(want)
	assert.Equal(t, want, sorted(&team), "the web team's webhook gets every event")
	wantOther := []string{events[2].Subject, events[3].Subject, "req-1"}
	slices.Sort(wantOther)
	assert.Equal(t, wantOther, sorted(&other), "another webhook gets no event about the restricted image")
	for _, s := range sorted(&other) {
		assert.NotContains(t, s, "licensed")
	}
	assert.Equal(t, []string{secretRepo}, event.Repositories(events[0])[:1])
}
