package scantest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Options tune Run. The zero value checks any scanner against the built-in
// image.
type Options struct {
	// Image is the image to scan. Nil means the built-in image of Image.
	Image *scan.Image
	// Kind is the report kind the scanner must produce
	// (artifact.ReportKindVulnerability or artifact.ReportKindMalware).
	// Empty accepts either.
	Kind string
	// Check, if not nil, is called with the report of Image for
	// scanner-specific checks (expected findings).
	Check func(t *testing.T, r *scan.Report)
	// SkipConcurrent skips the concurrent-scans check, for scanners that
	// document that they are not safe for concurrent use.
	SkipConcurrent bool
}

// Image returns the built-in test image: a Debian-like filesystem with an
// os-release file, a dpkg status database, a few plain files and a
// whiteout, pushed to a fresh in-memory repository, with an SBOM listing
// its packages.
func Image(t testing.TB) *scan.Image {
	t.Helper()
	ctx := context.Background()
	c := registry.NewClient(registry.Options{})
	repo, err := c.Repository(ctx, "mem:scantest")
	require.NoError(t, err, "open in-memory repository")
	pkgs := []imagetest.Package{
		{Name: "libssl3", Version: "3.0.11-1~deb12u2", Source: "openssl"},
		{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Source: "zlib"},
		{Name: "bash", Version: "5.2.15-2+b2"},
	}
	base := imagetest.Layer(
		imagetest.OSRelease("debian", "12", "bookworm"),
		imagetest.DpkgStatus(pkgs...),
		imagetest.File{Path: "etc/hostname", Data: []byte("scantest\n")},
		imagetest.File{Path: "tmp/removed", Data: []byte("removed in the next layer\n")},
	)
	app := imagetest.LayerWith(imagetest.Zstd,
		imagetest.Whiteout("tmp/removed"),
		imagetest.File{Path: "app/main.sh", Data: []byte("#!/bin/sh\necho hello\n"), Mode: 0o755},
	)
	platform := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	desc, err := imagetest.Image{Platform: platform, Layers: []imagetest.Blob{base, app}}.Push(ctx, repo)
	require.NoError(t, err, "push the built-in image")
	doc := &sbom.Document{Name: "scantest", Created: imagetest.Epoch(), Creators: []string{"Tool: scantest"}}
	for _, p := range pkgs {
		src := p.Source
		if src == "" {
			src = p.Name
		}
		doc.Packages = append(doc.Packages, sbom.Package{
			Name: p.Name, Version: p.Version, Ecosystem: "Debian:12", SourceName: src,
			PURL:  "pkg:deb/debian/" + p.Name + "@" + p.Version + "?arch=amd64&distro=debian-12",
			Layer: base.Desc.Digest.String(), Locations: []string{"var/lib/dpkg/status"},
		})
	}
	return &scan.Image{Repository: repo, Reference: "mem:scantest@" + desc.Digest.String(), Manifest: desc, Platform: &platform, SBOM: doc}
}

// Run checks s against the contract of scan.Scanner (see the package
// documentation) in subtests of t.
func Run(t *testing.T, s scan.Scanner, opts Options) {
	t.Helper()
	img := opts.Image
	if img == nil {
		img = Image(t)
	}
	ctx := context.Background()
	runBadInput(ctx, t, s, img)
	var first *scan.Report
	t.Run("Report", func(t *testing.T) {
		before := time.Now().Add(-time.Minute)
		r, err := s.Scan(ctx, img)
		require.NoError(t, err, "scan the image")
		require.NotNil(t, r, "a scan without error must return a report")
		first = r
		checkReport(t, r, img, opts, before)
	})
	if first == nil {
		return
	}
	runWithReport(ctx, t, s, img, first, opts)
}

// runBadInput checks that s refuses a nil image, an image without
// repository, a missing manifest and a cancelled context.
func runBadInput(ctx context.Context, t *testing.T, s scan.Scanner, img *scan.Image) {
	t.Run("NilImage", func(t *testing.T) {
		r, err := s.Scan(ctx, nil)
		assert.ErrorIs(t, err, scan.ErrNoImage, "Scan(nil) must fail with scan.ErrNoImage, got report %v", r)
	})
	t.Run("NoRepository", func(t *testing.T) {
		bad := *img
		bad.Repository = nil
		_, err := s.Scan(ctx, &bad)
		assert.ErrorIs(t, err, scan.ErrNoImage, "an image without repository must fail with scan.ErrNoImage")
	})
	t.Run("MissingManifest", func(t *testing.T) {
		bad := *img
		bad.Manifest.Digest = digest.FromString("scantest: no such manifest")
		r, err := s.Scan(ctx, &bad)
		if bad.SBOM != nil && err == nil {
			// Scanners that read only the SBOM need not fetch the manifest.
			return
		}
		assert.Error(t, err, "a manifest that is not in the repository must fail the scan, got report %v", r)
	})
	t.Run("CancelledContext", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		r, err := s.Scan(cctx, img)
		assert.ErrorIs(t, err, context.Canceled, "a cancelled context must stop the scan with context.Canceled, got report %v", r)
	})
}

