package acquire_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"crypto/x509/pkix"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"oras.land/oras-go/v2"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/sbom/scalibr"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/clamav"
	"github.com/cssc-go/cssc/scan/clamav/clamdtest"
	"github.com/cssc-go/cssc/scan/osv"
	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"
)

const testPolicy = `
apiVersion: cssc.dev/policy/v1
name: test-golden
mode: %s
sources:
  allowed: ["127.0.0.1:*/**"]
vulnerabilities:
  maxSeverity: high
  unfixed: report
licenses:
  denied: ["GPL-3.0-only", "AGPL-3.0-only"]
  unknown: warn
sbom: {required: true}
provenance: {required: true}
malware: {required: %t}
lifecycle: {minDaysBeforeEndOfLife: 30}
`

// pipeFixture is a source registry seeded with the sample images, a registry
// holding quarantine and golden, an enterprise signing key and the
// pipeline configuration that ties them together. Everything is real:
// registries on loopback, notation signatures over a generated chain, the
// OSV matcher on the bundled database, osv-scalibr's extractors, and clamd
// when it is installed.
type pipeFixture struct {
	src, dst     *registrytest.Registry
	client       *registry.Client
	world        *sample.World
	cfg          acquire.Config
	enterprise   sign.Verifier
	enterpriseCA *devpki.CA
	malware      bool
}

type pipeOptions struct {
	mode         string
	srcKind      registrytest.Kind
	dstKind      registrytest.Kind
	dstMiddle    func(http.Handler) http.Handler
	srcMiddle    func(http.Handler) http.Handler
	noClamd      bool
	extraScanner scan.Scanner
	onePass      bool // SBOM generation and clamd fed from one walk
}

