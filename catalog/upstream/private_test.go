package upstream_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/internal/eventtest"
	"github.com/cssc-go/cssc/catalog/upstream"
	"github.com/cssc-go/cssc/registry"
)

// dockerHubAuth makes a real registry answer as Docker Hub does: a token
// service at /token gives anyone an anonymous token for any scope, and a
// token for alice with her password (other credentials get a 401 from the
// token service); every /v2/ request needs a token it issued; and an
// authorized request for a repository outside public (one that does not
// exist, or is private) answers 401 with error="insufficient_scope",
// never 404.
func dockerHubAuth(host string, public ...string) func(w http.ResponseWriter, r *http.Request) bool {
	tokens := map[string]bool{"Bearer anon-token": true, "Bearer alice-token": true}
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/token" {
			token := "anon-token"
			if u, p, ok := r.BasicAuth(); ok {
				if u != "alice" || p != "s3cret" {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusUnauthorized)
					fmt.Fprint(w, `{"details":"incorrect username or password"}`)
					return true
				}
				token = "alice-token"
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"token":%q,"expires_in":300}`, token)
			return true
		}
		name := strings.TrimPrefix(r.URL.Path, "/v2/")
		for _, k := range []string{"/manifests/", "/tags/", "/blobs/", "/referrers/"} {
			if i := strings.LastIndex(name, k); i >= 0 {
				name = name[:i]
				break
			}
		}
		challenge := fmt.Sprintf(`Bearer realm="http://%s/token",service="registry.test",scope="repository:%s:pull"`, host, name)
		refuse := func(extra string) bool {
			w.Header().Set("WWW-Authenticate", challenge+extra)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Name":%q,"Action":"pull"}]}]}`, name)
			return true
		}
		if !tokens[r.Header.Get("Authorization")] {
			return refuse("")
		}
		for _, p := range public {
			if name == p {
				return false // the registry answers
			}
		}
		return refuse(`,error="insufficient_scope"`)
	}
}

// TestGoneOrPrivateUpstream: a repository that a registry answers 401
// "insufficient_scope" for, to a HEAD that carries the token the registry
// just issued (Docker Hub's answer for a repository that does not exist or
// is private), is recorded as gone or private upstream and golden keeps
// serving; our own credentials refused by the token service change no
// track. On every store.
func TestGoneOrPrivateUpstream(t *testing.T) {
	for name, kind := range storeKinds() {
		t.Run(name, func(t *testing.T) {
			if testing.Short() && name == "postgres" {
				t.Skip("starts PostgreSQL")
			}
			goneOrPrivateUpstream(t, kind(t)())
		})
	}
}

func goneOrPrivateUpstream(t *testing.T, st stores) {
	w := newWatched(t, st, 1)
	d := mustTrack(t, w, w.keys[0]).SourceDigest
	put := func(repo, tag string) catalog.TrackKey {
		tr := &catalog.Track{Golden: "registry.corp/golden/" + repo, Tag: tag, Source: w.src.Location(repo) + ":" + tag,
			SourceDigest: d, GoldenDigest: d, Observed: d, State: catalog.TrackCurrent, Since: w.clock.Now()}
		require.NoError(t, st.tracks.PutTrack(w.ctx, tr))
		return tr.Key()
	}
	missing := put("library/missing", "1.0") // no such repository upstream
	noTag := put("library/app", "9.9")       // the repository is there, the tag is not
	w.count.set(dockerHubAuth(w.src.Host, "library/app"))
	events := &eventtest.Sink{}
	withCreds := func(user, pass string) func(*upstream.Options) {
		return func(o *upstream.Options) {
			o.Events = events
			if user != "" {
				o.Registry.Credentials = registry.StaticCredentials(map[string]registry.Credential{w.src.Host: {Username: user, Password: pass}})
			}
		}
	}

	// Our credentials refused by the token service: a failure, every
	// track as it was.
	w.tracker = w.newTracker(st, withCreds("alice", "wrong"))
	w.clock.Add(time.Hour)
	sw := w.sweep()
	assert.NotEmpty(t, sw.Failures, "refused credentials fail the check job")
	for _, k := range []catalog.TrackKey{w.keys[0], missing, noTag} {
		tr := mustTrack(t, w, k)
		assert.Equal(t, catalog.TrackCurrent, tr.State, "%s after refused credentials: %s", k, tr.Reason)
		assert.False(t, tr.Checked.Equal(w.clock.Now()), "%s: a refusal is not a check", k)
	}
	assert.Empty(t, events.Take(), "no event for our own credentials refused")
	assert.Zero(t, w.count.take()["GET manifests"], "HEAD only")

	// Anonymous, as Docker Hub is usually watched: the token exchange
	// succeeds and the missing repository's 401 says gone or private.
	w.tracker = w.newTracker(st, withCreds("", ""))
	w.clock.Add(time.Hour)
	sw = w.sweep()
	assert.Empty(t, sw.Failures, "a repository gone or private is an answer, not a failure")
	counts := w.count.take()
	assert.Zero(t, counts["GET manifests"], "HEAD only: %v", counts)
	tr := mustTrack(t, w, missing)
	assert.Equal(t, catalog.TrackGone, tr.State, tr.Reason)
	assert.Contains(t, tr.Reason, "gone or private upstream")
	assert.Contains(t, tr.Reason, "401 insufficient_scope")
	assert.Contains(t, tr.Reason, "golden keeps serving")
	assert.True(t, tr.Checked.Equal(w.clock.Now()), "a definitive answer is a check")
	assert.Equal(t, d, tr.SourceDigest, "golden keeps following what it had")
	tr = mustTrack(t, w, noTag)
	assert.Equal(t, catalog.TrackGone, tr.State, tr.Reason)
	assert.Contains(t, tr.Reason, "source tag is gone", "a 404 for a tag of a readable repository stays a gone tag")
	tr = mustTrack(t, w, w.keys[0])
	assert.Equal(t, catalog.TrackCurrent, tr.State, tr.Reason)
	assert.True(t, tr.Checked.Equal(w.clock.Now()), "the readable tag was checked")
	assert.ElementsMatch(t, []string{upstream.TypeGone, upstream.TypeGone}, eventtest.Types(events.Take()))

	// With our (accepted) credentials, the same: still no access to it.
	w.tracker = w.newTracker(st, withCreds("alice", "s3cret"))
	w.clock.Add(time.Hour)
	sw = w.sweep()
	assert.Empty(t, sw.Failures)
	tr = mustTrack(t, w, missing)
	assert.Equal(t, catalog.TrackGone, tr.State)
	assert.True(t, tr.Checked.Equal(w.clock.Now()), "checked again, unchanged")
	assert.Empty(t, events.Take(), "no new event for a state that stays")
}

func mustTrack(t *testing.T, w *watched, k catalog.TrackKey) *catalog.Track {
	t.Helper()
	tr, err := w.st.tracks.Track(w.ctx, k.Golden, k.Tag)
	require.NoError(t, err)
	return tr
}
