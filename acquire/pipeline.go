package acquire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/sign"
)

// Sentinel errors of the pipeline.
var (
	// ErrPolicyDenied: the policy denied the image; it stays in quarantine.
	// It is policy.ErrPolicyDenied.
	ErrPolicyDenied = policy.ErrPolicyDenied
	// ErrInvalidConfig: the pipeline configuration misses a required
	// component or has contradictory settings (returned by NewPipeline).
	ErrInvalidConfig = errors.New("invalid pipeline configuration")
)

// StepError says which step of a run failed, and why. Nothing is promoted
// after a StepError.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %s: %v", e.Step, e.Err) }

// Unwrap returns the cause.
func (e *StepError) Unwrap() error { return e.Err }

// SBOMGenerator makes an SBOM from the filesystem of one platform image
// manifest. sbom/scalibr provides the default; any function will do.
type SBOMGenerator func(ctx context.Context, repo content.Fetcher, manifest ocispec.Descriptor) (*sbom.Document, error)

// Config configures a Pipeline. Client, Quarantine, Golden, Scanners, Signer
// and Policy are required; NewPipeline fails without them (fail closed).
type Config struct {
	// Client opens the source, quarantine and golden repositories.
	// Required.
	Client *registry.Client
	// Quarantine and Golden are location prefixes (see registry.Location):
	// "registry.corp/quarantine", "oci:/var/lib/cssc/golden", "mem:golden".
	// The image's repository path is appended ("library/nginx"). Required
	// and different.
	Quarantine, Golden string

	// Importer copies source images into quarantine. Nil means
	// NewImporter(Client, ImporterOptions{Logger: Logger}).
	Importer Importer
	// Import is the template of every import; RunOptions override its
	// platforms and tags. The pipeline always adds two deny rules to
	// Import.Artifacts: publisher artifacts that claim to be cssc's own
	// (annotation artifact.AnnotationGeneratedBy), and publisher
	// lifecycle markers (a copied upstream marker once made supported
	// images look end-of-life).
	Import ImportOptions

	// Verifier verifies the publisher's signatures (step 3). Nil means
	// signatures are not verified; the step is recorded as skipped and a
	// policy that requires signatures denies.
	Verifier sign.Verifier
	// Scanners scan every platform of the image (step 5): at least one.
	Scanners []scan.Scanner
	// GenerateSBOM makes an SBOM for a platform without a publisher SBOM
	// (step 7). Nil means none is generated: vulnerability scanners that
	// need an SBOM then fail the run.
	GenerateSBOM SBOMGenerator
	// Provenance writes acquisition provenance (step 7). Nil means an
	// enricher whose BuilderID is VerifierID. Provenance is always written:
	// it also carries the run time that an interrupted run's rerun reuses,
	// so that regenerated artifacts keep their digests.
	Provenance *attest.ProvenanceEnricher
	// Lifecycle writes the end-of-life marker (step 8). Nil means none.
	Lifecycle *attest.LifecycleEnricher
	// Enrichers are further enrichers run on the root manifest after the
	// built-in ones; their artifacts are attached, signed and promoted.
	Enrichers []attest.Enricher
	// Signer signs the image, every platform manifest and every attached
	// artifact with the enterprise key (step 9). Required.
	Signer sign.Signer
	// SignatureVerifier, if set, verifies the enterprise signatures: a
	// subject that already carries a verified one is not signed again (a
	// rerun adds no signatures), and golden is checked before its tag
	// moves. Nil means every run signs afresh.
	SignatureVerifier sign.Verifier
	// Policy decides (step 10). Required.
	Policy *policy.Policy
	// PolicyRef names the policy in provenance and verification summaries.
	// Nil means the policy's name and digest.
	PolicyRef *attest.PolicyRef
	// VerifierID identifies this pipeline in verification summaries (a
	// URI). Empty means "https://github.com/cssc-go/cssc/acquire".
	VerifierID string
	// PromotePublisherArtifacts copies the publisher's artifacts that were
	// imported (signatures, SBOMs, attestations) to golden next to cssc's.
	// False promotes only the image and cssc's own artifacts.
	PromotePublisherArtifacts bool
	// Concurrency bounds how many images RunAll processes at once. Zero
	// or negative means 2.
	Concurrency int
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// OnEvent, if set, receives progress events. It may be called from
	// several goroutines at once and must return quickly.
	OnEvent func(Event)
	// OnPromoted, if set, is called when a run has promoted an image
	// (outcome promoted or audited), with its record, before Run returns.
	// The catalog subscribes here (catalog.Syncer.Promoted). It may be
	// called from several goroutines at once and must not modify the
	// record. Nil means nobody is told.
	OnPromoted func(ctx context.Context, rec *Record)
	// Logger receives logs. Nil means silent.
	Logger *slog.Logger
}

// Event is a progress event of a run.
type Event struct {
	Source  string // the source reference of the run
	Step    string // one of the Step constants
	Verdict string // "" when the step starts, else its verdict
	Message string
	// Blob is set for import progress events.
	Blob *BlobProgress
}

// Pipeline runs the Acquire stage for images: import into quarantine,
// verify, scan, enrich, sign, decide, promote. Build it with NewPipeline; it
// is safe for concurrent use.
type Pipeline struct {
	cfg Config
	log *slog.Logger

	// locks serialises runs that write the same golden repository (the
	// referrers fallback index is read-modify-write). Other processes are
	// not covered: run one pipeline per repository at a time.
	locks sync.Map // golden location -> *sync.Mutex
}

