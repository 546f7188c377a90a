package upstream_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/internal/eventtest"
	"github.com/cssc-go/cssc/catalog/lifecycle"
	"github.com/cssc-go/cssc/catalog/upstream"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/registry"
)

// TestFollowsThePublisher walks one golden tag through what publishers
// do, on every store: an unchanged tag costs one HEAD; a patched rebuild
// is acquired through the real pipeline and the golden tag follows (tag
// history, TagMoved, the replaced image deprecated with a replacement
// pointer); a rebuild that fails the policy leaves golden where it was
// and the failure on the track; a tag that goes back to a replaced digest
// is held without a pull; a tag that disappears is recorded and golden
// keeps serving; and all of it survives a restart.
func TestFollowsThePublisher(t *testing.T) {
	for name, kind := range storeKinds() {
		t.Run(name, func(t *testing.T) {
			open := kind(t)
			followsThePublisher(t, newFixture(t, open))
		})
	}
}

func followsThePublisher(t *testing.T, f *fixture) {
	ctx := f.ctx
	goldenRepo := registry.Join(f.golden, sample.Clean)
	first := f.promote(sample.Clean)
	tr := f.track(sample.Clean)
	assert.Equal(t, catalog.TrackCurrent, tr.State, "the promotion hook registered the tag")
	assert.Equal(t, first.SourceDigest, tr.SourceDigest)
	assert.Equal(t, first.Digest, tr.GoldenDigest)
	assert.Equal(t, registry.Join(f.src.Host, sample.Clean)+":"+sample.Tag, tr.Source)
	f.events.Take()

	// Unchanged: one HEAD, nothing else, and the check time moves.
	f.count.take()
	f.clock.Add(time.Hour)
	sw := f.sweep()
	assert.Equal(t, map[string]int{"HEAD manifests": 1}, f.count.take(), "an unchanged tag costs one HEAD")
	assert.Equal(t, catalog.SweepFinished, sw.State)
	assert.Equal(t, upstream.SweepKind, sw.Kind)
	assert.Equal(t, map[string]int{"current": 1}, sw.Outcomes)
	tr = f.track(sample.Clean)
	assert.True(t, tr.Checked.Equal(f.clock.Now()), "checked at %v, want %v", tr.Checked, f.clock.Now())
	assert.Empty(t, f.events.Take())

	// A patched rebuild: acquired, promoted, golden follows.
	patched := f.publish(sample.Clean, sample.Tag, "patched", cleanPackages)
	f.clock.Add(time.Hour)
	sw = f.sweep()
	assert.Equal(t, 1, sw.Outcomes["acquisition-promoted"], "outcomes %v, failures %v", sw.Outcomes, sw.Failures)
	tr = f.track(sample.Clean)
	require.Equal(t, catalog.TrackCurrent, tr.State, tr.Reason)
	assert.Equal(t, patched.Digest, tr.SourceDigest)
	assert.Equal(t, []digest.Digest{first.SourceDigest}, tr.Replaced)
	assert.Empty(t, tr.Supersede, "the supersession is done")
	require.Len(t, tr.Attempts, 1)
	assert.Equal(t, upstream.OutcomePromoted, tr.Attempts[0].Outcome)
	newGolden := f.goldenTag(sample.Clean, sample.Tag)
	assert.Equal(t, tr.GoldenDigest, newGolden, "the golden tag moved")
	assert.NotEqual(t, first.Digest, newGolden)
	tags, err := f.st.store.Tags(ctx, goldenRepo)
	require.NoError(t, err)
	assert.Equal(t, newGolden, tags[sample.Tag], "the catalog's tag")
	hist, err := f.st.store.TagHistory(ctx, goldenRepo, sample.Tag)
	require.NoError(t, err)
	require.Len(t, hist, 2, "tag history")
	assert.Equal(t, first.Digest, hist[0].Digest)
	assert.False(t, hist[0].Current)
	assert.Equal(t, newGolden, hist[1].Digest)
	old, err := f.st.store.Get(ctx, goldenRepo, first.Digest)
	require.NoError(t, err)
	assert.Equal(t, catalog.StatusDeprecated, old.Status, "the replaced image is deprecated")
	assert.Equal(t, goldenRepo+":"+sample.Tag+"@"+newGolden.String(), old.Replacement)
	e, err := f.st.store.Get(ctx, goldenRepo, newGolden)
	require.NoError(t, err)
	assert.Equal(t, patched.Digest, e.Source.Digest, "the new entry's source")
	evs := f.events.Take()
	assert.ElementsMatch(t, []string{upstream.TypeMoved, event.TypeTagMoved, lifecycle.TypeDeprecated, upstream.TypePromoted}, eventtest.Types(evs))
	for _, ev := range evs {
		if ev.Type == upstream.TypePromoted {
			var c upstream.Change
			require.NoError(t, ev.Decode(&c))
			assert.Equal(t, first.SourceDigest, c.From)
			assert.Equal(t, patched.Digest, c.To)
			assert.Equal(t, first.Digest, c.GoldenFrom)
			assert.Equal(t, newGolden, c.GoldenTo)
		}
	}

	// A rebuild with a critical vulnerability: denied; golden stays.
	vulnerable := f.publish(sample.Clean, sample.Tag, "vulnerable", vulnerablePackages)
	f.clock.Add(time.Hour)
	sw = f.sweep()
	assert.Equal(t, 1, sw.Outcomes["acquisition-denied"], "outcomes %v", sw.Outcomes)
	tr = f.track(sample.Clean)
	require.Equal(t, catalog.TrackFailed, tr.State, tr.Reason)
	require.NotNil(t, tr.Failure)
	assert.Equal(t, vulnerable.Digest, tr.Failure.Digest)
	assert.Equal(t, upstream.OutcomeDenied, tr.Failure.Outcome)
	assert.Contains(t, tr.Failure.Reason, "DSA-5764-1", "the policy's reason is on the track")
	assert.Equal(t, patched.Digest, tr.SourceDigest, "golden still follows the patched image")
	assert.Equal(t, newGolden, f.goldenTag(sample.Clean, sample.Tag), "the golden tag stayed")
	assert.Equal(t, []string{upstream.TypeMoved, upstream.TypeFailed}, eventtest.Types(f.events.Take()))

	// Checked again before RetryFailed: no acquisition, no GET.
	f.count.take()
	f.clock.Add(10 * time.Minute)
	f.sweep()
	assert.Equal(t, map[string]int{"HEAD manifests": 1}, f.count.take(), "a recent failure is not acquired again")
	assert.Equal(t, catalog.TrackFailed, f.track(sample.Clean).State)
	assert.Empty(t, f.events.Take())

	// The tag flaps back to the digest golden followed first: held, no pull.
	src := f.src.Repository(t, sample.Clean)
	desc, err := src.Resolve(ctx, first.SourceDigest.String())
	require.NoError(t, err)
	require.NoError(t, src.Tag(ctx, desc, sample.Tag))
	f.count.take()
	f.clock.Add(time.Hour)
	f.sweep()
	assert.Equal(t, map[string]int{"HEAD manifests": 1}, f.count.take(), "a flap back costs no pull")
	tr = f.track(sample.Clean)
	assert.Equal(t, catalog.TrackHeld, tr.State, tr.Reason)
	assert.Equal(t, first.SourceDigest, tr.Observed)
	assert.Equal(t, []string{upstream.TypeFlapping}, eventtest.Types(f.events.Take()))
	f.clock.Add(time.Hour)
	f.sweep()
	assert.Empty(t, f.events.Take(), "held stays held, quietly")

	// The tag disappears upstream: recorded; golden keeps serving.
	require.NoError(t, registry.Untag(ctx, src, sample.Tag))
	f.clock.Add(time.Hour)
	f.sweep()
	tr = f.track(sample.Clean)
	assert.Equal(t, catalog.TrackGone, tr.State)
	assert.Contains(t, tr.Reason, "tag is gone")
	assert.Equal(t, newGolden, f.goldenTag(sample.Clean, sample.Tag), "golden keeps serving")
	assert.Equal(t, []string{upstream.TypeGone}, eventtest.Types(f.events.Take()))

	// A repository that is gone altogether is told apart.
	_, err = f.tracker.Register(ctx, upstream.Registration{Source: registry.Join(f.src.Host, "library/vanished") + ":2.0",
		SourceDigest: digest.FromString("vanished"), Golden: registry.Join(f.golden, "library/vanished")})
	require.NoError(t, err)
	f.clock.Add(time.Hour)
	f.sweep()
	v, err := f.tracker.Track(ctx, registry.Join(f.golden, "library/vanished"), "2.0")
	require.NoError(t, err)
	assert.Equal(t, catalog.TrackGone, v.State)
	assert.Contains(t, v.Reason, "repository is gone")

	// A restart (another handle on the store) sees the same state.
	tr = f.track(sample.Clean)
	again := f.newTracker(f.open())
	got, err := again.Track(ctx, goldenRepo, sample.Tag)
	require.NoError(t, err)
	assert.Equal(t, tr, got, "state after a restart")
}

