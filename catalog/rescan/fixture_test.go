package rescan_test

import (
	"context"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/rescan"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/osv"
	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"
)

const identity = "C=US, ST=WA, O=Corp, CN=Corp Golden Signing"

// pki is the enterprise key, written to files so that worker processes
// load the same one.
type pki struct {
	keyPath, chainPath, caPath string
}

func newPKI(t testing.TB, dir string) pki {
	t.Helper()
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{})
	require.NoError(t, err)
	leaf, err := ca.Issue(devpki.LeafOptions{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Corp"}, CommonName: "Corp Golden Signing"}})
	require.NoError(t, err)
	key, err := devpki.KeyPEM(leaf.Key)
	require.NoError(t, err)
	p := pki{keyPath: filepath.Join(dir, "golden.key"), chainPath: filepath.Join(dir, "golden.crt"), caPath: filepath.Join(dir, "ca.crt")}
	require.NoError(t, os.WriteFile(p.keyPath, key, 0o600))
	require.NoError(t, os.WriteFile(p.chainPath, devpki.CertificatesPEM(leaf.Chain...), 0o644))
	require.NoError(t, os.WriteFile(p.caPath, devpki.CertificatesPEM(ca.Certificate), 0o644))
	return p
}

func (p pki) signer(t testing.TB) *notation.Signer {
	t.Helper()
	s, err := notation.NewSignerFromFiles(p.keyPath, p.chainPath, notation.SignerOptions{})
	require.NoError(t, err)
	return s
}

func (p pki) verifier(t testing.TB) *notation.Verifier {
	t.Helper()
	raw, err := os.ReadFile(p.caPath)
	require.NoError(t, err)
	v, err := sample.VerifierPEM("corp", raw, identity)
	require.NoError(t, err)
	return v
}

// recorder is an event sink that keeps what it receives.
type recorder struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *recorder) Emit(_ context.Context, evs ...event.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, evs...)
	return nil
}

func (r *recorder) ofType(typ string) []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event.Event
	seen := map[string]bool{}
	for _, e := range r.events {
		if e.Type == typ && !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, e)
		}
	}
	return out
}

// queueStore is what the rescanner keeps its work in.
type queueStore = catalogtest.QueueStore

// fixture is a golden registry on loopback with catalog entries, the
// enterprise key, and a store.
type fixture struct {
	t       testing.TB
	reg     *registrytest.Registry
	pki     pki
	signer  sign.Signer
	verify  *notation.Verifier
	store   catalog.Store
	queue   queueStore
	events  *recorder
	entries []*catalog.Entry
}

type fixtureOptions struct {
	middleware func(next http.Handler) http.Handler
	store      catalog.Store
	queue      queueStore
}

func newFixture(t testing.TB, o fixtureOptions) *fixture {
	t.Helper()
	f := &fixture{t: t, events: &recorder{}}
	f.reg = registrytest.Start(t, registrytest.OCI, registrytest.Options{Middleware: o.middleware})
	f.pki = newPKI(t, t.TempDir())
	f.signer = f.pki.signer(t)
	f.verify = f.pki.verifier(t)
	f.store, f.queue = o.store, o.queue
	if f.store == nil {
		f.store = catalog.NewMemoryStore()
	}
	if f.queue == nil {
		f.queue = catalog.NewMemoryQueue()
	}
	return f
}

func (f *fixture) open(ctx context.Context, loc string) (registry.Repository, error) {
	return f.reg.Client.Repository(ctx, loc)
}

func (f *fixture) rescanner(t testing.TB, mod func(*rescan.Options)) *rescan.Rescanner {
	t.Helper()
	o := rescan.Options{Store: f.store, Queue: f.queue, Coordinator: f.queue, Sweeps: f.queue, Open: f.open,
		Signer: f.signer, Verifier: f.verify, Events: f.events, Retry: 50 * time.Millisecond, Poll: 20 * time.Millisecond,
		Interval: -1}
	if mod != nil {
		mod(&o)
	}
	r, err := rescan.New(o)
	require.NoError(t, err)
	return r
}

// pkg is a Debian package of the test images.
func deb(name, version, source string) catalog.Package {
	return catalog.Package{Name: name, Version: version, Ecosystem: "Debian:12", SourceName: source}
}

