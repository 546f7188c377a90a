package catalog

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// Status is the lifecycle status of an entry.
type Status string

// Statuses of an entry, in lifecycle order.
const (
	// StatusActive: supported and recommended. The zero Status means
	// active.
	StatusActive Status = "active"
	// StatusDeprecated: still supported, but nearing its end of life or
	// replaced (see Entry.Replacement).
	StatusDeprecated Status = "deprecated"
	// StatusRetired: past its end of life; kept for the record.
	StatusRetired Status = "retired"
)

// Valid reports whether s is one of the Status constants or empty.
func (s Status) Valid() bool {
	switch s {
	case "", StatusActive, StatusDeprecated, StatusRetired:
		return true
	}
	return false
}

// Severity names, as facet values and MaxSeverity ceilings, from the
// least to the most severe. SeverityUnknown (findings whose severity is not
// known) ranks above critical and SeverityUnscanned above everything: a
// ceiling never lets through what is not known to be below it.
const (
	SeverityNone      = "none" // scanned, nothing found
	SeverityLow       = "low"
	SeverityMedium    = "medium"
	SeverityHigh      = "high"
	SeverityCritical  = "critical"
	SeverityUnknown   = "unknown"   // findings of unknown severity
	SeverityUnscanned = "unscanned" // no trusted vulnerability report
)

var severityRanks = map[string]int{
	SeverityNone: 0, SeverityLow: 1, SeverityMedium: 2, SeverityHigh: 3, SeverityCritical: 4,
	SeverityUnknown: 5, SeverityUnscanned: 6,
}

// SeverityRank returns the order of a severity name (see the Severity
// constants) and whether it is one.
func SeverityRank(s string) (int, bool) {
	r, ok := severityRanks[s]
	return r, ok
}

// Entry is the catalog's account of one golden image or index: what it
// is, where it came from, what is in it, what was found in it, until when
// it is supported, and which of these facts are missing or untrusted. An
// entry is built from the registry only, so the same registry always gives
// the same entry (see Normalize).
type Entry struct {
	// Repository is the golden repository location without tag or digest
	// (registry.Location form: "registry.corp/golden/library/nginx",
	// "oci:/var/golden/library/nginx").
	Repository string `json:"repository"`
	// Digest is the digest of the image manifest or index.
	Digest digest.Digest `json:"digest"`
	// MediaType is the manifest's or index's media type.
	MediaType string `json:"mediaType"`
	// Size is the bytes of the manifest, the platform manifests, their
	// configs and their layers, each distinct blob counted once.
	Size int64 `json:"size"`
	// Tags are the tags that point at Digest in Repository, sorted.
	Tags []string `json:"tags,omitempty"`
	// Platforms are the children's platforms ("linux/amd64"), sorted.
	Platforms []string `json:"platforms,omitempty"`
	// Children are the platform images: one per manifest of an index, or
	// one with the entry's own digest for a single manifest. Sorted by
	// platform, then digest.
	Children []Child `json:"children,omitempty"`

	// Source is where the image was acquired from, as the trusted
	// acquisition provenance says; zero if unknown.
	Source Source `json:"source,omitzero"`
	// AcquiredAt is when the acquisition ran (trusted provenance); zero if
	// unknown.
	AcquiredAt time.Time `json:"acquiredAt,omitzero"`
	// PromotedAt is when the promotion decision was made (trusted
	// verification summary); zero if unknown.
	PromotedAt time.Time `json:"promotedAt,omitzero"`
	// Signature is the enterprise signature of the root manifest.
	Signature Signature `json:"signature"`
	// Decision is the policy decision of the trusted verification summary;
	// nil if there is none.
	Decision *Decision `json:"decision,omitempty"`

	// Packages is the number of distinct packages over every child's
	// trusted SBOM.
	Packages int `json:"packages"`
	// Licenses are the distinct licences of those packages, sorted.
	Licenses []string `json:"licenses,omitempty"`
	// Vulnerabilities summarises the trusted vulnerability reports of every
	// child (a finding present in several children counts once).
	Vulnerabilities VulnerabilitySummary `json:"vulnerabilities"`
	// Malware summarises the trusted malware reports of every child.
	Malware MalwareSummary `json:"malware"`
	// Reports are the scan reports attached to the image and its children,
	// trusted or not, sorted by subject, kind, scanner and digest.
	Reports []Report `json:"reports,omitempty"`

	// EndOfLife is the end-of-life date and where it comes from; nil if
	// none is known.
	EndOfLife *EndOfLife `json:"endOfLife,omitempty"`
	// Status is the lifecycle status. Empty means StatusActive.
	Status Status `json:"status,omitempty"`
	// Replacement names the image that replaces this one (a reference),
	// empty if none.
	Replacement string `json:"replacement,omitempty"`
	// Owner is the team or person responsible for the image, empty if
	// unknown.
	Owner string `json:"owner,omitempty"`
	// Labels are free key/value labels (image config labels and catalog
	// labels).
	Labels map[string]string `json:"labels,omitempty"`
	// AccessLevel is the entry's restricted access level, empty for a
	// public entry (everybody who may use the catalog may see it). The
	// access rules decide it from the repository (AccessPolicy.Apply sets
	// it, and Access, when an entry is served); stores keep what they are
	// given and enforce only Query.Visibility.
	AccessLevel string `json:"accessLevel,omitempty"`
	// Access says who may see and pull the entry and how to ask for
	// access, with the rule that set the level; nil when not applied.
	Access *Access `json:"access,omitempty"`

	// Problems lists every piece of evidence that is missing, untrusted or
	// unreadable, sorted. An entry with problems is never presented as
	// clean: its summaries count only trusted evidence.
	Problems []Problem `json:"problems,omitempty"`
}

