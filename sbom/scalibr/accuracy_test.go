package scalibr_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/imagefs"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/sbom/scalibr"
)

func copyrightFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "copyright", name))
	require.NoError(t, err)
	return data
}

// TestGenerateDebianLicences: licences come from the copyright file of the
// package, through symbolic links between doc directories (libncursesw6 ->
// libtinfo6, libstdc++6 -> gcc-12-base), from machine-readable files and,
// classified, from free-text ones (real files of Debian 12); a file naming
// more licences than the cap keeps the first ones and says so.
func TestGenerateDebianLicences(t *testing.T) {
	ctx := context.Background()
	var many strings.Builder
	many.WriteString("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n")
	for i := range 600 {
		fmt.Fprintf(&many, "Files: f%d\nCopyright: someone\nLicense: LicenseRef-custom-%d\n\n", i, i)
	}
	layer := imagetest.Layer(
		imagetest.OSRelease("debian", "12", "bookworm"),
		imagetest.DpkgStatus(
			imagetest.Package{Name: "libc6", Version: "2.36-9+deb12u14", Source: "glibc"},
			imagetest.Package{Name: "libc-bin", Version: "2.36-9+deb12u14", Source: "glibc"},
			imagetest.Package{Name: "libstdc++6", Version: "12.2.0-14+deb12u1", Source: "gcc-12"},
			imagetest.Package{Name: "libgnutls30", Version: "3.7.9-2+deb12u6", Source: "gnutls28"},
			imagetest.Package{Name: "libkrb5-3", Version: "1.20.1-2+deb12u3", Source: "krb5"},
			imagetest.Package{Name: "libtinfo6", Version: "6.4-4", Source: "ncurses"},
			imagetest.Package{Name: "libncursesw6", Version: "6.4-4", Source: "ncurses"},
			imagetest.Package{Name: "libncurses6", Version: "6.4-4", Source: "ncurses"},
			imagetest.Package{Name: "libselinux1", Version: "3.4-1+b6", Source: "libselinux"},
			imagetest.Package{Name: "manylicences", Version: "1"},
		),
		imagetest.File{Path: "usr/share/doc/libc6/copyright", Data: copyrightFixture(t, "libc6")},
		// The same text in another doc directory (a copy, not a link): classified once, given to both.
		imagetest.File{Path: "usr/share/doc/libc-bin/copyright", Data: copyrightFixture(t, "libc6")},
		imagetest.File{Path: "usr/share/doc/gcc-12-base/copyright", Data: copyrightFixture(t, "gcc-12-base")},
		imagetest.Symlink("usr/share/doc/libstdc++6", "gcc-12-base"),
		imagetest.File{Path: "usr/share/doc/libgnutls30/copyright", Data: copyrightFixture(t, "libgnutls30")},
		imagetest.File{Path: "usr/share/doc/libkrb5-3/copyright", Data: copyrightFixture(t, "libkrb5-3")},
		imagetest.File{Path: "usr/share/doc/libtinfo6/copyright", Data: copyrightFixture(t, "libtinfo6")},
		imagetest.Symlink("usr/share/doc/libncursesw6", "libtinfo6"),
		imagetest.Symlink("usr/share/doc/libncurses6", "/usr/share/doc/libtinfo6"),
		imagetest.File{Path: "usr/share/doc/libselinux1/copyright", Data: copyrightFixture(t, "libselinux1")},
		imagetest.File{Path: "usr/share/doc/manylicences/copyright", Data: []byte(many.String())},
	)
	repo := memRepo(t, "licences")
	desc, err := imagetest.Image{Layers: []imagetest.Blob{layer}}.Push(ctx, repo)
	require.NoError(t, err)

	var warnings []scalibr.Warning
	doc, err := scalibr.Generate(ctx, repo, desc, scalibr.Options{OnWarning: func(w scalibr.Warning) { warnings = append(warnings, w) }})
	require.NoError(t, err)

	ncurses := []string{"MIT/X11", "X11", "BSD-3-Clause"}
	want := map[string][]string{
		"libc6":        {"MIT", "Spencer-86", "LGPL-2.1-or-later", "BSD-3-Clause", "GPL-2.0-or-later", "ISC"},
		"libc-bin":     {"MIT", "Spencer-86", "LGPL-2.1-or-later", "BSD-3-Clause", "GPL-2.0-or-later", "ISC"},
		"libstdc++6":   {"MIT", "LGPL-2.1-or-later", "BSD-4-Clause-UC", "Spencer-86", "X11-Lucent", "Zlib", "GPL-3.0-or-later WITH GCC-exception-3.1", "BSD-3-Clause", "BSD-2-Clause", "Unicode-DFS-2015"},
		"libgnutls30":  {"MIT", "LGPL-2.1-or-later", "GPL-3.0-or-later", "BSD-2-Clause", "BSD-3-Clause", "ISC", "Apache-2.0", "CC0-1.0"},
		"libkrb5-3":    {"BSD-2-Clause", "MIT", "BSD-4-Clause-UC", "BSD-3-Clause", "ISC", "OpenLDAP"},
		"libtinfo6":    ncurses,
		"libncursesw6": ncurses,
		"libncurses6":  ncurses,
	}
	for name, lics := range want {
		p := find(doc, name)
		require.NotNil(t, p, name)
		assert.Equal(t, lics, p.Licenses, name)
	}
	assert.Empty(t, find(doc, "libselinux1").Licenses, "a free-text file naming no known licence text gives none")
	many512 := find(doc, "manylicences").Licenses
	require.Len(t, many512, 512, "distinct licences up to the cap are kept")
	assert.Equal(t, "LicenseRef-custom-0", many512[0])
	require.Len(t, warnings, 1, "the licences past the cap are reported")
	assert.Equal(t, "usr/share/doc/manylicences/copyright", warnings[0].Path)
	assert.Contains(t, warnings[0].Err.Error(), "88 more licences")
	assert.Empty(t, doc.Skipped, "licences past the cap do not make the package list incomplete")

	// Without the classifier, free-text files give nothing.
	doc, err = scalibr.Generate(ctx, repo, desc, scalibr.Options{NoLicenseClassifier: true})
	require.NoError(t, err)
	assert.Empty(t, find(doc, "libc6").Licenses)
	assert.Equal(t, ncurses, find(doc, "libncursesw6").Licenses)
}

