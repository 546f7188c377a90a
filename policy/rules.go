package policy

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/sign/dn"
)

// --- sources ---

func (e *evaluation) sources() RuleResult {
	r := e.p.sources
	ref := e.ev.Source
	if strings.TrimSpace(ref.Registry) == "" || strings.TrimSpace(ref.Repository) == "" {
		return RuleResult{Verdict: Fail, Reason: "the evidence names no source registry and repository"}
	}
	src := normaliseSource(ref)
	if strings.Contains(ref.Registry, "/") {
		return RuleResult{Verdict: Fail, Reason: fmt.Sprintf("source registry %q is malformed: it contains a /", ref.Registry)}
	}
	if problem := checkSource(src); problem != "" {
		return RuleResult{Verdict: Fail, Reason: fmt.Sprintf("source %q is malformed: %s", src, problem)}
	}
	for _, p := range r.denied {
		if p.match(src) {
			return RuleResult{Verdict: Fail, Reason: fmt.Sprintf("source %s is denied by pattern %s", src, p.text)}
		}
	}
	if len(r.allowed) == 0 {
		return RuleResult{Verdict: Pass, Reason: fmt.Sprintf("source %s matches no denied pattern", src)}
	}
	for _, p := range r.allowed {
		if p.match(src) {
			return RuleResult{Verdict: Pass, Reason: fmt.Sprintf("source %s is allowed by pattern %s", src, p.text)}
		}
	}
	var details []string
	for _, p := range r.allowed {
		if near := resembles(src, p.text); near != "" {
			details = append(details, fmt.Sprintf("%s resembles allowed %s: possible typosquatting", src, near))
		}
	}
	reason := fmt.Sprintf("source %s matches no allowed pattern", src)
	if len(details) > 0 {
		reason += " (it resembles an allowed one: possible typosquatting)"
	}
	return RuleResult{Verdict: Fail, Reason: reason, Details: capDetails(details)}
}

// checkSource rejects references that no registry would serve, so that odd
// spellings cannot slip past a pattern.
func checkSource(src string) string {
	reg, repo, _ := strings.Cut(src, "/")
	for _, c := range reg {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c)) {
			return fmt.Sprintf("registry has character %q", c)
		}
	}
	for seg := range strings.SplitSeq(repo, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "empty or relative path segment"
		}
		for _, c := range seg {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return fmt.Sprintf("repository has character %q", c)
			}
		}
	}
	return ""
}

// resembles returns what in an allowed pattern src is within two edits of
// ("docker.io/library/ngnix" vs "docker.io/library/nginx"), or "". For a
// pattern with wildcards only its literal leading segments are compared.
func resembles(src, pat string) string {
	lit := pat
	if i := strings.IndexByte(pat, '*'); i >= 0 {
		lit = pat[:i]
		j := strings.LastIndexByte(lit, '/')
		if j < 0 {
			return ""
		}
		lit = lit[:j+1]
		// Compare with the same number of leading segments of src.
		n := strings.Count(lit, "/")
		segs := strings.SplitAfterN(src, "/", n+1)
		if len(segs) <= n {
			return ""
		}
		src = strings.Join(segs[:n], "")
	}
	if src == lit {
		return ""
	}
	if d := editDistance(src, lit, 2); d >= 1 && d <= 2 {
		return pat
	}
	return ""
}

// --- signatures ---

