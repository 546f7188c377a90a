package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"
)

// RequestStore keeps the requests teams make for images that the catalog
// does not have yet (catalog/requests runs them). The state lives in the
// store so that it survives restarts and instances share it.
// Implementations: MemoryStore, catalog/sqlite, catalog/postgres;
// catalogtest.RunRequests checks any implementation. A RequestStore is
// safe for concurrent use.
//
// A store holds at most one open request (Request.Open) per Key: that is
// how duplicate requests collapse into one. Writes are compare-and-swap on
// Request.Revision.
type RequestStore interface {
	// CreateRequest inserts r (its Revision must be 0) unless an open
	// request with r's Key is stored: then it returns that request and
	// created false, and writes nothing. On success r.Revision is 1 and
	// the request returned is r. r is validated first
	// (ErrInvalidRequest); a request whose ID is taken wraps ErrConflict.
	CreateRequest(ctx context.Context, r *Request) (stored *Request, created bool, err error)
	// PutRequest replaces the stored request with r's ID whose revision is
	// r.Revision; anything else (no such request, another revision, or a
	// reopened request whose Key another open request holds) fails with an
	// error wrapping ErrConflict (ErrNotFound for an unknown ID) and writes
	// nothing. The Key of a request never changes. On success r.Revision
	// is the new revision.
	PutRequest(ctx context.Context, r *Request) error
	// Request returns the request with id, or an error wrapping
	// ErrNotFound.
	Request(ctx context.Context, id string) (*Request, error)
	// Requests returns the requests q selects, the most recently created
	// first (then by ID, descending). q is validated first
	// (ErrInvalidRequest).
	Requests(ctx context.Context, q RequestQuery) ([]*Request, error)
}

// ErrInvalidRequest: a request or request query fails validation.
var ErrInvalidRequest = errors.New("catalog: invalid request")

// RequestState says where a request stands.
type RequestState string

// Request states. A request moves pending -> approved -> acquiring ->
// promoted, or ends denied (by an approver, or by the policy when the
// pipeline ran) or failed (the acquisition could not complete).
const (
	// RequestPending: waiting for an approver.
	RequestPending RequestState = "pending"
	// RequestApproved: approved (by a rule or an approver); its
	// acquisition job is queued.
	RequestApproved RequestState = "approved"
	// RequestAcquiring: a worker runs the acquisition.
	RequestAcquiring RequestState = "acquiring"
	// RequestPromoted: the image passed the pipeline and is golden.
	RequestPromoted RequestState = "promoted"
	// RequestDenied: an approver or the policy said no; Reasons say why.
	RequestDenied RequestState = "denied"
	// RequestFailed: the acquisition could not complete (the source could
	// not be read, a step failed on every attempt).
	RequestFailed RequestState = "failed"
)

// Valid reports whether s is one of the RequestState constants.
func (s RequestState) Valid() bool {
	switch s {
	case RequestPending, RequestApproved, RequestAcquiring, RequestPromoted, RequestDenied, RequestFailed:
		return true
	}
	return false
}

// Final reports whether s is a final state (promoted, denied, failed).
func (s RequestState) Final() bool {
	return s == RequestPromoted || s == RequestDenied || s == RequestFailed
}

// Caps of requests.
const (
	// MaxRequestBytes caps a request's JSON encoding: 64 KiB.
	MaxRequestBytes = 64 << 10
	// MaxRequestReference caps Request.Reference: 512 bytes.
	MaxRequestReference = 512
	// MaxRequestReason caps Request.Reason: 1 KiB.
	MaxRequestReason = 1 << 10
	// MaxRequestName caps Owner, Requester, Followers and approver names:
	// 256 bytes.
	MaxRequestName = 256
	// MaxRequestFollowers caps Request.Followers (later ones are not
	// recorded).
	MaxRequestFollowers = 64
	// MaxRequestHistory caps Request.History (the oldest are dropped).
	MaxRequestHistory = 64
	// MaxRequestText caps reasons and notes kept on a request: 2 KiB (the
	// rest is cut).
	MaxRequestText = 2 << 10
	// MaxRequestLimit caps RequestQuery.Limit.
	MaxRequestLimit = 1000
)

