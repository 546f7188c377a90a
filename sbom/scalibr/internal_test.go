package scalibr

import (
	"context"
	"io"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cssc-go/cssc/imagefs"
	"github.com/google/licenseclassifier/v2/assets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemFS(t *testing.T) {
	m := newMemFS()
	m.addFile("usr/lib/os-release", []byte("ID=debian\n"), 0o644)
	m.addLink("etc/os-release", "../usr/lib/os-release")
	m.addLink("lib", "usr/lib")
	m.addLink("abs", "/usr/lib/os-release")
	m.addLink("escape", "../../../../usr/lib/os-release")
	m.addLink("loop1", "loop2")
	m.addLink("loop2", "loop1")
	m.addDir("etc")

	for _, p := range []string{"usr/lib/os-release", "etc/os-release", "lib/os-release", "abs", "escape"} {
		f, err := m.Open(p)
		require.NoError(t, err, p)
		b, err := io.ReadAll(f)
		require.NoError(t, err)
		assert.Equal(t, "ID=debian\n", string(b), p)
		require.NoError(t, f.Close())
	}
	_, err := m.Open("loop1")
	assert.Error(t, err)
	_, err = m.Open("/etc/os-release")
	assert.ErrorIs(t, err, fs.ErrInvalid)
	_, err = m.Stat("nope")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	fi, err := m.Stat("etc")
	require.NoError(t, err)
	assert.True(t, fi.IsDir())

	// The standard fs conformance checks (on a link-free tree).
	plain := newMemFS()
	plain.addFile("a/b/c.txt", []byte("c"), 0o644)
	plain.addFile("a/d.txt", []byte("dd"), 0o644)
	require.NoError(t, fstest.TestFS(plain, "a/b/c.txt", "a/d.txt"))
}

