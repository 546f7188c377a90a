package requests

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/upstream"
	"github.com/cssc-go/cssc/registry"
)

// Defaults for the zero values of Options.
const (
	DefaultRateLimit    = 20
	DefaultRateWindow   = time.Hour
	DefaultLease        = 10 * time.Minute
	DefaultMaxAttempts  = 3
	DefaultPoll         = 250 * time.Millisecond
	DefaultConcurrency  = 1
	DefaultKnownRefresh = time.Minute
)

// KindAcquire is the job kind of an approved request's acquisition,
// claimed with the store's leases.
const KindAcquire = "request.acquire"

// Errors of Submit, Approve and Deny. Callers branch on them (the server
// maps them to 4xx answers); the typed errors below carry the details.
var (
	// ErrInvalidInput: a malformed reference or an empty, oversized or
	// non-text field (an *InputError).
	ErrInvalidInput = errors.New("requests: invalid input")
	// ErrSourceNotAllowed: the reference's source matches none of
	// Rules.Sources.
	ErrSourceNotAllowed = errors.New("requests: source not allowed")
	// ErrRateLimited: the requester made too many requests (a
	// *RateLimitError).
	ErrRateLimited = errors.New("requests: rate limited")
	// ErrWrongState: the request is not in a state that allows the
	// change (approving a promoted request).
	ErrWrongState = errors.New("requests: wrong state")
	// ErrInvalidConfig: New was given missing or contradictory options.
	ErrInvalidConfig = errors.New("requests: invalid configuration")
)

// InputError says which field of a submission is wrong, and why. It
// matches ErrInvalidInput.
type InputError struct {
	Field  string
	Reason string
}

// Error implements error.
func (e *InputError) Error() string { return fmt.Sprintf("requests: %s: %s", e.Field, e.Reason) }

// Is reports whether target is ErrInvalidInput.
func (e *InputError) Is(target error) bool { return target == ErrInvalidInput }

// SourceError names a reference whose source is not allowed. It matches
// ErrSourceNotAllowed.
type SourceError struct {
	Name string
}

// Error implements error.
func (e *SourceError) Error() string {
	return fmt.Sprintf("requests: %s is not from a source this catalog takes images from", e.Name)
}

// Is reports whether target is ErrSourceNotAllowed.
func (e *SourceError) Is(target error) bool { return target == ErrSourceNotAllowed }

// RateLimitError says when the requester may ask again. It matches
// ErrRateLimited.
type RateLimitError struct {
	Requester  string
	RetryAfter time.Duration
}

// Error implements error.
func (e *RateLimitError) Error() string {
	return fmt.Sprintf("requests: %s made too many requests; retry in %s", e.Requester, e.RetryAfter.Round(time.Second))
}

