package scan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/cssc-go/cssc/artifact"
	"github.com/opencontainers/go-digest"
)

// MaxReportSize caps the serialised reports DecodeSARIF and DecodeJSON
// read: 64 MiB.
const MaxReportSize = 64 << 20

// MaxSARIFRuns caps the number of runs DecodeSARIF reads: 64.
const MaxSARIFRuns = 64

// SARIFVersion and SARIFSchema are written into every SARIF log.
const (
	SARIFVersion = "2.1.0"
	SARIFSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
)

// sarifLog is the subset of SARIF 2.1.0 cssc writes and reads.
type sarifLog struct {
	Schema  string     `json:"$schema,omitempty"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool              sarifTool           `json:"tool"`
	Invocations       []sarifInvocation   `json:"invocations,omitempty"`
	AutomationDetails *sarifAutomation    `json:"automationDetails,omitempty"`
	Results           []sarifResult       `json:"results"`
	Properties        *sarifRunProperties `json:"properties,omitempty"`
}

type sarifAutomation struct {
	ID string `json:"id,omitempty"`
}

type sarifRunProperties struct {
	Kind            string        `json:"kind,omitempty"`
	Subject         digest.Digest `json:"subject,omitempty"`
	DatabaseVersion string        `json:"databaseVersion,omitempty"`
	// ImageName is Trivy's: the scanned image, which Trivy also writes as
	// the artifact URI of OS package results (read only).
	ImageName string `json:"imageName,omitempty"`
}

type sarifInvocation struct {
	ExecutionSuccessful bool   `json:"executionSuccessful"`
	EndTimeUTC          string `json:"endTimeUtc,omitempty"`
}

type sarifTool struct {
	Driver     sarifComponent   `json:"driver"`
	Extensions []sarifComponent `json:"extensions,omitempty"`
}

type sarifComponent struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules,omitempty"`
}

type sarifText struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifRule struct {
	ID               string               `json:"id"`
	Name             string               `json:"name,omitempty"`
	ShortDescription *sarifText           `json:"shortDescription,omitempty"`
	FullDescription  *sarifText           `json:"fullDescription,omitempty"`
	HelpURI          string               `json:"helpUri,omitempty"`
	Help             *sarifText           `json:"help,omitempty"`
	Properties       *sarifRuleProperties `json:"properties,omitempty"`
}

type sarifRuleProperties struct {
	Severity         string   `json:"severity,omitempty"`
	SecuritySeverity string   `json:"security-severity,omitempty"`
	Tags             []string `json:"tags,omitempty"`
	Precision        string   `json:"precision,omitempty"`
}

type sarifResult struct {
	RuleID     string                 `json:"ruleId"`
	RuleIndex  *int                   `json:"ruleIndex,omitempty"`
	Level      string                 `json:"level,omitempty"`
	Message    sarifText              `json:"message"`
	Locations  []sarifLocation        `json:"locations,omitempty"`
	Properties *sarifResultProperties `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysicalLocation `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogicalLocation `json:"logicalLocations,omitempty"`
}

type sarifPhysicalLocation struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
}

type sarifArtifactLocation struct {
	URI string `json:"uri"`
}

type sarifLogicalLocation struct {
	Name               string `json:"name,omitempty"`
	FullyQualifiedName string `json:"fullyQualifiedName,omitempty"`
	Kind               string `json:"kind,omitempty"`
}

// sarifResultProperties carries a Finding losslessly.
type sarifResultProperties struct {
	Aliases      []string   `json:"aliases,omitempty"`
	Package      *Package   `json:"package,omitempty"`
	FixedVersion string     `json:"fixedVersion,omitempty"`
	Severity     string     `json:"severity,omitempty"`
	CVSS         float64    `json:"cvss,omitempty"`
	Summary      string     `json:"summary,omitempty"`
	Path         string     `json:"path,omitempty"`
	Layer        string     `json:"layer,omitempty"`
	Locations    []Location `json:"locations,omitempty"`
}

