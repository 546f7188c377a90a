package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/requests"
	"github.com/cssc-go/cssc/catalog/server"
	"github.com/cssc-go/cssc/catalog/server/internal/demodata"
)

var jsonHeader = []string{"X-User", "alice", "Content-Type", "application/json"}

// answer is the body of POST /api/v1/requests.
type answer struct {
	Golden  *requests.Golden `json:"golden"`
	Request *catalog.Request `json:"request"`
	Created bool             `json:"created"`
	Joined  bool             `json:"joined"`
}

func (e *env) submit(t *testing.T, body string, header ...string) reply {
	t.Helper()
	if len(header) == 0 {
		header = jsonHeader
	}
	return e.call(t, http.MethodPost, "/api/v1/requests", strings.NewReader(body), header...)
}

func TestRequestsAPI(t *testing.T) {
	e := newEnv(t, envOptions{})

	// A new request from an allowed source with no auto-approve rule.
	r := e.submit(t, `{"reference":"ghcr.io/acme/payments:2.1","reason":"payments service base","owner":"team-pay"}`)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	var a answer
	a = answer{}
	r.json(t, &a)
	require.NotNil(t, a.Request)
	assert.True(t, a.Created)
	assert.Equal(t, catalog.RequestPending, a.Request.State)
	assert.Equal(t, "alice", a.Request.Requester, "the Identifier names the requester")
	assert.Equal(t, "/api/v1/requests/"+a.Request.ID, r.header.Get("Location"))
	id := a.Request.ID

	// The Authorizer saw the action.
	e.mu.Lock()
	last := e.actions[len(e.actions)-1]
	e.mu.Unlock()
	assert.Equal(t, server.ActionRequest, last.Name)
	assert.Equal(t, "ghcr.io/acme/payments:2.1", last.Reference)

	// A duplicate joins it.
	r = e.submit(t, `{"reference":"ghcr.io/acme/payments:2.1","reason":"me too","owner":"team-api"}`, "X-User", "bob", "Content-Type", "application/json")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	a = answer{}
	r.json(t, &a)
	assert.True(t, a.Joined)
	assert.Equal(t, id, a.Request.ID, "duplicates collapse into one request")
	assert.Equal(t, []string{"bob"}, a.Request.Followers)

	// An image the catalog has: answered with the golden entry.
	nginx := e.demo.Entry("library/nginx", "1.27.3")
	r = e.submit(t, `{"reference":"nginx:1.27.3","reason":"web","owner":"team-web"}`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	a = answer{}
	r.json(t, &a)
	require.NotNil(t, a.Golden, "%s", r.body)
	assert.Nil(t, a.Request)
	assert.Equal(t, nginx.Repository+"@"+nginx.Digest.String(), a.Golden.Pull, "pull by digest")

	// An official image is approved by the rule; a look-alike is flagged
	// and waits.
	r = e.submit(t, `{"reference":"docker.io/library/redis:7.4","reason":"cache","owner":"team-web"}`)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	a = answer{}
	r.json(t, &a)
	assert.Equal(t, catalog.RequestApproved, a.Request.State)
	r = e.submit(t, `{"reference":"docker.io/library/ngnix:1.27","reason":"web","owner":"team-web"}`)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	a = answer{}
	r.json(t, &a)
	assert.Equal(t, catalog.RequestPending, a.Request.State, "a typosquat is never approved automatically")
	require.NotNil(t, a.Request.Typosquat)
	assert.Equal(t, "docker.io/library/nginx", a.Request.Typosquat.Resembles, "the flag says which name it resembles")
	squat := a.Request.ID

	// Get and list.
	r = e.get(t, "/api/v1/requests/"+id)
	require.Equal(t, http.StatusOK, r.status)
	var got catalog.Request
	r.json(t, &got)
	assert.Equal(t, "ghcr.io/acme/payments:2.1", got.Reference)
	assert.NotEmpty(t, r.header.Get("ETag"))
	r = e.get(t, "/api/v1/requests?state=pending")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var list struct {
		Requests []catalog.Request `json:"requests"`
		Next     string            `json:"next"`
	}
	r.json(t, &list)
	assert.Len(t, list.Requests, 2, "two pending")
	r = e.get(t, "/api/v1/requests?limit=1")
	r.json(t, &list)
	require.Len(t, list.Requests, 1)
	require.NotEmpty(t, list.Next, "a next cursor")
	r = e.get(t, "/api/v1/requests?limit=1&cursor="+url.QueryEscape(list.Next))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	var page2 struct{ Requests []catalog.Request }
	r.json(t, &page2)
	require.Len(t, page2.Requests, 1)
	assert.NotEqual(t, list.Requests[0].ID, page2.Requests[0].ID, "the cursor moves on")
	assert.Equal(t, http.StatusNotFound, e.get(t, "/api/v1/requests/nope").status)
	for _, bad := range []string{"?state=maybe", "?cursor=garbage", "?limit=0", "?bogus=1"} {
		assert.Equal(t, http.StatusBadRequest, e.get(t, "/api/v1/requests"+bad).status, bad)
	}

	// Decisions.
	r = e.call(t, http.MethodPost, "/api/v1/requests/"+id+"/approve", strings.NewReader(`{}`), "Content-Type", "application/json")
	assert.Equal(t, http.StatusUnauthorized, r.status, "an unknown caller: %s", r.body)
	e.mu.Lock()
	e.deny = errDenied
	e.mu.Unlock()
	r = e.call(t, http.MethodPost, "/api/v1/requests/"+id+"/approve", strings.NewReader(`{}`), jsonHeader...)
	assert.Equal(t, http.StatusForbidden, r.status, "the Authorizer says no: %s", r.body)
	e.mu.Lock()
	e.deny = nil
	e.mu.Unlock()
	r = e.call(t, http.MethodPost, "/api/v1/requests/"+id+"/approve", strings.NewReader(`{"note":"fine"}`), "X-User", "dave", "Content-Type", "application/json")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r.json(t, &got)
	assert.Equal(t, catalog.RequestApproved, got.State)
	assert.Equal(t, "dave", got.Decider, "the approver is recorded")
	r = e.call(t, http.MethodPost, "/api/v1/requests/"+id+"/approve", strings.NewReader(`{}`), jsonHeader...)
	assert.Equal(t, http.StatusConflict, r.status, "approved already: %s", r.body)
	r = e.call(t, http.MethodPost, "/api/v1/requests/"+squat+"/deny", strings.NewReader(`{}`), jsonHeader...)
	assert.Equal(t, http.StatusBadRequest, r.status, "a denial needs a reason")
	assert.Equal(t, "reason", r.apiError(t).Parameter)
	r = e.call(t, http.MethodPost, "/api/v1/requests/"+squat+"/deny", strings.NewReader(`{"reason":"typosquat of nginx"}`), jsonHeader...)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r.json(t, &got)
	assert.Equal(t, catalog.RequestDenied, got.State)
	assert.Equal(t, http.StatusNotFound, e.call(t, http.MethodPost, "/api/v1/requests/"+id+"/maybe", strings.NewReader(`{}`), jsonHeader...).status)
	assert.Equal(t, http.StatusNotFound, e.call(t, http.MethodPost, "/api/v1/requests/nope/approve", strings.NewReader(`{}`), jsonHeader...).status)
}

func TestRequestsBadInput(t *testing.T) {
	e := newEnv(t, envOptions{tweak: func(o *server.Options) {
		s, err := requests.New(requests.Options{Requests: catalog.NewMemoryStore(), Queue: catalog.NewMemoryQueue(), Golden: "registry.corp/golden",
			Rules: requests.Rules{Sources: []string{"docker.io/library/*", "ghcr.io/acme/**"}}})
		require.NoError(t, err)
		o.Requests = s
	}})
	for _, tc := range []struct {
		name   string
		body   string
		header []string
		status int
		code   string
		param  string
	}{
		{"malformed", `{"reference":"docker.io/library/NGINX","reason":"r","owner":"o"}`, nil, 400, "invalid_parameter", "reference"},
		{"scheme", `{"reference":"https://ghcr.io/acme/x","reason":"r","owner":"o"}`, nil, 400, "invalid_parameter", "reference"},
		{"homoglyph", `{"reference":"docker.io/library/nginх","reason":"r","owner":"o"}`, nil, 400, "invalid_parameter", "reference"},
		{"empty reference", `{"reason":"r","owner":"o"}`, nil, 400, "invalid_parameter", "reference"},
		{"no reason", `{"reference":"nginx","owner":"o"}`, nil, 400, "invalid_parameter", "reason"},
		{"no owner", `{"reference":"nginx","reason":"r"}`, nil, 400, "invalid_parameter", "owner"},
		{"oversized reason", `{"reference":"nginx","reason":"` + strings.Repeat("r", 1100) + `","owner":"o"}`, nil, 400, "invalid_parameter", "reason"},
		{"oversized owner", `{"reference":"nginx","reason":"r","owner":"` + strings.Repeat("o", 300) + `"}`, nil, 400, "invalid_parameter", "owner"},
		{"oversized reference", `{"reference":"ghcr.io/acme/` + strings.Repeat("a", 600) + `","reason":"r","owner":"o"}`, nil, 400, "invalid_parameter", "reference"},
		{"oversized body", `{"reference":"nginx","reason":"` + strings.Repeat("r", 9000) + `","owner":"o"}`, nil, 413, "body_too_large", ""},
		{"unknown field", `{"reference":"nginx","reason":"r","owner":"o","priority":9}`, nil, 400, "invalid_body", ""},
		{"not json", `reference=nginx`, []string{"X-User", "alice", "Content-Type", "text/plain"}, 415, "unsupported_media_type", ""},
		{"trailing data", `{"reference":"nginx","reason":"r","owner":"o"} {}`, nil, 400, "invalid_body", ""},
		{"source not allowed", `{"reference":"quay.io/evil/miner:1","reason":"r","owner":"o"}`, nil, 422, "source_not_allowed", "reference"},
		{"source not allowed (namespace)", `{"reference":"docker.io/someone/nginx:1","reason":"r","owner":"o"}`, nil, 422, "source_not_allowed", "reference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.submit(t, tc.body, tc.header...)
			require.Equal(t, tc.status, r.status, "%s", r.body)
			er := r.apiError(t)
			assert.Equal(t, tc.code, er.Code, "%s", r.body)
			assert.Equal(t, tc.param, er.Parameter, "%s", r.body)
			assert.NotEmpty(t, er.Message, "the answer says why")
		})
	}
	r := e.get(t, "/api/v1/requests")
	var list struct{ Requests []catalog.Request }
	r.json(t, &list)
	assert.Empty(t, list.Requests, "nothing was stored")
}

