package policy

import "time"

// Evidence is everything a policy decision reads, as a plain value: the
// pipeline fills it from the sign, scan and attest results, and a test can
// write one by hand. The zero value of every part means "no evidence", which
// fails any rule that needs it (fail closed).
//
// Evaluate does not modify the Evidence; custom rules must not either.
type Evidence struct {
	// Time is the time of the decision, used for exception expiry and
	// end-of-life checks. If zero, the policy's clock is used (see
	// WithClock).
	Time time.Time `json:"time,omitzero"`
	// Source is where the image was acquired from.
	Source Reference `json:"source"`
	// Platform is the image platform ("linux/amd64"), empty for an index
	// or when unknown. Informational for built-in rules.
	Platform string `json:"platform,omitempty"`
	// Signatures are the publisher signatures found on the image, verified
	// or not. No signatures is an empty list.
	Signatures []Signature `json:"signatures,omitempty"`
	// Vulnerabilities is the vulnerability scan result.
	Vulnerabilities VulnerabilityScan `json:"vulnerabilities"`
	// Packages are the image's packages, with their licences, from the
	// SBOM.
	Packages []Package `json:"packages,omitempty"`
	// SBOM says whether an SBOM exists and who made it.
	SBOM Attestation `json:"sbom"`
	// Provenance says whether a provenance attestation exists and who made
	// it.
	Provenance Attestation `json:"provenance"`
	// Malware is the malware scan result.
	Malware MalwareScan `json:"malware"`
	// EndOfLife is the image's end-of-life date; zero when unknown.
	EndOfLife time.Time `json:"endOfLife,omitzero"`
	// Reports are the scan reports of every kind other than vulnerability
	// and malware (which go to Vulnerabilities and Malware), one per
	// scanner and platform. Whoever fills the evidence must put every
	// such report here: the rule "reports" fails for a kind the policy
	// does not name.
	Reports []Report `json:"reports,omitempty"`
}

// Report is one scan report of a kind the built-in rules do not know.
type Report struct {
	// Kind is the report kind the scanner gave ("secrets"); empty is a
	// report without a kind, which always fails.
	Kind string `json:"kind"`
	// Scanner names the tool.
	Scanner string `json:"scanner,omitempty"`
	// Platform is the platform scanned ("linux/amd64"), if known.
	Platform string `json:"platform,omitempty"`
	// Findings are what the scanner found.
	Findings []Finding `json:"findings,omitempty"`
}

// Finding is one finding of a Report.
type Finding struct {
	// ID identifies what was found (a rule ID, "private-key").
	ID string `json:"id"`
	// Severity is "unknown", "low", "medium", "high" or "critical"
	// (case-insensitive; anything else counts as unknown).
	Severity Severity `json:"severity,omitempty"`
	// CVSS is a score from 0 to 10 used when Severity is unknown.
	CVSS float64 `json:"cvss,omitempty"`
	// Path is the file the finding is in, if any.
	Path string `json:"path,omitempty"`
	// Package is the package the finding is about, if any.
	Package string `json:"package,omitempty"`
}

// Reference is the source of an image. Registry and Repository are
// normalised by the policy before matching: lower-cased,
// "index.docker.io"/"registry-1.docker.io" read as "docker.io", and a
// one-segment Docker Hub repository gets its "library/" prefix.
type Reference struct {
	// Registry is the registry host (with port if any): "docker.io".
	Registry string `json:"registry"`
	// Repository is the repository path: "library/nginx".
	Repository string `json:"repository"`
	// Tag is the tag the image was asked for, if any.
	Tag string `json:"tag,omitempty"`
	// Digest is the image's digest ("sha256:...").
	Digest string `json:"digest,omitempty"`
}

// States of a Signature (the sign package's vocabulary).
const (
	// StateVerified is a signature that verified.
	StateVerified = "verified"
	// StateFailed is a signature that was checked and is invalid.
	StateFailed = "failed"
	// StateInconclusive is a signature that could not be checked (no trust
	// material, unsupported format, network failure).
	StateInconclusive = "inconclusive"
)

