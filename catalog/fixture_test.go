package catalog_test

import (
	"context"
	"crypto/x509/pkix"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/sqlite"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/sbom/scalibr"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/osv"
	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"
)

const corpIdentity = "C=US, ST=WA, O=Corp, CN=Corp Golden Signing"

var endOfLife = time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)

const testPolicy = `
apiVersion: cssc.dev/policy/v1
name: catalog-test
mode: enforce
sources:
  allowed: ["127.0.0.1:*/**"]
vulnerabilities:
  maxSeverity: high
  unfixed: report
sbom: {required: true}
provenance: {required: true}
`

// counter counts the requests a registry serves, by method and kind
// (manifests, blobs, tags, referrers, catalog), and can fail requests.
type counter struct {
	mu     sync.Mutex
	counts map[string]int
	// fail, if set, answers 500 to the requests it matches.
	fail atomic.Pointer[func(r *http.Request) bool]
}

func newCounter() *counter { return &counter{counts: map[string]int{}} }

func (c *counter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := "other"
		for _, k := range []string{"/manifests/", "/blobs/", "/tags/", "/referrers/", "/_catalog"} {
			if strings.Contains(r.URL.Path, k) {
				kind = strings.Trim(k, "/_")
			}
		}
		c.mu.Lock()
		c.counts[r.Method+" "+kind]++
		c.mu.Unlock()
		if f := c.fail.Load(); f != nil && (*f)(r) {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (c *counter) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = map[string]int{}
	return out
}

// fixture is a source registry seeded with the sample images, a registry
// holding quarantine and golden (counted), the enterprise key, a pipeline
// that promotes into golden and tells a Syncer, and the Syncer's SQLite
// store. Everything is real.
type fixture struct {
	src, dst   *registrytest.Registry
	count      *counter
	client     *registry.Client
	signer     sign.Signer
	rogue      sign.Signer // a key the enterprise does not trust
	verifier   sign.Verifier
	cataloger  *catalog.RegistryCataloger
	store      *sqlite.Store
	syncer     *catalog.Syncer
	pipeline   *acquire.Pipeline
	golden     string // golden prefix
	hookErrors atomic.Int32
}

// newFixture starts the fixture; golden, if given, is the golden prefix
// (an OCI layout, say) instead of the counted registry.
func newFixture(t *testing.T, golden ...string) *fixture {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end with real registries, notation and the OSV matcher")
	}
	ctx := context.Background()
	f := &fixture{count: newCounter()}
	f.src = registrytest.Start(t, registrytest.OCI)
	f.dst = registrytest.Start(t, registrytest.OCI, registrytest.Options{Middleware: f.count.middleware})
	f.client = registry.NewClient(registry.Options{PlainHTTP: []string{f.src.Host, f.dst.Host}, MaxRetries: -1})
	f.golden = registry.Join(f.dst.Host, "golden")
	if len(golden) > 0 {
		f.golden = golden[0]
	}
	_, err := sample.Seed(ctx, f.src.Client, f.src.Host, sample.Options{})
	require.NoError(t, err)

	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{})
	require.NoError(t, err)
	leaf, err := ca.Issue(devpki.LeafOptions{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Corp"}, CommonName: "Corp Golden Signing"}})
	require.NoError(t, err)
	f.signer, err = notation.NewSigner(leaf.Key, leaf.Chain, notation.SignerOptions{})
	require.NoError(t, err)
	f.verifier, err = sample.Verifier("corp", ca, corpIdentity)
	require.NoError(t, err)
	// The rogue key has the very same subject, from another CA.
	rogueCA, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{})
	require.NoError(t, err)
	rogueLeaf, err := rogueCA.Issue(devpki.LeafOptions{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Corp"}, CommonName: "Corp Golden Signing"}})
	require.NoError(t, err)
	f.rogue, err = notation.NewSigner(rogueLeaf.Key, rogueLeaf.Chain, notation.SignerOptions{})
	require.NoError(t, err)

	f.cataloger, err = catalog.NewCataloger(catalog.CatalogerOptions{Verifier: f.verifier, Identities: []string{corpIdentity}})
	require.NoError(t, err)
	f.store = openStore(t)
	f.syncer = f.newSyncer(t, f.store)

	db, err := osv.LoadFS(ctx, sample.OSV(), osv.Options{})
	require.NoError(t, err)
	doc, err := policy.Parse([]byte(testPolicy))
	require.NoError(t, err)
	pol, err := policy.Compile(doc)
	require.NoError(t, err)
	f.pipeline, err = acquire.NewPipeline(acquire.Config{
		Client:     f.client,
		Quarantine: registry.Join(f.dst.Host, "quarantine"),
		Golden:     f.golden,
		Scanners:   []scan.Scanner{osv.NewScanner(db)},
		SBOM: &attest.SBOMEnricher{Generate: func(ctx context.Context, s *attest.Subject) (*sbom.Document, error) {
			return scalibr.Generate(ctx, s.Content, s.Descriptor, scalibr.Options{})
		}},
		Lifecycle:                 &attest.LifecycleEnricher{EndOfLife: endOfLife},
		Signer:                    f.signer,
		EnterpriseVerifier:        f.verifier,
		Policy:                    pol,
		PromotePublisherArtifacts: true,
		OnPromoted:                f.syncer.Promoted,
	})
	require.NoError(t, err)
	return f
}

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "catalog.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func (f *fixture) newSyncer(t *testing.T, s catalog.Store) *catalog.Syncer {
	t.Helper()
	sy, err := catalog.NewSyncer(f.client, f.cataloger, s, catalog.SyncOptions{})
	require.NoError(t, err)
	return sy
}

// promote runs the pipeline for a sample image and requires promotion.
func (f *fixture) promote(t *testing.T, name string) *acquire.Record {
	t.Helper()
	rec, err := f.pipeline.Run(context.Background(), registry.Join(f.src.Host, name)+":"+sample.Tag, acquire.RunOptions{})
	require.NoError(t, err, "run %s: %s", name, rec.Reason)
	require.Equal(t, acquire.OutcomePromoted, rec.Outcome, rec.Reason)
	return rec
}

func (f *fixture) goldenRepo(t *testing.T, name string) registry.Repository {
	t.Helper()
	repo, err := f.client.Repository(context.Background(), registry.Join(f.golden, name))
	require.NoError(t, err)
	return repo
}

func (f *fixture) entry(t *testing.T, s catalog.Store, name string, d digest.Digest) *catalog.Entry {
	t.Helper()
	e, err := s.Get(context.Background(), registry.Join(f.golden, name), d)
	require.NoError(t, err, "entry of %s@%s", name, d)
	return e
}

// hasProblem reports whether e names a problem of evidence and reason
// about subject (any subject when empty).
func hasProblem(e *catalog.Entry, subject digest.Digest, evidence, reason string) bool {
	for _, p := range e.Problems {
		if (subject == "" || p.Subject == subject) && p.Evidence == evidence && p.Reason == reason {
			return true
		}
	}
	return false
}

func problems(e *catalog.Entry) string {
	var b strings.Builder
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  %s %s %s %s: %s", p.Subject, p.Evidence, p.Reason, p.Artifact, p.Detail)
	}
	return b.String()
}
