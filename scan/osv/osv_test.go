package osv_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"oras.land/oras-go/v2/content/memory"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/osv"
)

var fixedTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func loadTestDB(t testing.TB, opts osv.Options) *osv.DB {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return fixedTime }
	}
	db, err := osv.Load(context.Background(), "testdata/db", opts)
	require.NoError(t, err)
	return db
}

// got is the part of a finding the table checks.
type got struct {
	ID, Fixed string
	Severity  scan.Severity
}

func summarize(r *scan.Report) []got {
	out := []got{}
	for _, f := range r.Findings {
		out = append(out, got{f.ID, f.FixedVersion, f.Severity})
	}
	return out
}

func TestMatch(t *testing.T) {
	db := loadTestDB(t, osv.Options{})
	crit, high, med, low, unk := scan.SeverityCritical, scan.SeverityHigh, scan.SeverityMedium, scan.SeverityLow, scan.SeverityUnknown
	tests := []struct {
		name string
		pkg  sbom.Package
		want []got
	}{
		{"debian binary package matched by source name",
			sbom.Package{Name: "libssl3", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12", SourceName: "openssl"},
			[]got{{"DSA-5764-1", "3.0.14-1~deb12u2", unk}}},
		{"debian fixed version is not affected",
			sbom.Package{Name: "libssl3", Version: "3.0.14-1~deb12u2", Ecosystem: "Debian:12", SourceName: "openssl"},
			[]got{}},
		{"debian tilde sorts before the release",
			sbom.Package{Name: "openssl", Version: "3.0.14-1~deb12u1", Ecosystem: "Debian:12"},
			[]got{{"DSA-5764-1", "3.0.14-1~deb12u2", unk}}},
		{"debian release is part of the ecosystem",
			sbom.Package{Name: "openssl", Version: "1.1.1w-0+deb11u1", Ecosystem: "Debian:11"},
			[]got{{"DLA-3942-1", "1.1.1w-0+deb11u2", unk}}},
		{"debian binary name alone does not match a source record",
			sbom.Package{Name: "libssl3", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12"},
			[]got{}},
		{"debian source version is compared, not the binNMU binary version",
			sbom.Package{Name: "libc6", Version: "2.36-9+deb12u7+b1", SourceName: "glibc", SourceVersion: "2.36-9+deb12u4", Ecosystem: "Debian:12"},
			[]got{{"DEBIAN-CVE-2024-2961", "2.36-9+deb12u6", high}}},
		{"debian epoch: 5:7.0.11 is older than 5:7.0.15",
			sbom.Package{Name: "redis-server", Version: "5:7.0.11-1+deb12u1", SourceName: "redis", Ecosystem: "Debian:12"},
			[]got{{"DSA-5610-1", "5:7.0.15-1~deb12u1", unk}}},
		{"debian epoch: no epoch is epoch 0, older than any 5:",
			sbom.Package{Name: "redis-server", Version: "7.2.0-1", SourceName: "redis", Ecosystem: "Debian:12"},
			[]got{{"DSA-5610-1", "5:7.0.15-1~deb12u1", unk}}},
		{"debian unfixed goes in the unfixed bucket",
			sbom.Package{Name: "util-linux", Version: "2.38.1-5+deb12u1", Ecosystem: "Debian:12"},
			[]got{{"DEBIAN-CVE-2022-0563", "", unk}}},
		{"debian urgency unimportant is low",
			sbom.Package{Name: "libgcc-s1", Version: "12.2.0-14", SourceName: "gcc-12", Ecosystem: "Debian:12"},
			[]got{{"DEBIAN-CVE-2023-4039", "", low}}},
		{"debian from purl only: distro code name and source qualifier",
			sbom.Package{Name: "libc-bin", Version: "2.36-9+deb12u3", PURL: "pkg:deb/debian/libc-bin@2.36-9%2Bdeb12u3?arch=amd64&distro=bookworm&source=glibc"},
			[]got{{"DEBIAN-CVE-2024-2961", "2.36-9+deb12u6", high}}},
		{"debian ecosystem spelt with a point release",
			sbom.Package{Name: "libc-bin", Version: "2.36-9+deb12u3", SourceName: "glibc", Ecosystem: "Debian:12.5"},
			[]got{{"DEBIAN-CVE-2024-2961", "2.36-9+deb12u6", high}}},
		{"debian without release does not match a release record",
			sbom.Package{Name: "libc-bin", Version: "2.36-9+deb12u3", SourceName: "glibc", Ecosystem: "Debian"},
			[]got{}},
		{"withdrawn record is ignored",
			sbom.Package{Name: "libc6", Version: "2.36-9+deb12u6", SourceName: "glibc", Ecosystem: "Debian:12"},
			[]got{}},
		{"alpine origin name",
			sbom.Package{Name: "libcrypto3", Version: "3.3.0-r2", SourceName: "openssl", Ecosystem: "Alpine:v3.20"},
			[]got{{"ALPINE-CVE-2024-5535", "3.3.1-r1", unk}}},
		{"alpine from purl origin qualifier and point release",
			sbom.Package{Name: "ssl_client", Version: "1.36.1-r28", PURL: "pkg:apk/alpine/ssl_client@1.36.1-r28?arch=x86_64&distro=3.20.3&origin=busybox"},
			[]got{{"ALPINE-CVE-2023-42366", "1.36.1-r29", unk}}},
		{"alpine apk revision compare",
			sbom.Package{Name: "busybox", Version: "1.36.1-r29", Ecosystem: "Alpine:v3.20"},
			[]got{}},
		{"alpine other release",
			sbom.Package{Name: "libssl3", Version: "3.1.5-r0", SourceName: "openssl", Ecosystem: "Alpine:v3.19"},
			[]got{{"ALPINE-CVE-2024-5535", "3.1.6-r0", unk}}},
		{"go stdlib with go prefix",
			sbom.Package{Name: "stdlib", Version: "go1.22.1", Ecosystem: "Go"},
			[]got{{"GO-2024-2687", "1.22.2", unk}}},
		{"go stdlib older line",
			sbom.Package{Name: "stdlib", Version: "1.21.8", PURL: "pkg:golang/stdlib@1.21.8"},
			[]got{{"GO-2024-2687", "1.21.9", unk}}},
		{"go stdlib fixed",
			sbom.Package{Name: "stdlib", Version: "go1.22.2", Ecosystem: "Go"},
			[]got{}},
		{"go stdlib release candidate before the 1.22 line",
			sbom.Package{Name: "stdlib", Version: "go1.22rc1", Ecosystem: "Go"},
			[]got{{"GO-2024-2687", "1.22.2", unk}}},
		{"go module with v prefix",
			sbom.Package{Name: "google.golang.org/protobuf", Version: "v1.32.0", Ecosystem: "Go"},
			[]got{{"GO-2024-2611", "1.33.0", unk}}},
		{"go module from purl",
			sbom.Package{Version: "v0.22.0", PURL: "pkg:golang/golang.org/x/net@v0.22.0"},
			[]got{{"GO-2024-2687", "0.23.0", unk}}},
		{"npm middle range",
			sbom.Package{Name: "semver", Version: "6.3.0", Ecosystem: "npm"},
			[]got{{"GHSA-c2qf-rxjj-qqgw", "6.3.1", med}}},
		{"npm newest range",
			sbom.Package{Name: "semver", Version: "7.5.1", PURL: "pkg:npm/semver@7.5.1"},
			[]got{{"GHSA-c2qf-rxjj-qqgw", "7.5.2", med}}},
		{"npm fixed",
			sbom.Package{Name: "semver", Version: "7.5.2", Ecosystem: "npm"},
			[]got{}},
		{"npm between ranges",
			sbom.Package{Name: "semver", Version: "5.7.2", Ecosystem: "npm"},
			[]got{}},
		{"npm prerelease is before the release",
			sbom.Package{Name: "semver", Version: "7.5.2-rc.1", Ecosystem: "npm"},
			[]got{{"GHSA-c2qf-rxjj-qqgw", "7.5.2", med}}},
		{"npm scoped package, last_affected is inclusive and unfixed",
			sbom.Package{Name: "@scope/ws", Version: "8.17.0", PURL: "pkg:npm/%40scope/ws@8.17.0"},
			[]got{{"GHSA-3h5v-q93c-6h6q", "", high}}},
		{"npm after last_affected",
			sbom.Package{Name: "@scope/ws", Version: "8.17.1", Ecosystem: "npm"},
			[]got{}},
		{"pypi name normalisation and alias merge",
			sbom.Package{Name: "Requests", Version: "2.30.0", Ecosystem: "PyPI"},
			[]got{{"GHSA-j8r2-6x86-q33q", "2.31.0", med}}},
		{"pypi pep 440: 2.31.0rc1 is before 2.31.0",
			sbom.Package{Name: "requests", Version: "2.31.0rc1", Ecosystem: "PyPI"},
			[]got{{"GHSA-j8r2-6x86-q33q", "2.31.0", med}}},
		{"pypi before introduced",
			sbom.Package{Name: "requests", Version: "2.2.1", Ecosystem: "PyPI"},
			[]got{}},
		{"maven log4shell",
			sbom.Package{Name: "org.apache.logging.log4j:log4j-core", Version: "2.14.1", Ecosystem: "Maven"},
			[]got{{"GHSA-jfh8-c2jp-5v3q", "2.15.0", crit}}},
		{"maven beta qualifier inside the range",
			sbom.Package{Version: "2.0-beta9", PURL: "pkg:maven/org.apache.logging.log4j/log4j-core@2.0-beta9"},
			[]got{{"GHSA-jfh8-c2jp-5v3q", "2.3.1", crit}}},
		{"maven alpha qualifier before the range",
			sbom.Package{Name: "org.apache.logging.log4j:log4j-core", Version: "2.0-alpha1", Ecosystem: "Maven"},
			[]got{}},
		{"maven fixed backport line",
			sbom.Package{Name: "org.apache.logging.log4j:log4j-core", Version: "2.12.2", Ecosystem: "Maven"},
			[]got{}},
		{"ubuntu release matches the LTS ecosystem, by source name",
			sbom.Package{Name: "libexpat1", Version: "2.4.7-1ubuntu0.2", PURL: "pkg:deb/ubuntu/libexpat1@2.4.7-1ubuntu0.2?arch=amd64&distro=ubuntu-22.04&source=expat"},
			[]got{{"UBUNTU-CVE-2024-45490", "2.4.7-1ubuntu0.4", med}}},
		{"unknown ecosystem is skipped",
			sbom.Package{Name: "bar", Version: "0.1", Ecosystem: "FooOS:1"},
			[]got{}},
		{"no version is skipped",
			sbom.Package{Name: "openssl", Ecosystem: "Debian:12"},
			[]got{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := db.Match(context.Background(), []sbom.Package{tt.pkg})
			require.NoError(t, err)
			assert.Equal(t, tt.want, summarize(rep), "findings for %+v", tt.pkg)
		})
	}
}

func TestMatchReport(t *testing.T) {
	db := loadTestDB(t, osv.Options{})
	pkgs := []sbom.Package{
		{Name: "libssl3", Version: "3.0.11-1~deb12u2", PURL: "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12", Ecosystem: "Debian:12", SourceName: "openssl", Layer: "sha256:aaa"},
		// The same package found twice (two locations) gives one finding.
		{Name: "libssl3", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12", SourceName: "openssl", Layer: "sha256:aaa"},
		{Name: "openssl", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12"},
		{Name: "requests", Version: "2.30.0", Ecosystem: "PyPI"},
		{Name: "util-linux", Version: "2.38.1-5+deb12u1", Ecosystem: "Debian:12"},
	}
	rep, err := db.Match(context.Background(), pkgs)
	require.NoError(t, err)
	assert.Equal(t, artifact.ReportKindVulnerability, rep.Kind)
	assert.Equal(t, osv.ToolName, rep.Tool.Name)
	assert.Equal(t, db.Version(), rep.Tool.DatabaseVersion)
	assert.Equal(t, fixedTime, rep.Time)
	require.Len(t, rep.Findings, 4, "findings: %+v", rep.Findings)

	f := rep.Findings[0]
	assert.Equal(t, "DEBIAN-CVE-2022-0563", f.ID)
	assert.Empty(t, f.FixedVersion, "unfixed")

	f = rep.Findings[1]
	assert.Equal(t, "DSA-5764-1", f.ID)
	assert.Equal(t, []string{"CVE-2024-5535", "CVE-2024-6119"}, f.Aliases)
	assert.Equal(t, scan.Package{Name: "libssl3", Version: "3.0.11-1~deb12u2", PURL: pkgs[0].PURL, Ecosystem: "Debian:12"}, f.Package)
	assert.Equal(t, "sha256:aaa", f.Layer)
	assert.Equal(t, "openssl - security update", f.Summary)
	assert.Equal(t, "openssl", rep.Findings[2].Package.Name)

	f = rep.Findings[3]
	assert.Equal(t, "GHSA-j8r2-6x86-q33q", f.ID)
	assert.Equal(t, []string{"CVE-2023-32681", "PYSEC-2023-74"}, f.Aliases, "aliases of the merged records")
	assert.Equal(t, scan.SeverityMedium, f.Severity)
	assert.InDelta(t, 6.1, f.CVSS, 1e-9, "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N")

	unfixed := osv.Unfixed(rep)
	require.Len(t, unfixed, 1)
	assert.Equal(t, "DEBIAN-CVE-2022-0563", unfixed[0].ID)

	// The report encodes to SARIF.
	_, err = rep.SARIF()
	require.NoError(t, err)

	// Same input, same report.
	rep2, err := db.Match(context.Background(), pkgs)
	require.NoError(t, err)
	assert.Equal(t, rep, rep2)
}

func TestLoadStatsAndVersion(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	db := loadTestDB(t, osv.Options{Logger: logger})
	s := db.Stats()
	assert.Equal(t, 17, s.Files)
	assert.Equal(t, 17, s.Inputs)
	assert.Equal(t, 16, s.Records)
	assert.Equal(t, 1, s.Withdrawn)
	assert.Zero(t, s.Malformed)
	assert.Equal(t, 16, db.Len())
	assert.Equal(t, time.Date(2024, 11, 2, 5, 21, 9, 0, time.UTC), db.Modified())
	assert.Regexp(t, `^2024-11-02T05:21:09Z/sha256:[0-9a-f]{64}$`, db.Version())
	assert.True(t, strings.HasSuffix(db.Version(), db.Digest()))
	assert.Contains(t, logs.String(), "osv: database loaded")

	// A second load of the same inputs has the same version.
	assert.Equal(t, db.Version(), loadTestDB(t, osv.Options{}).Version())

	// Any change to the inputs changes it, even with the same modified time.
	dir := t.TempDir()
	copyTree(t, "testdata/db", dir)
	p := filepath.Join(dir, "npm", "GHSA-c2qf-rxjj-qqgw.json")
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, bytes.Replace(data, []byte(`"fixed": "7.5.2"`), []byte(`"fixed": "7.5.3"`), 1), 0o644))
	db2, err := osv.Load(context.Background(), dir, osv.Options{})
	require.NoError(t, err)
	assert.Equal(t, db.Modified(), db2.Modified())
	assert.NotEqual(t, db.Version(), db2.Version())
}

func TestLoadBadInput(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	db, err := osv.Load(context.Background(), "testdata/bad", osv.Options{Logger: logger})
	require.NoError(t, err, "bad records are skipped, not fatal")
	s := db.Stats()
	assert.Equal(t, 5, s.Malformed, "malformed, two-kinds-event, null, array, trailing")
	assert.Equal(t, 1, s.UnknownEcosystem)
	assert.Equal(t, []string{"FooOS:1"}, s.UnknownEcosystems)
	assert.Equal(t, 1, s.Unmatchable, "GIT-only record")
	assert.Equal(t, 1, s.Records, "the record with an unparseable fixed version still loads")
	out := logs.String()
	assert.Contains(t, out, "skipping malformed record")
	assert.Contains(t, out, "skipping record with unknown ecosystem")
	assert.Contains(t, out, "FooOS:1")

	// An unparseable event version never panics; the version list still
	// matches and the bad range is reported as a warning.
	logs.Reset()
	rep, err := db.Match(context.Background(), []sbom.Package{
		{Name: "zlib1g", SourceName: "zlib", Version: "1:1.2.13.dfsg-1", Ecosystem: "Debian:12"},
		{Name: "zlib1g", SourceName: "zlib", Version: "1:1.3.dfsg-1", Ecosystem: "Debian:12"},
		{Name: "zlib1g", SourceName: "zlib", Version: "::::", Ecosystem: "Debian:12"},
	})
	require.NoError(t, err)
	assert.Equal(t, []got{{"DEBIAN-CVE-2099-1", "", scan.SeverityUnknown}}, summarize(rep))
	assert.Contains(t, logs.String(), "cannot compare versions")
}

func TestLoadOversized(t *testing.T) {
	db, err := osv.Load(context.Background(), "testdata/db", osv.Options{MaxRecordSize: 700})
	require.NoError(t, err)
	assert.Positive(t, db.Stats().Oversized)
	assert.Less(t, db.Len(), 16)

	_, err = osv.Load(context.Background(), "testdata/db", osv.Options{MaxRecords: 3})
	require.ErrorIs(t, err, osv.ErrLimitExceeded)
	_, err = osv.Load(context.Background(), "testdata/db", osv.Options{MaxTotalSize: 2000})
	require.ErrorIs(t, err, osv.ErrLimitExceeded)
}

func TestLoadEcosystemFilter(t *testing.T) {
	db, err := osv.Load(context.Background(), "testdata/db", osv.Options{Ecosystems: []string{"Debian:12", "Go"}})
	require.NoError(t, err)
	s := db.Stats()
	assert.Equal(t, 8, s.Records, "6 Debian + 2 Go records, minus the withdrawn one") // DSA-5764-1, DLA-3942-1, 3 DEBIAN-CVE, DSA-5610-1 + 2 GO
	assert.Equal(t, 8, s.Filtered)
}

// writeZip writes an osv.dev-style all.zip with the given entries.
func writeZip(t testing.TB, path string, entries map[string][]byte) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range sortedKeys(entries) {
		w, err := zw.Create(name)
		require.NoError(t, err)
		_, err = w.Write(entries[name])
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
}

func TestLoadZip(t *testing.T) {
	entries := map[string][]byte{}
	for _, eco := range []string{"Debian", "Go"} {
		files, err := filepath.Glob(filepath.Join("testdata/db", eco, "*.json"))
		require.NoError(t, err)
		for _, f := range files {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			entries[filepath.Base(f)] = data
		}
	}
	entries["README.txt"] = []byte("not a record")
	for _, layout := range []string{"Debian/all.zip", "Debian-all.zip"} {
		t.Run(layout, func(t *testing.T) {
			dir := t.TempDir()
			writeZip(t, filepath.Join(dir, layout), entries)
			db, err := osv.Load(context.Background(), dir, osv.Options{})
			require.NoError(t, err)
			assert.Equal(t, 1, db.Stats().Files)
			assert.Equal(t, 9, db.Stats().Inputs)
			assert.Equal(t, 8, db.Len())
			rep, err := db.Match(context.Background(), []sbom.Package{
				{Name: "libssl3", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12", SourceName: "openssl"},
				{Name: "stdlib", Version: "go1.21.0", Ecosystem: "Go"},
			})
			require.NoError(t, err)
			assert.Equal(t, []got{{"DSA-5764-1", "3.0.14-1~deb12u2", scan.SeverityUnknown}, {"GO-2024-2687", "1.21.9", scan.SeverityUnknown}}, summarize(rep))

			// The zip file given directly.
			db2, err := osv.Load(context.Background(), filepath.Join(dir, layout), osv.Options{})
			require.NoError(t, err)
			assert.Equal(t, db.Len(), db2.Len())
		})
	}

	// A directory tree and a zip of the same records mixed: duplicates are
	// counted once.
	dir := t.TempDir()
	copyTree(t, "testdata/db", dir)
	writeZip(t, filepath.Join(dir, "Debian", "all.zip"), entries)
	db, err := osv.Load(context.Background(), dir, osv.Options{})
	require.NoError(t, err)
	assert.Equal(t, 16, db.Len())
	assert.Equal(t, 8, db.Stats().Duplicates)
}

func TestLoadCorruptZip(t *testing.T) {
	good := filepath.Join(t.TempDir(), "all.zip")
	data, err := os.ReadFile(filepath.Join("testdata/db", "Go", "GO-2024-2611.json"))
	require.NoError(t, err)
	writeZip(t, good, map[string][]byte{"GO-2024-2611.json": bytes.Repeat(data, 1)})
	zipData, err := os.ReadFile(good)
	require.NoError(t, err)

	flipped := bytes.Clone(zipData)
	// Corrupt the compressed data of the entry (after its local header).
	for i := 60; i < 80; i++ {
		flipped[i] ^= 0xff
	}

	cases := map[string][]byte{
		"not a zip":     []byte("this is not a zip archive at all, just text"),
		"truncated":     zipData[:len(zipData)/2],
		"empty":         {},
		"corrupt entry": flipped,
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "Go"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "Go", "all.zip"), data, 0o644))
			_, err := osv.Load(context.Background(), dir, osv.Options{})
			require.Error(t, err)
			assert.ErrorIs(t, err, osv.ErrCorruptArchive)
			assert.Contains(t, err.Error(), "all.zip")
		})
	}
}

