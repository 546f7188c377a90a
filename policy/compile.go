package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cssc-go/cssc/artifact"
)

// Names of the built-in rules, as they appear in RuleResult.Rule. Decisions
// list them in this order, then custom rules in the order they were given.
const (
	// RuleSources checks the source registry/repository (Document.Sources).
	RuleSources = "sources"
	// RuleSignatures checks publisher signatures (Document.Signatures).
	RuleSignatures = "signatures"
	// RuleVulnerabilities checks vulnerability findings
	// (Document.Vulnerabilities).
	RuleVulnerabilities = "vulnerabilities"
	// RuleLicenses checks package licences (Document.Licenses).
	RuleLicenses = "licenses"
	// RuleSBOM checks that an SBOM exists (Document.SBOM).
	RuleSBOM = "sbom"
	// RuleProvenance checks that provenance exists (Document.Provenance).
	RuleProvenance = "provenance"
	// RuleMalware checks the malware scan (Document.Malware).
	RuleMalware = "malware"
	// RuleLifecycle checks the end-of-life date (Document.Lifecycle).
	RuleLifecycle = "lifecycle"
	// RuleReports checks scan reports of other kinds (Document.Reports).
	// It is evaluated even when the document has no reports section: a
	// report of a kind the policy does not name fails it.
	RuleReports = "reports"
)

var builtinRules = []string{RuleSources, RuleSignatures, RuleVulnerabilities, RuleLicenses, RuleSBOM, RuleProvenance, RuleMalware, RuleLifecycle, RuleReports}

// maxCustomRules bounds the number of custom rules.
const maxCustomRules = 256

// Option configures Compile.
type Option func(*options)

type options struct {
	rules         []Rule
	clock         func() time.Time
	rejectExpired bool
	now           time.Time
}

// WithRule adds a custom rule, evaluated after the built-in ones in the
// order given. Its Name must be unique and must not be a built-in rule name.
// A rule must be safe for concurrent use if the Policy is.
func WithRule(r Rule) Option {
	return func(o *options) { o.rules = append(o.rules, r) }
}

// WithClock sets the clock used when Evidence.Time is zero, and by Compile
// to tell which exceptions have already expired. Without it, time.Now is
// used.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.clock = now
		}
	}
}

// RejectExpiredExceptions makes an already expired exception a Compile
// error. By default it is a warning (Policy.Warnings, and every Decision's
// Warnings), and the exception is simply never applied: an exception that
// lapses must not stop every other image from being evaluated, and not
// applying it already fails closed.
func RejectExpiredExceptions() Option {
	return func(o *options) { o.rejectExpired = true }
}

// Policy is a compiled, validated policy. It is immutable and safe for
// concurrent use (as long as its custom rules are): compile once, then call
// Evaluate for every image.
type Policy struct {
	doc      Document // deep copy of the source document
	digest   string
	mode     Mode
	clock    func() time.Time
	warnings []string

	sources    *sourcesRule
	signatures *signaturesRule
	vulns      *vulnerabilitiesRule
	licenses   *licensesRule
	sbom       *requirementRule
	provenance *requirementRule
	malware    *Malware
	lifecycle  *Lifecycle
	reports    map[string]reportKindRule
	custom     []Rule
}

// Name returns the policy name.
func (p *Policy) Name() string { return p.doc.Name }

// Version returns the policy's version string (may be empty).
func (p *Policy) Version() string { return p.doc.Version }

// Mode returns ModeEnforce or ModeAudit.
func (p *Policy) Mode() Mode { return p.mode }

// Digest returns "sha256:<hex>" of the canonical JSON encoding of the
// document the policy was compiled from, so that a decision or an
// attestation can say exactly which policy was applied.
func (p *Policy) Digest() string { return p.digest }

// Warnings returns what Compile found questionable but not invalid, such as
// exceptions that have already expired.
func (p *Policy) Warnings() []string { return append([]string(nil), p.warnings...) }

// Document returns a copy of the document the policy was compiled from.
func (p *Policy) Document() *Document {
	d := cloneDocument(&p.doc)
	return &d
}

