package attest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
)

var runTime = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func testDoc(name string) *sbom.Document {
	return &sbom.Document{
		Name:     name,
		Created:  runTime,
		Creators: []string{"Tool: publisher-1.0"},
		Packages: []sbom.Package{
			{Name: "openssl", Version: "3.0.15-1~deb12u1", PURL: "pkg:deb/debian/openssl@3.0.15-1~deb12u1", Ecosystem: "Debian:12", Licenses: []string{"Apache-2.0"}},
			{Name: "zlib", Version: "1.3.1-r0", PURL: "pkg:apk/alpine/zlib@1.3.1-r0", Ecosystem: "Alpine:v3.20", Licenses: []string{"Zlib"}},
		},
	}
}

func spdxBytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := sbom.EncodeSPDX(testDoc(name), sbom.SPDXOptions{})
	require.NoError(t, err)
	return b
}

func cdxBytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := sbom.EncodeCycloneDX(testDoc(name), sbom.CycloneDXOptions{})
	require.NoError(t, err)
	return b
}

// provV1 returns a SLSA provenance v1 statement about subject.
func provV1(t testing.TB, subject ocispec.Descriptor) []byte {
	t.Helper()
	st, err := attest.AcquisitionProvenance{
		Subject: subject, Name: "publisher/app", Source: "git+https://github.com/example/app@refs/heads/main",
		SourceDigest: digest.FromString("source"), BuilderID: "https://github.com/actions/runner", BuildType: "https://actions.github.io/buildtypes/workflow/v1",
		Started: runTime,
	}.Statement()
	require.NoError(t, err)
	b, err := attest.MarshalStatement(st)
	require.NoError(t, err)
	return b
}

// provV02 returns a buildkit-style SLSA provenance v0.2 statement (legacy
// statement type v0.1) about subject.
func provV02(subject digest.Digest) []byte {
	return []byte(`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2",
"subject":[{"name":"pkg:docker/example/app@latest?platform=linux%2Famd64","digest":{"sha256":"` + subject.Encoded() + `"}}],
"predicate":{"builder":{"id":"https://github.com/docker/buildx"},"buildType":"https://mobyproject.org/buildkit@v1",
"materials":[{"uri":"pkg:docker/debian@bookworm?platform=linux%2Famd64","digest":{"sha256":"` + digest.FromString("base").Encoded() + `"}}],
"invocation":{"configSource":{"uri":"https://github.com/example/app.git","digest":{"sha1":"0123456789abcdef0123456789abcdef01234567"},"entryPoint":"Dockerfile"},"parameters":{"frontend":"dockerfile.v0"}},
"metadata":{"buildInvocationID":"ignored","buildStartedOn":"2026-01-02T03:04:05.123456Z","buildFinishedOn":"2026-01-02T03:05:05Z","completeness":{"parameters":true},"reproducible":false,
"https://mobyproject.org/buildkit@v1#metadata":{"vcs":{"revision":"abc"}}}}}`)
}

// spdxStatement returns an in-toto statement with an SPDX predicate.
func spdxStatement(t testing.TB, subject digest.Digest) []byte {
	t.Helper()
	return []byte(`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://spdx.dev/Document",
"subject":[{"name":"x","digest":{"sha256":"` + subject.Encoded() + `"}}],"predicate":` + string(spdxBytes(t, "buildkit")) + `}`)
}

func dsse(payload []byte) []byte {
	b, _ := json.Marshal(map[string]any{
		"payloadType": artifact.MediaTypeInToto,
		"payload":     base64.StdEncoding.EncodeToString(payload),
		"signatures":  []map[string]string{{"keyid": "", "sig": "MEUCIQ=="}},
	})
	return b
}

