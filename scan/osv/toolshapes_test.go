package osv_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/osv"
)

// stdlib126 is a record shaped like the Go team's, for the Go 1.26 line of
// the osv-scalibr fixture (whose binary was built with Go 1.26.8).
const stdlib126 = `{
  "schema_version": "1.7.0",
  "id": "GO-2026-9901",
  "modified": "2026-11-20T00:00:00Z",
  "published": "2026-11-20T00:00:00Z",
  "aliases": ["CVE-2026-99901"],
  "summary": "Test record for the Go 1.26 line in net/http",
  "affected": [
    {
      "package": {"name": "stdlib", "ecosystem": "Go"},
      "ranges": [{"type": "SEMVER", "events": [{"introduced": "1.26.0-0"}, {"fixed": "1.26.9"}]}],
      "ecosystem_specific": {"imports": [{"path": "net/http"}]}
    }
  ],
  "database_specific": {"url": "https://pkg.go.dev/vuln/GO-2026-9901", "review_status": "REVIEWED"}
}`

// TestMatchSBOMsOfOtherTools: a publisher SBOM written by osv-scalibr, syft
// or osv-scanner gives the Go standard library's findings (osv-scalibr
// names the toolchain "go", syft "stdlib" with a "go" version prefix), one
// finding per vulnerability and package, with every binary it is in (syft
// lists the toolchain once per binary).
func TestMatchSBOMsOfOtherTools(t *testing.T) {
	dir := t.TempDir()
	copyTree(t, "testdata/db", dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Go", "GO-2026-9901.json"), []byte(stdlib126), 0o644))
	db, err := osv.Load(context.Background(), dir, osv.Options{Now: func() time.Time { return fixedTime }})
	require.NoError(t, err)

	syftLayer := "sha256:51064a2a1791723f160bbd6e12f2169498a4cbab83277974e56da3a41871013e"
	tests := []struct {
		file, mediaType string
		id              string
		version         string
		locations       []scan.Location
	}{
		{"osv-scalibr-0.5.3.spdx.json", sbom.MediaTypeSPDX, "GO-2026-9901", "1.26.8",
			[]scan.Location{{Path: "usr/local/bin/app"}}},
		{"osv-scalibr-0.5.3.cdx.json", sbom.MediaTypeCycloneDX, "GO-2026-9901", "1.26.8",
			[]scan.Location{{Path: "usr/local/bin/app"}}},
		{"syft-1.57.2.spdx.json", sbom.MediaTypeSPDX, "GO-2026-9901", "1.26.8",
			[]scan.Location{{Path: "usr/local/bin/app", Layer: syftLayer}, {Path: "usr/local/bin/worker", Layer: syftLayer}}},
		{"syft-1.57.2.cdx.json", sbom.MediaTypeCycloneDX, "GO-2026-9901", "1.26.8",
			[]scan.Location{{Path: "usr/local/bin/app", Layer: syftLayer}, {Path: "usr/local/bin/worker", Layer: syftLayer}}},
		{"osv-scanner-2.3.0.cdx.json", sbom.MediaTypeCycloneDX, "GO-2026-9901", "1.26.8", nil},
		{"osv-scanner-2.3.0.spdx.json", sbom.MediaTypeSPDX, "GO-2026-9901", "1.26.8",
			[]scan.Location{{Path: "usr/local/bin/app"}, {Path: "usr/local/bin/worker"}}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "..", "sbom", "testdata", tc.file))
			require.NoError(t, err)
			doc, err := sbom.Decode(data, tc.mediaType)
			require.NoError(t, err)
			rep, err := db.Match(context.Background(), doc.Packages)
			require.NoError(t, err)
			var std []scan.Finding
			for _, f := range rep.Findings {
				if f.Package.Name == sbom.GoStdlib {
					std = append(std, f)
				}
			}
			require.Len(t, std, 1, "one stdlib finding (one per vulnerability and package), got %+v", std)
			f := std[0]
			assert.Equal(t, tc.id, f.ID)
			assert.Equal(t, tc.version, f.Package.Version)
			assert.Equal(t, "Go", f.Package.Ecosystem)
			assert.Equal(t, tc.locations, f.Locations, "every binary holding the vulnerable toolchain")

			// The SARIF report names every location too, and reads back.
			out, err := rep.SARIF()
			require.NoError(t, err)
			back, err := scan.DecodeSARIF(out)
			require.NoError(t, err)
			assert.Equal(t, rep.Findings, back.Findings)
		})
	}
}

