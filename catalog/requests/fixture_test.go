package requests_test

import (
	"context"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/internal/storetest"
	"github.com/cssc-go/cssc/catalog/requests"
	"github.com/cssc-go/cssc/catalog/upstream"
	"github.com/cssc-go/cssc/examples/sample"
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
name: requests-test
mode: enforce
sources:
  allowed: ["127.0.0.1:*/**"]
vulnerabilities:
  maxSeverity: high
  unfixed: report
sbom: {required: true}
provenance: {required: true}
`

// stores is what a service needs from a store.
type stores struct {
	store catalog.Store
	reqs  catalog.RequestStore
	queue catalog.Queue
}

// storeKinds opens each kind of store: memory, SQLite, PostgreSQL. A
// second open in the same test gives another handle on the same store.
func storeKinds() map[string]func(t *testing.T) func() stores {
	return storetest.Kinds(func(m *catalog.MemoryStore, q *catalog.MemoryQueue) stores { return stores{m, m, q} },
		func(s storetest.Store) stores { return stores{s, s, s} })
}

// world is what a worker needs to run the real pipeline: the source and
// golden registries' hosts and the enterprise key's files (so that a
// worker process loads the same).
type world struct {
	src, dst string
	pkiDir   string
}

// newWorld starts a source registry seeded with the sample images and a
// registry for quarantine and golden, and writes the enterprise PKI.
func newWorld(t *testing.T) world {
	t.Helper()
	ctx := context.Background()
	src := registrytest.Start(t, registrytest.OCI)
	dst := registrytest.Start(t, registrytest.OCI)
	_, err := sample.Seed(ctx, src.Client, src.Host, sample.Options{})
	require.NoError(t, err)
	dir := t.TempDir()
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{})
	require.NoError(t, err)
	leaf, err := ca.Issue(devpki.LeafOptions{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Corp"}, CommonName: "Corp Golden Signing"}})
	require.NoError(t, err)
	key, err := devpki.KeyPEM(leaf.Key)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "golden.key"), key, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "golden.crt"), devpki.CertificatesPEM(leaf.Chain...), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ca.crt"), devpki.CertificatesPEM(ca.Certificate), 0o644))
	return world{src: src.Host, dst: dst.Host, pkiDir: dir}
}

func (w world) golden() string { return registry.Join(w.dst, "golden") }

// source returns the source reference of a sample image.
func (w world) source(name string) string { return registry.Join(w.src, name) + ":" + sample.Tag }

// rules allow the source registry and approve its "library/" images.
func (w world) rules() requests.Rules {
	return requests.Rules{
		Sources:     []string{w.src + "/**"},
		AutoApprove: []requests.Rule{{Name: "library", Match: []string{w.src + "/library/*"}}},
	}
}

// parts are a worker's real parts: the registry client, the enterprise
// signer and verifier, the pipeline, and the syncer that indexes
// promotions into store.
type parts struct {
	client   *registry.Client
	signer   sign.Signer
	verifier sign.Verifier
	pipeline *acquire.Pipeline
	syncer   *catalog.Syncer
	acquirer upstream.Acquirer
}

// newParts builds the parts; wrap, if set, wraps the enterprise signer
// (the kill test watches signatures).
func (w world) newParts(t testing.TB, store catalog.Store, wrap func(sign.Signer) sign.Signer) *parts {
	t.Helper()
	ctx := context.Background()
	p := &parts{client: registry.NewClient(registry.Options{PlainHTTP: []string{w.src, w.dst}, MaxRetries: -1})}
	s, err := notation.NewSignerFromFiles(filepath.Join(w.pkiDir, "golden.key"), filepath.Join(w.pkiDir, "golden.crt"), notation.SignerOptions{})
	require.NoError(t, err)
	p.signer = s
	if wrap != nil {
		p.signer = wrap(s)
	}
	raw, err := os.ReadFile(filepath.Join(w.pkiDir, "ca.crt"))
	require.NoError(t, err)
	v, err := sample.VerifierPEM("corp", raw, corpIdentity)
	require.NoError(t, err)
	p.verifier = v
	cataloger, err := catalog.NewCataloger(catalog.CatalogerOptions{Verifier: v, Identities: []string{corpIdentity}})
	require.NoError(t, err)
	p.syncer, err = catalog.NewSyncer(p.client, cataloger, store, catalog.SyncOptions{})
	require.NoError(t, err)
	db, err := osv.LoadFS(ctx, sample.OSV(), osv.Options{})
	require.NoError(t, err)
	doc, err := policy.Parse([]byte(testPolicy))
	require.NoError(t, err)
	pp, err := policy.Compile(doc)
	require.NoError(t, err)
	p.pipeline, err = acquire.NewPipeline(acquire.Config{
		Client:     p.client,
		Quarantine: registry.Join(w.dst, "quarantine"),
		Golden:     w.golden(),
		Scanners:   []scan.Scanner{osv.NewScanner(db)},
		SBOM: &attest.SBOMEnricher{Generate: func(ctx context.Context, s *attest.Subject) (*sbom.Document, error) {
			return scalibr.Generate(ctx, s.Content, s.Descriptor, scalibr.Options{})
		}},
		Lifecycle:                 &attest.LifecycleEnricher{EndOfLife: time.Date(2028, 6, 30, 0, 0, 0, 0, time.UTC)},
		Signer:                    p.signer,
		EnterpriseVerifier:        v,
		Policy:                    pp,
		PromotePublisherArtifacts: true,
	})
	require.NoError(t, err)
	p.acquirer = upstream.PipelineAcquirer{Pipeline: p.pipeline, Golden: w.golden()}
	return p
}
