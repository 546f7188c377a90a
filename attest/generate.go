package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	provv1 "github.com/in-toto/attestation/go/predicates/provenance/v1"
	vsav1 "github.com/in-toto/attestation/go/predicates/vsa/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/registry"
)

// BuildTypeAcquire is the buildType of the acquisition provenance cssc
// writes: the "build" is an import of an existing image, its external
// parameters are the source reference and the policy.
const BuildTypeAcquire = "https://github.com/cssc-go/cssc/acquire/v1"

// DecisionField is the key under which a verification summary carries the
// policy decision (mode, reason, every check) next to the VSA v1 fields.
// In-toto consumers ignore fields they do not know.
const DecisionField = "https://github.com/cssc-go/cssc/decision/v1"

// AcquisitionProvenance is the input of an acquisition provenance
// statement: an in-toto Statement v1 with a SLSA provenance v1 predicate
// that records where an image came from and under which policy it was
// imported.
type AcquisitionProvenance struct {
	// Subject is the imported manifest. Required.
	Subject ocispec.Descriptor
	// Name names the subject in the statement, e.g.
	// "registry.corp/quarantine/library/nginx". Empty means the digest.
	Name string
	// Source is the reference imported from ("docker.io/library/nginx:1.27").
	// Required.
	Source string
	// SourceDigest is the digest at the source. Empty means Subject.Digest.
	SourceDigest digest.Digest
	// Platform is recorded in internalParameters when set.
	Platform *ocispec.Platform
	// Policy is recorded in externalParameters when set.
	Policy *PolicyRef
	// BuilderID identifies the importer (runDetails.builder.id), a URI such
	// as "https://registry.corp/importer". Required.
	BuilderID string
	// BuilderVersion is the importer's version (builder.version["cssc"]).
	// Empty means none recorded.
	BuilderVersion string
	// BuildType is buildDefinition.buildType. Empty means BuildTypeAcquire.
	BuildType string
	// InvocationID identifies the run (runDetails.metadata.invocationId).
	// Empty means none.
	InvocationID string
	// Started and Finished are the run's times. Zero Finished means Started.
	Started, Finished time.Time
}

// Statement builds the in-toto statement; it is validated with the in-toto
// bindings (statement and SLSA provenance v1) before it is returned.
func (p AcquisitionProvenance) Statement() (*intoto.Statement, error) {
	srcDigest, err := p.sourceDigest()
	if err != nil {
		return nil, err
	}
	def, err := p.buildDefinition(srcDigest)
	if err != nil {
		return nil, err
	}
	pred := &provv1.Provenance{BuildDefinition: def, RunDetails: p.runDetails()}
	if err := pred.Validate(); err != nil {
		return nil, fmt.Errorf("acquisition provenance: %w", err)
	}
	predStruct, err := toStruct(pred)
	if err != nil {
		return nil, fmt.Errorf("acquisition provenance: %w", err)
	}
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       []*intoto.ResourceDescriptor{subjectDescriptor(p.Name, p.Subject)},
		PredicateType: artifact.PredicateSLSAProvenanceV1,
		Predicate:     predStruct,
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("acquisition provenance: %w", err)
	}
	return st, nil
}

// sourceDigest checks the required fields and returns the digest of the
// source (the subject's when SourceDigest is empty).
func (p AcquisitionProvenance) sourceDigest() (digest.Digest, error) {
	var missing []string
	if p.Subject.Digest == "" {
		missing = append(missing, "subject digest")
	}
	if p.Source == "" {
		missing = append(missing, "source")
	}
	if p.BuilderID == "" {
		missing = append(missing, "builder id")
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("acquisition provenance: missing %s", strings.Join(missing, ", "))
	}
	srcDigest := p.SourceDigest
	if srcDigest == "" {
		srcDigest = p.Subject.Digest
	}
	if err := srcDigest.Validate(); err != nil {
		return "", fmt.Errorf("acquisition provenance: source digest: %w", err)
	}
	return srcDigest, nil
}

