package attest

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/imagefs"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
)

// SBOMGenerator is an Enricher that generates SBOMs from the image itself.
// The acquire pipeline calls GenerateSBOM for every platform image manifest
// (Subject.Descriptor, with Subject.Content set), gives the document to the
// scanners, and then calls Enrich with it in Subject.SBOM, so that the same
// document is scanned and attached. SBOMEnricher implements it.
type SBOMGenerator interface {
	Enricher
	GenerateSBOM(ctx context.Context, s *Subject) (*sbom.Document, error)
}

// SBOMFiles is an SBOM generation fed file by file from a walk that other
// consumers share (imagefs.WalkAll): sbom/scalibr's *Session.
type SBOMFiles interface {
	imagefs.Visitor
	// Finish returns the document, or an error when walkErr (the error
	// that stopped the walk or this visitor) is not nil or generation
	// failed. It must be called once, to release the generation's
	// resources.
	Finish(ctx context.Context, walkErr error) (*sbom.Document, error)
}

// SBOMFileGenerator is an SBOMGenerator that can also generate from a
// shared walk: the acquire pipeline then walks each platform once for SBOM
// generation and every scan.FileScanner (malware), instead of once each.
type SBOMFileGenerator interface {
	SBOMGenerator
	// StartSBOM begins the SBOM of s.Descriptor. A nil SBOMFiles and nil
	// error mean "not supported": the caller uses GenerateSBOM.
	StartSBOM(ctx context.Context, s *Subject) (SBOMFiles, error)
}

// SBOMEnricher generates an SBOM with Generate and writes it as SPDX 2.3
// JSON (sbom.EncodeSPDX) for an image whose publisher gave none. The
// document is Subject.SBOM, or else what Generate returns. It writes
// nothing when Subject.Metadata holds a readable SBOM for
// Subject.Descriptor (unless Always), or when there is no document to
// write.
//
// With sbom/scalibr:
//
//	&attest.SBOMEnricher{
//		Generate: func(ctx context.Context, s *attest.Subject) (*sbom.Document, error) {
//			return scalibr.Generate(ctx, s.Content, s.Descriptor, scalibr.Options{})
//		},
//		Start: func(ctx context.Context, s *attest.Subject) (attest.SBOMFiles, error) {
//			return scalibr.Start(s.Descriptor, scalibr.Options{})
//		},
//	}
type SBOMEnricher struct {
	// Generate produces the SBOM of the image manifest s.Descriptor, read
	// from s.Content, when Subject.SBOM is nil. Nil means only Subject.SBOM
	// is used (the acquire pipeline refuses such an enricher).
	Generate func(ctx context.Context, s *Subject) (*sbom.Document, error)
	// Start, if not nil, begins the same generation fed from a walk the
	// caller shares with file scanners (see SBOMFileGenerator). Nil means
	// only Generate is used.
	Start func(ctx context.Context, s *Subject) (SBOMFiles, error)
	// Always writes the SBOM even when the publisher gave one. False means
	// the publisher's SBOM is enough.
	Always bool
	// Generator is written as artifact.AnnotationGeneratedBy and, when the
	// document has no creators, as its creator "Tool: <Generator>". Empty
	// means "cssc".
	Generator string
}

var _ SBOMFileGenerator = (*SBOMEnricher)(nil)

// StartSBOM calls Start; it returns nil, nil when Start is nil.
func (e *SBOMEnricher) StartSBOM(ctx context.Context, s *Subject) (SBOMFiles, error) {
	if err := check(ctx, s); err != nil {
		return nil, err
	}
	if e.Start == nil {
		return nil, nil
	}
	f, err := e.Start(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("generate sbom for %s: %w", s.Descriptor.Digest, err)
	}
	return f, nil
}

// GenerateSBOM calls Generate, and returns an error when Generate is nil or
// returns no document.
func (e *SBOMEnricher) GenerateSBOM(ctx context.Context, s *Subject) (*sbom.Document, error) {
	if err := check(ctx, s); err != nil {
		return nil, err
	}
	if e.Generate == nil {
		return nil, fmt.Errorf("generate sbom for %s: no Generate function", s.Descriptor.Digest)
	}
	doc, err := e.Generate(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("generate sbom for %s: %w", s.Descriptor.Digest, err)
	}
	if doc == nil {
		return nil, fmt.Errorf("generate sbom for %s: generator returned no document", s.Descriptor.Digest)
	}
	return doc, nil
}

// Enrich returns the SPDX artifact to attach, or none.
func (e *SBOMEnricher) Enrich(ctx context.Context, s *Subject) ([]registry.Artifact, error) {
	if err := check(ctx, s); err != nil {
		return nil, err
	}
	if !e.Always && s.Metadata.HasSBOM(s.Descriptor.Digest) {
		return nil, nil
	}
	doc := s.SBOM
	if doc == nil && e.Generate != nil {
		var err error
		if doc, err = e.Generate(ctx, s); err != nil {
			return nil, fmt.Errorf("generate sbom for %s: %w", s.Descriptor.Digest, err)
		}
	}
	if doc == nil {
		return nil, nil
	}
	if doc.Name == "" {
		d := *doc
		d.Name = s.Descriptor.Digest.String()
		if s.Repository != "" {
			d.Name = s.Repository + "@" + d.Name
		}
		doc = &d
	}
	a, err := SPDXArtifact(doc, s.Descriptor.Digest, s.Time, generator(e.Generator))
	if err != nil {
		return nil, fmt.Errorf("sbom for %s: %w", s.Descriptor.Digest, err)
	}
	return []registry.Artifact{a}, nil
}

// SPDXArtifact encodes doc as SPDX 2.3 JSON (sbom.EncodeSPDX, with subject
// as the root package's checksum when not empty) and wraps it as an
// artifact.TypeSPDX artifact whose layer is titled artifact.TitleSPDX
// ("sbom.spdx.json", what "oras pull" names the file), created at created
// (zero means the Unix epoch), annotated with
// artifact.AnnotationGeneratedBy = generatedBy (omitted when empty). doc is
// not modified: a copy gets Created = created when doc.Created is zero, and
// the creator "Tool: <generatedBy>" when it has no creators, so that the
// bytes depend on the input only.
func SPDXArtifact(doc *sbom.Document, subject digest.Digest, created time.Time, generatedBy string) (registry.Artifact, error) {
	created = orEpoch(created)
	d := *doc
	if d.Created.IsZero() {
		d.Created = created.UTC()
	}
	if len(d.Creators) == 0 && generatedBy != "" {
		d.Creators = []string{"Tool: " + generatedBy}
	}
	data, err := sbom.EncodeSPDX(&d, sbom.SPDXOptions{Subject: subject.String(), Created: d.Created})
	if err != nil {
		return registry.Artifact{}, fmt.Errorf("encode spdx: %w", err)
	}
	ann := map[string]string{ocispec.AnnotationCreated: FormatDate(created)}
	if generatedBy != "" {
		ann[artifact.AnnotationGeneratedBy] = generatedBy
	}
	return registry.Artifact{
		ArtifactType: artifact.TypeSPDX,
		Blobs: []registry.Blob{{MediaType: artifact.MediaTypeSPDX, Data: data,
			Annotations: map[string]string{ocispec.AnnotationTitle: artifact.TitleSPDX}}},
		Annotations: ann,
		Created:     created,
	}, nil
}
