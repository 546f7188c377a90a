package lifecycle_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/lifecycle"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// TestArchive moves a retired image with every referrer to the archive
// repository on a registry without the referrers API (distribution):
// the copy is tagged there, its signatures and markers verify there, and
// golden keeps only the digest.
func TestArchive(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, registrytest.Distribution)
	const name = "golden/library/tool"
	w.clock.Set(utc(2025, 1, 1, 0, 0, 0))
	store := catalog.NewMemoryStore()
	img := w.pushImage(name, 7, nil, "2.0", "2")
	w.catalogInto(store, name, img, "2", "2.0")
	r := w.runner(store, lifecycle.Config{
		Rules:      []lifecycle.Rule{{Repository: "*/golden/library/tool", EndOfLife: date(t, "2025-06-01")}},
		Retirement: lifecycle.Retirement{Action: lifecycle.ActionArchive, ArchiveFrom: w.location("golden"), ArchiveTo: w.location("archive")},
	})
	w.clock.Set(utc(2025, 6, 1, 0, 0, 0))
	p, _, err := r.Run(ctx)
	require.NoError(t, err)
	c := p.Find(w.location(name), img.Digest)
	require.NotNil(t, c)
	require.True(t, c.Applied, c.Error)
	assert.Equal(t, []string{"marker", "archive " + w.location("archive/library/tool"), "untag 2", "untag 2.0", "event", "entry"}, stepNames(c))

	arch := w.repo("archive/library/tool")
	for _, tag := range []string{"2", "2.0"} {
		d, err := arch.Resolve(ctx, tag)
		require.NoError(t, err, "archived with tag %s", tag)
		assert.Equal(t, img.Digest, d.Digest)
		_, err = w.repo(name).Resolve(ctx, tag)
		assert.ErrorIs(t, err, registry.ErrNotFound)
	}
	v, err := w.verifier.Verify(ctx, arch, img)
	require.NoError(t, err)
	assert.True(t, v.VerifiedBy(w.identity), "the image's enterprise signature came along: %v", v.Err())
	checkRetirementMarker(t, w, "archive/library/tool", img, c.Marker, utc(2025, 6, 1, 0, 0, 0), "")
	archived, err := w.cataloger.Catalog(ctx, arch, img.Digest.String())
	require.NoError(t, err)
	assert.Equal(t, catalog.StatusRetired, archived.Status, "the archive copy reads as retired")
	require.Len(t, archived.Children, 1)
	assert.NotNil(t, archived.Children[0].SBOM, "its signed SBOM came along")

	// Cataloged, the archive copy is never acted upon again.
	archived.Tags = []string{"2", "2.0"}
	require.NoError(t, store.Put(ctx, archived))
	w.clock.Set(utc(2026, 6, 1, 0, 0, 0))
	p, _, err = r.Run(ctx)
	require.NoError(t, err)
	assert.Nil(t, p.Find(w.location("archive/library/tool"), img.Digest))
	d, err := arch.Resolve(ctx, "2.0")
	require.NoError(t, err)
	assert.Equal(t, img.Digest, d.Digest)
}

