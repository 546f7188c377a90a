// Package demodata fills a golden registry and a catalog store with a small,
// realistic set of images for the portal's tests, screenshots and
// benchmarks: real images pushed to a real registry with real SPDX SBOMs and
// SARIF reports attached (so downloads and report history work), and the
// catalog entries that describe them, built by hand with the facts those
// artifacts carry. It also returns sweep records for the sweeps page.
package demodata

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan"
)

// Now is the demo's reference time: end-of-life dates and report times are
// relative to it.
var Now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Signer is the enterprise signer identity of the demo.
const Signer = "C=US, ST=WA, O=Contoso, CN=Contoso Golden Signing"

// Opener opens repositories (a *registry.Client).
type Opener interface {
	Repository(ctx context.Context, location string) (registry.Repository, error)
}

// Demo is what Seed made.
type Demo struct {
	// Entries are the catalog entries, in the order they were put.
	Entries []*catalog.Entry
	// Sweeps are sweep records for the sweeps page, the most recent first.
	Sweeps []*catalog.Sweep
	// Prefix is the golden registry location prefix.
	Prefix string
}

// Entry returns the entry of repository (a path under the prefix) with
// tag, or nil.
func (d *Demo) Entry(repo, tag string) *catalog.Entry {
	for _, e := range d.Entries {
		if e.Repository == registry.Join(d.Prefix, repo) && slices.Contains(e.Tags, tag) {
			return e
		}
	}
	return nil
}

type pkg struct {
	name, version, source, license string
}

type vuln struct {
	id, alias, pkg, version, fixed string
	sev                            scan.Severity
	summary                        string
}

type platformSpec struct {
	platform string // os/arch
	pkgs     []pkg
}

type reportSpec struct {
	at    time.Time
	db    string
	vulns []vuln
}

type imageSpec struct {
	repo        string
	tags        []string
	eco         string // "Debian:12", "Alpine:v3.20"
	platforms   []platformSpec
	reports     []reportSpec // oldest first; the last is current
	eol         time.Time
	status      catalog.Status
	replacement string
	owner       string
	labels      map[string]string
	source      string
	noSBOM      bool // the SBOM is attached but untrusted
	untrusted   bool // the vulnerability report is forged: untrusted, not counted
	noMalware   bool
	unsigned    bool
	malware     string
	seed        string // varies the image content
}

var debianBase = []pkg{
	{"base-files", "12.4+deb12u5", "", "GPL-2.0-or-later"},
	{"libc6", "2.36-9+deb12u4", "glibc", "LGPL-2.1-or-later"},
	{"libssl3", "3.0.11-1~deb12u2", "openssl", "Apache-2.0"},
	{"openssl", "3.0.11-1~deb12u2", "", "Apache-2.0"},
	{"zlib1g", "1:1.2.13.dfsg-1", "zlib", "Zlib"},
	{"libexpat1", "2.5.0-1", "expat", "MIT"},
	{"perl-base", "5.36.0-7+deb12u1", "perl", "GPL-1.0-or-later OR Artistic-1.0-Perl"},
	{"libcurl4", "7.88.1-10+deb12u5", "curl", "curl"},
	{"curl", "7.88.1-10+deb12u5", "", "curl"},
	{"libxml2", "2.9.14+dfsg-1.3~deb12u1", "", "MIT"},
	{"tzdata", "2024a-0+deb12u1", "", "public-domain"},
	{"bash", "5.2.15-2+b7", "", "GPL-3.0-or-later"},
	{"coreutils", "9.1-1", "", "GPL-3.0-or-later"},
	{"libsystemd0", "252.22-1~deb12u1", "systemd", "LGPL-2.1-or-later"},
	{"ncurses-base", "6.4-4", "ncurses", "X11"},
	{"libgnutls30", "3.7.9-2+deb12u2", "gnutls28", "LGPL-2.1-or-later"},
	{"libsqlite3-0", "3.40.1-2", "sqlite3", "blessing"},
	{"gpgv", "2.2.40-1.1", "gnupg2", "GPL-3.0-or-later"},
}