// seed pushes one image per package list to golden repositories and
// catalogs it: entries hold the packages of a trusted SBOM and no report
// yet.
func (f *fixture) seed(pkgLists ...[]catalog.Package) {
	t := f.t
	t.Helper()
	ctx := context.Background()
	for i, pkgs := range pkgLists {
		repoName := fmt.Sprintf("golden/app%d", i%7)
		repo := f.reg.Repository(t, repoName)
		img := imagetest.Image{Layers: []imagetest.Blob{
			imagetest.Layer(imagetest.File{Path: "etc/debian_version", Data: []byte("12.7\n")}), // shared base layer
			imagetest.Layer(imagetest.File{Path: "app/id", Data: fmt.Appendf(nil, "image %d\n", i)}),
		}}
		d, err := img.Push(ctx, repo)
		require.NoError(t, err)
		e := &catalog.Entry{
			Repository: f.reg.Location(repoName), Digest: d.Digest, MediaType: d.MediaType, Tags: []string{fmt.Sprintf("v%d", i)},
			Signature: catalog.Signature{Verified: true, Identities: []string{identity}},
			Children: []catalog.Child{{Digest: d.Digest, MediaType: d.MediaType, Platform: "linux/amd64",
				Signature: catalog.Signature{Verified: true, Identities: []string{identity}},
				SBOM:      &catalog.SBOM{Digest: digest.FromString(fmt.Sprintf("sbom %d", i)), Packages: len(pkgs)},
				Packages:  pkgs}},
			Problems: []catalog.Problem{{Subject: d.Digest, Evidence: catalog.EvidenceVulnReport, Reason: catalog.ReasonMissing}},
		}
		require.NoError(t, f.store.Put(ctx, e))
		got, err := f.store.Get(ctx, e.Repository, e.Digest)
		require.NoError(t, err)
		f.entries = append(f.entries, got)
	}
}

// entry returns the stored entry of the i-th seeded image.
func (f *fixture) entry(i int) *catalog.Entry {
	f.t.Helper()
	e, err := f.store.Get(context.Background(), f.entries[i].Repository, f.entries[i].Digest)
	require.NoError(f.t, err)
	return e
}

// reportOnRegistry is a SARIF report attached to an image, as the
// registry holds it.
type reportOnRegistry struct {
	desc     ocispec.Descriptor
	report   *scan.Report
	signed   bool // a verified enterprise signature
	sigCount int  // signature manifests attached to it
	created  string
}

// reports reads every SARIF report of kind attached to the i-th image,
// newest first.
func (f *fixture) reports(i int, kind string) []reportOnRegistry {
	t := f.t
	t.Helper()
	ctx := context.Background()
	e := f.entries[i]
	repo, err := f.open(ctx, e.Repository)
	require.NoError(t, err)
	subject, err := repo.Resolve(ctx, e.Digest.String())
	require.NoError(t, err)
	refs, err := registry.Referrers(ctx, repo, subject, artifact.TypeSARIF)
	require.NoError(t, err)
	var out []reportOnRegistry
	for _, d := range refs {
		if d.Annotations[artifact.AnnotationReportKind] != kind {
			continue
		}
		created := d.Annotations[ocispec.AnnotationCreated]
		d.Annotations = nil
		raw, err := manifest.Fetch(ctx, repo, d, 0)
		require.NoError(t, err)
		m, err := manifest.Parse(d.MediaType, raw)
		require.NoError(t, err)
		require.Len(t, m.Layers, 1)
		rc, err := repo.Fetch(ctx, m.Layers[0])
		require.NoError(t, err)
		data := make([]byte, m.Layers[0].Size)
		_, err = io.ReadFull(rc, data)
		rc.Close()
		require.NoError(t, err)
		rep, err := scan.DecodeSARIF(data)
		require.NoError(t, err)
		v, err := f.verify.Verify(ctx, repo, d)
		require.NoError(t, err)
		sigs, err := registry.Referrers(ctx, repo, d, artifact.TypeNotarySignature)
		require.NoError(t, err)
		out = append(out, reportOnRegistry{desc: d, report: rep, signed: v.Verified(), sigCount: len(sigs), created: created})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].created > out[b].created })
	return out
}

// findingIDs returns the ids of a report's findings, sorted.
func findingIDs(r *scan.Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.ID)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func entryFindingIDs(e *catalog.Entry) []string {
	var out []string
	for _, c := range e.Children {
		for _, f := range c.Findings {
			out = append(out, f.ID)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// osvDB builds a database from records (name -> JSON) written to dir, so
// that worker processes load the very same bytes.
func osvDB(t testing.TB, dir string, records map[string]string) *osv.DB {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for name, rec := range records {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".json"), []byte(rec), 0o644))
	}
	db, err := osv.Load(context.Background(), dir, osv.Options{})
	require.NoError(t, err)
	return db
}

// advisory writes an OSV record affecting a Debian 12 source package
// below fixed ("" means unfixed), with a CVSS vector for its severity.
func advisory(id, modified, source, fixed, severity string) string {
	events := `{"introduced":"0"}`
	if fixed != "" {
		events += `,{"fixed":"` + fixed + `"}`
	}
	vec := map[string]string{
		"critical": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
		"high":     "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
		"medium":   "CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:U/C:L/I:L/A:N",
		"low":      "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N",
	}[severity]
	return fmt.Sprintf(`{"id":%q,"modified":%q,"summary":"%s issue","severity":[{"type":"CVSS_V3","score":%q}],`+
		`"affected":[{"package":{"ecosystem":"Debian:12","name":%q},"ranges":[{"type":"ECOSYSTEM","events":[%s]}]}]}`,
		id, modified, source, vec, source, events)
}
