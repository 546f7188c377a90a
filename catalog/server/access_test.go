package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/postgres"
	"github.com/cssc-go/cssc/catalog/server"
	"github.com/cssc-go/cssc/catalog/server/internal/demodata"
	"github.com/cssc-go/cssc/catalog/sqlite"
	"github.com/cssc-go/cssc/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// groupHeaders names the caller by X-User and their groups by X-Groups
// (comma-separated), as an authenticating proxy would.
type groupHeaders struct{}

func (groupHeaders) Identify(r *http.Request) string { return r.Header.Get("X-User") }

func (groupHeaders) Groups(r *http.Request) []string {
	var out []string
	for g := range strings.SplitSeq(r.Header.Get("X-Groups"), ",") {
		if g = strings.TrimSpace(g); g != "" {
			out = append(out, g)
		}
	}
	return out
}

var _ server.GroupIdentifier = groupHeaders{}

// accessRules restrict nginx to the web team, the payments images to the
// payments team and redis to SRE.
func accessRules(t testing.TB) *catalog.AccessPolicy {
	p, err := catalog.NewAccessPolicy([]catalog.AccessRule{
		{Name: "licensed-nginx", Repositories: []string{"**/library/nginx"}, Level: "licensed", Groups: []string{"web-team"},
			HowToAsk: "Ask the web team in #web-access.", RequestURL: "/requests/new?ref={ref}"},
		{Name: "payments", Repositories: []string{"**/payments/*"}, Level: "pci", Groups: []string{"payments"}},
		{Name: "sre-redis", Repositories: []string{"**/library/redis"}, Level: "internal", Groups: []string{"sre"}},
	})
	require.NoError(t, err)
	return p
}

func withAccess(o *server.Options) {
	o.Access = nil // set by the caller
	o.Identifier = groupHeaders{}
}

// accessStores are the stores the access walk runs on.
var accessStores = map[string]func(t *testing.T) catalog.Store{
	"memory": func(t *testing.T) catalog.Store { return catalog.NewMemoryStore() },
	"sqlite": func(t *testing.T) catalog.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "catalog.db"), sqlite.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	},
	"postgres": func(t *testing.T) catalog.Store {
		s, err := postgres.Open(context.Background(), pgtest.New(t), postgres.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	},
}

// TestAccessWalk walks every route of the OpenAPI document, and the
// portal's pages, as an outsider over two catalogs on one registry: the
// full demo catalog with access rules, and the same catalog without the
// restricted entries. Every answer must be byte for byte the same (so a
// restricted entry leaks nothing: not its existence, not a count), and
// none may name a restricted digest or repository it was not asked about.
// A member of the groups sees the entries, with who may pull them and how
// to ask. On every store.
func TestAccessWalk(t *testing.T) {
	for _, name := range []string{"memory", "sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) { testAccessWalk(t, accessStores[name]) })
	}
}

