package lifecycle_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/lifecycle"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// TestSupersede: an image that a newer acquisition of its source tag
// replaced gets the replacement pointer and is deprecated at once (the
// default: its end of life is one window away), with a signed marker and
// an event; later runs keep the supersession without any configuration,
// and retire the image when the window has passed. Superseding again
// keeps the earlier date. On every store.
func TestSupersede(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if name == "postgres" && testing.Short() {
				t.Skip("starts PostgreSQL")
			}
			supersede(t, open(t))
		})
	}
}

func supersede(t *testing.T, store catalog.Store) {
	ctx := context.Background()
	w := newWorld(t, registrytest.OCI)
	const name = "golden/library/nginx"
	repoLoc := w.location(name)
	t0 := utc(2025, 3, 1, 0, 0, 0)
	w.clock.Set(t0)
	old := w.pushImage(name, 1, slices.Clone(debianGo))
	w.attachMarker(name, old, "2030-01-01", t0, w.signer, "cssc")
	next := w.pushImage(name, 2, slices.Clone(debianGo), "1.27")
	w.catalogInto(store, name, old)
	w.catalogInto(store, name, next, "1.27")
	replacement := repoLoc + ":1.27@" + next.Digest.String()

	window := 30 * 24 * time.Hour
	r := w.runner(store, lifecycle.Config{Window: lifecycle.Duration{Duration: window}})
	c, err := r.Supersede(ctx, lifecycle.SupersedeRequest{Repository: repoLoc, Digest: old.Digest, Replacement: replacement})
	require.NoError(t, err)
	assert.Equal(t, lifecycle.KindTransition, c.Kind)
	assert.Equal(t, catalog.StatusDeprecated, c.To, "deprecated at once")
	assert.True(t, c.Applied, c.Error)
	assert.Equal(t, replacement, c.Replacement)
	assert.True(t, c.EndOfLife.Equal(t0.Add(window)), "end of life one window away: got %v", c.EndOfLife)
	assert.Equal(t, lifecycle.SourceSuperseded, c.Source, "the supersession gives the date: %s", c.Reason)
	e, err := store.Get(ctx, repoLoc, old.Digest)
	require.NoError(t, err)
	assert.Equal(t, catalog.StatusDeprecated, e.Status)
	assert.Equal(t, replacement, e.Replacement)
	require.NotNil(t, e.EndOfLife)
	assert.NotEmpty(t, e.EndOfLife.Marker, "a signed marker records the state")
	evs := w.takeEvents()
	require.Len(t, evs, 1)
	assert.Equal(t, lifecycle.TypeDeprecated, evs[0].Type)
	var tr lifecycle.Transition
	require.NoError(t, evs[0].Decode(&tr))
	assert.Equal(t, replacement, tr.Replacement)

	// A regular run knows nothing of the supersession but the marker: it
	// keeps the state, and the newer image is untouched.
	w.clock.Set(t0.Add(24 * time.Hour))
	p, _, err := r.Run(ctx)
	require.NoError(t, err)
	assert.Nil(t, p.Find(repoLoc, old.Digest), "no change of the superseded image")
	assert.Nil(t, p.Find(repoLoc, next.Digest), "no change of its replacement")

	// Superseding again (by a newer image still) keeps the earlier date.
	w.clock.Set(t0.Add(48 * time.Hour))
	again := repoLoc + ":1.27@" + old.Digest.String()[:7] + "other"
	c, err = r.Supersede(ctx, lifecycle.SupersedeRequest{Repository: repoLoc, Digest: old.Digest, Replacement: again})
	require.NoError(t, err)
	assert.True(t, c.EndOfLife.Equal(t0.Add(window)), "the earlier date stays: got %v", c.EndOfLife)
	assert.Equal(t, again, c.Replacement, "the newest replacement")
	w.takeEvents()

	// Past the window, a regular run retires it.
	w.clock.Set(t0.Add(window + time.Hour))
	p, _, err = r.Run(ctx)
	require.NoError(t, err)
	ch := p.Find(repoLoc, old.Digest)
	require.NotNil(t, ch)
	assert.Equal(t, catalog.StatusRetired, ch.To)
	assert.True(t, ch.Applied, ch.Error)
	assert.Equal(t, again, ch.Replacement)

	// Bad requests.
	_, err = r.Supersede(ctx, lifecycle.SupersedeRequest{Repository: repoLoc, Digest: old.Digest})
	assert.ErrorIs(t, err, lifecycle.ErrInvalidConfig, "no replacement")
	_, err = r.Supersede(ctx, lifecycle.SupersedeRequest{Repository: repoLoc, Digest: "sha256:nope", Replacement: "x"})
	assert.ErrorIs(t, err, lifecycle.ErrInvalidConfig, "bad digest")
}

// TestSupersedeWithALongerLife: with Config.Superseded past the window,
// the superseded image stays active with the replacement pointer and its
// new date (an update, not a transition); an earlier date from another
// source wins.
func TestSupersedeWithALongerLife(t *testing.T) {
	ctx := context.Background()
	store := catalog.NewMemoryStore()
	w := newWorld(t, registrytest.OCI)
	const name = "golden/library/redis"
	repoLoc := w.location(name)
	t0 := utc(2025, 3, 1, 0, 0, 0)
	w.clock.Set(t0)
	old := w.pushImage(name, 3, slices.Clone(debianGo))
	w.attachMarker(name, old, "2030-01-01", t0, w.signer, "cssc")
	early := w.pushImage(name, 4, slices.Clone(debianGo))
	w.attachMarker(name, early, "2025-12-01", t0, w.signer, "cssc")
	w.catalogInto(store, name, old)
	w.catalogInto(store, name, early)
	r := w.runner(store, lifecycle.Config{Window: lifecycle.Duration{Duration: 30 * 24 * time.Hour},
		Superseded: lifecycle.Duration{Duration: 365 * 24 * time.Hour}})

	c, err := r.Supersede(ctx, lifecycle.SupersedeRequest{Repository: repoLoc, Digest: old.Digest, Replacement: repoLoc + ":7@sha256:x"})
	require.NoError(t, err)
	assert.Equal(t, lifecycle.KindUpdate, c.Kind)
	assert.Equal(t, catalog.StatusActive, c.To)
	assert.True(t, c.EndOfLife.Equal(t0.Add(365*24*time.Hour)), "got %v", c.EndOfLife)
	evs := w.takeEvents()
	require.Len(t, evs, 1)
	assert.Equal(t, lifecycle.TypeChanged, evs[0].Type)

	c, err = r.Supersede(ctx, lifecycle.SupersedeRequest{Repository: repoLoc, Digest: early.Digest, Replacement: repoLoc + ":7@sha256:y"})
	require.NoError(t, err)
	assert.True(t, c.EndOfLife.Equal(utc(2025, 12, 1, 0, 0, 0)), "the marker's earlier date wins: got %v (%s)", c.EndOfLife, c.Reason)
	assert.Equal(t, repoLoc+":7@sha256:y", c.Replacement)
	refs, err := registry.Referrers(ctx, w.repo(name), early, artifact.TypeLifecycle)
	require.NoError(t, err)
	assert.Len(t, refs, 2, "the acquire marker and the state marker")
}
