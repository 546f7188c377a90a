package catalogtest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/catalog"
)

// Now returns the fixed time the corpus's end-of-life dates are relative
// to: 2026-03-01T12:00:00Z.
func Now() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

// Digest returns a deterministic digest for s.
func Digest(s string) digest.Digest { return digest.FromString(s) }

// CorpusOptions shape a generated corpus.
type CorpusOptions struct {
	// Seed seeds the generator; the same options give the same corpus.
	Seed uint64
	// Entries is the number of entries. Zero means 200.
	Entries int
	// Packages is the number of packages per child. Zero means 12.
	Packages int
	// PackagePool is the number of distinct package names. Zero means 400.
	PackagePool int
}

var (
	ecosystems = []string{"Debian:12", "Alpine:v3.20", "npm", "Go", "PyPI"}
	licenses   = []string{"MIT", "Apache-2.0", "GPL-2.0-only", "BSD-3-Clause", "LGPL-2.1-or-later", "MPL-2.0", "ISC"}
	severities = []string{catalog.SeverityLow, catalog.SeverityMedium, catalog.SeverityHigh, catalog.SeverityCritical, catalog.SeverityUnknown}
	platforms  = []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x"}
	teams      = []string{"payments", "search", "platform", "data", "web"}
	signers    = []string{"C=US, ST=WA, O=Corp, CN=Corp Golden Signing", "C=US, ST=WA, O=Corp, CN=Corp Legacy Signing"}
)

// PackageName returns the name of package i of the pool.
func PackageName(i int) string {
	return fmt.Sprintf("pkg%03d-%s", i, []string{"ssl", "zlib", "core", "util", "http"}[i%5])
}

// PackageVersion returns the version of package i of the pool in entry n.
func PackageVersion(i, n int) string { return fmt.Sprintf("%d.%d.%d", 1+i%3, n%7, (n/7)%11) }