var alpineBase = []pkg{
	{"alpine-baselayout", "3.6.5-r0", "", "GPL-2.0-only"},
	{"busybox", "1.36.1-r29", "", "GPL-2.0-only"},
	{"musl", "1.2.5-r0", "", "MIT"},
	{"libcrypto3", "3.3.2-r0", "openssl", "Apache-2.0"},
	{"libssl3", "3.3.2-r0", "openssl", "Apache-2.0"},
	{"zlib", "1.3.1-r1", "", "Zlib"},
	{"ca-certificates-bundle", "20240705-r0", "ca-certificates", "MPL-2.0 AND MIT"},
	{"apk-tools", "2.14.4-r0", "", "GPL-2.0-only"},
}

func with(base []pkg, extra ...pkg) []pkg {
	out := slices.Clone(base)
	for _, e := range extra {
		i := slices.IndexFunc(out, func(p pkg) bool { return p.name == e.name })
		if i >= 0 {
			out[i] = e
		} else {
			out = append(out, e)
		}
	}
	return out
}

var (
	cveOpenSSL  = vuln{"CVE-2024-6119", "DSA-5764-1", "openssl", "3.0.11-1~deb12u2", "3.0.14-1~deb12u2", scan.SeverityHigh, "OpenSSL: possible denial of service in X.509 name checks"}
	cveOpenSSL2 = vuln{"CVE-2024-2511", "", "openssl", "3.0.11-1~deb12u2", "3.0.13-1~deb12u1", scan.SeverityMedium, "OpenSSL: unbounded memory growth with session handling in TLSv1.3"}
	cveExpat    = vuln{"CVE-2024-45490", "GHSA-8ghw-xcm5-w6rw", "expat", "2.5.0-1", "2.5.0-1+deb12u1", scan.SeverityCritical, "libexpat: negative length for XML_ParseBuffer"}
	cveCurl     = vuln{"CVE-2024-2398", "", "curl", "7.88.1-10+deb12u5", "7.88.1-10+deb12u6", scan.SeverityMedium, "curl: HTTP/2 push headers memory leak"}
	cveZlib     = vuln{"CVE-2023-45853", "", "zlib", "1:1.2.13.dfsg-1", "", scan.SeverityCritical, "MiniZip integer overflow (unfixed in Debian: minizip not built)"}
	cveGlibc    = vuln{"CVE-2024-2961", "", "glibc", "2.36-9+deb12u4", "2.36-9+deb12u7", scan.SeverityHigh, "glibc: out-of-bounds write in iconv ISO-2022-CN-EXT"}
	cveLibxml   = vuln{"CVE-2024-25062", "", "libxml2", "2.9.14+dfsg-1.3~deb12u1", "", scan.SeverityLow, "libxml2: use-after-free in XMLReader"}
	cvePerl     = vuln{"CVE-2023-31484", "", "perl", "5.36.0-7+deb12u1", "", scan.SeverityLow, "CPAN.pm does not verify TLS certificates"}
	cveSetup    = vuln{"CVE-2024-6345", "GHSA-cx63-2mw6-8hw5", "setuptools", "68.2.2", "70.0.0", scan.SeverityHigh, "setuptools: remote code execution via download functions"}
	cvePip      = vuln{"CVE-2023-5752", "GHSA-mq26-g339-26xf", "pip", "23.2.1", "23.3", scan.SeverityLow, "pip: Mercurial configuration injectable in repo revision"}
	cveNode     = vuln{"CVE-2024-27983", "", "node", "18.19.1", "18.20.1", scan.SeverityHigh, "Node.js HTTP/2 server crash (race condition)"}
	cveBusybox  = vuln{"CVE-2023-42363", "", "busybox", "1.36.1-r29", "", scan.SeverityMedium, "BusyBox use-after-free in awk"}
)

