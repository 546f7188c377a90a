package server_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/internal/cienv"
)

// EnvScreenshots names the directory the browser test writes its
// screenshots to (default: a temporary directory of the test).
const EnvScreenshots = "CSSC_SCREENSHOTS"

// chromiumPath finds Debian's chromium.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CSSC_CHROMIUM"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if cienv.Set() { // a missing browser fails rather than skips
		t.Fatal("CI is set and chromium is missing (apt-get install chromium): the portal browser tests must run")
	}
	t.Skip("SKIPPED: chromium is not installed (apt-get install chromium); set CI=1 to make this a failure")
	return ""
}

// browser is a headless chromium tab that records console messages.
type browser struct {
	t        *testing.T
	ctx      context.Context
	base     string
	shots    string
	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
}

func newBrowser(t *testing.T, base string) *browser {
	exe := chromiumPath(t)
	shots := os.Getenv(EnvScreenshots)
	if shots == "" {
		shots = t.TempDir()
	}
	require.NoError(t, os.MkdirAll(shots, 0o755))
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.WindowSize(1440, 1000),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "en-US"),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	b := &browser{t: t, ctx: bctx, base: base, shots: shots}
	// Start the browser and subscribe to the console before any page loads.
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate("about:blank")), "start chromium")
	msgs := chromedp.Console(bctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.messages = append(b.messages, m)
			b.mu.Unlock()
		}
	}()
	t.Logf("screenshots in %s", shots)
	return b
}

// do runs actions and fails the test on error.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, actions...), what)
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	require.NoError(b.t, err, "text of %s", sel)
	return strings.TrimSpace(s)
}

func (b *browser) count(sel string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	require.NoError(b.t, err, "count %s", sel)
	return n
}

func (b *browser) visibleCount(sel string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).filter(e => e.offsetParent !== null).length`, sel)))
	require.NoError(b.t, err, "count visible %s", sel)
	return n
}

func (b *browser) location() string {
	b.t.Helper()
	l, err := chromedp.Run(b.ctx, chromedp.Location())
	require.NoError(b.t, err)
	return l
}

// waitLocation waits until the page's URL satisfies ok (a click that
// submits a form or follows a link navigates). While the page navigates,
// asking for its location can fail ("Inspected target navigated or
// closed", a destroyed execution context): those answers are polled past,
// and only the last one is reported if the deadline passes.
func (b *browser) waitLocation(what string, ok func(u *url.URL) bool) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l, err := chromedp.Run(b.ctx, chromedp.Location())
		if err != nil {
			l = "(" + err.Error() + ")"
		}
		u, perr := url.Parse(l)
		if err == nil && perr == nil && ok(u) {
			// and the new document is loaded
			state, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.readyState`))
			if err == nil && state == "complete" {
				return
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: still at %s", what, l)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// shot writes a full-page screenshot.
func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err, "screenshot %s", name)
	require.NoError(b.t, os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644))
}

// checkConsole fails on any console error or exception since the last
// check (after giving late messages a moment).
func (b *browser) checkConsole(page string) {
	b.t.Helper()
	time.Sleep(150 * time.Millisecond)
	b.mu.Lock()
	msgs := b.messages
	b.messages = nil
	b.mu.Unlock()
	for _, m := range msgs {
		if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleWarning && m.Source != "" {
			b.t.Errorf("%s: console %s (%s:%d): %s", page, m.Type, m.URL, m.Line, m.Text)
		}
	}
}

func (b *browser) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path))
}

func TestPortalInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not in -short mode")
	}
	e := newEnv(t, envOptions{})
	b := newBrowser(t, e.srv.URL)
	total := len(e.demo.Entries)
	nginx := e.demo.Entry("library/nginx", "1.27.3")
	require.NotNil(t, nginx)

	t.Run("search page", func(t *testing.T) {
		b.t = t
		b.open("/")
		assert.Equal(t, fmt.Sprintf("%d images", total), b.text("#total"))
		assert.Equal(t, total, b.count("#results tbody tr"), "one row per image")
		assert.Positive(t, b.count("#facet-status a"), "status facet links")
		b.shot("01-search")
		b.checkConsole("search")
	})

	t.Run("search by typing and clicking", func(t *testing.T) {
		b.t = t
		b.do("type a query", chromedp.SendKeys(chromedp.ID("q"), "nginx"), chromedp.Click(chromedp.ID("search-button")))
		b.waitLocation("search submitted", func(u *url.URL) bool { return u.Query().Get("q") == "nginx" })
		assert.Equal(t, "2 images", b.text("#total"))
		for _, row := range []string{"1.27.2", "1.27.3"} {
			assert.Contains(t, b.text("#results"), row)
		}
		b.shot("02-search-nginx")
		b.checkConsole("search nginx")
	})

	t.Run("filter by clicking facets", func(t *testing.T) {
		b.t = t
		b.do("click status deprecated", chromedp.Click(chromedp.CSS(`#facet-status a[href*="status=deprecated"]`)))
		b.waitLocation("facet applied", func(u *url.URL) bool { return u.Query().Get("status") == "deprecated" })
		assert.Equal(t, "1 image", b.text("#total"))
		assert.Contains(t, b.text("#results"), "1.27.2")
		assert.Contains(t, b.text(".chips"), "status: deprecated", "the active filter shows as a chip")
		b.do("clear all filters", chromedp.Click(chromedp.CSS(`.chips a.clear`)))
		b.waitLocation("filters cleared", func(u *url.URL) bool { return u.RawQuery == "" })
		assert.Equal(t, fmt.Sprintf("%d images", total), b.text("#total"))

		// The severity ceiling: the count on the link is what the click shows.
		want := b.text(`#facet-severity a[href*="maxSeverity=high"] .count`)
		b.do("click at most high", chromedp.Click(chromedp.CSS(`#facet-severity a[href*="maxSeverity=high"]`)))
		b.waitLocation("severity applied", func(u *url.URL) bool { return u.Query().Get("maxSeverity") == "high" })
		assert.Equal(t, want+" images", b.text("#total"))
		assert.Zero(t, b.count("#results .pill.sev-critical"), "no image with a critical finding under a high ceiling")
		b.shot("03-search-filtered")

		// End of life within 30 days, from the facet.
		b.open("/")
		b.do("click eol 30d", chromedp.Click(chromedp.CSS(`#facet-endOfLife a[href*="eol=30d"]`)))
		b.waitLocation("eol applied", func(u *url.URL) bool { return u.Query().Get("eol") == "30d" })
		assert.Contains(t, b.text("#results"), "alpine")
		b.checkConsole("facets")
	})

	t.Run("reverse query from the form", func(t *testing.T) {
		b.t = t
		b.open("/")
		b.do("open the reverse query form", chromedp.Click(chromedp.CSS(`details.advanced summary`)))
		b.do("fill package and range",
			chromedp.SendKeys(chromedp.CSS(`input[name="package"]`), "openssl"),
			chromedp.SendKeys(chromedp.CSS(`input[name="range"]`), "< 3.0.14"),
			chromedp.Click(chromedp.ID("search-button")))
		b.waitLocation("reverse query submitted", func(u *url.URL) bool { return u.Query().Get("package") == "openssl" })
		res, err := e.store.Search(context.Background(), catalog.Query{Package: &catalog.PackageQuery{Name: "openssl", Range: "< 3.0.14"}})
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("%d images", res.Total), b.text("#total"))
		assert.Positive(t, res.Total)
		b.checkConsole("reverse query")
	})

	t.Run("image page", func(t *testing.T) {
		b.t = t
		b.open("/?q=nginx")
		b.do("open nginx 1.27.3", chromedp.Click(chromedp.CSS(`#results a.img-link[href*="`+nginx.Digest.Encoded()+`"]`)))
		b.waitLocation("image page", func(u *url.URL) bool { return strings.Contains(u.Path, nginx.Digest.String()) })
		assert.Contains(t, b.text("#image-title"), "nginx:1.27")
		assert.Contains(t, b.text("#pull-cmd"), "docker pull "+nginx.Repository+"@"+nginx.Digest.String())
		assert.Contains(t, b.text("#card-signature"), "Contoso Golden Signing")
		assert.Contains(t, b.text("#card-policy"), "PASSED")
		assert.Contains(t, b.text("#card-eol"), "days left")
		assert.Contains(t, b.text("#diff-note"), "2 new findings", "what is new since the last report")
		assert.Equal(t, 2, b.count("#findings tr.is-new"), "new findings are marked")
		assert.Contains(t, b.text("#findings"), "CVE-2024-45490")
		assert.Contains(t, b.text("#findings"), "2.5.0-1+deb12u1", "fixed-in version")
		assert.Contains(t, b.text("#resolved"), "CVE-2023-31484", "resolved since the last report")
		assert.Equal(t, 1, b.count("#history-chart svg"), "the findings chart")
		assert.Equal(t, 3, b.count("#history-chart svg text.total"), "one bar per report time")
		assert.Contains(t, b.text("#report-table"), "osv-2026-02-27")
		assert.Contains(t, b.text("#tag-table"), "1.27.3", "tag history")
		assert.Contains(t, b.text("#others"), "1.27.2", "the other digests of the repository")
		assert.Contains(t, b.text("#platforms"), "linux/arm64")
		assert.Contains(t, b.text("#provenance"), "docker.io/library/nginx:1.27.3")
		b.shot("04-image")

		// The package filter (the embedded script).
		all := b.visibleCount("#package-table tbody tr")
		b.do("filter packages", chromedp.SendKeys(chromedp.CSS(`input[data-filter="package-table"]`), "openssl"))
		time.Sleep(100 * time.Millisecond)
		filtered := b.visibleCount("#package-table tbody tr")
		assert.Less(t, filtered, all)
		assert.Positive(t, filtered)
		b.checkConsole("image")
	})

	t.Run("downloads", func(t *testing.T) {
		b.t = t
		// A download link is a real, verified stream from the registry.
		href, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector('#report-table a[download]').href`))
		require.NoError(t, err)
		version, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`fetch(`+fmt.Sprintf("%q", href)+`).then(r => r.json()).then(j => j.version)`, chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		assert.Equal(t, "2.1.0", version, "a SARIF document")
		b.checkConsole("downloads")
	})

	t.Run("CVE page", func(t *testing.T) {
		b.t = t
		b.do("click a CVE", chromedp.Click(chromedp.CSS(`#findings a[href="/cve/CVE-2024-45490"]`)))
		b.waitLocation("CVE page", func(u *url.URL) bool { return u.Path == "/cve/CVE-2024-45490" })
		res, err := e.store.Search(context.Background(), catalog.Query{Vulnerability: "CVE-2024-45490"})
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprint(res.Total), b.text("#cve-total"))
		assert.Contains(t, b.text("#affected"), "python")
		assert.Contains(t, b.text("#affected"), "2.5.0-1+deb12u1")
		b.shot("05-cve")
		b.do("search another CVE", chromedp.Clear(chromedp.ID("cve-id")), chromedp.SendKeys(chromedp.ID("cve-id"), "CVE-2024-6119"), chromedp.Click(chromedp.ID("cve-button")))
		b.waitLocation("other CVE", func(u *url.URL) bool { return u.Path == "/cve/CVE-2024-6119" })
		assert.Contains(t, b.text("#affected"), "nginx")
		b.checkConsole("cve")
	})

	t.Run("comparison", func(t *testing.T) {
		b.t = t
		b.open(strings.TrimPrefix(imageURL(nginx), e.srv.URL))
		b.do("compare with the previous digest", chromedp.Click(chromedp.CSS(`#others a[href^="/compare"]`)))
		b.waitLocation("comparison", func(u *url.URL) bool { return u.Path == "/compare" })
		assert.Contains(t, b.text("#package-diff"), "nginx")
		assert.Contains(t, b.text("#package-diff"), "1.27.2-1~bookworm")
		assert.Contains(t, b.text("#finding-diff"), "CVE-2024-45490")
		b.shot("06-compare")
		b.checkConsole("compare")
	})

	t.Run("sweeps page", func(t *testing.T) {
		b.t = t
		b.do("open sweeps", chromedp.Click(chromedp.CSS(`nav.nav a[href="/sweeps"]`)))
		b.waitLocation("sweeps", func(u *url.URL) bool { return u.Path == "/sweeps" })
		assert.Contains(t, b.text("#sweep-table"), "database unchanged")
		assert.Equal(t, len(e.demo.Sweeps), b.count("#sweep-table tbody tr.sweep"))
		b.do("open the failures", chromedp.Click(chromedp.CSS(`#sweep-table tr.items summary`)))
		assert.Contains(t, b.text("#sweep-table tr.items ul"), "context deadline exceeded")
		b.shot("07-sweeps")
		b.checkConsole("sweeps")
	})

	t.Run("rescan from the image page", func(t *testing.T) {
		b.t = t
		b.open(strings.TrimPrefix(imageURL(nginx), e.srv.URL))
		b.do("click rescan", chromedp.Click(chromedp.ID("action-rescan")))
		b.waitLocation("after rescan", func(u *url.URL) bool { return u.Query().Get("done") == "rescan" })
		assert.Equal(t, "Rescan queued.", b.text(".flash"))
		e.mu.Lock()
		assert.Equal(t, []string{nginx.Key()}, e.rescans)
		e.mu.Unlock()
		b.checkConsole("rescan")
	})

	t.Run("without JavaScript", func(t *testing.T) {
		b.t = t
		_, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		require.NoError(t, err, "disable scripts")
		defer func() {
			_, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false})
			require.NoError(t, err, "enable scripts")
		}()
		b.open("/")
		b.do("click a platform", chromedp.Click(chromedp.CSS(`#facet-platform a[href*="platform=linux%2Farm64"]`)))
		b.waitLocation("platform applied", func(u *url.URL) bool { return u.Query().Get("platform") == "linux/arm64" })
		res, err := e.store.Search(context.Background(), catalog.Query{Platform: "linux/arm64"})
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("%d images", res.Total), b.text("#total"))
		b.do("type and submit", chromedp.SendKeys(chromedp.ID("q"), "alpine"), chromedp.Click(chromedp.ID("search-button")))
		b.waitLocation("text search", func(u *url.URL) bool {
			return u.Query().Get("q") == "alpine" && u.Query().Get("platform") == "linux/arm64"
		})
		assert.Equal(t, "1 image", b.text("#total"))
		b.shot("08-no-javascript")
		b.checkConsole("no javascript")
	})

	t.Run("narrow screen", func(t *testing.T) {
		b.t = t
		b.do("phone viewport", chromedp.EmulateViewport(412, 900))
		b.open(strings.TrimPrefix(imageURL(nginx), e.srv.URL))
		b.shot("09-image-narrow")
		b.do("desktop viewport", chromedp.EmulateViewport(1440, 1000))
		b.checkConsole("narrow")
	})
}

