package scan

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/cssc-go/cssc/imagefs"
	"github.com/cssc-go/cssc/sbom"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrNoImage: a Scanner was given a nil *Image or an Image without a
	// Repository or Manifest.
	ErrNoImage = errors.New("no image to scan")
	// ErrScanFailed: the scanner could not give a verdict on all of the
	// image (a file over the scanner's size limit, a scanner error, a
	// timeout). A failed scan is never a clean one.
	ErrScanFailed = errors.New("scan failed")
	// ErrInvalidReport: a serialised report (SARIF or JSON) could not be
	// decoded or is larger than its cap.
	ErrInvalidReport = errors.New("invalid report")
)

// Image is what a Scanner scans: one platform image manifest in a
// repository, and optionally the SBOM already known for it.
type Image struct {
	// Repository holds the manifest, config and layers. A registry.Repository
	// satisfies it.
	Repository content.ReadOnlyStorage
	// Reference is a human-readable name of the image
	// ("registry.corp/quarantine/nginx@sha256:..."), for reports and logs.
	// Empty is allowed.
	Reference string
	// Manifest is the descriptor of a platform image manifest (not an index).
	Manifest ocispec.Descriptor
	// Platform is the platform of Manifest, nil if unknown.
	Platform *ocispec.Platform
	// SBOM is the software bill of materials of the image if one is known
	// (generated or supplied by the publisher). Scanners that match packages
	// (scan/osv) need it; scanners that read files (scan/clamav) ignore it.
	SBOM *sbom.Document
}

// Validate reports whether img can be scanned: it is not nil, has a
// Repository, and its Manifest has a valid digest. Errors wrap ErrNoImage.
func (img *Image) Validate() error {
	switch {
	case img == nil:
		return ErrNoImage
	case img.Repository == nil:
		return errors.Join(ErrNoImage, errors.New("image has no repository"))
	case img.Manifest.Digest.Validate() != nil:
		return errors.Join(ErrNoImage, errors.New("image manifest has no valid digest"))
	}
	return nil
}

// Scanner scans an image and reports what it found. Implementations return
// a Report (with Kind, Tool, Subject and Time filled) and a nil error when
// the whole image was scanned; an error (wrapping ErrScanFailed where the
// scanner itself failed) otherwise. A nil *Image is an error wrapping
// ErrNoImage, and a cancelled context stops the scan with ctx.Err().
//
// Implementations in cssc: scan/osv (vulnerabilities, from the SBOM) and
// scan/clamav (malware, from the files). Check your own with
// scan/scantest.
type Scanner interface {
	Scan(ctx context.Context, img *Image) (*Report, error)
}

// FileScanner is a Scanner that reads the image's files (scan/clamav). It
// can also be fed from a walk other consumers share, so that an image is
// decompressed and its layer digests checked once for, say, SBOM generation
// and malware scanning together (imagefs.WalkAll; the acquire pipeline does
// this when its SBOM generator can too).
type FileScanner interface {
	Scanner
	// StartFiles begins a scan of img whose files the caller will feed
	// through the returned FileScan's Visit (every file of one walk of
	// img.Manifest, in walk order). img is validated as by Scan.
	StartFiles(ctx context.Context, img *Image) (FileScan, error)
}

// FileScan is one scan fed file by file (see FileScanner).
type FileScan interface {
	imagefs.Visitor
	// Finish ends the scan and returns its report, as Scan would have
	// (an incomplete scan is an error wrapping ErrScanFailed, never a
	// clean report). walkErr is the error that stopped the walk or this
	// visitor, nil if it saw every file; when it is not nil Finish
	// returns an error. Finish must be called once, even after an error,
	// to release the scan's resources.
	Finish(ctx context.Context, walkErr error) (*Report, error)
}

// Declaration is what a Scanner declares itself to be, apart from the
// reports it makes. The zero value declares nothing: a scanner's reports
// are judged by their kind, and no report meets a requirement for which a
// declaration is needed.
type Declaration struct {
	// Malware is true for a malware scanner: one that checks every file of
	// the image against malware signatures (scan/clamav). Only a malware
	// scanner's reports of kind artifact.ReportKindMalware meet a policy's
	// malware requirement; another scanner's report of that kind has its
	// findings counted as detections, but does not make the image scanned.
	// False for every other scanner.
	Malware bool
}