func TestParseOSRelease(t *testing.T) {
	o := parseOSRelease([]byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"))
	assert.Equal(t, osInfo{id: "debian", versionID: "12", codename: "bookworm"}, o)
	o = parseOSRelease([]byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\n"))
	assert.Equal(t, osInfo{id: "alpine", versionID: "3.20.3"}, o)
	assert.Equal(t, osInfo{}, parseOSRelease(nil))
}

func TestExecutableMagic(t *testing.T) {
	assert.True(t, executableMagic([]byte("\x7fELF")))
	assert.True(t, executableMagic([]byte("MZ\x90\x00")))
	assert.True(t, executableMagic([]byte{0xcf, 0xfa, 0xed, 0xfe}))
	assert.False(t, executableMagic([]byte("#!/b")))
	assert.False(t, executableMagic([]byte("\x7fE")))
}

func FuzzMemFS(f *testing.F) {
	f.Add("etc/os-release", "../usr/lib/os-release", "etc/os-release")
	f.Add("a", "/a", "a/b")
	f.Add("a/b", "../../..", "a/b/c")
	f.Fuzz(func(t *testing.T, link, target, open string) {
		if !fs.ValidPath(link) || link == "." {
			return
		}
		m := newMemFS()
		m.addFile("usr/lib/os-release", []byte("x"), 0o644)
		m.addLink(link, target)
		if f, err := m.Open(open); err == nil {
			_, _ = io.ReadAll(io.LimitReader(f, 10))
			_ = f.Close()
		}
		_, _ = m.Stat(open)
		_, _ = m.ReadDir(open)
	})
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add([]byte("ID=debian\nVERSION_ID=\"12\"\n"))
	f.Add([]byte("ID\n=\n\"\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = parseOSRelease(data)
	})
}

// FuzzPackageDatabases feeds arbitrary dpkg status, status.d and apk
// installed databases (with an arbitrary os-release) through the generator:
// never a panic, always a document.
func FuzzPackageDatabases(f *testing.F) {
	f.Add([]byte("Package: libc6\nStatus: install ok installed\nSource: glibc (2.36-9)\nVersion: 2.36-9+deb12u7\nArchitecture: amd64\n\n"),
		[]byte("P:musl\nV:1.2.5-r0\no:musl\nL:MIT\nA:x86_64\n\n"), []byte("ID=debian\nVERSION_ID=12\n"))
	f.Add([]byte("Package:\nVersion:\n\n\n"), []byte("P:\nV:\n"), []byte(""))
	f.Add([]byte("Status: install ok installed\n continuation\n"), []byte(":\n"), []byte("ID=alpine\nVERSION_ID=3.20.3"))
	f.Fuzz(func(t *testing.T, dpkgDB, apkDB, osRelease []byte) {
		g, err := newGenerator(Options{})
		require.NoError(t, err)
		ctx := context.Background()
		files := []struct {
			path string
			data []byte
		}{
			{"etc/os-release", osRelease},
			{"var/lib/dpkg/status", dpkgDB},
			{"var/lib/dpkg/status.d/pkg", dpkgDB},
			{"lib/apk/db/installed", apkDB},
			{"node_modules/x/package.json", dpkgDB},
		}
		for _, fl := range files {
			f := &imagefs.File{Path: fl.path, Mode: 0o644, Size: int64(len(fl.data)), LayerDigest: "sha256:00"}
			require.NoError(t, g.visit(ctx, f, strings.NewReader(string(fl.data)), g.required(f)))
		}
		doc, err := g.finish(ctx, "fuzz")
		require.NoError(t, err)
		require.NotNil(t, doc)
	})
}

func TestLicenseParsers(t *testing.T) {
	assert.Equal(t, []string{"MIT"}, npmLicenses([]byte(`{"license":"MIT"}`)))
	assert.Equal(t, []string{"(MIT OR Apache-2.0)"}, npmLicenses([]byte(`{"license":"(MIT OR Apache-2.0)"}`)))
	assert.Equal(t, []string{"BSD"}, npmLicenses([]byte(`{"license":{"type":"BSD","url":"x"}}`)))
	assert.Equal(t, []string{"MIT", "Apache-2.0"}, npmLicenses([]byte(`{"licenses":[{"type":"MIT"},{"type":"Apache-2.0"}]}`)))
	assert.Nil(t, npmLicenses([]byte(`{"license":`)))

	assert.Equal(t, []string{"MIT OR Apache-2.0"}, pythonLicenses([]byte("Metadata-Version: 2.4\nName: x\nLicense-Expression: MIT OR Apache-2.0\nLicense: ignored\n")))
	assert.Equal(t, []string{"MIT"}, pythonLicenses([]byte("Name: x\nLicense: UNKNOWN\nClassifier: License :: OSI Approved :: BSD License\nClassifier: License :: OSI Approved :: MIT License\nClassifier: License :: OSI Approved :: MIT License\n\nLicense: in the body\n")))
	assert.Nil(t, pythonLicenses([]byte("\nLicense: MIT\n")), "body is not headers")

	assert.Equal(t, "GPL-2.0-or-later OR Artistic-1.0-Perl", debianToSPDX("GPL-2+ or Artistic"))
	assert.Equal(t, "LGPL-2.1-or-later AND BSD-3-Clause", debianToSPDX("LGPL-2.1+ and BSD-3-clause"))
	assert.Equal(t, "public-domain", debianToSPDX("public-domain"))
	assert.False(t, isDEP5([]byte("Not machine readable\nLicense: MIT\n")))
	assert.True(t, isDEP5([]byte("\nFormat: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n")))
	assert.True(t, isDEP5([]byte("Format-Specification: http://svn.debian.org/wsvn/dep/web/deps/dep5.mdwn?op=file&rev=135\n")))

	name, ok := copyrightPackage("usr/share/doc/libc6/copyright")
	assert.True(t, ok)
	assert.Equal(t, "libc6", name)
	_, ok = copyrightPackage("usr/share/doc/libc6/x/copyright")
	assert.False(t, ok)
	name, ok = dpkgInfoPackage("var/lib/dpkg/info/libc6:amd64.list")
	assert.True(t, ok)
	assert.Equal(t, "libc6", name)
	_, ok = dpkgInfoPackage("var/lib/dpkg/info/libc6.md5sums")
	assert.False(t, ok)
}

func FuzzLicenseParsers(f *testing.F) {
	f.Add([]byte(`{"license":"MIT","licenses":[{"type":"ISC"}]}`))
	f.Add([]byte("Format: x\nLicense: GPL-2+ or Artistic, and BSD-3-clause\n"))
	f.Add([]byte("Name: x\nLicense-Expression: MIT\nClassifier: License :: OSI Approved :: MIT License\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = npmLicenses(data)
		_ = pythonLicenses(data)
		lics, _ := debianLicenses(data)
		assert.LessOrEqual(t, len(lics), maxLicenses)
	})
}

// TestClassifierCorpus: every asset the classifier loads exists in the
// licenseclassifier module (an upgrade that renames one fails here), and
// the corpus classifies a notice.
func TestClassifierCorpus(t *testing.T) {
	for _, p := range classifierCorpus {
		_, err := assets.ReadLicenseFile(p)
		assert.NoError(t, err, p)
	}
	c, err := newClassifier()
	require.NoError(t, err)
	lics := classifyLicenses(c, []byte("This program is free software; you can redistribute it and/or modify\nit under the terms of the GNU General Public License as published by\nthe Free Software Foundation; either version 2 of the License, or\n(at your option) any later version.\n\nThis program is distributed in the hope that it will be useful,\nbut WITHOUT ANY WARRANTY; without even the implied warranty of\nMERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the\nGNU General Public License for more details.\n\nYou should have received a copy of the GNU General Public License along\nwith this program; if not, write to the Free Software Foundation, Inc.,\n51 Franklin Street, Fifth Floor, Boston, MA 02110-1301 USA.\n"))
	assert.Equal(t, []string{"GPL-2.0-or-later"}, lics)
}
