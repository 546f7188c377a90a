package scalibr_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/sbom/scalibr"
)

// dpkgStatus is a realistic /var/lib/dpkg/status: Source lines with and
// without versions, a removed package, multi-line fields.
const dpkgStatus = `Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12987
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u7
Depends: libgcc-s1
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.
Homepage: https://www.gnu.org/software/libc/libc.html

Package: libssl3
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 6176
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.13-1~deb12u1
Depends: libc6 (>= 2.34)
Description: Secure Sockets Layer toolkit - shared libraries

Package: libgnutls30
Status: install ok installed
Architecture: amd64
Source: gnutls28 (3.7.9-2+deb12u2)
Version: 3.7.9-2+deb12u3
Description: GNU TLS library - main runtime library

Package: bash
Essential: yes
Status: install ok installed
Priority: required
Section: shells
Architecture: amd64
Version: 5.2.15-2+b7
Description: GNU Bourne Again SHell

Package: oldpkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1
Description: removed, config files left
`

const libcCopyright = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: GNU C Library

Files: *
Copyright: 1991-2023 Free Software Foundation, Inc.
License: LGPL-2.1+
 This library is free software; you can redistribute it and/or
 modify it under the terms of the GNU Lesser General Public License.

Files: debian/*
Copyright: 1998 Joel Klecker
License: GPL-2+ or Artistic

License: LGPL-2.1+
 On Debian systems, the complete text is in /usr/share/common-licenses/LGPL-2.1.
`

const pyMetadata = `Metadata-Version: 2.1
Name: requests
Version: 2.31.0
Summary: Python HTTP for Humans.
Home-page: https://requests.readthedocs.io
Author: Kenneth Reitz
License: Apache 2.0
Project-URL: Source, https://github.com/psf/requests
Classifier: Development Status :: 5 - Production/Stable
Classifier: Intended Audience :: Developers
Classifier: License :: OSI Approved :: Apache Software License
Classifier: Natural Language :: English
Classifier: Programming Language :: Python :: 3
Requires-Python: >=3.7
`

func jar(t testing.TB, group, artifact, version string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("META-INF/MANIFEST.MF")
	require.NoError(t, err)
	fmt.Fprintf(w, "Manifest-Version: 1.0\r\nImplementation-Title: %s\r\nImplementation-Version: %s\r\n\r\n", artifact, version)
	w, err = zw.Create(fmt.Sprintf("META-INF/maven/%s/%s/pom.properties", group, artifact))
	require.NoError(t, err)
	fmt.Fprintf(w, "artifactId=%s\ngroupId=%s\nversion=%s\n", artifact, group, version)
	w, err = zw.Create("org/example/Main.class")
	require.NoError(t, err)
	w.Write([]byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52})
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

var (
	goBinOnce sync.Once
	goBin     []byte
	goBinErr  error
)

// tinyGoBinary builds a tiny main module with one vendored dependency
// (github.com/example/dep v1.2.3) with the local toolchain: no download,
// and the build cache is reused.
func tinyGoBinary(t testing.TB) []byte {
	t.Helper()
	goBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cssc-gobin")
		if err != nil {
			goBinErr = err
			return
		}
		defer os.RemoveAll(dir)
		files := map[string]string{
			"go.mod":                               "module example.com/hello\n\ngo 1.22\n\nrequire github.com/example/dep v1.2.3\n",
			"main.go":                              "package main\n\nimport (\n\t\"fmt\"\n\n\t\"github.com/example/dep\"\n)\n\nfunc main() { fmt.Println(dep.Hello()) }\n",
			"vendor/github.com/example/dep/dep.go": "package dep\n\nfunc Hello() string { return \"hello\" }\n",
			"vendor/modules.txt":                   "# github.com/example/dep v1.2.3\n## explicit\ngithub.com/example/dep\n",
		}
		for n, c := range files {
			p := filepath.Join(dir, n)
			if goBinErr = os.MkdirAll(filepath.Dir(p), 0o755); goBinErr != nil {
				return
			}
			if goBinErr = os.WriteFile(p, []byte(c), 0o644); goBinErr != nil {
				return
			}
		}
		cmd := exec.Command("go", "build", "-o", "hello", ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=vendor")
		if out, err := cmd.CombinedOutput(); err != nil {
			goBinErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		goBin, goBinErr = os.ReadFile(filepath.Join(dir, "hello"))
	})
	require.NoError(t, goBinErr)
	return goBin
}

func memRepo(t testing.TB, name string) registry.Repository {
	t.Helper()
	client := registry.NewClient(registry.Options{})
	repo, err := client.Repository(context.Background(), "mem:"+name)
	require.NoError(t, err)
	return repo
}

func debianImage(t testing.TB) []imagetest.Blob {
	base := imagetest.Layer(
		imagetest.Dir("etc"),
		imagetest.File{Path: "usr/lib/os-release", Data: []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n")},
		imagetest.Symlink("etc/os-release", "../usr/lib/os-release"),
		imagetest.File{Path: "var/lib/dpkg/status", Data: []byte(dpkgStatus)},
		imagetest.File{Path: "bin/sh", Data: []byte("#!/bin/dash\necho not a go binary\n"), Mode: 0o755},
		imagetest.File{Path: "usr/share/doc/libc6/copyright", Data: []byte(libcCopyright)},
		imagetest.File{Path: "usr/share/doc/libssl3/copyright", Data: []byte("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nSource: https://www.openssl.org/\n\nFiles: *\nCopyright: 1998-2024 The OpenSSL Project\nLicense: Apache-2.0\n")},
		imagetest.File{Path: "usr/share/doc/bash/copyright", Data: []byte("This is Debian's prepackaged version of bash.\nGPL, see /usr/share/common-licenses/GPL-3.\n")},
	)
	app := imagetest.Layer(
		imagetest.File{Path: "var/lib/dpkg/status.d/tzdata", Data: []byte("Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\nStatus: install ok installed\n")},
		imagetest.File{Path: "usr/local/bin/hello", Data: tinyGoBinary(t), Mode: 0o755},
		imagetest.File{Path: "usr/local/bin/tool", Data: tinyGoBinary(t), Mode: 0o755},
		imagetest.File{Path: "opt/app/lib/demo-1.2.3.jar", Data: jar(t, "org.example", "demo", "1.2.3")},
		imagetest.File{Path: "usr/lib/node_modules/app/node_modules/left-pad/package.json", Data: []byte(`{"name":"left-pad","version":"1.3.0","license":"WTFPL"}`)},
		imagetest.File{Path: "usr/lib/node_modules/app/node_modules/@babel/core/package.json", Data: []byte(`{"name":"@babel/core","version":"7.24.0","license":"MIT"}`)},
		imagetest.File{Path: "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA", Data: []byte(pyMetadata)},
	)
	return []imagetest.Blob{base, app}
}

func find(doc *sbom.Document, name string) *sbom.Package {
	for i := range doc.Packages {
		if doc.Packages[i].Name == name {
			return &doc.Packages[i]
		}
	}
	return nil
}

func TestGenerateDebianImage(t *testing.T) {
	ctx := context.Background()
	repo := memRepo(t, "debian")
	layers := debianImage(t)
	desc, err := imagetest.Image{Layers: layers}.Push(ctx, repo)
	require.NoError(t, err)

	var warnings []scalibr.Warning
	doc, err := scalibr.Generate(ctx, repo, desc, scalibr.Options{
		Name:      "registry.example/debian-app:1",
		OnWarning: func(w scalibr.Warning) { warnings = append(warnings, w) },
	})
	require.NoError(t, err)
	assert.Empty(t, warnings)
	assert.Equal(t, "registry.example/debian-app:1", doc.Name)
	assert.Equal(t, []string{scalibr.Creator}, doc.Creators)

	cases := []struct {
		name, version, eco, source, sourceVersion, purl, layer, loc string
	}{
		{"libc6", "2.36-9+deb12u7", "Debian:12", "glibc", "", "pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64&distro=bookworm&source=glibc", layers[0].Desc.Digest.String(), "var/lib/dpkg/status"},
		{"libssl3", "3.0.13-1~deb12u1", "Debian:12", "openssl", "", "", layers[0].Desc.Digest.String(), "var/lib/dpkg/status"},
		{"libgnutls30", "3.7.9-2+deb12u3", "Debian:12", "gnutls28", "3.7.9-2+deb12u2", "", "", ""},
		{"bash", "5.2.15-2+b7", "Debian:12", "", "", "", "", ""},
		{"tzdata", "2024a-0+deb12u1", "Debian:12", "", "", "", layers[1].Desc.Digest.String(), "var/lib/dpkg/status.d/tzdata"},
		{"example.com/hello", "", "Go", "", "", "", layers[1].Desc.Digest.String(), "usr/local/bin/hello"},
		{"org.example:demo", "1.2.3", "Maven", "", "", "pkg:maven/org.example/demo@1.2.3", layers[1].Desc.Digest.String(), "opt/app/lib/demo-1.2.3.jar"},
		{"left-pad", "1.3.0", "npm", "", "", "pkg:npm/left-pad@1.3.0", layers[1].Desc.Digest.String(), ""},
		{"@babel/core", "7.24.0", "npm", "", "", "pkg:npm/%40babel/core@7.24.0", "", ""},
		{"requests", "2.31.0", "PyPI", "", "", "pkg:pypi/requests@2.31.0", layers[1].Desc.Digest.String(), "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA"},
		{"github.com/example/dep", "1.2.3", "Go", "", "", "pkg:golang/github.com/example/dep@1.2.3", layers[1].Desc.Digest.String(), "usr/local/bin/hello"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := find(doc, tc.name)
			require.NotNil(t, p, "package %s not found in %v", tc.name, doc.Packages)
			if tc.version != "" {
				assert.Equal(t, tc.version, p.Version)
			}
			assert.Equal(t, tc.eco, p.Ecosystem)
			assert.Equal(t, tc.source, p.SourceName)
			assert.Equal(t, tc.sourceVersion, p.SourceVersion)
			if tc.purl != "" {
				assert.Equal(t, tc.purl, p.PURL)
			}
			assert.NotContains(t, p.PURL, "source=UNKNOWN")
			if tc.layer != "" {
				assert.Equal(t, tc.layer, p.Layer)
			}
			if tc.loc != "" {
				assert.Contains(t, p.Locations, tc.loc)
			}
		})
	}
	assert.Nil(t, find(doc, "oldpkg"), "removed package not listed")
	assert.Equal(t, []string{"LGPL-2.1-or-later", "GPL-2.0-or-later OR Artistic-1.0-Perl"}, find(doc, "libc6").Licenses)
	assert.Equal(t, []string{"Apache-2.0"}, find(doc, "libssl3").Licenses)
	assert.Empty(t, find(doc, "bash").Licenses, "copyright file not machine-readable")
	assert.Equal(t, []string{"WTFPL"}, find(doc, "left-pad").Licenses)
	assert.Equal(t, []string{"Apache-2.0"}, find(doc, "requests").Licenses, "the trove classifier, not the free-text License field")

	// The Go toolchain of both binaries is listed as stdlib.
	var stdlib int
	for _, p := range doc.Packages {
		if p.Name == "stdlib" {
			stdlib++
			assert.Equal(t, "Go", p.Ecosystem)
			assert.True(t, strings.HasPrefix(p.PURL, "pkg:golang/stdlib@1."), p.PURL)
		}
		assert.NotEqual(t, "go", p.Name)
	}
	assert.Equal(t, 2, stdlib)

	// The SPDX encoding validates with tools-golang.
	out, err := sbom.EncodeSPDX(doc, sbom.SPDXOptions{Subject: desc.Digest.String()})
	require.NoError(t, err)
	sd, err := spdxjson.Read(bytes.NewReader(out))
	require.NoError(t, err)
	require.NoError(t, spdxlib.ValidateDocument(sd))
	back, err := sbom.Decode(out, sbom.MediaTypeSPDX)
	require.NoError(t, err)
	require.Len(t, back.Packages, len(doc.Packages))
	assert.Equal(t, "glibc", find(back, "libc6").SourceName)
	assert.Equal(t, layers[1].Desc.Digest.String(), find(back, "tzdata").Layer)

	// Deterministic.
	doc2, err := scalibr.Generate(ctx, repo, desc, scalibr.Options{Name: "registry.example/debian-app:1"})
	require.NoError(t, err)
	out2, err := sbom.EncodeSPDX(doc2, sbom.SPDXOptions{Subject: desc.Digest.String()})
	require.NoError(t, err)
	assert.Equal(t, out, out2)
}

func TestGenerateAlpineImage(t *testing.T) {
	ctx := context.Background()
	repo := memRepo(t, "alpine")
	layer := imagetest.Layer(
		imagetest.OSRelease("alpine", "3.20.3", ""),
		imagetest.APKInstalled(
			imagetest.Package{Name: "musl", Version: "1.2.5-r0", License: "MIT"},
			imagetest.Package{Name: "busybox-binsh", Version: "1.36.1-r29", Source: "busybox", License: "GPL-2.0-only"},
			imagetest.Package{Name: "libcrypto3", Version: "3.3.2-r0", Source: "openssl", License: "Apache-2.0"},
		),
	)
	desc, err := imagetest.Image{Layers: []imagetest.Blob{layer}}.Push(ctx, repo)
	require.NoError(t, err)
	doc, err := scalibr.Generate(ctx, repo, desc, scalibr.Options{})
	require.NoError(t, err)
	assert.Equal(t, desc.Digest.String(), doc.Name)
	require.Len(t, doc.Packages, 3)
	p := find(doc, "libcrypto3")
	require.NotNil(t, p)
	assert.Equal(t, "Alpine:v3.20", p.Ecosystem)
	assert.Equal(t, "openssl", p.SourceName)
	assert.Equal(t, []string{"Apache-2.0"}, p.Licenses)
	assert.Equal(t, layer.Desc.Digest.String(), p.Layer)
	assert.Contains(t, p.PURL, "pkg:apk/alpine/libcrypto3@3.3.2-r0")
	assert.Equal(t, "", find(doc, "musl").SourceName, "origin equal to name is not repeated")
}

func TestGenerateWhiteoutRemovesPackages(t *testing.T) {
	ctx := context.Background()
	repo := memRepo(t, "whiteout")
	base := imagetest.Layer(
		imagetest.OSRelease("debian", "12", "bookworm"),
		imagetest.File{Path: "var/lib/dpkg/status", Data: []byte(dpkgStatus)},
		imagetest.File{Path: "app/node_modules/gone/package.json", Data: []byte(`{"name":"gone","version":"1.0.0"}`)},
	)
	top := imagetest.Layer(imagetest.Whiteout("app/node_modules/gone"))
	desc, err := imagetest.Image{Layers: []imagetest.Blob{base, top}}.Push(ctx, repo)
	require.NoError(t, err)
	doc, err := scalibr.Generate(ctx, repo, desc, scalibr.Options{})
	require.NoError(t, err)
	assert.Nil(t, find(doc, "gone"))
	assert.NotNil(t, find(doc, "libc6"))
	assert.Equal(t, "Debian:12", find(doc, "libc6").Ecosystem)
}

func TestGenerateMalformedDatabases(t *testing.T) {
	ctx := context.Background()
	cases := map[string][]imagetest.File{
		"garbage dpkg": {
			imagetest.OSRelease("debian", "12", "bookworm"),
			{Path: "var/lib/dpkg/status", Data: imagetest.Random(1, 4096)},
		},
		"truncated dpkg": {
			{Path: "var/lib/dpkg/status", Data: []byte(dpkgStatus[:len(dpkgStatus)/3])},
		},
		"dpkg without blank lines or colons": {
			{Path: "var/lib/dpkg/status", Data: []byte(strings.Repeat("Package libc6\n Version\n\x00\x00", 100))},
		},
		"garbage apk": {
			imagetest.OSRelease("alpine", "3.20.3", ""),
			{Path: "lib/apk/db/installed", Data: imagetest.Random(2, 4096)},
		},
		"apk fields only": {
			{Path: "lib/apk/db/installed", Data: []byte("P:\nV:\n\nP:x\n\n\n:::\nV")},
		},
		"broken package.json": {
			{Path: "node_modules/x/package.json", Data: []byte(`{"name": [1,2`)},
		},
		"broken jar": {
			{Path: "opt/x.jar", Data: []byte("PK\x03\x04 not really a zip")},
		},
		"broken elf": {
			{Path: "usr/bin/x", Data: append([]byte("\x7fELF"), imagetest.Random(3, 1000)...), Mode: 0o755},
		},
		"os-release loop": {
			imagetest.Symlink("etc/os-release", "os-release"),
			{Path: "var/lib/dpkg/status", Data: []byte(dpkgStatus)},
		},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			repo := memRepo(t, "bad")
			desc, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(files...)}}.Push(ctx, repo)
			require.NoError(t, err)
			doc, err := scalibr.Generate(ctx, repo, desc, scalibr.Options{OnWarning: func(w scalibr.Warning) {
				t.Logf("warning: %s: %v", w.Path, w.Err)
			}})
			require.NoError(t, err, "malformed content is a warning, not a failure")
			require.NotNil(t, doc)
			_, err = sbom.EncodeSPDX(doc, sbom.SPDXOptions{})
			require.NoError(t, err)
		})
	}
}

func TestGenerateLimits(t *testing.T) {
	ctx := context.Background()
	repo := memRepo(t, "limits")
	layer := imagetest.Layer(
		imagetest.File{Path: "var/lib/dpkg/status", Data: []byte(dpkgStatus)},
		imagetest.File{Path: "node_modules/x/package.json", Data: []byte(`{"name":"x","version":"1.0.0"}`)},
	)
	desc, err := imagetest.Image{Layers: []imagetest.Blob{layer}}.Push(ctx, repo)
	require.NoError(t, err)

	_, err = scalibr.Generate(ctx, repo, desc, scalibr.Options{MaxBufferedBytes: 100})
	assert.ErrorIs(t, err, scalibr.ErrTooLarge)

	var warned []string
	doc, err := scalibr.Generate(ctx, repo, desc, scalibr.Options{MaxFileSize: 100, OnWarning: func(w scalibr.Warning) {
		warned = append(warned, w.Path)
	}})
	require.NoError(t, err)
	assert.Equal(t, []string{"var/lib/dpkg/status"}, warned)
	assert.NotNil(t, find(doc, "x"))

	// A missing blob is an error, not an empty SBOM.
	missing := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest("sha256:" + strings.Repeat("0", 64)), Size: 10}
	_, err = scalibr.Generate(ctx, repo, missing, scalibr.Options{})
	assert.Error(t, err)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = scalibr.Generate(cctx, repo, desc, scalibr.Options{})
	assert.Error(t, err)
}

// TestGenerateDpkgLayerAttribution: a package installed in a later layer is
// attributed to that layer through its var/lib/dpkg/info list file, even
// though the status file (rewritten by every install) sits in the top layer.
func TestGenerateDpkgLayerAttribution(t *testing.T) {
	ctx := context.Background()
	repo := memRepo(t, "attribution")
	base := imagetest.Layer(
		imagetest.OSRelease("debian", "12", "bookworm"),
		imagetest.File{Path: "var/lib/dpkg/status", Data: []byte(dpkgStatus)},
		imagetest.File{Path: "var/lib/dpkg/info/libc6:amd64.list", Data: []byte("/lib/x86_64-linux-gnu/libc.so.6\n")},
		imagetest.File{Path: "var/lib/dpkg/info/bash.list", Data: []byte("/bin/bash\n")},
	)
	curl := "Package: curl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 7.88.1-10+deb12u5\nDescription: curl\n"
	top := imagetest.Layer(
		imagetest.File{Path: "var/lib/dpkg/status", Data: []byte(dpkgStatus + "\n" + curl)},
		imagetest.File{Path: "var/lib/dpkg/info/curl.list", Data: []byte("/usr/bin/curl\n")},
	)
	desc, err := imagetest.Image{Layers: []imagetest.Blob{base, top}}.Push(ctx, repo)
	require.NoError(t, err)
	doc, err := scalibr.Generate(ctx, repo, desc, scalibr.Options{})
	require.NoError(t, err)
	want := map[string]string{
		"libc6":   base.Desc.Digest.String(),
		"bash":    base.Desc.Digest.String(),
		"curl":    top.Desc.Digest.String(),
		"libssl3": top.Desc.Digest.String(), // no list file: the status file's layer
	}
	for name, layer := range want {
		p := find(doc, name)
		require.NotNil(t, p, name)
		assert.Equal(t, layer, p.Layer, "layer of %s", name)
	}
}

func TestGenerateOSEcosystems(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name     string
		release  imagetest.File
		wantEco  string
		wantPURL string
	}{
		{"debian 12", imagetest.OSRelease("debian", "12", "bookworm"), "Debian:12", "distro=bookworm"},
		{"debian 11 codename only", imagetest.File{Path: "etc/os-release", Data: []byte("ID=debian\nVERSION_CODENAME=bullseye\n")}, "Debian:11", ""},
		{"ubuntu 22.04", imagetest.OSRelease("ubuntu", "22.04", "jammy"), "Ubuntu:22.04:LTS", "pkg:deb/ubuntu/"},
		{"no os-release", imagetest.Dir("etc"), "Debian", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := memRepo(t, "os")
			desc, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(
				tc.release,
				imagetest.File{Path: "var/lib/dpkg/status", Data: []byte(dpkgStatus)},
			)}}.Push(ctx, repo)
			require.NoError(t, err)
			doc, err := scalibr.Generate(ctx, repo, desc, scalibr.Options{})
			require.NoError(t, err)
			p := find(doc, "libc6")
			require.NotNil(t, p)
			assert.Equal(t, tc.wantEco, p.Ecosystem)
			assert.Contains(t, p.PURL, tc.wantPURL)
			assert.Equal(t, "glibc", p.SourceName)
		})
	}
}

func TestGenerateLinksAndConcurrency(t *testing.T) {
	ctx := context.Background()
	repo := memRepo(t, "links")
	bin := tinyGoBinary(t)
	layer := imagetest.Layer(
		imagetest.File{Path: "usr/local/bin/hello", Data: bin, Mode: 0o755},
		imagetest.File{Path: "usr/local/bin/hello-hard", Type: tar.TypeLink, Linkname: "usr/local/bin/hello"},
		imagetest.Symlink("usr/bin/hello", "/usr/local/bin/hello"),
		imagetest.File{Path: "app/node_modules/a/package.json", Data: []byte(`{"name":"a","version":"1.0.0","license":"ISC"}`)},
	)
	desc, err := imagetest.Image{Layers: []imagetest.Blob{layer}}.Push(ctx, repo)
	require.NoError(t, err)

	// The same Options (and extractor instances) serve concurrent calls.
	exs, err := scalibr.DefaultExtractors()
	require.NoError(t, err)
	opts := scalibr.Options{Extractors: exs}
	var wg sync.WaitGroup
	docs := make([]*sbom.Document, 4)
	errs := make([]error, 4)
	for i := range docs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			docs[i], errs[i] = scalibr.Generate(ctx, repo, desc, opts)
		}()
	}
	wg.Wait()
	for i := range docs {
		require.NoError(t, errs[i])
		assert.Equal(t, docs[0], docs[i])
	}
	doc := docs[0]
	var dep []string
	for _, p := range doc.Packages {
		if p.Name == "github.com/example/dep" {
			dep = append(dep, p.Locations...)
		}
	}
	// The content goes with the link target; the symlink is not followed.
	assert.Equal(t, []string{"usr/local/bin/hello"}, dep)
	assert.Equal(t, []string{"ISC"}, find(doc, "a").Licenses)
}
