package server

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
)

// TestMatchingPackageRows checks that the package reverse query's rows
// (matchingPackageRows) are exactly packageRows filtered by
// PackageQuery.MatchesPackage, in the same order, on entries built to
// exercise the corners: the same package on several platforms, packages
// equal but for their source name (the first one decides), source
// packages, ecosystems with and without a release, and rows equal on name,
// version and ecosystem (PURL differs).
func TestMatchingPackageRows(t *testing.T) {
	pkg := func(name, version, eco, purl, source string) catalog.Package {
		return catalog.Package{Name: name, Version: version, Ecosystem: eco, PURL: purl, SourceName: source}
	}
	fixed := &catalog.Entry{Children: []catalog.Child{
		{Digest: digest.FromString("amd64"), Platform: "linux/amd64", Packages: []catalog.Package{
			pkg("libssl3", "3.0.11", "Debian:12", "pkg:deb/debian/libssl3@3.0.11?arch=amd64", "openssl"),
			pkg("openssl", "3.0.11", "Debian:12", "", ""),
			pkg("zlib", "1.2.13", "Debian:12", "b", ""),
			pkg("zlib", "1.2.13", "Debian:12", "a", ""),
		}},
		{Digest: digest.FromString("arm64"), Platform: "linux/arm64", Packages: []catalog.Package{
			pkg("libssl3", "3.0.11", "Debian:12", "pkg:deb/debian/libssl3@3.0.11?arch=arm64", ""),
			pkg("openssl", "3.0.11", "Debian:12", "", ""),
			pkg("openssl", "3.1.0", "Alpine:v3.19", "", ""),
			pkg("zlib", "1.2.13", "Debian:12", "a", ""),
		}},
		{Digest: digest.FromString("none"), Packages: []catalog.Package{
			pkg("libcrypto", "3.0.11", "Debian:12", "", ""),
			pkg("libcrypto", "3.0.11", "Debian:12", "", "openssl"),
		}},
	}}
	for _, q := range []catalog.PackageQuery{
		{Name: "openssl"},
		{Name: "openssl", Ecosystem: "Debian"},
		{Name: "openssl", Range: ">= 3.1.0"},
		{Name: "zlib"},
		{Name: "libcrypto"},
		{Name: "libssl3", Range: "< 3.0.12"},
		{Name: "absent"},
	} {
		t.Run(fmt.Sprintf("%s %s %s", q.Name, q.Ecosystem, q.Range), func(t *testing.T) {
			checkMatchingPackageRows(t, fixed, q)
		})
	}
	want := []PackageRow{{Package: fixed.Children[0].Packages[0], Platforms: []string{"linux/amd64"}},
		{Package: fixed.Children[0].Packages[1], Platforms: []string{"linux/amd64", "linux/arm64"}},
		{Package: fixed.Children[1].Packages[2], Platforms: []string{"linux/arm64"}}}
	vr, err := catalog.ParseVersionRange("")
	require.NoError(t, err)
	q := catalog.PackageQuery{Name: "openssl"}
	assert.Equal(t, want, matchingPackageRows(fixed, &q, vr), "openssl: libssl3 by its first package's source name, then both versions of openssl; libcrypto's first package names no source")

	// Random entries over a small alphabet, so that names, source names
	// and keys collide often.
	rng := rand.New(rand.NewPCG(16, 1))
	names := []string{"a", "b", "c", "d"}
	versions := []string{"1.0.0", "1.2.0", "2.0.0"}
	ecos := []string{"", "Debian:12", "Alpine:v3.19", "npm"}
	for i := range 300 {
		e := &catalog.Entry{}
		for c := range rng.IntN(4) {
			child := catalog.Child{Digest: digest.FromString(fmt.Sprint(i, c))}
			if rng.IntN(3) > 0 {
				child.Platform = fmt.Sprintf("linux/p%d", c)
			}
			for range rng.IntN(12) {
				source := ""
				if rng.IntN(3) == 0 {
					source = names[rng.IntN(len(names))]
				}
				child.Packages = append(child.Packages, pkg(names[rng.IntN(len(names))], versions[rng.IntN(len(versions))],
					ecos[rng.IntN(len(ecos))], fmt.Sprint(rng.IntN(2)), source))
			}
			e.Children = append(e.Children, child)
		}
		q := catalog.PackageQuery{Name: names[rng.IntN(len(names))]}
		if rng.IntN(2) == 0 {
			q.Ecosystem = []string{"Debian", "Alpine:v3.19", "npm"}[rng.IntN(3)]
		}
		if rng.IntN(2) == 0 {
			q.Range = []string{">= 1.2.0", "< 2.0.0", "= 1.0.0"}[rng.IntN(3)]
		}
		checkMatchingPackageRows(t, e, q)
	}
}

func checkMatchingPackageRows(t *testing.T, e *catalog.Entry, q catalog.PackageQuery) {
	t.Helper()
	vr, err := catalog.ParseVersionRange(q.Range)
	require.NoError(t, err)
	var want []PackageRow
	for _, r := range packageRows(e) {
		if q.MatchesPackage(vr, r.Package) {
			want = append(want, r)
		}
	}
	got := matchingPackageRows(e, &q, vr)
	if !assert.True(t, slices.EqualFunc(want, got, func(a, b PackageRow) bool {
		return assert.ObjectsAreEqual(a, b)
	}), "query %+v", q) {
		assert.Equal(t, want, got, "query %+v: got the rows of matchingPackageRows, want those of packageRows that match", q)
	}
}
