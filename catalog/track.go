package catalog

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/registry"
)

// TrackStore keeps the state of upstream tracking (catalog/upstream): for
// each golden tag that follows a tag of its source registry, what the
// source tag pointed at when golden last followed it, what the last check
// saw, and what became of the acquisitions it started. The state lives in
// the store so that it survives restarts and instances share it.
// Implementations: MemoryStore, catalog/sqlite, catalog/postgres;
// catalogtest.RunTracks checks any implementation. A TrackStore is safe
// for concurrent use.
//
// Writes are compare-and-swap on Track.Revision: two instances that read
// the same track and both write it cannot both win.
type TrackStore interface {
	// PutTrack inserts t when t.Revision is 0 and no track has its key, or
	// replaces the stored track whose revision is t.Revision. Anything
	// else fails with an error wrapping ErrConflict and writes nothing.
	// On success t.Revision is the new revision. t is validated first
	// (ErrInvalidTrack). Checked never moves back: the stored time is the
	// later of the stored one and t.Checked.
	PutTrack(ctx context.Context, t *Track) error
	// Track returns the track of golden repository golden and tag tag, or
	// an error wrapping ErrNotFound.
	Track(ctx context.Context, golden, tag string) (*Track, error)
	// Tracks returns the tracks q selects, in key order (Golden, then Tag,
	// compared bytewise). q is validated first (ErrInvalidTrack).
	Tracks(ctx context.Context, q TrackQuery) ([]*Track, error)
	// TouchTracks records that the tracks named were checked at at and
	// found unchanged: their Checked moves to at (never back). It changes
	// no revision, so it never conflicts with PutTrack. Unknown keys are
	// ignored.
	TouchTracks(ctx context.Context, at time.Time, keys ...TrackKey) error
	// DeleteTrack removes a track; a missing one wraps ErrNotFound.
	DeleteTrack(ctx context.Context, golden, tag string) error
}

// Sentinel errors of track stores.
var (
	// ErrConflict: a compare-and-swap write lost (the revision given is
	// not the stored one).
	ErrConflict = errors.New("catalog: conflict")
	// ErrInvalidTrack: a track or track query fails validation.
	ErrInvalidTrack = errors.New("catalog: invalid track")
)

// TrackState says where the tracking of one golden tag stands.
type TrackState string

// Track states.
const (
	// TrackCurrent: golden follows the source tag; the last check saw the
	// digest golden was acquired from.
	TrackCurrent TrackState = "current"
	// TrackMoved: the source tag points at a new digest; its acquisition
	// is queued or running. The golden tag has not moved.
	TrackMoved TrackState = "moved"
	// TrackFailed: the acquisition of the new digest failed (denied by the
	// policy, or a step could not complete); the golden tag stays where it
	// was. Track.Failure says why.
	TrackFailed TrackState = "failed"
	// TrackGone: the source tag, or its whole repository, is gone
	// upstream; golden keeps serving what it has.
	TrackGone TrackState = "gone"
	// TrackCapped: the tag moved again but the bound on acquisitions per
	// tag per day is reached; the next acquisition waits for the window.
	TrackCapped TrackState = "capped"
	// TrackHeld: the source tag went back to a digest that golden
	// followed before and already replaced (a tag flapping between
	// digests); nothing is acquired until someone releases the track.
	TrackHeld TrackState = "held"
)

// Valid reports whether s is one of the TrackState constants.
func (s TrackState) Valid() bool {
	switch s {
	case TrackCurrent, TrackMoved, TrackFailed, TrackGone, TrackCapped, TrackHeld:
		return true
	}
	return false
}

// Caps of tracks.
const (
	// MaxTrackBytes caps a track's JSON encoding: 64 KiB.
	MaxTrackBytes = 64 << 10
	// MaxTrackAttempts caps Track.Attempts.
	MaxTrackAttempts = 64
	// MaxTrackReplaced caps Track.Replaced (the oldest are dropped).
	MaxTrackReplaced = 32
	// MaxTrackText caps Track.Reason and the reasons of failures and
	// attempts: 2 KiB (the rest is cut).
	MaxTrackText = 2 << 10
	// MaxTrackLimit caps TrackQuery.Limit.
	MaxTrackLimit = 10000
)

// TrackKey names a track: a golden repository location and a tag in it.
type TrackKey struct {
	Golden string `json:"golden"`
	Tag    string `json:"tag"`
}

// String returns "golden:tag".
func (k TrackKey) String() string { return k.Golden + ":" + k.Tag }

// Compare orders keys by Golden, then Tag, bytewise: the order of
// TrackStore.Tracks.
func (k TrackKey) Compare(o TrackKey) int {
	return cmp.Or(strings.Compare(k.Golden, o.Golden), strings.Compare(k.Tag, o.Tag))
}