// Request is a team's request for an image by reference.
type Request struct {
	// ID identifies the request (set by the caller, unique). Required.
	ID string `json:"id"`
	// Reference is the reference requested, normalized as
	// registry.ParseRef does ("docker.io/library/nginx:1.27"). Required.
	Reference string `json:"reference"`
	// Key is what duplicates share: the normalized reference. Required.
	Key string `json:"key"`
	// Reason says why the team needs the image; Owner is the team or
	// person responsible for it once golden. Both required.
	Reason string `json:"reason"`
	Owner  string `json:"owner"`
	// Requester is who asked first; Followers are the others who asked
	// for the same reference while the request was open (duplicates).
	Requester string   `json:"requester"`
	Followers []string `json:"followers,omitempty"`
	// State is where the request stands; Since when it got there.
	State RequestState `json:"state"`
	Since time.Time    `json:"since"`
	// Created is when the request was made. Required.
	Created time.Time `json:"created"`
	// Typosquat is set when the reference looks like a known image name
	// but is not one; such a request is never approved automatically.
	Typosquat *Typosquat `json:"typosquat,omitempty"`
	// Rule names the rule that approved the request automatically, or
	// says why it waits for an approver.
	Rule string `json:"rule,omitempty"`
	// Decider is who approved or denied it ("rule:<name>" for a rule,
	// "policy" for the pipeline's decision).
	Decider string `json:"decider,omitempty"`
	// Reasons explain a denial or a failure (the policy's reasons, or the
	// approver's).
	Reasons []string `json:"reasons,omitempty"`
	// Golden is the golden repository the image goes to, Tag its tag
	// (empty for a request by digest).
	Golden string `json:"golden,omitempty"`
	Tag    string `json:"tag,omitempty"`
	// Digest is the golden digest once promoted; SourceDigest the source
	// digest the pipeline acquired.
	Digest       digest.Digest `json:"digest,omitempty"`
	SourceDigest digest.Digest `json:"sourceDigest,omitempty"`
	// Outcome is the acquisition's outcome ("promoted", "unchanged",
	// "audited", "denied", "error").
	Outcome string `json:"outcome,omitempty"`
	// Attempts counts the acquisitions started (a worker that died counts).
	Attempts int `json:"attempts,omitempty"`
	// History lists the state changes, oldest first, at most
	// MaxRequestHistory.
	History []RequestChange `json:"history,omitempty"`
	// Revision is set by the store: the compare-and-swap token of
	// PutRequest. Zero for a request never stored.
	Revision int64 `json:"revision"`
}

// Typosquat says which known name a requested reference resembles.
type Typosquat struct {
	// Resembles is the known name ("docker.io/library/nginx").
	Resembles string `json:"resembles"`
	// Kind is how: "edit-distance", "confusable" or "namespace".
	Kind string `json:"kind"`
	// Detail explains in one line.
	Detail string `json:"detail"`
}

// RequestChange is one state change of a request.
type RequestChange struct {
	State RequestState `json:"state"`
	At    time.Time    `json:"at"`
	// By is who made the change (a requester, an approver, "rule:<name>",
	// a worker instance).
	By string `json:"by,omitempty"`
	// Note says why, in one line.
	Note string `json:"note,omitempty"`
}

// Open reports whether the request is not in a final state.
func (r *Request) Open() bool { return !r.State.Final() }

// Clone returns a deep copy of r.
func (r *Request) Clone() *Request {
	if r == nil {
		return nil
	}
	c := *r
	c.Followers = slices.Clone(r.Followers)
	c.Reasons = slices.Clone(r.Reasons)
	c.History = slices.Clone(r.History)
	if r.Typosquat != nil {
		t := *r.Typosquat
		c.Typosquat = &t
	}
	return &c
}

