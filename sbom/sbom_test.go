package sbom_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cssc-go/cssc/sbom"
	packageurl "github.com/package-url/packageurl-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleDoc() *sbom.Document {
	return &sbom.Document{
		Name:     "registry.example/library/app@sha256:0123",
		Created:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Creators: []string{"Tool: cssc-test", "Organization: Example"},
		Packages: []sbom.Package{
			{
				Name: "libssl3", Version: "3.0.11-1~deb12u2",
				PURL:      "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
				Ecosystem: "Debian:12", SourceName: "openssl",
				Licenses: []string{"Apache-2.0"},
				Layer:    "sha256:aaaa", Locations: []string{"var/lib/dpkg/status"},
			},
			{
				Name: "libc6", Version: "2.36-9+deb12u4",
				PURL:      "pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=bookworm",
				Ecosystem: "Debian:12", SourceName: "glibc", SourceVersion: "2.36-9+deb12u3",
				Licenses: []string{"LGPL-2.1-or-later", "GPL-2.0-only WITH Linux-syscall-note"},
				Layer:    "sha256:aaaa",
			},
			{
				Name: "busybox-binsh", Version: "1.36.1-r29",
				PURL:      "pkg:apk/alpine/busybox-binsh@1.36.1-r29?arch=x86_64&distro=alpine-3.20.3",
				Ecosystem: "Alpine:v3.20", SourceName: "busybox",
				Licenses: []string{"GPL-2.0-only"},
			},
			{
				Name: "left-pad", Version: "1.3.0", PURL: "pkg:npm/left-pad@1.3.0?source=UNKNOWN",
				Ecosystem: "npm", Licenses: []string{"WTFPL OR MIT"},
			},
			{
				Name: "weird", Version: "1", PURL: "pkg:pypi/weird@1", Ecosystem: "PyPI",
				Licenses: []string{"Some Custom Licence, see COPYING"},
			},
			{Name: "stdlib", Version: "1.26.8", PURL: "pkg:golang/stdlib@1.26.8", Ecosystem: "Go"},
		},
	}
}

func TestEncodeSPDXValidatesAndRoundTrips(t *testing.T) {
	doc := sampleDoc()
	out, err := sbom.EncodeSPDX(doc, sbom.SPDXOptions{Subject: "sha256:" + strings.Repeat("ab", 32)})
	require.NoError(t, err)

	// tools-golang's own reader and validation.
	sd, err := spdxjson.Read(bytes.NewReader(out))
	require.NoError(t, err)
	require.NoError(t, spdxlib.ValidateDocument(sd))
	described, err := spdxlib.GetDescribedPackageIDs(sd)
	require.NoError(t, err)
	assert.Equal(t, []string{"Subject"}, func() (s []string) {
		for _, d := range described {
			s = append(s, string(d))
		}
		return
	}())
	assert.Equal(t, "SPDX-2.3", sd.SPDXVersion)
	assert.True(t, strings.HasPrefix(sd.DocumentNamespace, sbom.DefaultNamespacePrefix), "namespace %q", sd.DocumentNamespace)
	assert.Equal(t, "2026-01-02T03:04:05Z", sd.CreationInfo.Created)
	assert.Contains(t, string(out), `pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl`)
	assert.NotContains(t, string(out), "source=UNKNOWN")

	back, err := sbom.Decode(out, sbom.MediaTypeSPDX)
	require.NoError(t, err)
	require.Len(t, back.Packages, len(doc.Packages), "subject package must not be listed")
	assert.Equal(t, doc.Created, back.Created)
	assert.Equal(t, doc.Creators, back.Creators)
	for i, want := range doc.Packages {
		got := back.Packages[i]
		assert.Equal(t, want.Name, got.Name)
		assert.Equal(t, want.Version, got.Version)
		assert.Equal(t, want.Ecosystem, got.Ecosystem, "ecosystem of %s", want.Name)
		assert.Equal(t, want.SourceName, got.SourceName, "source of %s", want.Name)
		assert.Equal(t, want.SourceVersion, got.SourceVersion, "source version of %s", want.Name)
		assert.Equal(t, want.Layer, got.Layer)
		assert.Equal(t, want.Locations, got.Locations)
		assert.Equal(t, sbom.NormalizePURL(want.PURL), withoutUpstream(t, got.PURL), "purl of %s", want.Name)
	}
	assert.Equal(t, []string{"Apache-2.0"}, back.Packages[0].Licenses)
	assert.Equal(t, []string{"LGPL-2.1-or-later AND (GPL-2.0-only WITH Linux-syscall-note)"}, back.Packages[1].Licenses)
	assert.Equal(t, []string{"Some Custom Licence, see COPYING"}, back.Packages[4].Licenses, "LicenseRef resolved to its text")
}