// TestOutageLeavesTracksAsTheyWere: a registry outage during a sweep
// changes no track (not even its check time) and starts no acquisition;
// the sweep record names what could not be checked, and the next sweep
// resumes and follows the move the outage hid.
func TestOutageLeavesTracksAsTheyWere(t *testing.T) {
	f := newFixture(t, storeKinds()["sqlite"](t))
	first := f.promote(sample.Clean)
	f.promote(sample.Multi)
	before := map[string]*catalog.Track{}
	for _, n := range []string{sample.Clean, sample.Multi} {
		before[n] = f.track(n)
	}
	patched := f.publish(sample.Clean, sample.Tag, "patched", cleanPackages)
	f.events.Take()

	f.count.set(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
		return true
	})
	f.clock.Add(time.Hour)
	sw := f.sweep()
	assert.Equal(t, map[string]int{"unchecked": 2}, sw.Outcomes)
	require.NotEmpty(t, sw.Failures, "the record says what failed")
	assert.Contains(t, sw.Failures[0].Error, "not checked")
	for _, n := range []string{sample.Clean, sample.Multi} {
		assert.Equal(t, before[n], f.track(n), "%s left as it was", n)
	}
	assert.Equal(t, first.Digest, f.goldenTag(sample.Clean, sample.Tag))
	assert.Empty(t, f.events.Take())

	f.count.set(nil)
	f.clock.Add(time.Hour)
	sw = f.sweep()
	assert.Equal(t, map[string]int{"current": 2, "acquisition-promoted": 1}, sw.Outcomes, "failures %v", sw.Failures)
	assert.Equal(t, patched.Digest, f.track(sample.Clean).SourceDigest, "the next sweep resumed")
	assert.NotEqual(t, first.Digest, f.goldenTag(sample.Clean, sample.Tag))
}