// TestPythonLicencePrecedence: License-Expression, then trove classifiers,
// then the free-text License field (mapped when it is a common spelling),
// in the METADATA shapes setuptools and hatchling write.
func TestPythonLicencePrecedence(t *testing.T) {
	ctx := context.Background()
	meta := map[string]string{
		// requests 2.31.0 (setuptools): free text and a classifier.
		"requests": "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\nClassifier: License :: OSI Approved :: Apache Software License\n\n",
		// hatchling with PEP 639 (metadata 2.4): License-Expression wins.
		"attrs": "Metadata-Version: 2.4\nName: attrs\nVersion: 25.1.0\nLicense-Expression: MIT\nLicense-File: LICENSE\nClassifier: License :: OSI Approved :: BSD License\n\n",
		// The whole licence text in License (setuptools copies it): the
		// classifier names it.
		"six": "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nLicense: Copyright (c) 2010-2020 Benjamin Peterson Permission is hereby granted, free of charge, to any person obtaining a copy of this software and associated documentation files (the Software), to deal in the Software without restriction\nClassifier: License :: OSI Approved :: MIT License\n\n",
		// Only an ambiguous classifier: the License field is used.
		"idna": "Metadata-Version: 2.1\nName: idna\nVersion: 3.7\nLicense: BSD-3-Clause\nClassifier: License :: OSI Approved :: BSD License\n\n",
		// Only free text, a common spelling.
		"certifi": "Metadata-Version: 2.1\nName: certifi\nVersion: 2024.2.2\nLicense: MPL 2.0\n\n",
		// Free text that is no known licence is kept as written.
		"custom": "Metadata-Version: 2.1\nName: custom\nVersion: 1.0\nLicense: Proprietary, see LICENSE\n\n",
	}
	var files []imagetest.File
	for name, m := range meta {
		files = append(files, imagetest.File{Path: "usr/lib/python3/dist-packages/" + name + "-1.0.dist-info/METADATA", Data: []byte(m)})
	}
	repo := memRepo(t, "python-licences")
	desc, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(files...)}}.Push(ctx, repo)
	require.NoError(t, err)
	doc, err := scalibr.Generate(ctx, repo, desc, scalibr.Options{})
	require.NoError(t, err)
	for name, want := range map[string][]string{
		"requests": {"Apache-2.0"},
		"attrs":    {"MIT"},
		"six":      {"MIT"},
		"idna":     {"BSD-3-Clause"},
		"certifi":  {"MPL-2.0"},
		"custom":   {"Proprietary, see LICENSE"},
	} {
		p := find(doc, name)
		require.NotNil(t, p, name)
		assert.Equal(t, want, p.Licenses, name)
	}
}

