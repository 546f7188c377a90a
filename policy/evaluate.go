package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Verdict is the outcome of one rule.
type Verdict string

const (
	// Pass means the rule is satisfied.
	Pass Verdict = "pass"
	// Fail means the rule is not satisfied; in enforce mode the decision
	// denies.
	Fail Verdict = "fail"
	// Warn means the rule is satisfied but something deserves attention.
	Warn Verdict = "warn"
	// Skip means the rule was not checked (not in the policy).
	Skip Verdict = "skip"
)

// RuleResult is the outcome of one rule.
type RuleResult struct {
	// Rule is the rule name (RuleSources, ..., or a custom rule's Name).
	Rule string `json:"rule"`
	// Verdict is pass, fail, warn or skip.
	Verdict Verdict `json:"verdict"`
	// Reason is one sentence a person can read.
	Reason string `json:"reason"`
	// Details are the individual findings behind the verdict, sorted, at
	// most MaxDetails of them (the last one then says how many were left
	// out).
	Details []string `json:"details,omitempty"`
}

// MaxDetails bounds RuleResult.Details for the built-in rules.
const MaxDetails = 100

// Rule is a custom rule, added with WithRule. Evaluate must be safe for
// concurrent use, must not modify the Evidence, and should return quickly
// (it runs inside every decision). A result whose Rule is empty gets the
// rule's Name; a verdict other than pass, warn or skip counts as fail, as
// does a panic.
type Rule interface {
	// Name is the rule's unique name in decisions.
	Name() string
	// Evaluate judges the evidence.
	Evaluate(ctx context.Context, ev *Evidence) RuleResult
}

// ExceptionUse records a vulnerability exception that let a finding through.
type ExceptionUse struct {
	// ID is the exception's ID as written in the policy.
	ID string `json:"id"`
	// Vulnerability is the finding's ID (may differ when the exception
	// named an alias).
	Vulnerability string `json:"vulnerability"`
	// Package is the finding's package.
	Package string `json:"package"`
	// Severity is the finding's effective severity.
	Severity Severity `json:"severity"`
	// Reason is the exception's reason.
	Reason string `json:"reason"`
	// Expires is the exception's expiry as written.
	Expires string `json:"expires"`
}

// Decision is the result of evaluating a policy. It marshals to stable
// JSON: rules in a fixed order (built-in ones, then custom ones), details
// and exceptions sorted.
type Decision struct {
	// Policy is the policy name.
	Policy string `json:"policy"`
	// PolicyVersion is the policy's version string.
	PolicyVersion string `json:"policyVersion,omitempty"`
	// PolicyDigest identifies the exact policy document (Policy.Digest).
	PolicyDigest string `json:"policyDigest,omitempty"`
	// Mode is the policy mode.
	Mode Mode `json:"mode"`
	// Allowed says whether the image may be promoted: in enforce mode, no
	// rule failed; in audit mode, always true.
	Allowed bool `json:"allowed"`
	// WouldDeny says that some rule failed, whatever the mode (in enforce
	// mode it is !Allowed).
	WouldDeny bool `json:"wouldDeny"`
	// Time is the time the decision was made for.
	Time time.Time `json:"time"`
	// Subject is the source image, when the evidence named it.
	Subject string `json:"subject,omitempty"`
	// Rules lists every rule with its verdict.
	Rules []RuleResult `json:"rules"`
	// ExceptionsUsed lists the exceptions that let findings through.
	ExceptionsUsed []ExceptionUse `json:"exceptionsUsed,omitempty"`
	// Warnings are things a reviewer should know (expired exceptions,
	// malformed evidence) that did not decide the outcome by themselves.
	Warnings []string `json:"warnings,omitempty"`
}

// Err returns nil when the decision allows the image, or a *DeniedError
// (matching ErrPolicyDenied) listing the failing rules. A zero Decision
// denies.
func (d Decision) Err() error {
	if d.Allowed {
		return nil
	}
	return &DeniedError{Policy: d.Policy, Failed: d.Failed()}
}

// String summarises the decision for people: the outcome, then one line
// per rule that was checked.
func (d Decision) String() string {
	var b strings.Builder
	outcome := "denied"
	switch {
	case d.Allowed && d.WouldDeny:
		outcome = "allowed (audit mode; enforce would deny)"
	case d.Allowed:
		outcome = "allowed"
	}
	fmt.Fprintf(&b, "policy %q: %s", d.Policy, outcome)
	if d.Subject != "" {
		fmt.Fprintf(&b, " for %s", d.Subject)
	}
	for _, r := range d.Rules {
		if r.Verdict != Skip {
			fmt.Fprintf(&b, "\n  %-4s %s: %s", r.Verdict, r.Rule, r.Reason)
		}
	}
	for _, u := range d.ExceptionsUsed {
		fmt.Fprintf(&b, "\n  exception %s applied to %s in %s (expires %s)", u.ID, u.Vulnerability, u.Package, u.Expires)
	}
	for _, w := range d.Warnings {
		fmt.Fprintf(&b, "\n  warning: %s", w)
	}
	return b.String()
}

// Failed returns the rules whose verdict is fail.
func (d Decision) Failed() []RuleResult {
	var out []RuleResult
	for _, r := range d.Rules {
		if r.Verdict == Fail {
			out = append(out, r)
		}
	}
	return out
}

