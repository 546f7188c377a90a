package upstream_test

import (
	"context"
	"crypto/x509/pkix"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/internal/eventtest"
	"github.com/cssc-go/cssc/catalog/internal/storetest"
	"github.com/cssc-go/cssc/catalog/lifecycle"
	"github.com/cssc-go/cssc/catalog/upstream"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/internal/pgtest"
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

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const corpIdentity = "C=US, ST=WA, O=Corp, CN=Corp Golden Signing"

const testPolicy = `
apiVersion: cssc.dev/policy/v1
name: upstream-test
mode: enforce
sources:
  allowed: ["127.0.0.1:*/**"]
vulnerabilities:
  maxSeverity: high
  unfixed: report
sbom: {required: true}
provenance: {required: true}
`

// clock is the injected clock of trackers and lifecycle runners.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// counter counts the requests a registry serves, by method and kind
// ("HEAD manifests", "GET manifests", "GET tags", ...), and can answer
// requests itself (faults, lying headers).
type counter struct {
	mu     sync.Mutex
	counts map[string]int
	// hook, if set, may answer a request itself (it returns true) or add
	// to the response's headers.
	hook atomic.Pointer[func(w http.ResponseWriter, r *http.Request) bool]
}

func newCounter() *counter { return &counter{counts: map[string]int{}} }

func (c *counter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := "other"
		for _, k := range []string{"/manifests/", "/blobs/", "/tags/", "/referrers/"} {
			if strings.Contains(r.URL.Path, k) {
				kind = strings.Trim(k, "/")
			}
		}
		c.mu.Lock()
		c.counts[r.Method+" "+kind]++
		c.mu.Unlock()
		if h := c.hook.Load(); h != nil && (*h)(w, r) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (c *counter) set(h func(w http.ResponseWriter, r *http.Request) bool) {
	if h == nil {
		c.hook.Store(nil)
		return
	}
	c.hook.Store(&h)
}

func (c *counter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = map[string]int{}
	return out
}

// stores is what a tracker needs from a store.
type stores struct {
	store  catalog.Store
	tracks catalog.TrackStore
	queue  catalog.Queue
	coord  catalog.Coordinator
	sweeps catalog.SweepLog
}

// storeKinds opens each kind of store: memory, SQLite, PostgreSQL. A
// second open in the same test gives another handle on the same store
// (SQLite: the file again; PostgreSQL: another pool), as a restarted or
// second instance has.
func storeKinds() map[string]func(t *testing.T) func() stores {
	return storetest.Kinds(func(m *catalog.MemoryStore, q *catalog.MemoryQueue) stores { return stores{m, m, q, q, q} },
		func(s storetest.Store) stores { return stores{s, s, s, s, s} })
}

// fixture is a source registry (counted) seeded with the sample images, a
// registry holding quarantine and golden, the enterprise key, a real
// pipeline that promotes into golden, a Syncer and a lifecycle Runner on
// the store, and a tracker. Everything is real.
type fixture struct {
	t         *testing.T
	ctx       context.Context
	src, dst  *registrytest.Registry
	count     *counter
	client    *registry.Client
	signer    sign.Signer
	verifier  sign.Verifier
	st        stores
	open      func() stores
	syncer    *catalog.Syncer
	lifecycle *lifecycle.Runner
	pipeline  *acquire.Pipeline
	tracker   *upstream.Tracker
	golden    string
	clock     *clock
	events    *eventtest.Sink
}

func newFixture(t *testing.T, open func() stores, tune ...func(*upstream.Options)) *fixture {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end with real registries, notation, the OSV matcher and the pipeline")
	}
	ctx := context.Background()
	f := &fixture{t: t, ctx: ctx, count: newCounter(), open: open, events: &eventtest.Sink{},
		clock: &clock{t: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}}
	f.src = registrytest.Start(t, registrytest.OCI, registrytest.Options{Middleware: f.count.middleware})
	f.dst = registrytest.Start(t, registrytest.OCI)
	f.client = registry.NewClient(registry.Options{PlainHTTP: []string{f.src.Host, f.dst.Host}, MaxRetries: -1})
	f.golden = registry.Join(f.dst.Host, "golden")
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

	f.st = open()
	cataloger, err := catalog.NewCataloger(catalog.CatalogerOptions{Verifier: f.verifier, Identities: []string{corpIdentity}})
	require.NoError(t, err)
	f.syncer, err = catalog.NewSyncer(f.client, cataloger, f.st.store, catalog.SyncOptions{OnTagEvent: func(te catalog.TagEvent) {
		if ev, err := event.TagMoved("/catalog/sync", te); err == nil && ev != nil {
			_ = f.events.Emit(ctx, *ev)
		}
	}})
	require.NoError(t, err)
	pol, err := lifecycle.Compile(lifecycle.Config{Window: lifecycle.Duration{Duration: 30 * 24 * time.Hour}})
	require.NoError(t, err)
	f.lifecycle, err = lifecycle.New(lifecycle.Options{Store: f.st.store, Policy: pol, Open: f.client.Repository, Signer: f.signer,
		Verifier: f.verifier, Identities: []string{corpIdentity}, Events: f.events, Coordinator: f.st.coord, Now: f.clock.Now})
	require.NoError(t, err)

	db, err := osv.LoadFS(ctx, sample.OSV(), osv.Options{})
	require.NoError(t, err)
	doc, err := policy.Parse([]byte(testPolicy))
	require.NoError(t, err)
	pp, err := policy.Compile(doc)
	require.NoError(t, err)
	f.pipeline, err = acquire.NewPipeline(acquire.Config{
		Client:     f.client,
		Quarantine: registry.Join(f.dst.Host, "quarantine"),
		Golden:     f.golden,
		Scanners:   []scan.Scanner{osv.NewScanner(db)},
		SBOM: &attest.SBOMEnricher{Generate: func(ctx context.Context, s *attest.Subject) (*sbom.Document, error) {
			return scalibr.Generate(ctx, s.Content, s.Descriptor, scalibr.Options{})
		}},
		Lifecycle:                 &attest.LifecycleEnricher{EndOfLife: time.Date(2028, 6, 30, 0, 0, 0, 0, time.UTC)},
		Signer:                    f.signer,
		EnterpriseVerifier:        f.verifier,
		Policy:                    pp,
		PromotePublisherArtifacts: true,
		OnPromoted: func(ctx context.Context, rec *acquire.Record) {
			f.syncer.Promoted(ctx, rec)
			f.tracker.Promoted(ctx, rec)
		},
	})
	require.NoError(t, err)
	f.tracker = f.newTracker(f.st, tune...)
	return f
}

// newTracker returns a tracker on st (an instance), sweeping by hand.
func (f *fixture) newTracker(st stores, tune ...func(*upstream.Options)) *upstream.Tracker {
	f.t.Helper()
	o := upstream.Options{
		Tracks: st.tracks, Queue: st.queue, Coordinator: st.coord, Sweeps: st.sweeps, Store: st.store,
		Registry:  registry.Options{PlainHTTP: []string{f.src.Host}},
		Acquirer:  upstream.PipelineAcquirer{Pipeline: f.pipeline, Golden: f.golden},
		Syncer:    f.syncer,
		Lifecycle: f.lifecycle,
		Events:    f.events,
		Interval:  -1,
		Poll:      10 * time.Millisecond,
		Now:       f.clock.Now,
	}
	for _, fn := range tune {
		fn(&o)
	}
	tr, err := upstream.New(o)
	require.NoError(f.t, err)
	return tr
}

// promote runs the pipeline for a sample image and requires promotion.
func (f *fixture) promote(name string) *acquire.Record {
	f.t.Helper()
	rec, err := f.pipeline.Run(f.ctx, registry.Join(f.src.Host, name)+":"+sample.Tag, acquire.RunOptions{})
	require.NoError(f.t, err, "run %s: %s", name, rec.Reason)
	require.Equal(f.t, acquire.OutcomePromoted, rec.Outcome, rec.Reason)
	return rec
}

// sweep runs one sweep to its end with tracker (f.tracker if nil) and
// returns its record.
func (f *fixture) sweep(trs ...*upstream.Tracker) *catalog.Sweep {
	f.t.Helper()
	tr := f.tracker
	if len(trs) > 0 {
		tr = trs[0]
	}
	sw, err := tr.Sweep(f.ctx)
	require.NoError(f.t, err)
	require.NotNil(f.t, sw)
	ctx, cancel := context.WithTimeout(f.ctx, 2*time.Minute)
	defer cancel()
	require.NoError(f.t, tr.Drain(ctx))
	got, err := f.st.sweeps.Sweep(f.ctx, sw.ID)
	require.NoError(f.t, err)
	return got
}

// debian returns the files of a Debian 12 image with pkgs.
func debian(extra string, pkgs ...imagetest.Package) []imagetest.File {
	return []imagetest.File{
		imagetest.OSRelease("debian", "12", "bookworm"),
		imagetest.DpkgStatus(pkgs...),
		{Path: "etc/debian_version", Data: []byte("12.7\n")},
		{Path: "etc/build", Data: []byte(extra)},
	}
}

var cleanPackages = []imagetest.Package{
	{Name: "base-files", Version: "12.4+deb12u8"},
	{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Source: "zlib"},
	{Name: "libc6", Version: "2.36-9+deb12u9", Source: "glibc"},
}

var vulnerablePackages = append(cleanPackages[:2:2],
	imagetest.Package{Name: "libssl3", Version: "3.0.11-1~deb12u2", Source: "openssl"},
	imagetest.Package{Name: "openssl", Version: "3.0.11-1~deb12u2"})

// publish pushes an image to the source repository name and moves tag to
// it, as a publisher's rebuild does.
func (f *fixture) publish(name, tag, build string, pkgs []imagetest.Package) ocispec.Descriptor {
	f.t.Helper()
	repo := f.src.Repository(f.t, name)
	d, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(debian(build, pkgs...)...)}}.Push(f.ctx, repo)
	require.NoError(f.t, err)
	require.NoError(f.t, repo.Tag(f.ctx, d, tag))
	return d
}

// goldenTag returns what the golden tag points at.
func (f *fixture) goldenTag(name, tag string) digest.Digest {
	f.t.Helper()
	repo, err := f.client.Repository(f.ctx, registry.Join(f.golden, name))
	require.NoError(f.t, err)
	d, err := repo.Resolve(f.ctx, tag)
	require.NoError(f.t, err)
	return d.Digest
}

func (f *fixture) track(name string) *catalog.Track {
	f.t.Helper()
	tr, err := f.tracker.Track(f.ctx, registry.Join(f.golden, name), sample.Tag)
	require.NoError(f.t, err)
	return tr
}