// goToolchainBinary returns the largest Go binary of the local toolchain
// (cmd/compile, ~25 MB, with build info), or skips.
func goToolchainBinary(t *testing.T) (string, []byte) {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Skipf("go env GOROOT: %v", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH, "compile")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Skipf("no toolchain binary: %v", err)
	}
	return p, data
}

// TestGenerateLargeBinaryBoundedMemory: a Go binary far larger than
// SpillSize is read from a private temporary file, not from memory: its
// packages are all found, Generate allocates much less than the binary's
// size, and nothing is left on disk.
func TestGenerateLargeBinaryBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 25 MB layer")
	}
	ctx := context.Background()
	_, bin := goToolchainBinary(t)
	repo := memRepo(t, "large-binary")
	desc, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.LayerWith(imagetest.Uncompressed,
		imagetest.File{Path: "usr/local/go/pkg/tool/linux_amd64/compile", Data: bin, Mode: 0o755},
	)}}.Push(ctx, repo)
	require.NoError(t, err)

	tmp := t.TempDir()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	doc, err := scalibr.Generate(ctx, repo, desc, scalibr.Options{TempDir: tmp})
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	std := find(doc, "stdlib")
	require.NotNil(t, std, "build info read from the spilled copy")
	assert.Equal(t, []string{"usr/local/go/pkg/tool/linux_amd64/compile"}, std.Locations)
	assert.Empty(t, doc.Skipped)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("binary %d bytes, Generate allocated %d bytes", len(bin), allocated)
	assert.Less(t, allocated, uint64(len(bin)/2), "the binary is not read into memory")
	assertEmptyDir(t, tmp)

	// The same with everything in memory (SpillSize above the binary): the
	// packages are the same.
	doc2, err := scalibr.Generate(ctx, repo, desc, scalibr.Options{TempDir: tmp, SpillSize: int64(len(bin)) + 1})
	require.NoError(t, err)
	assert.Equal(t, doc.Packages, doc2.Packages)
}

// TestGenerateSkippedExecutableIsRecorded: an executable over MaxFileSize is
// not silently dropped: Document.Skipped names it (and survives SPDX and
// CycloneDX), and the other packages are still listed.
func TestGenerateSkippedExecutableIsRecorded(t *testing.T) {
	ctx := context.Background()
	bin := tinyGoBinary(t)
	repo := memRepo(t, "skipped")
	desc, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(
		imagetest.File{Path: "usr/local/bin/big", Data: bin, Mode: 0o755},
		imagetest.File{Path: "node_modules/x/package.json", Data: []byte(`{"name":"x","version":"1.0.0"}`)},
	)}}.Push(ctx, repo)
	require.NoError(t, err)

	var warned []string
	doc, err := scalibr.Generate(ctx, repo, desc, scalibr.Options{MaxFileSize: int64(len(bin)) - 1,
		OnWarning: func(w scalibr.Warning) { warned = append(warned, w.Path) }})
	require.NoError(t, err)
	assert.Nil(t, find(doc, "stdlib"), "the binary was not examined")
	assert.NotNil(t, find(doc, "x"))
	require.Len(t, doc.Skipped, 1)
	assert.Equal(t, "usr/local/bin/big", doc.Skipped[0].Path)
	assert.NotEmpty(t, doc.Skipped[0].Layer)
	assert.Contains(t, doc.Skipped[0].Reason, "exceeds")
	assert.Equal(t, []string{"usr/local/bin/big"}, warned)

	for _, enc := range []struct {
		name string
		fn   func() ([]byte, error)
		mt   string
	}{
		{"spdx", func() ([]byte, error) { return sbom.EncodeSPDX(doc, sbom.SPDXOptions{}) }, sbom.MediaTypeSPDX},
		{"cyclonedx", func() ([]byte, error) { return sbom.EncodeCycloneDX(doc, sbom.CycloneDXOptions{}) }, sbom.MediaTypeCycloneDX},
	} {
		data, err := enc.fn()
		require.NoError(t, err, enc.name)
		back, err := sbom.Decode(data, enc.mt)
		require.NoError(t, err, enc.name)
		assert.Equal(t, doc.Skipped, back.Skipped, enc.name)
	}
}