func newPipeFixture(t testing.TB, o pipeOptions) *pipeFixture {
	t.Helper()
	ctx := context.Background()
	if o.mode == "" {
		o.mode = "enforce"
	}
	if o.srcKind == "" {
		o.srcKind = registrytest.OCI
	}
	if o.dstKind == "" {
		o.dstKind = registrytest.OCI
	}
	f := &pipeFixture{
		src: registrytest.Start(t, o.srcKind, registrytest.Options{Middleware: o.srcMiddle}),
		dst: registrytest.Start(t, o.dstKind, registrytest.Options{Middleware: o.dstMiddle}),
	}
	f.client = registry.NewClient(registry.Options{PlainHTTP: []string{f.src.Host, f.dst.Host}, MaxRetries: 2, MaxRetryAfter: 10 * time.Millisecond})

	var scanners []scan.Scanner
	db, err := osv.LoadFS(ctx, sample.OSV(), osv.Options{})
	require.NoError(t, err)
	scanners = append(scanners, osv.NewScanner(db))
	var eicar []byte
	if !o.noClamd && clamdtest.Binary() != "" {
		srv := clamdtest.Start(t, clamdtest.Options{})
		cl, err := clamav.New(clamav.Options{Address: srv.Address})
		require.NoError(t, err)
		t.Cleanup(func() { cl.Close() })
		scanners = append(scanners, cl)
		eicar, f.malware = clamdtest.EICAR(), true
	}
	if o.extraScanner != nil {
		scanners = append(scanners, o.extraScanner)
	}
	f.world, err = sample.Seed(ctx, f.src.Client, f.src.Host, sample.Options{EICAR: eicar})
	require.NoError(t, err)

	// The enterprise key, and verifiers for it and for the publisher.
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{})
	require.NoError(t, err)
	leaf, err := ca.Issue(devpki.LeafOptions{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Corp"}, CommonName: "Corp Golden Signing"}})
	require.NoError(t, err)
	signer, err := notation.NewSigner(leaf.Key, leaf.Chain, notation.SignerOptions{})
	require.NoError(t, err)
	f.enterprise = newVerifier(t, "corp", ca, "C=US, ST=WA, O=Corp, CN=Corp Golden Signing")
	f.enterpriseCA = ca
	// The publisher's trust policy names its repositories, as for
	// `notation verify` at the source (no "*" scope).
	var sources []string
	for _, img := range f.world.Images {
		sources = append(sources, registry.Join(f.src.Host, img.Name))
	}
	publisher := newVerifier(t, "publisher", f.world.PublisherCA, f.world.PublisherIdentity, sources...)

	doc, err := policy.Parse(fmt.Appendf(nil, testPolicy, o.mode, f.malware))
	require.NoError(t, err)
	pol, err := policy.Compile(doc)
	require.NoError(t, err)

	f.cfg = acquire.Config{
		Client:                    f.client,
		Quarantine:                registry.Join(f.dst.Host, "quarantine"),
		Golden:                    registry.Join(f.dst.Host, "golden"),
		PublisherVerifier:         publisher,
		Scanners:                  scanners,
		SBOM:                      scalibrEnricher(o.onePass),
		Provenance:                &attest.ProvenanceEnricher{BuilderID: "https://corp.example/acquire", BuilderVersion: "test"},
		Lifecycle:                 &attest.LifecycleEnricher{EndOfLife: time.Now().AddDate(1, 0, 0).UTC().Truncate(24 * time.Hour)},
		Signer:                    signer,
		EnterpriseVerifier:        f.enterprise,
		Policy:                    pol,
		PolicyRef:                 &attest.PolicyRef{Name: "test-golden", Digest: digest.Digest(pol.Digest())},
		PromotePublisherArtifacts: true,
	}
	return f
}

// scalibrEnricher generates with sbom/scalibr; with onePass it can also be fed
// from the walk the pipeline shares with clamd.
func scalibrEnricher(onePass bool) *attest.SBOMEnricher {
	e := &attest.SBOMEnricher{Generate: func(ctx context.Context, s *attest.Subject) (*sbom.Document, error) {
		return scalibr.Generate(ctx, s.Content, s.Descriptor, scalibr.Options{})
	}}
	if onePass {
		e.Start = func(ctx context.Context, s *attest.Subject) (attest.SBOMFiles, error) {
			return scalibr.Start(s.Descriptor, scalibr.Options{})
		}
	}
	return e
}

func newVerifier(t testing.TB, name string, ca *devpki.CA, identity string, scopes ...string) *notation.Verifier {
	t.Helper()
	v, err := sample.Verifier(name, ca, identity, scopes...)
	require.NoError(t, err)
	return v
}

func (f *pipeFixture) pipeline(t testing.TB) *acquire.Pipeline {
	t.Helper()
	p, err := acquire.NewPipeline(f.cfg)
	require.NoError(t, err)
	return p
}

func (f *pipeFixture) location(name string) string {
	return registry.Join(f.src.Host, name) + ":" + sample.Tag
}

func (f *pipeFixture) golden(t *testing.T, name string) registry.Repository {
	return f.dst.Repository(t, "golden/"+name)
}

func (f *pipeFixture) quarantine(t *testing.T, name string) registry.Repository {
	return f.dst.Repository(t, "quarantine/"+name)
}

// referrerTypes counts the referrers of subject by artifact type.
func referrerTypes(t *testing.T, repo registry.Repository, subject ocispec.Descriptor) map[string]int {
	t.Helper()
	refs, err := registry.Referrers(context.Background(), repo, subject, "")
	require.NoError(t, err)
	out := map[string]int{}
	for _, r := range refs {
		out[r.ArtifactType]++
	}
	return out
}

func TestPipelineSamples(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx := context.Background()
	f := newPipeFixture(t, pipeOptions{})
	p := f.pipeline(t)

	for _, tc := range []struct {
		name    string
		outcome acquire.Outcome
		failed  string // policy rule expected to fail
	}{
		{sample.Clean, acquire.OutcomePromoted, ""},
		{sample.Vulnerable, acquire.OutcomeDenied, policy.RuleVulnerabilities},
		{sample.Signed, acquire.OutcomePromoted, ""},
		{sample.Multi, acquire.OutcomePromoted, ""},
		{sample.Malware, acquire.OutcomeDenied, policy.RuleMalware},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == sample.Malware && !f.malware {
				t.Skip("clamd is not installed (apt-get install clamav-daemon); .ci/run installs it")
			}
			rec, err := p.Run(ctx, f.location(tc.name), acquire.RunOptions{})
			require.NotNil(t, rec)
			assert.Equal(t, tc.outcome, rec.Outcome, "outcome: %s (%s)", rec.Outcome, rec.Reason)
			require.NotNil(t, rec.Decision, "decision recorded")

			golden := f.golden(t, tc.name)
			_, gerr := golden.Resolve(ctx, sample.Tag)
			if tc.outcome == acquire.OutcomeDenied {
				assert.ErrorIs(t, err, acquire.ErrPolicyDenied)
				res, ok := rec.Decision.Result(tc.failed)
				require.True(t, ok, "rule %s evaluated", tc.failed)
				assert.Equal(t, policy.Fail, res.Verdict, "rule %s: %s", tc.failed, res.Reason)
				assert.ErrorIs(t, gerr, registry.ErrNotFound, "a denied image must not reach golden")
				_, qerr := f.quarantine(t, tc.name).Resolve(ctx, rec.Digest.String())
				assert.NoError(t, qerr, "a denied image stays in quarantine")
				return
			}
			require.NoError(t, err)
			require.NoError(t, gerr, "golden tag")
			root, err := golden.Resolve(ctx, sample.Tag)
			require.NoError(t, err)
			assert.Equal(t, rec.SourceDigest, root.Digest, "digest kept from source to golden")

			// Golden holds the signed image with its artifacts.
			v, err := f.enterprise.Verify(ctx, golden, root)
			require.NoError(t, err)
			assert.True(t, v.Verified(), "golden root signed by the enterprise key: %+v", v.Signatures)
			types := referrerTypes(t, golden, root)
			assert.Equal(t, 1, types[artifact.TypeLifecycle], "lifecycle marker: %v", types)
			assert.GreaterOrEqual(t, types[artifact.TypeInToto], 2, "provenance and verification summary: %v", types)
			assert.GreaterOrEqual(t, types[artifact.TypeNotarySignature], 1, "signature: %v", types)

			// Every platform has an SBOM and a vulnerability report, signed.
			for _, ar := range rec.Artifacts {
				assert.NotEmpty(t, ar.Signature, "artifact %s (%s) signed", ar.Digest, ar.Kind)
				desc, err := golden.Resolve(ctx, ar.Digest.String())
				require.NoError(t, err, "artifact %s (%s) promoted", ar.Digest, ar.Kind)
				av, err := f.enterprise.Verify(ctx, golden, desc)
				require.NoError(t, err)
				assert.True(t, av.Verified(), "artifact %s (%s) signature verifies in golden", ar.Digest, ar.Kind)
			}
			platforms := max(1, len(rec.Platforms))
			count := func(kind string) int {
				n := 0
				for _, a := range rec.Artifacts {
					if a.Kind == kind {
						n++
					}
				}
				return n
			}
			assert.Equal(t, platforms, count("vulnerability-report"), "one vulnerability report per platform")
			if f.malware {
				assert.Equal(t, platforms, count("malware-report"), "one malware report per platform")
			}
			if tc.name == sample.Signed {
				assert.Equal(t, 1, count("sbom"), "cssc's SBOM is attached beside the publisher's")
				assert.Equal(t, 2, types[artifact.TypeSPDX], "the publisher's SBOM and cssc's are promoted: %v", types)
				assert.GreaterOrEqual(t, types[artifact.TypeNotarySignature], 2, "publisher and enterprise signatures promoted: %v", types)
				s := rec.Step(acquire.StepSignatures)
				require.NotNil(t, s)
				assert.Equal(t, acquire.VerdictOK, s.Verdict, s.Reason)
				assert.Contains(t, s.Reason, "Example Publisher")
			} else {
				assert.Equal(t, platforms, count("sbom"), "a generated SBOM per platform")
			}
		})
	}
}