// TestHeadDigestGetCannotServe: a registry whose HEAD names a digest its
// GET does not serve makes acquisitions fail; the same digest is retried
// after a growing wait, at most MaxAcquisitionsPerDay times a day
// (TypeCapped once), then again the next day: no loop.
func TestHeadDigestGetCannotServe(t *testing.T) {
	f := newFixture(t, storeKinds()["memory"](t), func(o *upstream.Options) {
		o.RetryFailed = time.Minute
		o.MaxAcquisitionsPerDay = 2
	})
	first := f.promote(sample.Clean)
	ghost := digest.FromString("a manifest no GET serves")
	f.count.set(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodHead && r.URL.Path == "/v2/"+sample.Clean+"/manifests/"+sample.Tag {
			w.Header().Set("Docker-Content-Digest", ghost.String())
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			w.Header().Set("Content-Length", "1234")
			w.WriteHeader(http.StatusOK)
			return true
		}
		return false
	})
	f.events.Take()
	var all []string
	for range 6 {
		f.clock.Add(time.Hour)
		f.sweep()
		all = append(all, eventtest.Types(f.events.Take())...)
	}
	tr := f.track(sample.Clean)
	assert.Equal(t, catalog.TrackCapped, tr.State, tr.Reason)
	assert.Equal(t, 2, tr.Acquisitions, "acquisitions in the day")
	assert.Equal(t, []string{upstream.TypeMoved, upstream.TypeFailed, upstream.TypeMoved, upstream.TypeFailed, upstream.TypeCapped}, all)
	assert.Equal(t, first.Digest, f.goldenTag(sample.Clean, sample.Tag), "golden stays")

	// The next day one more attempt is allowed.
	f.clock.Add(24 * time.Hour)
	f.sweep()
	assert.Equal(t, 3, f.track(sample.Clean).Acquisitions)
	assert.Equal(t, []string{upstream.TypeMoved, upstream.TypeFailed}, eventtest.Types(f.events.Take()))
}

// TestReleaseAHeldTrack: released, a held track acquires what the tag
// points at, once.
func TestReleaseAHeldTrack(t *testing.T) {
	f := newFixture(t, storeKinds()["memory"](t))
	first := f.promote(sample.Clean)
	f.publish(sample.Clean, sample.Tag, "patched", cleanPackages)
	f.clock.Add(time.Hour)
	f.sweep()
	src := f.src.Repository(t, sample.Clean)
	desc, err := src.Resolve(f.ctx, first.SourceDigest.String())
	require.NoError(t, err)
	require.NoError(t, src.Tag(f.ctx, desc, sample.Tag))
	f.clock.Add(time.Hour)
	f.sweep()
	require.Equal(t, catalog.TrackHeld, f.track(sample.Clean).State)

	_, err = f.tracker.Release(f.ctx, registry.Join(f.golden, sample.Clean), sample.Tag, "the publisher rolled back on purpose")
	require.NoError(t, err)
	f.clock.Add(time.Hour)
	f.sweep()
	tr := f.track(sample.Clean)
	assert.Equal(t, catalog.TrackCurrent, tr.State, tr.Reason)
	assert.Equal(t, first.SourceDigest, tr.SourceDigest, "golden follows the rollback")
	assert.Equal(t, first.Digest, f.goldenTag(sample.Clean, sample.Tag))
}
