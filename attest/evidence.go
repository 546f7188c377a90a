package attest

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/sign"
)

// EvidenceInput is what BuildEvidence turns into policy evidence: what the
// checks found about one image (a manifest or an index and its platform
// manifests). The acquire pipeline fills it from its steps; a catalog can
// fill it from the referrers of a golden image (Discover, scan.DecodeSARIF,
// a sign.Verifier).
type EvidenceInput struct {
	// Time is the time of the decision (expiring exceptions and end-of-life
	// windows are measured from it).
	Time time.Time
	// Source is where the image came from.
	Source policy.Reference
	// Root is the image manifest or index the decision is about.
	Root ocispec.Descriptor
	// Images are the platform image manifests of Root (Root itself for a
	// single manifest). The image passes only if every platform does: an
	// SBOM or a kind of scan counts only if every image has one.
	Images []EvidenceImage
	// Verification is the outcome of verifying the publisher's signatures.
	// Nil means they were not verified (no signature evidence).
	Verification *sign.Verification
	// Metadata is what Discover found. Only the publisher's items count
	// (Item.Generated ones are ignored): its provenance counts when it names
	// Root or one of Images among its subjects. Nil means none.
	Metadata *Metadata
	// GeneratedProvenance is the digest of cssc's acquisition provenance,
	// which counts when the publisher gave none. Empty means none.
	GeneratedProvenance digest.Digest
	// Reports are the scan reports, each with Subject set to the digest of
	// one of Images. Every one reaches the evidence: vulnerability reports
	// as Vulnerabilities, malware reports as Malware, every other kind as
	// one of Reports (the policy's rule "reports" fails a kind it does not
	// name). A malware report makes the image malware-scanned only if its
	// Declared.Malware is true (its scanner declares itself a malware
	// scanner); the findings of any malware report are detections.
	Reports []*scan.Report
	// EndOfLife is the end-of-life date in force. Zero means unknown.
	EndOfLife time.Time
}

// EvidenceImage is one platform image manifest and the SBOMs known for it.
type EvidenceImage struct {
	// Descriptor is the image manifest; its Platform names the platform.
	Descriptor ocispec.Descriptor
	// SBOM is the SBOM the vulnerability scanners matched. Nil means none.
	SBOM *sbom.Document
	// SBOMSource says who supplied SBOM: policy.SourcePublisher or
	// policy.SourceGenerated.
	SBOMSource string
	// PublisherSBOM is the publisher's SBOM when it is not SBOM (cssc
	// generated its own): its packages and licences count too. Nil means
	// none.
	PublisherSBOM *sbom.Document
}

// BuildEvidence assembles the policy evidence from in. Findings of all
// platforms are merged; packages are listed once (by purl, else name and
// version); vulnerability findings are sorted by ID and package; scanner
// names and database versions are listed once each, comma-separated.
func BuildEvidence(in *EvidenceInput) *policy.Evidence {
	ev := &policy.Evidence{Time: in.Time, Source: in.Source}
	if len(in.Images) == 1 {
		if p := in.Images[0].Descriptor.Platform; p != nil {
			ev.Platform = platformString(p)
		}
	}
	if in.Verification != nil {
		for _, s := range in.Verification.Signatures {
			ev.Signatures = append(ev.Signatures, policy.Signature{
				Verifier: verifierOf(s.Format), Format: s.Format, Identity: s.Identity, Issuer: s.Issuer,
				State: string(s.State), Level: s.Level, Cause: s.Cause,
			})
		}
	}
	addSBOMs(ev, in.Images)
	addProvenance(ev, in)
	addReports(ev, in.Reports, len(in.Images))
	addOtherReports(ev, in)
	ev.EndOfLife = in.EndOfLife
	return ev
}