// Track is the tracking state of one golden tag that follows a tag of its
// source registry.
type Track struct {
	// Golden is the golden repository location; Tag the golden tag, which
	// is also the source tag (the acquire pipeline keeps the source tag).
	Golden string `json:"golden"`
	Tag    string `json:"tag"`
	// Source is the source reference with its tag
	// ("docker.io/library/nginx:1.27"), normalized as registry.ParseRef
	// does.
	Source string `json:"source"`
	// SourceDigest is the digest the source tag pointed at when golden
	// last followed it (the digest of the promoted acquisition); empty
	// when unknown.
	SourceDigest digest.Digest `json:"sourceDigest,omitempty"`
	// GoldenDigest is the golden digest of that promotion.
	GoldenDigest digest.Digest `json:"goldenDigest,omitempty"`
	// Observed is the digest the last definitive check saw the source tag
	// at; empty when it was gone.
	Observed digest.Digest `json:"observed,omitempty"`
	// Checked is the time of the last definitive check (the registry
	// answered with a digest, or with "not found"); zero before the
	// first. A check that could not reach the registry leaves it alone.
	Checked time.Time `json:"checked,omitzero"`
	// State is where the tracking stands; Since when it began; Reason
	// says why, in one line.
	State  TrackState `json:"state"`
	Since  time.Time  `json:"since,omitzero"`
	Reason string     `json:"reason,omitempty"`
	// Failure is the last failed acquisition, kept until one succeeds;
	// nil if none.
	Failure *TrackFailure `json:"failure,omitempty"`
	// Attempts are the recent acquisitions (the tracker keeps those of the
	// last day), oldest first, at most MaxTrackAttempts.
	Attempts []TrackAttempt `json:"attempts,omitempty"`
	// Acquisitions counts every acquisition ever started for the track (it
	// numbers them: an acquisition job's key carries its number).
	Acquisitions int `json:"acquisitions"`
	// Replaced are the source digests golden followed before and moved
	// away from, oldest first, at most MaxTrackReplaced: a source tag that
	// goes back to one of them is flapping.
	Replaced []digest.Digest `json:"replaced,omitempty"`
	// Supersede is a golden digest that a promotion replaced and that is
	// still to be deprecated (with a replacement pointer); empty when
	// there is none.
	Supersede digest.Digest `json:"supersede,omitempty"`
	// Revision is set by the store: the compare-and-swap token of
	// PutTrack. Zero for a track never stored.
	Revision int64 `json:"revision"`
}

// TrackFailure is a failed acquisition of a moved source tag.
type TrackFailure struct {
	// Digest is the source digest whose acquisition failed.
	Digest digest.Digest `json:"digest"`
	// Outcome is the acquisition's outcome ("denied", "error").
	Outcome string `json:"outcome"`
	// Reason says why, in one line (the policy's reasons for a denial).
	Reason string `json:"reason,omitempty"`
	// At is when the acquisition ended.
	At time.Time `json:"at"`
}

// TrackAttempt is one acquisition of a source digest.
type TrackAttempt struct {
	// Digest is the source digest acquired.
	Digest digest.Digest `json:"digest"`
	// Started is when the acquisition started.
	Started time.Time `json:"started"`
	// Outcome is the acquisition's outcome ("promoted", "unchanged",
	// "denied", "error"); empty while it runs (or when the instance that
	// ran it died).
	Outcome string `json:"outcome,omitempty"`
}

// Key returns the track's key.
func (t *Track) Key() TrackKey { return TrackKey{Golden: t.Golden, Tag: t.Tag} }

// SourceName returns the source repository without tag or digest
// ("docker.io/library/nginx"), or "" when Source does not parse.
func (t *Track) SourceName() string {
	r, err := registry.ParseRef(t.Source)
	if err != nil {
		return ""
	}
	return r.Name()
}

// Clone returns a deep copy of t.
func (t *Track) Clone() *Track {
	if t == nil {
		return nil
	}
	c := *t
	if t.Failure != nil {
		f := *t.Failure
		c.Failure = &f
	}
	c.Attempts = slices.Clone(t.Attempts)
	c.Replaced = slices.Clone(t.Replaced)
	return &c
}

