package requests_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/internal/eventtest"
	"github.com/cssc-go/cssc/catalog/requests"
	"github.com/cssc-go/cssc/catalog/upstream"
)

var testRules = requests.Rules{
	Sources:     []string{"docker.io/library/*", "docker.io/nginxofficial/*", "ghcr.io/acme/**", "registry.corp/**"},
	AutoApprove: []requests.Rule{{Name: "docker-official", Match: []string{"docker.io/library/*"}}},
}

func newService(t *testing.T, tune ...func(*requests.Options)) (*requests.Service, *catalog.MemoryStore, *eventtest.Sink) {
	t.Helper()
	store, q, events := catalog.NewMemoryStore(), catalog.NewMemoryQueue(), &eventtest.Sink{}
	o := requests.Options{Requests: store, Queue: q, Store: store, Golden: "registry.corp/golden", Rules: testRules, Events: events}
	for _, fn := range tune {
		fn(&o)
	}
	s, err := requests.New(o)
	require.NoError(t, err)
	return s, store, events
}

func TestSubmitBadInput(t *testing.T) {
	s, _, _ := newService(t)
	ctx := context.Background()
	ok := requests.Submission{Reference: "docker.io/library/nginx:1.27", Reason: "web tier", Owner: "team-web", Requester: "alice"}
	for _, tc := range []struct {
		name  string
		mod   func(*requests.Submission)
		field string
		want  error
	}{
		{"no reference", func(s *requests.Submission) { s.Reference = "" }, "reference", requests.ErrInvalidInput},
		{"malformed", func(s *requests.Submission) { s.Reference = "docker.io/library/NGINX:1.27" }, "reference", requests.ErrInvalidInput},
		{"bad tag", func(s *requests.Submission) { s.Reference = "nginx:-1" }, "reference", requests.ErrInvalidInput},
		{"scheme", func(s *requests.Submission) { s.Reference = "https://docker.io/library/nginx" }, "reference", requests.ErrInvalidInput},
		{"cyrillic", func(s *requests.Submission) { s.Reference = "docker.io/library/nginх" }, "reference", requests.ErrInvalidInput},
		{"oversized reference", func(s *requests.Submission) { s.Reference = "docker.io/library/" + strings.Repeat("a", 600) }, "reference", requests.ErrInvalidInput},
		{"no reason", func(s *requests.Submission) { s.Reason = " " }, "reason", requests.ErrInvalidInput},
		{"oversized reason", func(s *requests.Submission) { s.Reason = strings.Repeat("r", catalog.MaxRequestReason+1) }, "reason", requests.ErrInvalidInput},
		{"two lines", func(s *requests.Submission) { s.Reason = "a\nb" }, "reason", requests.ErrInvalidInput},
		{"not utf-8", func(s *requests.Submission) { s.Owner = "team\xff" }, "owner", requests.ErrInvalidInput},
		{"oversized owner", func(s *requests.Submission) { s.Owner = strings.Repeat("o", catalog.MaxRequestName+1) }, "owner", requests.ErrInvalidInput},
		{"no requester", func(s *requests.Submission) { s.Requester = "" }, "requester", requests.ErrInvalidInput},
		{"source", func(s *requests.Submission) { s.Reference = "quay.io/evil/miner:1" }, "", requests.ErrSourceNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := ok
			tc.mod(&sub)
			ans, err := s.Submit(ctx, sub)
			require.ErrorIs(t, err, tc.want, "got answer %+v", ans)
			var ie *requests.InputError
			if tc.field != "" {
				require.ErrorAs(t, err, &ie)
				assert.Equal(t, tc.field, ie.Field, "the error names the field: %v", err)
				assert.NotEmpty(t, ie.Reason, "the error says why")
			}
		})
	}
	all, err := s.Requests(ctx, catalog.RequestQuery{})
	require.NoError(t, err)
	assert.Empty(t, all, "bad input stores nothing")
}