func TestPipelineRerunIsCheapNoop(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx := context.Background()
	var head, get atomic.Int64
	f := newPipeFixture(t, pipeOptions{noClamd: true, srcMiddle: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/manifests/") {
				if r.Method == http.MethodHead {
					head.Add(1)
				} else {
					get.Add(1)
				}
			}
			h.ServeHTTP(w, r)
		})
	}})
	p := f.pipeline(t)
	first, err := p.Run(ctx, f.location(sample.Clean), acquire.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, acquire.OutcomePromoted, first.Outcome, first.Reason)
	root, err := f.golden(t, sample.Clean).Resolve(ctx, sample.Tag)
	require.NoError(t, err)
	before := referrerTypes(t, f.golden(t, sample.Clean), root)

	head.Store(0)
	get.Store(0)
	second, err := p.Run(ctx, f.location(sample.Clean), acquire.RunOptions{})
	require.NoError(t, err)
	assert.Equal(t, acquire.OutcomeUnchanged, second.Outcome, second.Reason)
	assert.Equal(t, int64(1), head.Load()+get.Load(), "an unchanged image costs one upstream request (HEAD %d, GET %d)", head.Load(), get.Load())
	assert.Equal(t, before, referrerTypes(t, f.golden(t, sample.Clean), root), "a rerun adds nothing to golden")
}