// buildDefinition is the build definition: the build type, the source and
// policy as external parameters, the platform as internal parameter, and
// the source image (digest srcDigest) as the resolved dependency.
func (p AcquisitionProvenance) buildDefinition(srcDigest digest.Digest) (*provv1.BuildDefinition, error) {
	ext := map[string]any{"source": p.Source}
	if p.Policy != nil {
		pol := map[string]any{}
		if p.Policy.Name != "" {
			pol["name"] = p.Policy.Name
		}
		if p.Policy.URI != "" {
			pol["uri"] = p.Policy.URI
		}
		if p.Policy.Digest != "" {
			pol["digest"] = map[string]any{p.Policy.Digest.Algorithm().String(): p.Policy.Digest.Encoded()}
		}
		ext["policy"] = pol
	}
	extStruct, err := structpb.NewStruct(ext)
	if err != nil {
		return nil, fmt.Errorf("acquisition provenance: %w", err)
	}
	buildType := p.BuildType
	if buildType == "" {
		buildType = BuildTypeAcquire
	}
	def := &provv1.BuildDefinition{
		BuildType:          buildType,
		ExternalParameters: extStruct,
		ResolvedDependencies: []*intoto.ResourceDescriptor{{
			Uri:    p.Source,
			Digest: map[string]string{srcDigest.Algorithm().String(): srcDigest.Encoded()},
		}},
	}
	if p.Platform != nil {
		internal, err := structpb.NewStruct(map[string]any{"platform": platformString(p.Platform)})
		if err != nil {
			return nil, fmt.Errorf("acquisition provenance: %w", err)
		}
		def.InternalParameters = internal
	}
	return def, nil
}

// runDetails is the builder and the run's times, to the second.
func (p AcquisitionProvenance) runDetails() *provv1.RunDetails {
	builder := &provv1.Builder{Id: p.BuilderID}
	if p.BuilderVersion != "" {
		builder.Version = map[string]string{"cssc": p.BuilderVersion}
	}
	finished := p.Finished
	if finished.IsZero() {
		finished = p.Started
	}
	return &provv1.RunDetails{
		Builder: builder,
		Metadata: &provv1.BuildMetadata{
			InvocationId: p.InvocationID,
			StartedOn:    timestamppb.New(p.Started.UTC().Truncate(time.Second)),
			FinishedOn:   timestamppb.New(finished.UTC().Truncate(time.Second)),
		},
	}
}

func subjectDescriptor(name string, d ocispec.Descriptor) *intoto.ResourceDescriptor {
	if name == "" {
		name = d.Digest.String()
	}
	return &intoto.ResourceDescriptor{
		Name:   name,
		Digest: map[string]string{d.Digest.Algorithm().String(): d.Digest.Encoded()},
	}
}

