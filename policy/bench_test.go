package policy

import (
	"context"
	"fmt"
	"testing"
)

var benchLicenses = []string{"MIT", "Apache-2.0", "GPL-2.0-or-later", "LGPL-2.1-or-later", "BSD-3-Clause",
	"GPL-3.0-or-later", "MIT OR Apache-2.0", "(MIT OR Apache-2.0) AND BSD-2-Clause", "NOASSERTION", "Zlib"}

// bigEvidence has 1000 findings and 500 packages, the size of a large
// Debian-based image.
func bigEvidence() *Evidence {
	ev := goodEvidence()
	ev.Vulnerabilities.Findings = nil
	sev := []Severity{SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical, SeverityUnknown}
	for i := range 1000 {
		f := Vulnerability{ID: fmt.Sprintf("CVE-2026-%05d", i), Package: fmt.Sprintf("pkg%d", i%500), Version: "1.0", Severity: sev[i%len(sev)], CVSS: float64(i%100) / 10}
		if i%3 == 0 {
			f.FixedVersion = "1.1"
		}
		ev.Vulnerabilities.Findings = append(ev.Vulnerabilities.Findings, f)
	}
	ev.Packages = nil
	for i := range 500 {
		ev.Packages = append(ev.Packages, Package{Name: fmt.Sprintf("pkg%d", i), Version: "1.0", Licenses: []string{benchLicenses[i%len(benchLicenses)]}})
	}
	return ev
}

func BenchmarkEvaluate(b *testing.B) {
	pol, err := Compile(loadDoc(b, "testdata/complete.yaml"), WithClock(fixedClock))
	if err != nil {
		b.Fatal(err)
	}
	ev := bigEvidence()
	b.ReportAllocs()
	for b.Loop() {
		pol.Evaluate(context.Background(), ev)
	}
}

func BenchmarkCompile(b *testing.B) {
	doc := loadDoc(b, "testdata/complete.yaml")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(doc, WithClock(fixedClock)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	data, err := testdataFS.ReadFile("testdata/complete.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
