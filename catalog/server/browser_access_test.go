package server_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/server"
)

// TestAccessInBrowser opens the portal in chromium as an outsider, for
// whom the restricted images (nginx, payments, redis) are absent from the
// search and their pages are the catalog's "not found" page, and as a
// member of the web team, who finds nginx with who may pull it and how to
// ask for access, and the failed acquisition of its moved upstream tag
// (which the outsider's "not found" page does not betray).
func TestAccessInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not in -short mode")
	}
	policy := accessRules(t)
	store := catalog.NewMemoryStore()
	e := newEnv(t, envOptions{store: store, tweak: func(o *server.Options) {
		withAccess(o)
		o.Access = policy
		o.Tracks = store
	}})
	upstreamTracks(t, store, e.demo)
	b := newBrowser(t, e.srv.URL)
	total := len(e.demo.Entries)
	nginx := e.demo.Entry("library/nginx", "1.27.3")
	ref := nginx.Repository + "@" + nginx.Digest.String()
	unknown := nginx.Repository + "@" + digest.FromString("no such image").String()
	bodyText := func() string {
		s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		require.NoError(t, err)
		return s
	}
	setGroups := func(user, groups string) {
		h := network.Headers{}
		if user != "" {
			h["X-User"], h["X-Groups"] = user, groups
		}
		_, err := chromedp.Call(b.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h})
		require.NoError(t, err, "set the identity headers")
	}

	t.Run("outsider", func(t *testing.T) {
		b.t = t
		setGroups("", "")
		b.open("/")
		assert.Equal(t, fmt.Sprintf("%d images", total-4), b.text("#total"), "four images are restricted")
		assert.NotContains(t, b.text("#results"), "nginx")
		assert.NotContains(t, b.text("#results"), "redis")
		b.shot("access-01-outsider-search")

		b.open("/?q=nginx")
		assert.Equal(t, "0 images", b.text("#total"))
		assert.Zero(t, b.count("#results tbody tr"))

		b.checkConsole("outsider search")

		b.open("/images/" + unknown)
		notFound := bodyText()
		require.Contains(t, notFound, "404")
		b.open("/images/" + ref)
		assert.Equal(t, notFound, bodyText(), "a restricted image's page is the page of an unknown digest")
		assert.NotContains(t, bodyText(), "Ask the web team")
		b.shot("access-02-outsider-image")
		b.open("/images/" + nginx.Repository + ":latest")
		assert.Contains(t, bodyText(), "404", "no tag redirect to a restricted image")
		// The three pages answered 404, as they must; chromium says so.
		b.mu.Lock()
		kept := b.messages[:0]
		for _, m := range b.messages {
			if !strings.Contains(m.Text, "status of 404") {
				kept = append(kept, m)
			}
		}
		b.messages = kept
		b.mu.Unlock()
		b.checkConsole("outsider")
	})

	t.Run("member", func(t *testing.T) {
		b.t = t
		setGroups("wendy", "web-team")
		b.open("/")
		assert.Equal(t, fmt.Sprintf("%d images", total-2), b.text("#total"), "the web team sees nginx, not payments or redis")
		b.do("search nginx", chromedp.SendKeys(chromedp.ID("q"), "nginx"), chromedp.Click(chromedp.ID("search-button")))
		b.waitLocation("search submitted", func(u *url.URL) bool { return u.Query().Get("q") == "nginx" })
		assert.Equal(t, "2 images", b.text("#total"))
		assert.Contains(t, b.text("#results"), "licensed", "the rows say the level")
		b.shot("access-03-member-search")

		b.open("/images/" + ref)
		assert.Equal(t, "Restricted: licensed", b.text("#access-level"))
		assert.Equal(t, "web-team", b.text("#access-groups"), "who may pull")
		assert.Equal(t, "Ask the web team in #web-access.", b.text("#access-ask"))
		href, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector('#access-request').getAttribute('href')`))
		require.NoError(t, err)
		assert.Equal(t, "/requests/new?ref="+url.QueryEscape(ref), href, "the request link carries the reference")
		assert.True(t, strings.Contains(b.text("#pull-cmd"), nginx.Digest.String()), "the pull command")
		up := b.text("#upstream-table")
		assert.Contains(t, up, "docker.io/library/nginx:1.27.3", "the source tag")
		assert.Contains(t, up, "acquisition failed", "the failed acquisition of the moved tag shows on the entry")
		assert.Contains(t, up, "CVE-2024-6119 (high) is above the maximum severity medium", "with the policy's reasons")
		b.shot("access-04-member-image")
		b.checkConsole("member")
	})
}
