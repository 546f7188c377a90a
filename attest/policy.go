package attest

import (
	"fmt"
	"strings"

	"github.com/cssc-go/cssc/policy"
)

// DecisionFromPolicy converts a policy decision into the plain Decision a
// verification summary records: outcome, mode, every rule as a Check (rules
// the policy skipped included, with verdict "skip"), and a reason naming
// the failing rules and the exceptions used. Inputs stay empty: the caller
// knows which attestations the evidence came from.
func DecisionFromPolicy(d policy.Decision) *Decision {
	out := &Decision{Allowed: d.Allowed, WouldDeny: d.WouldDeny, Mode: string(d.Mode)}
	var failed []string
	for _, r := range d.Rules {
		out.Checks = append(out.Checks, Check{Name: r.Rule, Verdict: Verdict(r.Verdict), Reason: r.Reason})
		if r.Verdict == policy.Fail {
			failed = append(failed, r.Rule)
		}
	}
	switch {
	case len(failed) == 0:
		out.Reason = fmt.Sprintf("policy %q: every rule passed", d.Policy)
	case d.Allowed:
		out.Reason = fmt.Sprintf("policy %q (audit): would deny: %s", d.Policy, strings.Join(failed, ", "))
	default:
		out.Reason = fmt.Sprintf("policy %q: denied: %s", d.Policy, strings.Join(failed, ", "))
	}
	if n := len(d.ExceptionsUsed); n > 0 {
		ids := make([]string, 0, n)
		for _, e := range d.ExceptionsUsed {
			ids = append(ids, e.ID+" ("+e.Vulnerability+")")
		}
		out.Reason += "; exceptions used: " + strings.Join(ids, ", ")
	}
	return out
}