func testAccessWalk(t *testing.T, newStore func(t *testing.T) catalog.Store) {
	ctx := context.Background()
	policy := accessRules(t)
	outsider := policy.For()
	// Each catalog's sweeps are those its images would have had: the
	// full catalog's count the restricted images, the reference's do not.
	var fullSweeps, refSweeps []*catalog.Sweep
	tweak := func(sweeps *[]*catalog.Sweep) func(o *server.Options) {
		return func(o *server.Options) {
			withAccess(o)
			o.Access = policy
			o.Sweeps = server.SweepListerFunc(func(ctx context.Context, limit int) ([]*catalog.Sweep, error) {
				return (*sweeps)[:min(limit, len(*sweeps))], nil
			})
		}
	}
	full := newEnv(t, envOptions{store: newStore(t), tweak: tweak(&fullSweeps)})
	ref := newEnv(t, envOptions{store: newStore(t), tweak: tweak(&refSweeps), reg: full.reg})

	var hidden, visible []*catalog.Entry
	for _, e := range full.demo.Entries {
		if outsider.Visible(e.Repository) {
			visible = append(visible, e)
		} else {
			hidden = append(hidden, e)
			require.NoError(t, ref.store.Delete(ctx, e.Repository, e.Digest), "the reference catalog has no %s", e.Key())
		}
	}
	require.Len(t, hidden, 4, "nginx (2), payments, redis are restricted")
	for i, e := range ref.demo.Entries {
		require.Equal(t, full.demo.Entries[i].Key(), e.Key(), "both catalogs hold the same images")
	}

	nginx := full.demo.Entry("library/nginx", "1.27.3")
	debian := full.demo.Entry("library/debian", "12")
	alpine := full.demo.Entry("library/alpine", "3.20")
	python := full.demo.Entry("library/python", "3.12-slim")
	require.NotNil(t, python)
	refOf := func(e *catalog.Entry) string { return e.Repository + "@" + e.Digest.String() }
	payments := hidden[slices.IndexFunc(hidden, func(e *catalog.Entry) bool { return strings.Contains(e.Repository, "/payments/") })]

	// Public entries whose free text names restricted images: debian's
	// replacement, end-of-life reason and source detail, a label and a
	// problem; python's source reference. Both catalogs hold them.
	for _, st := range []catalog.Store{full.store, ref.store} {
		e, err := st.Get(ctx, debian.Repository, debian.Digest)
		require.NoError(t, err)
		e.Replacement = nginx.Repository + ":1.27.3"
		require.NotNil(t, e.EndOfLife, "debian has an end of life")
		eol := *e.EndOfLife
		eol.Reason = "superseded by " + refOf(nginx) + " and " + payments.Repository + ":2.4."
		eol.Sources = append(slices.Clone(eol.Sources), catalog.EndOfLifeSource{Role: "runtime", Source: "override", Date: eol.Date,
			Detail: "as " + nginx.Repository + ":1.27 (override)"})
		e.EndOfLife = &eol
		e.Labels = maps.Clone(e.Labels)
		e.Labels["successor"] = nginx.Repository
		e.Problems = append(slices.Clone(e.Problems), catalog.Problem{Subject: e.Digest, Evidence: catalog.EvidenceVulnReport,
			Reason: catalog.ReasonRescanFailed, Detail: "report copied from " + payments.Repository + "@" + payments.Digest.String()})
		require.NoError(t, st.Put(ctx, e))
		p, err := st.Get(ctx, python.Repository, python.Digest)
		require.NoError(t, err)
		p.Source.Reference = nginx.Repository + ":1.27.3"
		require.NoError(t, st.Put(ctx, p))
	}
	fullSweeps, refSweeps = walkSweeps(full.demo.Entries, debian, nginx), walkSweeps(visible, debian, nginx)

	// What must never show to an outsider who did not name it: the
	// restricted repositories, digests, children, reports and SBOMs.
	secrets := map[string]bool{}
	for _, e := range hidden {
		secrets[e.Repository] = true
		secrets[e.Digest.Encoded()] = true
		for _, c := range e.Children {
			secrets[c.Digest.Encoded()] = true
			if c.SBOM != nil {
				secrets[c.SBOM.Digest.Encoded()] = true
			}
		}
		for _, r := range e.Reports {
			secrets[r.Digest.Encoded()] = true
		}
	}
	for _, e := range visible { // shared children or reports are not secrets
		delete(secrets, e.Digest.Encoded())
		for _, c := range e.Children {
			delete(secrets, c.Digest.Encoded())
		}
	}

	var cve, pkg, lic string
	for _, c := range nginx.Children {
		if len(c.Findings) > 0 && cve == "" {
			cve = c.Findings[0].ID
		}
		if len(c.Packages) > 0 && pkg == "" {
			pkg = c.Packages[0].Name
		}
	}
	lic = nginx.Licenses[0]
	require.NotEmpty(t, cve, "nginx has findings")

	// The routes, filled for a restricted image and for a visible one.
	docBody := full.get(t, "/api/v1/openapi.json")
	require.Equal(t, http.StatusOK, docBody.status)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	docBody.json(t, &doc)
	type call struct {
		method, path string
		body         string
		named        bool // the URL names a restricted image or repository
	}
	var calls []call
	queries := map[string][]string{
		"/api/v1/search":                {"", "?facets=true", "?q=library&facets=true", "?facets=true&limit=1", "?cve=" + cve + "&facets=true", "?facets=true&status=active&platform=linux%2Famd64"},
		"/api/v1/tags":                  {"?repository=" + url.QueryEscape(nginx.Repository), "?repository=" + url.QueryEscape(debian.Repository)},
		"/api/v1/compare":               {"?a=" + url.QueryEscape(refOf(nginx)) + "&b=" + url.QueryEscape(refOf(debian)), "?a=" + url.QueryEscape(refOf(alpine)) + "&b=" + url.QueryEscape(refOf(debian))},
		"/api/v1/endoflife":             {"?eolWithin=3650&facets=true"},
		"/api/v1/findings":              {"?format=csv", "?format=json", "?q=nginx&format=csv"},
		"/api/v1/images/{ref}/sbom":     {"?platform=linux%2Famd64"},
		"/api/v1/images/{ref}/findings": {"?format=csv", "?format=json"},
		"/api/v1/licenses/{license}":    {"?facets=true"},
		"/api/v1/packages/{name}":       {"", "?range=%3E%3D0"},
	}
	paths := make([]string, 0, len(doc.Paths))
	for p := range doc.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, path := range paths {
		methods := doc.Paths[path]
		qs := queries[path]
		if qs == nil {
			qs = []string{""}
		}
		for method := range methods {
			m := strings.ToUpper(method)
			if m != http.MethodGet && m != http.MethodHead && m != http.MethodPost && m != http.MethodPut {
				continue
			}
			targets := []*catalog.Entry{nginx, debian}
			if m != http.MethodGet {
				targets = []*catalog.Entry{nginx} // writes only on the restricted image
			}
			for _, e := range targets {
				if !strings.Contains(path, "{") && e != nginx {
					continue
				}
				rep := ""
				if len(e.Reports) > 0 {
					rep = e.Reports[len(e.Reports)-1].Digest.String()
				}
				fill := strings.NewReplacer("{ref}", refOf(e), "{report}", rep, "{id}", cve, "{name}", pkg, "{license}", lic)
				for _, q := range qs {
					u := fill.Replace(path) + q
					c := call{method: m, path: u, named: strings.Contains(u, e.Repository) && e == nginx || strings.Contains(u, url.QueryEscape(nginx.Repository))}
					if m != http.MethodGet {
						c.body = `{"owner":"team-x","reason":"walking the API"}`
						if strings.HasSuffix(path, "/rescan") {
							c.body = `{}`
						}
					}
					calls = append(calls, c)
				}
			}
		}
	}
	// The portal's pages and the tag form of image URLs.
	for _, p := range []struct {
		path  string
		named bool
	}{
		{"/", false}, {"/?q=library", false}, {"/?q=nginx", true}, {"/?cve=" + cve, false}, {"/cve/" + cve, false},
		{"/images/" + refOf(nginx), true}, {"/images/" + nginx.Repository + ":latest", true},
		{"/api/v1/images/" + nginx.Repository + ":latest", true}, {"/images/" + refOf(debian), false},
		{"/compare?a=" + url.QueryEscape(refOf(nginx)) + "&b=" + url.QueryEscape(refOf(debian)), true},
		{"/sweeps", false}, {"/api/v1/sweeps", false}, {"/api/v1/repositories", false},
		// A visible image asked for a restricted image's report and SBOM.
		{"/api/v1/images/" + refOf(debian) + "/reports/" + nginx.Reports[len(nginx.Reports)-1].Digest.String(), true},
		{"/api/v1/images/" + refOf(debian) + "/sbom?digest=" + nginx.Children[0].Digest.String(), true},
		{"/api/v1/images/" + refOf(debian) + "/reports", false}, {"/api/v1/images/" + refOf(debian) + "/tags", false},
	} {
		calls = append(calls, call{method: http.MethodGet, path: p.path, named: p.named})
	}
	require.Greater(t, len(calls), 40, "the walk covers the API")

	do := func(e *env, c call, header ...string) reply {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
			header = append(header, "Content-Type", "application/json")
		}
		return e.call(t, c.method, c.path, body, header...)
	}

	// A member first, so that the facet cache holds a member's counts
	// when the outsider asks.
	member := []string{"X-User", "wendy", "X-Groups", "web-team,payments,sre"}
	for _, c := range calls {
		if c.method != http.MethodGet {
			continue
		}
		r := do(full, c, member...)
		assert.Less(t, r.status, 500, "member: %s %s: %d %s", c.method, c.path, r.status, r.body)
	}
	var res catalog.Result
	r := full.get(t, "/api/v1/search?facets=true", member...)
	r.json(t, &res)
	assert.Equal(t, len(full.demo.Entries), res.Total, "a member of every group sees every image")
	var img catalog.Entry
	r = full.get(t, apiImage(nginx), member...)
	require.Equal(t, http.StatusOK, r.status, "member: %s", r.body)
	r.json(t, &img)
	require.NotNil(t, img.Access, "the API says who may pull the image")
	assert.Equal(t, "licensed", img.AccessLevel)
	assert.Equal(t, &catalog.Access{Level: "licensed", Rule: "licensed-nginx", Groups: []string{"web-team"},
		HowToAsk: "Ask the web team in #web-access.", RequestURL: "/requests/new?ref=" + url.QueryEscape(refOf(nginx))}, img.Access)
	r = full.get(t, "/images/"+refOf(nginx), member...)
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, string(r.body), "Ask the web team in #web-access.", "the image page says how to ask")
	assert.Contains(t, string(r.body), "web-team", "the image page says who may pull")
	var sweeps struct {
		Sweeps []*catalog.Sweep `json:"sweeps"`
	}
	full.get(t, "/api/v1/sweeps", member...).json(t, &sweeps)
	require.Len(t, sweeps.Sweeps, len(fullSweeps), "a member of every group sees every sweep")
	for i, sw := range sweeps.Sweeps {
		assert.False(t, sw.TotalsWithheld, "%s: a member of every group sees the totals", sw.ID)
		assert.Equal(t, fullSweeps[i].Images, sw.Images, "%s: images", sw.ID)
		assert.Equal(t, fullSweeps[i].Reason, sw.Reason, "%s: reason", sw.ID)
	}
	r = full.get(t, "/images/"+refOf(debian), member...)
	assert.Contains(t, string(r.body), nginx.Repository, "a member reads the names of restricted images in a public entry's text")
	// A member of one group only sees that group's images.
	r = full.get(t, "/api/v1/search?facets=true", "X-User", "walt", "X-Groups", "web-team")
	r.json(t, &res)
	assert.Equal(t, len(visible)+2, res.Total, "the web team sees the public images and nginx")

	// The outsider: the same answers as from a catalog without the
	// restricted images, with nothing of them in it.
	for _, who := range [][]string{nil, {"X-User", "mallory", "X-Groups", "other,web-team-x"}} {
		for _, c := range calls {
			got := do(full, c, who...)
			want := do(ref, c, who...)
			name := c.method + " " + c.path
			if !assert.Equal(t, want.status, got.status, "%s (%v): status as without the restricted images: %s", name, who, got.body) {
				continue
			}
			assert.Equal(t, string(want.body), string(got.body), "%s (%v): body as without the restricted images", name, who)
			assert.Equal(t, want.header.Get("Location"), got.header.Get("Location"), "%s: redirect", name)
			assert.Equal(t, want.header.Get("ETag"), got.header.Get("ETag"), "%s: ETag", name)
			if c.named {
				continue
			}
			for s := range secrets {
				assert.NotContains(t, string(got.body), s, "%s (%v) names a restricted image's %s", name, who, s)
			}
		}
	}
	// What the outsider reads of the public entries and the sweeps.
	r = full.get(t, apiImage(debian))
	require.Equal(t, http.StatusOK, r.status)
	r.json(t, &img)
	assert.Empty(t, img.Replacement, "a replacement the outsider may not see is left out")
	assert.Equal(t, "superseded by "+catalog.Redacted+" and "+catalog.Redacted+".", img.EndOfLife.Reason, "end-of-life reason")
	assert.Equal(t, catalog.Redacted, img.Labels["successor"], "label")
	r = full.get(t, "/api/v1/sweeps")
	sweeps.Sweeps = nil
	r.json(t, &sweeps)
	require.Len(t, sweeps.Sweeps, len(fullSweeps)-1, "the request sweep of the restricted image is not listed")
	for _, sw := range sweeps.Sweeps {
		assert.True(t, sw.TotalsWithheld, "%s: the outsider is told the totals are withheld", sw.ID)
		assert.Zero(t, sw.Images, "%s: no image count", sw.ID)
		assert.Empty(t, sw.Outcomes, "%s: no outcomes", sw.ID)
	}
	// Nothing was written for the outsider.
	full.mu.Lock()
	assert.Empty(t, full.rescans, "no rescan of a restricted image for an outsider")
	assert.Empty(t, full.retired)
	full.mu.Unlock()
	e, err := full.store.Get(ctx, nginx.Repository, nginx.Digest)
	require.NoError(t, err)
	assert.Equal(t, nginx.Owner, e.Owner, "owner unchanged")
}