// Child is one platform image of an entry.
type Child struct {
	// Digest is the platform manifest's digest.
	Digest digest.Digest `json:"digest"`
	// MediaType is its media type.
	MediaType string `json:"mediaType"`
	// Platform is "os/arch[/variant]"; empty if the manifest names none.
	Platform string `json:"platform,omitempty"`
	// Size is the bytes of the manifest, its config and its layers.
	Size int64 `json:"size"`
	// Signature is the enterprise signature of the platform manifest. For
	// a single-manifest entry it is the entry's signature.
	Signature Signature `json:"signature"`
	// SBOM is the trusted SBOM; nil if there is none.
	SBOM *SBOM `json:"sbom,omitempty"`
	// Packages are the trusted SBOM's packages, sorted, without
	// duplicates.
	Packages []Package `json:"packages,omitempty"`
	// Licenses are the distinct licences of Packages, sorted.
	Licenses []string `json:"licenses,omitempty"`
	// Vulnerabilities summarises the trusted vulnerability reports.
	Vulnerabilities VulnerabilitySummary `json:"vulnerabilities"`
	// Findings are the findings of the trusted vulnerability reports,
	// sorted, without duplicates.
	Findings []Finding `json:"findings,omitempty"`
	// Malware summarises the trusted malware reports.
	Malware MalwareSummary `json:"malware"`
}

// Source is where an image was acquired from.
type Source struct {
	// Reference is the source reference ("docker.io/library/nginx:1.27").
	Reference string `json:"reference,omitempty"`
	// Digest is the digest at the source.
	Digest digest.Digest `json:"digest,omitempty"`
}

// Signature is the enterprise signature state of one manifest.
type Signature struct {
	// Verified is true when at least one signature verified with the
	// enterprise trust material.
	Verified bool `json:"verified"`
	// Identities are the identities of the verified signatures, sorted.
	Identities []string `json:"identities,omitempty"`
}