// Corpus returns a deterministic set of varied, normalized entries: several
// registries and repositories, single images and indexes, packages from
// five ecosystems with licences, findings with aliases, severities and
// fixes, end-of-life dates around Now, statuses, owners, labels, signers,
// and entries with problems.
func Corpus(o CorpusOptions) []*catalog.Entry {
	if o.Entries == 0 {
		o.Entries = 200
	}
	if o.Packages == 0 {
		o.Packages = 12
	}
	if o.PackagePool == 0 {
		o.PackagePool = 400
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	out := make([]*catalog.Entry, 0, o.Entries)
	for n := range o.Entries {
		team := teams[n%len(teams)]
		reg := []string{"registry.corp/golden", "mirror.corp:5000/golden", "oci:/var/golden"}[n%3]
		repo := fmt.Sprintf("%s/%s/app%02d", reg, team, (n/3)%40)
		e := &catalog.Entry{
			Repository: repo,
			Digest:     Digest(fmt.Sprintf("entry-%d-%d", o.Seed, n)),
			MediaType:  ocispec.MediaTypeImageManifest,
			Size:       int64(1000 + rng.IntN(1<<20)),
			Tags:       []string{fmt.Sprintf("1.%d", n%13)},
			Source:     catalog.Source{Reference: "docker.io/library/" + team + ":1", Digest: Digest(fmt.Sprintf("src-%d", n))},
			AcquiredAt: Now().Add(-time.Duration(n) * time.Hour),
			PromotedAt: Now().Add(-time.Duration(n)*time.Hour + time.Minute),
			Owner:      []string{"", "team-" + team, "team-" + team, "sre"}[n%4],
			Status:     []catalog.Status{catalog.StatusActive, catalog.StatusActive, catalog.StatusDeprecated, catalog.StatusRetired}[n%4],
		}
		if n%5 == 0 {
			e.Tags = append(e.Tags, "latest")
		}
		if n%3 != 2 {
			e.Labels = map[string]string{"tier": []string{"gold", "silver", "bronze"}[n%3]}
			if n%7 == 0 {
				e.Labels["pci"] = "true"
			}
		}
		if n%6 != 5 {
			e.Signature = catalog.Signature{Verified: true, Identities: []string{signers[n%2]}}
		} else {
			e.Problems = append(e.Problems, catalog.Problem{Subject: e.Digest, Evidence: catalog.EvidenceSignature, Reason: catalog.ReasonMissing})
		}
		if n%4 != 3 {
			e.EndOfLife = &catalog.EndOfLife{Date: Now().Add(time.Duration(rng.IntN(900)-200) * 24 * time.Hour).Truncate(time.Second), Source: catalog.SourceMarker, Marker: Digest(fmt.Sprintf("eol-%d", n))}
			if n%8 == 0 {
				// As catalog/lifecycle records them: every date considered.
				e.EndOfLife.Reason = "the image's own date is the earliest"
				e.EndOfLife.Sources = []catalog.EndOfLifeSource{
					{Role: "runtime", Source: "data-file", Date: e.EndOfLife.Date.Add(400 * 24 * time.Hour), Detail: "go 1.22"},
					{Role: "image", Source: catalog.SourceMarker, Date: e.EndOfLife.Date, Detail: string(e.EndOfLife.Marker)},
					{Role: "base-os", Source: "data-file", Detail: "debian 12: no date"},
				}
			}
		}
		nchildren := 1
		if n%4 == 1 {
			nchildren = 2 + rng.IntN(2)
			e.MediaType = ocispec.MediaTypeImageIndex
		}
		for c := range nchildren {
			ch := catalog.Child{
				Digest:    Digest(fmt.Sprintf("child-%d-%d-%d", o.Seed, n, c)),
				MediaType: ocispec.MediaTypeImageManifest,
				Platform:  platforms[(n+c)%len(platforms)],
				Size:      int64(500 + rng.IntN(1<<19)),
				Signature: e.Signature,
			}
			if nchildren == 1 {
				ch.Digest = e.Digest
			}
			eco := ecosystems[n%len(ecosystems)]
			if n%11 == 10 {
				e.Problems = append(e.Problems, catalog.Problem{Subject: ch.Digest, Evidence: catalog.EvidenceSBOM, Reason: catalog.ReasonUntrusted, Artifact: Digest(fmt.Sprintf("sbom-%d-%d", n, c))})
			} else {
				ch.SBOM = &catalog.SBOM{Digest: Digest(fmt.Sprintf("sbom-%d-%d", n, c)), MediaType: "application/spdx+json"}
				for range o.Packages {
					i := rng.IntN(o.PackagePool)
					p := catalog.Package{Name: PackageName(i), Version: PackageVersion(i, n), Ecosystem: eco,
						PURL: fmt.Sprintf("pkg:generic/%s@%s", PackageName(i), PackageVersion(i, n))}
					if i%4 == 0 {
						p.SourceName = fmt.Sprintf("src%03d", i/4)
					}
					if i%9 != 0 {
						p.Licenses = []string{licenses[i%len(licenses)]}
					}
					ch.Packages = append(ch.Packages, p)
				}
				ch.SBOM.Packages = len(ch.Packages)
			}
			if n%13 == 12 {
				e.Problems = append(e.Problems, catalog.Problem{Subject: ch.Digest, Evidence: catalog.EvidenceVulnReport, Reason: catalog.ReasonMissing})
			} else {
				ch.Vulnerabilities.Scanned = true
				ch.Vulnerabilities.DatabaseVersions = []string{fmt.Sprintf("osv-2026-02-%02d", 1+n%28)}
				for k := range rng.IntN(5) {
					if len(ch.Packages) == 0 {
						break
					}
					p := ch.Packages[rng.IntN(len(ch.Packages))]
					f := catalog.Finding{ID: fmt.Sprintf("CVE-2024-%04d", rng.IntN(300)), Package: p.Name, Version: p.Version, Severity: severities[(n+k)%len(severities)]}
					if k%2 == 0 {
						f.Aliases = []string{fmt.Sprintf("GHSA-%04d-xxxx", rng.IntN(300))}
					}
					if (n+k)%3 != 0 {
						f.FixedVersion = "99.0.0"
					}
					ch.Findings = append(ch.Findings, f)
				}
			}
			ch.Malware = catalog.MalwareSummary{Scanned: n%17 != 16, DatabaseVersions: []string{"clamav-27500"}}
			if n%29 == 28 {
				ch.Malware.Detections, ch.Malware.Names = 1, []string{"Eicar-Signature"}
			}
			e.Children = append(e.Children, ch)
			e.Reports = append(e.Reports, catalog.Report{Subject: ch.Digest, Digest: Digest(fmt.Sprintf("report-%d-%d", n, c)), Kind: "vulnerability",
				Scanner: "osv", DatabaseVersion: "osv-2026-02-01", Time: Now(), Findings: len(ch.Findings), Trusted: n%13 != 12})
		}
		e.Normalize()
		out = append(out, e)
	}
	return out
}