func TestSubmitRules(t *testing.T) {
	s, _, events := newService(t)
	ctx := context.Background()
	sub := func(ref, who string) *requests.Answer {
		t.Helper()
		a, err := s.Submit(ctx, requests.Submission{Reference: ref, Reason: "needed", Owner: "team", Requester: who})
		require.NoError(t, err, ref)
		return a
	}

	// An official image: approved by the rule, its job queued.
	a := sub("nginx:1.27", "alice")
	require.NotNil(t, a.Request)
	assert.True(t, a.Created)
	assert.Equal(t, "docker.io/library/nginx:1.27", a.Request.Reference, "normalized")
	assert.Equal(t, catalog.RequestApproved, a.Request.State, "approved by the rule")
	assert.Equal(t, "rule:docker-official", a.Request.Decider)
	assert.Equal(t, "registry.corp/golden/library/nginx", a.Request.Golden)
	assert.Equal(t, []string{requests.TypeSubmitted, requests.TypeApproved}, eventtest.Types(events.Take()))

	// A duplicate joins the open request.
	b := sub("docker.io/library/nginx:1.27", "bob")
	assert.False(t, b.Created)
	assert.True(t, b.Joined)
	assert.Equal(t, a.Request.ID, b.Request.ID, "duplicates collapse into one request")
	assert.Equal(t, []string{"bob"}, b.Request.Followers)
	assert.Equal(t, []string{requests.TypeJoined}, eventtest.Types(events.Take()))
	sub("docker.io/library/nginx:1.27", "bob")
	assert.Empty(t, events.Take(), "asking twice joins once")

	// A look-alike of an official image is flagged and waits, although an
	// auto-approve rule matches it.
	c := sub("docker.io/library/ngnix:latest", "mallory")
	assert.Equal(t, catalog.RequestPending, c.Request.State, "a typosquat is never approved automatically")
	require.NotNil(t, c.Request.Typosquat)
	assert.Equal(t, "docker.io/library/nginx", c.Request.Typosquat.Resembles)
	assert.Contains(t, c.Request.Rule, "typosquat")

	// A known name under another namespace: flagged too.
	d := sub("docker.io/nginxofficial/nginx:1.27", "mallory")
	require.NotNil(t, d.Request.Typosquat)
	assert.Equal(t, requests.TyposquatNamespace, d.Request.Typosquat.Kind)

	// An allowed source with no auto-approve rule waits for an approver.
	e := sub("ghcr.io/acme/payments:2.1", "carol")
	assert.Equal(t, catalog.RequestPending, e.Request.State)
	assert.Nil(t, e.Request.Typosquat)
	events.Take()

	// Approve and deny.
	got, err := s.Approve(ctx, e.Request.ID, "dave", "")
	require.NoError(t, err)
	assert.Equal(t, catalog.RequestApproved, got.State)
	assert.Equal(t, "dave", got.Decider)
	_, err = s.Approve(ctx, e.Request.ID, "dave", "")
	assert.ErrorIs(t, err, requests.ErrWrongState, "approving twice")
	denied, err := s.Deny(ctx, c.Request.ID, "dave", "typosquat of nginx")
	require.NoError(t, err)
	assert.Equal(t, catalog.RequestDenied, denied.State)
	assert.Equal(t, []string{"typosquat of nginx"}, denied.Reasons)
	_, err = s.Deny(ctx, d.Request.ID, "dave", "")
	assert.ErrorIs(t, err, requests.ErrInvalidInput, "a denial needs a reason")
	_, err = s.Approve(ctx, "nope", "dave", "")
	assert.ErrorIs(t, err, catalog.ErrNotFound)
	evs := events.Take()
	require.Equal(t, []string{requests.TypeApproved, requests.TypeDenied}, eventtest.Types(evs))
	var ch requests.Change
	require.NoError(t, evs[1].Decode(&ch))
	assert.Equal(t, "mallory", ch.Requester, "the denial event names the requester, for them to be told")
	assert.Equal(t, []string{"typosquat of nginx"}, ch.Reasons)
	assert.Equal(t, c.Request.ID, evs[1].Subject)
}