// Is reports whether target is ErrRateLimited.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// Options configure a Service. Requests, Queue and Golden are required;
// Acquirer is required to run workers (Run, Drain).
type Options struct {
	// Requests keeps the requests and Queue their acquisition jobs:
	// usually one catalog/postgres or catalog/sqlite store is both (and
	// Store); catalog.MemoryStore and catalog.MemoryQueue serve one
	// process.
	Requests catalog.RequestStore
	Queue    catalog.Queue
	// Store is the catalog: a reference it already has is answered with
	// its golden entry, and its repositories are known names for the
	// typosquat check. Nil means neither.
	Store catalog.Store
	// Golden is the golden location prefix of the acquire pipeline
	// (acquire.Config.Golden): a requested image goes to Golden plus its
	// source repository path. Required.
	Golden string
	// Acquirer runs the acquisition of an approved request:
	// upstream.PipelineAcquirer with the same Golden runs the full
	// acquire pipeline. Required by Run and Drain.
	Acquirer upstream.Acquirer
	// Syncer, if set, indexes the golden repository after a promotion,
	// before the request is marked promoted (*catalog.Syncer). Nil relies
	// on the pipeline's promotion hook.
	Syncer upstream.Syncer
	// Rules decide which references may be requested and which are
	// approved automatically (see Rules; the zero value approves nothing
	// automatically).
	Rules Rules
	// Events receives the request events (the Type constants). Nil means
	// none.
	Events event.Sink
	// EventSource is the CloudEvents source. Empty means DefaultSource.
	EventSource string
	// RateLimit is how many submissions one requester may make in any
	// RateWindow on this instance (duplicates and invalid ones count),
	// and how many requests they may open in any RateWindow on all the
	// instances sharing the store: exactly, even for submissions that
	// race on several instances, when Requests is a
	// catalog.LimitedRequestStore (MemoryStore, catalog/sqlite and
	// catalog/postgres are: the count and the insert are one atomic
	// step); with another RequestStore the count is read before the
	// insert, exact for submissions one after the other and at most
	// RateLimit per instance for racing ones. Zero means DefaultRateLimit
	// (20); negative means no limit. RateWindow zero means
	// DefaultRateWindow (1 h).
	RateLimit  int
	RateWindow time.Duration
	// Lease is the lease of acquisition jobs, renewed while they run.
	// Zero means DefaultLease (10 min).
	Lease time.Duration
	// MaxAttempts caps the acquisitions of one request (workers that died,
	// errors): the request then fails. Zero means DefaultMaxAttempts (3).
	MaxAttempts int
	// RetryAfter is how long after an acquisition error the job is tried
	// again. Zero means one Poll.
	RetryAfter time.Duration
	// Poll is how often an idle worker looks for work (approvals on the
	// same instance wake it at once). Zero means DefaultPoll (250 ms).
	Poll time.Duration
	// Concurrency is how many acquisitions this instance runs at once.
	// Zero means DefaultConcurrency (1).
	Concurrency int
	// KnownRefresh is how long the catalog's repository names are kept
	// for the typosquat check before they are read again. Zero means
	// DefaultKnownRefresh (1 min).
	KnownRefresh time.Duration
	// Instance names this instance in leases and request histories.
	// Empty means "<hostname>-<pid>-<random>".
	Instance string
	// Now is the clock of requests and rate limits. Nil means time.Now.
	// (Job leases run on the store's clock.)
	Now func() time.Time
	// Logger receives what the service does. Nil means silent.
	Logger *slog.Logger
}

// Service takes requests for images and runs their acquisitions. Create
// it with New; it is safe for concurrent use, and instances sharing a
// store share the work.
type Service struct {
	opts  Options
	log   *slog.Logger
	rules *compiled
	rate  *limiter
	wake  chan struct{}

	knownMu sync.Mutex
	known   []knownName
	knownAt time.Time
}

