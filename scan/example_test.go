package scan_test

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/scan"
)

// A custom scanner from a function, and its report as SARIF.
func ExampleScannerFunc() {
	var s scan.Scanner = scan.ScannerFunc(func(ctx context.Context, img *scan.Image) (*scan.Report, error) {
		if err := img.Validate(); err != nil {
			return nil, err
		}
		return &scan.Report{
			Kind:    artifact.ReportKindVulnerability,
			Tool:    scan.Tool{Name: "my-scanner", Version: "0.1.0", DatabaseVersion: "2026-11-26"},
			Subject: img.Manifest.Digest,
			Time:    time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
			Findings: []scan.Finding{{
				ID: "CVE-2024-12345", Severity: scan.SeverityHigh, CVSS: 7.5,
				Package:      scan.Package{Name: "openssl", Version: "3.0.11", Ecosystem: "Debian:12"},
				FixedVersion: "3.0.13",
			}},
		}, nil
	})
	repo, _ := registry.NewClient(registry.Options{}).Repository(context.Background(), "mem:example")
	img := &scan.Image{Repository: repo}
	img.Manifest.Digest = digest.FromString("example")
	r, err := s.Scan(context.Background(), img)
	if err != nil {
		fmt.Println(err)
		return
	}
	sarif, _ := r.SARIF()
	fmt.Println(scan.ValidateSARIF(sarif) == nil, r.MaxSeverity())
	back, _ := scan.DecodeSARIF(sarif)
	fmt.Println(back.Findings[0].ID, back.Findings[0].Severity, back.Tool.DatabaseVersion)
	// Output:
	// true high
	// CVE-2024-12345 high 2026-11-26
}

func ExampleParseSeverity() {
	for _, s := range []string{"Moderate", "IMPORTANT", "9.8", "negligible"} {
		sev, _ := scan.ParseSeverity(s)
		fmt.Println(s, "->", sev)
	}
	// Output:
	// Moderate -> medium
	// IMPORTANT -> high
	// 9.8 -> critical
	// negligible -> low
}
