package lifecycle

import (
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
)

// Event types of lifecycle changes (catalog/event CloudEvents); the data
// of each is a Transition.
const (
	// TypeActive: an image became active again (its end of life moved
	// later, out of the deprecation window, or an override reinstated it).
	TypeActive = "dev.cssc.catalog.lifecycle.active"
	// TypeDeprecated: an image entered its deprecation window.
	TypeDeprecated = "dev.cssc.catalog.lifecycle.deprecated"
	// TypeRetired: an image reached its end of life and was retired.
	TypeRetired = "dev.cssc.catalog.lifecycle.retired"
	// TypeChanged: an image's end of life, its source or its replacement
	// changed, its status did not.
	TypeChanged = "dev.cssc.catalog.lifecycle.changed"
	// TypeDeleted: retention deleted a retired image's digest from the
	// golden repository after its grace period.
	TypeDeleted = "dev.cssc.catalog.lifecycle.deleted"
	// TypeFailed: the lifecycle of an image could not be decided or
	// applied (sources that disagree under ConflictFail, a registry or
	// signer failure); nothing changed.
	TypeFailed = "dev.cssc.catalog.lifecycle.failed"
)

// DefaultSource is the CloudEvents source of lifecycle events when
// Options.EventSource is empty.
const DefaultSource = "/catalog/lifecycle"

// Transition is the data of lifecycle events. It holds no time of its
// own (the event's time is when the change was applied), so that an event
// emitted again after a crash has the same id.
type Transition struct {
	event.Image
	// From and To are the statuses before and after.
	From catalog.Status `json:"from"`
	To   catalog.Status `json:"to"`
	// EndOfLife is the effective end of life; PreviousEndOfLife the one
	// the entry had (zero if none).
	EndOfLife         time.Time `json:"endOfLife,omitzero"`
	PreviousEndOfLife time.Time `json:"previousEndOfLife,omitzero"`
	// Source and Reason explain the date.
	Source string `json:"source,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Replacement names the image to use instead, if known.
	Replacement string `json:"replacement,omitempty"`
	// Marker is the signed lifecycle marker that records the change.
	Marker digest.Digest `json:"marker,omitempty"`
	// Actions are the retirement actions taken ("untag 1.26",
	// "archive registry.corp/archive/library/nginx", "delete").
	Actions []string `json:"actions,omitempty"`
	// Error says what failed (TypeFailed).
	Error string `json:"error,omitempty"`
}

// eventType returns the event type of a change.
func (c *Change) eventType() string {
	switch c.Kind {
	case KindTransition:
		switch c.To {
		case catalog.StatusDeprecated:
			return TypeDeprecated
		case catalog.StatusRetired:
			return TypeRetired
		}
		return TypeActive
	case KindUpdate:
		return TypeChanged
	case KindDelete:
		return TypeDeleted
	case KindError:
		return TypeFailed
	}
	return ""
}

// event returns the CloudEvent of an applied change.
func (c *Change) event(source string, at time.Time) (event.Event, error) {
	t := Transition{
		Image: event.Image{Repository: c.Repository, Digest: c.Digest, Tags: c.Tags},
		From:  c.From, To: c.To, EndOfLife: c.EndOfLife, PreviousEndOfLife: c.PreviousEndOfLife,
		Source: c.Source, Reason: c.Reason, Replacement: c.Replacement, Marker: c.Marker, Error: c.Error,
	}
	for _, a := range c.actionSteps() {
		t.Actions = append(t.Actions, a.String())
	}
	return event.New(c.eventType(), source, t.Image.Ref(), at, t)
}
