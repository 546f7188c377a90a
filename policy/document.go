package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// MaxDocumentSize is the largest policy document Parse accepts (1 MiB). A
// policy is a short hand-written file; anything larger is refused before it
// is decoded.
const MaxDocumentSize = 1 << 20

// APIVersion is the only accepted value of Document.APIVersion (which may
// also be left empty).
const APIVersion = "cssc.dev/policy/v1"

// Mode says what a failing decision does.
type Mode string

const (
	// ModeEnforce denies when any rule fails. It is the default: an empty
	// mode compiles to ModeEnforce.
	ModeEnforce Mode = "enforce"
	// ModeAudit never denies (Decision.Allowed is always true) but records
	// every failing rule and sets Decision.WouldDeny: a dry run.
	ModeAudit Mode = "audit"
)

// Severity is a vulnerability severity as a lower-case word. The same type
// is used in documents (ceilings) and in Evidence (findings).
type Severity string

const (
	// SeverityNone is only meaningful as a ceiling: no finding of any
	// severity is allowed.
	SeverityNone Severity = "none"
	// SeverityUnknown is a finding whose severity the scanner could not
	// tell (and whose CVSS score is zero).
	SeverityUnknown Severity = "unknown"
	// SeverityLow is CVSS 0.1-3.9.
	SeverityLow Severity = "low"
	// SeverityMedium is CVSS 4.0-6.9.
	SeverityMedium Severity = "medium"
	// SeverityHigh is CVSS 7.0-8.9.
	SeverityHigh Severity = "high"
	// SeverityCritical is CVSS 9.0-10.0.
	SeverityCritical Severity = "critical"
)

// Values of Vulnerabilities.Unfixed: what to do with a finding that has no
// fixed version yet.
const (
	// UnfixedDeny treats unfixed findings like fixed ones: above the ceiling
	// (MaxUnfixedSeverity if set, else MaxSeverity) they fail the rule. It
	// is the default.
	UnfixedDeny = "deny"
	// UnfixedReport lets unfixed findings above the ceiling through with a
	// warning (verdict warn) instead of a failure.
	UnfixedReport = "report"
	// UnfixedIgnore leaves unfixed findings out of the rule altogether
	// (they are only counted in the details).
	UnfixedIgnore = "ignore"
)

// Values of Licenses.Unknown: what to do with a package whose licence is
// missing, NOASSERTION, NONE, not a valid SPDX expression, or usable only
// under a licence reference the policy does not name.
const (
	// UnknownAllow passes such packages (they are counted in the details).
	UnknownAllow = "allow"
	// UnknownWarn passes such packages with verdict warn.
	UnknownWarn = "warn"
	// UnknownDeny fails the rule. It is the default.
	UnknownDeny = "deny"
)

// Values of Signatures.Require.
const (
	// RequireAny is satisfied when at least one listed signer has a
	// verified signature. It is the default.
	RequireAny = "any"
	// RequireAll is satisfied only when every listed signer has one.
	RequireAll = "all"
)

// Values of Requirement.Source (which SBOMs or provenance documents count).
const (
	// SourceAny accepts a document from the publisher or one cssc
	// generated. It is the default.
	SourceAny = "any"
	// SourcePublisher accepts only a document the publisher supplied (and
	// is also the Attestation.Source value of such evidence).
	SourcePublisher = "publisher"
	// SourceGenerated is the Attestation.Source value of a document that
	// cssc generated during acquisition.
	SourceGenerated = "generated"
)

// Verification levels a signature can have been verified at (Notary Project
// terms), strongest first. Signer.MinLevel names the weakest one accepted.
const (
	// LevelStrict enforces every check (integrity, authenticity, expiry,
	// revocation). It is the default minimum.
	LevelStrict = "strict"
	// LevelPermissive enforces integrity and authenticity but only logs
	// expiry and revocation problems.
	LevelPermissive = "permissive"
	// LevelAudit enforces only integrity: an untrusted signer passes.
	LevelAudit = "audit"
	// LevelSkip means the signature was not verified at all; it never
	// satisfies a signer and is not a valid MinLevel.
	LevelSkip = "skip"
)