// Compile validates a document and prepares it for evaluation. Every
// problem found is reported at once in a *ValidationError that wraps
// ErrInvalidPolicy: bad patterns, bad licence identifiers, unknown enum
// values, exceptions without a reason or expiry, and a policy with no rule
// that could ever fail (fail closed).
func Compile(doc *Document, opts ...Option) (*Policy, error) {
	o := options{clock: time.Now}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if doc == nil {
		return nil, &ValidationError{Problems: []string{"no document"}}
	}
	o.now = o.clock()
	p := &Policy{doc: cloneDocument(doc), clock: o.clock}
	v := &validator{}

	if doc.APIVersion != "" && doc.APIVersion != APIVersion {
		v.addf("apiVersion: %q is not supported (want %q)", doc.APIVersion, APIVersion)
	}
	if strings.TrimSpace(doc.Name) == "" {
		v.addf("name: required")
	}
	switch doc.Mode {
	case "", ModeEnforce:
		p.mode = ModeEnforce
	case ModeAudit:
		p.mode = ModeAudit
	default:
		v.addf("mode: %q is not one of enforce, audit", doc.Mode)
	}

	canFail := p.compileRules(v, doc, &o)
	if p.compileCustom(v, o.rules) {
		canFail = true
	}

	if !canFail && len(v.problems) == 0 {
		v.addf("policy has no rule that can fail (add at least one of sources, signatures, vulnerabilities, licenses, malware, lifecycle, reports, a required sbom or provenance, or a custom rule)")
	}
	if len(v.problems) > 0 {
		return nil, &ValidationError{Policy: doc.Name, Problems: v.problems}
	}
	p.warnings = v.warnings

	canon, err := json.Marshal(&p.doc)
	if err != nil {
		return nil, &ValidationError{Policy: doc.Name, Problems: []string{"cannot encode document: " + err.Error()}}
	}
	sum := sha256.Sum256(canon)
	p.digest = "sha256:" + hex.EncodeToString(sum[:])
	return p, nil
}

// compileRules compiles the built-in rules the document configures into p
// and reports whether any of them can fail.
func (p *Policy) compileRules(v *validator, doc *Document, o *options) bool {
	canFail := false
	if doc.Sources != nil {
		p.sources = compileSources(v, doc.Sources)
		canFail = true
	}
	if doc.Signatures != nil {
		p.signatures = compileSignatures(v, doc.Signatures)
		canFail = true
	}
	if doc.Vulnerabilities != nil {
		p.vulns = compileVulnerabilities(v, doc.Vulnerabilities, o)
		canFail = true
	}
	if doc.Licenses != nil {
		p.licenses = compileLicenses(v, doc.Licenses)
		canFail = true
	}
	if doc.SBOM != nil {
		p.sbom = compileRequirement(v, "sbom", doc.SBOM)
		canFail = canFail || doc.SBOM.Required
	}
	if doc.Provenance != nil {
		p.provenance = compileRequirement(v, "provenance", doc.Provenance)
		canFail = canFail || doc.Provenance.Required
	}
	if doc.Malware != nil {
		m := *doc.Malware
		p.malware = &m
		canFail = true
	}
	if doc.Lifecycle != nil {
		if doc.Lifecycle.MinDaysBeforeEndOfLife < 0 {
			v.addf("lifecycle.minDaysBeforeEndOfLife: %d is negative", doc.Lifecycle.MinDaysBeforeEndOfLife)
		}
		if doc.Lifecycle.MinDaysBeforeEndOfLife > 36500 {
			v.addf("lifecycle.minDaysBeforeEndOfLife: %d is more than 100 years", doc.Lifecycle.MinDaysBeforeEndOfLife)
		}
		l := *doc.Lifecycle
		p.lifecycle = &l
		canFail = true
	}

	p.reports = compileReports(v, doc.Reports)
	if len(doc.Reports) > 0 {
		canFail = true
	}
	return canFail
}

// compileCustom adds the custom rules to p, refusing nil rules, empty
// names and names already used, and reports whether any was added.
func (p *Policy) compileCustom(v *validator, rules []Rule) bool {
	if len(rules) > maxCustomRules {
		v.addf("more than %d custom rules", maxCustomRules)
	}
	seen := map[string]bool{}
	for _, name := range builtinRules {
		seen[name] = true
	}
	added := false
	for i, r := range rules {
		if r == nil {
			v.addf("custom rule %d: nil", i)
			continue
		}
		name := r.Name()
		switch {
		case strings.TrimSpace(name) == "":
			v.addf("custom rule %d: empty name", i)
		case seen[name]:
			v.addf("custom rule %q: name already used", name)
		default:
			seen[name] = true
			p.custom = append(p.custom, r)
			added = true
		}
	}
	return added
}

// Validate reports whether the document compiles (with no custom rules and
// the current time), returning Compile's error.
func (d *Document) Validate() error {
	_, err := Compile(d)
	return err
}