// New checks opts and returns a Service.
func New(opts Options) (*Service, error) {
	switch {
	case opts.Requests == nil || opts.Queue == nil:
		return nil, fmt.Errorf("%w: Requests and Queue are required", ErrInvalidConfig)
	case opts.Golden == "":
		return nil, fmt.Errorf("%w: Golden is required", ErrInvalidConfig)
	case opts.RateWindow < 0 || opts.Lease < 0 || opts.MaxAttempts < 0 || opts.RetryAfter < 0 || opts.Poll < 0 ||
		opts.Concurrency < 0 || opts.KnownRefresh < 0:
		return nil, fmt.Errorf("%w: negative option", ErrInvalidConfig)
	}
	rules, err := compile(opts.Rules)
	if err != nil {
		return nil, err
	}
	if opts.EventSource == "" {
		opts.EventSource = DefaultSource
	}
	if opts.RateLimit == 0 {
		opts.RateLimit = DefaultRateLimit
	}
	if opts.RateWindow == 0 {
		opts.RateWindow = DefaultRateWindow
	}
	if opts.Lease == 0 {
		opts.Lease = DefaultLease
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.Poll == 0 {
		opts.Poll = DefaultPoll
	}
	if opts.RetryAfter == 0 {
		opts.RetryAfter = opts.Poll
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.KnownRefresh == 0 {
		opts.KnownRefresh = DefaultKnownRefresh
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Instance == "" {
		host, _ := os.Hostname()
		opts.Instance = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randomID(4))
	}
	s := &Service{opts: opts, log: opts.Logger, rules: rules, wake: make(chan struct{}, 1)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if opts.RateLimit > 0 {
		s.rate = newLimiter(opts.RateLimit, opts.RateWindow)
	}
	return s, nil
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Submission is a team's request for an image.
type Submission struct {
	// Reference is the image ("nginx:1.27", "docker.io/library/nginx:1.27",
	// "ghcr.io/acme/app@sha256:..."); it is normalized as docker does.
	// Required, at most catalog.MaxRequestReference bytes.
	Reference string `json:"reference"`
	// Reason says why the team needs it. Required, one line of at most
	// catalog.MaxRequestReason bytes.
	Reason string `json:"reason"`
	// Owner is the team or person responsible for the image once golden.
	// Required, at most catalog.MaxRequestName bytes.
	Owner string `json:"owner"`
	// Requester is who asks (as the embedding service authenticated
	// them). Required, at most catalog.MaxRequestName bytes.
	Requester string `json:"requester"`
	// Catalog is the catalog as the requester may see it (a
	// *catalog.View for their access level), to look the reference up
	// in: an image they may not see is not named to them. Nil means
	// Options.Store.
	Catalog catalog.Store `json:"-"`
}

// Answer is what Submit returns: the golden image when the catalog has
// the reference already, else the request (new, or the open one the
// submission joined).
type Answer struct {
	// Golden is the catalog's image for the reference; nil when there is
	// none.
	Golden *Golden `json:"golden,omitempty"`
	// Request is the request; nil when Golden answers.
	Request *catalog.Request `json:"request,omitempty"`
	// Created is true for a new request, Joined when the submission
	// joined an open request for the same reference.
	Created bool `json:"created"`
	Joined  bool `json:"joined"`
}

// Golden names the golden image that answers a reference.
type Golden struct {
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
	// Pull is the pull-by-digest reference ("repository@digest").
	Pull string `json:"pull"`
	// Tags are the golden tags of the image; Status its lifecycle status.
	Tags   []string       `json:"tags,omitempty"`
	Status catalog.Status `json:"status,omitempty"`
}

// checkField validates one text field of a submission: one line of valid
// UTF-8 without control characters, at most max bytes.
func checkField(field, v string, max int) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return v, &InputError{Field: field, Reason: "required"}
	case len(v) > max:
		return v, &InputError{Field: field, Reason: fmt.Sprintf("longer than %d bytes", max)}
	case !utf8.ValidString(v):
		return v, &InputError{Field: field, Reason: "not UTF-8 text"}
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return v, &InputError{Field: field, Reason: "one line of text without control characters"}
		}
	}
	return v, nil
}

// parseReference validates and normalizes a requested reference.
func parseReference(s string) (registry.Ref, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return registry.Ref{}, &InputError{Field: "reference", Reason: "required"}
	case len(s) > catalog.MaxRequestReference:
		return registry.Ref{}, &InputError{Field: "reference", Reason: fmt.Sprintf("longer than %d bytes", catalog.MaxRequestReference)}
	}
	for i, r := range s {
		if r >= utf8.RuneSelf || unicode.IsControl(r) {
			why := fmt.Sprintf("character %q (U+%04X) at byte %d is not allowed in an image reference", r, r, i)
			if r >= utf8.RuneSelf && unicode.IsLetter(r) {
				why += " (a look-alike of an ASCII letter is a common typosquatting trick)"
			}
			return registry.Ref{}, &InputError{Field: "reference", Reason: why}
		}
	}
	if strings.Contains(s, "://") {
		return registry.Ref{}, &InputError{Field: "reference", Reason: "an image reference has no scheme (write registry/repository:tag)"}
	}
	ref, err := registry.ParseRef(s)
	if err != nil {
		return registry.Ref{}, &InputError{Field: "reference", Reason: "malformed image reference: " + strings.TrimPrefix(err.Error(), registry.ErrInvalidReference.Error()+": ")}
	}
	return ref, nil
}