func TestSubmitExisting(t *testing.T) {
	s, store, _ := newService(t)
	ctx := context.Background()
	e := catalogtest.Corpus(catalogtest.CorpusOptions{Entries: 1})[0]
	e.Repository, e.Tags = "registry.corp/golden/library/redis", []string{"7.2"}
	e.Source.Reference = "docker.io/library/redis:7.2"
	require.NoError(t, store.Put(ctx, e))
	b := catalogtest.Corpus(catalogtest.CorpusOptions{Entries: 2})[1]
	b.Repository, b.Tags = "registry.corp/golden/acme/billing-api", []string{"3"}
	b.Source.Reference = "ghcr.io/acme/billing-api:3"
	require.NoError(t, store.Put(ctx, b))
	_, err := store.RecordTags(ctx, e.Repository, map[string]digest.Digest{"7.2": e.Digest}, catalogtest.Now(), true)
	require.NoError(t, err)
	a, err := s.Submit(ctx, requests.Submission{Reference: "redis:7.2", Reason: "cache", Owner: "team", Requester: "alice"})
	require.NoError(t, err)
	require.NotNil(t, a.Golden, "the catalog has it")
	assert.Nil(t, a.Request, "no request is opened")
	assert.Equal(t, e.Repository+"@"+e.Digest.String(), a.Golden.Pull, "pull by digest")
	a, err = s.Submit(ctx, requests.Submission{Reference: "docker.io/library/redis@" + e.Digest.String(), Reason: "cache", Owner: "team", Requester: "alice"})
	require.NoError(t, err)
	require.NotNil(t, a.Golden, "by digest too")
	a, err = s.Submit(ctx, requests.Submission{Reference: "redis:7.4", Reason: "cache", Owner: "team", Requester: "alice"})
	require.NoError(t, err)
	assert.Nil(t, a.Golden, "another tag is not in the catalog")
	require.NotNil(t, a.Request)

	// The catalog's repositories are known names.
	a, err = s.Submit(ctx, requests.Submission{Reference: "ghcr.io/acme/biling-api:3", Reason: "billing", Owner: "team", Requester: "alice"})
	require.NoError(t, err)
	require.NotNil(t, a.Request.Typosquat, "a look-alike of a catalog repository")
	assert.Equal(t, "ghcr.io/acme/billing-api", a.Request.Typosquat.Resembles)
}