// Document is a policy as written in YAML or JSON. The field names below are
// the document keys; doc.go shows a complete example. A Document is only a
// description: Compile validates it and turns it into a Policy.
//
// A rule section left nil is not checked (its verdict is skip). A section
// that is present is required: if the evidence it needs is missing, the rule
// fails (fail closed). A document with no section that can fail, and no
// custom rule, does not compile.
type Document struct {
	// APIVersion, if set, must be APIVersion ("cssc.dev/policy/v1").
	APIVersion string `json:"apiVersion,omitempty" yaml:"apiVersion,omitempty"`
	// Name identifies the policy in decisions and attestations. Required.
	Name string `json:"name" yaml:"name"`
	// Version is the author's version of the policy (free text, optional).
	Version string `json:"version,omitempty" yaml:"version,omitempty"`
	// Description is free text for people (optional).
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// Mode is "enforce" (the default when empty) or "audit".
	Mode Mode `json:"mode,omitempty" yaml:"mode,omitempty"`

	// Sources restricts where images may come from.
	Sources *Sources `json:"sources,omitempty" yaml:"sources,omitempty"`
	// Signatures requires publisher signatures.
	Signatures *Signatures `json:"signatures,omitempty" yaml:"signatures,omitempty"`
	// Vulnerabilities caps vulnerability severities.
	Vulnerabilities *Vulnerabilities `json:"vulnerabilities,omitempty" yaml:"vulnerabilities,omitempty"`
	// Licenses denies or allows package licences.
	Licenses *Licenses `json:"licenses,omitempty" yaml:"licenses,omitempty"`
	// SBOM requires a software bill of materials.
	SBOM *Requirement `json:"sbom,omitempty" yaml:"sbom,omitempty"`
	// Provenance requires a provenance attestation.
	Provenance *Requirement `json:"provenance,omitempty" yaml:"provenance,omitempty"`
	// Malware requires a complete, clean malware scan.
	Malware *Malware `json:"malware,omitempty" yaml:"malware,omitempty"`
	// Lifecycle requires a minimum time before end of life.
	Lifecycle *Lifecycle `json:"lifecycle,omitempty" yaml:"lifecycle,omitempty"`
	// Reports names the kinds of scan report other than vulnerability and
	// malware (those of custom scanners: "secrets", "config", ...), each
	// with its own ceiling. The rule "reports" is always evaluated: a
	// report in the evidence whose kind is not named here fails it, so
	// that no finding of any scanner is ignored. Empty means no other
	// kind is accepted.
	Reports []ReportKind `json:"reports,omitempty" yaml:"reports,omitempty"`
}

// ReportKind accepts scan reports of one kind and judges their findings.
type ReportKind struct {
	// Kind is the report kind as the scanner writes it ("secrets"): lower
	// case letters, digits, '.', '_' and '-', starting with a letter or
	// digit. Required; not "vulnerability" or "malware", which have their
	// own sections.
	Kind string `json:"kind" yaml:"kind"`
	// MaxSeverity is the highest finding severity allowed: "none" (the
	// default when empty: any finding fails), "low", "medium", "high" or
	// "critical" (findings never fail; they are listed). A finding with no
	// recognised severity and no CVSS score counts as critical.
	MaxSeverity Severity `json:"maxSeverity,omitempty" yaml:"maxSeverity,omitempty"`
	// Required makes the absence of any report of this kind fail the rule.
	Required bool `json:"required,omitempty" yaml:"required,omitempty"`
}

// Sources lists the registry/repository patterns an image may come from.
// Patterns are matched against "registry/repository" of the source reference
// (for example "docker.io/library/nginx"); see Patterns in the package
// documentation for the syntax.
type Sources struct {
	// Allowed patterns: the source must match at least one. Empty means
	// every source not denied is allowed (then Denied must not be empty).
	Allowed []string `json:"allowed,omitempty" yaml:"allowed,omitempty"`
	// Denied patterns: a source matching any of them fails, even when it is
	// also allowed.
	Denied []string `json:"denied,omitempty" yaml:"denied,omitempty"`
}

// Signatures lists the signers whose verified signatures are required.
type Signatures struct {
	// Require is "any" (the default: one listed signer suffices) or "all"
	// (every listed signer must have signed).
	Require string `json:"require,omitempty" yaml:"require,omitempty"`
	// Signers lists the acceptable signers. At least one is required.
	Signers []Signer `json:"signers" yaml:"signers"`
}

// Signer describes one acceptable signer. A signature satisfies it when the
// signature was verified, its verifier and format match (when given), its
// identity matches one of Identities, its issuer matches one of Issuers
// (when given), and its verification level is at least MinLevel.
type Signer struct {
	// Name labels the signer in decisions (optional; "signers[i]" if empty).
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Verifier is the verifier that must have checked the signature:
	// "notation" or "cosign" (case-insensitive; empty = any).
	Verifier string `json:"verifier,omitempty" yaml:"verifier,omitempty"`
	// Format is the signature format, in the sign package's vocabulary:
	// "notation-jws", "notation-cose", "cosign" or "sigstore-bundle"
	// (case-insensitive; empty = any).
	Format string `json:"format,omitempty" yaml:"format,omitempty"`
	// Identities are patterns for the signer identity (an X.509 subject or
	// a sigstore certificate identity). Required: write "**" to accept
	// every identity the verifier's own trust policy already trusts.
	Identities []string `json:"identities" yaml:"identities"`
	// Issuers are patterns for the issuer (certificate authority or OIDC
	// issuer). Empty = any.
	Issuers []string `json:"issuers,omitempty" yaml:"issuers,omitempty"`
	// MinLevel is the weakest accepted verification level: "strict" (the
	// default), "permissive" or "audit". A signature with no level (a
	// verifier without the notion, such as cosign) is accepted.
	MinLevel string `json:"minLevel,omitempty" yaml:"minLevel,omitempty"`
}