// walkSweeps returns the sweeps a catalog of entries would have recorded:
// a skipped sweep, a lifecycle run over every image, a delta rescan of the
// images with findings (those with problems failing, and another whose
// error names a restricted image), a malware sweep of every image,
// and a requested rescan of each of two images, the most recent first.
func walkSweeps(entries []*catalog.Entry, failing, named *catalog.Entry) []*catalog.Sweep {
	now := demodata.Now
	lifecycle := map[string]int{}
	affected, delta := 0, map[string]int{}
	var failures []catalog.SweepFailure
	for _, e := range entries {
		switch e.Status {
		case catalog.StatusDeprecated, catalog.StatusRetired:
			lifecycle[string(e.Status)]++
		default:
			lifecycle["unchanged"]++
		}
		if e.Vulnerabilities.Total() == 0 {
			continue
		}
		affected++
		switch {
		case len(e.Problems) > 0, e == failing:
			delta["failed"]++
			msg := "report signature: signer: context deadline exceeded"
			if e == failing {
				msg = "pushing the report: blob mounted from " + named.Repository + ": unauthorized"
			}
			failures = append(failures, catalog.SweepFailure{Job: "vulnerability/osv-2026-02-27/" + e.Key(), Error: msg})
		default:
			delta["written"]++
		}
	}
	reason := fmt.Sprintf("%d deprecated, %d retired", lifecycle["deprecated"], lifecycle["retired"])
	// Upstream tracking failed to acquire the moved tags of the two images
	// (job keys name the golden repository and tag, then the digest).
	var upstreamFailures []catalog.SweepFailure
	for _, e := range entries {
		if (e == failing || e == named) && len(e.Tags) > 0 {
			upstreamFailures = append(upstreamFailures, catalog.SweepFailure{
				Job:   "upstream/acquire/" + e.Repository + ":" + e.Tags[0] + "@" + digest.FromString("moved "+e.Key()).String() + "/upstream-0001",
				Error: "policy denied the new digest"})
		}
	}
	sweeps := []*catalog.Sweep{
		{ID: "sweep-0007", Kind: catalog.SweepFull, Trigger: "periodic", Scanner: "osv", DatabaseVersion: "osv-2026-02-27",
			Started: now.Add(-time.Hour), Finished: now.Add(-time.Hour + time.Second), State: catalog.SweepSkipped, Reason: "skipped: database unchanged"},
		{ID: "sweep-0006", Kind: "lifecycle", Trigger: "periodic", Started: now.Add(-2 * time.Hour), Finished: now.Add(-2*time.Hour + time.Second),
			State: catalog.SweepFinished, Reason: reason, Images: len(entries), Outcomes: lifecycle},
		{ID: "sweep-0005", Kind: catalog.SweepDelta, Trigger: "database", Scanner: "osv", DatabaseVersion: "osv-2026-02-27", PreviousVersion: "osv-2026-02-14",
			Started: now.Add(-3 * time.Hour), Finished: now.Add(-3*time.Hour + time.Second), State: catalog.SweepFinished,
			Reason: fmt.Sprintf("3 advisories added; %d images affected", affected), Diff: &catalog.SweepDiff{Added: 3, Packages: 2, Affected: affected},
			Images: affected, Outcomes: delta, Failures: failures},
		{ID: "upstream-0001", Kind: "upstream", Trigger: "periodic", Started: now.Add(-150 * time.Minute), Finished: now.Add(-150*time.Minute + time.Second),
			State: catalog.SweepFinished, Images: len(entries), Outcomes: map[string]int{"unchanged": len(entries) - len(upstreamFailures), "failed": len(upstreamFailures)},
			Failures: upstreamFailures},
		{ID: "sweep-0004", Kind: catalog.SweepMalware, Trigger: "signatures", Scanner: "clamav", DatabaseVersion: "clamav-27551",
			Started: now.Add(-4 * time.Hour), Finished: now.Add(-4*time.Hour + time.Second), State: catalog.SweepFinished,
			Images: len(entries), Outcomes: map[string]int{"unchanged": len(entries)}},
	}
	for _, e := range entries {
		at := now.Add(-6 * time.Hour)
		switch e {
		case failing:
		case named:
			at = now.Add(-7 * time.Hour)
		default:
			continue
		}
		ref := e.Repository + "@" + e.Digest.String()
		sweeps = append(sweeps, &catalog.Sweep{ID: "request-" + e.Digest.Encoded()[:12], Kind: catalog.SweepRequest, Trigger: "request",
			Scanner: "osv", DatabaseVersion: "osv-2026-02-27", Started: at, Finished: at.Add(time.Second), State: catalog.SweepFinished,
			Reason: "requested rescan of " + ref, Subject: ref, Images: 1, Outcomes: map[string]int{"written": 1}})
	}
	slices.SortStableFunc(sweeps, func(a, b *catalog.Sweep) int { return b.Started.Compare(a.Started) })
	return sweeps
}

