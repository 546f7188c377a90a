package attest_test

import (
	"context"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/sign"
)

// TestBuildEvidence: an image passes only if every platform does (an SBOM
// or a kind of scan counts only when every platform has one), packages are
// listed once, the publisher's provenance counts only when it names the
// image, and signatures keep their outcome.
func TestBuildEvidence(t *testing.T) {
	ctx := context.Background()
	repo, err := registry.NewClient(registry.Options{}).Repository(ctx, "mem:evidence")
	require.NoError(t, err)
	amd64 := pushImage(ctx, t, repo, "amd64")
	arm64 := pushImage(ctx, t, repo, "arm64")
	index, err := imagetest.PushIndex(ctx, repo, amd64, arm64)
	require.NoError(t, err)
	other := pushImage(ctx, t, repo, "s390x")

	// Provenance referrers of the index: the publisher's about another
	// image, and one about amd64 that claims to be cssc's.
	attachProv := func(about ocispec.Descriptor, ann map[string]string) ocispec.Descriptor {
		d, err := registry.Attach(ctx, repo, index, registry.Artifact{ArtifactType: artifact.TypeInToto, Annotations: ann,
			Blobs: []registry.Blob{{MediaType: artifact.MediaTypeInToto, Data: provV1(t, about)}}})
		require.NoError(t, err)
		return d
	}
	attachProv(other, nil)
	attachProv(amd64, map[string]string{artifact.AnnotationGeneratedBy: "cssc"})
	md, err := attest.Discover(ctx, repo, index, nil)
	require.NoError(t, err)
	require.Len(t, findItems(md, attest.FormReferrer, attest.KindProvenance, index.Digest), 2, "precondition: both provenance referrers found")
	generatedProv := digest.FromString("cssc provenance")

	generated := &sbom.Document{Packages: []sbom.Package{
		{Name: "openssl", Version: "3.0.15-1~deb12u1", PURL: "pkg:deb/debian/openssl@3.0.15-1~deb12u1"},
		{Name: "zlib", Version: "1.2.13"},
	}}
	publisher := &sbom.Document{Packages: []sbom.Package{
		{Name: "openssl", Version: "3.0.15-1~deb12u1", PURL: "pkg:deb/debian/openssl@3.0.15-1~deb12u1", Licenses: []string{"Apache-2.0"}},
		{Name: "busybox", Version: "1.36", Licenses: []string{"GPL-2.0-only"}},
	}}
	vuln := func(subject digest.Digest, id string) *scan.Report {
		return &scan.Report{Kind: artifact.ReportKindVulnerability, Tool: scan.Tool{Name: "osv", DatabaseVersion: "db1"}, Subject: subject,
			Findings: []scan.Finding{{ID: id, Severity: scan.SeverityHigh, Package: scan.Package{Name: "zlib", Version: "1.2.13"}}}}
	}
	malware := &scan.Report{Kind: artifact.ReportKindMalware, Tool: scan.Tool{Name: "clamav"}, Subject: amd64.Digest,
		Declared: scan.Declaration{Malware: true}}
	secrets := &scan.Report{Kind: "secrets", Tool: scan.Tool{Name: "keyfinder"}, Subject: arm64.Digest,
		Findings: []scan.Finding{{ID: "private-key", Severity: scan.SeverityHigh, Path: "etc/key.pem"}}}
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	in := &attest.EvidenceInput{
		Time:   now,
		Source: policy.Reference{Registry: "docker.io", Repository: "library/app", Tag: "1", Digest: index.Digest.String()},
		Root:   index,
		Images: []attest.EvidenceImage{
			{Descriptor: amd64, SBOM: generated, SBOMSource: policy.SourceGenerated, PublisherSBOM: publisher},
			{Descriptor: arm64},
		},
		Verification: &sign.Verification{Subject: index, Signatures: []sign.Signature{
			{Format: sign.FormatNotationJWS, State: sign.StateFailed, Identity: "CN=pub", Cause: "untrusted"},
		}},
		Metadata:            md,
		GeneratedProvenance: generatedProv,
		Reports:             []*scan.Report{vuln(arm64.Digest, "CVE-2"), vuln(amd64.Digest, "CVE-1"), malware, secrets},
		EndOfLife:           now.AddDate(1, 0, 0),
	}
	ev := attest.BuildEvidence(in)
	assert.Equal(t, now, ev.Time)
	assert.Equal(t, "library/app", ev.Source.Repository)
	assert.Empty(t, ev.Platform, "no single platform for an index of two")
	assert.False(t, ev.SBOM.Present, "arm64 has no SBOM: got %+v", ev.SBOM)
	assert.Equal(t, policy.SourceGenerated, ev.SBOM.Source)
	var names []string
	for _, p := range ev.Packages {
		names = append(names, p.Name)
	}
	assert.Equal(t, []string{"openssl", "zlib", "busybox"}, names, "packages of both SBOMs, each once")
	assert.Equal(t, policy.Attestation{Present: true, Source: policy.SourceGenerated, Digest: generatedProv.String()}, ev.Provenance,
		"the publisher's statement names another image, the other claims to be cssc's: cssc's provenance counts")
	require.Len(t, ev.Signatures, 1)
	assert.Equal(t, policy.Signature{Verifier: "notation", Format: sign.FormatNotationJWS, Identity: "CN=pub", State: "failed", Cause: "untrusted"}, ev.Signatures[0])
	assert.True(t, ev.Vulnerabilities.Scanned, "both platforms have a vulnerability report")
	assert.Equal(t, "osv", ev.Vulnerabilities.Scanner, "scanner named once")
	require.Len(t, ev.Vulnerabilities.Findings, 2)
	assert.Equal(t, "CVE-1", ev.Vulnerabilities.Findings[0].ID, "findings sorted")
	assert.False(t, ev.Malware.Scanned, "arm64 has no malware report")
	assert.Equal(t, []policy.Report{{Kind: "secrets", Scanner: "keyfinder", Platform: "linux/arm64",
		Findings: []policy.Finding{{ID: "private-key", Severity: "high", Path: "etc/key.pem"}}}}, ev.Reports, "reports of other kinds, for the rule reports")
	assert.Equal(t, now.AddDate(1, 0, 0), ev.EndOfLife)

	// Every platform with an SBOM, and publisher provenance about amd64.
	pub := attachProv(amd64, nil)
	in.Metadata, err = attest.Discover(ctx, repo, index, nil)
	require.NoError(t, err)
	in.Images[1].SBOM, in.Images[1].SBOMSource = publisher, policy.SourcePublisher
	ev = attest.BuildEvidence(in)
	assert.True(t, ev.SBOM.Present, "every platform has an SBOM")
	assert.Equal(t, policy.SourceGenerated, ev.SBOM.Source, "generated wins when any platform's SBOM is cssc's")
	assert.Equal(t, policy.Attestation{Present: true, Source: policy.SourcePublisher, Digest: pub.Digest.String()}, ev.Provenance)

	// One platform: it is named, and one malware report covers it.
	in.Images = in.Images[:1]
	ev = attest.BuildEvidence(in)
	assert.Equal(t, "linux/amd64", ev.Platform)
	assert.True(t, ev.Malware.Scanned, "one platform, one malware report")
	assert.Empty(t, ev.SBOM.Skipped)

	// An SBOM that skipped a file is incomplete, and the evidence says so.
	incomplete := *generated
	incomplete.Skipped = []sbom.SkippedFile{{Path: "usr/bin/big", Layer: "sha256:aa", Reason: "file of 600 bytes exceeds the 500-byte limit"}}
	in.Images[0].SBOM = &incomplete
	ev = attest.BuildEvidence(in)
	assert.True(t, ev.SBOM.Present)
	assert.Equal(t, []string{"usr/bin/big (layer sha256:aa): file of 600 bytes exceeds the 500-byte limit"}, ev.SBOM.Skipped)
}

