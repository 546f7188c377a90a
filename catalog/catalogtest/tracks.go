package catalogtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
)

// NewTrackStore returns a fresh, empty catalog.TrackStore for one
// subtest. A second call within the same subtest must return another
// handle on the same store (the same file opened again, another pool on
// the same database: what an instance that restarted, or a second
// instance, would have); for MemoryStore it may return the same value.
type NewTrackStore func(t *testing.T) catalog.TrackStore

// RunTracks checks that stores made by newStore behave as
// catalog.TrackStore says: round trips, compare-and-swap revisions under
// concurrency, check times that never move back, key order and paging,
// the source filter, deletion, state kept across handles (restarts), and
// invalid input.
func RunTracks(t *testing.T, newStore NewTrackStore) {
	t.Run("RoundTrip", func(t *testing.T) { testTrackRoundTrip(t, newStore(t)) })
	t.Run("CompareAndSwap", func(t *testing.T) { testTrackCAS(t, newStore(t)) })
	t.Run("Concurrent", func(t *testing.T) { testTrackConcurrent(t, newStore(t)) })
	t.Run("Checked", func(t *testing.T) { testTrackChecked(t, newStore(t)) })
	t.Run("List", func(t *testing.T) { testTrackList(t, newStore(t)) })
	t.Run("Delete", func(t *testing.T) { testTrackDelete(t, newStore(t)) })
	t.Run("Restart", func(t *testing.T) {
		s := newStore(t)
		testTrackRestart(t, s, newStore(t))
	})
	t.Run("Invalid", func(t *testing.T) { testTrackInvalid(t, newStore(t)) })
}

// Track returns a valid track of golden repository "registry.corp/golden/<name>"
// following "docker.io/library/<name>:<tag>", current on the digest of
// name+tag.
func Track(name, tag string) *catalog.Track {
	return &catalog.Track{
		Golden: "registry.corp/golden/library/" + name, Tag: tag,
		Source:       "docker.io/library/" + name + ":" + tag,
		SourceDigest: Digest("src-" + name + ":" + tag), GoldenDigest: Digest("golden-" + name + ":" + tag),
		Observed: Digest("src-" + name + ":" + tag), State: catalog.TrackCurrent, Since: Now(),
	}
}

func testTrackRoundTrip(t *testing.T, s catalog.TrackStore) {
	ctx := context.Background()
	tr := Track("nginx", "1.27")
	tr.Checked = Now().Add(time.Minute)
	tr.State, tr.Reason = catalog.TrackFailed, "policy denied: critical CVE-2024-0001"
	tr.Failure = &catalog.TrackFailure{Digest: Digest("new"), Outcome: "denied", Reason: "critical", At: Now().Add(2 * time.Minute)}
	tr.Attempts = []catalog.TrackAttempt{{Digest: Digest("new"), Started: Now(), Outcome: "denied"}}
	tr.Acquisitions = 3
	tr.Replaced = []digest.Digest{Digest("a"), Digest("b")}
	tr.Supersede = Digest("old-golden")
	want := tr.Clone()
	require.NoError(t, s.PutTrack(ctx, tr))
	assert.Equal(t, int64(1), tr.Revision, "revision after the first put")
	want.Revision = 1
	got, err := s.Track(ctx, tr.Golden, tr.Tag)
	require.NoError(t, err)
	assert.Equal(t, want, got, "track read back")

	_, err = s.Track(ctx, tr.Golden, "other")
	assert.ErrorIs(t, err, catalog.ErrNotFound, "unknown tag")
	_, err = s.Track(ctx, "registry.corp/golden/unknown", tr.Tag)
	assert.ErrorIs(t, err, catalog.ErrNotFound, "unknown repository")
}

func testTrackCAS(t *testing.T, s catalog.TrackStore) {
	ctx := context.Background()
	a := Track("redis", "7")
	require.NoError(t, s.PutTrack(ctx, a))
	dup := Track("redis", "7")
	err := s.PutTrack(ctx, dup)
	assert.ErrorIs(t, err, catalog.ErrConflict, "a second insert of the same key")
	assert.Equal(t, int64(0), dup.Revision, "a lost write leaves the revision alone")

	stale := a.Clone()
	a.Acquisitions = 1
	require.NoError(t, s.PutTrack(ctx, a))
	assert.Equal(t, int64(2), a.Revision)
	stale.Acquisitions = 9
	assert.ErrorIs(t, s.PutTrack(ctx, stale), catalog.ErrConflict, "an update with a stale revision")
	got, err := s.Track(ctx, a.Golden, a.Tag)
	require.NoError(t, err)
	assert.Equal(t, 1, got.Acquisitions, "the stale write changed nothing")

	ghost := Track("ghost", "1")
	ghost.Revision = 4
	assert.ErrorIs(t, s.PutTrack(ctx, ghost), catalog.ErrConflict, "an update of a track never stored")
	_, err = s.Track(ctx, ghost.Golden, ghost.Tag)
	assert.ErrorIs(t, err, catalog.ErrNotFound)
}