// validator collects problems and warnings.
type validator struct {
	problems []string
	warnings []string
}

func (v *validator) addf(format string, args ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, args...))
}

func (v *validator) warnf(format string, args ...any) {
	v.warnings = append(v.warnings, fmt.Sprintf(format, args...))
}

// --- sources ---

type sourcesRule struct {
	allowed []*pattern
	denied  []*pattern
}

func compileSources(v *validator, s *Sources) *sourcesRule {
	r := &sourcesRule{}
	if len(s.Allowed) == 0 && len(s.Denied) == 0 {
		v.addf("sources: needs allowed or denied patterns")
	}
	for i, text := range s.Allowed {
		p, err := compileSourcePattern(text)
		if err != nil {
			v.addf("sources.allowed[%d]: %v", i, err)
			continue
		}
		if text == "**" {
			v.warnf("sources.allowed[%d]: ** allows every source", i)
		}
		r.allowed = append(r.allowed, p)
	}
	for i, text := range s.Denied {
		p, err := compileSourcePattern(text)
		if err != nil {
			v.addf("sources.denied[%d]: %v", i, err)
			continue
		}
		r.denied = append(r.denied, p)
	}
	return r
}

// --- signatures ---

type signaturesRule struct {
	all     bool
	signers []compiledSigner
}

type compiledSigner struct {
	name       string
	verifier   string
	format     string
	identities []*identityPattern
	issuers    []*identityPattern
	minLevel   int
}

// levelRank orders verification levels; -1 is unknown.
func levelRank(level string) int {
	switch asciiLower(strings.TrimSpace(level)) {
	case LevelStrict:
		return 3
	case LevelPermissive:
		return 2
	case LevelAudit:
		return 1
	case LevelSkip:
		return 0
	}
	return -1
}

func compileSignatures(v *validator, s *Signatures) *signaturesRule {
	r := &signaturesRule{}
	switch s.Require {
	case "", RequireAny:
	case RequireAll:
		r.all = true
	default:
		v.addf("signatures.require: %q is not one of any, all", s.Require)
	}
	if len(s.Signers) == 0 {
		v.addf("signatures.signers: at least one signer is required")
	}
	names := map[string]bool{}
	for i, sg := range s.Signers {
		field := fmt.Sprintf("signatures.signers[%d]", i)
		cs := compiledSigner{
			name:     sg.Name,
			verifier: asciiLower(strings.TrimSpace(sg.Verifier)),
			format:   asciiLower(strings.TrimSpace(sg.Format)),
			minLevel: 3,
		}
		if cs.name == "" {
			cs.name = fmt.Sprintf("signers[%d]", i)
		}
		if names[cs.name] {
			v.addf("%s.name: %q used twice", field, cs.name)
		}
		names[cs.name] = true
		if len(sg.Identities) == 0 {
			v.addf("%s.identities: at least one identity pattern is required (** accepts any identity the verifier trusts)", field)
		}
		for j, text := range sg.Identities {
			p, err := compileIdentity(text)
			if err != nil {
				v.addf("%s.identities[%d]: %v", field, j, err)
				continue
			}
			cs.identities = append(cs.identities, p)
		}
		for j, text := range sg.Issuers {
			p, err := compileIdentity(text)
			if err != nil {
				v.addf("%s.issuers[%d]: %v", field, j, err)
				continue
			}
			cs.issuers = append(cs.issuers, p)
		}
		if cs.verifier == "" && slices.Contains(sg.Identities, "**") {
			v.warnf("%s: accepts any verified signature from any verifier (set verifier, or narrow the identities)", field)
		}
		if sg.MinLevel != "" {
			rank := levelRank(sg.MinLevel)
			if rank < 1 || sg.MinLevel != strings.ToLower(sg.MinLevel) {
				v.addf("%s.minLevel: %q is not one of strict, permissive, audit", field, sg.MinLevel)
			}
			cs.minLevel = rank
		}
		r.signers = append(r.signers, cs)
	}
	return r
}

// --- vulnerabilities ---

type vulnerabilitiesRule struct {
	max        int
	maxUnfixed int
	unfixed    string
	unknownAs  int
	exceptions []compiledException
}

type compiledException struct {
	Exception
	expires  time.Time
	packages []*pattern
	images   []*pattern
}

// severityRank orders severities: none 0, low 1 ... critical 4; unknown and
// anything else -1.
func severityRank(s Severity) int {
	switch Severity(asciiLower(strings.TrimSpace(string(s)))) {
	case SeverityNone:
		return 0
	case SeverityLow:
		return 1
	case SeverityMedium:
		return 2
	case SeverityHigh:
		return 3
	case SeverityCritical:
		return 4
	}
	return -1
}

