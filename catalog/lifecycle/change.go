package lifecycle

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/catalog"
)

// ChangeKind says what a Change does.
type ChangeKind string

// Kinds of Change.
const (
	// KindTransition: the status changes (active, deprecated, retired).
	KindTransition ChangeKind = "transition"
	// KindUpdate: the status stays, but the end of life, its source or
	// reason, or the replacement changes, or the registry lacks the signed
	// marker that records the state.
	KindUpdate ChangeKind = "update"
	// KindDelete: retention deletes a retired image's digest.
	KindDelete ChangeKind = "delete"
	// KindHold: nothing changes, but the state machine made a choice
	// someone should see (a retired image whose date moved later, a notice
	// that delays retirement, a digest protected from deletion).
	KindHold ChangeKind = "hold"
	// KindError: the lifecycle could not be decided (sources that
	// disagree under ConflictFail, a registry failure); the entry is left
	// alone.
	KindError ChangeKind = "error"
)

// Step kinds: what applying a Change does, in order.
const (
	// StepMarker writes and signs a lifecycle marker recording the new
	// state on the golden image.
	StepMarker = "marker"
	// StepArchive copies the image and its referrers to Target, the
	// archive repository, with its tags.
	StepArchive = "archive"
	// StepUntag removes the golden tag Target (the digest stays).
	StepUntag = "untag"
	// StepDelete deletes the digest from the golden repository and the
	// entry from the store.
	StepDelete = "delete"
	// StepEvent emits the change's event.
	StepEvent = "event"
	// StepEntry writes the entry to the store.
	StepEntry = "entry"
)

// Step is one thing applying a Change does.
type Step struct {
	// Kind is one of the Step constants.
	Kind string `json:"kind"`
	// Target is the tag, repository or digest the step is about.
	Target string `json:"target,omitempty"`
	// Done is set once Apply did it.
	Done bool `json:"done,omitempty"`
	// Error says why it failed.
	Error string `json:"error,omitempty"`
}

// String writes the step as "kind target".
func (s Step) String() string { return strings.TrimSpace(s.Kind + " " + s.Target) }