func (e *evaluation) signatures() RuleResult {
	r := e.p.signatures
	sigs := e.ev.Signatures
	want := "a verified signature from one of " + plural(len(r.signers), "signer", "signers")
	if r.all {
		want = "verified signatures from all " + plural(len(r.signers), "signer", "signers")
	}
	if len(sigs) == 0 {
		return RuleResult{Verdict: Fail, Reason: "the image has no signatures; the policy requires " + want}
	}
	var details, satisfied, missing []string
	for _, s := range r.signers {
		ok := false
		for _, sig := range sigs {
			if !s.applies(sig) {
				continue
			}
			why := s.reject(sig)
			if why == "" {
				ok = true
				details = append(details, fmt.Sprintf("signer %s: satisfied by %s", s.name, describeSignature(sig)))
				break
			}
			details = append(details, fmt.Sprintf("signer %s: %s rejected: %s", s.name, describeSignature(sig), why))
		}
		if ok {
			satisfied = append(satisfied, s.name)
		} else {
			missing = append(missing, s.name)
			details = append(details, fmt.Sprintf("signer %s: no acceptable signature", s.name))
		}
	}
	failed := 0
	for _, sig := range sigs {
		if strings.EqualFold(strings.TrimSpace(sig.State), StateFailed) {
			failed++
			details = append(details, fmt.Sprintf("invalid signature present: %s", describeSignature(sig)))
		}
	}
	details = capDetails(details)
	pass := len(satisfied) > 0
	if r.all {
		pass = len(missing) == 0
	}
	if !pass {
		return RuleResult{Verdict: Fail, Reason: fmt.Sprintf("no acceptable signature from %s; the policy requires %s", summarise(missing, 5), want), Details: details}
	}
	if failed > 0 {
		return RuleResult{Verdict: Warn, Reason: fmt.Sprintf("signed by %s, but %s failed verification", summarise(satisfied, 5), plural(failed, "other signature", "other signatures")), Details: details}
	}
	return RuleResult{Verdict: Pass, Reason: "signed by " + summarise(satisfied, 5), Details: details}
}

// applies reports whether a signature is of the verifier and format the
// signer names (the signature may still be rejected).
func (s *compiledSigner) applies(sig Signature) bool {
	if s.verifier != "" && s.verifier != asciiLower(strings.TrimSpace(sig.Verifier)) {
		return false
	}
	if s.format != "" && s.format != asciiLower(strings.TrimSpace(sig.Format)) {
		return false
	}
	return true
}

// reject returns why a signature does not satisfy the signer, or "".
func (s *compiledSigner) reject(sig Signature) string {
	state := asciiLower(strings.TrimSpace(sig.State))
	if state != StateVerified {
		why := fmt.Sprintf("state %q", sig.State)
		if state == "" {
			why = "no verification state"
		}
		if sig.Cause != "" {
			why += ": " + sig.Cause
		}
		return why
	}
	if !anyIdentity(s.identities, sig.Identity) {
		return fmt.Sprintf("identity %q matches no allowed identity", dn.Canonical(sig.Identity))
	}
	if len(s.issuers) > 0 && !anyIdentity(s.issuers, sig.Issuer) {
		return fmt.Sprintf("issuer %q matches no allowed issuer", dn.Canonical(sig.Issuer))
	}
	if sig.Level != "" {
		rank := levelRank(sig.Level)
		if rank < s.minLevel {
			return fmt.Sprintf("verified at level %q, the policy requires %s", sig.Level, levelName(s.minLevel))
		}
	}
	return ""
}

func levelName(rank int) string {
	switch rank {
	case 3:
		return LevelStrict
	case 2:
		return LevelPermissive
	case 1:
		return LevelAudit
	}
	return LevelSkip
}

func describeSignature(sig Signature) string {
	kind := sig.Verifier
	switch {
	case sig.Format != "" && (kind == "" || strings.HasPrefix(sig.Format, kind)):
		kind = sig.Format
	case kind == "":
		kind = "unknown verifier"
	case sig.Format != "":
		kind += "/" + sig.Format
	}
	id := dn.Canonical(sig.Identity)
	if id == "" {
		id = "unknown identity"
	}
	return fmt.Sprintf("%s signature by %q (%s)", kind, id, sig.State)
}

func anyMatch(ps []*pattern, s string) bool {
	for _, p := range ps {
		if p.match(s) {
			return true
		}
	}
	return false
}

// --- vulnerabilities ---