func compileCeiling(v *validator, field string, s Severity) int {
	r := severityRank(s)
	if r < 0 || string(s) != strings.ToLower(string(s)) {
		v.addf("%s: %q is not one of none, low, medium, high, critical", field, s)
	}
	return r
}

func compileVulnerabilities(v *validator, s *Vulnerabilities, o *options) *vulnerabilitiesRule {
	r := &vulnerabilitiesRule{unknownAs: 4}
	if s.MaxSeverity == "" {
		v.addf("vulnerabilities.maxSeverity: required (none, low, medium, high or critical)")
	} else {
		r.max = compileCeiling(v, "vulnerabilities.maxSeverity", s.MaxSeverity)
	}
	r.maxUnfixed = r.max
	switch s.Unfixed {
	case "":
		r.unfixed = UnfixedDeny
	case UnfixedDeny, UnfixedReport, UnfixedIgnore:
		r.unfixed = s.Unfixed
	default:
		v.addf("vulnerabilities.unfixed: %q is not one of deny, report, ignore", s.Unfixed)
	}
	if s.MaxUnfixedSeverity != "" {
		if r.unfixed == UnfixedIgnore {
			v.addf("vulnerabilities.maxUnfixedSeverity: has no effect when unfixed is ignore")
		}
		r.maxUnfixed = compileCeiling(v, "vulnerabilities.maxUnfixedSeverity", s.MaxUnfixedSeverity)
	}
	if s.UnknownSeverity != "" {
		r.unknownAs = compileCeiling(v, "vulnerabilities.unknownSeverity", s.UnknownSeverity)
		if r.unknownAs == 0 {
			v.addf("vulnerabilities.unknownSeverity: none is not a severity (use low to be lenient)")
		}
	}
	for i, e := range s.Exceptions {
		field := fmt.Sprintf("vulnerabilities.exceptions[%d]", i)
		ce := compiledException{Exception: e}
		ce.ID = strings.TrimSpace(e.ID)
		if ce.ID == "" {
			v.addf("%s.id: required", field)
		} else if strings.ContainsAny(ce.ID, " \t\n*") {
			v.addf("%s.id: %q must be a single vulnerability ID (no spaces or wildcards)", field, e.ID)
		} else {
			field += " (" + ce.ID + ")"
		}
		if strings.TrimSpace(e.Reason) == "" {
			v.addf("%s.reason: required", field)
		}
		if strings.TrimSpace(e.Expires) == "" {
			v.addf("%s.expires: required (an exception without an expiry is a permanent hole)", field)
		} else if t, err := parseDate(e.Expires); err != nil {
			v.addf("%s.expires: %v", field, err)
		} else {
			ce.expires = t
			switch left := t.Sub(o.now); {
			case left <= 0 && o.rejectExpired:
				v.addf("%s.expires: expired on %s", field, e.Expires)
			case left <= 0:
				v.warnf("%s: expired on %s and will not be applied", field, e.Expires)
			case left < expirySoon:
				v.warnf("%s: expires on %s, in less than %d days", field, e.Expires, int(expirySoon/(24*time.Hour)))
			}
		}
		for j, text := range e.Packages {
			p, err := compileGlob(text, false)
			if err != nil {
				v.addf("%s.packages[%d]: %v", field, j, err)
				continue
			}
			ce.packages = append(ce.packages, p)
		}
		for j, text := range e.Images {
			p, err := compileSourcePattern(text)
			if err != nil {
				v.addf("%s.images[%d]: %v", field, j, err)
				continue
			}
			ce.images = append(ce.images, p)
		}
		r.exceptions = append(r.exceptions, ce)
	}
	return r
}

// expirySoon is how close to its expiry an exception draws a Compile
// warning, so that someone renews or removes it before images start failing.
const expirySoon = 14 * 24 * time.Hour

// parseDate reads "2006-01-02" (midnight UTC) or an RFC 3339 time.
func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a date (2006-01-02) nor an RFC 3339 time", s)
	}
	return t, nil
}

// --- licences ---

type licensesRule struct {
	denied, allowed *licenseSet
	unknown         string
	judge           *licenseJudge
}

