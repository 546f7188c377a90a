package scalibr_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/os/rpm"
	scalibrfs "github.com/google/osv-scalibr/fs"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"oras.land/oras-go/v2/content"

	cpb "github.com/google/osv-scalibr/binary/proto/config_go_proto"

	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/sbom/scalibr"
)

// rpmDB returns a database from testdata/rpm (osv-scalibr's test data; see
// the README there), decompressed.
func rpmDB(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "rpm", name))
	if err == nil {
		return data
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "rpm", name+".gz"))
	require.NoError(t, err)
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	require.NoError(t, err)
	data, err = io.ReadAll(zr)
	require.NoError(t, err)
	return data
}

const (
	rockyOSRelease = `NAME="Rocky Linux"
VERSION="9.2 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.2"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.2 (Blue Onyx)"
CPE_NAME="cpe:/o:rocky:rocky:9::baseos"
`
	leapOSRelease = `NAME="openSUSE Leap"
VERSION="15.5"
ID="opensuse-leap"
ID_LIKE="suse opensuse"
VERSION_ID="15.5"
PRETTY_NAME="openSUSE Leap 15.5"
CPE_NAME="cpe:/o:opensuse:leap:15.5"
`
	fedoraOSRelease = `NAME=Fedora
VERSION="32 (Container Image)"
ID=fedora
VERSION_ID=32
PRETTY_NAME="Fedora 32 (Container Image)"
`
)

// nvp is what must agree between Generate and osv-scalibr's extractor.
type nvp struct{ name, version, purl string }

// scalibrRPM runs osv-scalibr's rpm extractor the way its own tests do (on
// a directory), giving the reference package list.
func scalibrRPM(t *testing.T, dbPath string, db []byte, osRelease string) []nvp {
	t.Helper()
	dir := t.TempDir()
	for p, c := range map[string][]byte{dbPath: db, "etc/os-release": []byte(osRelease)} {
		full := filepath.Join(dir, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, c, 0o644))
	}
	e, err := rpm.New(&cpb.PluginConfig{})
	require.NoError(t, err)
	info, err := os.Stat(filepath.Join(dir, filepath.FromSlash(dbPath)))
	require.NoError(t, err)
	inv, err := e.Extract(t.Context(), &filesystem.ScanInput{FS: scalibrfs.DirFS(dir), Path: dbPath, Root: dir, Info: info})
	require.NoError(t, err)
	var out []nvp
	for _, p := range inv.Packages {
		out = append(out, nvp{p.Name, p.Version, sbom.NormalizePURL(p.PURL().String())})
	}
	sortNVP(out)
	return out
}

func sortNVP(s []nvp) {
	sort.Slice(s, func(i, j int) bool {
		return s[i].name+"\x00"+s[i].version+"\x00"+s[i].purl < s[j].name+"\x00"+s[j].version+"\x00"+s[j].purl
	})
}

func rpmPackages(doc *sbom.Document) []sbom.Package {
	var out []sbom.Package
	for _, p := range doc.Packages {
		if strings.HasPrefix(p.PURL, "pkg:rpm/") {
			out = append(out, p)
		}
	}
	return out
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, ents, "temporary files left in %s", dir)
}

