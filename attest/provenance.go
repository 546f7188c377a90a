package attest

import (
	"fmt"
	"maps"
	"time"

	provv02 "github.com/in-toto/attestation/go/predicates/provenance/v02"
	provv1 "github.com/in-toto/attestation/go/predicates/provenance/v1"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cssc-go/cssc/artifact"
)

// MaxMaterials caps the materials (v0.2) or resolved dependencies (v1) read
// into a Provenance view (10000); the rest are dropped and
// Provenance.Truncated is set.
const MaxMaterials = 10000

// Provenance is the common view of SLSA provenance v0.2 and v1: who built
// the subject, how, and from what.
type Provenance struct {
	// PredicateType is the SLSA predicate type it was read from
	// (artifact.PredicateSLSAProvenanceV02 or artifact.PredicateSLSAProvenanceV1).
	PredicateType string `json:"predicateType"`
	// BuilderID is builder.id (v0.2) or runDetails.builder.id (v1).
	BuilderID string `json:"builderId,omitempty"`
	// BuildType is buildType (v0.2) or buildDefinition.buildType (v1).
	BuildType string `json:"buildType,omitempty"`
	// InvocationID is metadata.buildInvocationId (v0.2) or
	// runDetails.metadata.invocationId (v1).
	InvocationID string `json:"invocationId,omitempty"`
	// StartedOn and FinishedOn are the build times; zero if not given.
	StartedOn  time.Time `json:"startedOn,omitzero"`
	FinishedOn time.Time `json:"finishedOn,omitzero"`
	// Source is where the build definition came from: invocation.configSource
	// (v0.2), or for v1 the resolved dependency whose URI equals the string
	// externalParameters.source (or, failing that, the first resolved
	// dependency). Nil if none.
	Source *Material `json:"source,omitempty"`
	// Materials are materials (v0.2) or buildDefinition.resolvedDependencies
	// (v1), in document order, capped at MaxMaterials.
	Materials []Material `json:"materials,omitempty"`
	// Truncated is set when Materials was capped.
	Truncated bool `json:"truncated,omitempty"`
}

// Material is one input of a build: a URI and its digests by algorithm
// ("sha256" -> hex).
type Material struct {
	URI    string            `json:"uri,omitempty"`
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest,omitempty"`
}

// parseProvenance reads the SLSA provenance predicate of st into the common
// view. Statements of other predicate types fail with ErrUnsupportedFormat;
// a predicate that does not have the SLSA shape fails with ErrMalformed.
func parseProvenance(st *Statement) (*Provenance, error) {
	if st == nil {
		return nil, fmt.Errorf("provenance: %w: no statement", ErrMalformed)
	}
	switch st.PredicateType() {
	case artifact.PredicateSLSAProvenanceV1:
		var p provv1.Provenance
		if err := fromStruct(st.Proto.GetPredicate(), &p); err != nil {
			return nil, fmt.Errorf("slsa provenance v1: %w: %w", ErrMalformed, err)
		}
		return provenanceV1(&p), nil
	case artifact.PredicateSLSAProvenanceV02:
		var p provv02.Provenance
		if err := fromStruct(st.Proto.GetPredicate(), &p); err != nil {
			return nil, fmt.Errorf("slsa provenance v0.2: %w: %w", ErrMalformed, err)
		}
		return provenanceV02(&p), nil
	}
	return nil, fmt.Errorf("provenance: %w: predicate type %q", ErrUnsupportedFormat, st.PredicateType())
}

func provenanceV1(p *provv1.Provenance) *Provenance {
	out := &Provenance{
		PredicateType: artifact.PredicateSLSAProvenanceV1,
		BuilderID:     p.GetRunDetails().GetBuilder().GetId(),
		BuildType:     p.GetBuildDefinition().GetBuildType(),
		InvocationID:  p.GetRunDetails().GetMetadata().GetInvocationId(),
	}
	if t := p.GetRunDetails().GetMetadata().GetStartedOn(); t != nil && t.IsValid() {
		out.StartedOn = t.AsTime()
	}
	if t := p.GetRunDetails().GetMetadata().GetFinishedOn(); t != nil && t.IsValid() {
		out.FinishedOn = t.AsTime()
	}
	deps := p.GetBuildDefinition().GetResolvedDependencies()
	for i, d := range deps {
		if i >= MaxMaterials {
			out.Truncated = true
			break
		}
		out.Materials = append(out.Materials, Material{URI: d.GetUri(), Name: d.GetName(), Digest: maps.Clone(d.GetDigest())})
	}
	src := ""
	if v, ok := p.GetBuildDefinition().GetExternalParameters().GetFields()["source"]; ok {
		if _, isString := v.GetKind().(*structpb.Value_StringValue); isString {
			src = v.GetStringValue()
		}
	}
	for i := range out.Materials {
		if src != "" && out.Materials[i].URI == src {
			m := out.Materials[i]
			out.Source = &m
			break
		}
	}
	switch {
	case out.Source == nil && src != "":
		out.Source = &Material{URI: src}
	case out.Source == nil && len(out.Materials) > 0:
		m := out.Materials[0]
		out.Source = &m
	}
	return out
}

func provenanceV02(p *provv02.Provenance) *Provenance {
	out := &Provenance{
		PredicateType: artifact.PredicateSLSAProvenanceV02,
		BuilderID:     p.GetBuilder().GetId(),
		BuildType:     p.GetBuildType(),
		InvocationID:  p.GetMetadata().GetBuildInvocationId(),
	}
	if t := p.GetMetadata().GetBuildStartedOn(); t != nil && t.IsValid() {
		out.StartedOn = t.AsTime()
	}
	if t := p.GetMetadata().GetBuildFinishedOn(); t != nil && t.IsValid() {
		out.FinishedOn = t.AsTime()
	}
	for i, m := range p.GetMaterials() {
		if i >= MaxMaterials {
			out.Truncated = true
			break
		}
		out.Materials = append(out.Materials, Material{URI: m.GetUri(), Digest: maps.Clone(m.GetDigest())})
	}
	if cs := p.GetInvocation().GetConfigSource(); cs != nil && (cs.GetUri() != "" || len(cs.GetDigest()) > 0) {
		out.Source = &Material{URI: cs.GetUri(), Name: cs.GetEntryPoint(), Digest: maps.Clone(cs.GetDigest())}
	}
	return out
}