// TestPipelineResume kills a run after each step and reruns it: the rerun
// finishes, reuses what the killed run attached, and leaves no duplicates.
func TestPipelineResume(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	for _, killAfter := range []acquire.StepName{acquire.StepImport, acquire.StepProvenance, acquire.StepSBOM, acquire.StepReports, acquire.StepSign, acquire.StepPolicy} {
		t.Run(string(killAfter), func(t *testing.T) {
			ctx := context.Background()
			f := newPipeFixture(t, pipeOptions{noClamd: true})
			runCtx, kill := context.WithCancel(ctx)
			f.cfg.OnEvent = func(e acquire.Event) {
				if e.Step == killAfter && e.Verdict != "" {
					kill()
				}
			}
			p := f.pipeline(t)
			rec, err := p.Run(runCtx, f.location(sample.Clean), acquire.RunOptions{})
			require.Error(t, err, "the killed run fails")
			assert.Equal(t, acquire.OutcomeError, rec.Outcome)
			assert.ErrorIs(t, err, context.Canceled)
			_, gerr := f.golden(t, sample.Clean).Resolve(ctx, sample.Tag)
			assert.ErrorIs(t, gerr, registry.ErrNotFound, "nothing in golden after a killed run")

			f.cfg.OnEvent = nil
			rec, err = f.pipeline(t).Run(ctx, f.location(sample.Clean), acquire.RunOptions{})
			require.NoError(t, err)
			require.Equal(t, acquire.OutcomePromoted, rec.Outcome, rec.Reason)

			q := f.quarantine(t, sample.Clean)
			root, err := q.Resolve(ctx, sample.Tag)
			require.NoError(t, err)
			types := referrerTypes(t, q, root)
			assert.Equal(t, 1, types[artifact.TypeInToto], "one provenance in quarantine: %v", types)
			assert.Equal(t, 1, types[artifact.TypeLifecycle], "one lifecycle marker: %v", types)
			assert.Equal(t, 1, types[artifact.TypeSPDX], "one SBOM: %v", types)
			assert.Equal(t, 1, types[artifact.TypeSARIF], "one report: %v", types)
			assert.Equal(t, 1, types[artifact.TypeNotarySignature], "one enterprise signature on the image: %v", types)
		})
	}
}

