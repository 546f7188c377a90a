package server

import (
	"context"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
)

// UpstreamTag is the upstream tracking state of one golden tag of an
// image (catalog/upstream): the image API answer lists them under
// "upstream", and the image page shows them.
type UpstreamTag struct {
	// Tag is the golden tag; Source the source tag it follows
	// ("docker.io/library/nginx:1.27").
	Tag    string `json:"tag"`
	Source string `json:"source"`
	// State is where the tracking stands: "current" (in sync), "moved"
	// (the source tag moved; the new digest is being acquired), "failed"
	// (its acquisition failed; the golden tag stayed), "gone" (the source
	// tag or repository is gone, or private, upstream; golden keeps
	// serving), "capped" (moved again past the daily bound of
	// acquisitions) or "held" (flapping back to a digest golden replaced).
	State catalog.TrackState `json:"state"`
	// Since is when the state began; Reason says why, in one line.
	Since  time.Time `json:"since,omitzero"`
	Reason string    `json:"reason,omitempty"`
	// Checked is the time of the last definitive check upstream; zero
	// before the first.
	Checked time.Time `json:"checked,omitzero"`
	// Followed is the source digest golden follows (the one this image
	// was acquired from); Observed the digest the last check saw upstream
	// (empty when gone).
	Followed digest.Digest `json:"followed,omitempty"`
	Observed digest.Digest `json:"observed,omitempty"`
	// Failure is the last failed acquisition, kept until one succeeds.
	Failure *catalog.TrackFailure `json:"failure,omitempty"`
}

// Label returns the state in words, as the image page shows it.
func (u UpstreamTag) Label() string {
	switch u.State {
	case catalog.TrackCurrent:
		return "in sync"
	case catalog.TrackMoved:
		return "moved upstream: acquiring"
	case catalog.TrackFailed:
		return "acquisition failed"
	case catalog.TrackGone:
		return "gone upstream"
	case catalog.TrackCapped:
		return "moved again: waiting (daily bound)"
	case catalog.TrackHeld:
		return "flapping: held"
	}
	return string(u.State)
}

// Good reports whether the state needs no attention.
func (u UpstreamTag) Good() bool { return u.State == catalog.TrackCurrent }

// imageAnswer is the image API answer: the entry and its golden tags'
// upstream tracking states.
type imageAnswer struct {
	*catalog.Entry
	Upstream []UpstreamTag `json:"upstream,omitempty"`
}

// upstream reads the upstream tracking states of e's golden tags through
// the caller's view (none when Options.Tracks is nil).
func (h *Handler) upstream(ctx context.Context, r *http.Request, e *catalog.Entry) ([]UpstreamTag, error) {
	if h.opts.Tracks == nil {
		return nil, nil
	}
	trs, err := h.store(r).EntryTracks(ctx, h.opts.Tracks, e)
	if err != nil {
		return nil, err
	}
	out := make([]UpstreamTag, 0, len(trs))
	for _, tr := range trs {
		out = append(out, UpstreamTag{Tag: tr.Tag, Source: tr.Source, State: tr.State, Since: tr.Since, Reason: tr.Reason,
			Checked: tr.Checked, Followed: tr.SourceDigest, Observed: tr.Observed, Failure: tr.Failure})
	}
	return out, nil
}