func platformString(p *ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// StatementArtifact wraps a statement as an artifact.TypeInToto artifact
// (canonical JSON, see MarshalStatement) with the predicate type annotation
// and a layer titled by artifact.StatementTitle ("provenance.intoto.json",
// "verification-summary.intoto.json"),
// created at created (zero means the Unix epoch) and annotated with artifact.AnnotationGeneratedBy =
// generatedBy (omitted when empty).
func StatementArtifact(st *intoto.Statement, created time.Time, generatedBy string) (registry.Artifact, error) {
	created = orEpoch(created)
	data, err := MarshalStatement(st)
	if err != nil {
		return registry.Artifact{}, err
	}
	ann := map[string]string{
		artifact.AnnotationPredicateType: st.GetPredicateType(),
		ocispec.AnnotationCreated:        FormatDate(created),
	}
	if generatedBy != "" {
		ann[artifact.AnnotationGeneratedBy] = generatedBy
	}
	return registry.Artifact{
		ArtifactType: artifact.TypeInToto,
		Blobs: []registry.Blob{{MediaType: artifact.MediaTypeInToto, Data: data,
			Annotations: map[string]string{
				artifact.AnnotationPredicateType: st.GetPredicateType(),
				ocispec.AnnotationTitle:          artifact.StatementTitle(st.GetPredicateType()),
			}}},
		Annotations: ann,
		Created:     created,
	}, nil
}

// ProvenanceEnricher writes acquisition provenance (AcquisitionProvenance)
// for every subject: Subject.Repository names it, Subject.Source and
// SourceDigest say where it came from, Subject.Policy which policy it was
// imported under, Subject.Time when. It fails when Subject.Source is empty.
type ProvenanceEnricher struct {
	// BuilderID identifies the importer, a URI. Required: Enrich fails
	// without it.
	BuilderID string
	// BuilderVersion is the importer's version. Empty means none recorded.
	BuilderVersion string
	// BuildType overrides BuildTypeAcquire when not empty.
	BuildType string
	// Generator is written as artifact.AnnotationGeneratedBy. Empty means
	// "cssc".
	Generator string
}

var _ Enricher = (*ProvenanceEnricher)(nil)

// Enrich returns the provenance artifact to attach.
func (e *ProvenanceEnricher) Enrich(ctx context.Context, s *Subject) ([]registry.Artifact, error) {
	if err := check(ctx, s); err != nil {
		return nil, err
	}
	st, err := AcquisitionProvenance{
		Subject: s.Descriptor, Name: s.Repository, Source: s.Source, SourceDigest: s.sourceDigest(),
		Platform: s.Platform, Policy: s.Policy, BuilderID: e.BuilderID, BuilderVersion: e.BuilderVersion,
		BuildType: e.BuildType, Started: orEpoch(s.Time),
	}.Statement()
	if err != nil {
		return nil, err
	}
	a, err := StatementArtifact(st, s.Time, generator(e.Generator))
	if err != nil {
		return nil, err
	}
	return []registry.Artifact{a}, nil
}

// Verification results of a VSA (verificationResult).
const (
	// ResultPassed: the decision allowed the image and no rule failed.
	ResultPassed = "PASSED"
	// ResultFailed: the decision denied the image, or allowed it in audit
	// mode although a rule failed.
	ResultFailed = "FAILED"
)

// VerificationSummary is the input of a SLSA verification summary (VSA v1,
// https://slsa.dev/verification_summary/v1) statement: who verified which
// image against which policy, when, with which result, plus the decision's
// checks under DecisionField.
type VerificationSummary struct {
	// Subject is the verified manifest. Required.
	Subject ocispec.Descriptor
	// Name names the subject in the statement. Empty means the digest.
	Name string
	// ResourceURI is the verified resource's URI. Empty means
	// "<Name>@<digest>" (or the digest alone without a name).
	ResourceURI string
	// VerifierID identifies the verifier, a URI. Required.
	VerifierID string
	// VerifierVersion is the verifier's version (verifier.version["cssc"]).
	// Empty means none recorded.
	VerifierVersion string
	// TimeVerified is when the decision was made.
	TimeVerified time.Time
	// Policy is the policy applied. Required: URI or Name, and Digest when
	// known.
	Policy PolicyRef
	// Decision is the outcome with its checks. Required.
	Decision *Decision
	// SLSAVersion is the SLSA version of VerifiedLevels. Empty means "1.0".
	SLSAVersion string
}

// Statement builds the VSA statement, validated with the in-toto bindings.
// The policy URI is Policy.URI, or Policy.Name when the policy has no URI.
func (v VerificationSummary) Statement() (*intoto.Statement, error) {
	pred, err := v.predicate()
	if err != nil {
		return nil, err
	}
	predStruct, err := toStruct(pred)
	if err != nil {
		return nil, fmt.Errorf("verification summary: %w", err)
	}
	dec, err := decisionValue(v.Decision)
	if err != nil {
		return nil, fmt.Errorf("verification summary: %w", err)
	}
	predStruct.Fields[DecisionField] = dec
	if v.VerifierVersion != "" {
		// VSA v1 has verifier.version; the v1.2.0 bindings lack the field.
		if ver := predStruct.Fields["verifier"].GetStructValue(); ver != nil {
			ver.Fields["version"] = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
				"cssc": structpb.NewStringValue(v.VerifierVersion)}})
		}
	}
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       []*intoto.ResourceDescriptor{subjectDescriptor(v.Name, v.Subject)},
		PredicateType: artifact.PredicateVerificationSummaryV1,
		Predicate:     predStruct,
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("verification summary: %w", err)
	}
	return st, nil
}

