package requests

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
)

// Event types of requests (catalog/event CloudEvents); the data of each is
// a Change and the subject the request's ID.
const (
	// TypeSubmitted: a team asked for an image; the request waits for an
	// approver (or was approved at once: TypeApproved follows).
	TypeSubmitted = "dev.cssc.catalog.request.submitted"
	// TypeJoined: another requester asked for the same reference and
	// joined the open request.
	TypeJoined = "dev.cssc.catalog.request.joined"
	// TypeApproved: a rule or an approver approved the request; its
	// acquisition is queued.
	TypeApproved = "dev.cssc.catalog.request.approved"
	// TypeAcquiring: a worker started the acquisition.
	TypeAcquiring = "dev.cssc.catalog.request.acquiring"
	// TypePromoted: the image passed the pipeline and is golden.
	TypePromoted = "dev.cssc.catalog.request.promoted"
	// TypeDenied: an approver or the policy denied the request; Reasons
	// say why.
	TypeDenied = "dev.cssc.catalog.request.denied"
	// TypeFailed: the acquisition could not complete.
	TypeFailed = "dev.cssc.catalog.request.failed"
)

// DefaultSource is the CloudEvents source of request events when
// Options.EventSource is empty.
const DefaultSource = "/catalog/requests"

// Change is the data of request events: who asked (the requester and the
// followers, to whom the event is addressed), for what, and where the
// request stands.
type Change struct {
	ID        string   `json:"id"`
	Reference string   `json:"reference"`
	Requester string   `json:"requester"`
	Followers []string `json:"followers,omitempty"`
	Owner     string   `json:"owner"`
	// State is the request's state after the change; By who made it.
	State catalog.RequestState `json:"state"`
	By    string               `json:"by,omitempty"`
	// Reasons explain a denial or a failure.
	Reasons []string `json:"reasons,omitempty"`
	// Typosquat is the request's typosquat flag, if any.
	Typosquat *catalog.Typosquat `json:"typosquat,omitempty"`
	// Golden and Digest name the golden image once promoted.
	Golden string        `json:"golden,omitempty"`
	Digest digest.Digest `json:"digest,omitempty"`
	// Attempt numbers the acquisition (TypeAcquiring).
	Attempt int `json:"attempt,omitempty"`
}

func changeOf(r *catalog.Request, by string) Change {
	c := Change{ID: r.ID, Reference: r.Reference, Requester: r.Requester, Followers: r.Followers, Owner: r.Owner,
		State: r.State, By: by, Reasons: r.Reasons, Typosquat: r.Typosquat, Attempt: r.Attempts}
	if r.State == catalog.RequestPromoted {
		c.Golden, c.Digest = r.Golden, r.Digest
	}
	return c
}

// emit sends one event; a failure is logged (the state is in the store;
// events are best effort, like the catalog's other events).
func (s *Service) emit(ctx context.Context, typ string, at time.Time, r *catalog.Request, by string) {
	if s.opts.Events == nil {
		return
	}
	ev, err := event.New(typ, s.opts.EventSource, r.ID, at, changeOf(r, by))
	if err == nil {
		err = s.opts.Events.Emit(context.WithoutCancel(ctx), ev)
	}
	if err != nil {
		s.log.WarnContext(ctx, "requests: event", "type", typ, "request", r.ID, "error", err)
	}
}