func (p *Pipeline) lock(golden string) func() {
	m, _ := p.locks.LoadOrStore(golden, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// NewPipeline checks cfg and returns a Pipeline.
func NewPipeline(cfg Config) (*Pipeline, error) {
	var missing []string
	if cfg.Client == nil {
		missing = append(missing, "Client")
	}
	if cfg.Quarantine == "" {
		missing = append(missing, "Quarantine")
	}
	if cfg.Golden == "" {
		missing = append(missing, "Golden")
	}
	if len(cfg.Scanners) == 0 {
		missing = append(missing, "Scanners")
	}
	if cfg.Signer == nil {
		missing = append(missing, "Signer")
	}
	if cfg.Policy == nil {
		missing = append(missing, "Policy")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: missing %s", ErrInvalidConfig, strings.Join(missing, ", "))
	}
	for i, s := range cfg.Scanners {
		if s == nil {
			return nil, fmt.Errorf("%w: Scanners[%d] is nil", ErrInvalidConfig, i)
		}
	}
	if q, g := strings.TrimSuffix(cfg.Quarantine, "/")+"/", strings.TrimSuffix(cfg.Golden, "/")+"/"; strings.HasPrefix(q, g) || strings.HasPrefix(g, q) {
		return nil, fmt.Errorf("%w: quarantine %q and golden %q overlap: an import could write into golden", ErrInvalidConfig, cfg.Quarantine, cfg.Golden)
	}
	for _, loc := range []string{cfg.Quarantine, cfg.Golden} {
		if _, err := registry.ParseLocation(registry.Join(loc, "probe/name")); err != nil {
			return nil, fmt.Errorf("%w: location %q: %w", ErrInvalidConfig, loc, err)
		}
	}
	if cfg.Lifecycle != nil {
		if err := cfg.Lifecycle.Validate(); err != nil {
			return nil, fmt.Errorf("%w: lifecycle: %w", ErrInvalidConfig, err)
		}
	}
	if cfg.PolicyRef == nil {
		cfg.PolicyRef = &attest.PolicyRef{Name: cfg.Policy.Name(), Digest: digest.Digest(cfg.Policy.Digest())}
	}
	if cfg.Importer == nil {
		cfg.Importer = NewImporter(cfg.Client, ImporterOptions{Logger: cfg.Logger})
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 2
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.VerifierID == "" {
		cfg.VerifierID = "https://github.com/cssc-go/cssc/acquire"
	}
	if cfg.Provenance == nil {
		cfg.Provenance = &attest.ProvenanceEnricher{BuilderID: cfg.VerifierID}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{cfg: cfg, log: log}, nil
}

// RunOptions configure one run. The zero value takes everything from the
// pipeline's Config.
type RunOptions struct {
	// Platforms, if not empty, imports and checks only these platforms
	// (see ImportOptions.Platforms).
	Platforms []string
	// Tags are extra tags for quarantine and golden.
	Tags []string
	// Repository overrides the repository path in quarantine and golden.
	// Empty means the source's path ("library/nginx").
	Repository string
}

// RunAll runs the pipeline for every source, at most Config.Concurrency at
// once, and returns their records in the order of sources. The error joins
// the errors of the runs that did not promote.
func (p *Pipeline) RunAll(ctx context.Context, sources []string, opts RunOptions) ([]*Record, error) {
	records := make([]*Record, len(sources))
	errs := make([]error, len(sources))
	sem := make(chan struct{}, p.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
				records[i], errs[i] = p.Run(ctx, src, opts)
			case <-ctx.Done():
				records[i] = &Record{Source: src, Outcome: OutcomeError, Reason: ctx.Err().Error(), Started: p.cfg.Now().UTC(), Finished: p.cfg.Now().UTC()}
				errs[i] = ctx.Err()
			}
		}()
	}
	wg.Wait()
	return records, errors.Join(errs...)
}

// Run runs the pipeline for one source image and returns its record. The
// record is never nil. The error is nil when the image was promoted, was
// unchanged, or passed in audit mode; it wraps ErrPolicyDenied when the
// policy denied it, and is a *StepError when a step could not complete.
// In every case but promotion nothing reaches golden.
func (p *Pipeline) Run(ctx context.Context, source string, opts RunOptions) (*Record, error) {
	r := &run{p: p, opts: opts, rec: &Record{Source: source, Started: p.cfg.Now().UTC()}}
	err := r.executeSafely(ctx)
	if r.rec.Artifacts == nil {
		// A run that ended early still says what it attached in quarantine.
		r.rec.Artifacts = r.attached
	}
	r.rec.Finished = p.cfg.Now().UTC()
	if err == nil && p.cfg.OnPromoted != nil && (r.rec.Outcome == OutcomePromoted || r.rec.Outcome == OutcomeAudited) {
		p.cfg.OnPromoted(ctx, r.rec)
	}
	if err != nil && r.rec.Outcome == "" {
		r.rec.Outcome = OutcomeError
		r.rec.Reason = err.Error()
		var se *StepError
		if errors.As(err, &se) {
			r.rec.FailedStep = se.Step
		}
	}
	p.log.Info("acquire: run finished", "source", source, "outcome", r.rec.Outcome, "reason", r.rec.Reason)
	return r.rec, err
}

// summary says in one line why a decision fell as it did.
func summary(d *policy.Decision) string {
	failed := d.Failed()
	if len(failed) == 0 {
		return fmt.Sprintf("policy %s: every rule passed", d.Policy)
	}
	parts := make([]string, len(failed))
	for i, f := range failed {
		parts[i] = f.Rule + ": " + f.Reason
	}
	return fmt.Sprintf("policy %s: %s", d.Policy, strings.Join(parts, "; "))
}