// Decision is a policy decision as a verification summary records it.
type Decision struct {
	// Policy names the policy (its URI or name).
	Policy string `json:"policy,omitempty"`
	// Result is "PASSED" or "FAILED" (SLSA verification summary).
	Result string `json:"result,omitempty"`
	// Mode is the policy mode ("enforce", "audit").
	Mode string `json:"mode,omitempty"`
	// Verifier is the verifier's identifier.
	Verifier string `json:"verifier,omitempty"`
	// Digest is the verification summary manifest's digest.
	Digest digest.Digest `json:"digest,omitempty"`
}

// SBOM describes the trusted SBOM of a child.
type SBOM struct {
	// Digest is the SBOM artifact manifest's digest.
	Digest digest.Digest `json:"digest"`
	// MediaType is the SBOM document's media type.
	MediaType string `json:"mediaType,omitempty"`
	// Packages is the number of packages in it.
	Packages int `json:"packages"`
}

// Package is one package of an SBOM.
type Package struct {
	// Name is the package name as its ecosystem spells it.
	Name string `json:"name"`
	// Version is the installed version.
	Version string `json:"version,omitempty"`
	// Ecosystem is the OSV ecosystem ("Debian:12", "Go", "npm"), empty if
	// unknown.
	Ecosystem string `json:"ecosystem,omitempty"`
	// PURL is the package URL, empty if unknown.
	PURL string `json:"purl,omitempty"`
	// SourceName is the source package name when it differs from Name.
	SourceName string `json:"sourceName,omitempty"`
	// Licenses are the declared licences, sorted.
	Licenses []string `json:"licenses,omitempty"`
}

// Finding is one vulnerability finding of a trusted report.
type Finding struct {
	// ID is the vulnerability identifier (CVE-..., GHSA-..., DSA-...).
	ID string `json:"id"`
	// Aliases are other identifiers of it, sorted.
	Aliases []string `json:"aliases,omitempty"`
	// Package and Version name the affected package.
	Package string `json:"package,omitempty"`
	Version string `json:"version,omitempty"`
	// FixedVersion is the first fixed version; empty means no fix known.
	FixedVersion string `json:"fixedVersion,omitempty"`
	// Severity is one of SeverityLow, SeverityMedium, SeverityHigh,
	// SeverityCritical or SeverityUnknown.
	Severity string `json:"severity"`
}

// VulnerabilitySummary counts vulnerability findings by severity.
type VulnerabilitySummary struct {
	// Scanned is true when trusted vulnerability reports cover every
	// platform (for an entry: every child). False means the counts say
	// nothing about the image.
	Scanned  bool `json:"scanned"`
	Critical int  `json:"critical,omitempty"`
	High     int  `json:"high,omitempty"`
	Medium   int  `json:"medium,omitempty"`
	Low      int  `json:"low,omitempty"`
	Unknown  int  `json:"unknown,omitempty"`
	// Fixable counts the findings that have a fixed version.
	Fixable int `json:"fixable,omitempty"`
	// DatabaseVersions are the versions of the databases the trusted
	// reports were made with, sorted.
	DatabaseVersions []string `json:"databaseVersions,omitempty"`
}

// Total returns the number of findings.
func (v VulnerabilitySummary) Total() int {
	return v.Critical + v.High + v.Medium + v.Low + v.Unknown
}

// Max returns the severity ceiling the summary reaches: SeverityUnscanned
// when not scanned, SeverityNone when scanned clean, SeverityUnknown when
// some finding's severity is unknown, else the highest severity found.
func (v VulnerabilitySummary) Max() string {
	switch {
	case !v.Scanned:
		return SeverityUnscanned
	case v.Unknown > 0:
		return SeverityUnknown
	case v.Critical > 0:
		return SeverityCritical
	case v.High > 0:
		return SeverityHigh
	case v.Medium > 0:
		return SeverityMedium
	case v.Low > 0:
		return SeverityLow
	}
	return SeverityNone
}

