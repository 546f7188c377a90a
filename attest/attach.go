package attest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/scan"
)

// Attach attaches artifacts that cssc made (by an Enricher, a report, a
// custom enricher) to subject in repo, and returns their manifest
// descriptors in order. An artifact with a zero Created is created at
// created; one without the annotation artifact.AnnotationGeneratedBy gets
// DefaultGenerator, so that Discover never takes it for publisher evidence
// (see Item.Generated). registry.Attach is deterministic: attaching the same
// artifacts again gives the same digests and no new referrers. The first
// error stops Attach; the descriptors returned are those attached so far.
func Attach(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor, created time.Time, arts ...registry.Artifact) ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	for _, a := range arts {
		if a.Created.IsZero() {
			a.Created = created
		}
		if _, ok := a.Annotations[artifact.AnnotationGeneratedBy]; !ok {
			a.Annotations = maps.Clone(a.Annotations)
			if a.Annotations == nil {
				a.Annotations = map[string]string{}
			}
			a.Annotations[artifact.AnnotationGeneratedBy] = DefaultGenerator
		}
		d, err := registry.Attach(ctx, repo, subject, a)
		if err != nil {
			return out, fmt.Errorf("attach %s to %s: %w", a.ArtifactType, subject.Digest, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// ReportArtifact returns the artifact that carries rep as SARIF 2.1.0
// (artifact.TypeSARIF, one per scanner kind, the form Ratify's
// vulnerability-report verifier reads) in a layer titled by
// artifact.ReportTitle ("vulnerabilities.sarif", "malware.sarif": the file
// "oras pull" writes), annotated with the report kind,
// the scanner and its database version, what the scanner declares itself
// to be (rep.Declared, as artifact.AnnotationScannerDeclaration: a reader
// of the registry tells a malware scanner's report from another scanner's
// report that claims the malware kind), and created at created (zero means
// the Unix epoch). generatedBy is the artifact.AnnotationGeneratedBy value;
// empty means none. Attach it to rep.Subject.
func ReportArtifact(rep *scan.Report, created time.Time, generatedBy string) (registry.Artifact, error) {
	if rep == nil {
		return registry.Artifact{}, errors.New("report artifact: nil report")
	}
	data, err := rep.SARIF()
	if err != nil {
		return registry.Artifact{}, fmt.Errorf("encode %s report: %w", rep.Kind, err)
	}
	declared := artifact.DeclarationNone
	if rep.Declared.Malware {
		declared = artifact.DeclarationMalware
	}
	ann := map[string]string{
		artifact.AnnotationReportKind:         rep.Kind,
		artifact.AnnotationScanner:            rep.Tool.Name,
		artifact.AnnotationDatabaseVersion:    rep.Tool.DatabaseVersion,
		artifact.AnnotationScannerDeclaration: declared,
	}
	if generatedBy != "" {
		ann[artifact.AnnotationGeneratedBy] = generatedBy
	}
	return registry.Artifact{
		ArtifactType: artifact.TypeSARIF,
		Blobs: []registry.Blob{{MediaType: artifact.MediaTypeSARIF, Data: data,
			Annotations: map[string]string{ocispec.AnnotationTitle: artifact.ReportTitle(rep.Kind)}}},
		Annotations: ann,
		Created:     orEpoch(created),
	}, nil
}