func TestGenerateRPMImages(t *testing.T) {
	type want struct {
		name, version, purl, eco, source, sourceVersion, license string
	}
	cases := []struct {
		name      string
		dbPath    string
		db        string
		osRelease string
		extra     []imagetest.File // in the base layer
		count     int
		want      []want
	}{
		{
			name:      "sqlite rocky 9.2",
			dbPath:    "usr/lib/sysimage/rpm/rpmdb.sqlite",
			db:        "rpmdb.sqlite",
			osRelease: rockyOSRelease,
			// As on current Fedora and EL: var/lib/rpm is a link to the
			// sysimage directory, and the database is found once.
			extra: []imagetest.File{imagetest.Dir("var/lib"), imagetest.Symlink("var/lib/rpm", "../../usr/lib/sysimage/rpm")},
			count: 141,
			want: []want{
				{"alternatives", "1.20-2.el9", "pkg:rpm/rocky/alternatives@1.20-2.el9?arch=x86_64&distro=rocky-9.2&sourcerpm=chkconfig-1.20-2.el9.src.rpm", "Rocky Linux:9", "chkconfig", "", "GPLv2"},
				{"audit-libs", "3.0.7-103.el9", "pkg:rpm/rocky/audit-libs@3.0.7-103.el9?arch=x86_64&distro=rocky-9.2&sourcerpm=audit-3.0.7-103.el9.src.rpm", "Rocky Linux:9", "audit", "", "LGPLv2+"},
				{"basesystem", "11-13.el9", "pkg:rpm/rocky/basesystem@11-13.el9?arch=noarch&distro=rocky-9.2&sourcerpm=basesystem-11-13.el9.src.rpm", "Rocky Linux:9", "", "", "Public Domain"},
			},
		},
		{
			name:      "ndb opensuse leap 15.5",
			dbPath:    "var/lib/rpm/Packages.db",
			db:        "Packages.db",
			osRelease: leapOSRelease,
			count:     137,
			want: []want{
				{"aaa_base", "84.87+git20180409.04c9dae-150300.10.3.1", "", "openSUSE:Leap 15.5", "", "", "GPL-2.0+"},
				{"bash", "4.4-150400.25.22", "", "openSUSE:Leap 15.5", "", "", "GPL-3.0-or-later"},
				{"bash-sh", "4.4-150400.25.22", "", "openSUSE:Leap 15.5", "bash", "", "GPL-3.0-or-later"},
			},
		},
		{
			name:      "bdb with epoch",
			dbPath:    "var/lib/rpm/Packages",
			db:        "Packages_epoch",
			osRelease: fedoraOSRelease,
			count:     1,
			want: []want{
				{"hello", "0.0.1-rls", "pkg:rpm/fedora/hello@0.0.1-rls?arch=x86_64&distro=fedora-32&epoch=1&sourcerpm=hello-0.0.1-rls.src.rpm", "", "", "", "GPL"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			repo := memRepo(t, "rpm-"+strings.ReplaceAll(tc.name, " ", "-"))
			db := rpmDB(t, tc.db)
			base := imagetest.Layer(append([]imagetest.File{
				{Path: "usr/lib/os-release", Data: []byte(tc.osRelease)},
				imagetest.Symlink("etc/os-release", "../usr/lib/os-release"),
				{Path: tc.dbPath, Data: db},
			}, tc.extra...)...)
			app := imagetest.Layer(
				imagetest.File{Path: "usr/lib/node_modules/app/node_modules/left-pad/package.json", Data: []byte(`{"name":"left-pad","version":"1.3.0","license":"WTFPL"}`)},
			)
			desc, err := imagetest.Image{Layers: []imagetest.Blob{base, app}}.Push(ctx, repo)
			require.NoError(t, err)

			tmp := t.TempDir()
			var warnings []scalibr.Warning
			doc, err := scalibr.Generate(ctx, repo, desc, scalibr.Options{
				TempDir:   tmp,
				OnWarning: func(w scalibr.Warning) { warnings = append(warnings, w) },
			})
			require.NoError(t, err)
			assert.Empty(t, warnings)
			assertEmptyDir(t, tmp)

			pkgs := rpmPackages(doc)
			require.Len(t, pkgs, tc.count)
			require.NotNil(t, find(doc, "left-pad"), "other packages are still found")

			// Same packages, versions and purls as osv-scalibr's extractor
			// reports for this database.
			var got []nvp
			for _, p := range pkgs {
				got = append(got, nvp{p.Name, p.Version, p.PURL})
				assert.Equal(t, base.Desc.Digest.String(), p.Layer, p.Name)
				assert.Equal(t, []string{tc.dbPath}, p.Locations, p.Name)
			}
			sortNVP(got)
			assert.Equal(t, scalibrRPM(t, tc.dbPath, db, tc.osRelease), got)

			for _, w := range tc.want {
				p := find(doc, w.name)
				require.NotNil(t, p, w.name)
				assert.Equal(t, w.version, p.Version, w.name)
				if w.purl != "" {
					assert.Equal(t, w.purl, p.PURL, w.name)
				}
				assert.Equal(t, w.eco, p.Ecosystem, w.name)
				assert.Equal(t, w.source, p.SourceName, w.name)
				assert.Equal(t, w.sourceVersion, p.SourceVersion, w.name)
				assert.Equal(t, []string{w.license}, p.Licenses, w.name)
			}
		})
	}
}

// TestGenerateRPMCorrupt: a damaged rpm database is a warning naming the
// file and the extractor; the other packages are still listed and no
// temporary file is left.
func TestGenerateRPMCorrupt(t *testing.T) {
	sqlite := rpmDB(t, "rpmdb.sqlite")
	ndb := rpmDB(t, "Packages.db")
	bdb := rpmDB(t, "Packages_epoch")
	cases := []struct {
		name, path string
		data       []byte
	}{
		{"junk", "var/lib/rpm/rpmdb.sqlite", []byte("junk!")},
		{"empty", "var/lib/rpm/rpmdb.sqlite", nil},
		{"sqlite header only", "var/lib/rpm/rpmdb.sqlite", append([]byte("SQLite format 3\x00"), make([]byte, 200)...)},
		{"truncated sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite", sqlite[:64<<10]},
		{"truncated ndb", "var/lib/rpm/Packages.db", ndb[:64<<10]},
		{"truncated bdb", "var/lib/rpm/Packages", bdb[:4096]},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			repo := memRepo(t, "rpm-corrupt")
			layer := imagetest.Layer(
				imagetest.OSRelease("rocky", "9.2", ""),
				imagetest.File{Path: tc.path, Data: tc.data},
				imagetest.APKInstalled(imagetest.Package{Name: "musl", Version: "1.2.5-r0"}),
				imagetest.File{Path: "usr/lib/node_modules/left-pad/package.json", Data: []byte(`{"name":"left-pad","version":"1.3.0"}`)},
			)
			desc, err := imagetest.Image{Layers: []imagetest.Blob{layer}}.Push(ctx, repo)
			require.NoError(t, err)
			tmp := t.TempDir()
			var warnings []scalibr.Warning
			doc, err := scalibr.Generate(ctx, repo, desc, scalibr.Options{
				TempDir:   tmp,
				OnWarning: func(w scalibr.Warning) { warnings = append(warnings, w) },
			})
			require.NoError(t, err)
			assertEmptyDir(t, tmp)
			require.Len(t, warnings, 1, "%v", warnings)
			assert.Equal(t, tc.path, warnings[0].Path)
			assert.Equal(t, rpm.Name, warnings[0].Extractor)
			assert.Equal(t, layer.Desc.Digest.String(), warnings[0].Layer)
			assert.Error(t, warnings[0].Err)
			assert.Empty(t, rpmPackages(doc))
			assert.NotNil(t, find(doc, "musl"))
			assert.NotNil(t, find(doc, "left-pad"))
		})
	}
}

