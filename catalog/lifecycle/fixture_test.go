package lifecycle_test

import (
	"context"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/lifecycle"
	"github.com/cssc-go/cssc/catalog/postgres"
	"github.com/cssc-go/cssc/catalog/sqlite"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/internal/pgtest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// clock is the injected clock of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// world is a golden registry with real enterprise and publisher PKIs, a
// notation signer and verifier, and the default cataloger.
type world struct {
	t         testing.TB
	ctx       context.Context
	reg       *registrytest.Registry
	identity  string
	signer    *notation.Signer
	verifier  *notation.Verifier
	publisher *notation.Signer
	cataloger *catalog.RegistryCataloger
	clock     *clock

	mu     sync.Mutex
	events []event.Event
}

func newWorld(t testing.TB, kind registrytest.Kind, opts ...registrytest.Options) *world {
	t.Helper()
	w := &world{t: t, ctx: context.Background(), reg: registrytest.Start(t, kind, opts...), clock: &clock{}}
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"},
		Organization: []string{"Example Corp"}, CommonName: "Example Corp Root CA"}})
	require.NoError(t, err)
	leaf, err := ca.Issue(devpki.LeafOptions{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"},
		Organization: []string{"Example Corp"}, CommonName: "Golden Signing"}})
	require.NoError(t, err)
	w.identity = "C=US, ST=WA, O=Example Corp, CN=Golden Signing"
	w.signer, err = notation.NewSigner(leaf.Key, leaf.Chain, notation.SignerOptions{})
	require.NoError(t, err)
	w.verifier, err = sample.Verifier("enterprise", ca, w.identity)
	require.NoError(t, err)

	pca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{Subject: pkix.Name{Organization: []string{"Upstream Publisher"}, CommonName: "Upstream Root"}})
	require.NoError(t, err)
	pleaf, err := pca.Issue(devpki.LeafOptions{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"},
		Organization: []string{"Upstream Publisher"}, CommonName: "Upstream Release"}})
	require.NoError(t, err)
	w.publisher, err = notation.NewSigner(pleaf.Key, pleaf.Chain, notation.SignerOptions{})
	require.NoError(t, err)

	w.cataloger, err = catalog.NewCataloger(catalog.CatalogerOptions{Verifier: w.verifier, Identities: []string{w.identity},
		Require: []string{catalog.EvidenceSignature, catalog.EvidenceSBOM}})
	require.NoError(t, err)
	return w
}

func (w *world) repo(name string) registry.Repository { return w.reg.Repository(w.t, name) }

func (w *world) location(name string) string { return w.reg.Location(name) }

// debianGo are the packages of an image on Debian 12 with a Go 1.22
// binary.
var debianGo = []sbom.Package{
	{Name: "base-files", Version: "12.4+deb12u7", PURL: "pkg:deb/debian/base-files@12.4%2Bdeb12u7?arch=amd64&distro=bookworm", Licenses: []string{"GPL-2.0-or-later"}},
	{Name: "libc6", Version: "2.36-9+deb12u8", PURL: "pkg:deb/debian/libc6@2.36-9%2Bdeb12u8?arch=amd64&distro=bookworm&upstream=glibc", Licenses: []string{"LGPL-2.1-only"}},
	{Name: "stdlib", Version: "1.22.5", PURL: "pkg:golang/stdlib@1.22.5"},
}

// pushImage pushes a golden image with an enterprise-signed SBOM, tagged
// with tags, and returns its descriptor.
func (w *world) pushImage(name string, seed uint64, pkgs []sbom.Package, tags ...string) ocispec.Descriptor {
	w.t.Helper()
	repo := w.repo(name)
	img, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "seed", Data: imagetest.Random(seed, 64)})}}.Push(w.ctx, repo)
	require.NoError(w.t, err)
	img.Platform = nil
	for _, tag := range tags {
		require.NoError(w.t, repo.Tag(w.ctx, img, tag))
	}
	for i := range pkgs {
		pkgs[i].Ecosystem = sbom.Ecosystem(pkgs[i].PURL)
	}
	spdx, err := sbom.EncodeSPDX(&sbom.Document{Name: name, Created: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), Packages: pkgs},
		sbom.SPDXOptions{Subject: img.Digest.String()})
	require.NoError(w.t, err)
	_, err = attest.Attach(w.ctx, repo, img, time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), registry.Artifact{
		ArtifactType: artifact.TypeSPDX, Blobs: []registry.Blob{{MediaType: artifact.MediaTypeSPDX, Data: spdx}}})
	require.NoError(w.t, err)
	_, err = sign.SignTree(w.ctx, w.signer, repo, img, sign.TreeOptions{})
	require.NoError(w.t, err)
	return img
}

