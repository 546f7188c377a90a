package server_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/server"
	"github.com/cssc-go/cssc/catalog/server/internal/demodata"
)

// upstreamTracks stores the tracks of the demo catalog's golden tags that
// the upstream tests show: nginx:1.27.3 (restricted to the web team)
// whose patched rebuild the policy denied; alpine:3.20, whose repository
// is gone or private upstream; debian:12 in sync and debian:bookworm
// flapping and held, with a reason that names the restricted nginx; and
// python:3.12-slim, whose golden tag follows another image now.
func upstreamTracks(t *testing.T, ts catalog.TrackStore, d *demodata.Demo) {
	t.Helper()
	ctx := context.Background()
	at := demodata.Now.Add(-2 * time.Hour)
	src := func(name string) digest.Digest { return digest.FromString("upstream " + name) }
	put := func(e *catalog.Entry, tag string, tune func(*catalog.Track)) {
		tr := &catalog.Track{Golden: e.Repository, Tag: tag, Source: "docker.io/" + strings.TrimPrefix(e.Repository, d.Prefix+"/") + ":" + tag,
			SourceDigest: src(e.Key()), GoldenDigest: e.Digest, Observed: src(e.Key()), Checked: at, State: catalog.TrackCurrent, Since: at.Add(-time.Hour),
			Reason: "the source tag points at the digest golden follows"}
		tune(tr)
		require.NoError(t, ts.PutTrack(ctx, tr))
	}
	put(d.Entry("library/nginx", "1.27.3"), "1.27.3", func(tr *catalog.Track) {
		tr.State, tr.Observed, tr.Reason = catalog.TrackFailed, src("nginx rebuild"), "the acquisition of the moved tag failed; golden stays"
		tr.Failure = &catalog.TrackFailure{Digest: src("nginx rebuild"), Outcome: "denied", Reason: "policy: CVE-2024-6119 (high) is above the maximum severity medium", At: at}
	})
	put(d.Entry("library/alpine", "3.20"), "3.20", func(tr *catalog.Track) {
		tr.State, tr.Observed = catalog.TrackGone, ""
		tr.Reason = "the source repository is gone or private upstream: the registry refused a HEAD that carried a token it had just issued (401 insufficient_scope); golden keeps serving what it has"
	})
	debian := d.Entry("library/debian", "12")
	put(debian, "12", func(*catalog.Track) {})
	put(debian, "bookworm", func(tr *catalog.Track) {
		tr.State, tr.Observed = catalog.TrackHeld, src("debian old")
		tr.Replaced = []digest.Digest{src("debian old")}
		tr.Reason = "the source tag went back to a digest golden replaced (as " + d.Prefix + "/library/nginx:1.27 did): held until released"
	})
	put(d.Entry("library/python", "3.12-slim"), "3.12-slim", func(tr *catalog.Track) {
		tr.GoldenDigest = digest.FromString("another python image")
	})
}

// TestImageUpstream: the image API answer and the image page show each
// golden tag's upstream tracking state (source tag, last check, last
// digest seen upstream, state and reasons: in sync, acquisition failed
// with the policy's reasons, gone or private upstream, flapping and
// held), read through the caller's access view: a restricted entry's
// tracks are as invisible as the entry, and names of hidden images in
// their text are redacted. On every store.
func TestImageUpstream(t *testing.T) {
	for _, name := range []string{"memory", "sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			if testing.Short() && name == "postgres" {
				t.Skip("starts PostgreSQL")
			}
			testImageUpstream(t, accessStores[name](t))
		})
	}
}

