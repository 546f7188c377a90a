package policy_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cssc-go/cssc/policy"
)

func Example() {
	doc, err := policy.Parse([]byte(`
name: example
sources:
  allowed: [docker.io/library/nginx]
vulnerabilities:
  maxSeverity: medium
  exceptions:
    - id: CVE-2024-45491
      reason: not reachable (SEC-1234)
      expires: 2027-06-30
malware:
  required: true
`))
	if err != nil {
		panic(err)
	}
	pol, err := policy.Compile(doc)
	if err != nil {
		panic(err)
	}
	dec := pol.Evaluate(context.Background(), &policy.Evidence{
		Time:   time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
		Source: policy.Reference{Registry: "docker.io", Repository: "library/ngnix", Tag: "latest"},
		Vulnerabilities: policy.VulnerabilityScan{Scanned: true, Findings: []policy.Vulnerability{
			{ID: "CVE-2024-45491", Package: "libexpat1", Version: "2.5.0", FixedVersion: "2.5.1", Severity: "critical"},
		}},
		Malware: policy.MalwareScan{Scanned: true, Complete: true},
	})
	fmt.Println("allowed:", dec.Allowed)
	for _, r := range dec.Rules {
		if r.Verdict != policy.Skip {
			fmt.Printf("%s: %s: %s\n", r.Rule, r.Verdict, r.Reason)
		}
	}
	fmt.Println("exception used:", dec.ExceptionsUsed[0].ID)
	fmt.Println(errors.Is(dec.Err(), policy.ErrPolicyDenied))
	// Output:
	// allowed: false
	// sources: fail: source docker.io/library/ngnix matches no allowed pattern (it resembles an allowed one: possible typosquatting)
	// vulnerabilities: pass: 1 finding, none above the allowed severity medium (1 finding accepted by exceptions)
	// malware: pass: scanned, no malware found
	// exception used: CVE-2024-45491
	// true
}

func ExampleCompile() {
	_, err := policy.Compile(&policy.Document{
		Name:    "broken",
		Sources: &policy.Sources{Allowed: []string{"library/nginx"}},
		Vulnerabilities: &policy.Vulnerabilities{
			MaxSeverity: "high",
			Exceptions:  []policy.Exception{{ID: "CVE-2024-1", Reason: "later"}},
		},
	})
	fmt.Println(errors.Is(err, policy.ErrInvalidPolicy))
	var ve *policy.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// true
	// sources.allowed[0]: pattern "library/nginx": must start with a registry host such as docker.io (write docker.io/library/nginx, not nginx or library/nginx)
	// vulnerabilities.exceptions[0] (CVE-2024-1).expires: required (an exception without an expiry is a permanent hole)
}

func ExampleModeAudit() {
	doc := policy.Default()
	doc.Mode = policy.ModeAudit
	pol, err := policy.Compile(doc)
	if err != nil {
		panic(err)
	}
	dec := pol.Evaluate(context.Background(), &policy.Evidence{Time: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)})
	fmt.Println("allowed:", dec.Allowed, "would deny:", dec.WouldDeny, "failed rules:", len(dec.Failed()))
	fmt.Println(dec.Err())
	// Output:
	// allowed: true would deny: true failed rules: 6
	// <nil>
}

// noLatest is a custom rule: images must be pinned to something other than
// the "latest" tag.
type noLatest struct{}

func (noLatest) Name() string { return "no-latest" }

func (noLatest) Evaluate(_ context.Context, ev *policy.Evidence) policy.RuleResult {
	if ev.Source.Tag == "latest" {
		return policy.RuleResult{Verdict: policy.Fail, Reason: "the latest tag is not reproducible"}
	}
	return policy.RuleResult{Verdict: policy.Pass, Reason: "tag " + ev.Source.Tag}
}

func ExampleWithRule() {
	pol, err := policy.Compile(&policy.Document{Name: "pinned"}, policy.WithRule(noLatest{}))
	if err != nil {
		panic(err)
	}
	dec := pol.Evaluate(context.Background(), &policy.Evidence{
		Time:   time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
		Source: policy.Reference{Registry: "docker.io", Repository: "library/nginx", Tag: "latest"},
	})
	fmt.Println(dec.Err())
	// Output:
	// policy "pinned" denied: no-latest: the latest tag is not reproducible
}

func ExampleDecision_String() {
	pol, err := policy.Compile(&policy.Document{
		Name:      "eol",
		Mode:      policy.ModeAudit,
		Lifecycle: &policy.Lifecycle{MinDaysBeforeEndOfLife: 30},
		Malware:   &policy.Malware{Required: true},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(pol.Evaluate(context.Background(), &policy.Evidence{
		Time:      time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
		Source:    policy.Reference{Registry: "docker.io", Repository: "library/alpine", Digest: "sha256:0123"},
		Malware:   policy.MalwareScan{Scanned: true, Complete: true, Scanner: "clamav"},
		EndOfLife: time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC),
	}))
	// Output:
	// policy "eol": allowed (audit mode; enforce would deny) for docker.io/library/alpine@sha256:0123
	//   pass malware: scanned by clamav, no malware found
	//   fail lifecycle: end of life on 2026-12-10 is 14 days away; the policy requires at least 30
}