func bundle(envelope []byte) []byte {
	return []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{"certificate":{"rawBytes":"MIIB"}},"dsseEnvelope":` + string(envelope) + `}`)
}

// pushManifest pushes layers and a manifest built from them (with an OCI
// image config) and returns its descriptor.
func pushManifest(ctx context.Context, t testing.TB, repo registry.Repository, artifactType string, ann map[string]string, layers ...imagetest.Blob) ocispec.Descriptor {
	t.Helper()
	cfg := []byte("{}")
	cfgDesc := imagetest.Descriptor(ocispec.MediaTypeImageConfig, cfg)
	require.NoError(t, imagetest.PushBlob(ctx, repo, imagetest.Blob{Desc: cfgDesc, Data: cfg}))
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: artifactType, Config: cfgDesc, Annotations: ann}
	for _, l := range layers {
		require.NoError(t, imagetest.PushBlob(ctx, repo, l))
		m.Layers = append(m.Layers, l.Desc)
	}
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	b := imagetest.Blob{Desc: imagetest.Descriptor(ocispec.MediaTypeImageManifest, raw), Data: raw}
	require.NoError(t, imagetest.PushBlob(ctx, repo, b))
	return b.Desc
}

func layer(mt string, data []byte, ann map[string]string) imagetest.Blob {
	d := imagetest.Descriptor(mt, data)
	d.Annotations = ann
	return imagetest.Blob{Desc: d, Data: data}
}

func cosignTag(d digest.Digest, suffix string) string {
	return strings.Replace(d.String(), ":", "-", 1) + suffix
}

// fixture is an index with two platform images, with publisher metadata in
// every form.
type fixture struct {
	index, amd64, arm64 ocispec.Descriptor
}

func pushImage(ctx context.Context, t testing.TB, repo registry.Repository, arch string) ocispec.Descriptor {
	t.Helper()
	d, err := imagetest.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: arch},
		Layers:   []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "etc/hostname", Data: []byte(arch)})},
	}.Push(ctx, repo)
	require.NoError(t, err)
	return d
}

func buildFixture(ctx context.Context, t testing.TB, repo registry.Repository) fixture {
	t.Helper()
	var f fixture
	f.amd64 = pushImage(ctx, t, repo, "amd64")
	f.arm64 = pushImage(ctx, t, repo, "arm64")

	// buildkit attestation manifest for amd64: SPDX statement + provenance v0.2.
	att := pushManifest(ctx, t, repo, "", nil,
		layer(artifact.MediaTypeInToto, spdxStatement(t, f.amd64.Digest), map[string]string{artifact.AnnotationPredicateType: artifact.PredicateSPDX}),
		layer(artifact.MediaTypeInToto, provV02(f.amd64.Digest), map[string]string{artifact.AnnotationPredicateType: artifact.PredicateSLSAProvenanceV02}),
	)
	att.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
	att.Annotations = map[string]string{
		artifact.AnnotationDockerReferenceType:   artifact.AttestationManifest,
		artifact.AnnotationDockerReferenceDigest: f.amd64.Digest.String(),
	}
	idx := imagetest.BuildIndex(nil, f.amd64, f.arm64, att)
	require.NoError(t, imagetest.PushBlob(ctx, repo, idx))
	require.NoError(t, repo.Tag(ctx, idx.Desc, "1.0"))
	f.index = idx.Desc

	// OCI referrers of the index: SPDX, lifecycle (two markers), notary signature.
	_, err := registry.Attach(ctx, repo, f.index, registry.Artifact{ArtifactType: artifact.TypeSPDX,
		Blobs: []registry.Blob{{MediaType: artifact.MediaTypeSPDX, Data: spdxBytes(t, "index")}}, Created: runTime})
	require.NoError(t, err)
	_, err = registry.Attach(ctx, repo, f.index, attest.LifecycleArtifact(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), runTime, ""))
	require.NoError(t, err)
	_, err = registry.Attach(ctx, repo, f.index, registry.Artifact{ArtifactType: artifact.TypeLifecycle,
		Annotations: map[string]string{artifact.AnnotationEndOfLife: "2026-06-30"}, Created: runTime.Add(-time.Hour)})
	require.NoError(t, err)
	_, err = registry.Attach(ctx, repo, f.index, registry.Artifact{ArtifactType: artifact.TypeNotarySignature,
		Blobs: []registry.Blob{{MediaType: "application/jose+json", Data: []byte(`{"payload":"x"}`)}}, Created: runTime})
	require.NoError(t, err)

	// OCI referrers of arm64: CycloneDX, provenance v1, sigstore bundle, corrupt SPDX.
	_, err = registry.Attach(ctx, repo, f.arm64, registry.Artifact{ArtifactType: artifact.TypeCycloneDX,
		Blobs: []registry.Blob{{MediaType: artifact.MediaTypeCycloneDX, Data: cdxBytes(t, "arm64")}}, Created: runTime})
	require.NoError(t, err)
	_, err = registry.Attach(ctx, repo, f.arm64, registry.Artifact{ArtifactType: artifact.TypeInToto,
		Annotations: map[string]string{artifact.AnnotationPredicateType: artifact.PredicateSLSAProvenanceV1},
		Blobs:       []registry.Blob{{MediaType: artifact.MediaTypeInToto, Data: provV1(t, f.arm64)}}, Created: runTime})
	require.NoError(t, err)
	_, err = registry.Attach(ctx, repo, f.arm64, registry.Artifact{ArtifactType: artifact.TypeSigstoreBundle,
		Annotations: map[string]string{artifact.AnnotationSigstoreBundlePredicateType: artifact.PredicateSLSAProvenanceV02,
			artifact.AnnotationSigstoreBundleContent: "dsse-envelope"},
		Blobs: []registry.Blob{{MediaType: artifact.TypeSigstoreBundle, Data: bundle(dsse(provV02(f.arm64.Digest)))}}, Created: runTime})
	require.NoError(t, err)
	_, err = registry.Attach(ctx, repo, f.arm64, registry.Artifact{ArtifactType: artifact.TypeSPDX,
		Blobs: []registry.Blob{{MediaType: artifact.MediaTypeSPDX, Data: []byte(`{"spdxVersion": "SPDX-2.3", "packages": [`)}}, Created: runTime})
	require.NoError(t, err)

	// cosign tags of amd64: .att (DSSE provenance v1) and .sbom (SPDX).
	attDesc := pushManifest(ctx, t, repo, "", nil,
		layer(artifact.MediaTypeDSSE, dsse(provV1(t, f.amd64)), map[string]string{artifact.AnnotationCosignPredicateType: artifact.PredicateSLSAProvenanceV1}))
	require.NoError(t, repo.Tag(ctx, attDesc, cosignTag(f.amd64.Digest, ".att")))
	sbomDesc := pushManifest(ctx, t, repo, "", nil, layer(artifact.MediaTypeCosignSPDX, spdxBytes(t, "cosign"), nil))
	require.NoError(t, repo.Tag(ctx, sbomDesc, cosignTag(f.amd64.Digest, ".sbom")))
	return f
}

func findItems(md *attest.Metadata, form attest.Form, kind attest.Kind, subject digest.Digest) []attest.Item {
	var out []attest.Item
	for _, it := range md.Items {
		if it.Form == form && it.Kind == kind && it.Subject == subject {
			out = append(out, it)
		}
	}
	return out
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// pushRaw pushes an artifact manifest referring to subject whose layer l is
// not pushed.
func pushRaw(ctx context.Context, t testing.TB, repo registry.Repository, subject, l ocispec.Descriptor) {
	t.Helper()
	require.NoError(t, imagetest.PushBlob(ctx, repo, imagetest.Blob{Desc: ocispec.DescriptorEmptyJSON, Data: ocispec.DescriptorEmptyJSON.Data}))
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example.missing", Config: ocispec.DescriptorEmptyJSON,
		Layers: []ocispec.Descriptor{l}, Subject: &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
		Annotations: map[string]string{ocispec.AnnotationCreated: "1970-01-01T00:00:00Z"}}
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	require.NoError(t, imagetest.PushBlob(ctx, repo, imagetest.Blob{Desc: imagetest.Descriptor(ocispec.MediaTypeImageManifest, raw), Data: raw}))
}

func testimageIndex(ctx context.Context, t testing.TB, repo registry.Repository, children ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	d, err := imagetest.PushIndex(ctx, repo, children...)
	require.NoError(t, err)
	return d
}

// summary lists items one per line, for failure messages.
func summary(md *attest.Metadata) string {
	var b strings.Builder
	for _, it := range md.Items {
		fmt.Fprintf(&b, "%s %s %s %s %s err=%v\n", it.Form, it.Kind, it.Subject.Encoded()[:12], it.ArtifactType, it.MediaType, it.Err)
	}
	return b.String()
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