func withoutUpstream(t *testing.T, purl string) string {
	p, err := packageurl.FromString(purl)
	require.NoError(t, err)
	var q packageurl.Qualifiers
	for _, kv := range p.Qualifiers {
		if kv.Key != "upstream" {
			q = append(q, kv)
		}
	}
	p.Qualifiers = q
	return p.ToString()
}

func TestEncodeSPDXDeterministic(t *testing.T) {
	a, err := sbom.EncodeSPDX(sampleDoc(), sbom.SPDXOptions{Subject: "sha256:01"})
	require.NoError(t, err)
	b, err := sbom.EncodeSPDX(sampleDoc(), sbom.SPDXOptions{Subject: "sha256:01"})
	require.NoError(t, err)
	assert.Equal(t, a, b)
	c, err := sbom.EncodeSPDX(sampleDoc(), sbom.SPDXOptions{Subject: "sha256:02"})
	require.NoError(t, err)
	assert.NotEqual(t, a, c, "another subject gives another namespace")

	d := sampleDoc()
	d.Created = time.Time{}
	e, err := sbom.EncodeSPDX(d, sbom.SPDXOptions{})
	require.NoError(t, err)
	assert.Contains(t, string(e), `"created":"1970-01-01T00:00:00Z"`)
}

func TestEncodeSPDXEmpty(t *testing.T) {
	out, err := sbom.EncodeSPDX(&sbom.Document{}, sbom.SPDXOptions{})
	require.NoError(t, err)
	sd, err := spdxjson.Read(bytes.NewReader(out))
	require.NoError(t, err)
	require.NoError(t, spdxlib.ValidateDocument(sd))
	_, err = sbom.EncodeSPDX(nil, sbom.SPDXOptions{})
	assert.Error(t, err)
}

func TestCycloneDXRoundTrip(t *testing.T) {
	doc := sampleDoc()
	out, err := sbom.EncodeCycloneDX(doc, sbom.CycloneDXOptions{Subject: "sha256:01"})
	require.NoError(t, err)
	assert.Contains(t, string(out), `"specVersion":"1.6"`)
	again, err := sbom.EncodeCycloneDX(doc, sbom.CycloneDXOptions{Subject: "sha256:01"})
	require.NoError(t, err)
	assert.Equal(t, out, again, "deterministic")

	back, err := sbom.Decode(out, "application/vnd.cyclonedx+json; version=1.6")
	require.NoError(t, err)
	require.Len(t, back.Packages, len(doc.Packages))
	for i, want := range doc.Packages {
		got := back.Packages[i]
		assert.Equal(t, want.Name, got.Name)
		assert.Equal(t, want.Ecosystem, got.Ecosystem)
		assert.Equal(t, want.SourceName, got.SourceName)
		assert.Equal(t, want.SourceVersion, got.SourceVersion)
		assert.Equal(t, want.Layer, got.Layer)
		assert.Equal(t, want.Locations, got.Locations)
	}
	assert.Equal(t, []string{"LGPL-2.1-or-later AND (GPL-2.0-only WITH Linux-syscall-note)"}, back.Packages[1].Licenses)
	assert.Equal(t, []string{"Apache-2.0"}, back.Packages[0].Licenses)
}

// A publisher SPDX 2.2 document, in the shape syft writes.
const spdx22 = `{
 "spdxVersion": "SPDX-2.2", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
 "name": "alpine:3.20", "documentNamespace": "https://anchore.com/syft/image/alpine-3.20-1",
 "creationInfo": {"created": "2024-07-01T10:00:00Z", "creators": ["Tool: syft-1.8.0", "Organization: Anchore, Inc"]},
 "packages": [
  {"name": "alpine", "SPDXID": "SPDXRef-DocumentRoot-Image-alpine", "downloadLocation": "NOASSERTION",
   "externalRefs": [{"referenceCategory": "PACKAGE_MANAGER", "referenceType": "purl", "referenceLocator": "pkg:oci/alpine@sha256%3Aabc"}]},
  {"name": "busybox-binsh", "SPDXID": "SPDXRef-Package-apk-busybox-binsh", "versionInfo": "1.36.1-r29",
   "downloadLocation": "NOASSERTION", "licenseConcluded": "NOASSERTION", "licenseDeclared": "GPL-2.0-only",
   "externalRefs": [{"referenceCategory": "PACKAGE_MANAGER", "referenceType": "purl",
     "referenceLocator": "pkg:apk/alpine/busybox-binsh@1.36.1-r29?arch=x86_64&upstream=busybox&distro=alpine-3.20.1"}]}
 ],
 "relationships": [{"spdxElementId": "SPDXRef-DOCUMENT", "relatedSpdxElement": "SPDXRef-DocumentRoot-Image-alpine", "relationshipType": "DESCRIBES"}]
}`

