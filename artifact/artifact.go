package artifact

// Artifact types (the artifactType of an OCI 1.1 manifest that refers to an
// image through its subject field).
const (
	// TypeNotarySignature is a Notary Project signature written by notation.
	TypeNotarySignature = "application/vnd.cncf.notary.signature"
	// TypeSigstoreBundle is a sigstore bundle stored as a referrer (read only).
	TypeSigstoreBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// TypeSPDX is an SPDX 2.3 JSON software bill of materials.
	TypeSPDX = "application/spdx+json"
	// TypeCycloneDX is a CycloneDX JSON software bill of materials.
	TypeCycloneDX = "application/vnd.cyclonedx+json"
	// TypeSARIF is a SARIF 2.1.0 scan report (vulnerability or malware); the
	// AnnotationReportKind annotation says which.
	TypeSARIF = "application/sarif+json"
	// TypeInToto is an in-toto Statement v1 (provenance, verification
	// summary); the AnnotationPredicateType annotation says which predicate.
	TypeInToto = "application/vnd.in-toto+json"
	// TypeLifecycle is the Microsoft lifecycle metadata convention; the
	// AnnotationEndOfLife annotation carries the end-of-life date.
	TypeLifecycle = "application/vnd.microsoft.artifact.lifecycle"
)

// Blob media types used in artifact layers.
const (
	// MediaTypeSPDX is the layer media type of an SPDX JSON document.
	MediaTypeSPDX = TypeSPDX
	// MediaTypeCycloneDX is the layer media type of a CycloneDX JSON document.
	MediaTypeCycloneDX = TypeCycloneDX
	// MediaTypeSARIF is the layer media type of a SARIF report.
	MediaTypeSARIF = TypeSARIF
	// MediaTypeInToto is the layer media type of an in-toto Statement.
	MediaTypeInToto = TypeInToto
	// MediaTypeDSSE is the layer media type of a DSSE envelope holding an
	// in-toto Statement (as cosign and buildkit write them).
	MediaTypeDSSE = "application/vnd.dsse.envelope.v1+json"
	// MediaTypeCosignSimpleSigning is the layer media type of a legacy cosign
	// signature payload.
	MediaTypeCosignSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	// MediaTypeCosignSPDX is the layer media type cosign gives an SPDX JSON
	// document in a "sha256-<hex>.sbom" manifest (read only).
	MediaTypeCosignSPDX = "text/spdx+json"
	// MediaTypeCosignSPDXTagValue is the layer media type cosign gives an
	// SPDX tag-value document (read only; cssc does not parse tag-value).
	MediaTypeCosignSPDXTagValue = "text/spdx"
	// MediaTypeCosignCycloneDXXML is the layer media type cosign gives a
	// CycloneDX XML document (read only; cssc does not parse XML).
	MediaTypeCosignCycloneDXXML = "application/vnd.cyclonedx"
)

// Annotation keys.
const (
	// AnnotationCreated is the OCI creation time; cssc always sets it
	// explicitly so that attaching the same content gives the same digest.
	AnnotationCreated = "org.opencontainers.image.created"
	// AnnotationPredicateType names the in-toto predicate of a TypeInToto
	// artifact.
	AnnotationPredicateType = "in-toto.io/predicate-type"
	// AnnotationEndOfLife is the end-of-life date of a TypeLifecycle artifact
	// (written in RFC 3339; read as RFC 3339 or a plain 2006-01-02 date).
	AnnotationEndOfLife = "vnd.microsoft.artifact.lifecycle.end-of-life.date"
	// AnnotationReportKind says which kind of scanner wrote a TypeSARIF
	// report: ReportKindVulnerability or ReportKindMalware.
	AnnotationReportKind = "dev.cssc.report.kind"
	// AnnotationScanner names the tool that wrote a report ("osv", "clamav").
	AnnotationScanner = "dev.cssc.report.scanner"
	// AnnotationDatabaseVersion is the scanner database version a report was
	// made with, so that a rescan can tell whether anything changed.
	AnnotationDatabaseVersion = "dev.cssc.report.database-version"
	// AnnotationScannerDeclaration is what the scanner that wrote a report
	// declares itself to be (scan.Declaration), whatever the report's kind
	// says: DeclarationMalware for a malware scanner, DeclarationNone
	// otherwise. Only a report whose scanner declares itself a malware
	// scanner makes an image scanned for malware.
	AnnotationScannerDeclaration = "dev.cssc.report.scanner-declaration"
	// AnnotationGeneratedBy marks an artifact that cssc generated (as opposed
	// to one the publisher supplied); its value is the generator name.
	AnnotationGeneratedBy = "dev.cssc.generated-by"
	// AnnotationDockerReferenceType marks a buildkit attestation manifest
	// inside an index; its value is "attestation-manifest".
	AnnotationDockerReferenceType = "vnd.docker.reference.type"
	// AnnotationDockerReferenceDigest is the digest of the image manifest a
	// buildkit attestation manifest describes.
	AnnotationDockerReferenceDigest = "vnd.docker.reference.digest"
	// AnnotationCosignPredicateType names the in-toto predicate of a DSSE
	// layer in a cosign "sha256-<hex>.att" manifest (read only).
	AnnotationCosignPredicateType = "predicateType"
	// AnnotationSigstoreBundlePredicateType names the in-toto predicate of a
	// sigstore bundle stored as a referrer (read only).
	AnnotationSigstoreBundlePredicateType = "dev.sigstore.bundle.predicateType"
	// AnnotationSigstoreBundleContent says what a sigstore bundle referrer
	// holds: "dsse-envelope" or "message-signature" (read only).
	AnnotationSigstoreBundleContent = "dev.sigstore.bundle.content"
	// AnnotationPreviousDigests is set on the verification summary cssc
	// attaches to an image in golden: for each golden tag that the
	// promotion moved off another digest, "tag=digest", comma-separated
	// ("1.27=sha256:...,stable=sha256:..."). When a later run denies the
	// image, the tag goes back to the last of these digests that passed.
	AnnotationPreviousDigests = "dev.cssc.acquire.previous-digests"
)