func (v *VulnerabilitySummary) add(severity string, fixable bool) {
	switch severity {
	case SeverityCritical:
		v.Critical++
	case SeverityHigh:
		v.High++
	case SeverityMedium:
		v.Medium++
	case SeverityLow:
		v.Low++
	default:
		v.Unknown++
	}
	if fixable {
		v.Fixable++
	}
}

// MalwareSummary says what trusted malware reports found.
type MalwareSummary struct {
	// Scanned is true when trusted malware reports cover every platform.
	Scanned bool `json:"scanned"`
	// Detections counts the detections.
	Detections int `json:"detections,omitempty"`
	// Names are the distinct signature names detected, sorted.
	Names []string `json:"names,omitempty"`
	// DatabaseVersions are the signature database versions, sorted.
	DatabaseVersions []string `json:"databaseVersions,omitempty"`
}

// Report is one scan report attached to an image or one of its children.
type Report struct {
	// Subject is the manifest the report is about.
	Subject digest.Digest `json:"subject"`
	// Digest is the report artifact manifest's digest.
	Digest digest.Digest `json:"digest"`
	// Kind is "vulnerability" or "malware" (artifact.ReportKind...).
	Kind string `json:"kind,omitempty"`
	// Scanner and ScannerVersion name the tool.
	Scanner        string `json:"scanner,omitempty"`
	ScannerVersion string `json:"scannerVersion,omitempty"`
	// DatabaseVersion is the database the scan used.
	DatabaseVersion string `json:"databaseVersion,omitempty"`
	// Time is when the scan ran.
	Time time.Time `json:"time,omitzero"`
	// Findings is the number of findings.
	Findings int `json:"findings"`
	// Trusted is true when the enterprise signature of the report verified
	// and the report could be read; only trusted reports are counted.
	Trusted bool `json:"trusted"`
	// Superseded is true for a trusted report that a newer trusted report
	// of the same scanner about the same subject replaces; only the newest
	// is counted.
	Superseded bool `json:"superseded,omitempty"`
}

// EndOfLife is an end-of-life date with its source.
type EndOfLife struct {
	// Date is the end-of-life date, UTC.
	Date time.Time `json:"date"`
	// Source says where the date comes from: SourceMarker for a signed
	// lifecycle marker; later sources (rules, data files, overrides) add
	// their own names.
	Source string `json:"source"`
	// Marker is the lifecycle marker's manifest digest when Source is
	// SourceMarker.
	Marker digest.Digest `json:"marker,omitempty"`
	// Reason explains, in one line, why this date is the end of life (the
	// earliest of the image's, its base OS's and its runtime's) and any
	// choice made between sources that disagree. Empty if not recorded.
	Reason string `json:"reason,omitempty"`
	// Sources are every end-of-life date considered, each with its source
	// (catalog/lifecycle records them), sorted. Nil if not recorded.
	Sources []EndOfLifeSource `json:"sources,omitempty"`
}

// EndOfLifeSource is one end-of-life date considered for an entry.
type EndOfLifeSource struct {
	// Role is what the date is about: "image", "base-os" or "runtime".
	Role string `json:"role"`
	// Source is where it comes from: SourceMarker, "rule", "data-file",
	// "override".
	Source string `json:"source"`
	// Date is the date, UTC; zero when the source names none (a release
	// cycle marked ended without a date).
	Date time.Time `json:"date,omitzero"`
	// Detail names the source (the rule, the product and cycle, the
	// marker digest).
	Detail string `json:"detail,omitempty"`
}

// SourceMarker is EndOfLife.Source for a date read from an
// enterprise-signed lifecycle marker.
const SourceMarker = "lifecycle-marker"