const cdx15 = `{
 "bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
 "metadata": {"timestamp": "2024-07-01T10:00:00Z", "tools": [{"vendor": "anchore", "name": "syft", "version": "0.100.0"}],
   "component": {"type": "container", "name": "nginx"}},
 "components": [
  {"type": "library", "name": "libc6", "version": "2.36-9+deb12u7",
   "purl": "pkg:deb/debian/libc6@2.36-9+deb12u7?arch=amd64&upstream=glibc&distro=debian-12",
   "licenses": [{"license": {"id": "LGPL-2.1-only"}}, {"license": {"name": "GPL-2"}}],
   "properties": [{"name": "syft:location:0:layerID", "value": "sha256:layer1"}, {"name": "syft:location:0:path", "value": "/var/lib/dpkg/status"}]},
  {"type": "library", "group": "org.apache.logging.log4j", "name": "log4j-core", "version": "2.14.1",
   "purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
   "licenses": [{"expression": "Apache-2.0"}],
   "components": [{"type": "library", "name": "nested", "version": "1", "purl": "pkg:npm/nested@1"}]},
  {"type": "operating-system", "name": "debian", "version": "12"}
 ]
}`

func TestDecodePublisherDocuments(t *testing.T) {
	doc, err := sbom.Decode([]byte(spdx22), "application/spdx+json")
	require.NoError(t, err)
	require.Len(t, doc.Packages, 1, "image root package skipped")
	p := doc.Packages[0]
	assert.Equal(t, "busybox-binsh", p.Name)
	assert.Equal(t, "Alpine:v3.20", p.Ecosystem)
	assert.Equal(t, "busybox", p.SourceName)
	assert.Equal(t, []string{"GPL-2.0-only"}, p.Licenses)
	assert.Equal(t, []string{"Tool: syft-1.8.0", "Organization: Anchore, Inc"}, doc.Creators)

	doc, err = sbom.Decode([]byte(cdx15), "")
	require.NoError(t, err, "sniffed")
	require.Len(t, doc.Packages, 3)
	assert.Equal(t, "nginx", doc.Name)
	assert.Equal(t, "Debian:12", doc.Packages[0].Ecosystem)
	assert.Equal(t, "glibc", doc.Packages[0].SourceName)
	assert.Equal(t, "sha256:layer1", doc.Packages[0].Layer)
	assert.Equal(t, []string{"LGPL-2.1-only", "GPL-2"}, doc.Packages[0].Licenses)
	assert.Equal(t, "org.apache.logging.log4j:log4j-core", doc.Packages[1].Name)
	assert.Equal(t, "Maven", doc.Packages[1].Ecosystem)
	assert.Equal(t, "npm", doc.Packages[2].Ecosystem)
	assert.Equal(t, []string{"Tool: syft-0.100.0"}, doc.Creators)
}

func TestDecodeBadInput(t *testing.T) {
	cases := []struct {
		name, mediaType, data string
		want                  error
	}{
		{"not json spdx", sbom.MediaTypeSPDX, "{", sbom.ErrInvalidDocument},
		{"not json cdx", sbom.MediaTypeCycloneDX, "nope", sbom.ErrInvalidDocument},
		{"array", sbom.MediaTypeSPDX, "[]", sbom.ErrInvalidDocument},
		{"no version", sbom.MediaTypeSPDX, `{"name":"x"}`, sbom.ErrInvalidDocument},
		{"spdx 3", sbom.MediaTypeSPDX, `{"spdxVersion":"SPDX-3.0"}`, sbom.ErrInvalidDocument},
		{"wrong types", sbom.MediaTypeSPDX, `{"spdxVersion":"SPDX-2.3","packages":"x"}`, sbom.ErrInvalidDocument},
		{"not cyclonedx", sbom.MediaTypeCycloneDX, `{"bomFormat":"SWID","specVersion":"1.6"}`, sbom.ErrInvalidDocument},
		{"cdx 0.9", sbom.MediaTypeCycloneDX, `{"bomFormat":"CycloneDX","specVersion":"0.9"}`, sbom.ErrInvalidDocument},
		{"cdx bad components", sbom.MediaTypeCycloneDX, `{"bomFormat":"CycloneDX","specVersion":"1.6","components":{}}`, sbom.ErrInvalidDocument},
		{"unknown format", "", `{"a":1}`, sbom.ErrInvalidDocument},
		{"media type", "text/plain", `{}`, sbom.ErrUnsupportedMediaType},
		{"too large", sbom.MediaTypeSPDX, strings.Repeat(" ", sbom.MaxDocumentSize+1), sbom.ErrTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sbom.Decode([]byte(tc.data), tc.mediaType)
			require.Error(t, err)
			assert.True(t, errors.Is(err, tc.want), "got %v, want %v", err, tc.want)
		})
	}

	deep := `{"bomFormat":"CycloneDX","specVersion":"1.6","components":` +
		strings.Repeat(`[{"type":"library","name":"x","components":`, 40) + `[]` + strings.Repeat(`}]`, 40) + `}`
	_, err := sbom.Decode([]byte(deep), sbom.MediaTypeCycloneDX)
	assert.ErrorIs(t, err, sbom.ErrInvalidDocument, "deep nesting")
}