// TestPipelineFaults injects a fault at each step: in every case nothing
// reaches golden and the record names the step and the reason.
func TestPipelineFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	var failGolden, failSource atomic.Bool
	fail500 := func(match func(*http.Request) bool) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if match(r) {
					http.Error(w, "injected fault", http.StatusInternalServerError)
					return
				}
				h.ServeHTTP(w, r)
			})
		}
	}
	for _, tc := range []struct {
		name    string
		opts    pipeOptions
		prepare func(*pipeFixture)
		ctx     func() (context.Context, context.CancelFunc)
		step    acquire.StepName
		outcome acquire.Outcome
		wantErr error
	}{
		{
			name: "source registry 5xx",
			opts: pipeOptions{srcMiddle: fail500(func(r *http.Request) bool {
				return failSource.Load() && strings.Contains(r.URL.Path, "/blobs/")
			})},
			prepare: func(*pipeFixture) { failSource.Store(true) },
			step:    acquire.StepImport, outcome: acquire.OutcomeError,
		},
		{
			name: "scanner error",
			opts: pipeOptions{extraScanner: scan.ScannerFunc(func(context.Context, *scan.Image) (*scan.Report, error) {
				return nil, errors.New("scanner database unavailable")
			})},
			step: acquire.StepScan, outcome: acquire.OutcomeError,
		},
		{
			name: "scan times out",
			opts: pipeOptions{extraScanner: scan.ScannerFunc(func(ctx context.Context, _ *scan.Image) (*scan.Report, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			})},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 3*time.Second)
			},
			step: acquire.StepScan, outcome: acquire.OutcomeError, wantErr: context.DeadlineExceeded,
		},
		{
			name: "malware found",
			opts: pipeOptions{extraScanner: scan.ScannerFunc(func(_ context.Context, img *scan.Image) (*scan.Report, error) {
				return &scan.Report{Kind: artifact.ReportKindMalware, Tool: scan.Tool{Name: "custom-av"}, Subject: img.Manifest.Digest,
					Findings: []scan.Finding{{ID: "Win.Test.EICAR_HDB-1", Path: "tmp/eicar.com", Severity: scan.SeverityCritical}}}, nil
			})},
			step: acquire.StepPolicy, outcome: acquire.OutcomeDenied, wantErr: acquire.ErrPolicyDenied,
		},
		{
			name: "golden registry 5xx while promoting",
			opts: pipeOptions{dstMiddle: fail500(func(r *http.Request) bool {
				return failGolden.Load() && strings.Contains(r.URL.Path, "/golden/") && r.Method != http.MethodGet && r.Method != http.MethodHead
			})},
			prepare: func(*pipeFixture) { failGolden.Store(true) },
			step:    acquire.StepPromote, outcome: acquire.OutcomeError,
		},
		{
			name: "bad publisher signature is reported, not trusted",
			prepare: func(f *pipeFixture) {
				f.cfg.PublisherVerifier = newVerifier(t, "other", mustCA(t), "C=US, ST=WA, O=Other, CN=Other")
			},
			step: acquire.StepSignatures, outcome: acquire.OutcomePromoted,
		},
		{
			name: "cancelled context",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			step: acquire.StepImport, outcome: acquire.OutcomeError, wantErr: context.Canceled,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.noClamd = true
			f := newPipeFixture(t, tc.opts)
			if tc.prepare != nil {
				tc.prepare(f)
			}
			defer failGolden.Store(false)
			defer failSource.Store(false)
			ctx, cancel := context.WithCancel(context.Background())
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			name := sample.Clean
			if tc.step == acquire.StepSignatures {
				name = sample.Signed
			}
			rec, err := f.pipeline(t).Run(ctx, f.location(name), acquire.RunOptions{})
			require.NotNil(t, rec)
			assert.Equal(t, tc.outcome, rec.Outcome, "outcome (%s)", rec.Reason)
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
			}
			if tc.outcome == acquire.OutcomeError {
				require.Error(t, err)
				assert.Equal(t, tc.step, rec.FailedStep, "failed step: %s", rec.Reason)
				var se *acquire.StepError
				assert.ErrorAs(t, err, &se)
			}
			if tc.outcome == acquire.OutcomePromoted {
				s := rec.Step(tc.step)
				require.NotNil(t, s)
				assert.Equal(t, acquire.VerdictFailed, s.Verdict, "%s: %s", tc.step, s.Reason)
				return
			}
			failGolden.Store(false)
			_, gerr := f.golden(t, name).Resolve(context.Background(), sample.Tag)
			assert.ErrorIs(t, gerr, registry.ErrNotFound, "nothing tagged in golden")
		})
	}
}

func mustCA(t *testing.T) *devpki.CA {
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{})
	require.NoError(t, err)
	return ca
}

func TestPipelineAuditMode(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	f := newPipeFixture(t, pipeOptions{mode: "audit", noClamd: true})
	rec, err := f.pipeline(t).Run(context.Background(), f.location(sample.Vulnerable), acquire.RunOptions{})
	require.NoError(t, err)
	assert.Equal(t, acquire.OutcomeAudited, rec.Outcome, rec.Reason)
	assert.True(t, rec.Decision.WouldDeny)
	assert.Contains(t, rec.Reason, policy.RuleVulnerabilities)

	// The verification summary in golden says what really happened.
	ctx := context.Background()
	golden := f.golden(t, sample.Vulnerable)
	root, err := golden.Resolve(ctx, sample.Tag)
	require.NoError(t, err)
	md, err := attest.Discover(ctx, golden, root, nil)
	require.NoError(t, err)
	var found bool
	for _, it := range md.For(root.Digest) {
		if it.PredicateType != artifact.PredicateVerificationSummaryV1 {
			continue
		}
		require.NotNil(t, it.Statement, "VSA readable: %v", it.Err)
		vsa, decision, err := attest.ParseVerificationSummary(it.Statement)
		require.NoError(t, err)
		assert.Equal(t, "FAILED", vsa.GetVerificationResult(), "audit mode let a failing image through: the summary must not say PASSED")
		require.NotNil(t, decision)
		assert.Equal(t, "audit", decision.Mode)
		found = true
	}
	assert.True(t, found, "verification summary attached in golden")
}