// predicate checks the required fields and builds the SLSA verification
// summary predicate (without cssc's decision and verifier version, which
// the bindings cannot hold).
func (v VerificationSummary) predicate() (*vsav1.VerificationSummary, error) {
	var missing []string
	if v.Subject.Digest == "" {
		missing = append(missing, "subject digest")
	}
	if v.VerifierID == "" {
		missing = append(missing, "verifier id")
	}
	if v.Policy.URI == "" && v.Policy.Name == "" {
		missing = append(missing, "policy uri or name")
	}
	if v.Decision == nil {
		missing = append(missing, "decision")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("verification summary: missing %s", strings.Join(missing, ", "))
	}
	uri := v.ResourceURI
	if uri == "" {
		uri = v.Subject.Digest.String()
		if v.Name != "" {
			uri = v.Name + "@" + uri
		}
	}
	polURI := v.Policy.URI
	if polURI == "" {
		polURI = v.Policy.Name
	}
	result := ResultFailed
	if v.Decision.Allowed && !v.Decision.WouldDeny {
		result = ResultPassed
	}
	slsaVersion := v.SLSAVersion
	if slsaVersion == "" {
		slsaVersion = "1.0"
	}
	levels, err := verifiedLevels(result, v.Decision.VerifiedLevels)
	if err != nil {
		return nil, fmt.Errorf("verification summary: %w", err)
	}
	pred := &vsav1.VerificationSummary{
		Verifier:           &vsav1.VerificationSummary_Verifier{Id: v.VerifierID},
		TimeVerified:       timestamppb.New(v.TimeVerified.UTC().Truncate(time.Second)),
		ResourceUri:        uri,
		Policy:             &vsav1.VerificationSummary_Policy{Uri: polURI},
		VerificationResult: result,
		VerifiedLevels:     levels,
		SlsaVersion:        slsaVersion,
	}
	if v.Policy.Digest != "" {
		if err := v.Policy.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("verification summary: policy digest: %w", err)
		}
		pred.Policy.Digest = map[string]string{v.Policy.Digest.Algorithm().String(): v.Policy.Digest.Encoded()}
	}
	for _, in := range v.Decision.Inputs {
		if err := in.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("verification summary: input %q: %w", in.URI, err)
		}
		pred.InputAttestations = append(pred.InputAttestations, &vsav1.VerificationSummary_InputAttestation{
			Uri: in.URI, Digest: map[string]string{in.Digest.Algorithm().String(): in.Digest.Encoded()},
		})
	}
	return pred, nil
}

// Values of a VSA's verifiedLevels.
const (
	// LevelFailed is the verifiedLevels entry of a summary that says FAILED.
	LevelFailed = "FAILED"
	// LevelBuild0 is the build-track level claimed when nothing more was
	// verified (SLSA Build L0: no guarantees).
	LevelBuild0 = "SLSA_BUILD_LEVEL_0"
)