// Validate checks what a TrackStore needs: a golden repository, a tag, a
// source reference that parses with a tag, valid digests, a known state,
// caps. Errors wrap ErrInvalidTrack.
func (t *Track) Validate() error {
	if t == nil {
		return fmt.Errorf("%w: nil", ErrInvalidTrack)
	}
	if t.Golden == "" || len(t.Golden) > MaxKeyBytes || strings.ContainsAny(t.Golden, "@\x00") || !utf8.ValidString(t.Golden) {
		return fmt.Errorf("%w: golden repository %q", ErrInvalidTrack, t.Golden)
	}
	if t.Tag == "" || len(t.Tag) > 128 || strings.ContainsAny(t.Tag, "\x00/@: ") || !utf8.ValidString(t.Tag) {
		return fmt.Errorf("%w: tag %q", ErrInvalidTrack, t.Tag)
	}
	r, err := registry.ParseRef(t.Source)
	if err != nil || r.Tag == "" || len(t.Source) > MaxKeyBytes {
		return fmt.Errorf("%w: source %q: want a reference with a tag", ErrInvalidTrack, t.Source)
	}
	if !t.State.Valid() {
		return fmt.Errorf("%w: state %q", ErrInvalidTrack, t.State)
	}
	for _, d := range []digest.Digest{t.SourceDigest, t.GoldenDigest, t.Observed, t.Supersede} {
		if d == "" {
			continue
		}
		if err := d.Validate(); err != nil {
			return fmt.Errorf("%w: digest %q: %v", ErrInvalidTrack, d, err)
		}
	}
	if t.Failure != nil {
		if err := t.Failure.Digest.Validate(); err != nil {
			return fmt.Errorf("%w: failure digest %q: %v", ErrInvalidTrack, t.Failure.Digest, err)
		}
	}
	if len(t.Attempts) > MaxTrackAttempts {
		return fmt.Errorf("%w: %d attempts, cap %d", ErrInvalidTrack, len(t.Attempts), MaxTrackAttempts)
	}
	for _, a := range t.Attempts {
		if err := a.Digest.Validate(); err != nil {
			return fmt.Errorf("%w: attempt digest %q: %v", ErrInvalidTrack, a.Digest, err)
		}
	}
	if len(t.Replaced) > MaxTrackReplaced {
		return fmt.Errorf("%w: %d replaced digests, cap %d", ErrInvalidTrack, len(t.Replaced), MaxTrackReplaced)
	}
	for _, d := range t.Replaced {
		if err := d.Validate(); err != nil {
			return fmt.Errorf("%w: replaced digest %q: %v", ErrInvalidTrack, d, err)
		}
	}
	if t.Acquisitions < 0 || t.Revision < 0 {
		return fmt.Errorf("%w: negative count", ErrInvalidTrack)
	}
	return nil
}

// MarshalTrack returns the JSON a store keeps for t: a normalized copy
// (times in UTC, texts cut to MaxTrackText, empty lists nil), without the
// revision and the check time (stores keep them in columns of their own).
// It validates t first.
func MarshalTrack(t *Track) ([]byte, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	c := t.Clone()
	c.Revision, c.Checked = 0, time.Time{}
	c.Since = utc(c.Since)
	c.Reason = cutText(c.Reason, MaxTrackText)
	if c.Failure != nil {
		c.Failure.At = utc(c.Failure.At)
		c.Failure.Reason = cutText(c.Failure.Reason, MaxTrackText)
	}
	for i := range c.Attempts {
		c.Attempts[i].Started = utc(c.Attempts[i].Started)
	}
	if len(c.Attempts) == 0 {
		c.Attempts = nil
	}
	if len(c.Replaced) == 0 {
		c.Replaced = nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidTrack, err)
	}
	if len(b) > MaxTrackBytes {
		return nil, fmt.Errorf("%w: %d bytes encoded, cap %d", ErrInvalidTrack, len(b), MaxTrackBytes)
	}
	return b, nil
}

// UnmarshalTrack decodes a track encoded by MarshalTrack and gives it its
// revision and check time.
func UnmarshalTrack(b []byte, revision int64, checked time.Time) (*Track, error) {
	if len(b) > MaxTrackBytes {
		return nil, fmt.Errorf("%w: %d bytes, cap %d", ErrInvalidTrack, len(b), MaxTrackBytes)
	}
	var t Track
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidTrack, err)
	}
	t.Revision, t.Checked = revision, utc(checked)
	return &t, nil
}

// TrackQuery selects tracks.
type TrackQuery struct {
	// After starts the list after this key (the last key of the previous
	// page); the zero key starts at the beginning.
	After TrackKey
	// Limit caps the tracks returned. Zero means 1000; at most
	// MaxTrackLimit.
	Limit int
	// SourceName, if set, selects the tracks whose source repository
	// (Track.SourceName) is this ("docker.io/library/nginx").
	SourceName string
}

// Validate checks q and returns it with its defaults filled in. Errors
// wrap ErrInvalidTrack.
func (q TrackQuery) Validate() (TrackQuery, error) {
	if q.Limit < 0 || q.Limit > MaxTrackLimit {
		return q, fmt.Errorf("%w: limit %d not in 0..%d", ErrInvalidTrack, q.Limit, MaxTrackLimit)
	}
	if q.Limit == 0 {
		q.Limit = 1000
	}
	return q, nil
}

// AllTracks pages through every track q selects (q.After and q.Limit
// give the start and the page size).
func AllTracks(ctx context.Context, s TrackStore, q TrackQuery) ([]*Track, error) {
	var out []*Track
	for {
		page, err := s.Tracks(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		vq, _ := q.Validate()
		if len(page) < vq.Limit {
			return out, nil
		}
		q.After = page[len(page)-1].Key()
	}
}