// SARIF encodes r as a SARIF 2.1.0 log (media type application/sarif+json)
// with a single run, in the form Ratify's vulnerability-report verifier
// reads:
//
//   - tool.driver.name and version are the Tool's; the database version is
//     in tool.extensions (a component named "database") and in the run's
//     properties, with the report kind and the subject digest;
//   - one rule per finding ID, with shortDescription, helpUri, a help text
//     that contains "Severity: HIGH" (what Ratify's severity check parses)
//     and properties severity, security-severity (CVSS score, or a
//     representative score of the band) and tags;
//   - one result per finding with ruleId, ruleIndex, level (error for
//     critical, high and malware; warning for medium and unknown; note for
//     low), a message, one location per Finding.Locations entry (or one
//     from Path and Layer when it is empty) whose artifactLocation is the
//     file path (the package URL when the path is unknown) and whose
//     logical locations name the package and the layer, and properties
//     that carry the finding losslessly for DecodeSARIF.
//
// The output is deterministic: findings and rules are sorted (r itself is
// not modified). Write one SARIF log per scanner kind.
func (r *Report) SARIF() ([]byte, error) {
	if r == nil {
		return nil, fmt.Errorf("sarif: nil report")
	}
	if r.Tool.Name == "" {
		return nil, fmt.Errorf("sarif: report has no tool name")
	}
	cp := *r
	cp.Findings = slices.Clone(r.Findings)
	for i := range cp.Findings {
		cp.Findings[i].Aliases = slices.Clone(cp.Findings[i].Aliases)
		cp.Findings[i].Locations = slices.Clone(cp.Findings[i].Locations)
	}
	cp.Sort()
	malware := cp.Kind == artifact.ReportKindMalware

	run := sarifRun{
		Tool: sarifTool{Driver: sarifComponent{Name: cp.Tool.Name, Version: cp.Tool.Version}},
		Invocations: []sarifInvocation{{
			ExecutionSuccessful: true,
		}},
		Results: []sarifResult{},
		Properties: &sarifRunProperties{
			Kind: cp.Kind, Subject: cp.Subject, DatabaseVersion: cp.Tool.DatabaseVersion,
		},
	}
	if !cp.Time.IsZero() {
		run.Invocations[0].EndTimeUTC = cp.Time.UTC().Format(time.RFC3339Nano)
	}
	if cp.Kind != "" {
		run.AutomationDetails = &sarifAutomation{ID: "cssc/" + cp.Kind + "/"}
	}
	if cp.Tool.DatabaseVersion != "" {
		run.Tool.Extensions = []sarifComponent{{Name: "database", Version: cp.Tool.DatabaseVersion}}
	}

	index, err := run.addRules(cp.Findings, malware)
	if err != nil {
		return nil, err
	}
	for _, f := range cp.Findings {
		run.Results = append(run.Results, sarifResultOf(f, index[f.ID], malware))
	}
	log := sarifLog{Schema: SARIFSchema, Version: SARIFVersion, Runs: []sarifRun{run}}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(log); err != nil {
		return nil, fmt.Errorf("sarif: %w", err)
	}
	return buf.Bytes(), nil
}

// addRules adds the rules of the findings to the run's driver, one per ID
// with the highest severity seen for it, and returns each ID's index. A
// finding without an ID or with an invalid severity is an error.
func (run *sarifRun) addRules(findings []Finding, malware bool) (map[string]int, error) {
	index := map[string]int{}
	for _, f := range findings {
		if f.ID == "" {
			return nil, fmt.Errorf("sarif: finding without an ID")
		}
		if f.Severity < SeverityUnknown || f.Severity > SeverityCritical {
			return nil, fmt.Errorf("sarif: finding %s: invalid severity %d", f.ID, int(f.Severity))
		}
		i, ok := index[f.ID]
		if !ok {
			i = len(run.Tool.Driver.Rules)
			index[f.ID] = i
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sarifRule{ID: f.ID, Properties: &sarifRuleProperties{}})
		}
		rule := &run.Tool.Driver.Rules[i]
		prev, _ := ParseSeverity(rule.Properties.Severity)
		if rule.Properties.Severity == "" || f.Severity > prev || (f.Severity == prev && f.CVSS > 0) {
			fillRule(rule, f, malware)
		}
	}
	return index, nil
}