// verifiedLevels returns the verifiedLevels of a summary (required by SLSA
// VSA v1): ["FAILED"] for a failed verification; else the decision's
// levels, checked (known SLSA values, one per track, custom values not
// starting with SLSA_), or ["SLSA_BUILD_LEVEL_0"] when it gives none.
func verifiedLevels(result string, levels []string) ([]string, error) {
	if result == ResultFailed {
		return []string{LevelFailed}, nil
	}
	if len(levels) == 0 {
		return []string{LevelBuild0}, nil
	}
	tracks := map[string]string{}
	seen := map[string]bool{}
	var out []string
	for _, l := range levels {
		switch {
		case l == "":
			return nil, errors.New("empty verified level")
		case l == LevelFailed:
			return nil, fmt.Errorf("verified level %q on a summary that passed", l)
		case strings.HasPrefix(l, "SLSA_"):
			track, level, ok := strings.Cut(strings.TrimPrefix(l, "SLSA_"), "_LEVEL_")
			if !ok || track != "BUILD" || len(level) != 1 || level[0] < '0' || level[0] > '3' {
				return nil, fmt.Errorf("verified level %q is not a SLSA v1.0 level (SLSA_BUILD_LEVEL_0 to 3; custom values must not start with SLSA_)", l)
			}
			if prev, dup := tracks[track]; dup && prev != l {
				return nil, fmt.Errorf("verified levels %q and %q: at most one level per SLSA track", prev, l)
			}
			tracks[track] = l
		}
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out, nil
}

func decisionValue(d *Decision) (*structpb.Value, error) {
	mode := d.Mode
	if mode == "" {
		mode = "enforce"
	}
	checks := make([]any, 0, len(d.Checks))
	for _, c := range d.Checks {
		m := map[string]any{"name": c.Name, "verdict": string(c.Verdict)}
		if c.Reason != "" {
			m["reason"] = c.Reason
		}
		checks = append(checks, m)
	}
	v := map[string]any{"allowed": d.Allowed, "mode": mode, "checks": checks}
	if d.WouldDeny {
		v["wouldDeny"] = true
	}
	if d.Reason != "" {
		v["reason"] = d.Reason
	}
	return structpb.NewValue(v)
}

func jsonUnmarshalStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// ParseVerificationSummary reads a VSA statement back: the VSA v1 fields
// with the in-toto bindings and the decision under DecisionField (nil if
// absent). Other predicate types fail with ErrUnsupportedFormat.
func ParseVerificationSummary(st *Statement) (*vsav1.VerificationSummary, *Decision, error) {
	if st == nil {
		return nil, nil, fmt.Errorf("verification summary: %w: no statement", ErrMalformed)
	}
	if st.PredicateType() != artifact.PredicateVerificationSummaryV1 {
		return nil, nil, fmt.Errorf("verification summary: %w: predicate type %q", ErrUnsupportedFormat, st.PredicateType())
	}
	var vsa vsav1.VerificationSummary
	if err := fromStruct(st.Proto.GetPredicate(), &vsa); err != nil {
		return nil, nil, fmt.Errorf("verification summary: %w: %w", ErrMalformed, err)
	}
	f, ok := st.Proto.GetPredicate().GetFields()[DecisionField]
	if !ok {
		return &vsa, nil, nil
	}
	raw, err := f.MarshalJSON()
	if err != nil {
		return nil, nil, fmt.Errorf("verification summary: %w: %w", ErrMalformed, err)
	}
	var dec Decision
	if err := jsonUnmarshalStrict(raw, &dec); err != nil {
		return nil, nil, fmt.Errorf("verification summary: decision: %w: %w", ErrMalformed, err)
	}
	return &vsa, &dec, nil
}

// VSAEnricher writes a verification summary for a subject that has a
// policy decision (Subject.Decision; nothing is written without one). The
// summary names Subject.Repository, Subject.Policy and Subject.Time as the
// time verified; the decision's Inputs, or else the manifests of the
// readable items of Subject.Metadata for the subject, are listed as input
// attestations.
type VSAEnricher struct {
	// VerifierID identifies the verifier, a URI. Required: Enrich fails
	// without it.
	VerifierID string
	// VerifierVersion is the verifier's version. Empty means none recorded.
	VerifierVersion string
	// Generator is written as artifact.AnnotationGeneratedBy. Empty means
	// "cssc".
	Generator string
}

var _ Enricher = (*VSAEnricher)(nil)

// Enrich returns the verification summary artifact to attach, or none.
func (e *VSAEnricher) Enrich(ctx context.Context, s *Subject) ([]registry.Artifact, error) {
	if err := check(ctx, s); err != nil {
		return nil, err
	}
	if s.Decision == nil {
		return nil, nil
	}
	if s.Policy == nil {
		return nil, errors.New("verification summary: subject names no policy")
	}
	dec := *s.Decision
	if len(dec.Inputs) == 0 {
		seen := map[digest.Digest]bool{}
		for _, it := range s.Metadata.For(s.Descriptor.Digest) {
			if it.Err != nil || it.Manifest.Digest == "" || seen[it.Manifest.Digest] {
				continue
			}
			seen[it.Manifest.Digest] = true
			uri := it.Manifest.Digest.String()
			if s.Repository != "" {
				uri = s.Repository + "@" + uri
			}
			dec.Inputs = append(dec.Inputs, Input{URI: uri, Digest: it.Manifest.Digest})
		}
	}
	st, err := VerificationSummary{
		Subject: s.Descriptor, Name: s.Repository, VerifierID: e.VerifierID, VerifierVersion: e.VerifierVersion,
		TimeVerified: orEpoch(s.Time), Policy: *s.Policy, Decision: &dec,
	}.Statement()
	if err != nil {
		return nil, err
	}
	a, err := StatementArtifact(st, s.Time, generator(e.Generator))
	if err != nil {
		return nil, err
	}
	return []registry.Artifact{a}, nil
}