func TestRateLimitFlood(t *testing.T) {
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	s, _, _ := newService(t, func(o *requests.Options) {
		o.RateLimit, o.RateWindow = 5, time.Hour
		o.Now = func() time.Time { return time.Unix(0, clock.Load()).UTC() }
	})
	ctx := context.Background()
	const flood = 2000
	var accepted, limited atomic.Int64
	var wg sync.WaitGroup
	for i := range flood {
		wg.Go(func() {
			_, err := s.Submit(ctx, requests.Submission{Reference: fmt.Sprintf("ghcr.io/acme/app%d:1", i), Reason: "flood", Owner: "team", Requester: "flooder"})
			var rl *requests.RateLimitError
			switch {
			case err == nil:
				accepted.Add(1)
			case errors.As(err, &rl):
				assert.Positive(t, rl.RetryAfter, "says when to retry")
				limited.Add(1)
			default:
				t.Errorf("submission %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(5), accepted.Load(), "the limit holds under a flood of %d", flood)
	assert.Equal(t, int64(flood-5), limited.Load())
	all, err := s.Requests(ctx, catalog.RequestQuery{Requester: "flooder"})
	require.NoError(t, err)
	assert.Len(t, all, 5, "only the accepted ones are stored")

	// Others are not affected; the flooder may ask again after the window.
	_, err = s.Submit(ctx, requests.Submission{Reference: "ghcr.io/acme/other:1", Reason: "x", Owner: "team", Requester: "alice"})
	require.NoError(t, err, "another requester")
	clock.Add(int64(time.Hour))
	_, err = s.Submit(ctx, requests.Submission{Reference: "ghcr.io/acme/late:1", Reason: "x", Owner: "team", Requester: "flooder"})
	require.NoError(t, err, "after the window")
}

// TestRateLimitAcrossInstances floods three instances, each with its own
// handle on one store (memory, SQLite, PostgreSQL): the requests a
// requester opens stay exactly within the limit, whichever instance took
// them, even when the submissions race.
func TestRateLimitAcrossInstances(t *testing.T) {
	for name, kind := range storeKinds() {
		t.Run(name, func(t *testing.T) {
			rateLimitAcrossInstances(t, kind(t))
		})
	}
}

func rateLimitAcrossInstances(t *testing.T, open func() stores) {
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	var svcs []*requests.Service
	for i := range 3 {
		st := open()
		s, err := requests.New(requests.Options{Requests: st.reqs, Queue: st.queue, Golden: "registry.corp/golden", RateLimit: 4, RateWindow: time.Hour,
			Instance: fmt.Sprintf("i%d", i), Now: func() time.Time { return now }})
		require.NoError(t, err)
		svcs = append(svcs, s)
	}
	ctx := context.Background()
	var accepted, limited atomic.Int32
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			_, err := svcs[i%3].Submit(ctx, requests.Submission{Reference: fmt.Sprintf("ghcr.io/acme/app%d:1", i), Reason: "flood", Owner: "team", Requester: "flooder"})
			var rl *requests.RateLimitError
			switch {
			case err == nil:
				accepted.Add(1)
			case errors.As(err, &rl):
				limited.Add(1)
				if rl.RetryAfter <= 0 || rl.RetryAfter > time.Hour {
					t.Errorf("submission %d: retry after %v, want within the window", i, rl.RetryAfter)
				}
			default:
				t.Errorf("submission %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	all, err := svcs[0].Requests(ctx, catalog.RequestQuery{Requester: "flooder"})
	require.NoError(t, err)
	assert.Len(t, all, 4, "racing submissions on three instances: exactly the limit (accepted %d, limited %d)", accepted.Load(), limited.Load())
	assert.EqualValues(t, 4, accepted.Load(), "accepted submissions")
	assert.EqualValues(t, 296, limited.Load(), "rate-limited submissions")

	// Sequentially, exactly the limit.
	for i := range 6 {
		_, _ = svcs[i%3].Submit(ctx, requests.Submission{Reference: fmt.Sprintf("ghcr.io/acme/seq%d:1", i), Reason: "r", Owner: "o", Requester: "steady"})
	}
	steady, err := svcs[0].Requests(ctx, catalog.RequestQuery{Requester: "steady"})
	require.NoError(t, err)
	assert.Len(t, steady, 4, "sequential submissions on three instances: exactly the limit")

	// Past the window, the flooder may ask again.
	now = now.Add(time.Hour)
	_, err = svcs[1].Submit(ctx, requests.Submission{Reference: "ghcr.io/acme/late:1", Reason: "r", Owner: "o", Requester: "flooder"})
	assert.NoError(t, err, "after the window")
}

// slowApproval is an event sink that takes its time over approvals, the
// way a webhook does: a worker that starts meanwhile must not report the
// acquisition first. It keeps the event types in arrival order.
type slowApproval struct {
	mu    sync.Mutex
	types []string
}

func (s *slowApproval) Emit(_ context.Context, evs ...event.Event) error {
	for _, e := range evs {
		if e.Type == requests.TypeApproved {
			time.Sleep(100 * time.Millisecond)
		}
		s.mu.Lock()
		s.types = append(s.types, e.Type)
		s.mu.Unlock()
	}
	return nil
}

// until waits for an event of type last (a request's final event is
// emitted after its final state is stored) and returns the types
// received so far, forgetting them.
func (s *slowApproval) until(t *testing.T, last string) []string {
	t.Helper()
	var got []string
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !slices.Contains(s.types, last) {
			return false
		}
		got, s.types = s.types, nil
		return true
	}, 10*time.Second, 5*time.Millisecond, "waiting for %s", last)
	return got
}

// TestEventsInOrderWithARunningWorker: with a worker running on the same
// instance, the events of a request arrive in the order of its states,
// whether a rule or a person approves it.
func TestEventsInOrderWithARunningWorker(t *testing.T) {
	ctx := context.Background()
	events := &slowApproval{}
	deny := upstream.AcquirerFunc(func(context.Context, upstream.Request) (*upstream.Result, error) {
		return &upstream.Result{Outcome: upstream.OutcomeDenied, Reason: "vulnerabilities: 1 critical"}, nil
	})
	s, _, _ := newService(t, func(o *requests.Options) {
		o.Events, o.Acquirer, o.Poll = events, deny, time.Hour // only the wake-up starts the worker
	})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(wctx) }()
	defer func() { stop(); <-done }()
	want := []string{requests.TypeSubmitted, requests.TypeApproved, requests.TypeAcquiring, requests.TypeDenied}

	_, err := s.Submit(ctx, requests.Submission{Reference: "docker.io/library/nginx:1.27", Reason: "web tier", Owner: "team-web", Requester: "alice"})
	require.NoError(t, err)
	assert.Equal(t, want, events.until(t, requests.TypeDenied), "approved by a rule")

	b, err := s.Submit(ctx, requests.Submission{Reference: "ghcr.io/acme/ledger:2.0", Reason: "ledger", Owner: "team-ledger", Requester: "dana"})
	require.NoError(t, err)
	require.Equal(t, catalog.RequestPending, b.Request.State)
	_, err = s.Approve(ctx, b.Request.ID, "sam", "publisher checked")
	require.NoError(t, err)
	assert.Equal(t, want, events.until(t, requests.TypeDenied), "approved by a person")
}

// TestRunQueuesWhatADeadInstanceApproved: a request approved by an
// instance that died before queueing its job is acquired by a worker
// elsewhere once the approval is a minute old.
func TestRunQueuesWhatADeadInstanceApproved(t *testing.T) {
	ctx := context.Background()
	deny := upstream.AcquirerFunc(func(context.Context, upstream.Request) (*upstream.Result, error) {
		return &upstream.Result{Outcome: upstream.OutcomeDenied, Reason: "vulnerabilities: 1 critical"}, nil
	})
	s, store, _ := newService(t, func(o *requests.Options) { o.Acquirer, o.Poll = deny, time.Hour })
	then := time.Now().Add(-2 * time.Minute)
	r := &catalog.Request{ID: "orphan", Reference: "docker.io/library/nginx:1.27", Key: "docker.io/library/nginx:1.27",
		Reason: "web tier", Owner: "team-web", Requester: "alice", Created: then, Golden: "registry.corp/golden/library/nginx", Tag: "1.27"}
	r.Move(catalog.RequestPending, then, "alice", "submitted")
	stored, created, err := store.CreateRequest(ctx, r)
	require.NoError(t, err)
	require.True(t, created)
	stored.Move(catalog.RequestApproved, then, "rule:docker-official", "approved by rule docker-official")
	require.NoError(t, store.PutRequest(ctx, stored), "approved, and the instance dies before queueing the job")

	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(wctx) }()
	defer func() { stop(); <-done }()
	require.Eventually(t, func() bool {
		r, err := s.Request(ctx, "orphan")
		return err == nil && r.State == catalog.RequestDenied
	}, 10*time.Second, 5*time.Millisecond, "the orphaned approval is acquired")
}