func TestLoadFS(t *testing.T) {
	rec, err := os.ReadFile("testdata/db/npm/GHSA-c2qf-rxjj-qqgw.json")
	require.NoError(t, err)
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	w, err := zw.Create("GO-2024-2611.json")
	require.NoError(t, err)
	goRec, err := os.ReadFile("testdata/db/Go/GO-2024-2611.json")
	require.NoError(t, err)
	_, _ = w.Write(goRec)
	require.NoError(t, zw.Close())
	fsys := fstest.MapFS{
		"npm/GHSA-c2qf-rxjj-qqgw.json": {Data: rec},
		"Go/all.zip":                   {Data: zbuf.Bytes()},
		".git/HEAD.json":               {Data: []byte("hidden, skipped")},
	}
	db, err := osv.LoadFS(context.Background(), fsys, osv.Options{})
	require.NoError(t, err)
	assert.Equal(t, 2, db.Len())
	assert.Zero(t, db.Stats().Malformed)
}

func TestLoadErrors(t *testing.T) {
	_, err := osv.Load(context.Background(), filepath.Join(t.TempDir(), "missing"), osv.Options{})
	require.Error(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = osv.Load(ctx, "testdata/db", osv.Options{})
	require.ErrorIs(t, err, context.Canceled)

	db := loadTestDB(t, osv.Options{})
	_, err = db.Match(ctx, make([]sbom.Package, 1000))
	require.ErrorIs(t, err, context.Canceled)

	empty, err := osv.Load(context.Background(), t.TempDir(), osv.Options{})
	require.NoError(t, err)
	assert.Zero(t, empty.Len())
	assert.Regexp(t, `^empty/sha256:`, empty.Version())
	rep, err := empty.Match(context.Background(), []sbom.Package{{Name: "openssl", Version: "1", Ecosystem: "Debian:12"}})
	require.NoError(t, err)
	assert.Empty(t, rep.Findings)
}

func TestScanner(t *testing.T) {
	db := loadTestDB(t, osv.Options{})
	s := osv.NewScanner(db)
	assert.Same(t, db, s.DB())
	manifest := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("manifest"), Size: 8}
	repo := memory.New()

	_, err := s.Scan(context.Background(), nil)
	require.ErrorIs(t, err, scan.ErrNoImage)

	_, err = s.Scan(context.Background(), &scan.Image{Repository: repo, Manifest: manifest})
	require.ErrorIs(t, err, osv.ErrNoSBOM, "an image without SBOM is not a clean one")
	require.ErrorIs(t, err, scan.ErrScanFailed)

	rep, err := s.Scan(context.Background(), &scan.Image{Repository: repo, Manifest: manifest, SBOM: &sbom.Document{}})
	require.NoError(t, err)
	assert.Empty(t, rep.Findings)
	assert.Equal(t, manifest.Digest, rep.Subject)

	// A package known only by its purl is reported with the purl's name
	// and version.
	rep, err = db.Match(context.Background(), []sbom.Package{{PURL: "pkg:maven/org.apache.logging.log4j/log4j-core@2.0-beta9"}})
	require.NoError(t, err)
	require.Len(t, rep.Findings, 1)
	assert.Equal(t, scan.Package{Name: "org.apache.logging.log4j:log4j-core", Version: "2.0-beta9",
		PURL: "pkg:maven/org.apache.logging.log4j/log4j-core@2.0-beta9", Ecosystem: "Maven"}, rep.Findings[0].Package)

	rep, err = s.Scan(context.Background(), &scan.Image{Repository: repo, Manifest: manifest, SBOM: &sbom.Document{Packages: []sbom.Package{
		{Name: "stdlib", Version: "go1.22.1", PURL: "pkg:golang/stdlib@go1.22.1"},
	}}})
	require.NoError(t, err)
	assert.Equal(t, manifest.Digest, rep.Subject)
	assert.Equal(t, []got{{"GO-2024-2687", "1.22.2", scan.SeverityUnknown}}, summarize(rep))
	raw, err := json.Marshal(rep)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"databaseVersion":"2024-11-02T05:21:09Z/sha256:`)
}

func TestMatchConcurrent(t *testing.T) {
	db := loadTestDB(t, osv.Options{})
	pkgs := make([]sbom.Package, 0, 3000)
	for range 1000 {
		pkgs = append(pkgs,
			sbom.Package{Name: "libssl3", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12", SourceName: "openssl"},
			sbom.Package{Name: "semver", Version: "7.5.1", Ecosystem: "npm"},
			sbom.Package{Name: "stdlib", Version: "go1.22.1", Ecosystem: "Go"})
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			rep, err := db.Match(context.Background(), pkgs)
			if err == nil && len(rep.Findings) != 3 {
				err = errors.New("want 3 deduplicated findings")
			}
			errs <- err
		}()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}
}

func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
}

func sortedKeys(m map[string][]byte) []string {
	return slices.Sorted(maps.Keys(m))
}