func TestNewPipelineFailsClosed(t *testing.T) {
	f := newPipeFixture(t, pipeOptions{noClamd: true})
	for name, mutate := range map[string]func(*acquire.Config){
		"no client":      func(c *acquire.Config) { c.Client = nil },
		"no quarantine":  func(c *acquire.Config) { c.Quarantine = "" },
		"no golden":      func(c *acquire.Config) { c.Golden = "" },
		"no scanners":    func(c *acquire.Config) { c.Scanners = nil },
		"nil scanner":    func(c *acquire.Config) { c.Scanners = []scan.Scanner{nil} },
		"no signer":      func(c *acquire.Config) { c.Signer = nil },
		"no policy":      func(c *acquire.Config) { c.Policy = nil },
		"same locations": func(c *acquire.Config) { c.Golden = c.Quarantine },
		"bad location":   func(c *acquire.Config) { c.Golden = "https://registry.corp/golden" },
		"bad lifecycle":  func(c *acquire.Config) { c.Lifecycle = &attest.LifecycleEnricher{Rules: []attest.LifecycleRule{{}}} },
		"sbom enricher that does not generate": func(c *acquire.Config) {
			c.SBOM = attest.EnricherFunc(func(context.Context, *attest.Subject) ([]registry.Artifact, error) { return nil, nil })
		},
		"sbom enricher without Generate": func(c *acquire.Config) { c.SBOM = &attest.SBOMEnricher{} },
		"nil enricher":                   func(c *acquire.Config) { c.Enrichers = []attest.Enricher{nil} },
		"unnamed policy without PolicyRef": func(c *acquire.Config) {
			c.Policy, c.PolicyRef = unnamedPolicy{c.Policy}, nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := f.cfg
			mutate(&cfg)
			_, err := acquire.NewPipeline(cfg)
			assert.ErrorIs(t, err, acquire.ErrInvalidConfig)
		})
	}
}

// unnamedPolicy wraps a policy and hides its Name and Digest.
type unnamedPolicy struct{ acquire.Policy }

// TestPipelineConfigShape: a wrapped policy works once it is named, the
// steps run in the documented order, a step that is not configured is
// skipped (not failed), and a custom lifecycle enricher's marker gives the
// end of life.
func TestPipelineConfigShape(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx := context.Background()
	f := newPipeFixture(t, pipeOptions{noClamd: true})
	var evaluated int
	inner := f.cfg.Policy
	f.cfg.Policy = unnamedPolicy{policyFunc(func(ctx context.Context, ev *policy.Evidence) policy.Decision {
		evaluated++
		return inner.Evaluate(ctx, ev)
	})}
	f.cfg.PolicyRef = &attest.PolicyRef{Name: "wrapped", Digest: digest.FromString("wrapped policy")}
	eol := time.Date(2031, 2, 3, 0, 0, 0, 0, time.UTC)
	f.cfg.Lifecycle = attest.EnricherFunc(func(_ context.Context, s *attest.Subject) ([]registry.Artifact, error) {
		return []registry.Artifact{attest.LifecycleArtifact(eol, s.Time, "custom-eol")}, nil
	})
	rec, err := f.pipeline(t).Run(ctx, f.location(sample.Clean), acquire.RunOptions{})
	require.NoError(t, err, rec.Reason)
	assert.Equal(t, acquire.OutcomePromoted, rec.Outcome, rec.Reason)
	assert.Equal(t, 1, evaluated, "the wrapped policy decided")
	var names []acquire.StepName
	for _, s := range rec.Steps {
		names = append(names, s.Name)
	}
	assert.Equal(t, acquire.Steps(), names, "steps in the documented order")
	lc := rec.Step(acquire.StepLifecycle)
	require.NotNil(t, lc)
	assert.Equal(t, acquire.VerdictOK, lc.Verdict, lc.Reason)
	ps := rec.Step(acquire.StepPolicy)
	require.NotNil(t, ps)
	ev, ok := ps.Outputs["evidence"].(*policy.Evidence)
	require.True(t, ok, "evidence recorded: %T", ps.Outputs["evidence"])
	assert.Equal(t, eol, ev.EndOfLife, "end of life from the custom marker")

	// No SBOM generator: the SBOM step is skipped (the OSV scanner then
	// has no SBOM to match and fails the run).
	f.cfg.SBOM = nil
	rec, err = f.pipeline(t).Run(ctx, f.location(sample.Vulnerable), acquire.RunOptions{})
	require.Error(t, err)
	assert.Equal(t, acquire.StepScan, rec.FailedStep, rec.Reason)
	s := rec.Step(acquire.StepSBOM)
	require.NotNil(t, s)
	assert.Equal(t, acquire.VerdictSkipped, s.Verdict, s.Reason)
	assert.Contains(t, s.Reason, "no SBOM generator configured")
}