// cvssSeverity rates a CVSS v3 base score; -1 when there is none.
func cvssSeverity(score float64) int {
	switch {
	case math.IsNaN(score) || score <= 0 || score > 10:
		return -1
	case score >= 9:
		return 4
	case score >= 7:
		return 3
	case score >= 4:
		return 2
	}
	return 1
}

func rankName(rank int) Severity {
	switch rank {
	case 0:
		return SeverityNone
	case 1:
		return SeverityLow
	case 2:
		return SeverityMedium
	case 3:
		return SeverityHigh
	case 4:
		return SeverityCritical
	}
	return SeverityUnknown
}

// effectiveSeverity rates a finding: its severity, else its CVSS score,
// else the policy's UnknownSeverity. assumed says the last happened.
func (e *evaluation) effectiveSeverity(f Vulnerability) (rank int, assumed bool) {
	s := Severity(asciiLower(strings.TrimSpace(string(f.Severity))))
	rank = severityRank(s)
	if rank >= 1 {
		return rank, false
	}
	if s != SeverityUnknown && s != "" {
		e.warnings = append(e.warnings, fmt.Sprintf("finding %s has unrecognised severity %q, rated as unknown", f.ID, f.Severity))
	}
	if c := cvssSeverity(f.CVSS); c > 0 {
		return c, false
	}
	return e.p.vulns.unknownAs, true
}

func (e *evaluation) vulnerabilities() RuleResult {
	r := e.p.vulns
	scan := e.ev.Vulnerabilities
	if !scan.Scanned {
		return RuleResult{Verdict: Fail, Reason: "the evidence has no vulnerability scan"}
	}
	var fails, warns, details []string
	ignored, excepted := 0, 0
	for _, f := range scan.Findings {
		id := strings.TrimSpace(f.ID)
		if id == "" {
			id = "(no id)"
			e.warnings = append(e.warnings, fmt.Sprintf("a finding in package %q has no ID", f.Package))
		}
		unfixed := strings.TrimSpace(f.FixedVersion) == ""
		if unfixed && r.unfixed == UnfixedIgnore {
			ignored++
			continue
		}
		rank, assumed := e.effectiveSeverity(f)
		ceiling := r.max
		if unfixed {
			ceiling = r.maxUnfixed
		}
		if rank <= ceiling {
			continue
		}
		sev := rankName(rank)
		applied, note := e.exception(f, sev)
		if applied {
			excepted++
			continue
		}
		line := fmt.Sprintf("%s in %s %s: %s", id, orUnknown(f.Package), f.Version, sev)
		if assumed {
			line += " (severity unknown, rated " + string(sev) + " by policy)"
		}
		if unfixed {
			line += ", no fix"
		} else {
			line += ", fixed in " + f.FixedVersion
		}
		if note != "" {
			line += "; " + note
		}
		if unfixed && r.unfixed == UnfixedReport {
			warns = append(warns, line)
		} else {
			fails = append(fails, line)
		}
	}
	details = append(details, fails...)
	details = append(details, warns...)
	details = capDetails(details)
	var extra []string
	if excepted > 0 {
		extra = append(extra, plural(excepted, "finding", "findings")+" accepted by exceptions")
	}
	if ignored > 0 {
		extra = append(extra, plural(ignored, "unfixed finding", "unfixed findings")+" ignored")
	}
	suffix := ""
	if len(extra) > 0 {
		suffix = " (" + strings.Join(extra, ", ") + ")"
	}
	maxName := rankName(r.max)
	switch {
	case len(fails) > 0:
		slices.Sort(fails)
		return RuleResult{Verdict: Fail, Reason: fmt.Sprintf("%s above the allowed severity %s: %s%s",
			plural(len(fails), "finding", "findings"), maxName, summarise(idsOf(fails), 5), suffix), Details: details}
	case len(warns) > 0:
		slices.Sort(warns)
		return RuleResult{Verdict: Warn, Reason: fmt.Sprintf("%s without a fix above the allowed severity, reported only: %s%s",
			plural(len(warns), "finding", "findings"), summarise(idsOf(warns), 5), suffix), Details: details}
	}
	return RuleResult{Verdict: Pass, Reason: fmt.Sprintf("%s, none above the allowed severity %s%s",
		plural(len(scan.Findings), "finding", "findings"), maxName, suffix), Details: details}
}