func images(now time.Time) []imageSpec {
	day := 24 * time.Hour
	nginxPkgs := with(debianBase, pkg{"nginx", "1.27.3-1~bookworm", "", "BSD-2-Clause"}, pkg{"libpcre2-8-0", "10.42-1", "pcre2", "BSD-3-Clause"})
	nginxOld := with(debianBase, pkg{"nginx", "1.27.2-1~bookworm", "", "BSD-2-Clause"}, pkg{"libpcre2-8-0", "10.42-1", "pcre2", "BSD-3-Clause"})
	py := with(debianBase, pkg{"python3.12", "3.12.8", "", "PSF-2.0"}, pkg{"pip", "23.2.1", "", "MIT"}, pkg{"setuptools", "68.2.2", "", "MIT"})
	node := with(debianBase, pkg{"node", "18.19.1", "", "MIT"}, pkg{"npm", "10.2.4", "", "Artistic-2.0"})
	return []imageSpec{
		{
			repo: "library/nginx", tags: []string{"1.27.2"}, eco: "Debian:12", seed: "nginx-1.27.2",
			platforms: []platformSpec{{"linux/amd64", nginxOld}, {"linux/arm64", nginxOld}},
			reports: []reportSpec{
				{now.Add(-60 * day), "osv-2025-12-30", []vuln{cveOpenSSL2, cveCurl, cvePerl}},
				{now.Add(-30 * day), "osv-2026-01-29", []vuln{cveOpenSSL, cveOpenSSL2, cveCurl, cvePerl}},
			},
			eol: now.Add(200 * day), status: catalog.StatusDeprecated, replacement: "library/nginx:1.27.3",
			source: "docker.io/library/nginx:1.27.2", owner: "team-web", labels: map[string]string{"tier": "gold"},
		},
		{
			repo: "library/nginx", tags: []string{"1.27", "1.27.3", "latest"}, eco: "Debian:12", seed: "nginx-1.27.3",
			platforms: []platformSpec{{"linux/amd64", nginxPkgs}, {"linux/arm64", nginxPkgs}},
			reports: []reportSpec{
				{now.Add(-28 * day), "osv-2026-01-29", []vuln{cveOpenSSL, cveOpenSSL2, cveCurl, cvePerl, cveLibxml}},
				{now.Add(-14 * day), "osv-2026-02-14", []vuln{cveOpenSSL, cveCurl, cvePerl, cveLibxml}},
				{now.Add(-2 * day), "osv-2026-02-27", []vuln{cveExpat, cveOpenSSL, cveCurl, cveLibxml, cveGlibc}},
			},
			eol: now.Add(400 * day), source: "docker.io/library/nginx:1.27.3", owner: "team-web",
			labels: map[string]string{"tier": "gold", "pci": "true"},
		},
		{
			repo: "library/debian", tags: []string{"12", "bookworm"}, eco: "Debian:12", seed: "debian-12",
			platforms: []platformSpec{{"linux/amd64", debianBase}},
			reports: []reportSpec{
				{now.Add(-20 * day), "osv-2026-02-09", []vuln{cvePerl, cveLibxml, cveZlib}},
				{now.Add(-2 * day), "osv-2026-02-27", []vuln{cvePerl, cveLibxml, cveZlib, cveGlibc}},
			},
			eol: time.Date(2028, 6, 30, 0, 0, 0, 0, time.UTC), source: "docker.io/library/debian:12", owner: "platform",
			labels: map[string]string{"tier": "gold", "base": "true"},
		},
		{
			repo: "library/alpine", tags: []string{"3.20"}, eco: "Alpine:v3.20", seed: "alpine-3.20",
			platforms: []platformSpec{{"linux/amd64", alpineBase}, {"linux/arm64", alpineBase}},
			reports: []reportSpec{
				{now.Add(-9 * day), "osv-2026-02-20", []vuln{cveBusybox}},
				{now.Add(-2 * day), "osv-2026-02-27", []vuln{cveBusybox}},
			},
			eol: now.Add(24 * day), source: "docker.io/library/alpine:3.20", owner: "platform",
			labels: map[string]string{"tier": "silver", "base": "true"},
		},
		{
			repo: "library/python", tags: []string{"3.12-slim"}, eco: "Debian:12", seed: "python-3.12",
			platforms: []platformSpec{{"linux/amd64", py}},
			reports: []reportSpec{
				{now.Add(-2 * day), "osv-2026-02-27", []vuln{cveSetup, cvePip, cveExpat, cveOpenSSL, cveGlibc, cvePerl}},
			},
			eol: time.Date(2028, 10, 31, 0, 0, 0, 0, time.UTC), source: "docker.io/library/python:3.12-slim", owner: "team-data",
		},
		{
			repo: "library/node", tags: []string{"18"}, eco: "Debian:12", seed: "node-18",
			platforms: []platformSpec{{"linux/amd64", node}},
			reports: []reportSpec{
				{now.Add(-40 * day), "osv-2026-01-19", []vuln{cveNode, cveOpenSSL, cvePerl}},
			},
			eol: time.Date(2025, 4, 30, 0, 0, 0, 0, time.UTC), status: catalog.StatusRetired, replacement: "library/node:22",
			source: "docker.io/library/node:18", owner: "team-web",
		},
		{
			repo: "payments/api", tags: []string{"2.4.1"}, eco: "Debian:12", seed: "payments-2.4.1",
			platforms: []platformSpec{{"linux/amd64", with(debianBase, pkg{"payments-api", "2.4.1", "", "LicenseRef-Contoso-Proprietary"})}},
			reports: []reportSpec{
				{now.Add(-3 * day), "osv-2026-02-26", []vuln{cveGlibc}},
			},
			eol: now.Add(90 * day), source: "ghcr.io/contoso/payments-api:2.4.1", owner: "team-payments",
			labels: map[string]string{"tier": "gold", "pci": "true"}, noSBOM: true, noMalware: true,
		},
		{
			repo: "library/redis", tags: []string{"7.2"}, eco: "Debian:12", seed: "redis-7.2",
			platforms: []platformSpec{{"linux/amd64", with(debianBase, pkg{"redis", "7.2.4", "", "BSD-3-Clause"})}},
			reports: []reportSpec{
				{now.Add(-5 * day), "osv-2026-02-24", nil},
			},
			eol: now.Add(-3 * day), source: "docker.io/library/redis:7.2", untrusted: true, owner: "team-data",
		},
		{
			repo: "tools/busybox", tags: []string{"1.36"}, eco: "Alpine:v3.20", seed: "busybox-1.36", unsigned: true,
			platforms: []platformSpec{{"linux/amd64", alpineBase}},
			reports: []reportSpec{
				{now.Add(-6 * day), "osv-2026-02-23", []vuln{cveBusybox}},
			},
			source: "docker.io/library/busybox:1.36", malware: "Eicar-Signature",
		},
	}
}

