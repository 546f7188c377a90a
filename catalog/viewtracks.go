package catalog

import (
	"context"
	"errors"
	"slices"
)

// TrackReader reads the tracking state of one golden tag: the read side
// of TrackStore (catalog/sqlite, catalog/postgres, MemoryStore).
type TrackReader interface {
	// Track returns the track of golden repository golden and tag tag, or
	// an error wrapping ErrNotFound.
	Track(ctx context.Context, golden, tag string) (*Track, error)
}

// MaxEntryTracks caps the tags of one entry whose tracks
// View.EntryTracks reads: 64 (the first tags of Entry.Tags).
const MaxEntryTracks = 64

// EntryTracks returns the upstream tracks of e's golden tags (one per
// tag of e that follows a source tag and whose last followed golden
// digest is e's), in tag order, as the view's caller may see them: none
// for an entry whose repository is hidden from the caller (its tracks are
// as invisible as the entry), and, in the tracks returned, source
// references and reasons that name an image hidden from the caller
// redacted (Visibility.Redact). e is an entry the view returned.
func (w *View) EntryTracks(ctx context.Context, ts TrackReader, e *Entry) ([]*Track, error) {
	if ts == nil || e == nil || !w.v.Visible(e.Repository) {
		return nil, nil
	}
	tags := slices.Clone(e.Tags)
	slices.Sort(tags)
	tags = slices.Compact(tags)
	var out []*Track
	for _, tag := range tags[:min(len(tags), MaxEntryTracks)] {
		tr, err := ts.Track(ctx, e.Repository, tag)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if tr.GoldenDigest != "" && tr.GoldenDigest != e.Digest {
			continue // the golden tag follows another image now
		}
		redactTrack(tr, w.v)
		out = append(out, tr)
	}
	return out, nil
}

// redactTrack redacts the names of hidden images in t's free text.
func redactTrack(t *Track, v *Visibility) {
	if !v.Restricts() {
		return
	}
	if s, ok := v.Redact(t.Source); ok {
		t.Source = s
	}
	if s, ok := v.Redact(t.Reason); ok {
		t.Reason = s
	}
	if t.Failure != nil {
		if s, ok := v.Redact(t.Failure.Reason); ok {
			t.Failure.Reason = s
		}
	}
}