// Predicate types for TypeInToto artifacts.
const (
	// PredicateSLSAProvenanceV1 is SLSA provenance v1.
	PredicateSLSAProvenanceV1 = "https://slsa.dev/provenance/v1"
	// PredicateSLSAProvenanceV02 is SLSA provenance v0.2 (read only).
	PredicateSLSAProvenanceV02 = "https://slsa.dev/provenance/v0.2"
	// PredicateVerificationSummaryV1 is a SLSA verification summary v1.
	PredicateVerificationSummaryV1 = "https://slsa.dev/verification_summary/v1"
	// PredicateSPDX is an SPDX document carried as an in-toto predicate.
	PredicateSPDX = "https://spdx.dev/Document"
	// PredicateCycloneDX is a CycloneDX document carried as an in-toto predicate.
	PredicateCycloneDX = "https://cyclonedx.org/bom"
)

// Values of AnnotationScannerDeclaration.
const (
	// DeclarationMalware: the scanner declares itself a malware scanner.
	DeclarationMalware = "malware"
	// DeclarationNone: the scanner declares nothing.
	DeclarationNone = "none"
)

// Values of AnnotationReportKind.
const (
	// ReportKindVulnerability marks a vulnerability scan report.
	ReportKindVulnerability = "vulnerability"
	// ReportKindMalware marks a malware scan report.
	ReportKindMalware = "malware"
)

// AttestationManifest is the value of AnnotationDockerReferenceType on a
// buildkit attestation manifest.
const AttestationManifest = "attestation-manifest"

// File names cssc gives the layers of the artifacts it writes, in the
// org.opencontainers.image.title annotation (ocispec.AnnotationTitle), so
// that "oras pull" of an artifact writes a file of that name.
const (
	// TitleSPDX names an SPDX JSON SBOM.
	TitleSPDX = "sbom.spdx.json"
	// TitleCycloneDX names a CycloneDX JSON SBOM.
	TitleCycloneDX = "sbom.cdx.json"
	// TitleVulnerabilityReport names a vulnerability SARIF report.
	TitleVulnerabilityReport = "vulnerabilities.sarif"
	// TitleMalwareReport names a malware SARIF report.
	TitleMalwareReport = "malware.sarif"
	// TitleProvenance names an in-toto statement with SLSA provenance.
	TitleProvenance = "provenance.intoto.json"
	// TitleVerificationSummary names an in-toto statement with a SLSA
	// verification summary.
	TitleVerificationSummary = "verification-summary.intoto.json"
	// TitleStatement names an in-toto statement of any other predicate.
	TitleStatement = "statement.intoto.json"
)

// ReportTitle returns the file name of a SARIF report of the given kind:
// TitleVulnerabilityReport, TitleMalwareReport, or "<kind>.sarif" for
// other kinds ("report.sarif" when kind is empty or not a plain name).
func ReportTitle(kind string) string {
	switch kind {
	case ReportKindVulnerability:
		return TitleVulnerabilityReport
	case ReportKindMalware:
		return TitleMalwareReport
	}
	if kind == "" || len(kind) > 64 {
		return "report.sarif"
	}
	for _, c := range kind {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "report.sarif"
		}
	}
	return kind + ".sarif"
}

// StatementTitle returns the file name of an in-toto statement with the
// given predicate type.
func StatementTitle(predicateType string) string {
	switch predicateType {
	case PredicateSLSAProvenanceV1, PredicateSLSAProvenanceV02:
		return TitleProvenance
	case PredicateVerificationSummaryV1:
		return TitleVerificationSummary
	}
	return TitleStatement
}