// Submit takes a team's request for an image (see the package doc). It
// fails with an *InputError for bad input, a *SourceError for a source
// the rules do not allow, and a *RateLimitError when the requester asked
// too often; a submission that is answered (golden already, or joined)
// is not an error.
func (s *Service) Submit(ctx context.Context, sub Submission) (*Answer, error) {
	requester, err := checkField("requester", sub.Requester, catalog.MaxRequestName)
	if err != nil {
		return nil, err
	}
	now := s.opts.Now()
	if s.rate != nil {
		if wait := s.rate.take(requester, now); wait > 0 {
			return nil, &RateLimitError{Requester: requester, RetryAfter: wait}
		}
	}
	ref, err := parseReference(sub.Reference)
	if err != nil {
		return nil, err
	}
	reason, err := checkField("reason", sub.Reason, catalog.MaxRequestReason)
	if err != nil {
		return nil, err
	}
	owner, err := checkField("owner", sub.Owner, catalog.MaxRequestName)
	if err != nil {
		return nil, err
	}
	name := ref.Name()
	if !s.rules.allowed(name) {
		return nil, &SourceError{Name: name}
	}
	golden := registry.Join(s.opts.Golden, ref.Repository)
	look := sub.Catalog
	if look == nil {
		look = s.opts.Store
	}
	if g, err := s.existing(ctx, look, ref, golden); err != nil {
		return nil, err
	} else if g != nil {
		return &Answer{Golden: g}, nil
	}

	r := &catalog.Request{ID: randomID(8), Reference: ref.String(), Key: ref.String(), Reason: reason, Owner: owner,
		Requester: requester, Created: now, Golden: golden, Tag: ref.Tag}
	r.Move(catalog.RequestPending, now, requester, "submitted")
	known, err := s.knownNames(ctx)
	if err != nil {
		return nil, err
	}
	r.Typosquat = checkTyposquat(name, known, s.rules.maxDistance)
	rule := ""
	switch {
	case r.Typosquat != nil:
		r.Rule = "possible typosquat of " + r.Typosquat.Resembles + ": waits for an approver"
	default:
		if rule = s.rules.approver(name); rule == "" {
			r.Rule = "no auto-approve rule matches " + name + ": waits for an approver"
		} else {
			r.Rule = rule
		}
	}
	stored, created, err := s.create(ctx, r, now)
	if err != nil {
		return nil, err
	}
	if !created {
		joined, err := s.join(ctx, stored, requester)
		if err != nil {
			return nil, err
		}
		return &Answer{Request: joined, Joined: true}, nil
	}
	s.log.InfoContext(ctx, "requests: submitted", "request", r.ID, "reference", r.Reference, "requester", requester, "typosquat", r.Typosquat != nil)
	s.emit(ctx, TypeSubmitted, now, r, requester)
	if rule != "" {
		approved, err := s.approve(ctx, r, "rule:"+rule, "approved by rule "+rule)
		if err != nil {
			return nil, err
		}
		r = approved
	}
	return &Answer{Request: r, Created: true}, nil
}

// create stores r, holding the rate limit across instances: atomically
// when the store is a catalog.LimitedRequestStore, else by reading the
// requests the requester opened within the window first.
func (s *Service) create(ctx context.Context, r *catalog.Request, now time.Time) (*catalog.Request, bool, error) {
	ls, ok := s.opts.Requests.(catalog.LimitedRequestStore)
	if !ok || s.opts.RateLimit <= 0 {
		if err := s.storedLimit(ctx, r.Requester, now); err != nil {
			return nil, false, err
		}
		return s.opts.Requests.CreateRequest(ctx, r)
	}
	stored, created, err := ls.CreateRequestLimited(ctx, r, catalog.RequestLimit{Max: s.opts.RateLimit, Since: now.Add(-s.opts.RateWindow)})
	var le *catalog.RequestLimitError
	if errors.As(err, &le) {
		return nil, false, &RateLimitError{Requester: r.Requester, RetryAfter: max(s.opts.RateWindow-now.Sub(le.Oldest), time.Second)}
	}
	return stored, created, err
}

// storedLimit holds the rate limit across instances for a store that
// cannot count and insert atomically: the requests the requester opened,
// on any instance, within the window are read from the store (the most
// recent RateLimit of them).
func (s *Service) storedLimit(ctx context.Context, requester string, now time.Time) error {
	if s.opts.RateLimit <= 0 {
		return nil
	}
	recent, err := s.opts.Requests.Requests(ctx, catalog.RequestQuery{Requester: requester, Limit: min(s.opts.RateLimit, catalog.MaxRequestLimit)})
	if err != nil {
		return err
	}
	if len(recent) < s.opts.RateLimit {
		return nil
	}
	if age := now.Sub(recent[len(recent)-1].Created); age < s.opts.RateWindow {
		return &RateLimitError{Requester: requester, RetryAfter: max(s.opts.RateWindow-age, time.Second)}
	}
	return nil
}