// Declarer is implemented by a Scanner that declares what it is
// (scan/clamav declares itself a malware scanner). A Scanner that does
// not implement it declares the zero Declaration; wrap it with Declare to
// give it one.
type Declarer interface {
	Declaration() Declaration
}

// DeclarationOf returns what s declares: s.Declaration() if s is a
// Declarer, the zero Declaration otherwise.
func DeclarationOf(s Scanner) Declaration {
	if d, ok := s.(Declarer); ok {
		return d.Declaration()
	}
	return Declaration{}
}

// Declare returns s declaring d (a Declarer), for scanners that do not
// declare themselves, such as a ScannerFunc. The result is a FileScanner
// if s is one. It replaces whatever s declares.
func Declare(s Scanner, d Declaration) Scanner {
	if fs, ok := s.(FileScanner); ok {
		return declaredFiles{FileScanner: fs, d: d}
	}
	return declared{Scanner: s, d: d}
}

// declared is a Scanner with a Declaration.
type declared struct {
	Scanner
	d Declaration
}

// Declaration returns what the scanner was declared to be.
func (s declared) Declaration() Declaration { return s.d }

// declaredFiles is a FileScanner with a Declaration.
type declaredFiles struct {
	FileScanner
	d Declaration
}

// Declaration returns what the scanner was declared to be.
func (s declaredFiles) Declaration() Declaration { return s.d }

// ScannerFunc adapts a function to the Scanner interface.
type ScannerFunc func(ctx context.Context, img *Image) (*Report, error)

// Scan calls f(ctx, img).
func (f ScannerFunc) Scan(ctx context.Context, img *Image) (*Report, error) { return f(ctx, img) }

// Tool identifies the scanner that wrote a report.
type Tool struct {
	// Name is the tool name ("osv", "clamav").
	Name string `json:"name"`
	// Version is the tool version (clamd's engine version, cssc's version).
	Version string `json:"version,omitempty"`
	// DatabaseVersion identifies the vulnerability or signature database the
	// scan used, so that a rescan can tell whether anything changed. Empty
	// if unknown.
	DatabaseVersion string `json:"databaseVersion,omitempty"`
}

// Report is the result of one scan of one image by one kind of scanner.
// It is a plain value that marshals to stable JSON (see [Report.Sort]) and
// to SARIF 2.1.0 ([Report.SARIF]).
type Report struct {
	// Kind is artifact.ReportKindVulnerability, artifact.ReportKindMalware
	// or a custom scanner's own kind ("secrets": lower case, which a
	// policy must name to accept).
	Kind string `json:"kind"`
	// Tool is the scanner that made the report.
	Tool Tool `json:"tool"`
	// Subject is the digest of the image manifest scanned.
	Subject digest.Digest `json:"subject"`
	// Time is when the scan ran.
	Time time.Time `json:"time"`
	// Findings lists what was found; empty means nothing was found (for a
	// report returned with a nil error, a clean scan).
	Findings []Finding `json:"findings"`
	// Declared is what the scanner that made the report declares itself
	// to be (see Declarer); the policy evidence reads it (a malware
	// requirement is met only by a declared malware scanner's report). The
	// acquire pipeline sets it from the configured scanner, replacing what
	// the scanner wrote. It is not part of the JSON or SARIF form: a
	// decoded report declares nothing.
	Declared Declaration `json:"-"`
}

// Package is the software package a vulnerability finding is about.
type Package struct {
	// Name is the package name as its ecosystem spells it.
	Name string `json:"name"`
	// Version is the installed version.
	Version string `json:"version,omitempty"`
	// PURL is the package URL, empty if unknown.
	PURL string `json:"purl,omitempty"`
	// Ecosystem is the OSV ecosystem ("Debian:12", "Go", "npm", ...).
	Ecosystem string `json:"ecosystem,omitempty"`
}