// sarifResultOf is the SARIF result of f, whose rule has index i.
func sarifResultOf(f Finding, i int, malware bool) sarifResult {
	res := sarifResult{
		RuleID:    f.ID,
		RuleIndex: &i,
		Level:     f.Severity.sarifLevel(),
		Message:   sarifText{Text: message(f, malware)},
		Properties: &sarifResultProperties{
			Aliases: f.Aliases, FixedVersion: f.FixedVersion, Severity: f.Severity.String(),
			CVSS: f.CVSS, Summary: f.Summary, Path: f.Path, Layer: f.Layer, Locations: f.Locations,
		},
	}
	if malware {
		res.Level = "error"
	}
	if f.Package != (Package{}) {
		p := f.Package
		res.Properties.Package = &p
	}
	res.Locations = sarifLocations(f)
	return res
}

// sarifLocations writes one SARIF location per location of f (its
// Locations, or else its Path and Layer): the file path as the physical
// location (the package URL when the path is unknown), and the package and
// the layer as logical locations.
func sarifLocations(f Finding) []sarifLocation {
	locs := f.Locations
	if len(locs) == 0 {
		locs = []Location{{Path: f.Path, Layer: f.Layer}}
	}
	var pkg *sarifLogicalLocation
	if f.Package.Name != "" {
		fq := f.Package.PURL
		if fq == "" {
			fq = f.Package.Name + "@" + f.Package.Version
		}
		pkg = &sarifLogicalLocation{Name: f.Package.Name, FullyQualifiedName: fq, Kind: "package"}
	}
	var out []sarifLocation
	for _, l := range locs {
		var loc sarifLocation
		switch {
		case l.Path != "":
			loc.PhysicalLocation = &sarifPhysicalLocation{ArtifactLocation: sarifArtifactLocation{URI: pathURI(l.Path)}}
		case f.Package.PURL != "":
			loc.PhysicalLocation = &sarifPhysicalLocation{ArtifactLocation: sarifArtifactLocation{URI: f.Package.PURL}}
		}
		if pkg != nil {
			loc.LogicalLocations = append(loc.LogicalLocations, *pkg)
		}
		if l.Layer != "" {
			loc.LogicalLocations = append(loc.LogicalLocations, sarifLogicalLocation{Name: l.Layer, Kind: "layer"})
		}
		if loc.PhysicalLocation != nil || len(loc.LogicalLocations) > 0 {
			out = append(out, loc)
		}
	}
	return out
}

func fillRule(rule *sarifRule, f Finding, malware bool) {
	kind := "vulnerability"
	if malware {
		kind = "malware"
	}
	short := f.Summary
	if short == "" {
		short = f.ID
	}
	sev := strings.ToUpper(f.Severity.String())
	var help strings.Builder
	if malware {
		fmt.Fprintf(&help, "Malware %s\nSeverity: %s\n", f.ID, sev)
	} else {
		fmt.Fprintf(&help, "Vulnerability %s\nSeverity: %s\n", f.ID, sev)
		if f.Package.Name != "" {
			fmt.Fprintf(&help, "Package: %s\nInstalled Version: %s\n", f.Package.Name, f.Package.Version)
		}
		fixed := f.FixedVersion
		if fixed == "" {
			fixed = "none"
		}
		fmt.Fprintf(&help, "Fixed Version: %s\n", fixed)
	}
	rule.Name = ruleName(f.ID)
	rule.ShortDescription = &sarifText{Text: short}
	if !malware {
		rule.HelpURI = "https://osv.dev/vulnerability/" + url.PathEscape(f.ID)
	}
	rule.Help = &sarifText{Text: help.String(), Markdown: "**" + kind + " " + f.ID + "**\n\n| Severity | " + sev + " |\n|---|---|\n"}
	rule.Properties = &sarifRuleProperties{
		Severity:         f.Severity.String(),
		SecuritySeverity: securitySeverity(f.Severity, f.CVSS),
		Tags:             []string{kind, "security", sev},
		Precision:        "very-high",
	}
}