// TestGenerateRPMLimits: an rpm database over MaxFileSize is skipped with a
// warning and never copied; an unusable TempDir fails Generate.
func TestGenerateRPMLimits(t *testing.T) {
	ctx := context.Background()
	repo := memRepo(t, "rpm-limits")
	layer := imagetest.Layer(
		imagetest.OSRelease("fedora", "32", ""),
		imagetest.File{Path: "var/lib/rpm/Packages", Data: rpmDB(t, "Packages_epoch")},
	)
	desc, err := imagetest.Image{Layers: []imagetest.Blob{layer}}.Push(ctx, repo)
	require.NoError(t, err)

	tmp := t.TempDir()
	var warnings []scalibr.Warning
	doc, err := scalibr.Generate(ctx, repo, desc, scalibr.Options{
		TempDir:     tmp,
		MaxFileSize: 4096,
		OnWarning:   func(w scalibr.Warning) { warnings = append(warnings, w) },
	})
	require.NoError(t, err)
	assert.Empty(t, doc.Packages)
	require.Len(t, warnings, 1)
	assert.Equal(t, "var/lib/rpm/Packages", warnings[0].Path)
	assert.Contains(t, warnings[0].Err.Error(), "limit")
	assertEmptyDir(t, tmp)

	notDir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notDir, nil, 0o600))
	_, err = scalibr.Generate(ctx, repo, desc, scalibr.Options{TempDir: notDir})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "temporary directory")

	// The default TempDir (os.TempDir) works and is cleaned up.
	t.Setenv("TMPDIR", t.TempDir())
	doc, err = scalibr.Generate(ctx, repo, desc, scalibr.Options{})
	require.NoError(t, err)
	require.Len(t, doc.Packages, 1)
	assert.Equal(t, "hello", doc.Packages[0].Name)
	assertEmptyDir(t, os.TempDir())
}

// failingFetcher fails to fetch one blob.
type failingFetcher struct {
	content.Fetcher
	fail digest.Digest
}

func (f failingFetcher) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	if desc.Digest == f.fail {
		return nil, errors.New("blob unavailable")
	}
	return f.Fetcher.Fetch(ctx, desc)
}

// TestGenerateRPMCleanupOnError: the copy of an rpm database read from the
// top layer is removed when a lower layer cannot be read.
func TestGenerateRPMCleanupOnError(t *testing.T) {
	ctx := context.Background()
	repo := memRepo(t, "rpm-cleanup")
	base := imagetest.Layer(imagetest.OSRelease("fedora", "32", ""))
	top := imagetest.Layer(imagetest.File{Path: "var/lib/rpm/Packages", Data: rpmDB(t, "Packages_epoch")})
	desc, err := imagetest.Image{Layers: []imagetest.Blob{base, top}}.Push(ctx, repo)
	require.NoError(t, err)
	tmp := t.TempDir()
	_, err = scalibr.Generate(ctx, failingFetcher{repo, base.Desc.Digest}, desc, scalibr.Options{TempDir: tmp})
	require.Error(t, err)
	assertEmptyDir(t, tmp)
}
