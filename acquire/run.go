package acquire

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/sign"
)

// run is the state of one Pipeline.Run.
type run struct {
	p    *Pipeline
	opts RunOptions
	rec  *Record

	src      registry.Location
	repoPath string
	qrepo    registry.Repository
	grepo    registry.Repository
	imported *Imported
	root     ocispec.Descriptor
	images   []platformImage // the platform manifests (one for a single manifest)
	meta     *attest.Metadata
	t        time.Time // the run time every generated artifact is created at
	eol      time.Time // the end of life of the marker attached, zero if none

	verification *sign.Verification
	reports      []*scan.Report
	attached     []ArtifactRecord     // cssc artifacts in quarantine
	signatures   []ocispec.Descriptor // cssc signatures, in quarantine
	decision     *policy.Decision
	previous     map[string]digest.Digest // golden tag -> digest it pointed at before this promotion
}

// platformImage is one image manifest of the subject with what the run
// learnt about it.
type platformImage struct {
	desc     ocispec.Descriptor
	platform *ocispec.Platform
	sbom     *sbom.Document // what the vulnerability scanners match: cssc's own when a generator is configured
	sbomFrom string         // policy.SourcePublisher or policy.SourceGenerated: who supplied an SBOM
	pubSBOM  *sbom.Document // the publisher's, for licences and the record
	// fileScans holds the results of the file scanners that ran in the
	// SBOM step's shared walk, by index in Config.Scanners; the scan step
	// reports them instead of walking again.
	fileScans map[int]fileScanResult
}

// fileScanResult is the outcome of a file scanner fed by the shared walk.
type fileScanResult struct {
	report *scan.Report
	err    error
}

func (pi platformImage) name() string {
	if pi.platform == nil {
		return ""
	}
	s := pi.platform.OS + "/" + pi.platform.Architecture
	if pi.platform.Variant != "" {
		s += "/" + pi.platform.Variant
	}
	return s
}

// step runs fn as the step name, recording its verdict and timing. fn
// returns the verdict, a reason and outputs; an error makes the step (and
// the run) fail.
func (r *run) step(ctx context.Context, name StepName, fn func(ctx context.Context) (verdict Verdict, reason string, outputs map[string]any, err error)) error {
	if err := ctx.Err(); err != nil {
		return &StepError{Step: name, Err: err}
	}
	r.emit(Event{Step: name})
	start := r.p.cfg.Now()
	verdict, reason, outputs, err := fn(ctx)
	if err != nil {
		verdict, reason = VerdictError, err.Error()
	}
	r.rec.Steps = append(r.rec.Steps, Step{Name: name, Verdict: verdict, Reason: reason, Started: start.UTC(), Duration: r.p.cfg.Now().Sub(start), Outputs: outputs})
	r.emit(Event{Step: name, Verdict: verdict, Message: reason})
	if err != nil {
		return &StepError{Step: name, Err: err}
	}
	return nil
}

func (r *run) emit(e Event) {
	if r.p.cfg.OnEvent != nil {
		e.Source = r.rec.Source
		r.p.cfg.OnEvent(e)
	}
}

// executeSafely runs execute and turns a panic in a plug-in (scanner,
// signer, enricher) into a failed run: nothing is promoted.
func (r *run) executeSafely(ctx context.Context) (err error) {
	defer func() {
		if v := recover(); v != nil {
			step := StepImport
			if n := len(r.rec.Steps); n > 0 {
				step = r.rec.Steps[n-1].Name
			}
			err = &StepError{Step: step, Err: fmt.Errorf("panic: %v", v)}
		}
	}()
	return r.execute(ctx)
}

func (r *run) execute(ctx context.Context) error {
	if err := r.open(ctx); err != nil {
		return &StepError{Step: StepImport, Err: err}
	}
	defer r.p.lock(r.rec.Golden)()
	if err := r.step(ctx, StepImport, r.doImport); err != nil {
		return err
	}
	if done, err := r.alreadyPromoted(ctx); err != nil || done {
		return err
	}
	for _, s := range []struct {
		name StepName
		fn   func(context.Context) (Verdict, string, map[string]any, error)
	}{
		{StepSignatures, r.verifySignatures},
		{StepMetadata, r.checkMetadata},
		{StepProvenance, r.provenance},
		{StepSBOM, r.sbom},
		{StepScan, r.scan},
		{StepReports, r.attachReports},
		{StepLifecycle, r.lifecycle},
		{StepPolicy, r.evaluate},
	} {
		if err := r.step(ctx, s.name, s.fn); err != nil {
			return err
		}
	}
	if !r.decision.Allowed {
		// A denied image is not signed: the enterprise key vouches only
		// for what the policy let through.
		r.rec.Artifacts = r.attached
		r.rec.Outcome = OutcomeDenied
		r.rec.Reason = summary(r.decision)
		denied := fmt.Errorf("%s: %w", r.rec.Source, r.decision.Err())
		// An earlier run (audit mode, another policy) may have promoted
		// this digest: golden must not serve what the policy denies.
		if err := r.withdraw(ctx); err != nil {
			return errors.Join(denied, fmt.Errorf("withdraw golden tags of %s: %w", r.root.Digest, err))
		}
		return denied
	}
	if err := r.step(ctx, StepSign, r.sign); err != nil {
		return err
	}
	if err := r.step(ctx, StepPromote, r.promote); err != nil {
		return err
	}
	r.rec.Outcome = OutcomePromoted
	r.rec.Reason = "every required check passed"
	if r.decision.WouldDeny {
		r.rec.Outcome = OutcomeAudited
		r.rec.Reason = "audit mode: promoted although the policy would deny: " + summary(r.decision)
	}
	return nil
}