// TestAccessRequests: a request for an image of a restricted repository
// is, for anybody outside its groups who did not ask for it, an unknown
// request (absent from lists, 404 by id, on the API and the portal); those
// who asked see it without the golden digest; names of restricted images
// in a visible request (the name a typosquat resembles) are redacted. On
// every store.
func TestAccessRequests(t *testing.T) {
	for _, name := range []string{"memory", "sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) { testAccessRequests(t, accessStores[name]) })
	}
}

func testAccessRequests(t *testing.T, newStore func(t *testing.T) catalog.Store) {
	policy := accessRules(t)
	e := newEnv(t, envOptions{store: newStore(t), tweak: func(o *server.Options) {
		withAccess(o)
		o.Access = policy
	}})
	wendy := []string{"X-User", "wendy", "X-Groups", "web-team"}
	oscar := []string{"X-User", "oscar"} // no groups
	pat := []string{"X-User", "pat"}
	mallory := []string{"X-User", "mallory", "X-Groups", "other"}
	submit := func(ref string, who []string) *catalog.Request {
		t.Helper()
		body := `{"reference":"` + ref + `","reason":"walking the API","owner":"team-x"}`
		r := e.call(t, http.MethodPost, "/api/v1/requests", strings.NewReader(body), append(who, "Content-Type", "application/json")...)
		require.Equal(t, http.StatusCreated, r.status, "submit %s: %s", ref, r.body)
		var a struct {
			Request *catalog.Request `json:"request"`
		}
		r.json(t, &a)
		require.NotNil(t, a.Request)
		return a.Request
	}
	nginx := submit("docker.io/library/nginx:1.28", wendy)
	redis := submit("docker.io/library/redis:7.4", oscar)
	ngnix := submit("docker.io/library/ngnix:1.27", pat)
	require.NotNil(t, ngnix.Typosquat, "ngnix resembles nginx")
	assert.Equal(t, catalog.Redacted, ngnix.Typosquat.Resembles, "pat may not see nginx: the name it resembles is not shown")
	var member catalog.Request
	e.get(t, "/api/v1/requests/"+ngnix.ID, wendy...).json(t, &member)
	require.NotNil(t, member.Typosquat)
	assert.Equal(t, "docker.io/library/nginx", member.Typosquat.Resembles, "the web team reads which name it resembles")
	require.False(t, policy.For().Visible(nginx.Golden), "the nginx request goes to a restricted repository: %s", nginx.Golden)

	ids := func(who []string) []string {
		t.Helper()
		var l struct {
			Requests []*catalog.Request `json:"requests"`
		}
		r := e.get(t, "/api/v1/requests", who...)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		r.json(t, &l)
		var out []string
		for _, q := range l.Requests {
			out = append(out, q.ID)
		}
		sort.Strings(out)
		return out
	}
	sorted := func(s ...string) []string { sort.Strings(s); return s }
	assert.Equal(t, sorted(nginx.ID, redis.ID, ngnix.ID), ids([]string{"X-User", "root", "X-Groups", "web-team,sre"}), "a member of every group sees every request")
	assert.Equal(t, sorted(nginx.ID, ngnix.ID), ids(wendy), "the web team sees its request and the public one")
	assert.Equal(t, sorted(redis.ID, ngnix.ID), ids(oscar), "oscar sees the request he made, and the public one")
	assert.Equal(t, []string{ngnix.ID}, ids(mallory), "an outsider sees the public request only")

	unknown := e.get(t, "/api/v1/requests/req-unknown", mallory...)
	require.Equal(t, http.StatusNotFound, unknown.status)
	unknownPage := e.get(t, "/requests/req-unknown", mallory...)
	for _, id := range []string{nginx.ID, redis.ID} {
		r := e.get(t, "/api/v1/requests/"+id, mallory...)
		assert.Equal(t, unknown.status, r.status, "%s: as an unknown request", id)
		assert.Equal(t, string(unknown.body), string(r.body), "%s: as an unknown request", id)
		r = e.get(t, "/requests/"+id, mallory...)
		assert.Equal(t, unknownPage.status, r.status, "%s: page as an unknown request", id)
		assert.Equal(t, string(unknownPage.body), string(r.body), "%s: page as an unknown request", id)
		r = e.call(t, http.MethodPost, "/api/v1/requests/"+id+"/approve", strings.NewReader(`{"reason":"ok"}`), append(mallory, "Content-Type", "application/json")...)
		assert.Equal(t, http.StatusNotFound, r.status, "%s: an outsider cannot decide it: %s", id, r.body)
	}
	r := e.get(t, "/api/v1/requests/"+redis.ID, oscar...)
	assert.Equal(t, http.StatusOK, r.status, "oscar sees his request")

	// Once acquired, oscar learns that his request was promoted, not what
	// the acquisition found: the image was golden already (an unchanged
	// outcome) and its digest would tell him it exists.
	rs, ok := e.store.(catalog.RequestStore)
	require.True(t, ok, "the store keeps the requests")
	stored, err := rs.Request(context.Background(), redis.ID)
	require.NoError(t, err)
	stored.Digest, stored.SourceDigest, stored.Outcome = digest.FromString("golden redis"), digest.FromString("source redis"), "unchanged"
	stored.Move(catalog.RequestPromoted, demodata.Now, "worker-1", "the image passed the pipeline: unchanged")
	require.NoError(t, rs.PutRequest(context.Background(), stored))
	var seen catalog.Request
	e.get(t, "/api/v1/requests/"+redis.ID, oscar...).json(t, &seen)
	assert.Equal(t, catalog.RequestPromoted, seen.State, "oscar is told his request was promoted")
	assert.Empty(t, seen.Digest, "not the golden digest")
	assert.Empty(t, seen.SourceDigest)
	assert.Empty(t, seen.Outcome, "not the outcome")
	page := e.get(t, "/requests/"+redis.ID, oscar...)
	require.Equal(t, http.StatusOK, page.status)
	for _, s := range []string{"unchanged", stored.Digest.Encoded(), stored.SourceDigest.Encoded()} {
		assert.NotContains(t, string(page.body), s, "the request page tells oscar nothing the acquisition found")
	}
	e.get(t, "/api/v1/requests/"+redis.ID, "X-User", "sam", "X-Groups", "sre").json(t, &seen)
	assert.Equal(t, stored.Digest, seen.Digest, "SRE sees the golden digest")
	assert.Equal(t, "unchanged", seen.Outcome)

	for _, path := range []string{"/api/v1/requests", "/requests", "/api/v1/requests/" + ngnix.ID, "/requests/" + ngnix.ID} {
		r := e.get(t, path, mallory...)
		require.Equal(t, http.StatusOK, r.status, "%s: %s", path, r.body)
		// The form's placeholder is a static example, not a catalog name.
		body := strings.ReplaceAll(string(r.body), `placeholder="docker.io/library/nginx:1.27"`, "")
		for _, s := range []string{"library/nginx", "library/redis", nginx.ID, redis.ID} {
			assert.NotContains(t, body, s, "%s names a restricted image or its request", path)
		}
	}
	var got catalog.Request
	e.get(t, "/api/v1/requests/"+ngnix.ID, mallory...).json(t, &got)
	require.NotNil(t, got.Typosquat)
	assert.Equal(t, catalog.Redacted, got.Typosquat.Resembles, "the outsider is told a typosquat resembles something, not what")
}
