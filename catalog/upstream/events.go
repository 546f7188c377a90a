package upstream

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
)

// Event types of upstream tracking (catalog/event CloudEvents); the data
// of each is a Change. The golden tag's own move is the catalog's
// event.TypeTagMoved, emitted by the catalog.Syncer that indexes the
// promotion (SyncOptions.OnTagEvent).
const (
	// TypeMoved: the publisher moved a source tag to a new digest; its
	// acquisition is queued.
	TypeMoved = "dev.cssc.catalog.upstream.moved"
	// TypePromoted: the new digest passed the pipeline; the golden tag
	// follows it, and the image it replaced is superseded.
	TypePromoted = "dev.cssc.catalog.upstream.promoted"
	// TypeFailed: the new digest did not pass (denied by the policy, or a
	// step could not complete); the golden tag stays where it was.
	TypeFailed = "dev.cssc.catalog.upstream.failed"
	// TypeGone: the source tag, or its repository, is gone upstream;
	// golden keeps serving what it has.
	TypeGone = "dev.cssc.catalog.upstream.gone"
	// TypeCapped: the source tag moved again, but the bound on
	// acquisitions per tag per day (Options.MaxAcquisitionsPerDay) is
	// reached; nothing is acquired until the window allows it.
	TypeCapped = "dev.cssc.catalog.upstream.capped"
	// TypeFlapping: the source tag went back to a digest golden already
	// followed and replaced; the track is held until someone releases it
	// (Tracker.Release).
	TypeFlapping = "dev.cssc.catalog.upstream.flapping"
)

// DefaultSource is the CloudEvents source of upstream events when
// Options.EventSource is empty.
const DefaultSource = "/catalog/upstream"

// Change is the data of upstream events. It holds no time of its own (the
// event's time is when it happened), so that an event emitted again after
// a crash has the same id.
type Change struct {
	// Golden and Tag name the golden tag; Source is the source reference
	// it follows.
	Golden string `json:"golden"`
	Tag    string `json:"tag"`
	Source string `json:"source"`
	// From is the source digest golden followed; To the digest the source
	// tag points at now (empty when gone).
	From digest.Digest `json:"from,omitempty"`
	To   digest.Digest `json:"to,omitempty"`
	// GoldenFrom and GoldenTo are the golden digests before and after a
	// promotion (TypePromoted).
	GoldenFrom digest.Digest `json:"goldenFrom,omitempty"`
	GoldenTo   digest.Digest `json:"goldenTo,omitempty"`
	// Acquisition numbers the acquisition (Track.Acquisitions) for the
	// events about one; Outcome is its outcome.
	Acquisition int    `json:"acquisition,omitempty"`
	Outcome     string `json:"outcome,omitempty"`
	// State is the track's state after the change; Reason says why.
	State  catalog.TrackState `json:"state"`
	Reason string             `json:"reason,omitempty"`
}

// emit sends one event; a failure is logged (the state is in the store;
// the event is best effort, like the catalog's other events).
func (t *Tracker) emit(ctx context.Context, typ string, at time.Time, c Change) {
	if t.opts.Events == nil {
		return
	}
	ev, err := event.New(typ, t.opts.EventSource, c.Golden+":"+c.Tag, at, c)
	if err == nil {
		err = t.opts.Events.Emit(context.WithoutCancel(ctx), ev)
	}
	if err != nil {
		t.log.WarnContext(ctx, "upstream: event", "type", typ, "golden", c.Golden, "tag", c.Tag, "error", err)
	}
}

// change returns the data of an event about tr.
func change(tr *catalog.Track) Change {
	return Change{Golden: tr.Golden, Tag: tr.Tag, Source: tr.Source, From: tr.SourceDigest, To: tr.Observed, State: tr.State, Reason: tr.Reason}
}