// Change is what a lifecycle run does, or would do, to one catalog entry.
type Change struct {
	// Kind says what the change does.
	Kind ChangeKind `json:"kind"`
	// Repository and Digest name the entry; Tags are its tags.
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
	Tags       []string      `json:"tags,omitempty"`
	// From is the entry's status; To the status after the change.
	From catalog.Status `json:"from"`
	To   catalog.Status `json:"to"`
	// EndOfLife is the effective end of life after the change;
	// PreviousEndOfLife the entry's before (zero if none).
	EndOfLife         time.Time `json:"endOfLife,omitzero"`
	PreviousEndOfLife time.Time `json:"previousEndOfLife,omitzero"`
	// Source and Reason explain EndOfLife; Replacement is the replacement
	// after the change.
	Source      string `json:"source,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Replacement string `json:"replacement,omitempty"`
	// Resolution is how the end of life was found; nil for KindError.
	Resolution *Resolution `json:"resolution,omitempty"`
	// Steps are what Apply does, in order.
	Steps []Step `json:"steps,omitempty"`
	// Notes are the choices of the state machine (why a retired image
	// stays retired, why retirement waits, why a digest is not deleted).
	// The choices between sources are in Reason and Resolution.Notes.
	Notes []string `json:"notes,omitempty"`
	// Ignored are the markers that were set aside, and why.
	Ignored []string `json:"ignored,omitempty"`
	// Error says why the change could not be decided or applied.
	Error string `json:"error,omitempty"`
	// Marker is the lifecycle marker that records the state after the
	// change (set by Apply, or the existing one).
	Marker digest.Digest `json:"marker,omitempty"`
	// Applied is set once Apply completed every step.
	Applied bool `json:"applied,omitempty"`

	err   error
	entry *catalog.Entry // the entry to write, without the marker digest
	state *attest.LifecycleState
	facts Facts
}

// Err returns the error of a KindError change or of a failed Apply.
func (c *Change) Err() error { return c.err }

// actionSteps returns the steps that change the registry beyond the
// marker: archive, untag, delete.
func (c *Change) actionSteps() []Step {
	var out []Step
	for _, s := range c.Steps {
		switch s.Kind {
		case StepUntag, StepArchive, StepDelete:
			out = append(out, s)
		}
	}
	return out
}

func (c *Change) fail(err error) {
	c.err = err
	c.Error = err.Error()
}

// status returns s, or StatusActive for the empty status.
func status(s catalog.Status) catalog.Status { return cmp.Or(s, catalog.StatusActive) }

// Evaluate decides the change of one entry at now, without deletions
// (see PlanFacts). It does no I/O.
func (p *Policy) Evaluate(f Facts, now time.Time) *Change {
	e := f.Entry
	if e == nil {
		c := &Change{Kind: KindError}
		c.fail(fmt.Errorf("%w: facts without an entry", ErrInvalidConfig))
		return c
	}
	c := &Change{Repository: e.Repository, Digest: e.Digest, Tags: slices.Clone(e.Tags), From: status(e.Status), facts: f}
	c.To = c.From
	if e.EndOfLife != nil {
		c.PreviousEndOfLife = e.EndOfLife.Date.UTC()
		c.EndOfLife, c.Source, c.Reason = c.PreviousEndOfLife, e.EndOfLife.Source, e.EndOfLife.Reason
	}
	c.Replacement = e.Replacement
	if p.inArchive(e.Repository) {
		return c // archived images keep the state they were archived with
	}
	for _, m := range f.Ignored {
		c.Ignored = append(c.Ignored, m.Error())
	}
	res, err := p.Resolve(f)
	if err != nil {
		c.Kind = KindError
		c.fail(err)
		return c
	}
	c.Resolution = res

	// The state on the registry wins over the store's: a store can lag (a
	// crash between marker and store) or be rebuilt.
	current, since := c.From, time.Time{}
	if f.State != nil && f.State.State != nil {
		current = catalog.Status(f.State.State.Status)
		since = recordedSince(f.State)
	}
	to, note := p.Next(current, since, res, now)
	if note != "" {
		c.Notes = append(c.Notes, note)
	}
	if current == catalog.StatusRetired && to == catalog.StatusRetired && p.StatusAt(res, now) != catalog.StatusRetired {
		// Retired stays retired, as recorded: a later date from a marker,
		// rule or data file is noted, not written.
		c.Kind = KindHold
		return c
	}
	eol := res.EndOfLife
	if eol.IsZero() && to != catalog.StatusActive {
		c.Kind = KindHold
		c.Notes = append(c.Notes, fmt.Sprintf("status %s without an end-of-life date: left as it is (set an override)", to))
		return c
	}
	state := &attest.LifecycleState{Status: string(to), Replacement: res.Replacement, Source: res.Source, Reason: res.Reason, Since: since}
	if to != current || since.IsZero() {
		state.Since = now.UTC().Truncate(time.Second)
	}
	for _, s := range res.Sources {
		state.Sources = append(state.Sources, attest.LifecycleSource{Role: s.Role, Source: s.Source, Date: s.Date, Detail: s.Detail})
	}
	c.To, c.EndOfLife, c.Source, c.Reason, c.Replacement = to, eol, res.Source, res.Reason, res.Replacement

	needMarker := !eol.IsZero() && !sameState(f.State, eol, state)
	var marker digest.Digest
	if !needMarker && f.State != nil {
		marker = f.State.Digest
	}
	next := e.Clone()
	next.Status, next.Replacement = to, res.Replacement
	next.EndOfLife = nil
	if !eol.IsZero() {
		next.EndOfLife = &catalog.EndOfLife{Date: eol, Source: res.Source, Marker: marker, Reason: res.Reason, Sources: slices.Clone(res.Sources)}
	}
	c.entry, c.state, c.Marker = next, state, marker
	if needMarker {
		c.Steps = append(c.Steps, Step{Kind: StepMarker})
	}
	if to == catalog.StatusRetired && c.From != catalog.StatusRetired && !p.inArchive(e.Repository) {
		switch p.cfg.Retirement.Action {
		case ActionArchive:
			to, err := p.archiveLocation(e.Repository)
			if err != nil {
				c.Kind = KindError
				c.fail(err)
				return c
			}
			c.Steps = append(c.Steps, Step{Kind: StepArchive, Target: to})
			fallthrough
		case ActionUntag:
			for _, t := range e.Tags {
				c.Steps = append(c.Steps, Step{Kind: StepUntag, Target: t})
			}
		}
	}
	entryChanged := needMarker || !sameEntry(e, next)
	switch {
	case c.From != to:
		c.Kind = KindTransition
	case entryChanged:
		c.Kind = KindUpdate
	case len(c.Ignored) > 0 && f.State == nil:
		c.Notes = append(c.Notes, fmt.Sprintf("%d lifecycle marker(s) set aside (untrusted or malformed); no trusted source records a state", len(c.Ignored)))
		fallthrough
	case len(c.Notes) > 0:
		c.Kind = KindHold
		c.Steps = nil
		return c
	default:
		c.Steps = nil
		return c // unchanged
	}
	c.Steps = append(c.Steps, Step{Kind: StepEvent}, Step{Kind: StepEntry})
	return c
}

// recordedSince returns when the status a state marker records began: its
// since annotation, else its creation time.
func recordedSince(m *attest.Lifecycle) time.Time {
	if m.State != nil && !m.State.Since.IsZero() {
		return m.State.Since
	}
	return m.Created
}

// sameState reports whether the recorded state marker already says what
// state and eol say (since aside: it is carried over).
func sameState(m *attest.Lifecycle, eol time.Time, s *attest.LifecycleState) bool {
	if m == nil || m.State == nil {
		return false
	}
	r := m.State
	if !m.EndOfLife.Equal(eol.Truncate(time.Second)) || r.Status != s.Status || r.Replacement != s.Replacement || r.Source != s.Source || r.Reason != s.Reason ||
		len(r.Sources) != len(s.Sources) {
		return false
	}
	for i := range r.Sources {
		a, b := r.Sources[i], s.Sources[i]
		if a.Role != b.Role || a.Source != b.Source || !a.Date.Equal(b.Date.UTC().Truncate(time.Second)) || a.Detail != b.Detail {
			return false
		}
	}
	return true
}

// sameEntry compares the lifecycle fields of two entries as stored.
func sameEntry(a, b *catalog.Entry) bool {
	x, y := a.Clone(), b.Clone()
	x.Normalize()
	y.Normalize()
	if x.Status != y.Status || x.Replacement != y.Replacement || (x.EndOfLife == nil) != (y.EndOfLife == nil) {
		return false
	}
	if x.EndOfLife == nil {
		return true
	}
	ex, ey := x.EndOfLife, y.EndOfLife
	return ex.Date.Equal(ey.Date) && ex.Source == ey.Source && ex.Marker == ey.Marker && ex.Reason == ey.Reason && slices.Equal(ex.Sources, ey.Sources)
}

// inArchive reports whether repository is under the archive: archived
// images keep the state they were archived with; they are never marked,
// untagged, archived again or deleted.
func (p *Policy) inArchive(repository string) bool {
	to := strings.TrimSuffix(p.cfg.Retirement.ArchiveTo, "/")
	return to != "" && (repository == to || strings.HasPrefix(repository, to+"/"))
}