func imageURL(e *catalog.Entry) string {
	return "/images/" + e.Repository + "@" + e.Digest.String()
}

// TestRequestFormInBrowser submits the request form in chromium: a
// request from an allowed source waits for an approver and is approved
// from its page; bad input shows the reason next to the form with what
// was typed; a look-alike of a known image shows the typosquat warning;
// the list shows each request and its state.
func TestRequestFormInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: not in -short mode")
	}
	e := newEnv(t, envOptions{})
	b := newBrowser(t, e.srv.URL)
	submit := func(ref, reason, owner string) {
		t.Helper()
		b.open("/requests")
		b.do("fill the request form",
			chromedp.SendKeys(chromedp.ID("request-reference"), ref),
			chromedp.SendKeys(chromedp.ID("request-reason"), reason),
			chromedp.SendKeys(chromedp.ID("request-owner"), owner),
			chromedp.Click(chromedp.ID("request-submit")))
	}

	submit("ghcr.io/acme/ledger:3", "the ledger service builds on it", "team-ledger")
	b.waitLocation("the request's page", func(u *url.URL) bool {
		return strings.HasPrefix(u.Path, "/requests/") && u.Query().Get("done") == "submitted"
	})
	assert.Equal(t, "pending", b.text("#request-state"), "the new request waits for an approver")
	assert.Equal(t, "Your request is recorded.", b.text(".flash"))
	assert.Contains(t, b.text("#request-history"), "submitted")
	b.shot("20-request-submitted")
	b.checkConsole("request submitted")
	ledger := b.location()

	b.do("approve", chromedp.SendKeys(chromedp.CSS(`#request-decide input[name="note"]`), "checked the publisher"), chromedp.Click(chromedp.ID("request-approve")))
	b.waitLocation("approved", func(u *url.URL) bool { return u.Query().Get("done") == "approve" })
	assert.Equal(t, "approved", b.text("#request-state"))
	assert.Contains(t, b.text("#request-history"), "checked the publisher")
	b.checkConsole("request approved")

	submit("not a reference", "x", "y")
	b.waitLocation("the form again", func(u *url.URL) bool { return u.Path == "/requests" })
	assert.Contains(t, b.text("#request-error"), "malformed image reference", "the reason shows")
	v, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.ID("request-reference")))
	require.NoError(t, err)
	assert.Equal(t, "not a reference", v, "what was typed is kept")
	b.shot("21-request-bad-input")
	// The page itself answers 400, which chromium logs as a failed load of
	// the document; anything else is an error.
	time.Sleep(150 * time.Millisecond)
	b.mu.Lock()
	var rest []chromedp.ConsoleMessage
	for _, m := range b.messages {
		if !(strings.Contains(m.Text, "status of 400") && strings.HasSuffix(m.URL, "/requests")) {
			rest = append(rest, m)
		}
	}
	b.messages = rest
	b.mu.Unlock()
	b.checkConsole("bad input")

	submit("docker.io/library/ngnix:1.27", "web tier", "team-web")
	b.waitLocation("the typosquat's page", func(u *url.URL) bool {
		return strings.HasPrefix(u.Path, "/requests/") && u.Query().Get("done") == "submitted"
	})
	assert.Equal(t, "pending", b.text("#request-state"), "a typosquat is never approved automatically")
	assert.Contains(t, b.text("#request-typosquat"), "docker.io/library/nginx", "the warning names the image it resembles")
	b.shot("22-request-typosquat")

	b.open("/requests")
	assert.Equal(t, 2, b.count("#request-table tr.request-row"), "both requests are listed")
	assert.Contains(t, b.text("#request-table"), "ghcr.io/acme/ledger:3")
	assert.Contains(t, b.text("#request-table"), "approved")
	assert.Contains(t, b.text("#request-table"), "possible typosquat of docker.io/library/nginx")
	b.do("open the ledger request", chromedp.Click(chromedp.CSS(`#request-table a[href="`+strings.TrimPrefix(strings.SplitN(ledger, "?", 2)[0], e.srv.URL)+`"]`)))
	b.waitLocation("the ledger request", func(u *url.URL) bool {
		return !strings.Contains(u.RawQuery, "done") && strings.HasPrefix(u.Path, "/requests/")
	})
	assert.Equal(t, "approved", b.text("#request-state"))
	b.shot("23-requests-list")
	b.checkConsole("requests list")
}