func testImageUpstream(t *testing.T, store catalog.Store) {
	ts, ok := store.(catalog.TrackStore)
	require.True(t, ok, "the store keeps tracks")
	e := newEnv(t, envOptions{store: store, tweak: func(o *server.Options) {
		withAccess(o)
		o.Access = accessRules(t)
		o.Tracks = ts
	}})
	upstreamTracks(t, ts, e.demo)
	member := []string{"X-User", "wendy", "X-Groups", "web-team"}
	type answer struct {
		Repository string               `json:"repository"`
		Upstream   []server.UpstreamTag `json:"upstream"`
	}
	read := func(en *catalog.Entry, hdr ...string) (answer, reply) {
		t.Helper()
		r := e.get(t, apiImage(en), hdr...)
		require.Equal(t, http.StatusOK, r.status, "%s: %s", en.Key(), r.body)
		var a answer
		r.json(t, &a)
		return a, r
	}

	// A failed acquisition shows on the entry, with the policy's reasons.
	nginx := e.demo.Entry("library/nginx", "1.27.3")
	a, _ := read(nginx, member...)
	require.Len(t, a.Upstream, 1, "nginx's tracked tag")
	u := a.Upstream[0]
	assert.Equal(t, "1.27.3", u.Tag)
	assert.Equal(t, "docker.io/library/nginx:1.27.3", u.Source)
	assert.Equal(t, catalog.TrackFailed, u.State)
	assert.Equal(t, digest.FromString("upstream nginx rebuild"), u.Observed, "the digest seen upstream")
	assert.Equal(t, digest.FromString("upstream "+nginx.Key()), u.Followed, "the digest golden follows")
	assert.True(t, u.Checked.Equal(demodata.Now.Add(-2*time.Hour)), "checked %v", u.Checked)
	require.NotNil(t, u.Failure)
	assert.Equal(t, "denied", u.Failure.Outcome)
	assert.Contains(t, u.Failure.Reason, "CVE-2024-6119")

	// An outsider: the entry, and so its tracks, answer as an unknown digest.
	r := e.get(t, apiImage(nginx))
	assert.Equal(t, http.StatusNotFound, r.status)
	assert.NotContains(t, string(r.body), "CVE-2024-6119")
	assert.NotContains(t, string(r.body), "upstream")
	page := e.get(t, imageURL(nginx))
	assert.Equal(t, http.StatusNotFound, page.status)
	assert.NotContains(t, string(page.body), "acquisition failed")

	// Gone or private upstream: recorded, golden keeps serving.
	a, _ = read(e.demo.Entry("library/alpine", "3.20"))
	require.Len(t, a.Upstream, 1)
	assert.Equal(t, catalog.TrackGone, a.Upstream[0].State)
	assert.Contains(t, a.Upstream[0].Reason, "gone or private upstream")
	assert.Empty(t, a.Upstream[0].Observed)

	// Two tags in tag order; a hidden image named in a reason is redacted
	// for an outsider, not for a member.
	debian := e.demo.Entry("library/debian", "12")
	a, raw := read(debian)
	require.Len(t, a.Upstream, 2)
	assert.Equal(t, []string{"12", "bookworm"}, []string{a.Upstream[0].Tag, a.Upstream[1].Tag})
	assert.Equal(t, catalog.TrackCurrent, a.Upstream[0].State)
	assert.Equal(t, catalog.TrackHeld, a.Upstream[1].State)
	assert.Contains(t, a.Upstream[1].Reason, catalog.Redacted)
	assert.NotContains(t, string(raw.body), "library/nginx", "the outsider reads no restricted name")
	a, _ = read(debian, member...)
	assert.Contains(t, a.Upstream[1].Reason, "library/nginx:1.27", "the member reads it")

	// A golden tag that follows another image now is not this image's.
	python := e.demo.Entry("library/python", "3.12-slim")
	_, raw = read(python)
	assert.NotContains(t, string(raw.body), `"upstream"`)

	// Every key of an upstream item is documented in the OpenAPI document.
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	e.get(t, "/api/v1/openapi.json").json(t, &doc)
	var items struct {
		Upstream []map[string]json.RawMessage `json:"upstream"`
	}
	r = e.get(t, apiImage(nginx), member...)
	r.json(t, &items)
	require.NotEmpty(t, items.Upstream)
	for k := range items.Upstream[0] {
		assert.Contains(t, doc.Components.Schemas["UpstreamTag"].Properties, k, "upstream key %q is documented", k)
	}
	for k := range maps.Keys(doc.Components.Schemas["UpstreamTag"].Properties) {
		if !slices.Contains([]string{"since", "reason", "checked", "followed", "observed", "failure"}, k) {
			assert.Contains(t, items.Upstream[0], k, "required key %q is answered", k)
		}
	}

	// The image page: a compact table, the failure with its reasons.
	page = e.get(t, imageURL(nginx), member...)
	require.Equal(t, http.StatusOK, page.status)
	body := string(page.body)
	assert.Contains(t, body, `id="upstream-table"`)
	assert.Contains(t, body, "acquisition failed")
	assert.Contains(t, body, "CVE-2024-6119 (high) is above the maximum severity medium")
	assert.Contains(t, body, "docker.io/library/nginx:1.27.3")
	start, end := strings.Index(body, `<section class="card" id="upstream">`), -1
	if start >= 0 {
		end = strings.Index(body[start:], "</section>")
	}
	require.Positive(t, end, "the upstream section")
	assert.Less(t, end, 1536, "page weight: the upstream section of one tag with a failure weighs %d bytes", end)
	t.Logf("upstream section of nginx (one tag, failed): %d bytes of a %d-byte page", end, len(body))
	page = e.get(t, imageURL(e.demo.Entry("library/alpine", "3.20")))
	assert.Contains(t, string(page.body), "gone upstream")
	page = e.get(t, imageURL(debian))
	assert.Contains(t, string(page.body), "flapping: held")
	assert.Contains(t, string(page.body), "in sync")
	assert.NotContains(t, string(page.body), "library/nginx:1.27", "redacted on the page too")
	page = e.get(t, imageURL(python))
	assert.NotContains(t, string(page.body), `id="upstream"`)
}

// TestImageUpstreamOff: without Options.Tracks the answer has no
// upstream key and the page no upstream section.
func TestImageUpstreamOff(t *testing.T) {
	store := catalog.NewMemoryStore()
	e := newEnv(t, envOptions{store: store})
	upstreamTracks(t, store, e.demo)
	r := e.get(t, apiImage(e.demo.Entry("library/alpine", "3.20")))
	require.Equal(t, http.StatusOK, r.status)
	assert.NotContains(t, string(r.body), `"upstream"`)
	r = e.get(t, imageURL(e.demo.Entry("library/alpine", "3.20")))
	assert.NotContains(t, string(r.body), `id="upstream"`)
}
