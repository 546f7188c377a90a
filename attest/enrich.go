package attest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
)

// Enricher produces the artifacts cssc attaches to an image it imported:
// a generated SBOM, acquisition provenance, a lifecycle marker, a
// verification summary. It only builds them; the caller (the acquire
// pipeline) attaches them with registry.Attach, signs them and records them.
//
// Enrich returns no artifacts, not an error, when it has nothing to add
// (the publisher gave an SBOM, no lifecycle rule matches, no decision yet).
// Every artifact it returns is created at Subject.Time, never at "now", so
// that running it twice with the same input gives the same digests and
// attaching twice leaves one referrer.
//
// Implementations: SBOMEnricher, ProvenanceEnricher, LifecycleEnricher,
// VSAEnricher; Enrichers runs several; EnricherFunc adapts a function.
type Enricher interface {
	Enrich(ctx context.Context, s *Subject) ([]registry.Artifact, error)
}

// EnricherFunc adapts a function to the Enricher interface.
type EnricherFunc func(ctx context.Context, s *Subject) ([]registry.Artifact, error)

// Enrich calls f.
func (f EnricherFunc) Enrich(ctx context.Context, s *Subject) ([]registry.Artifact, error) {
	return f(ctx, s)
}

// Enrichers runs each enricher in order and returns all their artifacts. The
// first error stops it; the error names the failing enricher's position.
type Enrichers []Enricher

var _ Enricher = Enrichers(nil)

// Enrich runs every enricher of m on s.
func (m Enrichers) Enrich(ctx context.Context, s *Subject) ([]registry.Artifact, error) {
	var out []registry.Artifact
	for i, e := range m {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		arts, err := e.Enrich(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("enricher %d (%T): %w", i, e, err)
		}
		out = append(out, arts...)
	}
	return out, nil
}

// Subject is what an Enricher knows about the image it enriches. The
// pipeline fills it once per manifest that gets artifacts (each platform
// image manifest, and the index for index-level artifacts). Fields an
// enricher does not need may stay zero; each enricher documents what it
// reads.
type Subject struct {
	// Repository is the repository the image is in now, without tag or
	// digest, e.g. "registry.corp/quarantine/library/nginx". Lifecycle rules
	// match it; statements name the image by it.
	Repository string
	// Tag is the tag the image was imported under; empty when imported by
	// digest only.
	Tag string
	// Descriptor is the manifest (or index) the artifacts will be attached to.
	Descriptor ocispec.Descriptor
	// Platform is the platform of Descriptor when it is one image of an
	// index; nil otherwise.
	Platform *ocispec.Platform
	// Source is the reference the image was imported from, e.g.
	// "docker.io/library/nginx:1.27".
	Source string
	// SourceDigest is the digest of the image at the source. Empty means
	// Descriptor.Digest (an import keeps the digest).
	SourceDigest digest.Digest
	// Metadata is the publisher metadata found by Discover (or the metadata
	// already attached, on a rerun). Nil means none known.
	Metadata *Metadata
	// SBOM is the SBOM cssc generated for Descriptor. Nil means none.
	SBOM *sbom.Document
	// Content is the repository holding Descriptor, for enrichers that
	// read the image (SBOM generation). Nil means the caller offers none.
	Content content.Fetcher
	// Policy is the policy the image is judged by. Nil means none named.
	Policy *PolicyRef
	// Decision is the policy decision, for the verification summary. Nil
	// means not decided yet.
	Decision *Decision
	// Time is the time of the run. Every generated artifact is created at
	// it (and statements record it), so reruns with the same Time give the
	// same digests. Zero means the Unix epoch.
	Time time.Time
}

// check returns an error for a nil subject or an ended context; every
// enricher calls it first.
func check(ctx context.Context, s *Subject) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s == nil {
		return errors.New("attest: nil subject")
	}
	return nil
}

// orEpoch returns t, or the Unix epoch (in UTC) when t is zero: the time
// every generated artifact is created at.
func orEpoch(t time.Time) time.Time {
	if t.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return t
}

// sourceDigest returns SourceDigest or, if empty, Descriptor.Digest.
func (s *Subject) sourceDigest() digest.Digest {
	if s.SourceDigest != "" {
		return s.SourceDigest
	}
	return s.Descriptor.Digest
}

// PolicyRef names a policy document: a name, where it lives and the digest
// of its bytes.
type PolicyRef struct {
	// Name is the policy's name, e.g. "golden-default".
	Name string `json:"name,omitempty"`
	// URI is where the policy document lives; empty if it has no address.
	URI string `json:"uri,omitempty"`
	// Digest is the digest of the policy document as evaluated.
	Digest digest.Digest `json:"digest,omitempty"`
}

// Verdict is the outcome of one check of a decision.
type Verdict string

// Verdicts (the same words as policy.Verdict).
const (
	// VerdictPass is a check that passed.
	VerdictPass Verdict = "pass"
	// VerdictFail is a check that failed.
	VerdictFail Verdict = "fail"
	// VerdictWarn is a check that failed but did not deny (audit mode, or an
	// exception applied).
	VerdictWarn Verdict = "warn"
	// VerdictSkip is a check that did not apply.
	VerdictSkip Verdict = "skip"
)

// Check is one rule of a decision with its verdict.
type Check struct {
	// Name names the rule, e.g. "signature", "max-severity".
	Name string `json:"name"`
	// Verdict is the rule's outcome.
	Verdict Verdict `json:"verdict"`
	// Reason says why, in a sentence.
	Reason string `json:"reason,omitempty"`
}

// Decision is the policy decision a verification summary records. It is a
// plain value so that attest does not depend on how the policy engine
// represents decisions; the pipeline converts.
type Decision struct {
	// Allowed is the outcome: whether the image may be promoted.
	Allowed bool `json:"allowed"`
	// WouldDeny says that some rule failed even though the decision allowed
	// the image (audit mode). The verification summary says PASSED only
	// when Allowed and not WouldDeny: a dry run that let a failing image
	// through does not claim it passed.
	WouldDeny bool `json:"wouldDeny,omitempty"`
	// Mode is the policy mode, "enforce" or "audit". Empty means "enforce".
	Mode string `json:"mode,omitempty"`
	// Reason summarises the decision.
	Reason string `json:"reason,omitempty"`
	// VerifiedLevels are the SLSA levels or custom properties the image was
	// verified to meet, e.g. "SLSA_BUILD_LEVEL_2": at most one level per
	// SLSA track, SLSA values among SLSA_BUILD_LEVEL_0 to 3, custom values
	// not starting with "SLSA_". Empty means no level was verified: the
	// verification summary then says "SLSA_BUILD_LEVEL_0" when the image
	// passed (SLSA VSA v1 requires the field). A summary that says FAILED
	// always carries ["FAILED"], whatever this holds.
	VerifiedLevels []string `json:"verifiedLevels,omitempty"`
	// Checks are every rule evaluated, in order.
	Checks []Check `json:"checks,omitempty"`
	// Inputs are the attestations the decision read (signatures, reports,
	// SBOMs...) as manifest digests with their URIs. Empty means the
	// readable publisher items of Subject.Metadata are listed instead.
	Inputs []Input `json:"inputs,omitempty"`
}

// Input is one attestation a decision read.
type Input struct {
	// URI locates it, e.g. "registry.corp/golden/library/nginx@sha256:...".
	URI string `json:"uri"`
	// Digest is its manifest digest.
	Digest digest.Digest `json:"digest"`
}
