package lifecycle_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/lifecycle"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/sbom"
)

// TestStateMachine walks an image through every state with an injected
// clock, on every store: a signed marker given as a plain date, an unsigned
// upstream marker and a malformed one set aside, a deprecation, a signed
// marker with a full timestamp and an offset that moves the date later
// (back to active), deprecated again, retired on the exact instant (tags
// removed, digest kept, replacement pointer), the retirement marker
// verified with notation and read back by re-cataloging, and the digest
// deleted once the grace period is over.
func TestStateMachine(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if name == "postgres" && testing.Short() {
				t.Skip("starts PostgreSQL")
			}
			walk(t, open(t))
		})
	}
}

func walk(t *testing.T, store catalog.Store) {
	ctx := context.Background()
	w := newWorld(t, registrytest.OCI)
	const name = "golden/library/nginx"
	repoLoc := w.location(name)
	w.clock.Set(utc(2025, 1, 1, 0, 0, 0))

	old := w.pushImage(name, 1, slices.Clone(debianGo), "1.26", "1.26.3")
	next := w.pushImage(name, 2, []sbom.Package{{Name: "base-files", Version: "13.8", PURL: "pkg:deb/debian/base-files@13.8?distro=trixie"}}, "1.28")
	// The acquire pipeline's marker: a plain date, enterprise-signed.
	w.attachMarker(name, old, "2026-01-01", utc(2025, 1, 1, 0, 0, 0), w.signer, "cssc")
	// An upstream marker copied along, newer, unsigned and signed by the
	// publisher: never trusted.
	unsigned := w.attachMarker(name, old, "2030-01-01", utc(2025, 2, 1, 0, 0, 0), nil, "")
	upstream := w.attachMarker(name, old, "2031-01-01", utc(2025, 2, 2, 0, 0, 0), w.publisher, "")
	// A malformed marker, even though the enterprise key signed it.
	bad, err := registry.Attach(ctx, w.repo(name), old, registry.Artifact{ArtifactType: artifact.TypeLifecycle, Created: utc(2025, 3, 1, 0, 0, 0),
		Annotations: map[string]string{artifact.AnnotationEndOfLife: "soon"}})
	require.NoError(t, err)
	bad.Annotations = nil
	_, err = w.signer.Sign(ctx, w.repo(name), bad)
	require.NoError(t, err)

	w.catalogInto(store, name, old, "1.26", "1.26.3")
	w.catalogInto(store, name, next, "1.28")

	cfg := lifecycle.Config{
		Releases: readReleases(t), // Debian 12: 2026-06-10; Go 1.22: 2026-08-01T00:00:00+02:00
		Rules: []lifecycle.Rule{{Name: "nginx 1.26", Repository: "*/golden/library/nginx", Tag: "1.26*", EndOfLife: date(t, "2027-01-01"),
			Replacement: repoLoc + ":1.28"}},
		Window:     lifecycle.Duration{Duration: 90 * 24 * time.Hour},
		Retirement: lifecycle.Retirement{Action: lifecycle.ActionUntag, GracePeriod: lifecycle.Duration{Duration: 30 * 24 * time.Hour}},
	}
	r := w.runner(store, cfg)
	get := func() *catalog.Entry {
		t.Helper()
		e, err := store.Get(ctx, repoLoc, old.Digest)
		require.NoError(t, err)
		return e
	}
	run := func(at time.Time) *lifecycle.Plan {
		t.Helper()
		w.clock.Set(at)
		p, sw, err := r.Run(ctx)
		require.NoError(t, err)
		require.NotNil(t, sw)
		assert.Equal(t, lifecycle.SweepKind, sw.Kind)
		assert.Equal(t, catalog.SweepFinished, sw.State)
		for _, c := range p.Changes {
			if c.Kind != lifecycle.KindHold {
				assert.True(t, c.Applied, "%s %s: %s", c.Kind, c.Digest, c.Error)
			}
		}
		return p
	}
	one := func(p *lifecycle.Plan) *lifecycle.Change {
		t.Helper()
		c := p.Find(repoLoc, old.Digest)
		require.NotNil(t, c, "a change of the 1.26 image")
		return c
	}
	markers := func() int {
		refs, err := registry.Referrers(ctx, w.repo(name), old, artifact.TypeLifecycle)
		require.NoError(t, err)
		return len(refs)
	}

	// 2025-06-01: active; the end of life comes from the signed marker
	// (2026-01-01, the earliest of the image's, Debian 12's and Go
	// 1.22's), recorded on the entry and in a new signed marker.
	p := run(utc(2025, 6, 1, 0, 0, 0))
	c := one(p)
	assert.Equal(t, lifecycle.KindUpdate, c.Kind)
	assert.Equal(t, catalog.StatusActive, c.To)
	assert.Len(t, c.Ignored, 3, "unsigned, publisher-signed and malformed markers are set aside: %v", c.Ignored)
	joined := strings.Join(c.Ignored, "\n")
	assert.Contains(t, joined, unsigned.String())
	assert.Contains(t, joined, upstream.String())
	assert.Contains(t, joined, bad.Digest.String())
	e := get()
	assert.Equal(t, catalog.StatusActive, e.Status)
	require.NotNil(t, e.EndOfLife)
	assert.Equal(t, utc(2026, 1, 1, 0, 0, 0), e.EndOfLife.Date)
	assert.Equal(t, lifecycle.SourceMarker, e.EndOfLife.Source)
	assert.Contains(t, e.EndOfLife.Reason, "preferred over image 2027-01-01T00:00:00Z (rule nginx 1.26)")
	assert.Len(t, e.EndOfLife.Sources, 5, "marker, rule, nginx 1.26 (data file), Debian 12 and Go 1.22: %v", e.EndOfLife.Sources)
	assert.Equal(t, repoLoc+":1.28", e.Replacement)
	evs := w.takeEvents()
	require.Len(t, evs, 1)
	assert.Equal(t, lifecycle.TypeChanged, evs[0].Type)
	n := markers()

	// Nothing changes: no marker, no event.
	p = run(utc(2025, 6, 2, 0, 0, 0))
	assert.Zero(t, p.Count(lifecycle.KindUpdate)+p.Count(lifecycle.KindTransition))
	assert.Equal(t, n, markers(), "an unchanged state writes no marker")
	assert.Empty(t, w.takeEvents())

	// Deprecated on the first instant of the 90-day window.
	run(utc(2025, 10, 2, 23, 59, 59))
	assert.Equal(t, catalog.StatusActive, get().Status)
	c = one(run(utc(2025, 10, 3, 0, 0, 0)))
	assert.Equal(t, lifecycle.KindTransition, c.Kind)
	assert.Equal(t, catalog.StatusDeprecated, get().Status)
	evs = w.takeEvents()
	require.Len(t, evs, 1)
	assert.Equal(t, lifecycle.TypeDeprecated, evs[0].Type)
	var tr lifecycle.Transition
	require.NoError(t, evs[0].Decode(&tr))
	assert.Equal(t, catalog.StatusActive, tr.From)
	assert.Equal(t, catalog.StatusDeprecated, tr.To)
	assert.Equal(t, c.Marker, tr.Marker)
	assert.Equal(t, repoLoc+"@"+old.Digest.String(), evs[0].Subject)

	// A new enterprise-signed marker, a full timestamp with an offset,
	// moves the end of life later: back to active.
	w.attachMarker(name, old, "2026-03-01T12:00:00-05:00", utc(2025, 10, 10, 0, 0, 0), w.signer, "cssc")
	c = one(run(utc(2025, 10, 16, 0, 0, 0)))
	assert.Equal(t, lifecycle.KindTransition, c.Kind)
	assert.Equal(t, catalog.StatusDeprecated, c.From)
	assert.Equal(t, catalog.StatusActive, c.To)
	eol := utc(2026, 3, 1, 17, 0, 0)
	assert.Equal(t, eol, get().EndOfLife.Date)
	assert.Equal(t, lifecycle.TypeActive, w.takeEvents()[0].Type)

	// Deprecated again 90 days before the new date, retired on its
	// instant.
	run(eol.Add(-90*24*time.Hour - time.Second))
	assert.Equal(t, catalog.StatusActive, get().Status)
	run(eol.Add(-90 * 24 * time.Hour))
	assert.Equal(t, catalog.StatusDeprecated, get().Status)
	w.takeEvents()
	run(eol.Add(-time.Second))
	assert.Equal(t, catalog.StatusDeprecated, get().Status)
	c = one(run(eol))
	assert.Equal(t, lifecycle.KindTransition, c.Kind)
	assert.Equal(t, catalog.StatusRetired, c.To)
	var steps []string
	for _, s := range c.Steps {
		steps = append(steps, s.String())
	}
	assert.Equal(t, []string{"marker", "untag 1.26", "untag 1.26.3", "event", "entry"}, steps)
	e = get()
	assert.Equal(t, catalog.StatusRetired, e.Status)
	assert.Empty(t, e.Tags)
	assert.Equal(t, c.Marker, e.EndOfLife.Marker)
	for _, tag := range []string{"1.26", "1.26.3"} {
		_, err := w.repo(name).Resolve(ctx, tag)
		assert.ErrorIs(t, err, registry.ErrNotFound, "golden tag %s removed", tag)
	}
	_, err = w.repo(name).Resolve(ctx, old.Digest.String())
	require.NoError(t, err, "the digest stays for pinned consumers")
	evs = w.takeEvents()
	require.Len(t, evs, 1)
	assert.Equal(t, lifecycle.TypeRetired, evs[0].Type)
	require.NoError(t, evs[0].Decode(&tr))
	assert.Equal(t, []string{"untag 1.26", "untag 1.26.3"}, tr.Actions)
	assert.Equal(t, repoLoc+":1.28", tr.Replacement)

	// The retirement marker verifies with cssc's notation verifier, says
	// what the catalog says, and re-cataloging the image gives the very
	// entry the store holds.
	checkRetirementMarker(t, w, name, old, c.Marker, eol, repoLoc+":1.28")
	again, err := w.cataloger.Catalog(ctx, w.repo(name), old.Digest.String())
	require.NoError(t, err)
	want, err := catalog.Marshal(e)
	require.NoError(t, err)
	got, err := catalog.Marshal(again)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(got), "re-cataloging reads the lifecycle state back")

	// Retention: kept during the grace period, deleted after it; the
	// replacement 1.28 is never touched.
	p = run(eol.Add(30*24*time.Hour - time.Second))
	assert.Nil(t, p.Find(repoLoc, old.Digest), "nothing to do during the grace period")
	c = one(run(eol.Add(30 * 24 * time.Hour)))
	assert.Equal(t, lifecycle.KindDelete, c.Kind)
	_, err = w.repo(name).Resolve(ctx, old.Digest.String())
	assert.ErrorIs(t, err, registry.ErrNotFound, "digest deleted after the grace period")
	_, err = store.Get(ctx, repoLoc, old.Digest)
	assert.ErrorIs(t, err, catalog.ErrNotFound)
	assert.Equal(t, lifecycle.TypeDeleted, w.takeEvents()[0].Type)
	d, err := w.repo(name).Resolve(ctx, "1.28")
	require.NoError(t, err)
	assert.Equal(t, next.Digest, d.Digest)
	ne, err := store.Get(ctx, repoLoc, next.Digest)
	require.NoError(t, err)
	assert.Equal(t, catalog.StatusActive, ne.Status)

	if sl, ok := store.(catalog.SweepLog); ok {
		sws, err := sl.Sweeps(ctx, 100)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, len(sws), 10, "every run is recorded")
		assert.Equal(t, lifecycle.SweepKind, sws[0].Kind)
		assert.Equal(t, 1, sws[0].Outcomes["deleted"], "latest run: %+v", sws[0])
	}
}