// Problem kinds: what the missing or untrusted evidence is.
const (
	EvidenceSignature  = "signature"            // the enterprise signature of a manifest
	EvidenceSBOM       = "sbom"                 // an SBOM
	EvidenceVulnReport = "vulnerability-report" // a vulnerability report
	EvidenceMalware    = "malware-report"       // a malware report
	EvidenceProvenance = "provenance"           // acquisition provenance
	EvidenceSummary    = "verification-summary" // the policy verification summary
	EvidenceLifecycle  = "lifecycle"            // a lifecycle marker
	EvidenceReferrers  = "referrers"            // the referrers list itself
	EvidenceManifest   = "manifest"             // a manifest, config or blob of the image
)

// Problem reasons.
const (
	// ReasonMissing: no such evidence is attached.
	ReasonMissing = "missing"
	// ReasonUntrusted: the evidence is attached but carries no verified
	// enterprise signature (unsigned, forged, signed by somebody else).
	ReasonUntrusted = "untrusted"
	// ReasonUnreadable: the evidence is signed but could not be read or
	// parsed (corrupt, too large, a registry error).
	ReasonUnreadable = "unreadable"
	// ReasonRescanFailed: the evidence (a scan report) is trusted but a
	// rescan against newer data failed (registry, signer or scanner
	// error); the report in force is the previous one, and Detail says
	// what failed. The next successful rescan clears it.
	ReasonRescanFailed = "rescan-failed"
)

// Problem is one piece of evidence that is missing, untrusted or
// unreadable.
type Problem struct {
	// Subject is the manifest the evidence is about (the entry or a
	// child).
	Subject digest.Digest `json:"subject"`
	// Evidence is one of the Evidence constants.
	Evidence string `json:"evidence"`
	// Reason is one of the Reason constants.
	Reason string `json:"reason"`
	// Artifact is the digest of the offending artifact, empty when
	// missing.
	Artifact digest.Digest `json:"artifact,omitempty"`
	// Detail explains, in one line.
	Detail string `json:"detail,omitempty"`
}

// Trusted reports whether the entry has no problems: every piece of
// evidence it should have is there, signed by the enterprise key and
// readable.
func (e *Entry) Trusted() bool { return len(e.Problems) == 0 }

// Key returns the entry's identity in a store: repository and digest.
func (e *Entry) Key() string { return e.Repository + "@" + e.Digest.String() }

// Sentinel errors of this package and its stores.
var (
	// ErrNotFound: no entry (or tag) with that key.
	ErrNotFound = fmt.Errorf("catalog: not found")
	// ErrInvalidEntry: an entry fails Validate.
	ErrInvalidEntry = fmt.Errorf("catalog: invalid entry")
	// ErrInvalidQuery: a query fails Query.Validate, or a cursor is not
	// one the store issued.
	ErrInvalidQuery = fmt.Errorf("catalog: invalid query")
	// ErrClosed: the store is closed.
	ErrClosed = fmt.Errorf("catalog: store closed")
)

// MaxEntryBytes caps an entry's JSON encoding (64 MiB); Validate refuses a
// larger entry.
const MaxEntryBytes = 64 << 20

// Validate checks what a store needs: a repository, a valid digest, a
// known status, valid child and problem digests, known problem kinds.
// Errors wrap ErrInvalidEntry.
func (e *Entry) Validate() error {
	if e == nil {
		return fmt.Errorf("%w: nil", ErrInvalidEntry)
	}
	if e.Repository == "" || strings.ContainsAny(e.Repository, "@\x00") {
		return fmt.Errorf("%w: repository %q", ErrInvalidEntry, e.Repository)
	}
	if err := e.Digest.Validate(); err != nil {
		return fmt.Errorf("%w: digest %q: %v", ErrInvalidEntry, e.Digest, err)
	}
	if !e.Status.Valid() {
		return fmt.Errorf("%w: status %q", ErrInvalidEntry, e.Status)
	}
	for _, c := range e.Children {
		if err := c.Digest.Validate(); err != nil {
			return fmt.Errorf("%w: child digest %q: %v", ErrInvalidEntry, c.Digest, err)
		}
	}
	for _, p := range e.Problems {
		if err := p.Subject.Validate(); err != nil {
			return fmt.Errorf("%w: problem subject %q: %v", ErrInvalidEntry, p.Subject, err)
		}
		switch p.Reason {
		case ReasonMissing, ReasonUntrusted, ReasonUnreadable, ReasonRescanFailed:
		default:
			return fmt.Errorf("%w: problem reason %q", ErrInvalidEntry, p.Reason)
		}
	}
	if e.EndOfLife != nil && e.EndOfLife.Date.IsZero() {
		return fmt.Errorf("%w: end of life without a date", ErrInvalidEntry)
	}
	if e.EndOfLife != nil {
		for _, s := range e.EndOfLife.Sources {
			if s.Role == "" || s.Source == "" {
				return fmt.Errorf("%w: end-of-life source without role or source", ErrInvalidEntry)
			}
		}
	}
	return nil
}

