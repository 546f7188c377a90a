package event_test

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
)

// TestRestrictRedactsData: an event about a public image that names a
// restricted one elsewhere in its data (a lifecycle event's replacement,
// its reason, its actions, nested members and keys) reaches a subscriber
// outside the restricted image's groups with those names redacted and
// everything else as it was; a member's subscriber gets the event byte
// for byte; an event whose data cannot be read, or whose subject names a
// restricted image, is not delivered to the outsider.
func TestRestrictRedactsData(t *testing.T) {
	ctx := context.Background()
	policy, err := catalog.NewAccessPolicy([]catalog.AccessRule{
		{Name: "licensed", Repositories: []string{"**/licensed/*"}, Level: "licensed", Groups: []string{"web-team"}},
	})
	require.NoError(t, err)
	secret, public := "registry.corp/golden/licensed/oracle", "registry.corp/golden/library/debian"
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	img := event.Image{Repository: public, Digest: digest.FromString("debian")}
	data := map[string]any{
		"repository":  img.Repository,
		"digest":      img.Digest,
		"from":        "active",
		"to":          "deprecated",
		"replacement": secret + ":19",
		"reason":      "superseded by " + secret + "@" + digest.FromString("oracle").String() + ".",
		"actions":     []string{"untag 12", "archive " + secret},
		"size":        12345678901234567,
		"nested":      map[string]any{"deeper": []any{map[string]any{"ref": secret}}, secret: true},
	}
	deprecated, err := event.New("dev.cssc.catalog.lifecycle.deprecated", "/catalog/lifecycle", img.Ref(), at, data)
	require.NoError(t, err)
	plain, err := event.New("dev.cssc.catalog.lifecycle.deprecated", "/catalog/lifecycle", img.Ref(), at,
		map[string]any{"repository": public, "replacement": public + ":13"})
	require.NoError(t, err)
	broken := plain
	broken.ID, broken.Data = "broken", json.RawMessage(`{"replacement": "`+secret+`"`)
	odd := plain
	odd.ID, odd.Subject = "odd", "moved to "+secret // a subject Visible cannot parse

	type got struct {
		mu     sync.Mutex
		events []event.Event
	}
	collect := func(g *got) event.Sink {
		return event.Func(func(ctx context.Context, e event.Event) error {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.events = append(g.events, e)
			return nil
		})
	}
	var outsider, member got
	require.NoError(t, event.Restrict(collect(&outsider), policy.For()).Emit(ctx, deprecated, plain, broken, odd))
	require.NoError(t, event.Restrict(collect(&member), policy.For("web-team")).Emit(ctx, deprecated, plain, broken, odd))

	require.Len(t, member.events, 4, "a member's subscriber gets every event")
	assert.Equal(t, []event.Event{deprecated, plain, broken, odd}, member.events, "as they were")
	require.Len(t, outsider.events, 2, "the outsider's subscriber gets no event it cannot check")
	assert.Equal(t, plain, outsider.events[1], "an event that names no restricted image is untouched")
	e := outsider.events[0]
	assert.NotContains(t, string(e.Data), "licensed", "the outsider reads no restricted name: %s", e.Data)
	assert.Equal(t, deprecated.ID, e.ID, "the event keeps its id")
	assert.Equal(t, deprecated.Subject, e.Subject)
	var back map[string]any
	dec := json.NewDecoder(bytes.NewReader(e.Data))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&back))
	assert.Equal(t, catalog.Redacted, back["replacement"], "replacement")
	assert.Equal(t, "superseded by "+catalog.Redacted+".", back["reason"], "reason")
	assert.Equal(t, []any{"untag 12", "archive " + catalog.Redacted}, back["actions"], "actions")
	assert.Equal(t, json.Number("12345678901234567"), back["size"], "numbers keep their digits")
	assert.Equal(t, map[string]any{"deeper": []any{map[string]any{"ref": catalog.Redacted}}, catalog.Redacted: true}, back["nested"], "nested members and keys")
	assert.Equal(t, public, back["repository"])
	assert.Equal(t, "deprecated", back["to"])
}