// TestBuildEvidenceMalwareNeedsDeclaredScanner: a report of kind malware
// makes the image malware-scanned only if its scanner declares itself a
// malware scanner; any malware report's findings are detections; a report
// of any other kind reaches Reports, findings and all.
func TestBuildEvidenceMalwareNeedsDeclaredScanner(t *testing.T) {
	img := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("image"), Size: 1,
		Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}}
	clean := func(declared bool) *scan.Report {
		return &scan.Report{Kind: artifact.ReportKindMalware, Tool: scan.Tool{Name: "lint"}, Subject: img.Digest,
			Declared: scan.Declaration{Malware: declared}}
	}
	build := func(reps ...*scan.Report) *policy.Evidence {
		return attest.BuildEvidence(&attest.EvidenceInput{Root: img, Images: []attest.EvidenceImage{{Descriptor: img}}, Reports: reps})
	}

	ev := build(clean(false))
	assert.False(t, ev.Malware.Scanned, "an undeclared scanner's clean malware report: got scanned, want not")
	assert.Empty(t, ev.Malware.Scanner, "an undeclared scanner is not named as the malware scanner")

	ev = build(clean(true))
	assert.True(t, ev.Malware.Scanned, "a declared malware scanner's report: got not scanned")
	assert.True(t, ev.Malware.Complete)
	assert.Equal(t, "lint", ev.Malware.Scanner)

	found := clean(false)
	found.Findings = []scan.Finding{{ID: "Eicar-Signature", Path: "tmp/eicar", Layer: "sha256:aa"}}
	ev = build(found)
	assert.False(t, ev.Malware.Scanned)
	assert.Equal(t, []policy.Detection{{Name: "Eicar-Signature", Path: "tmp/eicar", Layer: "sha256:aa"}}, ev.Malware.Detections,
		"detections count whoever reported them")

	custom := &scan.Report{Kind: "keys", Tool: scan.Tool{Name: "keyfinder"}, Subject: img.Digest,
		Findings: []scan.Finding{{ID: "private-key", Path: "etc/key.pem"}}}
	ev = build(custom, clean(true))
	assert.Equal(t, []policy.Report{{Kind: "keys", Scanner: "keyfinder", Platform: "linux/amd64",
		Findings: []policy.Finding{{ID: "private-key", Severity: "unknown", Path: "etc/key.pem"}}}}, ev.Reports,
		"a custom kind reaches the evidence with its findings")
}