func idsOf(lines []string) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		id, _, _ := strings.Cut(l, " ")
		out = append(out, id)
	}
	return slices.Compact(out)
}

func orUnknown(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(unknown package)"
	}
	return s
}

// exception applies the first matching, in-scope, unexpired exception to a
// finding. When none applies, note may explain why a matching one did not.
func (e *evaluation) exception(f Vulnerability, sev Severity) (applied bool, note string) {
	src := normaliseSource(e.ev.Source)
	for _, ex := range e.p.vulns.exceptions {
		if !exceptionNames(ex.ID, f) {
			continue
		}
		if len(ex.packages) > 0 && !anyMatch(ex.packages, f.Package) {
			note = fmt.Sprintf("exception %s does not cover package %s", ex.ID, orUnknown(f.Package))
			continue
		}
		if len(ex.images) > 0 && !anyMatch(ex.images, src) {
			note = fmt.Sprintf("exception %s does not cover image %s", ex.ID, src)
			continue
		}
		if !ex.expires.After(e.now) {
			note = fmt.Sprintf("exception %s expired on %s", ex.ID, ex.Expires)
			e.warnings = append(e.warnings, fmt.Sprintf("exception %s expired on %s and was not applied", ex.ID, ex.Expires))
			continue
		}
		e.used = append(e.used, ExceptionUse{
			ID: ex.ID, Vulnerability: f.ID, Package: f.Package, Severity: sev,
			Reason: ex.Reason, Expires: ex.Expires,
		})
		return true, ""
	}
	return false, note
}

func exceptionNames(id string, f Vulnerability) bool {
	if strings.EqualFold(id, strings.TrimSpace(f.ID)) {
		return true
	}
	for _, a := range f.Aliases {
		if strings.EqualFold(id, strings.TrimSpace(a)) {
			return true
		}
	}
	return false
}

// --- licences ---

func (e *evaluation) licenses() RuleResult {
	r := e.p.licenses
	pkgs := e.ev.Packages
	if len(pkgs) == 0 {
		if !e.ev.SBOM.Present {
			return RuleResult{Verdict: Fail, Reason: "the evidence has no SBOM and no package list, so licences cannot be checked"}
		}
		return RuleResult{Verdict: Pass, Reason: "the SBOM lists no packages"}
	}
	j := r.judge
	var violating, unknown []string
	var details []string
	for _, pkg := range pkgs {
		name := orUnknown(pkg.Name)
		if pkg.Version != "" {
			name += "@" + pkg.Version
		}
		bad, unk := false, false
		if len(pkg.Licenses) == 0 {
			unk = true
			details = append(details, name+": no licence declared")
		}
		for _, expr := range pkg.Licenses {
			if err := e.ctx.Err(); err != nil {
				return RuleResult{Verdict: Fail, Reason: "not evaluated: " + err.Error()}
			}
			v, why := j.judge(expr)
			switch v {
			case licenseViolation:
				bad = true
				details = append(details, fmt.Sprintf("%s: %s (%s)", name, strings.TrimSpace(expr), why))
			case licenseUnknown:
				unk = true
				details = append(details, fmt.Sprintf("%s: unknown licence: %s", name, why))
			}
		}
		if bad {
			violating = append(violating, name)
		} else if unk {
			unknown = append(unknown, name)
		}
	}
	details = capDetails(details)
	unknownPart := ""
	if len(unknown) > 0 {
		unknownPart = fmt.Sprintf("%s with unknown licences (policy: %s)", plural(len(unknown), "package", "packages"), r.unknown)
	}
	if len(violating) > 0 {
		reason := fmt.Sprintf("%s with denied or unlisted licences: %s", plural(len(violating), "package", "packages"), summarise(violating, 5))
		if unknownPart != "" {
			reason += "; " + unknownPart
		}
		return RuleResult{Verdict: Fail, Reason: reason, Details: details}
	}
	if len(unknown) > 0 {
		reason := unknownPart + ": " + summarise(unknown, 5)
		switch r.unknown {
		case UnknownDeny:
			return RuleResult{Verdict: Fail, Reason: reason, Details: details}
		case UnknownWarn:
			return RuleResult{Verdict: Warn, Reason: reason, Details: details}
		}
		return RuleResult{Verdict: Pass, Reason: fmt.Sprintf("%s checked; %s", plural(len(pkgs), "package", "packages"), reason), Details: details}
	}
	return RuleResult{Verdict: Pass, Reason: fmt.Sprintf("%s checked, all licences acceptable", plural(len(pkgs), "package", "packages"))}
}

