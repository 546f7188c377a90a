package policy

import (
	"context"
	"encoding/json"
	"os"
	"testing"
)

// FuzzParseCompile feeds arbitrary bytes through Parse and Compile; a
// document that compiles is evaluated against good and empty evidence, and
// the decision must marshal. Nothing may panic, and every error must wrap
// ErrInvalidPolicy.
func FuzzParseCompile(f *testing.F) {
	for _, path := range []string{"testdata/default.yaml", "testdata/complete.yaml"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		doc, err := Parse(data)
		if err != nil {
			f.Fatal(err)
		}
		js, _ := json.Marshal(doc)
		f.Add(js)
	}
	for _, s := range []string{
		"", "{}", "null", "name: x\n", "name: x\nsources: {allowed: ['docker.io/**']}\n",
		"name: x\nvulnerabilities: {maxSeverity: low, exceptions: [{id: CVE-1, reason: r, expires: 2020-01-01}]}\n",
		"name: x\nlicenses: {denied: ['GPL-2.0+'], allowed: ['MIT', 'LicenseRef-a']}\n",
		`{"name":"x","signatures":{"signers":[{"identities":["**"]}]}}`,
		"name: &a x\nversion: *a\nmalware: {required: true}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data)
		if err != nil {
			if !isInvalid(err) {
				t.Fatalf("Parse error does not wrap ErrInvalidPolicy: %v", err)
			}
			return
		}
		pol, err := Compile(doc, WithClock(fixedClock))
		if err != nil {
			if !isInvalid(err) {
				t.Fatalf("Compile error does not wrap ErrInvalidPolicy: %v", err)
			}
			return
		}
		for _, ev := range []*Evidence{goodEvidence(), {}} {
			d := pol.Evaluate(context.Background(), ev)
			if d.Mode == ModeEnforce && d.Allowed == d.WouldDeny {
				t.Fatalf("enforce: allowed %v and wouldDeny %v", d.Allowed, d.WouldDeny)
			}
			if len(d.Rules) != len(builtinRules) {
				t.Fatalf("%d rules", len(d.Rules))
			}
			if _, err := json.Marshal(d); err != nil {
				t.Fatal(err)
			}
		}
		// A compiled document survives a JSON round trip unchanged.
		js, err := json.Marshal(pol.Document())
		if err != nil {
			t.Fatal(err)
		}
		doc2, err := Parse(js)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", js, err)
		}
		pol2, err := Compile(doc2, WithClock(fixedClock))
		if err != nil {
			t.Fatalf("re-compile of %s: %v", js, err)
		}
		if pol2.Digest() != pol.Digest() {
			t.Fatalf("digest changed over a JSON round trip: %s", js)
		}
	})
}

// FuzzLicenseExpression judges arbitrary package licence expressions.
func FuzzLicenseExpression(f *testing.F) {
	for _, s := range []string{"MIT", "GPL-3.0-only OR MIT", "(MIT AND (Apache-2.0 OR GPL-2.0+))",
		"GPL-2.0-only WITH Classpath-exception-2.0", "LicenseRef-x AND DocumentRef-a:LicenseRef-b", "NOASSERTION", "((((", "MIT+"} {
		f.Add(s)
	}
	denied, _ := compileLicenseList("d", []string{"GPL-3.0-only", "AGPL-3.0-or-later"})
	allowed, _ := compileLicenseList("a", []string{"MIT", "Apache-2.0", "GPL-2.0-or-later"})
	f.Fuzz(func(t *testing.T, expr string) {
		j := newLicenseJudge(denied, allowed)
		v, why := j.judge(expr)
		if v != licenseOK && why == "" {
			t.Fatalf("%q: verdict %d without a reason", expr, v)
		}
	})
}

func isInvalid(err error) bool {
	for e := err; e != nil; {
		if e == ErrInvalidPolicy {
			return true
		}
		if ve, ok := e.(*ValidationError); ok && ve != nil {
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

// FuzzEvaluate feeds hostile evidence (odd references, identities,
// severities, scores and licence strings) to the complete policy. Nothing
// may panic, a decision always lists every rule, and evidence that reaches
// the rules malformed never passes the sources rule by accident.
func FuzzEvaluate(f *testing.F) {
	f.Add("docker.io", "library/nginx", "C=US, CN=x", "high", 7.5, "MIT OR GPL-3.0-only", "CVE-2024-45491")
	f.Add("", "", "", "", 0.0, "", "")
	f.Add("INDEX.DOCKER.IO", "/Nginx/", "**", "CRITICAL", 11.0, "((((", "cve-2024-45491")
	f.Add("docker.io/library", "../nginx", "\x00", "none", -1.0, "NOASSERTION AND", "GHSA-x")
	data, err := os.ReadFile("testdata/complete.yaml")
	if err != nil {
		f.Fatal(err)
	}
	doc, err := Parse(data)
	if err != nil {
		f.Fatal(err)
	}
	pol, err := Compile(doc, WithClock(fixedClock))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, reg, repo, identity, severity string, cvss float64, license, id string) {
		ev := goodEvidence()
		ev.Source.Registry, ev.Source.Repository = reg, repo
		ev.Signatures[0].Identity = identity
		ev.Vulnerabilities.Findings = append(ev.Vulnerabilities.Findings, Vulnerability{
			ID: id, Aliases: []string{id}, Package: license, Severity: Severity(severity), CVSS: cvss,
		})
		ev.Packages = append(ev.Packages, Package{Name: id, Licenses: []string{license}})
		d := pol.Evaluate(context.Background(), ev)
		if len(d.Rules) != len(builtinRules) {
			t.Fatalf("%d rules", len(d.Rules))
		}
		if r, _ := d.Result(RuleSources); r.Verdict == Pass {
			src := normaliseSource(ev.Source)
			if checkSource(src) != "" {
				t.Fatalf("malformed source %q passed: %s", src, r.Reason)
			}
		}
		if _, err := json.Marshal(d); err != nil {
			t.Fatal(err)
		}
		_ = d.String()
	})
}
