package scan_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/scan"
	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSeverity(t *testing.T) {
	for _, c := range []struct {
		in   string
		want scan.Severity
	}{
		{"", scan.SeverityUnknown}, {"UNKNOWN", scan.SeverityUnknown}, {"none", scan.SeverityUnknown},
		{"low", scan.SeverityLow}, {"Negligible", scan.SeverityLow}, {"unimportant", scan.SeverityLow},
		{"MEDIUM", scan.SeverityMedium}, {"moderate", scan.SeverityMedium},
		{" high ", scan.SeverityHigh}, {"Important", scan.SeverityHigh},
		{"CRITICAL", scan.SeverityCritical},
		{"9.8", scan.SeverityCritical}, {"7.0", scan.SeverityHigh}, {"6.9", scan.SeverityMedium}, {"0.1", scan.SeverityLow}, {"0", scan.SeverityUnknown},
	} {
		got, err := scan.ParseSeverity(c.in)
		require.NoError(t, err, "ParseSeverity(%q)", c.in)
		assert.Equal(t, c.want, got, "ParseSeverity(%q)", c.in)
	}
	for _, bad := range []string{"severe", "11", "-1", "NaN", strings.Repeat("x", 1000)} {
		_, err := scan.ParseSeverity(bad)
		assert.Error(t, err, "ParseSeverity(%q)", bad)
	}
	assert.Less(t, scan.SeverityUnknown, scan.SeverityLow)
	assert.Less(t, scan.SeverityLow, scan.SeverityMedium)
	assert.Less(t, scan.SeverityHigh, scan.SeverityCritical)
	assert.Equal(t, scan.SeverityUnknown, scan.SeverityFromCVSS(0))
	assert.Equal(t, scan.SeverityHigh, scan.SeverityFromCVSS(8.9))
	assert.Equal(t, scan.SeverityCritical, scan.SeverityFromCVSS(10))
	assert.Equal(t, scan.SeverityUnknown, scan.SeverityFromCVSS(10.1))

	for s := scan.SeverityUnknown; s <= scan.SeverityCritical; s++ {
		b, err := json.Marshal(s)
		require.NoError(t, err)
		assert.Equal(t, `"`+s.String()+`"`, string(b))
		var back scan.Severity
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, s, back)
	}
	_, err := json.Marshal(scan.Severity(42))
	assert.Error(t, err)
	assert.Equal(t, "severity(42)", scan.Severity(42).String())
}

