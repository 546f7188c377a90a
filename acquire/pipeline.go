package acquire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/imagefs"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry"
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
	Step StepName
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %s: %v", e.Step, e.Err) }

// Unwrap returns the cause.
func (e *StepError) Unwrap() error { return e.Err }

// Policy decides from evidence alone whether an image may be promoted.
// *policy.Policy (policy.Compile) implements it; so does any type that
// wraps one, for example to add rules or record decisions. A Policy that
// also has the methods Name() string and Digest() string (as
// *policy.Policy does) names itself in provenance and verification
// summaries; any other needs Config.PolicyRef.
type Policy interface {
	Evaluate(ctx context.Context, ev *policy.Evidence) policy.Decision
}

// Config configures a Pipeline. Client, Quarantine, Golden, Scanners, Signer
// and Policy are required; NewPipeline fails without them (fail closed).
//
// Everything cssc attaches to an image comes from an attest.Enricher: SBOM,
// Provenance, Lifecycle and Enrichers. Every artifact they return is
// attached in quarantine, marked as cssc's, signed and promoted.
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

	// PublisherVerifier verifies the publisher's signatures (step 3). They
	// are read in quarantine but judged under the source repository's name
	// (sign.VerifyAs): a notation trust policy is written for
	// "docker.io/library/nginx", as for `notation verify` upstream. Nil
	// means they are not verified; the step is recorded as skipped and a
	// policy that requires signatures denies.
	PublisherVerifier sign.Verifier
	// Scanners scan every platform of the image (step 5): at least one.
	// When SBOM is an attest.SBOMFileGenerator (attest.SBOMEnricher with
	// Start set), the scanners that read files (scan.FileScanner, such as
	// scan/clamav) are fed from the same walk as SBOM generation, in the
	// sbom step: each platform is decompressed and its layer digests
	// checked once; their reports are recorded in the scan step as usual.
	// Every report goes to the policy evidence, whatever its kind (a kind
	// the policy does not name is denied), and carries what its scanner
	// declares (scan.DeclarationOf): a malware requirement is met only by
	// a scanner that declares itself a malware scanner (scan/clamav does;
	// wrap another with scan.Declare).
	Scanners []scan.Scanner
	// Walk bounds the walk shared by SBOM generation and the file scanners
	// (see Scanners). Zero means imagefs's defaults.
	Walk imagefs.WalkOptions
	// SBOM generates cssc's SBOM of every platform (step 7): the pipeline
	// calls its GenerateSBOM (it must implement attest.SBOMGenerator, as
	// attest.SBOMEnricher with Generate set does) with Subject.Content set
	// to the quarantine repository, gives the document to the scanners,
	// then calls Enrich with it in Subject.SBOM (and no Subject.Metadata)
	// to attach it to every platform, beside the publisher's SBOM where
	// there is one: the catalog rescans only an SBOM the enterprise key
	// signed. Nil means no SBOM is generated: the step is
	// skipped, the scanners get the publisher's SBOM, and those that need
	// an SBOM fail the run where there is none.
	SBOM attest.Enricher
	// Provenance writes acquisition provenance (step 7). Nil means
	// &attest.ProvenanceEnricher{BuilderID: PipelineID}. Provenance is
	// always written: it also carries the run time that an interrupted
	// run's rerun reuses, so that regenerated artifacts keep their
	// digests; an enricher given here must therefore return exactly one
	// artifact, an in-toto statement whose SLSA provenance records the
	// run time (Subject.Time) as its start.
	Provenance attest.Enricher
	// Lifecycle writes the end-of-life marker (step 8), for instance an
	// *attest.LifecycleEnricher. The end of life in the policy evidence is
	// the date of the marker it returns (artifact.TypeLifecycle with the
	// annotation artifact.AnnotationEndOfLife). An enricher with a
	// Validate() error method is validated by NewPipeline. Nil means none.
	Lifecycle attest.Enricher
	// Enrichers are further enrichers run on the root manifest after the
	// built-in ones.
	Enrichers []attest.Enricher
	// Signer signs the image, every platform manifest and every attached
	// artifact with the enterprise key (step 9). Required.
	Signer sign.Signer
	// EnterpriseVerifier, if set, verifies the enterprise signatures
	// (those Signer makes): a subject that already carries a verified one
	// is not signed again (a rerun adds no signatures; the verifier must
	// report sign.Signature.Digest), cssc's own signatures are left out of
	// the publisher's, and golden is checked before its tag moves.
	// Enterprise signatures are judged under the golden repository's name,
	// also while they are still in quarantine, so its trust policy is
	// written for golden ("registry.corp/golden/library/nginx"). Nil means
	// every run signs afresh.
	EnterpriseVerifier sign.Verifier
	// Policy decides (step 10). Required.
	Policy Policy
	// PolicyRef names the policy in provenance and verification summaries,
	// and its digest tells a rerun whether the policy changed. Nil means
	// the policy's Name() and Digest(); required when Policy has neither.
	PolicyRef *attest.PolicyRef
	// PipelineID identifies this pipeline (a URI): the verifier id of
	// verification summaries and the builder id of the default
	// provenance. Empty means "https://github.com/cssc-go/cssc/acquire".
	PipelineID string
	// MaxPublisherMetadataBytes is the budget of the publisher metadata
	// read and parsed per image (attest.Options.MaxTotalBytes): the bytes
	// of the SBOMs, statements, envelopes and bundles found next to the
	// image and its platforms, plus attest.ValueCost per JSON value parsed
	// in them. More fails the run in the verify-metadata step with an error
	// wrapping attest.ErrBudgetExceeded (an *attest.BudgetError) before the
	// blob over it is read or parsed: the image stays in quarantine and the
	// record says why. cssc's own artifacts in quarantine do not count.
	// Zero means attest.DefaultMaxTotalBytes (48 MiB: a realistic SBOM of
	// 13 to 18 MiB, or several smaller ones, and at most about 170 MiB of
	// heap to parse whatever it holds).
	MaxPublisherMetadataBytes int64
	// PromotePublisherArtifacts copies the publisher's artifacts that were
	// imported (signatures, SBOMs, attestations) to golden next to cssc's.
	// False promotes only the image and cssc's own artifacts. Publisher
	// artifacts that pose as verdicts, scan reports (artifact.TypeSARIF)
	// and verification summaries (in-toto predicate
	// artifact.PredicateVerificationSummaryV1), are left in quarantine
	// unless PromotePublisherVerdicts names their type: unsigned by cssc,
	// a publisher's "PASSED, 0 results" next to cssc's own reads like one.
	PromotePublisherArtifacts bool
	// PromotePublisherVerdicts lists the artifact types and in-toto
	// predicate types of publisher verdicts that PromotePublisherArtifacts
	// copies all the same (artifact.TypeSARIF,
	// artifact.PredicateVerificationSummaryV1). Nil means none.
	PromotePublisherVerdicts []string
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
	Source  string   // the source reference of the run
	Step    StepName // the step
	Verdict Verdict  // "" when the step starts, else its verdict
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
	// A nil pointer in an interface field means "none", as nil does.
	cfg.SBOM, cfg.Provenance, cfg.Lifecycle = orNil(cfg.SBOM), orNil(cfg.Provenance), orNil(cfg.Lifecycle)
	if err := checkEnrichers(cfg); err != nil {
		return nil, err
	}
	if cfg.PolicyRef == nil {
		named, ok := cfg.Policy.(interface {
			Name() string
			Digest() string
		})
		if !ok {
			return nil, fmt.Errorf("%w: PolicyRef is required: the policy (%T) has no Name and Digest methods", ErrInvalidConfig, cfg.Policy)
		}
		cfg.PolicyRef = &attest.PolicyRef{Name: named.Name(), Digest: digest.Digest(named.Digest())}
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
	if cfg.PipelineID == "" {
		cfg.PipelineID = "https://github.com/cssc-go/cssc/acquire"
	}
	if cfg.Provenance == nil {
		cfg.Provenance = &attest.ProvenanceEnricher{BuilderID: cfg.PipelineID}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{cfg: cfg, log: log}, nil
}

// orNil returns nil for a nil pointer held in e, else e.
func orNil(e attest.Enricher) attest.Enricher {
	if v := reflect.ValueOf(e); e == nil || v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	return e
}

// checkEnrichers validates the enrichers of cfg that can be validated, and
// checks that the SBOM enricher generates SBOMs.
func checkEnrichers(cfg Config) error {
	if v, ok := cfg.Lifecycle.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("%w: lifecycle: %w", ErrInvalidConfig, err)
		}
	}
	for i, e := range cfg.Enrichers {
		if e == nil {
			return fmt.Errorf("%w: Enrichers[%d] is nil", ErrInvalidConfig, i)
		}
	}
	if cfg.SBOM == nil {
		return nil
	}
	if _, ok := cfg.SBOM.(attest.SBOMGenerator); !ok {
		return fmt.Errorf("%w: the SBOM enricher (%T) does not generate SBOMs (attest.SBOMGenerator)", ErrInvalidConfig, cfg.SBOM)
	}
	if e, ok := cfg.SBOM.(*attest.SBOMEnricher); ok && e.Generate == nil {
		return fmt.Errorf("%w: the SBOM enricher has no Generate function", ErrInvalidConfig)
	}
	return nil
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
// In every case but promotion nothing reaches golden; after a denial no
// golden tag points at the denied digest (see OutcomeDenied), and the
// error also says which tag could not be withdrawn, if one could not.
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
	// The level says what happened: a promotion (or nothing to do) is
	// information, a denial deserves a look, an error is an error.
	level := slog.LevelInfo
	switch r.rec.Outcome {
	case OutcomeDenied, OutcomeAudited:
		level = slog.LevelWarn
	case OutcomeError:
		level = slog.LevelError
	}
	p.log.Log(ctx, level, "acquire: run finished", "source", source, "outcome", r.rec.Outcome, "reason", r.rec.Reason)
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