// Vulnerabilities caps the severity of vulnerability findings.
type Vulnerabilities struct {
	// MaxSeverity is the highest severity allowed: "none", "low", "medium",
	// "high" or "critical" (the last allows every finding). Required.
	MaxSeverity Severity `json:"maxSeverity" yaml:"maxSeverity"`
	// Unfixed is "deny" (the default), "report" or "ignore": see
	// UnfixedDeny, UnfixedReport and UnfixedIgnore.
	Unfixed string `json:"unfixed,omitempty" yaml:"unfixed,omitempty"`
	// MaxUnfixedSeverity, if set, is the ceiling for findings without a
	// fixed version instead of MaxSeverity (not allowed with "ignore").
	MaxUnfixedSeverity Severity `json:"maxUnfixedSeverity,omitempty" yaml:"maxUnfixedSeverity,omitempty"`
	// UnknownSeverity is the severity assumed for a finding whose severity
	// is unknown and whose CVSS score is zero: "low", "medium", "high" or
	// "critical". Empty means "critical" (fail closed).
	UnknownSeverity Severity `json:"unknownSeverity,omitempty" yaml:"unknownSeverity,omitempty"`
	// Exceptions accept specific findings above the ceiling until they
	// expire.
	Exceptions []Exception `json:"exceptions,omitempty" yaml:"exceptions,omitempty"`
}

// Exception accepts one vulnerability (by ID or alias) until it expires,
// optionally only in some packages or images.
type Exception struct {
	// ID is the vulnerability ID or any of its aliases, for example
	// "CVE-2024-45491" or "GHSA-xxxx-xxxx-xxxx" (case-insensitive).
	// Required.
	ID string `json:"id" yaml:"id"`
	// Reason says why the finding is accepted. Required.
	Reason string `json:"reason" yaml:"reason"`
	// Expires is when the exception stops applying: a date ("2026-06-30",
	// meaning 2026-06-30T00:00:00Z, so the exception no longer applies on
	// that day) or an RFC 3339 time. Required.
	Expires string `json:"expires" yaml:"expires"`
	// Packages limits the exception to findings in packages whose name
	// matches one of these patterns (empty = any package).
	Packages []string `json:"packages,omitempty" yaml:"packages,omitempty"`
	// Images limits the exception to sources matching one of these
	// registry/repository patterns (same syntax as Sources; empty = any).
	Images []string `json:"images,omitempty" yaml:"images,omitempty"`
}

// Licenses denies or allows package licences, written as SPDX licence
// identifiers ("MIT", "GPL-3.0-only", "GPL-2.0-or-later",
// "GPL-2.0-only WITH Classpath-exception-2.0", "LicenseRef-Proprietary").
// See doc.go for how package expressions with AND and OR are judged.
type Licenses struct {
	// Denied licences: a package whose expression cannot be satisfied
	// without one of them fails.
	Denied []string `json:"denied,omitempty" yaml:"denied,omitempty"`
	// Allowed licences: if not empty, every package expression must be
	// satisfiable with these alone (minus Denied).
	Allowed []string `json:"allowed,omitempty" yaml:"allowed,omitempty"`
	// Unknown is "allow", "warn" or "deny" (the default): what to do with a
	// package whose licence is missing, NOASSERTION, NONE, unparseable, or
	// usable only under a licence reference (LicenseRef-*, DocumentRef-*)
	// that Denied and Allowed do not name.
	Unknown string `json:"unknown,omitempty" yaml:"unknown,omitempty"`
}

// Requirement is an SBOM or provenance requirement.
type Requirement struct {
	// Required makes a missing document fail the rule. When false, a
	// missing document only gives verdict warn.
	Required bool `json:"required" yaml:"required"`
	// Source is "any" (the default) or "publisher" (a document cssc
	// generated does not count).
	Source string `json:"source,omitempty" yaml:"source,omitempty"`
}

// Malware requires a malware scan by a scanner that declares itself a
// malware scanner (Evidence.Malware.Scanned), not by any report labelled
// "malware". Detections always fail the rule when the section is present.
type Malware struct {
	// Required makes a missing or incomplete scan fail the rule. When
	// false, it only gives verdict warn.
	Required bool `json:"required" yaml:"required"`
}