// Finding is one thing a scanner found: a vulnerability in a package, or a
// malware detection in a file.
type Finding struct {
	// ID is the vulnerability identifier (CVE-..., GHSA-..., DSA-...) or the
	// malware signature name ("Eicar-Signature").
	ID string `json:"id"`
	// Aliases lists other identifiers of the same vulnerability.
	Aliases []string `json:"aliases,omitempty"`
	// Package is the affected package (vulnerabilities); zero for malware.
	Package Package `json:"package,omitzero"`
	// FixedVersion is the first version that fixes the vulnerability; empty
	// means no fix is known (an "unfixed" vulnerability).
	FixedVersion string `json:"fixedVersion,omitempty"`
	// Severity is the severity of the finding, SeverityUnknown if unknown.
	Severity Severity `json:"severity"`
	// CVSS is the CVSS base score (0 to 10), 0 if unknown.
	CVSS float64 `json:"cvss,omitempty"`
	// Summary is a one-line description.
	Summary string `json:"summary,omitempty"`
	// Path is the file the finding is in (clean, relative, slash-separated),
	// for malware; empty otherwise.
	Path string `json:"path,omitempty"`
	// Layer is the digest of the layer holding Path (malware) or the layer
	// that introduced Package (vulnerabilities), empty if unknown.
	Layer string `json:"layer,omitempty"`
	// Locations lists every place the finding applies to: for a
	// vulnerability, each file (package database, binary, manifest) and
	// layer where the affected package version was found (a Go module
	// version linked into three binaries has three); for malware, the file
	// and its layer. Sorted by path, then layer (see [Report.Sort]). Empty
	// when the scanner knows no location. A finding is still one per
	// vulnerability and package: counting findings counts packages.
	Locations []Location `json:"locations,omitempty"`
}

// Location is one place in the image filesystem a finding applies to.
type Location struct {
	// Path is a clean, relative, slash-separated file path; empty if only
	// the layer is known.
	Path string `json:"path,omitempty"`
	// Layer is the digest of the layer holding Path ("sha256:..."), empty
	// if unknown.
	Layer string `json:"layer,omitempty"`
}

// compareLocations orders locations by path, then layer.
func compareLocations(a, b Location) int {
	return cmp.Or(strings.Compare(a.Path, b.Path), strings.Compare(a.Layer, b.Layer))
}

// SortLocations sorts locs by path, then layer, and removes duplicates.
func SortLocations(locs []Location) []Location {
	slices.SortFunc(locs, compareLocations)
	return slices.Compact(locs)
}

// Sort puts the findings in a stable order (by ID, then package name,
// version, path and layer) and sorts each finding's aliases and locations
// (removing duplicate locations), so that the same scan result always
// marshals to the same bytes.
func (r *Report) Sort() {
	for i := range r.Findings {
		slices.Sort(r.Findings[i].Aliases)
		r.Findings[i].Locations = SortLocations(r.Findings[i].Locations)
	}
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		return cmp.Or(
			strings.Compare(a.ID, b.ID),
			strings.Compare(a.Package.Name, b.Package.Name),
			strings.Compare(a.Package.Version, b.Package.Version),
			strings.Compare(a.Package.Ecosystem, b.Package.Ecosystem),
			strings.Compare(a.Path, b.Path),
			strings.Compare(a.Layer, b.Layer),
		)
	})
}

// MaxSeverity returns the highest severity among the findings, and
// SeverityUnknown when there are none.
func (r *Report) MaxSeverity() Severity {
	m := SeverityUnknown
	for _, f := range r.Findings {
		m = max(m, f.Severity)
	}
	return m
}

// Count returns how many findings have each severity.
func (r *Report) Count() map[Severity]int {
	c := make(map[Severity]int)
	for _, f := range r.Findings {
		c[f.Severity]++
	}
	return c
}

// MarshalJSON writes the report with an empty findings list as [] rather
// than null, so that equal reports always marshal to equal bytes (call
// Sort first for a stable finding order).
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	p := plain(r)
	if p.Findings == nil {
		p.Findings = []Finding{}
	}
	return json.Marshal(p)
}