// Result returns the result of the named rule, and false if the decision
// has none.
func (d Decision) Result(rule string) (RuleResult, bool) {
	for _, r := range d.Rules {
		if r.Rule == rule {
			return r, true
		}
	}
	return RuleResult{}, false
}

// Evaluate judges the evidence and returns a decision listing every rule.
// It never returns an error: missing evidence fails the rules that need it,
// a nil Evidence is treated as empty, and a cancelled context fails the
// rules not yet evaluated. The decision time is ev.Time, or the policy
// clock when that is zero.
func (p *Policy) Evaluate(ctx context.Context, ev *Evidence) Decision {
	if p == nil {
		return Decision{Mode: ModeEnforce, WouldDeny: true, Warnings: []string{"no policy: denied"}, Rules: []RuleResult{}}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if ev == nil {
		ev = &Evidence{}
	}
	now := ev.Time
	if now.IsZero() {
		now = p.clock()
	}
	e := &evaluation{p: p, ev: ev, now: now, ctx: ctx}
	d := Decision{
		Policy:        p.doc.Name,
		PolicyVersion: p.doc.Version,
		PolicyDigest:  p.digest,
		Mode:          p.mode,
		Time:          now,
		Warnings:      append([]string(nil), p.warnings...),
	}
	if ev.Source.Registry != "" || ev.Source.Repository != "" {
		d.Subject = normaliseSource(ev.Source)
		if ev.Source.Digest != "" {
			d.Subject += "@" + ev.Source.Digest
		}
	}
	builtins := []struct {
		name string
		on   bool
		run  func() RuleResult
	}{
		{RuleSources, p.sources != nil, e.sources},
		{RuleSignatures, p.signatures != nil, e.signatures},
		{RuleVulnerabilities, p.vulns != nil, e.vulnerabilities},
		{RuleLicenses, p.licenses != nil, e.licenses},
		{RuleSBOM, p.sbom != nil, func() RuleResult { return e.requirement(RuleSBOM, "SBOM", p.sbom, ev.SBOM) }},
		{RuleProvenance, p.provenance != nil, func() RuleResult {
			return e.requirement(RuleProvenance, "provenance", p.provenance, ev.Provenance)
		}},
		{RuleMalware, p.malware != nil, e.malwareRule},
		{RuleLifecycle, p.lifecycle != nil, e.lifecycleRule},
		{RuleReports, true, e.reportsRule},
	}
	for _, b := range builtins {
		var r RuleResult
		switch {
		case !b.on:
			r = RuleResult{Rule: b.name, Verdict: Skip, Reason: "not required by the policy"}
		case ctx.Err() != nil:
			r = RuleResult{Rule: b.name, Verdict: Fail, Reason: "not evaluated: " + ctx.Err().Error()}
		default:
			r = b.run()
			r.Rule = b.name
		}
		d.Rules = append(d.Rules, r)
	}
	for _, c := range p.custom {
		d.Rules = append(d.Rules, e.custom(c))
	}
	d.ExceptionsUsed = e.used
	slices.SortFunc(d.ExceptionsUsed, func(a, b ExceptionUse) int {
		return strings.Compare(a.Vulnerability+"\x00"+a.Package+"\x00"+a.ID, b.Vulnerability+"\x00"+b.Package+"\x00"+b.ID)
	})
	d.ExceptionsUsed = slices.Compact(d.ExceptionsUsed)
	e.warnings = slices.Compact(sortedCopy(e.warnings))
	d.Warnings = append(d.Warnings, e.warnings...)

	for _, r := range d.Rules {
		if r.Verdict == Fail {
			d.WouldDeny = true
		}
	}
	d.Allowed = !d.WouldDeny || p.mode == ModeAudit
	return d
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return out
}

// evaluation is the state of one Evaluate call.
type evaluation struct {
	p        *Policy
	ev       *Evidence
	now      time.Time
	ctx      context.Context
	used     []ExceptionUse
	warnings []string
}

func (e *evaluation) custom(r Rule) (res RuleResult) {
	name := r.Name()
	if err := e.ctx.Err(); err != nil {
		return RuleResult{Rule: name, Verdict: Fail, Reason: "not evaluated: " + err.Error()}
	}
	defer func() {
		if v := recover(); v != nil {
			res = RuleResult{Rule: name, Verdict: Fail, Reason: fmt.Sprintf("rule panicked: %v", v)}
		}
	}()
	res = r.Evaluate(e.ctx, e.ev)
	if res.Rule == "" {
		res.Rule = name
	}
	if res.Rule != name {
		e.warnings = append(e.warnings, fmt.Sprintf("custom rule %q returned a result named %q", name, res.Rule))
		res.Rule = name
	}
	switch res.Verdict {
	case Pass, Warn, Skip, Fail:
	default:
		res.Reason = fmt.Sprintf("invalid verdict %q (counted as fail): %s", res.Verdict, res.Reason)
		res.Verdict = Fail
	}
	return res
}

// capDetails sorts details and keeps at most MaxDetails.
func capDetails(details []string) []string {
	if len(details) == 0 {
		return nil
	}
	slices.Sort(details)
	details = slices.Compact(details)
	if len(details) > MaxDetails {
		n := len(details) - (MaxDetails - 1)
		details = append(details[:MaxDetails-1], fmt.Sprintf("... and %d more", n))
	}
	return details
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// summarise lists the first few items for a reason sentence.
func summarise(items []string, max int) string {
	if len(items) <= max {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:max], ", ") + fmt.Sprintf(" and %d more", len(items)-max)
}