func sampleReport() *scan.Report {
	return &scan.Report{
		Kind:    artifact.ReportKindVulnerability,
		Tool:    scan.Tool{Name: "osv", Version: "1.0.0", DatabaseVersion: "2026-11-26T00:00:00Z"},
		Subject: digest.FromString("manifest"),
		Time:    time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
		Findings: []scan.Finding{
			{ID: "CVE-2024-0002", Aliases: []string{"DSA-2", "DLA-1"}, Severity: scan.SeverityCritical, CVSS: 9.8,
				Package:      scan.Package{Name: "openssl", Version: "3.0.11-1~deb12u2", PURL: "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12", Ecosystem: "Debian:12"},
				FixedVersion: "3.0.13-1~deb12u1", Summary: "buffer overflow", Layer: digest.FromString("l0").String()},
			{ID: "CVE-2024-0001", Severity: scan.SeverityLow,
				Package: scan.Package{Name: "zlib", Version: "1.2.13", Ecosystem: "Debian:12"}},
			{ID: "CVE-2024-0002", Severity: scan.SeverityHigh, CVSS: 7.5,
				Package: scan.Package{Name: "libssl3", Version: "3.0.11-1~deb12u2", PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u2", Ecosystem: "Debian:12"}},
		},
	}
}

func TestReportSARIF(t *testing.T) {
	r := sampleReport()
	before, _ := json.Marshal(r)
	data, err := r.SARIF()
	require.NoError(t, err)
	after, _ := json.Marshal(r)
	assert.Equal(t, string(before), string(after), "SARIF must not modify the report")

	// The shape Ratify reads.
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name, Version string
					Rules         []struct {
						ID   string `json:"id"`
						Help struct {
							Text string `json:"text"`
						} `json:"help"`
						Properties map[string]any `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID  string `json:"ruleId"`
				Level   string `json:"level"`
				Message struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []map[string]any `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	require.NoError(t, json.Unmarshal(data, &log))
	assert.Equal(t, "2.1.0", log.Version)
	require.Len(t, log.Runs, 1)
	run := log.Runs[0]
	assert.Equal(t, "osv", run.Tool.Driver.Name)
	require.Len(t, run.Tool.Driver.Rules, 2, "one rule per ID")
	rule := run.Tool.Driver.Rules[1]
	assert.Equal(t, "CVE-2024-0002", rule.ID)
	assert.Contains(t, rule.Help.Text, "Severity: CRITICAL", "the highest severity of the ID; Ratify parses this line")
	assert.Equal(t, "critical", rule.Properties["severity"])
	assert.Equal(t, "9.8", rule.Properties["security-severity"])
	require.Len(t, run.Results, 3)
	assert.Equal(t, "CVE-2024-0001", run.Results[0].RuleID)
	assert.Equal(t, "note", run.Results[0].Level)
	assert.Equal(t, "error", run.Results[1].Level)
	assert.Contains(t, run.Results[2].Message.Text, "openssl 3.0.11-1~deb12u2 (fixed in 3.0.13-1~deb12u1)")
	assert.NotEmpty(t, run.Results[2].Locations)

	again, err := r.SARIF()
	require.NoError(t, err)
	assert.Equal(t, string(data), string(again), "deterministic")
	assert.NoError(t, scan.ValidateSARIF(data))

	back, err := scan.DecodeSARIF(data)
	require.NoError(t, err)
	want := *r
	want.Findings = append([]scan.Finding(nil), r.Findings...)
	want.Sort()
	assert.Equal(t, &want, back, "lossless round trip")
}

func TestReportSARIFMalware(t *testing.T) {
	r := &scan.Report{
		Kind: artifact.ReportKindMalware, Tool: scan.Tool{Name: "clamav", Version: "ClamAV 1.4.3", DatabaseVersion: "27000"},
		Subject: digest.FromString("m"), Time: time.Unix(0, 0).UTC(),
		Findings: []scan.Finding{{ID: "Eicar-Test-Signature", Severity: scan.SeverityCritical, Path: "usr/share/a file%.com", Layer: digest.FromString("l").String()}},
	}
	data, err := r.SARIF()
	require.NoError(t, err)
	assert.Contains(t, string(data), `"uri": "usr/share/a%20file%25.com"`)
	assert.Contains(t, string(data), `"level": "error"`)
	back, err := scan.DecodeSARIF(data)
	require.NoError(t, err)
	assert.Equal(t, r.Findings, back.Findings)
	assert.Equal(t, "27000", back.Tool.DatabaseVersion)
	assert.Equal(t, artifact.ReportKindMalware, back.Kind)
}

func TestReportEmptyAndInvalid(t *testing.T) {
	r := &scan.Report{Kind: artifact.ReportKindMalware, Tool: scan.Tool{Name: "x"}}
	data, err := r.SARIF()
	require.NoError(t, err)
	assert.Contains(t, string(data), `"results": []`)
	j, err := json.Marshal(r)
	require.NoError(t, err)
	assert.Contains(t, string(j), `"findings":[]`)

	_, err = (&scan.Report{}).SARIF()
	assert.Error(t, err, "no tool name")
	_, err = (&scan.Report{Tool: scan.Tool{Name: "x"}, Findings: []scan.Finding{{}}}).SARIF()
	assert.Error(t, err, "finding without ID")

	for name, in := range map[string]string{
		"not json":    "{",
		"old version": `{"version":"2.0.0","runs":[{}]}`,
		"no runs":     `{"version":"2.1.0","runs":[]}`,
		"no rule id":  `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"message":{"text":"m"}}]}]}`,
		"bad time":    `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"invocations":[{"executionSuccessful":true,"endTimeUtc":"yesterday"}]}]}`,
		"too big":     `{"version":"2.1.0","runs":[` + strings.Repeat(" ", scan.MaxReportSize) + `]}`,
	} {
		_, err := scan.DecodeSARIF([]byte(in))
		assert.ErrorIs(t, err, scan.ErrInvalidReport, name)
	}
}

func TestDecodeForeignSARIF(t *testing.T) {
	// Shaped like Trivy's SARIF output.
	in := `{"version":"2.1.0","$schema":"https://json.schemastore.org/sarif-2.1.0.json","runs":[{
	  "tool":{"driver":{"name":"Trivy","version":"0.50.0","rules":[
	    {"id":"CVE-2023-5678","shortDescription":{"text":"openssl: excessive time"},
	     "help":{"text":"Vulnerability CVE-2023-5678\nSeverity: MEDIUM\nPackage: libssl3"},
	     "properties":{"security-severity":"5.3","tags":["vulnerability","security","MEDIUM"]}}]}},
	  "results":[{"ruleId":"CVE-2023-5678","ruleIndex":0,"level":"warning","message":{"text":"Package: libssl3"},
	    "locations":[{"physicalLocation":{"artifactLocation":{"uri":"library/nginx","uriBaseId":"ROOTPATH"}}}]}]}]}`
	r, err := scan.DecodeSARIF([]byte(in))
	require.NoError(t, err)
	require.Len(t, r.Findings, 1)
	assert.Equal(t, "Trivy", r.Tool.Name)
	assert.Equal(t, scan.SeverityMedium, r.Findings[0].Severity)
	assert.Equal(t, "openssl: excessive time", r.Findings[0].Summary)
}

func TestReportJSONStable(t *testing.T) {
	a, b := sampleReport(), sampleReport()
	b.Findings[0], b.Findings[2] = b.Findings[2], b.Findings[0]
	a.Sort()
	b.Sort()
	ja, err := json.Marshal(a)
	require.NoError(t, err)
	jb, err := json.Marshal(b)
	require.NoError(t, err)
	assert.Equal(t, string(ja), string(jb))
	back, err := scan.DecodeJSON(ja)
	require.NoError(t, err)
	assert.Equal(t, a, back)
	assert.Equal(t, scan.SeverityCritical, a.MaxSeverity())
	assert.Equal(t, 1, a.Count()[scan.SeverityLow])
	_, err = scan.DecodeJSON([]byte(`{"subject":"nope"}`))
	assert.ErrorIs(t, err, scan.ErrInvalidReport)
}

// TestDecodeTrivySARIFLocations: Trivy writes one result per vulnerable
// package and file; each decodes with the file as its location, the
// package from the message, and no location for the image name Trivy
// gives OS packages.
func TestDecodeTrivySARIFLocations(t *testing.T) {
	data, err := os.ReadFile("testdata/trivy-0.50.sarif")
	require.NoError(t, err)
	r, err := scan.DecodeSARIF(data)
	require.NoError(t, err)
	require.Len(t, r.Findings, 3)
	type view struct {
		ID, Pkg, Version, Fixed string
		Severity                scan.Severity
		Locations               []scan.Location
	}
	var got []view
	for _, f := range r.Findings {
		got = append(got, view{f.ID, f.Package.Name, f.Package.Version, f.FixedVersion, f.Severity, f.Locations})
	}
	assert.Equal(t, []view{
		{"CVE-2023-45288", "stdlib", "1.19.8", "1.21.9, 1.22.2", scan.SeverityMedium, []scan.Location{{Path: "usr/local/bin/app"}}},
		{"CVE-2023-45288", "stdlib", "1.19.8", "1.21.9, 1.22.2", scan.SeverityMedium, []scan.Location{{Path: "usr/local/bin/worker"}}},
		{"CVE-2024-2961", "libc6", "2.36-9+deb12u4", "2.36-9+deb12u6", scan.SeverityHigh, nil},
	}, got)
}

// TestSARIFEveryLocation: a finding in several files and layers is one
// result with one SARIF location per file, each naming the package and
// its layer, and reads back losslessly.
func TestSARIFEveryLocation(t *testing.T) {
	r := &scan.Report{Kind: "vulnerability", Tool: scan.Tool{Name: "osv"}, Findings: []scan.Finding{{
		ID: "GO-2024-2687", Severity: scan.SeverityHigh, Layer: "sha256:bb",
		Package: scan.Package{Name: "stdlib", Version: "1.19.8", PURL: "pkg:golang/stdlib@1.19.8", Ecosystem: "Go"},
		Locations: []scan.Location{
			{Path: "usr/local/bin/worker", Layer: "sha256:bb"},
			{Path: "usr/local/bin/app", Layer: "sha256:aa"},
			{Path: "usr/local/bin/app", Layer: "sha256:aa"},
		},
	}}}
	out, err := r.SARIF()
	require.NoError(t, err)
	require.NoError(t, scan.ValidateSARIF(out))
	var log struct {
		Runs []struct {
			Results []struct {
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string } `json:"artifactLocation"`
					} `json:"physicalLocation"`
					LogicalLocations []struct{ Name, Kind string } `json:"logicalLocations"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	require.NoError(t, json.Unmarshal(out, &log))
	require.Len(t, log.Runs[0].Results, 1, "one result per vulnerability and package")
	locs := log.Runs[0].Results[0].Locations
	require.Len(t, locs, 2, "one SARIF location per distinct file and layer")
	assert.Equal(t, "usr/local/bin/app", locs[0].PhysicalLocation.ArtifactLocation.URI)
	assert.Equal(t, "usr/local/bin/worker", locs[1].PhysicalLocation.ArtifactLocation.URI)
	assert.Equal(t, []struct{ Name, Kind string }{{"stdlib", "package"}, {"sha256:aa", "layer"}}, locs[0].LogicalLocations)
	assert.Equal(t, []struct{ Name, Kind string }{{"stdlib", "package"}, {"sha256:bb", "layer"}}, locs[1].LogicalLocations)

	back, err := scan.DecodeSARIF(out)
	require.NoError(t, err)
	r.Sort()
	assert.Equal(t, r.Findings, back.Findings)
}

// fileOnly is a FileScanner that declares nothing.
type fileOnly struct{ scan.ScannerFunc }

func (fileOnly) StartFiles(context.Context, *scan.Image) (scan.FileScan, error) { return nil, nil }

// TestDeclare: a scanner declares nothing unless it is a Declarer; Declare
// gives one a declaration, keeps a FileScanner a FileScanner, and leaves
// the scans to the wrapped scanner; the declaration is not in a report's
// JSON.
func TestDeclare(t *testing.T) {
	var calls int
	f := scan.ScannerFunc(func(context.Context, *scan.Image) (*scan.Report, error) {
		calls++
		return &scan.Report{Kind: artifact.ReportKindMalware}, nil
	})
	assert.Equal(t, scan.Declaration{}, scan.DeclarationOf(f), "a ScannerFunc declares nothing")

	d := scan.Declare(f, scan.Declaration{Malware: true})
	assert.Equal(t, scan.Declaration{Malware: true}, scan.DeclarationOf(d))
	_, isFiles := d.(scan.FileScanner)
	assert.False(t, isFiles, "a plain scanner does not become a FileScanner")
	_, err := d.Scan(context.Background(), nil)
	require.NoError(t, err)
	assert.Equal(t, 1, calls, "Scan goes to the wrapped scanner")

	fd := scan.Declare(fileOnly{f}, scan.Declaration{Malware: true})
	_, isFiles = fd.(scan.FileScanner)
	assert.True(t, isFiles, "a FileScanner stays one")
	assert.True(t, scan.DeclarationOf(fd).Malware)
	assert.False(t, scan.DeclarationOf(scan.Declare(d, scan.Declaration{})).Malware, "Declare replaces a declaration")

	b, err := json.Marshal(&scan.Report{Kind: artifact.ReportKindMalware, Declared: scan.Declaration{Malware: true}})
	require.NoError(t, err)
	var back scan.Report
	require.NoError(t, json.Unmarshal(b, &back))
	assert.False(t, back.Declared.Malware, "a decoded report declares nothing: %s", b)
}
