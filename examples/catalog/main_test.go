package main

import (
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/event/webhook"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/sbom/scalibr"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/osv"
	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"
)

const identity = "C=US, ST=WA, O=Corp, CN=Corp Golden Signing"

// notationDir writes a notation configuration directory that trusts ca
// for identity.
func notationDir(t *testing.T, name string, ca *devpki.CA, identity string) string {
	t.Helper()
	dir := t.TempDir()
	store := filepath.Join(dir, "truststore", "x509", "ca", name)
	require.NoError(t, os.MkdirAll(store, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(store, "root.pem"), ca.CertificatePEM(), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "trustpolicy.oci.json"), sample.TrustPolicy(name, identity), 0o644))
	return dir
}

// golden acquires the sample images into a golden registry through the
// real pipeline and returns the registry, the enterprise key files and its
// trust directory.
type goldenWorld struct {
	reg               *registrytest.Registry
	key, cert, trust  string
	promoted          int
	multiRepo, osvDir string
	// The upstream registry and a notation directory that trusts its
	// publisher, for the pipeline of upstream tracking.
	up             *registrytest.Registry
	publisherTrust string
}

func acquireGolden(t *testing.T) *goldenWorld {
	t.Helper()
	ctx := context.Background()
	up := registrytest.Start(t, registrytest.OCI)
	gold := registrytest.Start(t, registrytest.OCI)
	world, err := sample.Seed(ctx, up.Client, up.Host, sample.Options{})
	require.NoError(t, err)
	dir := t.TempDir()
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{})
	require.NoError(t, err)
	leaf, err := ca.Issue(devpki.LeafOptions{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Corp"}, CommonName: "Corp Golden Signing"}})
	require.NoError(t, err)
	keyPath, certPath, err := leaf.WriteFiles(dir, "corp")
	require.NoError(t, err)
	signer, err := notation.NewSigner(leaf.Key, leaf.Chain, notation.SignerOptions{})
	require.NoError(t, err)
	enterprise, err := sample.Verifier("corp", ca, identity)
	require.NoError(t, err)
	publisher, err := sample.Verifier("publisher", world.PublisherCA, world.PublisherIdentity)
	require.NoError(t, err)
	db, err := osv.LoadFS(ctx, sample.OSV(), osv.Options{})
	require.NoError(t, err)
	doc, err := policy.Parse([]byte(`
apiVersion: cssc.dev/policy/v1
name: catalog-test
mode: enforce
sources: {allowed: ["127.0.0.1:*/**"]}
vulnerabilities: {maxSeverity: high, unfixed: report}
sbom: {required: true}
provenance: {required: true}
`))
	require.NoError(t, err)
	pol, err := policy.Compile(doc)
	require.NoError(t, err)
	client := registry.NewClient(registry.Options{PlainHTTP: []string{up.Host, gold.Host}, MaxRetries: -1})
	p, err := acquire.NewPipeline(acquire.Config{
		Client:            client,
		Quarantine:        "oci:" + filepath.Join(dir, "quarantine"),
		Golden:            gold.Host + "/golden",
		PublisherVerifier: publisher,
		Scanners:          []scan.Scanner{osv.NewScanner(db)},
		SBOM: &attest.SBOMEnricher{Generate: func(ctx context.Context, s *attest.Subject) (*sbom.Document, error) {
			return scalibr.Generate(ctx, s.Content, s.Descriptor, scalibr.Options{})
		}},
		Provenance:                &attest.ProvenanceEnricher{BuilderID: "https://github.com/cssc-go/cssc/examples/catalog/test"},
		Lifecycle:                 &attest.LifecycleEnricher{EndOfLife: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)},
		Signer:                    signer,
		EnterpriseVerifier:        enterprise,
		Policy:                    pol,
		PolicyRef:                 &attest.PolicyRef{Name: pol.Name(), Digest: digest.Digest(pol.Digest())},
		PromotePublisherArtifacts: true,
	})
	require.NoError(t, err)
	var sources []string
	for _, img := range world.Images {
		sources = append(sources, img.Location)
	}
	records, _ := p.RunAll(ctx, sources, acquire.RunOptions{})
	g := &goldenWorld{reg: gold, key: keyPath, cert: certPath, trust: notationDir(t, "corp", ca, identity),
		up: up, publisherTrust: notationDir(t, "publisher", world.PublisherCA, world.PublisherIdentity)}
	for _, rec := range records {
		if rec.Outcome == acquire.OutcomePromoted {
			g.promoted++
		}
	}
	require.Equal(t, 3, g.promoted, "clean, signed and multi are promoted; vulnerable is denied")
	g.multiRepo = gold.Host + "/golden/" + sample.Multi
	g.osvDir = filepath.Join(dir, "osv")
	require.NoError(t, os.CopyFS(g.osvDir, sample.OSV()))
	return g
}