// Signature is one signature found on the image.
type Signature struct {
	// Verifier is the verifier that checked it: "notation", "cosign", ...
	Verifier string `json:"verifier"`
	// Format is the signature format (sign.Signature.Format):
	// "notation-jws", "notation-cose", "cosign", "sigstore-bundle".
	Format string `json:"format,omitempty"`
	// Identity is the signer identity (X.509 subject or sigstore
	// certificate identity).
	Identity string `json:"identity,omitempty"`
	// Issuer is the issuer of the signer's certificate or identity token.
	Issuer string `json:"issuer,omitempty"`
	// State is StateVerified, StateFailed or StateInconclusive; anything
	// else counts as not verified.
	State string `json:"state"`
	// Level is the verification level ("strict", "permissive", "audit",
	// "skip"); empty for verifiers without levels.
	Level string `json:"level,omitempty"`
	// Cause explains a failed or inconclusive state.
	Cause string `json:"cause,omitempty"`
	// Digest identifies the signature (its manifest digest), optional.
	Digest string `json:"digest,omitempty"`
}

// VulnerabilityScan is the result of a vulnerability scan.
type VulnerabilityScan struct {
	// Scanned is true when a scan ran and completed. False means no
	// vulnerability evidence (not "no vulnerabilities").
	Scanned bool `json:"scanned"`
	// Scanner names the tool ("osv").
	Scanner string `json:"scanner,omitempty"`
	// DatabaseVersion is the version of the scanner database.
	DatabaseVersion string `json:"databaseVersion,omitempty"`
	// Findings are the vulnerabilities found.
	Findings []Vulnerability `json:"findings,omitempty"`
}

// Vulnerability is one finding.
type Vulnerability struct {
	// ID is the primary identifier ("CVE-2024-45491", "GHSA-...").
	ID string `json:"id"`
	// Aliases are other identifiers of the same vulnerability.
	Aliases []string `json:"aliases,omitempty"`
	// Package is the affected package name.
	Package string `json:"package"`
	// Version is the installed version.
	Version string `json:"version,omitempty"`
	// FixedVersion is the first fixed version; empty when there is no fix.
	FixedVersion string `json:"fixedVersion,omitempty"`
	// Severity is "unknown", "low", "medium", "high" or "critical"
	// (case-insensitive; anything else counts as unknown).
	Severity Severity `json:"severity"`
	// CVSS is the base score, 0 when unknown. It is used to rate a finding
	// whose Severity is unknown.
	CVSS float64 `json:"cvss,omitempty"`
}

// Package is a package of the image with its declared licences.
type Package struct {
	// Name is the package name.
	Name string `json:"name"`
	// Version is the package version.
	Version string `json:"version,omitempty"`
	// PURL is the package URL.
	PURL string `json:"purl,omitempty"`
	// Licenses are SPDX expressions; several entries all apply (as if
	// joined with AND). Empty, "NOASSERTION" and "NONE" mean unknown.
	Licenses []string `json:"licenses,omitempty"`
}

// Attestation records whether a document (SBOM or provenance) exists.
type Attestation struct {
	// Present is true when the document exists (publisher's or generated).
	Present bool `json:"present"`
	// Source is SourcePublisher or SourceGenerated.
	Source string `json:"source,omitempty"`
	// Digest identifies the document (manifest or blob digest), optional.
	Digest string `json:"digest,omitempty"`
	// Skipped lists the files the document's producer needed but did not
	// examine ("path (layer): reason"; an SBOM generator over its size
	// limit, an extractor that crashed): packages they hold may be missing.
	// A document with skipped files is incomplete, and the sbom and
	// provenance rules treat it as missing. Empty means complete.
	Skipped []string `json:"skipped,omitempty"`
}

// MalwareScan is the result of a malware scan.
type MalwareScan struct {
	// Scanned is true when a malware scanner scanned the image: a scanner
	// that declares itself one (scan.Declaration.Malware: scan/clamav, or
	// any scanner wrapped with scan.Declare), not merely a report that
	// claims the kind. Detections count whoever reported them.
	Scanned bool `json:"scanned"`
	// Complete is true when every file was scanned (no size limit hit, no
	// scanner error). An incomplete scan is never clean.
	Complete bool `json:"complete"`
	// Scanner names the tool ("clamav").
	Scanner string `json:"scanner,omitempty"`
	// Detections are the malware found.
	Detections []Detection `json:"detections,omitempty"`
}

// Detection is one malware finding.
type Detection struct {
	// Name is the signature name ("Eicar-Test-Signature").
	Name string `json:"name"`
	// Path is the file path in the image filesystem.
	Path string `json:"path,omitempty"`
	// Layer is the digest of the layer holding the file.
	Layer string `json:"layer,omitempty"`
}
