package osv_test

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content/memory"

	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/osv"
)

// Load a database directory and match two packages of a Debian 12 image:
// libssl3 is matched through its source package openssl, and util-linux
// has a vulnerability that Debian has not fixed.
func Example() {
	ctx := context.Background()
	db, err := osv.Load(ctx, "testdata/db", osv.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	report, err := db.Match(ctx, []sbom.Package{
		{Name: "libssl3", Version: "3.0.11-1~deb12u2", SourceName: "openssl", Ecosystem: "Debian:12"},
		{Name: "util-linux", Version: "2.38.1-5+deb12u1", PURL: "pkg:deb/debian/util-linux@2.38.1-5%2Bdeb12u1?distro=debian-12"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range report.Findings {
		fixed := f.FixedVersion
		if fixed == "" {
			fixed = "(unfixed)"
		}
		fmt.Println(f.ID, f.Aliases, f.Package.Name, f.Package.Version, "->", fixed)
	}
	fmt.Println(len(osv.Unfixed(report)), "unfixed")
	// Output:
	// DEBIAN-CVE-2022-0563 [] util-linux 2.38.1-5+deb12u1 -> (unfixed)
	// DSA-5764-1 [CVE-2024-5535 CVE-2024-6119] libssl3 3.0.11-1~deb12u2 -> 3.0.14-1~deb12u2
	// 1 unfixed
}

// Scan an image whose SBOM is known, as the Acquire pipeline does. The
// image content is not read: only its SBOM and manifest digest are used.
func ExampleScanner() {
	ctx := context.Background()
	db, err := osv.Load(ctx, "testdata/db", osv.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	img := &scan.Image{
		Repository: memory.New(),
		Reference:  "registry.example/quarantine/app@sha256:...",
		Manifest:   ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("manifest"), Size: 8},
		SBOM: &sbom.Document{Packages: []sbom.Package{
			{Name: "stdlib", Version: "go1.22.1", PURL: "pkg:golang/stdlib@go1.22.1"},
			{Name: "org.apache.logging.log4j:log4j-core", Version: "2.14.1", Ecosystem: "Maven"},
		}},
	}
	report, err := osv.NewScanner(db).Scan(ctx, img)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range report.Findings {
		fmt.Println(f.ID, f.Severity, f.CVSS, f.Package.Name, "fixed in", f.FixedVersion)
	}
	// Output:
	// GHSA-jfh8-c2jp-5v3q critical 10 org.apache.logging.log4j:log4j-core fixed in 2.15.0
	// GO-2024-2687 unknown 0 stdlib fixed in 1.22.2
}