func testTrackConcurrent(t *testing.T, s catalog.TrackStore) {
	ctx := context.Background()
	tr := Track("busy", "1")
	require.NoError(t, s.PutTrack(ctx, tr))
	const workers, each = 6, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range each {
				for {
					cur, err := s.Track(ctx, tr.Golden, tr.Tag)
					if err != nil {
						errs <- err
						return
					}
					cur.Acquisitions++
					err = s.PutTrack(ctx, cur)
					if errors.Is(err, catalog.ErrConflict) {
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	got, err := s.Track(ctx, tr.Golden, tr.Tag)
	require.NoError(t, err)
	assert.Equal(t, workers*each, got.Acquisitions, "every increment won exactly once")
	assert.Equal(t, int64(1+workers*each), got.Revision, "one revision per winning write")
}

func testTrackChecked(t *testing.T, s catalog.TrackStore) {
	ctx := context.Background()
	tr := Track("alpine", "3.20")
	tr.Checked = Now()
	require.NoError(t, s.PutTrack(ctx, tr))
	rev := tr.Revision

	require.NoError(t, s.TouchTracks(ctx, Now().Add(time.Hour), tr.Key(), catalog.TrackKey{Golden: "registry.corp/golden/none", Tag: "x"}))
	got, err := s.Track(ctx, tr.Golden, tr.Tag)
	require.NoError(t, err)
	assert.True(t, got.Checked.Equal(Now().Add(time.Hour)), "touched: got %v, want %v", got.Checked, Now().Add(time.Hour))
	assert.Equal(t, rev, got.Revision, "a touch changes no revision")

	require.NoError(t, s.TouchTracks(ctx, Now().Add(time.Minute), tr.Key()))
	got, err = s.Track(ctx, tr.Golden, tr.Tag)
	require.NoError(t, err)
	assert.True(t, got.Checked.Equal(Now().Add(time.Hour)), "an older touch does not move the check time back: got %v", got.Checked)

	// A put made from an older read does not move it back either.
	tr.Checked = Now()
	tr.Reason = "still current"
	require.NoError(t, s.PutTrack(ctx, tr))
	got, err = s.Track(ctx, tr.Golden, tr.Tag)
	require.NoError(t, err)
	assert.True(t, got.Checked.Equal(Now().Add(time.Hour)), "put with an older check time: got %v", got.Checked)
	assert.Equal(t, "still current", got.Reason)

	// A touch with no key is a no-op.
	require.NoError(t, s.TouchTracks(ctx, Now().Add(2*time.Hour)))
}

func testTrackList(t *testing.T, s catalog.TrackStore) {
	ctx := context.Background()
	var want []catalog.TrackKey
	for _, name := range []string{"b", "a", "c"} {
		for _, tag := range []string{"2", "1", "10"} {
			tr := Track(name, tag)
			require.NoError(t, s.PutTrack(ctx, tr))
		}
	}
	for _, name := range []string{"a", "b", "c"} {
		for _, tag := range []string{"1", "10", "2"} {
			want = append(want, catalog.TrackKey{Golden: "registry.corp/golden/library/" + name, Tag: tag})
		}
	}
	all, err := s.Tracks(ctx, catalog.TrackQuery{})
	require.NoError(t, err)
	assert.Equal(t, want, keysOf(all), "every track in key order")

	var paged []catalog.TrackKey
	q := catalog.TrackQuery{Limit: 4}
	for {
		page, err := s.Tracks(ctx, q)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), 4, "page size")
		paged = append(paged, keysOf(page)...)
		if len(page) < 4 {
			break
		}
		q.After = page[len(page)-1].Key()
	}
	assert.Equal(t, want, paged, "pages of 4")
	every, err := catalog.AllTracks(ctx, s, catalog.TrackQuery{Limit: 2})
	require.NoError(t, err)
	assert.Equal(t, want, keysOf(every), "AllTracks")

	b, err := s.Tracks(ctx, catalog.TrackQuery{SourceName: "docker.io/library/b"})
	require.NoError(t, err)
	assert.Equal(t, want[3:6], keysOf(b), "tracks of one source repository")
	none, err := s.Tracks(ctx, catalog.TrackQuery{SourceName: "docker.io/library/zz"})
	require.NoError(t, err)
	assert.Empty(t, none)
}

func keysOf(ts []*catalog.Track) []catalog.TrackKey {
	out := make([]catalog.TrackKey, len(ts))
	for i, t := range ts {
		out[i] = t.Key()
	}
	return out
}

func testTrackDelete(t *testing.T, s catalog.TrackStore) {
	ctx := context.Background()
	tr := Track("gone", "1")
	require.NoError(t, s.PutTrack(ctx, tr))
	require.NoError(t, s.DeleteTrack(ctx, tr.Golden, tr.Tag))
	_, err := s.Track(ctx, tr.Golden, tr.Tag)
	assert.ErrorIs(t, err, catalog.ErrNotFound)
	assert.ErrorIs(t, s.DeleteTrack(ctx, tr.Golden, tr.Tag), catalog.ErrNotFound, "deleting twice")
	// A deleted key starts again at revision 0.
	tr = Track("gone", "1")
	require.NoError(t, s.PutTrack(ctx, tr))
	assert.Equal(t, int64(1), tr.Revision)
}

func testTrackRestart(t *testing.T, first, second catalog.TrackStore) {
	ctx := context.Background()
	tr := Track("kept", "1")
	tr.State, tr.Reason, tr.Observed = catalog.TrackMoved, "moved to a new digest", Digest("next")
	tr.Checked = Now()
	require.NoError(t, first.PutTrack(ctx, tr))
	got, err := second.Track(ctx, tr.Golden, tr.Tag)
	require.NoError(t, err, "the other handle sees the track")
	assert.Equal(t, tr, got)
	// Both handles share the revisions.
	got.State = catalog.TrackCurrent
	require.NoError(t, second.PutTrack(ctx, got))
	assert.ErrorIs(t, first.PutTrack(ctx, tr), catalog.ErrConflict, "the first handle's copy is stale")
}

func testTrackInvalid(t *testing.T, s catalog.TrackStore) {
	ctx := context.Background()
	for name, mutate := range map[string]func(*catalog.Track){
		"no golden":        func(tr *catalog.Track) { tr.Golden = "" },
		"golden with @":    func(tr *catalog.Track) { tr.Golden = "r/g@x" },
		"no tag":           func(tr *catalog.Track) { tr.Tag = "" },
		"tag with slash":   func(tr *catalog.Track) { tr.Tag = "a/b" },
		"source no tag":    func(tr *catalog.Track) { tr.Source = "docker.io/library/x@" + string(Digest("x")) },
		"bad source":       func(tr *catalog.Track) { tr.Source = "Not A Reference" },
		"unknown state":    func(tr *catalog.Track) { tr.State = "sleeping" },
		"bad digest":       func(tr *catalog.Track) { tr.SourceDigest = "sha256:nope" },
		"bad failure":      func(tr *catalog.Track) { tr.Failure = &catalog.TrackFailure{Digest: "x"} },
		"too many replace": func(tr *catalog.Track) { tr.Replaced = make([]digest.Digest, catalog.MaxTrackReplaced+1) },
	} {
		tr := Track("bad", "1")
		mutate(tr)
		assert.ErrorIs(t, s.PutTrack(ctx, tr), catalog.ErrInvalidTrack, name)
	}
	_, err := s.Tracks(ctx, catalog.TrackQuery{Limit: catalog.MaxTrackLimit + 1})
	assert.ErrorIs(t, err, catalog.ErrInvalidTrack, "limit over the cap")
	_, err = s.Tracks(ctx, catalog.TrackQuery{Limit: -1})
	assert.ErrorIs(t, err, catalog.ErrInvalidTrack, "negative limit")
	all, err := s.Tracks(ctx, catalog.TrackQuery{})
	require.NoError(t, err)
	assert.Empty(t, all, "nothing invalid was stored")

	// Long texts are cut, not refused.
	tr := Track("long", "1")
	tr.Reason = fmt.Sprintf("%0*d", catalog.MaxTrackText+100, 7)
	require.NoError(t, s.PutTrack(ctx, tr))
	got, err := s.Track(ctx, tr.Golden, tr.Tag)
	require.NoError(t, err)
	assert.Len(t, got.Reason, catalog.MaxTrackText)
}
