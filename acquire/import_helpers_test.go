package acquire_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
)

// fixture is a published multi-arch image with every kind of publisher
// artifact.
type fixture struct {
	index, amd64, arm64 ocispec.Descriptor
	attestation         ocispec.Descriptor // buildkit, in the index, for amd64
	rootSig             ocispec.Descriptor // notary signature on the index (referrer)
	lifecycle           ocispec.Descriptor // lifecycle marker on the index (referrer)
	sbom                ocispec.Descriptor // SPDX on the arm64 child (referrer)
	sbomSig             ocispec.Descriptor // notary signature on the SBOM (referrer of a referrer)
	cosignSig           ocispec.Descriptor // cosign .sig tag of the index
	layers              []ocispec.Descriptor
}

// publish pushes the fixture to repo under tag. seed varies the content.
func publish(t testing.TB, repo registry.Repository, tag string, seed uint64) fixture {
	t.Helper()
	ctx := context.Background()
	var f fixture
	shared := imagetest.Compress(imagetest.Uncompressed, imagetest.Random(seed, 64<<10))
	amd := imagetest.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Layers: []imagetest.Blob{shared, imagetest.Compress(imagetest.Uncompressed, imagetest.Random(seed+1, 300<<10))}}
	arm := imagetest.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"},
		Layers: []imagetest.Blob{shared, imagetest.Compress(imagetest.Uncompressed, imagetest.Random(seed+2, 200<<10))}}
	var err error
	f.amd64, err = amd.Push(ctx, repo)
	require.NoError(t, err)
	f.arm64, err = arm.Push(ctx, repo)
	require.NoError(t, err)
	for _, l := range append(amd.Layers, arm.Layers[1]) {
		f.layers = append(f.layers, l.Desc)
	}

	// Buildkit attestation manifest for amd64.
	stmt := []byte(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://slsa.dev/provenance/v1"}`)
	stmtDesc := imagetest.Descriptor(artifact.MediaTypeInToto, stmt)
	stmtDesc.Annotations = map[string]string{artifact.AnnotationPredicateType: artifact.PredicateSLSAProvenanceV1}
	cfg := []byte(`{"architecture":"unknown","os":"unknown","rootfs":{"type":"layers","diff_ids":[]}}`)
	cfgDesc := imagetest.Descriptor(ocispec.MediaTypeImageConfig, cfg)
	attRaw, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: cfgDesc, Layers: []ocispec.Descriptor{stmtDesc}})
	for _, b := range []imagetest.Blob{{Desc: cfgDesc, Data: cfg}, {Desc: stmtDesc, Data: stmt}} {
		require.NoError(t, imagetest.PushBlob(ctx, repo, b))
	}
	f.attestation = imagetest.Descriptor(ocispec.MediaTypeImageManifest, attRaw)
	require.NoError(t, imagetest.PushBlob(ctx, repo, imagetest.Blob{Desc: f.attestation, Data: attRaw}))
	f.attestation.Platform = &ocispec.Platform{OS: "unknown", Architecture: "unknown"}
	f.attestation.Annotations = map[string]string{
		artifact.AnnotationDockerReferenceType:   artifact.AttestationManifest,
		artifact.AnnotationDockerReferenceDigest: f.amd64.Digest.String(),
	}
	idx := imagetest.BuildIndex(map[string]string{"org.opencontainers.image.ref.name": tag}, f.amd64, f.arm64, f.attestation)
	require.NoError(t, imagetest.PushBlob(ctx, repo, idx))
	f.index = idx.Desc

	attach := func(subject ocispec.Descriptor, a registry.Artifact) ocispec.Descriptor {
		d, err := registry.Attach(ctx, repo, subject, a)
		require.NoError(t, err)
		return d
	}
	f.rootSig = attach(f.index, registry.Artifact{ArtifactType: artifact.TypeNotarySignature,
		Blobs: []registry.Blob{{MediaType: "application/jose+json", Data: []byte("sig-" + tag)}}})
	f.lifecycle = attach(f.index, registry.Artifact{ArtifactType: artifact.TypeLifecycle,
		Annotations: map[string]string{artifact.AnnotationEndOfLife: "2020-01-01T00:00:00Z"}})
	f.sbom = attach(f.arm64, registry.Artifact{ArtifactType: artifact.TypeSPDX,
		Blobs: []registry.Blob{{MediaType: artifact.MediaTypeSPDX, Data: []byte(`{"spdxVersion":"SPDX-2.3"}`)}}})
	f.sbomSig = attach(f.sbom, registry.Artifact{ArtifactType: artifact.TypeNotarySignature,
		Blobs: []registry.Blob{{MediaType: "application/jose+json", Data: []byte("sbom-sig-" + tag)}}})

	// Legacy cosign signature tag.
	payload := []byte(`{"critical":{"image":{"docker-manifest-digest":"` + f.index.Digest.String() + `"}}}`)
	payloadDesc := imagetest.Descriptor(artifact.MediaTypeCosignSimpleSigning, payload)
	payloadDesc.Annotations = map[string]string{"dev.cosignproject.cosign/signature": "MEUCIQ=="}
	ccfg := []byte(`{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]}}`)
	ccfgDesc := imagetest.Descriptor(ocispec.MediaTypeImageConfig, ccfg)
	sigRaw, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: ccfgDesc, Layers: []ocispec.Descriptor{payloadDesc}})
	for _, b := range []imagetest.Blob{{Desc: ccfgDesc, Data: ccfg}, {Desc: payloadDesc, Data: payload}} {
		require.NoError(t, imagetest.PushBlob(ctx, repo, b))
	}
	f.cosignSig = imagetest.Descriptor(ocispec.MediaTypeImageManifest, sigRaw)
	require.NoError(t, repo.Push(ctx, f.cosignSig, bytes.NewReader(sigRaw)))
	require.NoError(t, repo.Tag(ctx, f.cosignSig, cosignTag(f.index.Digest, ".sig")))
	require.NoError(t, repo.Tag(ctx, f.index, tag))
	return f
}

func cosignTag(d digest.Digest, suffix string) string {
	return d.Algorithm().String() + "-" + d.Encoded() + suffix
}

// newClient returns a client that reaches hosts over plain HTTP with fast
// retries.
func newClient(hosts ...string) *registry.Client {
	return registry.NewClient(registry.Options{PlainHTTP: hosts, MaxRetries: 3, MaxRetryAfter: 20 * time.Millisecond})
}

// requestLog records the requests a registry receives.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Method+" "+r.URL.Path)
		l.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (l *requestLog) reset() {
	l.mu.Lock()
	l.reqs = nil
	l.mu.Unlock()
}

func (l *requestLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.reqs...)
}

// count returns how many requests match method and contain path.
func (l *requestLog) count(method, path string) int {
	n := 0
	for _, r := range l.list() {
		m, p, _ := strings.Cut(r, " ")
		if (method == "" || m == method) && strings.Contains(p, path) {
			n++
		}
	}
	return n
}

// exists reports whether repo has d.
func exists(t testing.TB, repo registry.Repository, d ocispec.Descriptor) bool {
	t.Helper()
	ok, err := repo.Exists(context.Background(), d)
	require.NoError(t, err)
	return ok
}

// referrerDigests lists the referrer digests of subject in repo.
func referrerDigests(t testing.TB, repo registry.Repository, subject ocispec.Descriptor) []digest.Digest {
	t.Helper()
	refs, err := registry.Referrers(context.Background(), repo, subject, "")
	require.NoError(t, err)
	var out []digest.Digest
	for _, r := range refs {
		out = append(out, r.Digest)
	}
	return out
}
