package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/server"
)

func TestReadOnlyByDefault(t *testing.T) {
	e := newEnv(t, envOptions{readOnly: true})
	nginx := e.demo.Entry("library/nginx", "1.27.3")
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPost, "/rescan", `{}`},
		{http.MethodPost, "/retire", `{"replacement":"x","reason":"old"}`},
		{http.MethodPut, "/owner", `{"owner":"mallory"}`},
	} {
		r := e.call(t, c.method, apiImage(nginx)+c.path, strings.NewReader(c.body), "Content-Type", "application/json", "X-User", "alice")
		assert.Equal(t, http.StatusForbidden, r.status, "%s %s", c.method, c.path)
		assert.Equal(t, "read_only", r.apiError(t).Code)
	}
	assert.Empty(t, e.rescans)
	assert.Empty(t, e.retired)
	got, err := e.store.Get(context.Background(), nginx.Repository, nginx.Digest)
	require.NoError(t, err)
	assert.Equal(t, nginx.Owner, got.Owner, "nothing changed")
	page := e.get(t, "/images/"+nginx.Key())
	assert.NotContains(t, string(page.body), `id="actions"`, "a read-only portal offers no actions")
	form := e.call(t, http.MethodPost, "/images/"+nginx.Key()+"/rescan", strings.NewReader(""), "Content-Type", "application/x-www-form-urlencoded")
	assert.Equal(t, http.StatusForbidden, form.status)
	assert.Contains(t, form.header.Get("Content-Type"), "text/html")
}