// checkRetirementMarker verifies the marker with the notation verifier and
// reads its annotations.
func checkRetirementMarker(t *testing.T, w *world, name string, img ocispec.Descriptor, marker digest.Digest, eol time.Time, replacement string) {
	t.Helper()
	ctx := context.Background()
	repo := w.repo(name)
	refs, err := registry.Referrers(ctx, repo, img, artifact.TypeLifecycle)
	require.NoError(t, err)
	i := slices.IndexFunc(refs, func(d ocispec.Descriptor) bool { return d.Digest == marker })
	require.GreaterOrEqual(t, i, 0, "the marker is a referrer of the image")
	d := ocispec.Descriptor{MediaType: refs[i].MediaType, Digest: refs[i].Digest, Size: refs[i].Size}
	v, err := w.verifier.Verify(ctx, repo, d)
	require.NoError(t, err)
	require.True(t, v.Verified(), "the marker verifies: %v", v.Err())
	assert.True(t, v.VerifiedBy(w.identity))
	raw, err := manifest.Fetch(ctx, repo, d, 0)
	require.NoError(t, err)
	m, err := manifest.Parse(d.MediaType, raw)
	require.NoError(t, err)
	assert.Equal(t, eol.Format(time.RFC3339), m.Annotations[artifact.AnnotationEndOfLife], "RFC 3339, UTC")
	assert.Equal(t, artifact.LifecycleRetired, m.Annotations[artifact.AnnotationLifecycleStatus])
	l, err := attest.ParseLifecycle(d.Digest, m.Annotations)
	require.NoError(t, err)
	require.NotNil(t, l.State)
	assert.Equal(t, replacement, l.State.Replacement)
	assert.Equal(t, lifecycle.DefaultGenerator, l.GeneratedBy)
}