// receiver is a webhook endpoint that keeps what it receives.
type receiver struct {
	mu     sync.Mutex
	events []event.Event
	srv    *httptest.Server
}

func (r *receiver) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Type)
	}
	return out
}

const secretValue = "0123456789abcdef0123456789abcdef"

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	h, err := webhook.NewHandler(webhook.HandlerOptions{Secrets: [][]byte{[]byte(secretValue)}}, event.Func(func(ctx context.Context, e event.Event) error {
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
		return nil
	}))
	require.NoError(t, err)
	r.srv = httptest.NewServer(h)
	t.Cleanup(r.srv.Close)
	return r
}

func getJSON(t *testing.T, u string, v any, header ...string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if v != nil && resp.StatusCode == http.StatusOK {
		// Decode into a zero value: json.Unmarshal reuses the slice elements
		// and maps already in v, so a polled struct would mix two responses.
		reflect.ValueOf(v).Elem().SetZero()
		require.NoError(t, json.Unmarshal(b, v), "%s", b)
	}
	return resp.StatusCode
}

// service is a catalog service a test runs.
type service struct {
	base   string // "http://" and the address it listens on
	logger *slog.Logger
	cancel context.CancelFunc
	done   chan error
	ended  bool
}

// startService runs serve with cfg (logging to stderr with -v) and waits
// up to a minute for it to listen. A service the test did not stop is
// cancelled and waited for (up to 30 s) when the test ends.
func startService(t *testing.T, cfg *Config) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{cancel: cancel, done: make(chan error, 1), logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if testing.Verbose() {
		s.logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	addr := make(chan string, 1)
	go func() { s.done <- serve(ctx, cfg, s.logger, func(a string) { addr <- a }) }()
	t.Cleanup(func() {
		if !s.ended {
			cancel()
			select {
			case <-s.done:
			case <-time.After(30 * time.Second):
			}
		}
	})
	select {
	case a := <-addr:
		s.base = "http://" + a
	case err := <-s.done:
		s.ended = true
		t.Fatalf("the service stopped: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the service did not start")
	}
	return s
}

// stop cancels the service and checks that it stops cleanly within 30 s.
func (s *service) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	s.ended = true
	select {
	case err := <-s.done:
		assert.NoError(t, err, "a cancelled service stops cleanly")
	case <-time.After(30 * time.Second):
		t.Fatal("the service did not stop")
	}
}