// Normalize puts the entry in its canonical form: every list sorted and
// without duplicates, times in UTC, empty lists and maps nil, the status
// spelt out, and the entry-level aggregates (platforms, size is left as
// is, packages, licences, vulnerability and malware summaries) recomputed
// from the children. Two entries with the same facts marshal to the same
// bytes after Normalize. Stores call it on Put.
func (e *Entry) Normalize() {
	if e.Status == "" {
		e.Status = StatusActive
	}
	e.Tags = sortedSet(e.Tags)
	e.AcquiredAt = utc(e.AcquiredAt)
	e.PromotedAt = utc(e.PromotedAt)
	e.Signature.normalize()
	if e.EndOfLife != nil {
		e.EndOfLife.Date = utc(e.EndOfLife.Date).Truncate(time.Second)
		for i := range e.EndOfLife.Sources {
			e.EndOfLife.Sources[i].Date = utc(e.EndOfLife.Sources[i].Date).Truncate(time.Second)
		}
		slices.SortFunc(e.EndOfLife.Sources, func(a, b EndOfLifeSource) int {
			return cmp.Or(strings.Compare(a.Role, b.Role), strings.Compare(a.Source, b.Source), a.Date.Compare(b.Date),
				strings.Compare(a.Detail, b.Detail))
		})
		e.EndOfLife.Sources = slices.Compact(e.EndOfLife.Sources)
		if len(e.EndOfLife.Sources) == 0 {
			e.EndOfLife.Sources = nil
		}
	}
	if len(e.Labels) == 0 {
		e.Labels = nil
	}
	var platforms, licenses []string
	type pkey struct{ name, version, eco, purl string }
	pkgs := map[pkey]bool{}
	type fkey struct{ id, pkg, version string }
	findings := map[fkey]Finding{}
	e.Vulnerabilities = VulnerabilitySummary{Scanned: len(e.Children) > 0}
	e.Malware = MalwareSummary{Scanned: len(e.Children) > 0}
	var vulnDB, malDB []string
	for i := range e.Children {
		c := &e.Children[i]
		c.normalize()
		if c.Platform != "" {
			platforms = append(platforms, c.Platform)
		}
		licenses = append(licenses, c.Licenses...)
		for _, p := range c.Packages {
			pkgs[pkey{p.Name, p.Version, p.Ecosystem, p.PURL}] = true
		}
		for _, f := range c.Findings {
			findings[fkey{f.ID, f.Package, f.Version}] = f
		}
		e.Vulnerabilities.Scanned = e.Vulnerabilities.Scanned && c.Vulnerabilities.Scanned
		vulnDB = append(vulnDB, c.Vulnerabilities.DatabaseVersions...)
		e.Malware.Scanned = e.Malware.Scanned && c.Malware.Scanned
		e.Malware.Detections += c.Malware.Detections
		e.Malware.Names = append(e.Malware.Names, c.Malware.Names...)
		malDB = append(malDB, c.Malware.DatabaseVersions...)
	}
	slices.SortFunc(e.Children, func(a, b Child) int {
		return cmp.Or(strings.Compare(a.Platform, b.Platform), strings.Compare(string(a.Digest), string(b.Digest)))
	})
	e.Platforms = sortedSet(platforms)
	e.Licenses = sortedSet(licenses)
	e.Packages = len(pkgs)
	for _, f := range findings {
		e.Vulnerabilities.add(f.Severity, f.FixedVersion != "")
	}
	e.Vulnerabilities.DatabaseVersions = sortedSet(vulnDB)
	e.Malware.Names = sortedSet(e.Malware.Names)
	e.Malware.DatabaseVersions = sortedSet(malDB)
	for i := range e.Reports {
		e.Reports[i].Time = utc(e.Reports[i].Time)
	}
	slices.SortFunc(e.Reports, func(a, b Report) int {
		return cmp.Or(strings.Compare(string(a.Subject), string(b.Subject)), strings.Compare(a.Kind, b.Kind),
			strings.Compare(a.Scanner, b.Scanner), strings.Compare(string(a.Digest), string(b.Digest)))
	})
	e.Reports = slices.Compact(e.Reports)
	if len(e.Reports) == 0 {
		e.Reports = nil
	}
	slices.SortFunc(e.Problems, compareProblems)
	e.Problems = slices.Compact(e.Problems)
	if len(e.Problems) == 0 {
		e.Problems = nil
	}
}