// checkReport checks the report r of img, made after before.
func checkReport(t *testing.T, r *scan.Report, img *scan.Image, opts Options, before time.Time) {
	if opts.Kind != "" {
		assert.Equal(t, opts.Kind, r.Kind, "report kind")
	} else {
		assert.Contains(t, []string{artifact.ReportKindVulnerability, artifact.ReportKindMalware}, r.Kind, "report kind")
	}
	assert.NotEmpty(t, r.Tool.Name, "report tool name")
	assert.Equal(t, img.Manifest.Digest, r.Subject, "report subject must be the manifest digest")
	assert.False(t, r.Time.IsZero(), "report time must be set")
	assert.True(t, r.Time.After(before) && r.Time.Before(time.Now().Add(time.Minute)), "report time %v must be the scan's", r.Time)
	for i, f := range r.Findings {
		assert.NotEmpty(t, f.ID, "finding %d has no ID", i)
		assert.True(t, f.Severity >= scan.SeverityUnknown && f.Severity <= scan.SeverityCritical, "finding %s: invalid severity %d", f.ID, int(f.Severity))
		assert.True(t, f.CVSS >= 0 && f.CVSS <= 10, "finding %s: CVSS %v out of range", f.ID, f.CVSS)
		if f.Layer != "" {
			assert.NoError(t, digest.Digest(f.Layer).Validate(), "finding %s: layer %q is not a digest", f.ID, f.Layer)
		}
	}
	if opts.Check != nil {
		opts.Check(t, r)
	}
}

// runWithReport checks that the first report of s round-trips through
// SARIF and JSON, and that scanning img again, also concurrently, finds
// the same.
func runWithReport(ctx context.Context, t *testing.T, s scan.Scanner, img *scan.Image, first *scan.Report, opts Options) {
	t.Run("SARIF", func(t *testing.T) {
		data, err := first.SARIF()
		require.NoError(t, err, "encode SARIF")
		assert.NoError(t, scan.ValidateSARIF(data), "SARIF must be valid")
		back, err := scan.DecodeSARIF(data)
		require.NoError(t, err, "decode SARIF")
		want := sorted(first)
		assert.Equal(t, want.Findings, back.Findings, "SARIF must round-trip the findings")
		assert.Equal(t, want.Tool, back.Tool, "SARIF must round-trip the tool")
		assert.Equal(t, want.Kind, back.Kind, "SARIF must round-trip the kind")
	})
	t.Run("JSON", func(t *testing.T) {
		data, err := json.Marshal(first)
		require.NoError(t, err, "marshal report")
		back, err := scan.DecodeJSON(data)
		require.NoError(t, err, "decode report JSON")
		assert.Equal(t, sorted(first).Findings, sorted(back).Findings, "JSON must round-trip the findings")
	})
	t.Run("Deterministic", func(t *testing.T) {
		r, err := s.Scan(ctx, img)
		require.NoError(t, err, "second scan")
		assert.Equal(t, sorted(first).Findings, sorted(r).Findings, "two scans of one image must find the same things")
	})
	if !opts.SkipConcurrent {
		t.Run("Concurrent", func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make([]error, 3)
			for i := range errs {
				wg.Go(func() { _, errs[i] = s.Scan(ctx, img) })
			}
			wg.Wait()
			for i, err := range errs {
				assert.NoError(t, err, "concurrent scan %d", i)
			}
		})
	}
}

func sorted(r *scan.Report) *scan.Report {
	cp := *r
	cp.Findings = append([]scan.Finding{}, r.Findings...)
	for i := range cp.Findings {
		cp.Findings[i].Aliases = append([]string(nil), cp.Findings[i].Aliases...)
		if len(cp.Findings[i].Aliases) == 0 {
			cp.Findings[i].Aliases = nil
		}
	}
	cp.Sort()
	return &cp
}
