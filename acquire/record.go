package acquire

import (
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/policy"
)

// StepName names a step of a run.
type StepName string

// Step names, in the order the pipeline runs them (the numbers are those of
// the Acquire flow: the pipeline generates provenance and SBOMs before it
// scans, and decides before it signs). Each step is recorded in a Record
// with its verdict, even when skipped.
const (
	StepImport     StepName = "import"            // 1, 2: copy into quarantine
	StepSignatures StepName = "verify-signatures" // 3: publisher signatures
	StepMetadata   StepName = "verify-metadata"   // 4: publisher SBOM and provenance
	StepProvenance StepName = "provenance"        // 7 (provenance part): acquisition provenance
	StepSBOM       StepName = "sbom"              // 7 (SBOM part): generate and attach (beside a publisher's)
	StepScan       StepName = "scan"              // 5: vulnerabilities and malware, every platform
	StepReports    StepName = "attach-reports"    // 6: SARIF reports as referrers
	StepLifecycle  StepName = "lifecycle"         // 8: end-of-life marker, further enrichers
	StepPolicy     StepName = "policy"            // 10: the decision
	StepSign       StepName = "sign"              // 9: image and every attached artifact, once allowed
	StepPromote    StepName = "promote"           // 10: copy to golden, summary attached, tag moved last
)

// Steps returns the step names in the order the pipeline runs them.
func Steps() []StepName {
	return []StepName{StepImport, StepSignatures, StepMetadata, StepProvenance, StepSBOM, StepScan, StepReports, StepLifecycle, StepPolicy, StepSign, StepPromote}
}

// Verdict is the verdict of a step.
type Verdict string

// Verdicts of a step.
const (
	VerdictOK      Verdict = "ok"      // the step did its work
	VerdictSkipped Verdict = "skipped" // the step did not apply or is not configured (Reason says why)
	VerdictFailed  Verdict = "failed"  // the step ran and found a problem the policy must weigh (not an error)
	VerdictError   Verdict = "error"   // the step could not complete; nothing is promoted
)

// Outcome is the outcome of a run.
type Outcome string

// Outcomes of a run.
const (
	// OutcomePromoted: every required check passed; the image and its
	// artifacts are in golden and the golden tag points at them.
	OutcomePromoted Outcome = "promoted"
	// OutcomeUnchanged: golden already holds this digest under this tag,
	// with its verification summary; nothing was done.
	OutcomeUnchanged Outcome = "unchanged"
	// OutcomeDenied: the policy denied the image; it stays in quarantine.
	// If an earlier run had promoted the same digest (in audit mode, or
	// under another policy), no golden tag points at it any more: each is
	// moved back to the last digest that passed, or removed
	// (Record.Withdrawn).
	OutcomeDenied Outcome = "denied"
	// OutcomeAudited: audit mode; the decision would have denied but the
	// image was promoted anyway (Decision says what failed).
	OutcomeAudited Outcome = "audited"
	// OutcomeError: a step could not complete; nothing was promoted.
	OutcomeError Outcome = "error"
)

// Record is the account of one pipeline run for one image: each step with
// its verdict, reason, timing and outputs; the decision; what was promoted.
// It marshals to stable JSON and never contains secrets.
type Record struct {
	// Source is the source reference as given; SourceDigest is the digest
	// of the root manifest or index as published.
	Source       string        `json:"source"`
	SourceDigest digest.Digest `json:"sourceDigest,omitempty"`
	// Quarantine and Golden are the repository locations.
	Quarantine string `json:"quarantine,omitempty"`
	Golden     string `json:"golden,omitempty"`
	// Digest is the root digest in quarantine (and golden, if promoted).
	Digest digest.Digest `json:"digest,omitempty"`
	// Tag is the tag kept from the source.
	Tag string `json:"tag,omitempty"`
	// Platforms are the image's platforms ("linux/amd64").
	Platforms []string `json:"platforms,omitempty"`
	// PreviousGoldenDigest is what the golden tag pointed to before this
	// run moved it (empty if it did not exist or did not move).
	PreviousGoldenDigest digest.Digest `json:"previousGoldenDigest,omitempty"`
	// Outcome is what became of the image.
	Outcome Outcome `json:"outcome"`
	// Reason explains the outcome in one line.
	Reason string `json:"reason,omitempty"`
	// FailedStep names the step that errored, when Outcome is OutcomeError.
	FailedStep StepName `json:"failedStep,omitempty"`
	// Steps are the steps in the order they ran.
	Steps []Step `json:"steps"`
	// Decision is the policy decision (nil if the run ended before it).
	Decision *policy.Decision `json:"decision,omitempty"`
	// Artifacts lists what cssc attached in quarantine, with signatures.
	Artifacts []ArtifactRecord `json:"artifacts,omitempty"`
	// Promoted lists the digests copied to golden (image root first).
	Promoted []digest.Digest `json:"promoted,omitempty"`
	// Withdrawn lists the golden tags a denial took off the denied digest
	// (an earlier run, in audit mode or under another policy, had promoted
	// it): after a denial no golden tag points at the denied image.
	Withdrawn []Withdrawal `json:"withdrawn,omitempty"`
	Started   time.Time    `json:"started"`
	Finished  time.Time    `json:"finished"`
}

// Step is one step of a run.
type Step struct {
	Name     StepName      `json:"name"`
	Verdict  Verdict       `json:"verdict"`
	Reason   string        `json:"reason,omitempty"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`
	// Outputs holds the step's results (verification, reports summary,
	// artifacts) as JSON-encodable values.
	Outputs map[string]any `json:"outputs,omitempty"`
}

// ArtifactRecord is one artifact cssc attached (or found attached by an
// earlier run and reused) in quarantine.
type ArtifactRecord struct {
	Kind         string        `json:"kind"` // "sbom", "vulnerability-report", "malware-report", "provenance", "lifecycle", "verification-summary", "signature"
	ArtifactType string        `json:"artifactType"`
	Digest       digest.Digest `json:"digest"`
	Subject      digest.Digest `json:"subject"`
	Platform     string        `json:"platform,omitempty"`
	Reused       bool          `json:"reused,omitempty"`
	// Signature is the digest of cssc's signature over this artifact.
	Signature digest.Digest `json:"signature,omitempty"`
}

// Step returns the step named name, or nil.
func (r *Record) Step(name StepName) *Step {
	for i := range r.Steps {
		if r.Steps[i].Name == name {
			return &r.Steps[i]
		}
	}
	return nil
}

// Withdrawal is a golden tag that pointed at a digest the policy denied.
type Withdrawal struct {
	// Tag is the golden tag.
	Tag string `json:"tag"`
	// Digest is the denied digest the tag pointed at.
	Digest digest.Digest `json:"digest"`
	// RestoredTo is the digest the tag was moved back to: the last digest
	// the tag pointed at whose verification summary in golden, signed by
	// the enterprise key, says PASSED. Empty means the tag was removed
	// (the manifest stays: a consumer who pinned the digest still pulls
	// it).
	RestoredTo digest.Digest `json:"restoredTo,omitempty"`
	// Error says why the tag could not be withdrawn (the registry refuses
	// to delete a tag, for instance). Empty when it was.
	Error string `json:"error,omitempty"`
}