// ruleName turns an ID into a SARIF rule name (PascalCase-ish, no spaces).
func ruleName(id string) string {
	var b strings.Builder
	for _, c := range id {
		if c == '-' || c == '.' || c == ':' || c == ' ' || c == '/' {
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func message(f Finding, malware bool) string {
	if malware {
		s := fmt.Sprintf("%s found in %s", f.ID, f.Path)
		if f.Layer != "" {
			s += " (layer " + f.Layer + ")"
		}
		return s
	}
	s := f.ID
	if f.Package.Name != "" {
		s += " in " + f.Package.Name
		if f.Package.Version != "" {
			s += " " + f.Package.Version
		}
	}
	if f.FixedVersion != "" {
		s += " (fixed in " + f.FixedVersion + ")"
	} else {
		s += " (no fix available)"
	}
	if f.Summary != "" {
		s += ": " + f.Summary
	}
	return s
}

// pathURI writes a relative file path as a URI reference.
func pathURI(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// DecodeSARIF reads a SARIF 2.1.0 log into a Report. Logs written by
// Report.SARIF decode losslessly (findings in sorted order). Logs of other
// tools (Trivy, Grype) decode best-effort: one finding per result, ID from
// ruleId, severity from the result's or rule's properties
// ("security-severity", "severity") or the "Severity: X" line of the rule's
// help text, package from a logical location, one Location per result
// location (artifact URI as a clean relative path, layer from a logical
// location of kind "layer"; at most 4096 per result), and Path from the
// first location when the result names no package. Several runs are merged into one report (tool and kind from the
// first run). Input larger than MaxReportSize or with more than MaxSARIFRuns
// runs, malformed JSON, a version other than 2.1.0 and a log without runs
// are errors wrapping ErrInvalidReport.
func DecodeSARIF(data []byte) (*Report, error) {
	if len(data) > MaxReportSize {
		return nil, fmt.Errorf("%w: sarif larger than %d bytes", ErrInvalidReport, MaxReportSize)
	}
	var log sarifLog
	if err := json.Unmarshal(data, &log); err != nil {
		return nil, fmt.Errorf("%w: sarif: %w", ErrInvalidReport, err)
	}
	if log.Version != SARIFVersion {
		return nil, fmt.Errorf("%w: sarif version %q, want %s", ErrInvalidReport, truncate(log.Version, 32), SARIFVersion)
	}
	if len(log.Runs) == 0 {
		return nil, fmt.Errorf("%w: sarif has no runs", ErrInvalidReport)
	}
	if len(log.Runs) > MaxSARIFRuns {
		return nil, fmt.Errorf("%w: sarif has %d runs, cap %d", ErrInvalidReport, len(log.Runs), MaxSARIFRuns)
	}
	r := &Report{Findings: []Finding{}}
	for n, run := range log.Runs {
		if n == 0 {
			r.Tool = Tool{Name: run.Tool.Driver.Name, Version: run.Tool.Driver.Version}
			for _, ext := range run.Tool.Extensions {
				if ext.Name == "database" {
					r.Tool.DatabaseVersion = ext.Version
				}
			}
			if p := run.Properties; p != nil {
				r.Kind = p.Kind
				if p.Subject != "" && p.Subject.Validate() == nil {
					r.Subject = p.Subject
				}
				if p.DatabaseVersion != "" {
					r.Tool.DatabaseVersion = p.DatabaseVersion
				}
			}
			if len(run.Invocations) > 0 && run.Invocations[0].EndTimeUTC != "" {
				t, err := time.Parse(time.RFC3339Nano, run.Invocations[0].EndTimeUTC)
				if err != nil {
					return nil, fmt.Errorf("%w: sarif endTimeUtc: %w", ErrInvalidReport, err)
				}
				r.Time = t
			}
		}
		rules := make(map[string]*sarifRule, len(run.Tool.Driver.Rules))
		for i := range run.Tool.Driver.Rules {
			rules[run.Tool.Driver.Rules[i].ID] = &run.Tool.Driver.Rules[i]
		}
		image := ""
		if p := run.Properties; p != nil && p.ImageName != "" {
			image = imageRepository(p.ImageName)
		}
		for _, res := range run.Results {
			f, err := decodeResult(res, rules, image)
			if err != nil {
				return nil, err
			}
			r.Findings = append(r.Findings, f)
		}
	}
	r.Sort()
	return r, nil
}

// imageRepository strips the tag or digest of an image reference.
func imageRepository(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	return ref
}

// trivyMessage reads the "Package: X", "Installed Version: Y" and "Fixed
// Version: Z" lines Trivy writes in a result's message.
func trivyMessage(text string) (name, version, fixed string) {
	for line := range strings.SplitSeq(text, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Package":
			name = strings.TrimSpace(v)
		case "Installed Version":
			version = strings.TrimSpace(v)
		case "Fixed Version":
			fixed = strings.TrimSpace(v)
		}
	}
	return name, version, fixed
}

func decodeResult(res sarifResult, rules map[string]*sarifRule, image string) (Finding, error) {
	if res.RuleID == "" {
		return Finding{}, fmt.Errorf("%w: sarif result without ruleId", ErrInvalidReport)
	}
	f := Finding{ID: res.RuleID}
	rule := rules[res.RuleID]
	if p := res.Properties; p != nil {
		f.Aliases = p.Aliases
		if p.Package != nil {
			f.Package = *p.Package
		}
		f.FixedVersion, f.CVSS, f.Summary, f.Path, f.Layer = p.FixedVersion, p.CVSS, p.Summary, p.Path, p.Layer
		f.Locations = p.Locations
		if p.Severity != "" {
			s, err := ParseSeverity(p.Severity)
			if err != nil {
				return Finding{}, fmt.Errorf("%w: sarif result %s: %w", ErrInvalidReport, truncate(res.RuleID, 64), err)
			}
			f.Severity = s
		}
	}
	if f.Severity == SeverityUnknown && rule != nil {
		f.Severity = ruleSeverity(rule)
	}
	if res.Properties == nil && rule != nil && rule.ShortDescription != nil && rule.ShortDescription.Text != res.RuleID {
		f.Summary = rule.ShortDescription.Text
	}
	// Report.SARIF always writes the severity property; its Locations came
	// with the properties.
	lossless := res.Properties != nil && res.Properties.Severity != ""
	if !lossless {
		name, version, fixed := trivyMessage(res.Message.Text)
		if f.Package.Name == "" && name != "" {
			f.Package.Name, f.Package.Version = name, version
		}
		if f.FixedVersion == "" {
			f.FixedVersion = fixed
		}
	}
	for _, loc := range res.Locations {
		var l Location
		for _, ll := range loc.LogicalLocations {
			if ll.Kind == "package" && f.Package.Name == "" {
				f.Package.Name = ll.Name
				if strings.HasPrefix(ll.FullyQualifiedName, "pkg:") {
					f.Package.PURL = ll.FullyQualifiedName
				}
			}
			if ll.Kind == "layer" {
				l.Layer = ll.Name
				if f.Layer == "" {
					f.Layer = ll.Name
				}
			}
		}
		if pl := loc.PhysicalLocation; pl != nil && pl.ArtifactLocation.URI != "" {
			uri := pl.ArtifactLocation.URI
			if strings.HasPrefix(uri, "pkg:") {
				if f.Package.PURL == "" {
					f.Package.PURL = uri
				}
			} else if image == "" || imageRepository(uri) != image {
				// Trivy writes the image name as the URI of OS package
				// results: that is not a file.
				l.Path = locationPath(uri)
			}
		}
		if !lossless && (l.Path != "" || l.Layer != "") && len(f.Locations) < maxLocations {
			f.Locations = append(f.Locations, l)
		}
	}
	if f.Path == "" && f.Package.Name == "" && len(f.Locations) > 0 {
		f.Path = f.Locations[0].Path
	}
	return f, nil
}

// maxLocations caps the locations DecodeSARIF takes from one result of a
// log written by another tool.
const maxLocations = 1 << 12

// locationPath turns a SARIF artifact URI (relative, "file:///usr/bin/x",
// or percent-escaped) into a clean relative path.
func locationPath(uri string) string {
	uri = strings.TrimPrefix(uri, "file://")
	if u, err := url.PathUnescape(uri); err == nil {
		uri = u
	}
	return strings.TrimPrefix(path.Clean("/"+uri), "/")
}

// ruleSeverity reads a rule's severity the ways scanners write it.
func ruleSeverity(rule *sarifRule) Severity {
	if p := rule.Properties; p != nil {
		if s, err := ParseSeverity(p.Severity); err == nil && s != SeverityUnknown {
			return s
		}
		if s, err := ParseSeverity(p.SecuritySeverity); err == nil && s != SeverityUnknown {
			return s
		}
	}
	if rule.Help != nil {
		if _, after, ok := strings.Cut(rule.Help.Text, "Severity:"); ok {
			word := strings.Fields(after)
			if len(word) > 0 {
				if s, err := ParseSeverity(word[0]); err == nil {
					return s
				}
			}
		}
	}
	return SeverityUnknown
}

// DecodeJSON reads a report in its JSON form (as encoding/json writes a
// Report). Input larger than MaxReportSize and malformed JSON are errors
// wrapping ErrInvalidReport.
func DecodeJSON(data []byte) (*Report, error) {
	if len(data) > MaxReportSize {
		return nil, fmt.Errorf("%w: report larger than %d bytes", ErrInvalidReport, MaxReportSize)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidReport, err)
	}
	if r.Subject != "" {
		if err := r.Subject.Validate(); err != nil {
			return nil, fmt.Errorf("%w: subject: %w", ErrInvalidReport, err)
		}
	}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	return &r, nil
}

// ValidateSARIF checks that data is a SARIF 2.1.0 log that Ratify's
// vulnerability-report verifier can use: version 2.1.0; at least one run;
// each run names its tool (tool.driver.name); rule IDs are unique; every
// result has a ruleId that names a rule of its run (ruleIndex, when
// present, points at that rule), a message text and a valid level; every
// rule's help text carries a "Severity: X" line and its security-severity,
// if present, is a number from 0 to 10. It is a structural check of those
// fields, not a full JSON Schema validation. Errors wrap ErrInvalidReport.
func ValidateSARIF(data []byte) error {
	if len(data) > MaxReportSize {
		return fmt.Errorf("%w: sarif larger than %d bytes", ErrInvalidReport, MaxReportSize)
	}
	var log sarifLog
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&log); err != nil {
		return fmt.Errorf("%w: sarif: %w", ErrInvalidReport, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: sarif: %s", ErrInvalidReport, fmt.Sprintf(format, args...))
	}
	if log.Version != SARIFVersion {
		return bad("version %q, want %s", truncate(log.Version, 32), SARIFVersion)
	}
	if len(log.Runs) == 0 {
		return bad("no runs")
	}
	for n, run := range log.Runs {
		if run.Tool.Driver.Name == "" {
			return bad("run %d: no tool.driver.name", n)
		}
		rules := map[string]int{}
		for i, rule := range run.Tool.Driver.Rules {
			if rule.ID == "" {
				return bad("run %d: rule %d has no id", n, i)
			}
			if _, dup := rules[rule.ID]; dup {
				return bad("run %d: duplicate rule %q", n, truncate(rule.ID, 64))
			}
			rules[rule.ID] = i
			if rule.Help == nil || !strings.Contains(rule.Help.Text, "Severity:") {
				return bad("run %d: rule %q: help text has no Severity line", n, truncate(rule.ID, 64))
			}
			if p := rule.Properties; p != nil && p.SecuritySeverity != "" {
				var v float64
				if _, err := fmt.Sscanf(p.SecuritySeverity, "%g", &v); err != nil || v < 0 || v > 10 {
					return bad("run %d: rule %q: security-severity %q", n, truncate(rule.ID, 64), truncate(p.SecuritySeverity, 16))
				}
			}
		}
		for i, res := range run.Results {
			if res.RuleID == "" {
				return bad("run %d: result %d has no ruleId", n, i)
			}
			idx, ok := rules[res.RuleID]
			if !ok {
				return bad("run %d: result %d: rule %q not in tool.driver.rules", n, i, truncate(res.RuleID, 64))
			}
			if res.RuleIndex != nil && *res.RuleIndex != idx {
				return bad("run %d: result %d: ruleIndex %d does not point at rule %q", n, i, *res.RuleIndex, truncate(res.RuleID, 64))
			}
			if res.Message.Text == "" {
				return bad("run %d: result %d has no message text", n, i)
			}
			switch res.Level {
			case "", "none", "note", "warning", "error":
			default:
				return bad("run %d: result %d: level %q", n, i, truncate(res.Level, 16))
			}
		}
	}
	return nil
}