func TestService(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: acquires the sample images first")
	}
	g := acquireGolden(t)
	hooks := newReceiver(t)
	t.Setenv("CATALOG_TEST_SECRET", secretValue)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "catalog.yaml")
	require.NoError(t, os.WriteFile(cfgPath, fmt.Appendf(nil, `
listen: 127.0.0.1:0
title: Test catalog
store:
  sqlite: catalog.db
golden:
  location: %[1]s/golden
  plainHTTP: [%[1]q]
  reconcile: 1h
signing:
  key: %[2]s
  certificate: %[3]s
  verify: %[4]s
  identities: [%[5]q]
osv:
  path: %[6]s
  check: 100ms
rescan:
  poll: 50ms
lifecycle:
  config: lifecycle.json
  interval: 1h
webhooks:
  - url: %[7]s
    secret: env:CATALOG_TEST_SECRET
access:
  proxies: [127.0.0.1]
  writers: [catalog-admins]
`, g.reg.Host, g.key, g.cert, g.trust, identity, g.osvDir, hooks.srv.URL), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "lifecycle.json"), []byte(`{
  "window": "90d",
  "overrides": [{"repository": "*/golden/library/clean", "endOfLife": "2025-01-31",
                 "replacement": "registry.corp/golden/library/clean:2.0", "reason": "superseded by clean 2.0", "author": "platform team"}]
}`), 0o644))
	cfg, err := loadConfig(cfgPath)
	require.NoError(t, err)

	svc := startService(t, cfg)
	base := svc.base

	// The golden images are indexed, trusted, and scanned.
	var res catalog.Result
	require.Eventually(t, func() bool {
		return getJSON(t, base+"/api/v1/search", &res) == http.StatusOK && res.Total == g.promoted
	}, time.Minute, 100*time.Millisecond, "the reconcile indexes every promoted image")
	// Every image has complete, enterprise-signed evidence: cssc attaches
	// and signs its own SBOM, beside the publisher's where there is one.
	for _, name := range []string{sample.Clean, sample.Multi, sample.Signed} {
		var one catalog.Result
		getJSON(t, base+"/api/v1/search?trusted=true&repository="+url.QueryEscape(g.reg.Host+"/golden/"+name), &one)
		assert.Equal(t, 1, one.Total, "%s is trusted", name)
	}
	var page *http.Response
	page, err = http.Get(base + "/")
	require.NoError(t, err)
	page.Body.Close()
	assert.Equal(t, http.StatusOK, page.StatusCode)

	// The lifecycle retires the image past its end of life, with a signed
	// marker, and records its run as a sweep.
	var retired catalog.Result
	require.Eventually(t, func() bool {
		return getJSON(t, base+"/api/v1/search?status=retired", &retired) == http.StatusOK && retired.Total == 1
	}, time.Minute, 100*time.Millisecond, "the lifecycle retires library/clean")
	assert.Equal(t, g.reg.Host+"/golden/"+sample.Clean, retired.Entries[0].Repository)
	var clean catalog.Entry
	getJSON(t, base+"/api/v1/images/"+retired.Entries[0].Repository+"@"+retired.Entries[0].Digest.String(), &clean)
	assert.Equal(t, "registry.corp/golden/library/clean:2.0", clean.Replacement)
	require.NotNil(t, clean.EndOfLife)
	assert.Equal(t, "2025-01-31", clean.EndOfLife.Date.Format(time.DateOnly))

	// The first database makes a full sweep; it finds nothing new.
	var sweeps struct{ Sweeps []catalog.Sweep }
	require.Eventually(t, func() bool {
		getJSON(t, base+"/api/v1/sweeps", &sweeps)
		kinds := map[string]bool{}
		for _, sw := range sweeps.Sweeps {
			if sw.State != catalog.SweepRunning {
				kinds[sw.Kind] = true
			}
		}
		return kinds[catalog.SweepFull] && kinds["lifecycle"]
	}, time.Minute, 100*time.Millisecond, "a full sweep and a lifecycle run are recorded")

	// A new database in place: a delta sweep rescans the affected image
	// only, and signs a new report.
	const advisory = "CVE-2024-45490" // DSA-5770-1, Expat
	require.NoError(t, os.CopyFS(g.osvDir, sample.OSVUpdate()))
	var affected struct {
		Total  int
		Images []struct{ Repository string }
	}
	require.Eventually(t, func() bool {
		return getJSON(t, base+"/api/v1/vulnerabilities/"+advisory, &affected) == http.StatusOK && affected.Total == 1
	}, time.Minute, 100*time.Millisecond, "the rescan finds the new advisory")
	assert.Equal(t, g.multiRepo, affected.Images[0].Repository, "only the image with Expat")
	var delta catalog.Sweep
	require.Eventually(t, func() bool {
		getJSON(t, base+"/api/v1/sweeps", &sweeps)
		for _, sw := range sweeps.Sweeps {
			if sw.Kind == catalog.SweepDelta && sw.State == catalog.SweepFinished {
				delta = sw
				return true
			}
		}
		return false
	}, time.Minute, 100*time.Millisecond, "the delta sweep finishes")
	assert.Equal(t, 1, delta.Images, "only the image with Expat is rescanned")
	assert.Equal(t, map[string]int{"written": 1}, delta.Outcomes, "one new signed report")
	require.Eventually(t, func() bool {
		for _, typ := range hooks.types() {
			if typ == event.TypeFindingsNew {
				return true
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "the webhook receives the new findings")

	// The signed report is in the registry and served by digest.
	var ent catalog.Entry
	var list catalog.Result
	getJSON(t, base+"/api/v1/search?cve="+advisory, &list)
	require.Len(t, list.Entries, 1)
	img := base + "/api/v1/images/" + list.Entries[0].Repository + "@" + list.Entries[0].Digest.String()
	require.Equal(t, http.StatusOK, getJSON(t, img, &ent))
	var newest catalog.Report
	for _, r := range ent.Reports {
		if r.Trusted && r.Kind == "vulnerability" && r.Time.After(newest.Time) {
			newest = r
		}
	}
	resp, err := http.Get(img + "/reports/" + newest.Digest.String())
	require.NoError(t, err)
	sarif, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", sarif)
	rep, err := scan.DecodeSARIF(sarif)
	require.NoError(t, err)
	assert.Contains(t, fmt.Sprint(rep.Findings), "DSA-5770-1")

	// Writes: only through the proxy's identity headers, for writers.
	post := func(header ...string) int {
		req, err := http.NewRequest(http.MethodPost, img+"/rescan", nil)
		require.NoError(t, err)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusUnauthorized, post(), "no identity")
	assert.Equal(t, http.StatusForbidden, post("X-Forwarded-User", "bob", "X-Forwarded-Groups", "developers"))
	assert.Equal(t, http.StatusAccepted, post("X-Forwarded-User", "alice", "X-Forwarded-Groups", "developers, catalog-admins"))
	require.Eventually(t, func() bool {
		getJSON(t, base+"/api/v1/sweeps", &sweeps)
		return sweeps.Sweeps[0].Kind == catalog.SweepRequest && sweeps.Sweeps[0].State == catalog.SweepFinished
	}, time.Minute, 100*time.Millisecond, "the requested rescan runs")

	// Retire by hand: the lifecycle does it, with the caller as author.
	var multi catalog.Result
	getJSON(t, base+"/api/v1/search?repository="+url.QueryEscape(g.multiRepo), &multi)
	require.Len(t, multi.Entries, 1)
	multiURL := base + "/api/v1/images/" + multi.Entries[0].Repository + "@" + multi.Entries[0].Digest.String()
	req, err := http.NewRequest(http.MethodPost, multiURL+"/retire", strings.NewReader(`{"reason":"Expat DSA-5770-1 unfixed here","replacement":"registry.corp/golden/library/multi:1.1"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-User", "alice")
	req.Header.Set("X-Forwarded-Groups", "catalog-admins")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	var gone catalog.Entry
	require.NoError(t, json.Unmarshal(body, &gone))
	assert.Equal(t, catalog.StatusRetired, gone.Status)
	assert.Equal(t, "registry.corp/golden/library/multi:1.1", gone.Replacement)

	svc.stop(t)
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"missing everything":   `listen: ":0"`,
		"two stores":           "store: {sqlite: a.db, postgres: postgres://x}\ngolden: {location: r/g}\nsigning: {key: k, certificate: c, verify: v}\nosv: {path: o}\n",
		"unknown field":        "stroe: {sqlite: a.db}\n",
		"bad proxy":            "store: {sqlite: a.db}\ngolden: {location: r/g}\nsigning: {key: k, certificate: c, verify: v}\nosv: {path: o}\naccess: {proxies: [nowhere], writers: [x]}\n",
		"proxy, no writers":    "store: {sqlite: a.db}\ngolden: {location: r/g}\nsigning: {key: k, certificate: c, verify: v}\nosv: {path: o}\naccess: {proxies: [10.0.0.0/8]}\n",
		"webhook, no secret":   "store: {sqlite: a.db}\ngolden: {location: r/g}\nsigning: {key: k, certificate: c, verify: v}\nosv: {path: o}\nwebhooks: [{url: 'https://h'}]\n",
		"negative interval":    "store: {sqlite: a.db}\ngolden: {location: r/g, reconcile: -1s}\nsigning: {key: k, certificate: c, verify: v}\nosv: {path: o}\n",
		"tracking, no acquire": "store: {sqlite: a.db}\ngolden: {location: r/g}\nsigning: {key: k, certificate: c, verify: v}\nosv: {path: o}\nupstream: {interval: 1h}\n",
		"budget, no period":    "store: {sqlite: a.db}\ngolden: {location: r/g}\nsigning: {key: k, certificate: c, verify: v}\nosv: {path: o}\nacquire: a.yaml\nupstream: {budgets: {docker.io: {requests: 10}}}\n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		_, err := loadConfig(p)
		assert.Error(t, err, name)
	}
	// The README's example is a valid configuration.
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	start := strings.Index(string(readme), "```yaml\n")
	require.GreaterOrEqual(t, start, 0, "the README has a YAML example")
	rest := string(readme)[start+len("```yaml\n"):]
	example := rest[:strings.Index(rest, "```")]
	p := filepath.Join(dir, "readme.yaml")
	require.NoError(t, os.WriteFile(p, []byte(example), 0o644))
	cfg, err := loadConfig(p)
	require.NoError(t, err, "the README example loads")
	assert.NotEmpty(t, cfg.Webhooks)
	assert.NotEmpty(t, cfg.Access.Writers)
	require.NotNil(t, cfg.Access.policy, "the README example has access rules")
	a := cfg.Access.policy.Access("registry.corp/golden/licensed/oracle-jdk", "x")
	assert.Equal(t, "licensed", a.Level)
	assert.Contains(t, a.HowToAsk, "#licensing", "the how-to-ask text is whole (a # in YAML starts a comment unless quoted)")
}

// TestAccessConfig loads access rules and checks the proxy identity:
// groups from a proxy's connection are the caller's, headers from
// anywhere else make an outsider.
func TestAccessConfig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "catalog.yaml")
	require.NoError(t, os.WriteFile(p, []byte(`store: {sqlite: a.db}
golden: {location: registry.corp/golden}
signing: {key: k, certificate: c, verify: v}
osv: {path: o}
webhooks: [{url: 'https://h', secret: s, groups: [oracle-licensees]}]
access:
  proxies: [10.20.0.0/16]
  writers: [catalog-admins]
  rules:
    - {name: licensed, repositories: ["**/licensed/*"], level: licensed, groups: [oracle-licensees], howToAsk: ask}
`), 0o644))
	cfg, err := loadConfig(p)
	require.NoError(t, err)
	require.NotNil(t, cfg.Access.policy)
	pa := proxyAuthorizer{a: cfg.Access}
	req := func(remote string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-User", "olga")
		r.Header.Set("X-Forwarded-Groups", "oracle-licensees, catalog-admins")
		return r
	}
	assert.Equal(t, []string{"oracle-licensees", "catalog-admins"}, pa.Groups(req("10.20.3.4:5000")), "groups from the proxy")
	assert.Empty(t, pa.Groups(req("192.0.2.1:5000")), "headers from elsewhere are ignored")
	repo := "registry.corp/golden/licensed/oracle"
	assert.True(t, cfg.Access.policy.For(pa.Groups(req("10.20.3.4:5000"))...).Visible(repo))
	assert.False(t, cfg.Access.policy.For(pa.Groups(req("192.0.2.1:5000"))...).Visible(repo))

	for name, body := range map[string]string{
		"bad pattern":              "access: {rules: [{name: a, repositories: [licensed/*], level: l}]}\n",
		"webhook groups, no rules": "webhooks: [{url: 'https://h', secret: s, groups: [x]}]\n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		require.NoError(t, os.WriteFile(p, []byte("store: {sqlite: a.db}\ngolden: {location: r/g}\nsigning: {key: k, certificate: c, verify: v}\nosv: {path: o}\n"+body), 0o644))
		_, err := loadConfig(p)
		assert.Error(t, err, name)
	}
}