func TestRequestsReadOnlyAndAbsent(t *testing.T) {
	ro := newEnv(t, envOptions{readOnly: true})
	r := ro.submit(t, `{"reference":"nginx:1","reason":"r","owner":"o"}`)
	assert.Equal(t, http.StatusForbidden, r.status)
	assert.Equal(t, "read_only", r.apiError(t).Code)

	none := newEnv(t, envOptions{tweak: func(o *server.Options) { o.Requests = nil }})
	r = none.submit(t, `{"reference":"nginx:1","reason":"r","owner":"o"}`)
	assert.Equal(t, http.StatusNotImplemented, r.status)
	assert.Equal(t, http.StatusNotImplemented, none.get(t, "/api/v1/requests").status)
	assert.Equal(t, http.StatusOK, none.get(t, "/requests").status, "the page says the service takes no requests")
}

func TestRequestsRateLimitFlood(t *testing.T) {
	e := newEnv(t, envOptions{tweak: func(o *server.Options) {
		s, err := requests.New(requests.Options{Requests: catalog.NewMemoryStore(), Queue: catalog.NewMemoryQueue(), Golden: "registry.corp/golden",
			RateLimit: 5, RateWindow: time.Hour, Now: func() time.Time { return demodata.Now }})
		require.NoError(t, err)
		o.Requests = s
	}})
	const flood = 300
	var mu sync.Mutex
	counts := map[int]int{}
	retryAfter := ""
	var wg sync.WaitGroup
	for i := range flood {
		wg.Go(func() {
			r := e.submit(t, fmt.Sprintf(`{"reference":"ghcr.io/acme/app%d:1","reason":"flood","owner":"o"}`, i), "X-User", "flooder", "Content-Type", "application/json")
			mu.Lock()
			defer mu.Unlock()
			counts[r.status]++
			if r.status == http.StatusTooManyRequests {
				retryAfter = r.header.Get("Retry-After")
			}
		})
	}
	wg.Wait()
	assert.Equal(t, map[int]int{http.StatusCreated: 5, http.StatusTooManyRequests: flood - 5}, counts, "the limit holds under a flood")
	assert.NotEmpty(t, retryAfter, "429 says when to retry")
	r := e.submit(t, `{"reference":"ghcr.io/acme/other:1","reason":"r","owner":"o"}`, "X-User", "someone-else", "Content-Type", "application/json")
	assert.Equal(t, http.StatusCreated, r.status, "another requester is not limited")
}

