package acquire_test

// Regression tests for forgery and fail-open scenarios found in review: a
// publisher who controls the source repository tries to get evidence or
// unchecked content past the pipeline.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"
)

// evilScanner reports a critical vulnerability for every package named
// "evil" in the SBOM it is given: a custom scanner, the plug-in point.
var evilScanner = scan.ScannerFunc(func(ctx context.Context, img *scan.Image) (*scan.Report, error) {
	rep := &scan.Report{Kind: artifact.ReportKindVulnerability, Tool: scan.Tool{Name: "evil-finder"}, Subject: img.Manifest.Digest}
	if img.SBOM == nil {
		return nil, scan.ErrNoImage
	}
	for _, p := range img.SBOM.Packages {
		if p.Name == "evil" {
			rep.Findings = append(rep.Findings, scan.Finding{ID: "CVE-0000-0001", Package: scan.Package{Name: "evil", Version: "1"}, Severity: scan.SeverityCritical, FixedVersion: "2"})
		}
	}
	return rep, nil
})

func pushRaw(t *testing.T, repo registry.Repository, mt string, data []byte) ocispec.Descriptor {
	t.Helper()
	d := ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(data), Size: int64(len(data))}
	require.NoError(t, repo.Push(context.Background(), d, bytes.NewReader(data)))
	return d
}

// forgeryPipeline builds a pipeline with a real notation signer and
// verifier, the evil scanner and the given SBOM generator.
func forgeryPipeline(t *testing.T, client *registry.Client, mode string, gen sbomFunc, lc *attest.LifecycleEnricher) *acquire.Pipeline {
	t.Helper()
	return newForgeryPipeline(t, client, "apiVersion: cssc.dev/policy/v1\nname: p\nmode: "+mode+"\nvulnerabilities:\n  maxSeverity: medium\nsbom: {required: true}\n", gen, lc)
}

// forgeryPipelineWithPolicy is forgeryPipeline with a policy document.
func forgeryPipelineWithPolicy(t *testing.T, client *registry.Client, doc string) *acquire.Pipeline {
	t.Helper()
	return newForgeryPipeline(t, client, doc, okGenerator, nil)
}

func newForgeryPipeline(t *testing.T, client *registry.Client, policyDoc string, gen sbomFunc, lc *attest.LifecycleEnricher) *acquire.Pipeline {
	t.Helper()
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{})
	require.NoError(t, err)
	leaf, err := ca.Issue(devpki.LeafOptions{})
	require.NoError(t, err)
	signer, err := notation.NewSigner(leaf.Key, leaf.Chain, notation.SignerOptions{})
	require.NoError(t, err)
	doc, err := policy.Parse([]byte(policyDoc))
	require.NoError(t, err)
	pol, err := policy.Compile(doc)
	require.NoError(t, err)
	cfg := acquire.Config{
		Client: client, Quarantine: "mem:q", Golden: "mem:g",
		Scanners:           []scan.Scanner{evilScanner},
		SBOM:               sbomEnricher(gen),
		Signer:             signer,
		EnterpriseVerifier: newVerifier(t, "corp", ca, "C=US, ST=WA, L=Seattle, O=cssc development, CN=cssc INSECURE development signer"),
		Policy:             pol,
	}
	if lc != nil {
		cfg.Lifecycle = lc
	}
	p, err := acquire.NewPipeline(cfg)
	require.NoError(t, err)
	return p
}

// emptyImage pushes an image without layers for arch and returns its
// descriptor with the platform set.
func emptyImage(t *testing.T, repo registry.Repository, arch string) ocispec.Descriptor {
	t.Helper()
	d, err := imagetest.Image{Platform: ocispec.Platform{OS: "linux", Architecture: arch}}.Push(context.Background(), repo)
	require.NoError(t, err)
	return d
}

// sbomFunc generates the SBOM of one platform image manifest.
type sbomFunc func(ctx context.Context, repo content.Fetcher, m ocispec.Descriptor) (*sbom.Document, error)

// sbomEnricher is the SBOM enricher that generates with gen.
func sbomEnricher(gen sbomFunc) *attest.SBOMEnricher {
	return &attest.SBOMEnricher{Generate: func(ctx context.Context, s *attest.Subject) (*sbom.Document, error) {
		return gen(ctx, s.Content, s.Descriptor)
	}}
}

func evilGenerator(_ context.Context, _ content.Fetcher, _ ocispec.Descriptor) (*sbom.Document, error) {
	return &sbom.Document{Packages: []sbom.Package{{Name: "evil", Version: "1"}}}, nil
}