// Seed pushes the demo images with their SBOMs and reports to the golden
// registry under prefix (a location prefix such as "127.0.0.1:5000/golden"
// or "mem:golden"), records tag history and puts the entries into store.
func Seed(ctx context.Context, reg Opener, prefix string, store catalog.Store, now time.Time) (*Demo, error) {
	d := &Demo{Prefix: prefix}
	specs := images(now)
	for _, spec := range specs {
		e, err := seedImage(ctx, reg, prefix, spec, now)
		if err != nil {
			return nil, fmt.Errorf("demodata: %s: %w", spec.repo, err)
		}
		if err := store.Put(ctx, e); err != nil {
			return nil, fmt.Errorf("demodata: put %s: %w", e.Key(), err)
		}
		d.Entries = append(d.Entries, e)
	}
	// Tag history: nginx:1.27 and latest pointed at 1.27.2 until 1.27.3
	// was promoted 28 days ago.
	day := 24 * time.Hour
	old, cur := d.Entry("library/nginx", "1.27.2"), d.Entry("library/nginx", "1.27.3")
	nginx := registry.Join(prefix, "library/nginx")
	steps := []struct {
		at   time.Time
		tags map[string]digest.Digest
	}{
		{now.Add(-75 * day), map[string]digest.Digest{"1.27": old.Digest, "1.27.2": old.Digest, "latest": old.Digest}},
		{now.Add(-28 * day), map[string]digest.Digest{"1.27": cur.Digest, "1.27.2": old.Digest, "1.27.3": cur.Digest, "latest": cur.Digest}},
		{now.Add(-1 * day), map[string]digest.Digest{"1.27": cur.Digest, "1.27.2": old.Digest, "1.27.3": cur.Digest, "latest": cur.Digest}},
	}
	for _, s := range steps {
		if _, err := store.RecordTags(ctx, nginx, s.tags, s.at, true); err != nil {
			return nil, err
		}
	}
	for _, e := range d.Entries {
		if e.Repository == nginx {
			continue
		}
		tags := map[string]digest.Digest{}
		for _, t := range e.Tags {
			tags[t] = e.Digest
		}
		if _, err := store.RecordTags(ctx, e.Repository, tags, e.PromotedAt, true); err != nil {
			return nil, err
		}
		if _, err := store.RecordTags(ctx, e.Repository, tags, now.Add(-day), true); err != nil {
			return nil, err
		}
	}
	redis := d.Entry("library/redis", "7.2")
	key := func(e *catalog.Entry) string { return "vulnerability/osv-2026-02-27/" + e.Key() }
	d.Sweeps = []*catalog.Sweep{
		{ID: "sweep-0006", Kind: catalog.SweepFull, Trigger: "periodic", Scanner: "osv", DatabaseVersion: "osv-2026-02-27",
			PreviousVersion: "osv-2026-02-27", Started: now.Add(-2 * time.Hour), Finished: now.Add(-2*time.Hour + 40*time.Millisecond),
			State: catalog.SweepSkipped, Reason: "skipped: database unchanged"},
		{ID: "sweep-0005", Kind: "lifecycle", Trigger: "periodic", Started: now.Add(-26 * time.Hour), Finished: now.Add(-26*time.Hour + 1200*time.Millisecond),
			State: catalog.SweepFinished, Reason: "1 deprecated, 1 retired", Images: len(d.Entries),
			Outcomes: map[string]int{"deprecated": 1, "retired": 1, "unchanged": len(d.Entries) - 2}},
		{ID: "sweep-0004", Kind: catalog.SweepDelta, Trigger: "database", Scanner: "osv", DatabaseVersion: "osv-2026-02-27", PreviousVersion: "osv-2026-02-14",
			Started: now.Add(-2*day - time.Hour), Finished: now.Add(-2*day - time.Hour + 3400*time.Millisecond), State: catalog.SweepFinished,
			Reason: "3 advisories added, 1 changed, 1 withdrawn", Diff: &catalog.SweepDiff{Added: 3, Changed: 1, Withdrawn: 1, Packages: 4, Affected: 6},
			Images: 6, Outcomes: map[string]int{"written": 5, "failed": 1},
			Failures: []catalog.SweepFailure{{Job: key(redis), Error: "report signature: signer: context deadline exceeded"}}},
		{ID: "sweep-0003", Kind: catalog.SweepMalware, Trigger: "signatures", Scanner: "clamav", DatabaseVersion: "clamav-27551", PreviousVersion: "clamav-27550",
			Started: now.Add(-3 * day), Finished: now.Add(-3*day + 9*time.Second), State: catalog.SweepFinished, Images: len(d.Entries),
			Outcomes: map[string]int{"unchanged": len(d.Entries)}},
		{ID: "sweep-0002", Kind: catalog.SweepRequest, Trigger: "request", Scanner: "osv", DatabaseVersion: "osv-2026-02-14",
			Started: now.Add(-14 * day), Finished: now.Add(-14*day + 800*time.Millisecond), State: catalog.SweepFinished,
			Reason: "rescan requested for " + cur.Repository, Images: 1, Outcomes: map[string]int{"written": 1}},
		{ID: "sweep-0001", Kind: catalog.SweepDelta, Trigger: "database", Scanner: "osv", DatabaseVersion: "osv-2026-02-14", PreviousVersion: "osv-2026-01-29",
			Started: now.Add(-14*day - 2*time.Hour), Finished: now.Add(-14*day - 2*time.Hour + 2*time.Second), State: catalog.SweepFinished,
			Diff: &catalog.SweepDiff{Added: 1, Changed: 2, Packages: 2, Affected: 4}, Images: 4, Outcomes: map[string]int{"written": 3, "unchanged": 1}},
	}
	return d, nil
}