// TestDryRun plans without changing anything, applies the plan, and
// refuses to apply a plan the world moved away from.
func TestDryRun(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, registrytest.OCINoReferrers)
	const name = "golden/library/db"
	loc := w.location(name)
	w.clock.Set(utc(2025, 1, 1, 0, 0, 0))
	store := catalog.NewMemoryStore()
	a := w.pushImage(name, 1, nil, "15")
	b := w.pushImage(name, 2, nil, "16")
	w.catalogInto(store, name, a, "15")
	w.catalogInto(store, name, b, "16")
	r := w.runner(store, lifecycle.Config{
		Rules: []lifecycle.Rule{
			{Repository: "*/golden/library/db", Tag: "15", EndOfLife: date(t, "2025-03-01"), Replacement: loc + ":16"},
			{Repository: "*/golden/library/db", Tag: "16", EndOfLife: date(t, "2025-09-01")},
		},
		Retirement: lifecycle.Retirement{Action: lifecycle.ActionUntag},
	})
	imgs := []string{a.Digest.String(), b.Digest.String()}
	snapshot := func() string {
		var sb strings.Builder
		for _, img := range imgs {
			e, err := store.Get(ctx, loc, digestOf(img))
			require.NoError(t, err)
			raw, err := catalog.Marshal(e)
			require.NoError(t, err)
			sb.Write(raw)
			d, err := w.repo(name).Resolve(ctx, img)
			require.NoError(t, err)
			refs, err := registry.Referrers(ctx, w.repo(name), d, "")
			require.NoError(t, err)
			for _, r := range refs {
				sb.WriteString(r.Digest.String())
			}
		}
		var tags []string
		require.NoError(t, w.repo(name).Tags(ctx, "", func(ts []string) error { tags = append(tags, ts...); return nil }))
		sb.WriteString(strings.Join(tags, ","))
		return sb.String()
	}

	w.clock.Set(utc(2025, 6, 15, 0, 0, 0))
	before := snapshot()
	plan, err := r.Plan(ctx)
	require.NoError(t, err)
	assert.Equal(t, before, snapshot(), "a dry run changes nothing in the store or the registry")
	assert.Empty(t, w.takeEvents(), "a dry run emits nothing")
	require.Len(t, plan.Changes, 2)
	ca, cb := plan.Find(loc, a.Digest), plan.Find(loc, b.Digest)
	assert.Equal(t, catalog.StatusRetired, ca.To)
	assert.Equal(t, []string{"marker", "untag 15", "event", "entry"}, stepNames(ca), "the dry run lists what would change")
	assert.Equal(t, catalog.StatusDeprecated, cb.To)
	assert.Equal(t, 2, plan.Entries)

	// The world moves: 16's end of life is extended by an override before
	// the plan is applied. Its change is skipped; 15's is applied.
	p2, err := lifecycle.Compile(lifecycle.Config{
		Rules: []lifecycle.Rule{
			{Repository: "*/golden/library/db", Tag: "15", EndOfLife: date(t, "2025-03-01"), Replacement: loc + ":16"},
			{Repository: "*/golden/library/db", Tag: "16", EndOfLife: date(t, "2025-09-01")},
		},
		Overrides:  []lifecycle.Override{{Repository: "*/golden/library/db", Tag: "16", EndOfLife: date(t, "2026-09-01"), Reason: "extended"}},
		Retirement: lifecycle.Retirement{Action: lifecycle.ActionUntag},
	})
	require.NoError(t, err)
	r2 := w.runner(store, p2.Config())
	applied, sw, err := r2.Apply(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, plan.ID, sw.ID)
	assert.Equal(t, "apply", sw.Trigger)
	fa, fb := applied.Find(loc, a.Digest), applied.Find(loc, b.Digest)
	assert.True(t, fa.Applied, fa.Error)
	assert.False(t, fb.Applied)
	assert.ErrorIs(t, fb.Err(), lifecycle.ErrChanged, "got %v", fb.Err())
	assert.Equal(t, 1, sw.Outcomes["retired"])
	assert.Equal(t, 1, sw.Outcomes["skipped"])
	e, err := store.Get(ctx, loc, b.Digest)
	require.NoError(t, err)
	assert.Equal(t, catalog.StatusActive, e.Status, "the skipped change was not applied")
}

// TestBadInputNeverRetires: markers nobody trusted, a registry that fails
// and a signer that fails never retire an image, and leave no unsigned
// marker.
func TestBadInputNeverRetires(t *testing.T) {
	ctx := context.Background()
	var failReferrers, failSignatures atomic.Bool
	w := newWorld(t, registrytest.OCI, registrytest.Options{Middleware: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
			if failReferrers.Load() && strings.Contains(req.URL.Path, "/referrers/") {
				http.Error(rw, "boom", http.StatusInternalServerError)
				return
			}
			if failSignatures.Load() && req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/manifests/") &&
				strings.Contains(req.Header.Get("Content-Type"), "manifest") && req.ContentLength > 0 {
				// Refuse signature manifests only: they are the ones
				// whose config is the notary signature type.
				body, _ := io.ReadAll(req.Body)
				if strings.Contains(string(body), artifact.TypeNotarySignature) {
					http.Error(rw, "no space left", http.StatusInternalServerError)
					return
				}
				req.Body = nopCloser{strings.NewReader(string(body))}
			}
			h.ServeHTTP(rw, req)
		})
	}})
	const name = "golden/library/cache"
	loc := w.location(name)
	w.clock.Set(utc(2025, 1, 1, 0, 0, 0))
	store := catalog.NewMemoryStore()
	img := w.pushImage(name, 3, nil, "7")
	// Only untrusted markers say the image is long dead.
	w.attachMarker(name, img, "2020-01-01", utc(2024, 1, 1, 0, 0, 0), nil, "")
	w.attachMarker(name, img, "2020-01-01T00:00:00Z", utc(2024, 1, 2, 0, 0, 0), w.publisher, "cssc")
	w.catalogInto(store, name, img, "7")
	r := w.runner(store, lifecycle.Config{Retirement: lifecycle.Retirement{Action: lifecycle.ActionUntag}})

	w.clock.Set(utc(2025, 6, 1, 0, 0, 0))
	p, _, err := r.Run(ctx)
	require.NoError(t, err)
	c := p.Find(loc, img.Digest)
	require.NotNil(t, c, "set-aside markers are recorded")
	assert.Equal(t, lifecycle.KindHold, c.Kind)
	require.Len(t, c.Ignored, 2)
	for _, s := range c.Ignored {
		assert.Contains(t, s, lifecycle.ErrMarkerUntrusted.Error())
	}
	e, err := store.Get(ctx, loc, img.Digest)
	require.NoError(t, err)
	assert.Equal(t, catalog.StatusActive, e.Status, "untrusted markers never retire")

	// A rule retires it; the registry fails: nothing happens, a failure
	// event says why.
	r = w.runner(store, lifecycle.Config{Rules: []lifecycle.Rule{{Repository: "*/golden/library/cache", EndOfLife: date(t, "2025-05-01")}},
		Retirement: lifecycle.Retirement{Action: lifecycle.ActionUntag}})
	w.takeEvents()
	failReferrers.Store(true)
	p, sw, err := r.Run(ctx)
	require.NoError(t, err)
	c = p.Find(loc, img.Digest)
	assert.Equal(t, lifecycle.KindError, c.Kind)
	assert.Error(t, c.Err())
	assert.Equal(t, 1, sw.Outcomes["failed"])
	evs := w.takeEvents()
	require.Len(t, evs, 1)
	assert.Equal(t, lifecycle.TypeFailed, evs[0].Type)
	failReferrers.Store(false)
	e, err = store.Get(ctx, loc, img.Digest)
	require.NoError(t, err)
	assert.Equal(t, catalog.StatusActive, e.Status, "not retired while the registry fails")
	_, err = w.repo(name).Resolve(ctx, "7")
	require.NoError(t, err, "not untagged")

	// The signer fails: the marker it could not sign is deleted, nothing
	// else happens.
	failSignatures.Store(true)
	p, _, err = r.Run(ctx)
	require.NoError(t, err)
	c = p.Find(loc, img.Digest)
	assert.False(t, c.Applied)
	assert.Contains(t, c.Error, "sign lifecycle marker")
	assert.Empty(t, w.takeEvents())
	refs, err := registry.Referrers(ctx, w.repo(name), img, artifact.TypeLifecycle)
	require.NoError(t, err)
	for _, ref := range refs {
		assert.NotEqual(t, lifecycle.DefaultGenerator, ref.Annotations[artifact.AnnotationGeneratedBy], "no unsigned marker of ours is left")
	}
	e, err = store.Get(ctx, loc, img.Digest)
	require.NoError(t, err)
	assert.Equal(t, catalog.StatusActive, e.Status)

	// Everything works again: retired, once.
	failSignatures.Store(false)
	p, _, err = r.Run(ctx)
	require.NoError(t, err)
	c = p.Find(loc, img.Digest)
	require.True(t, c.Applied, c.Error)
	assert.Equal(t, catalog.StatusRetired, c.To)
	evs = w.takeEvents()
	require.Len(t, evs, 1)
	assert.Equal(t, lifecycle.TypeRetired, evs[0].Type)
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