// attachMarker attaches a date-only lifecycle marker (the acquire
// pipeline's kind), signed by signer (nil: unsigned).
func (w *world) attachMarker(name string, img ocispec.Descriptor, eol string, created time.Time, signer sign.Signer, generatedBy string) digest.Digest {
	w.t.Helper()
	repo := w.repo(name)
	a := registry.Artifact{ArtifactType: artifact.TypeLifecycle, Created: created, Annotations: map[string]string{
		artifact.AnnotationEndOfLife: eol, artifact.AnnotationCreated: attest.FormatDate(created)}}
	if generatedBy != "" {
		a.Annotations[artifact.AnnotationGeneratedBy] = generatedBy
	}
	d, err := registry.Attach(w.ctx, repo, img, a)
	require.NoError(w.t, err)
	if signer != nil {
		d.Annotations = nil
		_, err = signer.Sign(w.ctx, repo, d)
		require.NoError(w.t, err)
	}
	return d.Digest
}

// catalogInto catalogs the image tagged tag into store, with its tags.
func (w *world) catalogInto(store catalog.Store, name string, img ocispec.Descriptor, tags ...string) *catalog.Entry {
	w.t.Helper()
	e, err := w.cataloger.Catalog(w.ctx, w.repo(name), img.Digest.String())
	require.NoError(w.t, err)
	e.Tags = tags
	require.NoError(w.t, store.Put(w.ctx, e))
	m := map[string]digest.Digest{}
	for _, t := range tags {
		m[t] = img.Digest
	}
	_, err = store.RecordTags(w.ctx, e.Repository, m, w.clock.Now(), false)
	require.NoError(w.t, err)
	got, err := store.Get(w.ctx, e.Repository, e.Digest)
	require.NoError(w.t, err)
	return got
}

func (w *world) runner(store catalog.Store, cfg lifecycle.Config, opts ...func(*lifecycle.Options)) *lifecycle.Runner {
	w.t.Helper()
	p, err := lifecycle.Compile(cfg)
	require.NoError(w.t, err)
	o := lifecycle.Options{
		Store: store, Policy: p, Open: w.reg.Client.Repository, Signer: w.signer, Verifier: w.verifier,
		Identities: []string{w.identity}, Now: w.clock.Now,
		Events: event.Func(func(_ context.Context, e event.Event) error {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.events = append(w.events, e)
			return nil
		}),
	}
	if sl, ok := store.(catalog.SweepLog); ok {
		o.Sweeps = sl
	}
	if co, ok := store.(catalog.Coordinator); ok {
		o.Coordinator = co
	}
	for _, f := range opts {
		f(&o)
	}
	r, err := lifecycle.New(o)
	require.NoError(w.t, err)
	return r
}

// takeEvents returns the events received since the last call.
func (w *world) takeEvents() []event.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.events
	w.events = nil
	return out
}

// stores returns the catalog stores: memory, SQLite and PostgreSQL.
func stores(t *testing.T) map[string]func(t *testing.T) catalog.Store {
	return map[string]func(t *testing.T) catalog.Store{
		"memory": func(t *testing.T) catalog.Store { return catalog.NewMemoryStore() },
		"sqlite": func(t *testing.T) catalog.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "catalog.db"), sqlite.Options{})
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
		"postgres": func(t *testing.T) catalog.Store {
			s, err := postgres.Open(context.Background(), pgtest.New(t), postgres.Options{})
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
	}
}