// --- sbom, provenance ---

func (e *evaluation) requirement(rule, what string, r *requirementRule, att Attestation) RuleResult {
	short := Fail
	qualifier := ""
	if !r.required {
		short = Warn
		qualifier = " (not required)"
	}
	if !att.Present {
		return RuleResult{Verdict: short, Reason: fmt.Sprintf("the image has no %s%s", what, qualifier)}
	}
	if n := len(att.Skipped); n > 0 {
		return RuleResult{Verdict: short, Reason: fmt.Sprintf("the %s is incomplete: %s not examined: %s%s", what,
			plural(n, "file was", "files were"), summarise(att.Skipped, 3), qualifier), Details: capDetails(slices.Clone(att.Skipped))}
	}
	source := att.Source
	if source == "" {
		source = "unknown source"
	}
	if r.publisherOnly && att.Source != SourcePublisher {
		return RuleResult{Verdict: short, Reason: fmt.Sprintf("the %s comes from %s, the policy accepts only the publisher's%s", what, source, qualifier)}
	}
	return RuleResult{Verdict: Pass, Reason: fmt.Sprintf("%s present (%s)", what, source)}
}

// --- malware ---

func (e *evaluation) malwareRule() RuleResult {
	m := e.ev.Malware
	if len(m.Detections) > 0 {
		var details, names []string
		for _, d := range m.Detections {
			details = append(details, fmt.Sprintf("%s in %s (layer %s)", orUnknown(d.Name), orUnknown(d.Path), orUnknown(d.Layer)))
			names = append(names, d.Name)
		}
		slices.Sort(names)
		return RuleResult{Verdict: Fail, Reason: fmt.Sprintf("%s: %s", plural(len(m.Detections), "malware detection", "malware detections"), summarise(slices.Compact(names), 5)), Details: capDetails(details)}
	}
	short, qualifier := Fail, ""
	if !e.p.malware.Required {
		short, qualifier = Warn, " (not required)"
	}
	if !m.Scanned {
		return RuleResult{Verdict: short, Reason: "the evidence has no malware scan" + qualifier}
	}
	if !m.Complete {
		return RuleResult{Verdict: short, Reason: "the malware scan did not complete, so the image is not known to be clean" + qualifier}
	}
	by := ""
	if m.Scanner != "" {
		by = " by " + m.Scanner
	}
	return RuleResult{Verdict: Pass, Reason: "scanned" + by + ", no malware found"}
}

// --- lifecycle ---

func formatTime(t time.Time) string {
	t = t.UTC()
	if t.Equal(t.Truncate(24 * time.Hour)) {
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339)
}