// readAll is a visitor that wants and reads every regular file, as a
// malware scanner does.
type readAll struct{ bytes int64 }

func (r *readAll) Wants(f *imagefs.File) bool { return f.Mode.IsRegular() }
func (r *readAll) Visit(_ context.Context, _ *imagefs.File, body io.Reader) error {
	n, err := io.Copy(io.Discard, body)
	r.bytes += n
	return err
}

// TestSessionInSharedWalk: a Session fed by a walk shared with a visitor
// that reads every file gives the same document as Generate, including for
// a large binary shared through a temporary copy.
func TestSessionInSharedWalk(t *testing.T) {
	ctx := context.Background()
	repo := memRepo(t, "shared-walk")
	desc, err := imagetest.Image{Layers: debianImage(t)}.Push(ctx, repo)
	require.NoError(t, err)
	want, err := scalibr.Generate(ctx, repo, desc, scalibr.Options{})
	require.NoError(t, err)

	tmp := t.TempDir()
	s, err := scalibr.Start(desc, scalibr.Options{TempDir: tmp})
	require.NoError(t, err)
	other := &readAll{}
	errs, walkErr := imagefs.WalkAll(ctx, repo, desc, imagefs.WalkOptions{}, imagefs.ShareOptions{MaxSharedMemory: 64 << 10, TempDir: tmp}, s, other)
	require.NoError(t, walkErr)
	require.Equal(t, []error{nil, nil}, errs)
	got, err := s.Finish(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Positive(t, other.bytes)
	assertEmptyDir(t, tmp)

	// A failed walk gives no document, and releases everything.
	s, err = scalibr.Start(desc, scalibr.Options{TempDir: tmp})
	require.NoError(t, err)
	_, err = s.Finish(ctx, errors.New("layer corrupt"))
	assert.ErrorContains(t, err, "layer corrupt")
	_, err = s.Finish(ctx, nil)
	assert.Error(t, err, "Finish twice")
}

// TestFreeTextCopyrightCountsAgainstMaxBuffered: the free-text copyright
// files kept for the classifier until the walk ends count against
// MaxBufferedBytes (each distinct text once), so a crafted image cannot make
// the generator hold unbounded text.
func TestFreeTextCopyrightCountsAgainstMaxBuffered(t *testing.T) {
	ctx := context.Background()
	// A text this process has not classified yet (licences are cached by
	// content digest across calls).
	libc := fmt.Appendf(copyrightFixture(t, "libc6"), "\n%d\n", time.Now().UnixNano())
	repo := memRepo(t, "freetext-budget")
	desc, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(
		imagetest.File{Path: "usr/share/doc/libc6/copyright", Data: libc},
		imagetest.File{Path: "usr/share/doc/libc-bin/copyright", Data: libc},
	)}}.Push(ctx, repo)
	require.NoError(t, err)

	_, err = scalibr.Generate(ctx, repo, desc, scalibr.Options{MaxBufferedBytes: int64(len(libc)) - 1})
	assert.ErrorIs(t, err, scalibr.ErrTooLarge, "one text over the budget")
	_, err = scalibr.Generate(ctx, repo, desc, scalibr.Options{MaxBufferedBytes: int64(len(libc))})
	assert.NoError(t, err, "the same text twice is kept once")
}