func compileLicenses(v *validator, s *Licenses) *licensesRule {
	r := &licensesRule{}
	var problems []string
	r.denied, problems = compileLicenseList("licenses.denied", s.Denied)
	v.problems = append(v.problems, problems...)
	r.allowed, problems = compileLicenseList("licenses.allowed", s.Allowed)
	v.problems = append(v.problems, problems...)
	switch s.Unknown {
	case "":
		r.unknown = UnknownDeny
	case UnknownAllow, UnknownWarn, UnknownDeny:
		r.unknown = s.Unknown
	default:
		v.addf("licenses.unknown: %q is not one of allow, warn, deny", s.Unknown)
	}
	for _, a := range r.allowed.entries {
		for _, d := range r.denied.entries {
			if strings.EqualFold(a, d) {
				v.addf("licenses: %q is both allowed and denied", a)
			}
		}
	}
	if len(s.Denied) == 0 && len(s.Allowed) == 0 && r.unknown != UnknownDeny {
		v.addf("licenses: needs denied or allowed licences (or unknown: deny)")
	}
	r.judge = newLicenseJudge(r.denied, r.allowed)
	return r
}

// --- reports ---

type reportKindRule struct {
	max      int
	required bool
}

// maxReportKinds bounds Document.Reports.
const maxReportKinds = 256

func compileReports(v *validator, kinds []ReportKind) map[string]reportKindRule {
	out := map[string]reportKindRule{}
	if len(kinds) > maxReportKinds {
		v.addf("reports: more than %d kinds", maxReportKinds)
		return out
	}
	for i, k := range kinds {
		field := fmt.Sprintf("reports[%d]", i)
		switch {
		case k.Kind == "":
			v.addf("%s.kind: required", field)
			continue
		case !validReportKind(k.Kind):
			v.addf("%s.kind: %q must be lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", field, k.Kind)
			continue
		case k.Kind == artifact.ReportKindVulnerability || k.Kind == artifact.ReportKindMalware:
			v.addf("%s.kind: %q has its own section (%ss)", field, k.Kind, k.Kind)
			continue
		}
		if _, dup := out[k.Kind]; dup {
			v.addf("%s.kind: %q listed twice", field, k.Kind)
			continue
		}
		r := reportKindRule{required: k.Required}
		if k.MaxSeverity != "" {
			r.max = compileCeiling(v, field+".maxSeverity", k.MaxSeverity)
		}
		out[k.Kind] = r
	}
	return out
}

func validReportKind(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// --- sbom, provenance ---

type requirementRule struct {
	required      bool
	publisherOnly bool
}

func compileRequirement(v *validator, field string, s *Requirement) *requirementRule {
	r := &requirementRule{required: s.Required}
	switch s.Source {
	case "", SourceAny:
	case SourcePublisher:
		r.publisherOnly = true
	default:
		v.addf("%s.source: %q is not one of any, publisher", field, s.Source)
	}
	return r
}

// cloneDocument deep-copies a document so that a compiled Policy cannot be
// changed through the caller's pointers.
func cloneDocument(d *Document) Document {
	c := *d
	cl := slices.Clone[[]string]
	if d.Sources != nil {
		s := Sources{Allowed: cl(d.Sources.Allowed), Denied: cl(d.Sources.Denied)}
		c.Sources = &s
	}
	if d.Signatures != nil {
		s := *d.Signatures
		s.Signers = nil
		for _, sg := range d.Signatures.Signers {
			sg.Identities = cl(sg.Identities)
			sg.Issuers = cl(sg.Issuers)
			s.Signers = append(s.Signers, sg)
		}
		c.Signatures = &s
	}
	if d.Vulnerabilities != nil {
		s := *d.Vulnerabilities
		s.Exceptions = nil
		for _, e := range d.Vulnerabilities.Exceptions {
			e.Packages = cl(e.Packages)
			e.Images = cl(e.Images)
			s.Exceptions = append(s.Exceptions, e)
		}
		c.Vulnerabilities = &s
	}
	if d.Licenses != nil {
		s := Licenses{Denied: cl(d.Licenses.Denied), Allowed: cl(d.Licenses.Allowed), Unknown: d.Licenses.Unknown}
		c.Licenses = &s
	}
	if d.SBOM != nil {
		s := *d.SBOM
		c.SBOM = &s
	}
	if d.Provenance != nil {
		s := *d.Provenance
		c.Provenance = &s
	}
	if d.Malware != nil {
		s := *d.Malware
		c.Malware = &s
	}
	if d.Lifecycle != nil {
		s := *d.Lifecycle
		c.Lifecycle = &s
	}
	c.Reports = slices.Clone(d.Reports)
	return c
}