func compareProblems(a, b Problem) int {
	return cmp.Or(strings.Compare(string(a.Subject), string(b.Subject)), strings.Compare(a.Evidence, b.Evidence),
		strings.Compare(a.Reason, b.Reason), strings.Compare(string(a.Artifact), string(b.Artifact)),
		strings.Compare(a.Detail, b.Detail))
}

func (s *Signature) normalize() { s.Identities = sortedSet(s.Identities) }

func (c *Child) normalize() {
	c.Signature.normalize()
	var lics []string
	for i := range c.Packages {
		c.Packages[i].Licenses = sortedSet(c.Packages[i].Licenses)
		lics = append(lics, c.Packages[i].Licenses...)
	}
	slices.SortFunc(c.Packages, func(a, b Package) int {
		return cmp.Or(strings.Compare(a.Ecosystem, b.Ecosystem), strings.Compare(a.Name, b.Name),
			strings.Compare(a.Version, b.Version), strings.Compare(a.PURL, b.PURL),
			strings.Compare(a.SourceName, b.SourceName), slices.Compare(a.Licenses, b.Licenses))
	})
	c.Packages = slices.CompactFunc(c.Packages, func(a, b Package) bool {
		return a.Ecosystem == b.Ecosystem && a.Name == b.Name && a.Version == b.Version && a.PURL == b.PURL &&
			a.SourceName == b.SourceName && slices.Equal(a.Licenses, b.Licenses)
	})
	if len(c.Packages) == 0 {
		c.Packages = nil
	}
	c.Licenses = sortedSet(append(c.Licenses, lics...))
	for i := range c.Findings {
		c.Findings[i].Aliases = sortedSet(c.Findings[i].Aliases)
		if _, ok := severityRanks[c.Findings[i].Severity]; !ok || c.Findings[i].Severity == SeverityNone || c.Findings[i].Severity == SeverityUnscanned {
			c.Findings[i].Severity = SeverityUnknown
		}
	}
	slices.SortFunc(c.Findings, func(a, b Finding) int {
		return cmp.Or(strings.Compare(a.ID, b.ID), strings.Compare(a.Package, b.Package), strings.Compare(a.Version, b.Version),
			strings.Compare(a.FixedVersion, b.FixedVersion), strings.Compare(a.Severity, b.Severity))
	})
	c.Findings = slices.CompactFunc(c.Findings, func(a, b Finding) bool {
		return a.ID == b.ID && a.Package == b.Package && a.Version == b.Version
	})
	if len(c.Findings) == 0 {
		c.Findings = nil
	}
	scanned, dbs := c.Vulnerabilities.Scanned, c.Vulnerabilities.DatabaseVersions
	c.Vulnerabilities = VulnerabilitySummary{Scanned: scanned, DatabaseVersions: sortedSet(dbs)}
	for _, f := range c.Findings {
		c.Vulnerabilities.add(f.Severity, f.FixedVersion != "")
	}
	c.Malware.Names = sortedSet(c.Malware.Names)
	c.Malware.DatabaseVersions = sortedSet(c.Malware.DatabaseVersions)
}