func TestRequestsPortal(t *testing.T) {
	e := newEnv(t, envOptions{})
	form := func(path string, v url.Values) reply {
		return e.call(t, http.MethodPost, path, strings.NewReader(v.Encode()), "X-User", "alice", "Content-Type", "application/x-www-form-urlencoded")
	}
	r := e.get(t, "/requests")
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, string(r.body), `id="request-form"`)

	r = form("/requests", url.Values{"reference": {"ghcr.io/acme/ledger:3"}, "reason": {"ledger service"}, "owner": {"team-ledger"}})
	require.Equal(t, http.StatusSeeOther, r.status, "%s", r.body)
	loc := r.header.Get("Location")
	require.True(t, strings.HasPrefix(loc, "/requests/"), loc)
	r = e.get(t, loc)
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, string(r.body), "ghcr.io/acme/ledger:3")
	assert.Contains(t, string(r.body), `id="request-state">pending`)
	assert.Contains(t, string(r.body), "Your request is recorded.")

	// Bad input: the form again, with the reason, and a 4xx.
	r = form("/requests", url.Values{"reference": {"not a reference"}, "reason": {"x"}, "owner": {"y"}})
	assert.Equal(t, http.StatusBadRequest, r.status)
	assert.Contains(t, string(r.body), `id="request-error"`)
	assert.Contains(t, string(r.body), "malformed image reference")
	assert.Contains(t, string(r.body), `value="not a reference"`, "what was typed is kept")

	// An image the catalog has: to its page.
	r = form("/requests", url.Values{"reference": {"nginx:1.27.3"}, "reason": {"web"}, "owner": {"team-web"}})
	require.Equal(t, http.StatusSeeOther, r.status)
	nginx := e.demo.Entry("library/nginx", "1.27.3")
	assert.Contains(t, r.header.Get("Location"), nginx.Digest.String())

	// Decide from the page.
	id := strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], "/requests/")
	r = form("/requests/"+id+"/deny", url.Values{"reason": {"use the internal ledger image"}})
	require.Equal(t, http.StatusSeeOther, r.status, "%s", r.body)
	r = e.get(t, "/requests/"+id)
	assert.Contains(t, string(r.body), `id="request-state">denied`)
	assert.Contains(t, string(r.body), "use the internal ledger image")
	_ = context.Background()
}