func digestOf(s string) digest.Digest { return digest.Digest(s) }

// TestEventFailureIsRetriedWithTheSameMarkerAndID: an event sink that
// fails after the marker was signed leaves the entry as it was; the next
// run reuses the marker (no second one) and emits an event with the same
// id, so receivers act on it once.
func TestEventFailureIsRetriedWithTheSameMarkerAndID(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, registrytest.OCI)
	const name = "golden/library/queue"
	loc := w.location(name)
	w.clock.Set(utc(2025, 1, 1, 0, 0, 0))
	store := catalog.NewMemoryStore()
	img := w.pushImage(name, 9, nil, "3")
	w.catalogInto(store, name, img, "3")
	var ids []string
	var fail atomic.Bool
	fail.Store(true)
	r := w.runner(store, lifecycle.Config{Rules: []lifecycle.Rule{{Repository: "*/golden/library/queue", EndOfLife: date(t, "2025-03-01")}}},
		func(o *lifecycle.Options) {
			o.Events = event.Func(func(_ context.Context, e event.Event) error {
				ids = append(ids, e.ID)
				if fail.Load() {
					return errors.New("webhook down")
				}
				return nil
			})
		})
	markers := func() int {
		refs, err := registry.Referrers(ctx, w.repo(name), img, artifact.TypeLifecycle)
		require.NoError(t, err)
		return len(refs)
	}
	w.clock.Set(utc(2025, 2, 1, 0, 0, 0))
	p, _, err := r.Run(ctx)
	require.NoError(t, err)
	c := p.Find(loc, img.Digest)
	assert.False(t, c.Applied)
	assert.Contains(t, c.Error, "webhook down")
	assert.Equal(t, 1, markers(), "the marker was signed before the event failed")
	e, err := store.Get(ctx, loc, img.Digest)
	require.NoError(t, err)
	assert.Equal(t, catalog.StatusActive, e.Status, "the entry moves only after the event went out")

	fail.Store(false)
	w.clock.Set(utc(2025, 2, 1, 0, 5, 0))
	p, _, err = r.Run(ctx)
	require.NoError(t, err)
	c = p.Find(loc, img.Digest)
	require.True(t, c.Applied, c.Error)
	assert.Equal(t, []string{"event", "entry"}, stepNames(c), "the signed marker is reused")
	assert.Equal(t, 1, markers())
	require.Len(t, ids, 2)
	assert.Equal(t, ids[0], ids[1], "the retried event has the id of the failed one")
	e, err = store.Get(ctx, loc, img.Digest)
	require.NoError(t, err)
	assert.Equal(t, catalog.StatusDeprecated, e.Status)
}