// TestAttachAndReportArtifact: Attach marks what cssc made (Created,
// generated-by) and is idempotent; Discover sees the mark (Item.Generated)
// and Metadata.Publisher leaves those items out; a report artifact decodes
// back to the same findings.
func TestAttachAndReportArtifact(t *testing.T) {
	ctx := context.Background()
	repo, err := registry.NewClient(registry.Options{}).Repository(ctx, "mem:attach")
	require.NoError(t, err)
	img := pushImage(ctx, t, repo, "amd64")
	created := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)

	rep := &scan.Report{Kind: artifact.ReportKindVulnerability, Tool: scan.Tool{Name: "osv", DatabaseVersion: "db-7"}, Subject: img.Digest, Time: created,
		Findings: []scan.Finding{{ID: "CVE-2024-1", Severity: scan.SeverityCritical, Package: scan.Package{Name: "zlib", Version: "1.2.13"}}}}
	a, err := attest.ReportArtifact(rep, created, "")
	require.NoError(t, err)
	assert.Equal(t, artifact.TypeSARIF, a.ArtifactType)
	assert.Equal(t, map[string]string{artifact.AnnotationReportKind: artifact.ReportKindVulnerability, artifact.AnnotationScanner: "osv", artifact.AnnotationDatabaseVersion: "db-7",
		artifact.AnnotationScannerDeclaration: artifact.DeclarationNone}, a.Annotations,
		"no generated-by without a generator name; the scanner declares nothing")
	mal, err := attest.ReportArtifact(&scan.Report{Kind: artifact.ReportKindMalware, Tool: scan.Tool{Name: "clamav"}, Subject: img.Digest, Declared: scan.Declaration{Malware: true}}, created, "")
	require.NoError(t, err)
	assert.Equal(t, artifact.DeclarationMalware, mal.Annotations[artifact.AnnotationScannerDeclaration], "a malware scanner's declaration is recorded")
	lie, err := attest.ReportArtifact(&scan.Report{Kind: artifact.ReportKindMalware, Tool: scan.Tool{Name: "keyfinder"}, Subject: img.Digest}, created, "")
	require.NoError(t, err)
	assert.Equal(t, artifact.DeclarationNone, lie.Annotations[artifact.AnnotationScannerDeclaration], "the kind is not a declaration")
	require.Len(t, a.Blobs, 1)
	back, err := scan.DecodeSARIF(a.Blobs[0].Data)
	require.NoError(t, err)
	assert.Equal(t, rep.Findings[0].ID, back.Findings[0].ID)
	_, err = attest.ReportArtifact(nil, created, "")
	assert.Error(t, err, "nil report")

	custom := registry.Artifact{ArtifactType: "application/vnd.example.note", Blobs: []registry.Blob{{MediaType: "text/plain", Data: []byte("note")}}}
	publisher, err := registry.Attach(ctx, repo, img, registry.Artifact{ArtifactType: "application/vnd.example.publisher", Created: created,
		Blobs: []registry.Blob{{MediaType: "text/plain", Data: []byte("from the publisher")}}})
	require.NoError(t, err)
	first, err := attest.Attach(ctx, repo, img, created, a, custom)
	require.NoError(t, err)
	require.Len(t, first, 2)
	again, err := attest.Attach(ctx, repo, img, created, a, custom)
	require.NoError(t, err)
	assert.Equal(t, first, again, "attaching again gives the same digests")
	assert.Nil(t, custom.Annotations, "the caller's artifact is not modified")

	md, err := attest.Discover(ctx, repo, img, nil)
	require.NoError(t, err)
	generated := map[digest.Digest]bool{}
	for _, it := range md.For(img.Digest) {
		generated[it.Manifest.Digest] = it.Generated()
	}
	assert.Equal(t, map[digest.Digest]bool{first[0].Digest: true, first[1].Digest: true, publisher.Digest: false}, generated)
	pub := md.Publisher()
	require.Len(t, pub.Items, 1)
	assert.Equal(t, publisher.Digest, pub.Items[0].Manifest.Digest)
	assert.Len(t, md.Items, 3, "Publisher does not modify the metadata")
	assert.Nil(t, (*attest.Metadata)(nil).Publisher())
}