// Move sets the state to s at at, and records the change (by whom, and
// why) in History.
func (r *Request) Move(s RequestState, at time.Time, by, note string) {
	r.State, r.Since = s, at
	r.Note(at, by, note)
}

// Note records in History, without a change of state, what happened at
// at (by whom, and what), dropping the oldest records past
// MaxRequestHistory.
func (r *Request) Note(at time.Time, by, note string) {
	r.History = append(r.History, RequestChange{State: r.State, At: at, By: by, Note: note})
	if over := len(r.History) - MaxRequestHistory; over > 0 {
		r.History = r.History[over:]
	}
}

func requestText(what, s string, max int, required bool) error {
	switch {
	case s == "" && required:
		return fmt.Errorf("%w: no %s", ErrInvalidRequest, what)
	case len(s) > max:
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalidRequest, what, max)
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		return fmt.Errorf("%w: %s is not UTF-8 text", ErrInvalidRequest, what)
	}
	return nil
}

// Validate checks what a RequestStore needs: an ID, a reference and a key,
// a reason, an owner and a requester within their caps, a known state, a
// creation time, valid digests. Errors wrap ErrInvalidRequest.
func (r *Request) Validate() error {
	if r == nil {
		return fmt.Errorf("%w: nil", ErrInvalidRequest)
	}
	for _, f := range []struct {
		what     string
		s        string
		max      int
		required bool
	}{
		{"id", r.ID, 128, true},
		{"reference", r.Reference, MaxRequestReference, true},
		{"key", r.Key, MaxRequestReference, true},
		{"reason", r.Reason, MaxRequestReason, true},
		{"owner", r.Owner, MaxRequestName, true},
		{"requester", r.Requester, MaxRequestName, true},
		{"golden", r.Golden, MaxKeyBytes, false},
		{"tag", r.Tag, 128, false},
	} {
		if err := requestText(f.what, f.s, f.max, f.required); err != nil {
			return err
		}
	}
	if !r.State.Valid() {
		return fmt.Errorf("%w: state %q", ErrInvalidRequest, r.State)
	}
	if r.Created.IsZero() {
		return fmt.Errorf("%w: no creation time", ErrInvalidRequest)
	}
	if len(r.Followers) > MaxRequestFollowers {
		return fmt.Errorf("%w: %d followers, cap %d", ErrInvalidRequest, len(r.Followers), MaxRequestFollowers)
	}
	for _, f := range r.Followers {
		if err := requestText("follower", f, MaxRequestName, true); err != nil {
			return err
		}
	}
	if len(r.History) > MaxRequestHistory {
		return fmt.Errorf("%w: %d history records, cap %d", ErrInvalidRequest, len(r.History), MaxRequestHistory)
	}
	for _, d := range []digest.Digest{r.Digest, r.SourceDigest} {
		if d == "" {
			continue
		}
		if err := d.Validate(); err != nil {
			return fmt.Errorf("%w: digest %q: %v", ErrInvalidRequest, d, err)
		}
	}
	if r.Attempts < 0 || r.Revision < 0 {
		return fmt.Errorf("%w: negative count", ErrInvalidRequest)
	}
	return nil
}

// MarshalRequest returns the JSON a store keeps for r: a normalized copy
// (times in UTC to the microsecond, texts cut to MaxRequestText), without
// the revision (stores keep it in a column of its own). It validates r
// first.
func MarshalRequest(r *Request) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	c := r.Clone()
	c.Revision = 0
	c.Created, c.Since = RequestTime(c.Created), RequestTime(c.Since)
	c.Rule, c.Decider = cutRequestText(c.Rule), cutRequestText(c.Decider)
	for i := range c.Reasons {
		c.Reasons[i] = cutRequestText(c.Reasons[i])
	}
	for i := range c.History {
		c.History[i].At = RequestTime(c.History[i].At)
		c.History[i].By = cutRequestText(c.History[i].By)
		c.History[i].Note = cutRequestText(c.History[i].Note)
	}
	if c.Typosquat != nil {
		c.Typosquat.Detail = cutRequestText(c.Typosquat.Detail)
	}
	if len(c.Followers) == 0 {
		c.Followers = nil
	}
	if len(c.Reasons) == 0 {
		c.Reasons = nil
	}
	if len(c.History) == 0 {
		c.History = nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	if len(b) > MaxRequestBytes {
		return nil, fmt.Errorf("%w: %d bytes encoded, cap %d", ErrInvalidRequest, len(b), MaxRequestBytes)
	}
	return b, nil
}