// TestMatchNormalizesHandBuiltPackages: packages handed to Match directly
// go through the same normalisation as decoded ones.
func TestMatchNormalizesHandBuiltPackages(t *testing.T) {
	db := loadTestDB(t, osv.Options{})
	rep, err := db.Match(context.Background(), []sbom.Package{
		{Name: "go", Version: "1.22.1", PURL: "pkg:golang/go@1.22.1", Locations: []string{"/usr/bin/a"}, Layer: "sha256:aa"},
		{Name: "stdlib", Version: "go1.22.1", Ecosystem: "Go", Locations: []string{"usr/bin/b"}, Layer: "sha256:bb"},
	})
	require.NoError(t, err)
	require.Len(t, rep.Findings, 1, "one finding for one package version, got %+v", rep.Findings)
	f := rep.Findings[0]
	assert.Equal(t, "GO-2024-2687", f.ID)
	assert.Equal(t, scan.Package{Name: "stdlib", Version: "1.22.1", PURL: "pkg:golang/stdlib@1.22.1", Ecosystem: "Go"}, f.Package)
	assert.Equal(t, []scan.Location{{Path: "usr/bin/a", Layer: "sha256:aa"}, {Path: "usr/bin/b", Layer: "sha256:bb"}}, f.Locations)
	assert.Equal(t, "sha256:aa", f.Layer, "Layer is the first listing's")
}

// TestFindingsEqualOSVScanner: matching the SBOM osv-scanner 2.3.0 wrote of
// an image gives the findings osv-scanner itself reported for that image,
// from the same records (testdata/osv-scanner-2.3.0.results.json, its JSON
// output of the same run; sbom/testdata/README.md): the same advisories
// for the same package versions, each binary holding the toolchain as a
// location.
func TestFindingsEqualOSVScanner(t *testing.T) {
	dir := t.TempDir()
	copyTree(t, "testdata/db", dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Go", "GO-2026-9901.json"), []byte(stdlib126), 0o644))
	db, err := osv.Load(context.Background(), dir, osv.Options{Now: func() time.Time { return fixedTime }})
	require.NoError(t, err)

	var theirs struct {
		Results []struct {
			Source struct {
				Path string `json:"path"`
			} `json:"source"`
			Packages []struct {
				Package struct {
					Name      string `json:"name"`
					Version   string `json:"version"`
					Ecosystem string `json:"ecosystem"`
				} `json:"package"`
				Vulnerabilities []struct {
					ID string `json:"id"`
				} `json:"vulnerabilities"`
			} `json:"packages"`
		} `json:"results"`
	}
	data, err := os.ReadFile(filepath.Join("testdata", "osv-scanner-2.3.0.results.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &theirs))
	// One line per advisory, ecosystem and package version; the files
	// osv-scanner found the package in.
	want := map[string][]string{}
	for _, r := range theirs.Results {
		for _, p := range r.Packages {
			for _, v := range p.Vulnerabilities {
				k := v.ID + " " + p.Package.Ecosystem + " " + p.Package.Version
				want[k] = append(want[k], strings.TrimPrefix(r.Source.Path, "/"))
			}
		}
	}
	require.Len(t, want, 2, "osv-scanner's findings: the Go toolchain and glibc")

	sb, err := os.ReadFile(filepath.Join("..", "..", "sbom", "testdata", "osv-scanner-2.3.0.spdx.json"))
	require.NoError(t, err)
	doc, err := sbom.Decode(sb, sbom.MediaTypeSPDX)
	require.NoError(t, err)
	rep, err := db.Match(context.Background(), doc.Packages)
	require.NoError(t, err)
	got := map[string][]string{}
	for _, f := range rep.Findings {
		k := f.ID + " " + f.Package.Ecosystem + " " + f.Package.Version
		for _, l := range f.Locations {
			got[k] = append(got[k], l.Path)
		}
	}
	assert.Equal(t, want, got, "cssc's findings from osv-scanner's SBOM, against osv-scanner's own")
}