func TestWriteActions(t *testing.T) {
	e := newEnv(t, envOptions{})
	nginx := e.demo.Entry("library/nginx", "1.27.3")
	node := e.demo.Entry("library/node", "18")
	base := apiImage(nginx)
	json := []string{"Content-Type", "application/json"}
	as := func(user string) []string { return append([]string{"X-User", user}, json...) }

	t.Run("rescan", func(t *testing.T) {
		r := e.call(t, http.MethodPost, base+"/rescan", nil, as("alice")...)
		require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
		assert.Equal(t, []string{nginx.Key()}, e.rescans)
		assert.Equal(t, server.Action{Name: server.ActionRescan, Repository: nginx.Repository, Digest: nginx.Digest}, e.actions[len(e.actions)-1])
	})

	t.Run("set owner", func(t *testing.T) {
		r := e.call(t, http.MethodPut, base+"/owner", strings.NewReader(`{"owner":"team-edge"}`), as("alice")...)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		var got catalog.Entry
		r.json(t, &got)
		assert.Equal(t, "team-edge", got.Owner)
		stored, err := e.store.Get(context.Background(), nginx.Repository, nginx.Digest)
		require.NoError(t, err)
		assert.Equal(t, "team-edge", stored.Owner)
		assert.Equal(t, "team-edge", e.actions[len(e.actions)-1].Owner, "the Authorizer sees the new owner")
	})

	t.Run("retire", func(t *testing.T) {
		r := e.call(t, http.MethodPost, apiImage(node)+"/retire", strings.NewReader(`{"replacement":"library/node:22","reason":"end of life"}`), as("alice")...)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Len(t, e.retired, 1)
		assert.Equal(t, server.RetireRequest{Repository: node.Repository, Digest: node.Digest, Replacement: "library/node:22", Reason: "end of life", Author: "alice"}, e.retired[0])
	})

	t.Run("refused", func(t *testing.T) {
		before := len(e.rescans)
		cases := []struct {
			name   string
			method string
			path   string
			body   string
			header []string
			status int
			code   string
		}{
			{"anonymous", http.MethodPost, base + "/rescan", "", json, http.StatusUnauthorized, "unauthenticated"},
			{"cross-site", http.MethodPost, base + "/rescan", "", append(as("alice"), "Sec-Fetch-Site", "cross-site"), http.StatusForbidden, "cross_origin"},
			{"foreign origin", http.MethodPost, base + "/rescan", "", append(as("alice"), "Origin", "https://evil.example"), http.StatusForbidden, "cross_origin"},
			{"unknown image", http.MethodPost, "/api/v1/images/" + nginx.Repository + "@" + digest.FromString("x").String() + "/rescan", "", as("alice"), http.StatusNotFound, "not_found"},
			{"unknown action", http.MethodPost, base + "/explode", "", as("alice"), http.StatusNotFound, "not_found"},
			{"wrong method", http.MethodPut, base + "/rescan", "", as("alice"), http.StatusMethodNotAllowed, "method_not_allowed"},
			{"owner by POST", http.MethodPost, base + "/owner", `{"owner":"x"}`, as("alice"), http.StatusMethodNotAllowed, "method_not_allowed"},
			{"no owner", http.MethodPut, base + "/owner", `{}`, as("alice"), http.StatusBadRequest, "invalid_parameter"},
			{"retire without a reason", http.MethodPost, base + "/retire", `{"replacement":"x"}`, as("alice"), http.StatusBadRequest, "invalid_parameter"},
			{"unknown field", http.MethodPut, base + "/owner", `{"owner":"x","admin":true}`, as("alice"), http.StatusBadRequest, "invalid_body"},
			{"not JSON", http.MethodPut, base + "/owner", `owner=x`, as("alice"), http.StatusBadRequest, "invalid_body"},
			{"trailing data", http.MethodPut, base + "/owner", `{"owner":"x"} {}`, as("alice"), http.StatusBadRequest, "invalid_body"},
			{"text body", http.MethodPut, base + "/owner", `x`, []string{"X-User", "alice", "Content-Type", "text/plain"}, http.StatusUnsupportedMediaType, "unsupported_media_type"},
			{"huge body", http.MethodPut, base + "/owner", `{"owner":"` + strings.Repeat("x", 70<<10) + `"}`, as("alice"), http.StatusRequestEntityTooLarge, "body_too_large"},
			{"long owner", http.MethodPut, base + "/owner", `{"owner":"` + strings.Repeat("x", 600) + `"}`, as("alice"), http.StatusBadRequest, "invalid_parameter"},
			{"newline in owner", http.MethodPut, base + "/owner", `{"owner":"a\nb"}`, as("alice"), http.StatusBadRequest, "invalid_parameter"},
			{"query parameter", http.MethodPost, base + "/rescan?force=1", "", as("alice"), http.StatusBadRequest, "invalid_parameter"},
		}
		for _, c := range cases {
			r := e.call(t, c.method, c.path, strings.NewReader(c.body), c.header...)
			assert.Equal(t, c.status, r.status, "%s: %s", c.name, r.body)
			assert.Equal(t, c.code, r.apiError(t).Code, c.name)
		}
		e.mu.Lock()
		e.deny = errDenied
		e.mu.Unlock()
		r := e.call(t, http.MethodPost, base+"/rescan", nil, as("mallory")...)
		assert.Equal(t, http.StatusForbidden, r.status)
		assert.Equal(t, "forbidden", r.apiError(t).Code)
		assert.NotContains(t, string(r.body), errDenied.Error(), "the Authorizer's reason stays on the server")
		e.mu.Lock()
		e.deny = nil
		e.mu.Unlock()
		assert.Len(t, e.rescans, before, "no refused request reached the Rescanner")
	})

	t.Run("action failure", func(t *testing.T) {
		e.mu.Lock()
		e.rescanFn = func(string, digest.Digest) error { return fmt.Errorf("queue: %w", catalog.ErrClosed) }
		e.mu.Unlock()
		defer func() { e.mu.Lock(); e.rescanFn = nil; e.mu.Unlock() }()
		r := e.call(t, http.MethodPost, base+"/rescan", nil, as("alice")...)
		assert.Equal(t, http.StatusInternalServerError, r.status)
		assert.NotContains(t, string(r.body), "queue", "internal errors are not shown")
	})

	t.Run("not offered", func(t *testing.T) {
		bare := newEnv(t, envOptions{tweak: func(o *server.Options) { o.Rescanner, o.Retirer, o.Owners = nil, nil, nil }})
		en := bare.demo.Entry("library/nginx", "1.27.3")
		for _, c := range []struct{ method, path, body string }{{http.MethodPost, "/rescan", ""}, {http.MethodPost, "/retire", `{"reason":"x"}`}, {http.MethodPut, "/owner", `{"owner":"x"}`}} {
			r := bare.call(t, c.method, apiImage(en)+c.path, strings.NewReader(c.body), as("alice")...)
			assert.Equal(t, http.StatusNotImplemented, r.status, c.path)
			assert.Equal(t, "not_implemented", r.apiError(t).Code)
		}
		page := bare.get(t, "/images/"+en.Key())
		assert.NotContains(t, string(page.body), `id="action-rescan"`)
	})

	t.Run("portal forms", func(t *testing.T) {
		form := []string{"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "same-origin"}
		r := e.call(t, http.MethodPost, "/images/"+nginx.Key()+"/owner", strings.NewReader(url.Values{"owner": {"team-portal"}}.Encode()), form...)
		require.Equal(t, http.StatusSeeOther, r.status, "%s", r.body)
		assert.Equal(t, "/images/"+nginx.Key()+"?done=set-owner", r.header.Get("Location"))
		page := e.get(t, r.header.Get("Location"))
		assert.Contains(t, string(page.body), "Owner updated.")
		assert.Contains(t, string(page.body), "team-portal")
		r = e.call(t, http.MethodPost, "/images/"+nginx.Key()+"/owner", strings.NewReader("owner="), form...)
		assert.Equal(t, http.StatusBadRequest, r.status)
		assert.Contains(t, r.header.Get("Content-Type"), "text/html")
		r = e.call(t, http.MethodPost, "/images/"+nginx.Key()+"/rescan", strings.NewReader(""), "Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "cross-site")
		assert.Equal(t, http.StatusForbidden, r.status, "a cross-site form post is refused")
		r = e.call(t, http.MethodPost, "/images/"+nginx.Key()+"/rescan", strings.NewReader(`{}`), "Content-Type", "application/json", "Sec-Fetch-Site", "same-origin")
		assert.Equal(t, http.StatusUnsupportedMediaType, r.status, "the portal takes forms")
	})
}

func TestNewRefusesBadOptions(t *testing.T) {
	_, err := server.New(server.Options{})
	assert.True(t, errors.Is(err, server.ErrConfig), "no store: %v", err)
	_, err = server.New(server.Options{Store: catalog.NewMemoryStore(), PageSize: -1})
	assert.True(t, errors.Is(err, server.ErrConfig), "negative size: %v", err)
	h, err := server.New(server.Options{Store: catalog.NewMemoryStore(), MaxPageSize: 5000})
	require.NoError(t, err)
	e := &env{srv: httptestServer(t, h)}
	assert.Equal(t, http.StatusOK, e.get(t, "/api/v1/search?limit=1000").status, "the cap is lowered to catalog.MaxLimit")
	assert.Equal(t, http.StatusBadRequest, e.get(t, "/api/v1/search?limit=1001").status)
}