// MarshalNewRequest is MarshalRequest for a request to be created
// (RequestStore.CreateRequest): one with revision 0, which it checks
// first.
func MarshalNewRequest(r *Request) ([]byte, error) {
	if r != nil && r.Revision != 0 {
		return nil, fmt.Errorf("%w: a new request has revision 0, not %d", ErrInvalidRequest, r.Revision)
	}
	return MarshalRequest(r)
}

// UnmarshalRequest decodes a request encoded by MarshalRequest and gives
// it its revision.
func UnmarshalRequest(b []byte, revision int64) (*Request, error) {
	if len(b) > MaxRequestBytes {
		return nil, fmt.Errorf("%w: %d bytes, cap %d", ErrInvalidRequest, len(b), MaxRequestBytes)
	}
	var r Request
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	r.Revision = revision
	return &r, nil
}

// RequestTime returns t as stores keep request times: UTC, to the
// microsecond (PostgreSQL's precision).
func RequestTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

func cutRequestText(s string) string { return cutText(s, MaxRequestText) }

// RequestQuery selects requests.
type RequestQuery struct {
	// State, if set, selects the requests in this state.
	State RequestState
	// Open, if true, selects the requests not in a final state.
	Open bool
	// Requester, if set, selects the requests this requester made (not
	// those they followed).
	Requester string
	// Key, if set, selects the requests for this normalized reference.
	Key string
	// Before starts the list after this request (the last one of the
	// previous page): requests created before it, or at the same time
	// with a smaller ID. The zero value starts at the most recent.
	Before RequestCursor
	// Limit caps the requests returned. Zero means 100; at most
	// MaxRequestLimit.
	Limit int
}

// RequestCursor is a position in the list of requests: a creation time
// and an ID.
type RequestCursor struct {
	Created time.Time
	ID      string
}

// CursorOf returns the cursor that continues a list after r.
func CursorOf(r *Request) RequestCursor {
	return RequestCursor{Created: RequestTime(r.Created), ID: r.ID}
}

// Validate checks q and returns it with its defaults filled in. Errors
// wrap ErrInvalidRequest.
func (q RequestQuery) Validate() (RequestQuery, error) {
	if q.Limit < 0 || q.Limit > MaxRequestLimit {
		return q, fmt.Errorf("%w: limit %d not in 0..%d", ErrInvalidRequest, q.Limit, MaxRequestLimit)
	}
	if q.Limit == 0 {
		q.Limit = 100
	}
	if q.State != "" && !q.State.Valid() {
		return q, fmt.Errorf("%w: state %q", ErrInvalidRequest, q.State)
	}
	if q.Before.Created.IsZero() != (q.Before.ID == "") {
		return q, fmt.Errorf("%w: a cursor needs both a time and an id", ErrInvalidRequest)
	}
	q.Before.Created = RequestTime(q.Before.Created)
	return q, nil
}

// Matches reports whether r is selected by q, apart from Before and
// Limit. Memory stores filter with it.
func (q RequestQuery) Matches(r *Request) bool {
	return (q.State == "" || r.State == q.State) && (!q.Open || r.Open()) &&
		(q.Requester == "" || r.Requester == q.Requester) && (q.Key == "" || r.Key == q.Key)
}

// After reports whether r comes after the cursor c in the list order
// (most recent first, then by ID descending).
func (c RequestCursor) After(r *Request) bool {
	if c.ID == "" {
		return true
	}
	t := RequestTime(r.Created)
	return t.Before(c.Created) || t.Equal(c.Created) && r.ID < c.ID
}