func sortedSet(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	s = slices.Compact(s)
	if s[0] == "" {
		s = s[1:]
	}
	if len(s) == 0 {
		return nil
	}
	return s
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// Marshal returns the canonical JSON encoding of a copy of e, normalized.
// Stores keep these bytes; equal entries give equal bytes.
func Marshal(e *Entry) ([]byte, error) {
	c := e.Clone()
	c.Normalize()
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidEntry, err)
	}
	if len(b) > MaxEntryBytes {
		return nil, fmt.Errorf("%w: %d bytes encoded, cap %d", ErrInvalidEntry, len(b), MaxEntryBytes)
	}
	return b, nil
}

// Unmarshal decodes an entry encoded by Marshal.
func Unmarshal(b []byte) (*Entry, error) {
	if len(b) > MaxEntryBytes {
		return nil, fmt.Errorf("%w: %d bytes, cap %d", ErrInvalidEntry, len(b), MaxEntryBytes)
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidEntry, err)
	}
	return &e, nil
}

// Clone returns a deep copy of e.
func (e *Entry) Clone() *Entry {
	if e == nil {
		return nil
	}
	c := *e
	c.Tags = slices.Clone(e.Tags)
	c.Platforms = slices.Clone(e.Platforms)
	c.Licenses = slices.Clone(e.Licenses)
	c.Labels = maps.Clone(e.Labels)
	c.Reports = slices.Clone(e.Reports)
	c.Problems = slices.Clone(e.Problems)
	c.Signature.Identities = slices.Clone(e.Signature.Identities)
	c.Vulnerabilities.DatabaseVersions = slices.Clone(e.Vulnerabilities.DatabaseVersions)
	c.Malware.Names = slices.Clone(e.Malware.Names)
	c.Malware.DatabaseVersions = slices.Clone(e.Malware.DatabaseVersions)
	if e.Decision != nil {
		d := *e.Decision
		c.Decision = &d
	}
	if e.EndOfLife != nil {
		x := *e.EndOfLife
		x.Sources = slices.Clone(e.EndOfLife.Sources)
		c.EndOfLife = &x
	}
	if e.Access != nil {
		a := *e.Access
		a.Groups = slices.Clone(e.Access.Groups)
		c.Access = &a
	}
	c.Children = make([]Child, len(e.Children))
	for i, ch := range e.Children {
		ch.Signature.Identities = slices.Clone(ch.Signature.Identities)
		if ch.SBOM != nil {
			s := *ch.SBOM
			ch.SBOM = &s
		}
		ch.Packages = slices.Clone(ch.Packages)
		for j := range ch.Packages {
			ch.Packages[j].Licenses = slices.Clone(ch.Packages[j].Licenses)
		}
		ch.Licenses = slices.Clone(ch.Licenses)
		ch.Findings = slices.Clone(ch.Findings)
		for j := range ch.Findings {
			ch.Findings[j].Aliases = slices.Clone(ch.Findings[j].Aliases)
		}
		ch.Vulnerabilities.DatabaseVersions = slices.Clone(ch.Vulnerabilities.DatabaseVersions)
		ch.Malware.Names = slices.Clone(ch.Malware.Names)
		ch.Malware.DatabaseVersions = slices.Clone(ch.Malware.DatabaseVersions)
		c.Children[i] = ch
	}
	if e.Children == nil {
		c.Children = nil
	}
	return &c
}