// Lifecycle requires a minimum time before the image's end of life.
type Lifecycle struct {
	// MinDaysBeforeEndOfLife is how many days (of 24 hours) must remain
	// before the end-of-life date. 0 only rejects images already past it.
	MinDaysBeforeEndOfLife int `json:"minDaysBeforeEndOfLife" yaml:"minDaysBeforeEndOfLife"`
	// AllowMissing accepts an image with no known end-of-life date. When
	// false (the default), a missing date fails the rule.
	AllowMissing bool `json:"allowMissing,omitempty" yaml:"allowMissing,omitempty"`
}

// Parse decodes a policy document from YAML or JSON. A document whose first
// non-blank character is '{' is read as JSON, anything else as YAML (one
// YAML document only). Unknown keys, duplicate keys, trailing data and
// documents larger than MaxDocumentSize are errors wrapping
// ErrInvalidPolicy. Parse does not validate the content: Compile does.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: document is %d bytes, more than the %d byte limit", ErrInvalidPolicy, len(data), MaxDocumentSize)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: document is not valid UTF-8", ErrInvalidPolicy)
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	trimmed := bytes.TrimLeftFunc(data, unicode.IsSpace)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: document is empty", ErrInvalidPolicy)
	}
	var doc Document
	if trimmed[0] == '{' {
		if err := checkJSONDuplicates(trimmed); err != nil {
			return nil, fmt.Errorf("%w: json: %v", ErrInvalidPolicy, err)
		}
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&doc); err != nil {
			return nil, fmt.Errorf("%w: json: %v", ErrInvalidPolicy, err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: json: trailing data after the document", ErrInvalidPolicy)
		}
		return &doc, nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
	}
	if len(root.Content) == 0 {
		return nil, fmt.Errorf("%w: document is empty", ErrInvalidPolicy)
	}
	if root.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: yaml: line %d: the document must be a mapping of keys to values", ErrInvalidPolicy, root.Content[0].Line)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: document is empty", ErrInvalidPolicy)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: yaml: more than one document in the stream", ErrInvalidPolicy)
	}
	return &doc, nil
}

// maxJSONDepth bounds nesting in a JSON document (a policy needs five).
const maxJSONDepth = 64

// checkJSONDuplicates rejects an object with the same key twice, which
// encoding/json would silently resolve to the last value (a classic way to
// hide a weakening setting from a reviewer).
func checkJSONDuplicates(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		object bool
		keys   map[string]bool
		expect bool // next token in an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.expect {
			if key, ok := tok.(string); ok {
				if top.keys[key] {
					return fmt.Errorf("duplicate key %q", key)
				}
				top.keys[key] = true
				top.expect = false
				continue
			}
		}
		if len(stack) >= maxJSONDepth && (tok == json.Delim('{') || tok == json.Delim('[')) {
			return fmt.Errorf("nested deeper than %d levels", maxJSONDepth)
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]bool{}, expect: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value (scalar or a closed container) was read.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].expect = true
		}
	}
}

// Default returns a strict starter policy (the same as
// testdata/default.yaml): official Docker Hub images and Microsoft's
// registry only, nothing above medium severity (unfixed findings only
// reported), no AGPL/SSPL/BUSL licences (unknown licences warned about), an
// SBOM, provenance and a clean malware scan required, and at least 30 days
// to a known end of life. It requires no signatures, since which signers
// to trust depends on the deployment: add a Signatures section. Each call
// returns a new Document the caller may change.
func Default() *Document {
	return &Document{
		APIVersion:  APIVersion,
		Name:        "cssc-default",
		Version:     "1",
		Description: "Strict starter policy for the Acquire stage.",
		Mode:        ModeEnforce,
		Sources: &Sources{
			Allowed: []string{"docker.io/library/*", "mcr.microsoft.com/**"},
		},
		Vulnerabilities: &Vulnerabilities{
			MaxSeverity:     SeverityMedium,
			Unfixed:         UnfixedReport,
			UnknownSeverity: SeverityHigh,
		},
		Licenses: &Licenses{
			Denied:  []string{"AGPL-1.0-only", "AGPL-1.0-or-later", "AGPL-3.0-only", "AGPL-3.0-or-later", "SSPL-1.0", "BUSL-1.1"},
			Unknown: UnknownWarn,
		},
		SBOM:       &Requirement{Required: true},
		Provenance: &Requirement{Required: true},
		Malware:    &Malware{Required: true},
		Lifecycle:  &Lifecycle{MinDaysBeforeEndOfLife: 30, AllowMissing: true},
	}
}

// String returns the document as YAML (for logs and error messages).
func (d *Document) String() string {
	if d == nil {
		return "<nil>"
	}
	out, err := yaml.Marshal(d)
	if err != nil {
		return fmt.Sprintf("<unprintable policy: %v>", err)
	}
	return strings.TrimSpace(string(out))
}