func okGenerator(_ context.Context, _ content.Fetcher, _ ocispec.Descriptor) (*sbom.Document, error) {
	return &sbom.Document{Packages: []sbom.Package{{Name: "ok", Version: "1"}}}, nil
}

func TestForgedOwnSBOMIsNotTrusted(t *testing.T) {
	ctx := context.Background()
	client := registry.NewClient(registry.Options{})
	src, err := client.Repository(ctx, "mem:src/app")
	require.NoError(t, err)
	// platform image
	img := emptyImage(t, src, "amd64")
	// buildkit attestation claiming to be cssc's SBOM, empty.
	a, err := attest.SPDXArtifact(&sbom.Document{Name: "x"}, img.Digest, time.Unix(0, 0), "cssc")
	require.NoError(t, err)
	// As buildkit writes it: an in-toto statement with an SPDX predicate.
	stmt := fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"img","digest":{"sha256":%q}}],"predicateType":"https://spdx.dev/Document","predicate":%s}`, img.Digest.Encoded(), a.Blobs[0].Data)
	blob := pushRaw(t, src, artifact.MediaTypeInToto, stmt)
	blob.Annotations = map[string]string{artifact.AnnotationPredicateType: artifact.PredicateSPDX}
	empty := pushRaw(t, src, ocispec.MediaTypeEmptyJSON, []byte("{}"))
	am := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: empty, Layers: []ocispec.Descriptor{blob}, Annotations: map[string]string{artifact.AnnotationGeneratedBy: "cssc"}}
	am.SchemaVersion = 2
	araw, _ := json.Marshal(am)
	att := pushRaw(t, src, ocispec.MediaTypeImageManifest, araw)
	att.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
	att.Annotations = map[string]string{artifact.AnnotationDockerReferenceType: artifact.AttestationManifest, artifact.AnnotationDockerReferenceDigest: img.Digest.String()}
	root, err := imagetest.PushIndex(ctx, src, img, att)
	require.NoError(t, err)
	require.NoError(t, src.Tag(ctx, root, "v1"))

	p := forgeryPipeline(t, client, "enforce", evilGenerator, nil)
	rec, err := p.Run(ctx, "mem:src/app:v1", acquire.RunOptions{})
	assert.ErrorIs(t, err, acquire.ErrPolicyDenied, "the generated SBOM is scanned, not the forged one: %s", rec.Reason)
	assert.Equal(t, acquire.OutcomeDenied, rec.Outcome)
}

func TestHiddenPlatformFailsClosed(t *testing.T) {
	ctx := context.Background()
	client := registry.NewClient(registry.Options{})
	src, err := client.Repository(ctx, "mem:src/app")
	require.NoError(t, err)
	arm, amd := emptyImage(t, src, "arm64"), emptyImage(t, src, "amd64")
	// the amd64 image claims to be an attestation manifest
	amd.Annotations = map[string]string{artifact.AnnotationDockerReferenceType: artifact.AttestationManifest, artifact.AnnotationDockerReferenceDigest: arm.Digest.String()}
	root, err := imagetest.PushIndex(ctx, src, arm, amd)
	require.NoError(t, err)
	require.NoError(t, src.Tag(ctx, root, "v1"))
	p := forgeryPipeline(t, client, "enforce", okGenerator, nil)
	rec, err := p.Run(ctx, "mem:src/app:v1", acquire.RunOptions{})
	assert.ErrorIs(t, err, registry.ErrInvalidManifest, "an index entry that is neither checked nor an attestation fails the run")
	assert.Equal(t, acquire.OutcomeError, rec.Outcome)
	g, _ := client.Repository(ctx, "mem:g/app")
	ok, _ := g.Exists(ctx, amd)
	assert.False(t, ok, "the unchecked amd64 image must not reach golden")
}

func TestAuditThenEnforceReevaluates(t *testing.T) {
	ctx := context.Background()
	client := registry.NewClient(registry.Options{})
	src, err := client.Repository(ctx, "mem:src/app")
	require.NoError(t, err)
	img := emptyImage(t, src, "amd64")
	require.NoError(t, src.Tag(ctx, img, "v1"))
	rec, err := forgeryPipeline(t, client, "audit", evilGenerator, nil).Run(ctx, "mem:src/app:v1", acquire.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, acquire.OutcomeAudited, rec.Outcome)
	rec, err = forgeryPipeline(t, client, "enforce", evilGenerator, nil).Run(ctx, "mem:src/app:v1", acquire.RunOptions{})
	assert.ErrorIs(t, err, acquire.ErrPolicyDenied, "an audit-mode promotion is not a pass for the enforce policy")
	assert.Equal(t, acquire.OutcomeDenied, rec.Outcome, rec.Reason)
}

func TestUnchangedRerunAppliesNewTags(t *testing.T) {
	ctx := context.Background()
	client := registry.NewClient(registry.Options{})
	src, err := client.Repository(ctx, "mem:src/app")
	require.NoError(t, err)
	img := emptyImage(t, src, "amd64")
	require.NoError(t, src.Tag(ctx, img, "v1"))
	p := forgeryPipeline(t, client, "enforce", okGenerator, nil)
	rec, err := p.Run(ctx, "mem:src/app:v1", acquire.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, acquire.OutcomePromoted, rec.Outcome)
	rec, err = p.Run(ctx, "mem:src/app:v1", acquire.RunOptions{})
	require.NoError(t, err)
	assert.Equal(t, acquire.OutcomeUnchanged, rec.Outcome, rec.Reason)
	rec, err = p.Run(ctx, "mem:src/app:v1", acquire.RunOptions{Tags: []string{"stable"}})
	require.NoError(t, err)
	assert.Equal(t, acquire.OutcomePromoted, rec.Outcome, "a missing golden tag is not unchanged: %s", rec.Reason)
	g, _ := client.Repository(ctx, "mem:g/app")
	got, err := g.Resolve(ctx, "stable")
	require.NoError(t, err)
	assert.Equal(t, img.Digest, got.Digest)
}

func TestLyingFallbackIndexIsNotTrusted(t *testing.T) {
	ctx := context.Background()
	srv := registrytest.Start(t, registrytest.OCINoReferrers)
	client := registry.NewClient(registry.Options{PlainHTTP: []string{srv.Host}})
	src, err := client.Repository(ctx, registry.Join(srv.Host, "app"))
	require.NoError(t, err)
	img := emptyImage(t, src, "amd64")
	require.NoError(t, src.Tag(ctx, img, "v1"))
	// forged cssc lifecycle marker
	eol := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	forged := attest.LifecycleArtifact(eol, time.Date(2090, 1, 1, 0, 0, 0, 0, time.UTC), "cssc")
	fd, err := registry.Attach(ctx, src, img, forged)
	require.NoError(t, err)
	// overwrite the fallback index with a lying descriptor
	lie := fd
	lie.ArtifactType = "application/vnd.example.harmless"
	lie.Annotations = nil
	ix := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{lie}}
	ix.SchemaVersion = 2
	ixraw, _ := json.Marshal(ix)
	ixd := pushRaw(t, src, ocispec.MediaTypeImageIndex, ixraw)
	require.NoError(t, src.Tag(ctx, ixd, "sha256-"+img.Digest.Encoded()))

	lc := &attest.LifecycleEnricher{EndOfLife: time.Now().AddDate(1, 0, 0).UTC().Truncate(24 * time.Hour)}
	p := forgeryPipeline(t, client, "enforce", okGenerator, lc)
	rec, err := p.Run(ctx, registry.Join(srv.Host, "app")+":v1", acquire.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, acquire.OutcomePromoted, rec.Outcome, rec.Reason)
	for _, a := range rec.Artifacts {
		assert.NotEqual(t, fd.Digest, a.Digest, "the forged marker is not one of cssc's artifacts")
	}
	g, _ := client.Repository(ctx, "mem:g/app")
	ls, _, err := attest.Lifecycles(ctx, g, img)
	require.NoError(t, err)
	require.Len(t, ls, 1, "golden holds cssc's marker only")
	assert.Equal(t, lc.EndOfLife, ls[0].EndOfLife)
	q, _ := client.Repository(ctx, "mem:q/app")
	ok, _ := q.Exists(ctx, fd)
	assert.False(t, ok, "the import filtered the marker on its manifest, whatever the listing said")
}

func TestOverlappingLocationsAndBadRepository(t *testing.T) {
	client := registry.NewClient(registry.Options{})
	p := forgeryPipeline(t, client, "enforce", okGenerator, nil)
	rec, err := p.Run(context.Background(), "mem:src/app:v1", acquire.RunOptions{Repository: "../g/app"})
	assert.ErrorIs(t, err, registry.ErrInvalidReference)
	assert.Equal(t, acquire.OutcomeError, rec.Outcome)
	cfg := acquire.Config{Client: client, Quarantine: "registry.corp/cssc", Golden: "registry.corp/cssc/golden", Scanners: []scan.Scanner{evilScanner}, Signer: nil}
	_, err = acquire.NewPipeline(cfg)
	assert.ErrorIs(t, err, acquire.ErrInvalidConfig)
}

// TestPublisherProvenanceMustNameTheImage: provenance about another
// artifact is not provenance of this image.
func TestPublisherProvenanceMustNameTheImage(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		subject func(img ocispec.Descriptor) digest.Digest
		outcome acquire.Outcome
	}{
		{"names the image", func(img ocispec.Descriptor) digest.Digest { return img.Digest }, acquire.OutcomePromoted},
		{"names another artifact", func(ocispec.Descriptor) digest.Digest { return digest.FromString("something else") }, acquire.OutcomeDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := registry.NewClient(registry.Options{})
			src, err := client.Repository(ctx, "mem:src/app")
			require.NoError(t, err)
			img := emptyImage(t, src, "amd64")
			require.NoError(t, src.Tag(ctx, img, "v1"))
			stmt := fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"app","digest":{"sha256":%q}}],`+
				`"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://example.com/build/v1","externalParameters":{}},`+
				`"runDetails":{"builder":{"id":"https://example.com/builder"}}}}`, tc.subject(img).Encoded())
			_, err = registry.Attach(ctx, src, img, registry.Artifact{
				ArtifactType: artifact.TypeInToto,
				Blobs:        []registry.Blob{{MediaType: artifact.MediaTypeInToto, Data: stmt}},
				Annotations:  map[string]string{artifact.AnnotationPredicateType: artifact.PredicateSLSAProvenanceV1},
			})
			require.NoError(t, err)

			p := forgeryPipelineWithPolicy(t, client, "apiVersion: cssc.dev/policy/v1\nname: p\nvulnerabilities: {maxSeverity: medium}\nprovenance: {required: true, source: publisher}\n")
			rec, _ := p.Run(ctx, "mem:src/app:v1", acquire.RunOptions{})
			assert.Equal(t, tc.outcome, rec.Outcome, rec.Reason)
		})
	}
}