// addSBOMs records the SBOM (present only if every platform has one), the
// files any platform's SBOM skipped (an incomplete SBOM), and the packages
// of every platform's SBOMs.
func addSBOMs(ev *policy.Evidence, images []EvidenceImage) {
	sbomFrom, seen := "", map[string]bool{}
	allSBOM := true
	var skipped []string
	for _, pi := range images {
		if pi.SBOM == nil {
			allSBOM = false
			continue
		}
		for _, sk := range pi.SBOM.Skipped {
			s := sk.Path
			if sk.Layer != "" {
				s += " (layer " + sk.Layer + ")"
			}
			skipped = append(skipped, s+": "+sk.Reason)
		}
		if sbomFrom == "" || pi.SBOMSource == policy.SourceGenerated {
			sbomFrom = pi.SBOMSource
		}
		var pkgs []sbom.Package
		pkgs = append(pkgs, pi.SBOM.Packages...)
		if pi.PublisherSBOM != nil && pi.PublisherSBOM != pi.SBOM {
			pkgs = append(pkgs, pi.PublisherSBOM.Packages...)
		}
		for _, p := range pkgs {
			key := p.PURL
			if key == "" {
				key = p.Name + "@" + p.Version
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			ev.Packages = append(ev.Packages, policy.Package{Name: p.Name, Version: p.Version, PURL: p.PURL, Licenses: p.Licenses})
		}
	}
	ev.SBOM = policy.Attestation{Present: allSBOM && len(images) > 0, Source: sbomFrom, Skipped: skipped}
}

// addProvenance records the publisher's provenance, else cssc's. The
// publisher's statement counts only if it names the image (the root or one
// of its platform manifests) among its subjects.
func addProvenance(ev *policy.Evidence, in *EvidenceInput) {
	if in.Metadata != nil {
		for _, it := range in.Metadata.Items {
			if it.Provenance != nil && it.Err == nil && !it.Generated() && namesImage(it.Statement, in) {
				ev.Provenance = policy.Attestation{Present: true, Source: policy.SourcePublisher, Digest: it.Manifest.Digest.String()}
				return
			}
		}
	}
	if in.GeneratedProvenance != "" {
		ev.Provenance = policy.Attestation{Present: true, Source: policy.SourceGenerated, Digest: in.GeneratedProvenance.String()}
	}
}

// addReports records the findings of every report. A kind counts as
// scanned only if every one of the n platforms has a report of it, and
// malware only from a scanner that declares itself a malware scanner.
func addReports(ev *policy.Evidence, reports []*scan.Report, n int) {
	vulnScanned, malScanned := map[digest.Digest]bool{}, map[digest.Digest]bool{}
	for _, rep := range reports {
		switch rep.Kind {
		case artifact.ReportKindVulnerability:
			vulnScanned[rep.Subject] = true
			ev.Vulnerabilities.Scanner = addName(ev.Vulnerabilities.Scanner, rep.Tool.Name)
			ev.Vulnerabilities.DatabaseVersion = addName(ev.Vulnerabilities.DatabaseVersion, rep.Tool.DatabaseVersion)
			for _, f := range rep.Findings {
				ev.Vulnerabilities.Findings = append(ev.Vulnerabilities.Findings, policy.Vulnerability{
					ID: f.ID, Aliases: f.Aliases, Package: f.Package.Name, Version: f.Package.Version,
					FixedVersion: f.FixedVersion, Severity: policy.Severity(f.Severity.String()), CVSS: f.CVSS,
				})
			}
		case artifact.ReportKindMalware:
			if rep.Declared.Malware {
				malScanned[rep.Subject] = true
				ev.Malware.Scanner = addName(ev.Malware.Scanner, rep.Tool.Name)
			}
			for _, f := range rep.Findings {
				ev.Malware.Detections = append(ev.Malware.Detections, policy.Detection{Name: f.ID, Path: f.Path, Layer: f.Layer})
			}
		}
	}
	ev.Vulnerabilities.Scanned = len(vulnScanned) == n
	ev.Malware.Scanned = len(malScanned) == n
	ev.Malware.Complete = ev.Malware.Scanned
	sort.Slice(ev.Vulnerabilities.Findings, func(i, j int) bool {
		a, b := ev.Vulnerabilities.Findings[i], ev.Vulnerabilities.Findings[j]
		return a.ID+a.Package < b.ID+b.Package
	})
}

// addOtherReports records the reports of every kind other than
// vulnerability and malware, one per scanner and platform, for the rule
// "reports" (which fails a kind the policy does not name).
func addOtherReports(ev *policy.Evidence, in *EvidenceInput) {
	for _, rep := range in.Reports {
		if rep.Kind == artifact.ReportKindVulnerability || rep.Kind == artifact.ReportKindMalware {
			continue
		}
		pr := policy.Report{Kind: rep.Kind, Scanner: rep.Tool.Name}
		for _, pi := range in.Images {
			if pi.Descriptor.Digest == rep.Subject && pi.Descriptor.Platform != nil {
				pr.Platform = platformString(pi.Descriptor.Platform)
			}
		}
		for _, f := range rep.Findings {
			pr.Findings = append(pr.Findings, policy.Finding{
				ID: f.ID, Severity: policy.Severity(f.Severity.String()), CVSS: f.CVSS, Path: f.Path, Package: f.Package.Name,
			})
		}
		ev.Reports = append(ev.Reports, pr)
	}
}

// namesImage reports whether an in-toto statement has the root or one of
// the platform manifests as a subject.
func namesImage(st *Statement, in *EvidenceInput) bool {
	if st == nil || st.Proto == nil {
		return false
	}
	for _, sub := range st.Proto.GetSubject() {
		for alg, hex := range sub.GetDigest() {
			d := digest.NewDigestFromEncoded(digest.Algorithm(alg), hex)
			if d == in.Root.Digest || slices.ContainsFunc(in.Images, func(pi EvidenceImage) bool { return pi.Descriptor.Digest == d }) {
				return true
			}
		}
	}
	return false
}

// addName adds name to a comma-separated list unless it is there already.
func addName(list, name string) string {
	if name == "" || slices.Contains(strings.Split(list, ", "), name) {
		return list
	}
	if list == "" {
		return name
	}
	return list + ", " + name
}

// verifierOf names the verifier of a signature format as the policy's
// signature rules do ("notation", "cosign").
func verifierOf(format string) string {
	switch format {
	case sign.FormatNotationJWS, sign.FormatNotationCOSE:
		return "notation"
	case sign.FormatCosign, sign.FormatSigstoreBundle:
		return "cosign"
	}
	return format
}