func (e *evaluation) lifecycleRule() RuleResult {
	l := e.p.lifecycle
	eol := e.ev.EndOfLife
	if eol.IsZero() {
		if l.AllowMissing {
			return RuleResult{Verdict: Pass, Reason: "no end-of-life date is known, which the policy allows"}
		}
		return RuleResult{Verdict: Fail, Reason: "the evidence has no end-of-life date and the policy requires one"}
	}
	if !eol.After(e.now) {
		return RuleResult{Verdict: Fail, Reason: fmt.Sprintf("the image reached end of life on %s", formatTime(eol))}
	}
	left := eol.Sub(e.now)
	days := int(left / (24 * time.Hour))
	need := time.Duration(l.MinDaysBeforeEndOfLife) * 24 * time.Hour
	if left < need {
		return RuleResult{Verdict: Fail, Reason: fmt.Sprintf("end of life on %s is %s away; the policy requires at least %d",
			formatTime(eol), plural(days, "day", "days"), l.MinDaysBeforeEndOfLife)}
	}
	return RuleResult{Verdict: Pass, Reason: fmt.Sprintf("end of life on %s, %s away", formatTime(eol), plural(days, "day", "days"))}
}

// --- reports ---

func (e *evaluation) reportsRule() RuleResult {
	kinds := e.p.reports
	var fails, details []string
	seen := map[string]bool{}
	listed := 0
	for _, rep := range e.ev.Reports {
		if err := e.ctx.Err(); err != nil {
			return RuleResult{Verdict: Fail, Reason: "not evaluated: " + err.Error()}
		}
		by := orUnknown(rep.Scanner)
		if rep.Platform != "" {
			by += " on " + rep.Platform
		}
		kind := strings.TrimSpace(rep.Kind)
		if kind == artifact.ReportKindVulnerability || kind == artifact.ReportKindMalware {
			// Judged by their own rules; a pipeline puts them there.
			continue
		}
		if kind == "" {
			fails = append(fails, "a report without a kind")
			details = append(details, fmt.Sprintf("report by %s has no kind, so no rule can judge its %s", by, plural(len(rep.Findings), "finding", "findings")))
			continue
		}
		rule, ok := kinds[kind]
		if !ok {
			fails = append(fails, kind+" (not named by the policy)")
			details = append(details, fmt.Sprintf("report of kind %q by %s with %s: the policy names no such kind (add it under reports, with its maxSeverity)", kind, by, plural(len(rep.Findings), "finding", "findings")))
			continue
		}
		seen[kind] = true
		listed++
		for _, f := range rep.Findings {
			rank := severityRank(Severity(asciiLower(strings.TrimSpace(string(f.Severity)))))
			if rank < 1 {
				rank = cvssSeverity(f.CVSS)
			}
			if rank < 1 {
				rank = 4
			}
			if rank <= rule.max {
				continue
			}
			where := ""
			switch {
			case f.Path != "":
				where = " in " + f.Path
			case f.Package != "":
				where = " in " + f.Package
			}
			fails = append(fails, kind+" findings above "+string(rankName(rule.max)))
			details = append(details, fmt.Sprintf("%s finding %s%s (by %s): %s, above the allowed %s", kind, orUnknown(f.ID), where, by, rankName(rank), rankName(rule.max)))
		}
	}
	var missing []string
	for kind, rule := range kinds {
		if rule.required && !seen[kind] {
			missing = append(missing, kind)
		}
	}
	slices.Sort(missing)
	for _, k := range missing {
		fails = append(fails, "no "+k+" report")
		details = append(details, fmt.Sprintf("the policy requires a report of kind %q and the evidence has none", k))
	}
	details = capDetails(details)
	if len(fails) > 0 {
		slices.Sort(fails)
		return RuleResult{Verdict: Fail, Reason: "not accepted: " + summarise(slices.Compact(fails), 5), Details: details}
	}
	if listed == 0 {
		if len(kinds) == 0 {
			return RuleResult{Verdict: Skip, Reason: "no reports of other kinds than vulnerability and malware"}
		}
		return RuleResult{Verdict: Pass, Reason: "no reports of the kinds the policy names, none required"}
	}
	return RuleResult{Verdict: Pass, Reason: fmt.Sprintf("%s of the kinds the policy names, no finding above its ceiling", plural(listed, "report", "reports"))}
}