func seedImage(ctx context.Context, reg Opener, prefix string, spec imageSpec, now time.Time) (*catalog.Entry, error) {
	loc := registry.Join(prefix, spec.repo)
	repo, err := reg.Repository(ctx, loc)
	if err != nil {
		return nil, err
	}
	promoted := spec.reports[0].at.Add(-time.Hour)
	e := &catalog.Entry{
		Repository: loc, Tags: spec.tags, Status: spec.status, Replacement: spec.replacement, Owner: spec.owner, Labels: spec.labels,
		Source:     catalog.Source{Reference: spec.source, Digest: digest.FromString("upstream " + spec.seed)},
		AcquiredAt: promoted.Add(-3 * time.Minute), PromotedAt: promoted,
		Decision: &catalog.Decision{Policy: "golden-baseline v3", Result: "PASSED", Mode: "enforce",
			Verifier: "https://github.com/cssc-go/cssc/acquire", Digest: digest.FromString("vsa " + spec.seed)},
	}
	if !spec.eol.IsZero() {
		marker := digest.FromString("eol " + spec.seed)
		e.EndOfLife = &catalog.EndOfLife{Date: spec.eol, Source: catalog.SourceMarker, Marker: marker,
			Reason:  "the image's own date (signed lifecycle marker) is the earliest",
			Sources: []catalog.EndOfLifeSource{{Role: "image", Source: catalog.SourceMarker, Date: spec.eol, Detail: marker.String()}}}
		switch osID(spec.eco) {
		case "alpine":
			base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
			e.EndOfLife.Sources = append(e.EndOfLife.Sources, catalog.EndOfLifeSource{Role: "base-os", Source: "data-file", Date: base, Detail: "alpine 3.20"})
		default:
			base := time.Date(2028, 6, 30, 0, 0, 0, 0, time.UTC)
			e.EndOfLife.Sources = append(e.EndOfLife.Sources, catalog.EndOfLifeSource{Role: "base-os", Source: "data-file", Date: base, Detail: "debian 12"})
			if base.Before(spec.eol) {
				e.EndOfLife.Date, e.EndOfLife.Source, e.EndOfLife.Reason = base, "data-file", "the base OS (debian 12) ends first"
			}
		}
	}
	sig := catalog.Signature{Verified: !spec.unsigned}
	if !spec.unsigned {
		sig.Identities = []string{Signer}
	}
	var manifests []ocispec.Descriptor
	for _, ps := range spec.platforms {
		os, arch, _ := cut(ps.platform)
		img := imagetest.Image{
			Platform: ocispec.Platform{OS: os, Architecture: arch},
			Layers: []imagetest.Blob{imagetest.Layer(
				imagetest.OSRelease(osID(spec.eco), osVersion(spec.eco), ""),
				imagetest.File{Path: "etc/demo-seed", Data: []byte(spec.seed + " " + ps.platform)},
			)},
			Labels: map[string]string{"org.opencontainers.image.source": "https://example.com/" + spec.repo},
		}
		desc, err := img.Push(ctx, repo)
		if err != nil {
			return nil, err
		}
		desc.Platform = &ocispec.Platform{OS: os, Architecture: arch}
		manifests = append(manifests, desc)
		c := catalog.Child{Digest: desc.Digest, MediaType: desc.MediaType, Platform: ps.platform, Size: desc.Size + 2048, Signature: sig}
		// SBOM
		doc := &sbom.Document{Name: loc + "@" + desc.Digest.String(), Created: promoted, Creators: []string{"Tool: cssc-demo"}}
		for _, p := range ps.pkgs {
			sp := sbom.Package{Name: p.name, Version: p.version, Ecosystem: spec.eco, SourceName: p.source,
				PURL: purl(spec.eco, p.name, p.version)}
			if p.license != "" {
				sp.Licenses = []string{p.license}
			}
			doc.Packages = append(doc.Packages, sp)
			cp := catalog.Package{Name: p.name, Version: p.version, Ecosystem: spec.eco, PURL: sp.PURL, SourceName: p.source, Licenses: sp.Licenses}
			c.Packages = append(c.Packages, cp)
		}
		spdx, err := sbom.EncodeSPDX(doc, sbom.SPDXOptions{Subject: desc.Digest.String(), Created: promoted})
		if err != nil {
			return nil, err
		}
		sd, err := registry.Attach(ctx, repo, desc, registry.Artifact{ArtifactType: artifact.TypeSPDX, Created: promoted,
			Blobs: []registry.Blob{{MediaType: artifact.MediaTypeSPDX, Data: spdx}}})
		if err != nil {
			return nil, err
		}
		if spec.noSBOM {
			e.Problems = append(e.Problems, catalog.Problem{Subject: desc.Digest, Evidence: catalog.EvidenceSBOM, Reason: catalog.ReasonUntrusted,
				Artifact: sd.Digest, Detail: "signed by ghcr.io/contoso CI, not by the enterprise key"})
			c.Packages = nil
		} else {
			c.SBOM = &catalog.SBOM{Digest: sd.Digest, MediaType: artifact.MediaTypeSPDX, Packages: len(ps.pkgs)}
		}
		// Reports
		for i, rs := range spec.reports {
			rep := &scan.Report{Kind: artifact.ReportKindVulnerability, Tool: scan.Tool{Name: "osv", Version: "cssc 0.9", DatabaseVersion: rs.db},
				Subject: desc.Digest, Time: rs.at}
			for _, v := range rs.vulns {
				f := scan.Finding{ID: v.id, Package: scan.Package{Name: v.pkg, Version: v.version, Ecosystem: spec.eco}, FixedVersion: v.fixed,
					Severity: v.sev, Summary: v.summary}
				if v.alias != "" {
					f.Aliases = []string{v.alias}
				}
				rep.Findings = append(rep.Findings, f)
			}
			sarif, err := rep.SARIF()
			if err != nil {
				return nil, err
			}
			rd, err := registry.Attach(ctx, repo, desc, registry.Artifact{ArtifactType: artifact.TypeSARIF, Created: rs.at,
				Annotations: map[string]string{artifact.AnnotationReportKind: artifact.ReportKindVulnerability, artifact.AnnotationScanner: "osv",
					artifact.AnnotationDatabaseVersion: rs.db},
				Blobs: []registry.Blob{{MediaType: artifact.MediaTypeSARIF, Data: sarif}}})
			if err != nil {
				return nil, err
			}
			trusted := !spec.untrusted
			e.Reports = append(e.Reports, catalog.Report{Subject: desc.Digest, Digest: rd.Digest, Kind: artifact.ReportKindVulnerability,
				Scanner: "osv", ScannerVersion: "cssc 0.9", DatabaseVersion: rs.db, Time: rs.at, Findings: len(rs.vulns), Trusted: trusted})
			if i == len(spec.reports)-1 && trusted {
				c.Vulnerabilities = catalog.VulnerabilitySummary{Scanned: true, DatabaseVersions: []string{rs.db}}
				for _, f := range rep.Findings {
					c.Findings = append(c.Findings, catalog.Finding{ID: f.ID, Aliases: f.Aliases, Package: f.Package.Name, Version: f.Package.Version,
						FixedVersion: f.FixedVersion, Severity: f.Severity.String()})
				}
			}
		}
		if spec.untrusted {
			e.Problems = append(e.Problems, catalog.Problem{Subject: desc.Digest, Evidence: catalog.EvidenceVulnReport, Reason: catalog.ReasonUntrusted,
				Artifact: e.Reports[len(e.Reports)-1].Digest, Detail: "signature does not verify with the enterprise trust store"})
		}
		if spec.unsigned {
			e.Problems = append(e.Problems, catalog.Problem{Subject: desc.Digest, Evidence: catalog.EvidenceSignature, Reason: catalog.ReasonMissing})
		}
		if !spec.noMalware {
			c.Malware = catalog.MalwareSummary{Scanned: true, DatabaseVersions: []string{"clamav-27551"}}
			if spec.malware != "" {
				c.Malware.Detections, c.Malware.Names = 1, []string{spec.malware}
			}
			e.Reports = append(e.Reports, catalog.Report{Subject: desc.Digest, Digest: digest.FromString("malware " + spec.seed + ps.platform),
				Kind: artifact.ReportKindMalware, Scanner: "clamav", ScannerVersion: "1.0.7", DatabaseVersion: "clamav-27551",
				Time: promoted.Add(-2 * time.Minute), Findings: c.Malware.Detections, Trusted: true})
		} else {
			e.Problems = append(e.Problems, catalog.Problem{Subject: desc.Digest, Evidence: catalog.EvidenceMalware, Reason: catalog.ReasonMissing})
		}
		e.Children = append(e.Children, c)
	}
	if len(manifests) == 1 {
		e.Digest, e.MediaType = manifests[0].Digest, manifests[0].MediaType
		e.Children[0].Digest = e.Digest
	} else {
		idx, err := imagetest.PushIndex(ctx, repo, manifests...)
		if err != nil {
			return nil, err
		}
		e.Digest, e.MediaType = idx.Digest, idx.MediaType
	}
	e.Signature = sig
	var size int64
	for _, c := range e.Children {
		size += c.Size
	}
	e.Size = size
	for _, t := range spec.tags {
		desc, err := repo.Resolve(ctx, e.Digest.String())
		if err != nil {
			return nil, err
		}
		if err := repo.Tag(ctx, desc, t); err != nil {
			return nil, err
		}
	}
	e.Normalize()
	return e, nil
}

func cut(platform string) (os, arch string, ok bool) {
	for i := range len(platform) {
		if platform[i] == '/' {
			return platform[:i], platform[i+1:], true
		}
	}
	return platform, "", false
}

func osID(eco string) string {
	if eco == "Alpine:v3.20" {
		return "alpine"
	}
	return "debian"
}

func osVersion(eco string) string {
	if eco == "Alpine:v3.20" {
		return "3.20.3"
	}
	return "12"
}

func purl(eco, name, version string) string {
	if eco == "Alpine:v3.20" {
		return "pkg:apk/alpine/" + name + "@" + version + "?distro=3.20"
	}
	return "pkg:deb/debian/" + name + "@" + version + "?distro=debian-12"
}