// TestRequestsRestricted: an outsider who asks for an image they may not
// see is not told it is golden (no pull reference, no digest): the
// request is taken as for an unknown image; a member is answered with the
// golden image.
func TestRequestsRestricted(t *testing.T) {
	policy := accessRules(t)
	e := newEnv(t, envOptions{tweak: func(o *server.Options) {
		withAccess(o)
		o.Access = policy
	}})
	nginx := e.demo.Entry("library/nginx", "1.27.3")
	body := `{"reference":"nginx:1.27.3","reason":"web","owner":"team-web"}`
	r := e.submit(t, body, "X-User", "mallory", "Content-Type", "application/json")
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	assert.NotContains(t, string(r.body), nginx.Digest.String(), "the restricted digest is not named")
	assert.NotContains(t, string(r.body), `"golden":{`, "no golden answer for an outsider")
	var a answer
	r.json(t, &a)
	require.NotNil(t, a.Request)

	r = e.submit(t, body, "X-User", "wendy", "X-Groups", "web-team", "Content-Type", "application/json")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	a = answer{}
	r.json(t, &a)
	require.NotNil(t, a.Golden, "a member is answered with the golden image")
	assert.Equal(t, nginx.Repository+"@"+nginx.Digest.String(), a.Golden.Pull)

	// The request form is where the access rule's URL points.
	r = e.get(t, "/requests/new?ref="+url.QueryEscape("docker.io/library/nginx:1.27.3"))
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, string(r.body), `value="docker.io/library/nginx:1.27.3"`)
}

// FuzzRequestsAPI posts arbitrary bodies and content types to the request
// routes: never a 5xx, never a panic.
func FuzzRequestsAPI(f *testing.F) {
	for _, s := range [][2]string{
		{`{"reference":"nginx:1","reason":"r","owner":"o"}`, "application/json"},
		{`{"reference":"docker.io/library/ngnix","reason":"r","owner":"o"}`, "application/json"},
		{`reference=ghcr.io%2Facme%2Fx%3A1&reason=r&owner=o`, "application/x-www-form-urlencoded"},
		{`{"reference":12}`, "application/json"},
		{`{"reason":"` + strings.Repeat("x", 2000) + `"}`, "application/json"},
		{"\xff\xfe", "text/plain"},
	} {
		f.Add(s[0], s[1], "/api/v1/requests")
	}
	f.Add(`{"reason":"no"}`, "application/json", "/api/v1/requests/x/deny")
	f.Add(`note=ok`, "application/x-www-form-urlencoded", "/requests/x/approve")
	e := newEnv(f, envOptions{})
	f.Fuzz(func(t *testing.T, body, contentType, path string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n#?%") {
			return
		}
		for _, p := range []string{path, "/api/v1/requests", "/requests"} {
			req, err := http.NewRequest(http.MethodPost, e.srv.URL+p, strings.NewReader(body))
			if err != nil {
				return
			}
			req.Header.Set("Content-Type", contentType)
			req.Header.Set("X-User", "fuzzer")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("POST %s: %v", p, err)
			}
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Fatalf("POST %s %q (%s): %d", p, body, contentType, resp.StatusCode)
			}
		}
	})
}
