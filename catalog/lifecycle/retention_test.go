package lifecycle_test

import (
	"context"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/lifecycle"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// TestRetentionChain retires two images whose replacement pointers chain
// (1.24 -> 1.25 -> 1.26): retention deletes 1.24 once its grace period is
// over, keeps 1.25 while 1.24's pointer names it, deletes it on the next
// run, and never touches 1.26, which is still supported; an image retired
// by hand before its end of life is never deleted while a source still
// supports it.
func TestRetentionChain(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, registrytest.OCI)
	const name = "golden/library/app"
	loc := w.location(name)
	w.clock.Set(utc(2025, 1, 1, 0, 0, 0))
	store := catalog.NewMemoryStore()
	v24 := w.pushImage(name, 24, nil, "1.24")
	v25 := w.pushImage(name, 25, nil, "1.25")
	v26 := w.pushImage(name, 26, nil, "1.26")
	v27 := w.pushImage(name, 27, nil, "1.27")
	for tag, img := range map[string]ocispec.Descriptor{"1.24": v24, "1.25": v25, "1.26": v26, "1.27": v27} {
		w.catalogInto(store, name, img, tag)
	}
	r := w.runner(store, lifecycle.Config{
		Rules: []lifecycle.Rule{
			{Repository: "*/golden/library/app", Tag: "1.24", EndOfLife: date(t, "2025-01-15"), Replacement: loc + ":1.25"},
			{Repository: "*/golden/library/app", Tag: "1.25", EndOfLife: date(t, "2025-02-01"), Replacement: loc + "@" + v26.Digest.String()},
			{Repository: "*/golden/library/app", Tag: "1.2[67]", EndOfLife: date(t, "2027-01-01")},
		},
		Retirement: lifecycle.Retirement{Action: lifecycle.ActionUntag, GracePeriod: lifecycle.Duration{Duration: 30 * 24 * time.Hour}},
	})
	run := func(at time.Time) *lifecycle.Plan {
		t.Helper()
		w.clock.Set(at)
		p, _, err := r.Run(ctx)
		require.NoError(t, err)
		return p
	}
	exists := func(img ocispec.Descriptor) bool {
		_, err := w.repo(name).Resolve(ctx, img.Digest.String())
		if err != nil {
			require.ErrorIs(t, err, registry.ErrNotFound)
		}
		return err == nil
	}

	p := run(utc(2025, 3, 1, 0, 0, 0))
	assert.Equal(t, catalog.StatusRetired, p.Find(loc, v24.Digest).To)
	assert.Equal(t, catalog.StatusRetired, p.Find(loc, v25.Digest).To)
	// 1.27 is retired by hand, long before its end of life.
	c, err := r.Retire(ctx, lifecycle.RetireRequest{Repository: loc, Digest: v27.Digest, Reason: "security incident", Author: "secops",
		Replacement: loc + ":1.26"})
	require.NoError(t, err)
	assert.Equal(t, lifecycle.SourceOverride, c.Source)
	assert.Equal(t, []string{"marker", "untag 1.27", "event", "entry"}, stepNames(c))

	p = run(utc(2025, 3, 30, 23, 59, 59))
	assert.Zero(t, p.Count(lifecycle.KindDelete), "grace period not over")
	assert.True(t, exists(v24) && exists(v25))

	p = run(utc(2025, 4, 15, 0, 0, 0))
	assert.Equal(t, 1, p.Count(lifecycle.KindDelete))
	assert.Equal(t, lifecycle.KindDelete, p.Find(loc, v24.Digest).Kind)
	hold := p.Find(loc, v25.Digest)
	require.NotNil(t, hold)
	assert.Equal(t, lifecycle.KindHold, hold.Kind)
	assert.Contains(t, hold.Notes[len(hold.Notes)-1], `pinned by the replacement pointer "`+loc+`:1.25"`)
	hold = p.Find(loc, v27.Digest)
	require.NotNil(t, hold)
	assert.Contains(t, hold.Notes[0], "stays retired although its end of life is now 2027-01-01T00:00:00Z")
	assert.False(t, exists(v24))
	assert.True(t, exists(v25), "pinned by 1.24's replacement pointer while 1.24 was in the catalog")

	p = run(utc(2025, 4, 16, 0, 0, 0))
	assert.Equal(t, lifecycle.KindDelete, p.Find(loc, v25.Digest).Kind, "the pointer that pinned it is gone")
	assert.False(t, exists(v25))

	p = run(utc(2026, 6, 1, 0, 0, 0))
	assert.True(t, exists(v26), "still supported")
	assert.True(t, exists(v27), "retired by hand but still supported by its rule: never deleted")
	e, err := store.Get(ctx, loc, v27.Digest)
	require.NoError(t, err)
	assert.Equal(t, catalog.StatusRetired, e.Status, "a retirement by hand stays")
	assert.Equal(t, loc+":1.26", e.Replacement)
	assert.Equal(t, lifecycle.SourceOverride, e.EndOfLife.Source)
	e, err = store.Get(ctx, loc, v26.Digest)
	require.NoError(t, err)
	assert.Equal(t, catalog.StatusActive, e.Status)

	// On 1.27's own end of life its recorded date moves from the
	// retirement by hand to the rule's (its retirement time is kept); 1.26
	// retires the same day. Next day 1.27 goes (its grace period counts
	// from its retirement); 1.26 follows after its own grace period, once
	// the last pointer to it went with 1.27.
	p = run(utc(2027, 1, 1, 0, 0, 0))
	assert.Equal(t, lifecycle.KindTransition, p.Find(loc, v26.Digest).Kind, "1.26 retires")
	assert.Equal(t, lifecycle.KindUpdate, p.Find(loc, v27.Digest).Kind)
	p = run(utc(2027, 1, 2, 0, 0, 0))
	assert.Equal(t, lifecycle.KindDelete, p.Find(loc, v27.Digest).Kind)
	assert.Nil(t, p.Find(loc, v26.Digest), "1.26 in its grace period")
	p = run(utc(2027, 1, 31, 0, 0, 0))
	assert.Equal(t, lifecycle.KindDelete, p.Find(loc, v26.Digest).Kind)
	assert.False(t, exists(v26) || exists(v27))
}

func stepNames(c *lifecycle.Change) []string {
	var out []string
	for _, s := range c.Steps {
		out = append(out, s.String())
	}
	return out
}