// TestAttestationEntryThatLiesFailsClosed: an index entry typed as a
// buildkit attestation whose in-toto layer holds a tar (an image in
// disguise) fails the run instead of reaching golden unscanned (issue 10
// item 8).
func TestAttestationEntryThatLiesFailsClosed(t *testing.T) {
	ctx := context.Background()
	for _, mt := range []string{artifact.MediaTypeInToto, artifact.MediaTypeDSSE} {
		client := registry.NewClient(registry.Options{})
		src, err := client.Repository(ctx, "mem:src/app")
		require.NoError(t, err)
		img := emptyImage(t, src, "amd64")
		tarLayer := imagetest.LayerWith(imagetest.Uncompressed, imagetest.File{Path: "usr/bin/payload", Data: []byte("#!/bin/sh\necho pwned\n"), Mode: 0o755})
		blob := pushRaw(t, src, mt, tarLayer.Data)
		empty := pushRaw(t, src, ocispec.MediaTypeEmptyJSON, []byte("{}"))
		am := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: empty, Layers: []ocispec.Descriptor{blob}}
		am.SchemaVersion = 2
		araw, _ := json.Marshal(am)
		att := pushRaw(t, src, ocispec.MediaTypeImageManifest, araw)
		att.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
		att.Annotations = map[string]string{artifact.AnnotationDockerReferenceType: artifact.AttestationManifest, artifact.AnnotationDockerReferenceDigest: img.Digest.String()}
		root, err := imagetest.PushIndex(ctx, src, img, att)
		require.NoError(t, err)
		require.NoError(t, src.Tag(ctx, root, "v1"))

		rec, err := forgeryPipeline(t, client, "enforce", okGenerator, nil).Run(ctx, "mem:src/app:v1", acquire.RunOptions{})
		require.Error(t, err, mt)
		assert.ErrorIs(t, err, registry.ErrInvalidManifest, "%s: %v", mt, err)
		assert.Contains(t, rec.Reason, "is not an in-toto statement")
		assert.Equal(t, acquire.OutcomeError, rec.Outcome)
		g, _ := client.Repository(ctx, "mem:g/app")
		for _, d := range []ocispec.Descriptor{root, att, blob} {
			ok, _ := g.Exists(ctx, d)
			assert.False(t, ok, "%s: %s must not reach golden", mt, d.Digest)
		}
	}
}
