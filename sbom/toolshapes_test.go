package sbom_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/sbom"
)

// decodeFixture decodes one of the SBOMs other tools wrote (testdata/README.md
// says where each comes from).
func decodeFixture(t *testing.T, name, mediaType string) *sbom.Document {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	doc, err := sbom.Decode(data, mediaType)
	require.NoError(t, err, "decode %s", name)
	return doc
}

func byName(doc *sbom.Document, name string) []sbom.Package {
	var out []sbom.Package
	for _, p := range doc.Packages {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

// TestDecodeGoStdlibFromOtherTools: whichever tool wrote the SBOM, the Go
// toolchain comes out as OSV's "stdlib" with a plain version and purl, Go
// modules and scoped npm packages keep their full names, and each package
// says where it was found.
// syftAppLayer is the layer holding the Go binaries in syft's fixtures.
const syftAppLayer = "sha256:51064a2a1791723f160bbd6e12f2169498a4cbab83277974e56da3a41871013e"

func TestDecodeGoStdlibFromOtherTools(t *testing.T) {
	tests := []struct {
		file, mediaType string
		stdlibVersion   string
		stdlibLocations [][]string // per stdlib listing
		stdlibLayer     []string
		names           []string // other full names that must be present
		absent          []string // names that must not be listed
	}{
		{
			file: "osv-scalibr-0.5.3.spdx.json", mediaType: sbom.MediaTypeSPDX,
			stdlibVersion:   "1.26.8",
			stdlibLocations: [][]string{{"usr/local/bin/app"}},
			stdlibLayer:     []string{""},
			names:           []string{"github.com/opencontainers/go-digest", "example.com/app", "@types/node", "libc6", "requests"},
			absent:          []string{"go", "go-digest", "node", "main"},
		},
		{
			file: "osv-scalibr-0.5.3.cdx.json", mediaType: sbom.MediaTypeCycloneDX,
			stdlibVersion:   "1.26.8",
			stdlibLocations: [][]string{{"usr/local/bin/app"}},
			stdlibLayer:     []string{""},
			names:           []string{"github.com/opencontainers/go-digest", "@types/node", "libtinfo6"},
			absent:          []string{"go"},
		},
		{
			file: "syft-1.57.2.spdx.json", mediaType: sbom.MediaTypeSPDX,
			stdlibVersion:   "1.26.8",
			stdlibLocations: [][]string{{"usr/local/bin/app"}, {"usr/local/bin/worker"}},
			stdlibLayer:     []string{syftAppLayer, syftAppLayer},
			names:           []string{"github.com/opencontainers/go-digest", "example.com/app", "@types/node", "libc6", "requests"},
			absent:          []string{"/tmp/fixlayout", "go"},
		},
		{
			file: "syft-1.57.2.cdx.json", mediaType: sbom.MediaTypeCycloneDX,
			stdlibVersion:   "1.26.8",
			stdlibLocations: [][]string{{"usr/local/bin/app"}, {"usr/local/bin/worker"}},
			stdlibLayer:     []string{syftAppLayer, syftAppLayer},
			names:           []string{"github.com/opencontainers/go-digest", "libc6", "requests"},
			absent:          []string{"debian", "/usr/local/bin/app"},
		},
		{
			// osv-scanner lists only the vulnerable packages, and in
			// CycloneDX the toolchain once, without locations.
			file: "osv-scanner-2.3.0.cdx.json", mediaType: sbom.MediaTypeCycloneDX,
			stdlibVersion:   "1.26.8",
			stdlibLocations: [][]string{nil},
			stdlibLayer:     []string{""},
			absent:          []string{"go"},
		},
		{
			// In SPDX (written by its osv-scalibr) the toolchain is "go",
			// once per binary, located by sourceInfo.
			file: "osv-scanner-2.3.0.spdx.json", mediaType: sbom.MediaTypeSPDX,
			stdlibVersion:   "1.26.8",
			stdlibLocations: [][]string{{"usr/local/bin/app"}, {"usr/local/bin/worker"}},
			stdlibLayer:     []string{"", ""},
			names:           []string{"libc6"},
			absent:          []string{"go", "main"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			doc := decodeFixture(t, tc.file, tc.mediaType)
			std := byName(doc, sbom.GoStdlib)
			require.Len(t, std, len(tc.stdlibLocations), "stdlib listings")
			for i, p := range std {
				assert.Equal(t, tc.stdlibVersion, p.Version, "stdlib version")
				assert.Equal(t, "pkg:golang/stdlib@"+tc.stdlibVersion, p.PURL, "stdlib purl")
				assert.Equal(t, "Go", p.Ecosystem, "stdlib ecosystem")
				assert.Equal(t, tc.stdlibLocations[i], p.Locations, "stdlib locations")
				assert.Equal(t, tc.stdlibLayer[i], p.Layer, "stdlib layer")
			}
			for _, n := range tc.names {
				assert.NotEmpty(t, byName(doc, n), "package %q listed", n)
			}
			for _, n := range tc.absent {
				assert.Empty(t, byName(doc, n), "package %q must not be listed", n)
			}
			// Decoding is stable: normalising again changes nothing.
			again := *doc
			again.Packages = append([]sbom.Package(nil), doc.Packages...)
			again.Normalize()
			assert.Equal(t, doc.Packages, again.Packages, "Normalize is idempotent")
		})
	}
}

func TestNormalizePackage(t *testing.T) {
	tests := []struct {
		name string
		in   sbom.Package
		want sbom.Package
	}{
		{"osv-scalibr toolchain",
			sbom.Package{Name: "go", Version: "1.19.8", PURL: "pkg:golang/go@1.19.8"},
			sbom.Package{Name: "stdlib", Version: "1.19.8", PURL: "pkg:golang/stdlib@1.19.8", Ecosystem: "Go"}},
		{"syft toolchain",
			sbom.Package{Name: "stdlib", Version: "go1.19.8", PURL: "pkg:golang/stdlib@1.19.8"},
			sbom.Package{Name: "stdlib", Version: "1.19.8", PURL: "pkg:golang/stdlib@1.19.8", Ecosystem: "Go"}},
		{"toolchain version in the purl with go prefix",
			sbom.Package{Name: "stdlib", Version: "go1.22.1", PURL: "pkg:golang/stdlib@go1.22.1"},
			sbom.Package{Name: "stdlib", Version: "1.22.1", PURL: "pkg:golang/stdlib@1.22.1", Ecosystem: "Go"}},
		{"boringcrypto suffix",
			sbom.Package{Name: "stdlib", Version: "go1.22.1 X:boringcrypto", Ecosystem: "Go"},
			sbom.Package{Name: "stdlib", Version: "1.22.1", Ecosystem: "Go"}},
		{"release candidate",
			sbom.Package{Name: "go", Version: "1.23rc2", PURL: "pkg:golang/go@1.23rc2"},
			sbom.Package{Name: "stdlib", Version: "1.23rc2", PURL: "pkg:golang/stdlib@1.23rc2", Ecosystem: "Go"}},
		{"name only in the purl",
			sbom.Package{PURL: "pkg:golang/go@1.21.0"},
			sbom.Package{Name: "stdlib", Version: "1.21.0", PURL: "pkg:golang/stdlib@1.21.0", Ecosystem: "Go"}},
		{"go module short name",
			sbom.Package{Name: "net", Version: "v0.17.0", PURL: "pkg:golang/golang.org/x/net@v0.17.0"},
			sbom.Package{Name: "golang.org/x/net", Version: "v0.17.0", PURL: "pkg:golang/golang.org/x/net@v0.17.0", Ecosystem: "Go"}},
		{"a module whose last element is go is not the toolchain",
			sbom.Package{Name: "go", Version: "v1.0.0", PURL: "pkg:golang/example.com/go@v1.0.0"},
			sbom.Package{Name: "example.com/go", Version: "v1.0.0", PURL: "pkg:golang/example.com/go@v1.0.0", Ecosystem: "Go"}},
		{"scoped npm",
			sbom.Package{Name: "node", Version: "20.11.5", PURL: "pkg:npm/%40types/node@20.11.5?source=UNKNOWN"},
			sbom.Package{Name: "@types/node", Version: "20.11.5", PURL: "pkg:npm/%40types/node@20.11.5", Ecosystem: "npm"}},
		{"maven artifact id",
			sbom.Package{Name: "log4j-core", Version: "2.14.1", PURL: "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"},
			sbom.Package{Name: "org.apache.logging.log4j:log4j-core", Version: "2.14.1", PURL: "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", Ecosystem: "Maven"}},
		{"debian source from purl",
			sbom.Package{Name: "libc6", Version: "2.36-9", PURL: "pkg:deb/debian/libc6@2.36-9?distro=debian-12&arch=amd64&upstream=glibc"},
			sbom.Package{Name: "libc6", Version: "2.36-9", PURL: "pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12&upstream=glibc", Ecosystem: "Debian:12", SourceName: "glibc"}},
		{"syft absolute locations",
			sbom.Package{Name: "x", Locations: []string{"/usr/bin/x", "usr/bin/x", "", "/usr/../usr/lib/y"}},
			sbom.Package{Name: "x", Locations: []string{"usr/bin/x", "usr/lib/y"}}},
		{"unparsable purl kept",
			sbom.Package{Name: "x", PURL: "not a purl"},
			sbom.Package{Name: "x", PURL: "not a purl"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := sbom.NormalizePackage(tc.in)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, got, sbom.NormalizePackage(got), "idempotent")
		})
	}
}

// TestDecodeCycloneDXOccurrences: a CycloneDX 1.5 component found in
// several files (every location in evidence.occurrences, as osv-scalibr
// writes them) keeps them all, and the toolchain named stdlib with a plain
// version is kept as it is. The document is written for this test.
func TestDecodeCycloneDXOccurrences(t *testing.T) {
	doc, err := sbom.Decode([]byte(cdxOccurrences), sbom.MediaTypeCycloneDX)
	require.NoError(t, err)
	std := byName(doc, sbom.GoStdlib)
	require.Len(t, std, 1)
	assert.Equal(t, "1.19.8", std[0].Version)
	assert.Equal(t, "pkg:golang/stdlib@1.19.8", std[0].PURL)
	assert.Equal(t, []string{"usr/local/bin/app", "usr/local/bin/worker"}, std[0].Locations)
	for _, n := range []string{"github.com/opencontainers/go-digest", "libc6"} {
		assert.NotEmpty(t, byName(doc, n), "package %q listed", n)
	}
}

const cdxOccurrences = `{
  "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
  "bomFormat": "CycloneDX",
  "specVersion": "1.5",
  "version": 1,
  "components": [
    {
      "bom-ref": "pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=bookworm",
      "type": "library",
      "name": "libc6",
      "version": "2.36-9+deb12u4",
      "purl": "pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=bookworm",
      "evidence": {
        "occurrences": [
          {"location": "/var/lib/dpkg/status"}
        ]
      }
    },
    {
      "bom-ref": "pkg:golang/github.com/opencontainers/go-digest@1.0.0",
      "type": "library",
      "name": "github.com/opencontainers/go-digest",
      "version": "1.0.0",
      "purl": "pkg:golang/github.com/opencontainers/go-digest@1.0.0",
      "evidence": {
        "occurrences": [
          {"location": "/usr/local/bin/app"}
        ]
      }
    },
    {
      "bom-ref": "pkg:golang/stdlib@1.19.8",
      "type": "library",
      "name": "stdlib",
      "version": "1.19.8",
      "purl": "pkg:golang/stdlib@1.19.8",
      "evidence": {
        "occurrences": [
          {"location": "/usr/local/bin/app"},
          {"location": "/usr/local/bin/worker"}
        ]
      }
    }
  ]
}`