// join adds requester to the followers of the open request r (unless
// they are its requester or follow it already).
func (s *Service) join(ctx context.Context, r *catalog.Request, requester string) (*catalog.Request, error) {
	for range 10 {
		if r.Requester == requester || slices.Contains(r.Followers, requester) || len(r.Followers) >= catalog.MaxRequestFollowers || !r.Open() {
			return r, nil
		}
		r.Followers = append(r.Followers, requester)
		err := s.opts.Requests.PutRequest(ctx, r)
		if err == nil {
			s.emit(ctx, TypeJoined, s.opts.Now(), r, requester)
			return r, nil
		}
		if !errors.Is(err, catalog.ErrConflict) {
			return nil, err
		}
		if r, err = s.opts.Requests.Request(ctx, r.ID); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// existing returns the golden image the catalog has for ref, or nil.
func (s *Service) existing(ctx context.Context, store catalog.Store, ref registry.Ref, golden string) (*Golden, error) {
	if store == nil {
		return nil, nil
	}
	d := ref.Digest
	if d == "" {
		tags, err := store.Tags(ctx, golden)
		if err != nil {
			return nil, fmt.Errorf("requests: read the catalog: %w", err)
		}
		if d = tags[ref.Tag]; d == "" {
			return nil, nil
		}
	}
	e, err := store.Get(ctx, golden, d)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("requests: read the catalog: %w", err)
	}
	if e.Source.Reference != "" {
		if src, err := registry.ParseRef(e.Source.Reference); err == nil && src.Name() != ref.Name() {
			return nil, nil // golden under that path came from elsewhere
		}
	}
	return &Golden{Repository: e.Repository, Digest: e.Digest, Pull: e.Repository + "@" + e.Digest.String(), Tags: e.Tags, Status: e.Status}, nil
}

// knownNames returns the names typosquats are compared against: the
// rules' known images and the sources of the catalog's repositories that
// are not restricted (a flag must not name an image the requester may
// not see), read again every KnownRefresh.
func (s *Service) knownNames(ctx context.Context) ([]knownName, error) {
	if s.opts.Store == nil {
		return s.rules.known, nil
	}
	s.knownMu.Lock()
	defer s.knownMu.Unlock()
	now := time.Now()
	if s.known != nil && now.Sub(s.knownAt) < s.opts.KnownRefresh {
		return s.known, nil
	}
	repos, err := s.opts.Store.Repositories(ctx)
	if err != nil {
		return nil, fmt.Errorf("requests: read the catalog's repositories: %w", err)
	}
	out := append([]knownName(nil), s.rules.known...)
	seen := map[string]bool{}
	for _, k := range out {
		seen[k.name] = true
	}
	refs := make([]catalog.EntryRef, 0, len(repos))
	for _, repo := range repos {
		res, err := s.opts.Store.Search(ctx, catalog.Query{Repository: repo, Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("requests: read the catalog: %w", err)
		}
		if len(res.Entries) > 0 {
			refs = append(refs, res.Entries[0].Ref())
		}
	}
	entries, err := catalog.GetMany(ctx, s.opts.Store, refs)
	if err != nil {
		return nil, fmt.Errorf("requests: read the catalog: %w", err)
	}
	for _, e := range entries {
		if e == nil || e.Access.Restricted() {
			continue
		}
		src, err := registry.ParseRef(e.Source.Reference)
		if err != nil || seen[src.Name()] {
			continue
		}
		seen[src.Name()] = true
		out = append(out, newKnown(src.Name()))
	}
	s.known, s.knownAt = out, now
	return out, nil
}

// Approve approves a pending request on behalf of by (an approver), and
// queues its acquisition. A flagged typosquat may be approved this way
// (a person looked at it). A request that is not pending fails with
// ErrWrongState.
func (s *Service) Approve(ctx context.Context, id, by, note string) (*catalog.Request, error) {
	by, err := checkField("approver", by, catalog.MaxRequestName)
	if err != nil {
		return nil, err
	}
	if note, err = checkOptional("note", note, catalog.MaxRequestReason); err != nil {
		return nil, err
	}
	if note == "" {
		note = "approved by " + by
	}
	return s.decide(ctx, id, func(r *catalog.Request) (*catalog.Request, error) {
		return s.approve(ctx, r, by, note)
	})
}

// decide reads the pending request id and calls fn with it, again (up to
// ten times) while fn fails with catalog.ErrConflict. A request that is
// not pending fails with ErrWrongState.
func (s *Service) decide(ctx context.Context, id string, fn func(r *catalog.Request) (*catalog.Request, error)) (*catalog.Request, error) {
	for range 10 {
		r, err := s.opts.Requests.Request(ctx, id)
		if err != nil {
			return nil, err
		}
		if r.State != catalog.RequestPending {
			return r, fmt.Errorf("%w: request %s is %s, not pending", ErrWrongState, id, r.State)
		}
		r, err = fn(r)
		if errors.Is(err, catalog.ErrConflict) {
			continue
		}
		return r, err
	}
	return nil, fmt.Errorf("%w: request %s kept changing", catalog.ErrConflict, id)
}

func checkOptional(field, v string, max int) (string, error) {
	if strings.TrimSpace(v) == "" {
		return "", nil
	}
	return checkField(field, v, max)
}

// approve moves the pending request r to approved, then queues its job
// (Run re-queues the job of an approved request whose instance died in
// between).
func (s *Service) approve(ctx context.Context, r *catalog.Request, by, note string) (*catalog.Request, error) {
	now := s.opts.Now()
	r.Move(catalog.RequestApproved, now, by, note)
	r.Decider = by
	if err := s.opts.Requests.PutRequest(ctx, r); err != nil {
		return nil, err
	}
	// The approval is stored: say so before the job exists, so that no
	// worker reports the acquisition before the approval.
	s.log.InfoContext(ctx, "requests: approved", "request", r.ID, "reference", r.Reference, "by", by)
	s.emit(ctx, TypeApproved, now, r, by)
	if err := s.enqueue(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

func jobKey(id string) string { return "request/" + id }

func (s *Service) enqueue(ctx context.Context, r *catalog.Request) error {
	_, err := s.opts.Queue.Enqueue(ctx, catalog.Job{Kind: KindAcquire, Key: jobKey(r.ID), Priority: 10, Payload: []byte(r.ID)})
	if err != nil {
		return fmt.Errorf("requests: queue the acquisition: %w", err)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return nil
}

// Deny denies a pending request on behalf of by, with a reason (required).
// A request that is not pending fails with ErrWrongState.
func (s *Service) Deny(ctx context.Context, id, by, reason string) (*catalog.Request, error) {
	by, err := checkField("approver", by, catalog.MaxRequestName)
	if err != nil {
		return nil, err
	}
	if reason, err = checkField("reason", reason, catalog.MaxRequestReason); err != nil {
		return nil, err
	}
	return s.decide(ctx, id, func(r *catalog.Request) (*catalog.Request, error) {
		now := s.opts.Now()
		r.Move(catalog.RequestDenied, now, by, reason)
		r.Decider, r.Reasons = by, []string{reason}
		if err := s.opts.Requests.PutRequest(ctx, r); err != nil {
			return nil, err
		}
		s.log.InfoContext(ctx, "requests: denied", "request", r.ID, "reference", r.Reference, "by", by)
		s.emit(ctx, TypeDenied, now, r, by)
		return r, nil
	})
}

// Request returns the request with id (an error wrapping
// catalog.ErrNotFound if there is none).
func (s *Service) Request(ctx context.Context, id string) (*catalog.Request, error) {
	return s.opts.Requests.Request(ctx, id)
}

// Requests lists requests (see catalog.RequestStore.Requests).
func (s *Service) Requests(ctx context.Context, q catalog.RequestQuery) ([]*catalog.Request, error) {
	return s.opts.Requests.Requests(ctx, q)
}