func TestEcosystem(t *testing.T) {
	cases := map[string]string{
		"pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12": "Debian:12",
		"pkg:deb/debian/libc6@2.36-9?distro=bookworm":             "Debian:12",
		"pkg:deb/debian/libc6@2.36-9?distro=debian-11.9":          "Debian:11",
		"pkg:deb/debian/libc6@2.36-9":                             "Debian",
		"pkg:deb/ubuntu/libc6@2.35?distro=ubuntu-22.04":           "Ubuntu:22.04:LTS",
		"pkg:deb/ubuntu/libc6@2.35?distro=jammy":                  "Ubuntu:22.04:LTS",
		"pkg:deb/ubuntu/libc6@2.40?distro=ubuntu-24.10":           "Ubuntu:24.10",
		"pkg:deb/ubuntu/libc6@2.40?distro=ubuntu-23.04":           "Ubuntu:23.04",
		"pkg:apk/alpine/musl@1.2.5-r0?distro=alpine-3.20.3":       "Alpine:v3.20",
		"pkg:apk/alpine/musl@1.2.5-r0?distro=3.19.1":              "Alpine:v3.19",
		"pkg:apk/alpine/musl@1.2.5-r0":                            "Alpine",
		"pkg:golang/stdlib@1.22.1":                                "Go",
		"pkg:golang/golang.org/x/net@v0.1.0":                      "Go",
		"pkg:npm/%40babel/core@7.0.0":                             "npm",
		"pkg:pypi/requests@2.31.0":                                "PyPI",
		"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1":    "Maven",
		"pkg:rpm/redhat/openssl@3.0.7?distro=rhel-9.3":            "Red Hat:9",
		"pkg:generic/foo@1":                                       "",
		"not a purl":                                              "",
	}
	for purl, want := range cases {
		assert.Equal(t, want, sbom.Ecosystem(purl), "Ecosystem(%q)", purl)
	}
	assert.Equal(t, "Debian:12", sbom.DebianEcosystem("12"))
	assert.Equal(t, "Debian:13", sbom.DebianEcosystem("trixie"))
	assert.Equal(t, "Alpine:v3.20", sbom.AlpineEcosystem("3.20.3"))
	assert.Equal(t, "Alpine", sbom.AlpineEcosystem("edge"))
}

func TestNormalizePURL(t *testing.T) {
	assert.Equal(t, "pkg:npm/left-pad@1.3.0", sbom.NormalizePURL("pkg:npm/left-pad@1.3.0?source=UNKNOWN"))
	assert.Equal(t, "pkg:deb/debian/a@1?arch=amd64&distro=debian-12", sbom.NormalizePURL("pkg:deb/debian/a@1?distro=debian-12&arch=amd64"))
	assert.Equal(t, "garbage", sbom.NormalizePURL("garbage"))
	n, v := sbom.SourceFromPURL("pkg:deb/debian/libc6@2.36-9?upstream=glibc%402.36-8")
	assert.Equal(t, "glibc", n)
	assert.Equal(t, "2.36-8", v)
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(spdx22), sbom.MediaTypeSPDX)
	f.Add([]byte(cdx15), sbom.MediaTypeCycloneDX)
	f.Add([]byte(`{"spdxVersion":"SPDX-2.3","packages":[{"name":"a","externalRefs":[{}]}]}`), "")
	if out, err := sbom.EncodeSPDX(sampleDoc(), sbom.SPDXOptions{}); err == nil {
		f.Add(out, sbom.MediaTypeSPDX)
	}
	if out, err := sbom.EncodeCycloneDX(sampleDoc(), sbom.CycloneDXOptions{}); err == nil {
		f.Add(out, "")
	}
	f.Fuzz(func(t *testing.T, data []byte, mediaType string) {
		doc, err := sbom.Decode(data, mediaType)
		if err != nil {
			return
		}
		// Whatever decodes must encode to valid SPDX.
		out, err := sbom.EncodeSPDX(doc, sbom.SPDXOptions{})
		if err != nil {
			t.Fatalf("decoded document does not encode: %v", err)
		}
		if _, err := sbom.Decode(out, sbom.MediaTypeSPDX); err != nil {
			t.Fatalf("encoded document does not decode: %v", err)
		}
	})
}