// policyFunc adapts a function to acquire.Policy.
type policyFunc func(ctx context.Context, ev *policy.Evidence) policy.Decision

func (f policyFunc) Evaluate(ctx context.Context, ev *policy.Evidence) policy.Decision {
	return f(ctx, ev)
}

// panickingRule is a custom policy rule that fails in the worst way.
type panickingRule struct{}

func (panickingRule) Name() string { return "custom-panics" }
func (panickingRule) Evaluate(context.Context, *policy.Evidence) policy.RuleResult {
	panic("rule bug")
}

func TestPipelinePolicyRuleError(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	f := newPipeFixture(t, pipeOptions{noClamd: true})
	pol, err := policy.Compile(f.cfg.Policy.(*policy.Policy).Document(), policy.WithRule(panickingRule{}))
	require.NoError(t, err)
	f.cfg.Policy = pol
	rec, err := f.pipeline(t).Run(context.Background(), f.location(sample.Clean), acquire.RunOptions{})
	assert.ErrorIs(t, err, acquire.ErrPolicyDenied)
	assert.Equal(t, acquire.OutcomeDenied, rec.Outcome, rec.Reason)
	assert.Contains(t, rec.Reason, "custom-panics")
	_, gerr := f.golden(t, sample.Clean).Resolve(context.Background(), sample.Tag)
	assert.ErrorIs(t, gerr, registry.ErrNotFound)
	assert.Nil(t, rec.Step(acquire.StepSign), "a denied image is not signed")
}

// TestPipelineTagMoves: a new digest behind a known tag is a new run; the
// golden tag moves only once the new image passes, and the record keeps the
// previous golden digest.
func TestPipelineTagMoves(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx := context.Background()
	f := newPipeFixture(t, pipeOptions{noClamd: true})
	p := f.pipeline(t)
	first, err := p.Run(ctx, f.location(sample.Clean), acquire.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, acquire.OutcomePromoted, first.Outcome)

	// Upstream retags: first to a vulnerable image, then to a fixed one.
	src := f.src.Repository(t, sample.Clean)
	retag := func(from string) {
		d, err := f.src.Repository(t, from).Resolve(ctx, sample.Tag)
		require.NoError(t, err)
		require.NoError(t, oras.CopyGraph(ctx, f.src.Repository(t, from), src, d, oras.DefaultCopyGraphOptions))
		require.NoError(t, src.Tag(ctx, d, sample.Tag))
	}
	retag(sample.Vulnerable)
	denied, err := p.Run(ctx, f.location(sample.Clean), acquire.RunOptions{})
	assert.ErrorIs(t, err, acquire.ErrPolicyDenied)
	assert.NotEqual(t, first.Digest, denied.Digest, "a new digest behind the tag")
	cur, err := f.golden(t, sample.Clean).Resolve(ctx, sample.Tag)
	require.NoError(t, err)
	assert.Equal(t, first.Digest, cur.Digest, "the golden tag stays on the last approved digest")

	retag(sample.Multi)
	moved, err := p.Run(ctx, f.location(sample.Clean), acquire.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, acquire.OutcomePromoted, moved.Outcome, moved.Reason)
	assert.Equal(t, first.Digest, moved.PreviousGoldenDigest, "previous golden digest recorded")
	cur, err = f.golden(t, sample.Clean).Resolve(ctx, sample.Tag)
	require.NoError(t, err)
	assert.Equal(t, moved.Digest, cur.Digest, "the golden tag moved to the approved digest")
}
