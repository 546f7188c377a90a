package attest_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// TestDiscoverEveryForm builds an index with publisher metadata in every
// form and discovers it on every storage kind: registries with and without
// the referrers API, the CNCF distribution registry, an OCI layout and memory.
func TestDiscoverEveryForm(t *testing.T) {
	ctx := context.Background()
	for _, store := range registrytest.Stores(t) {
		t.Run(store.Name, func(t *testing.T) {
			repo := store.Repository(t, "publisher/app")
			f := buildFixture(ctx, t, repo)

			md, err := attest.Discover(ctx, repo, f.index, nil)
			require.NoError(t, err)
			assert.False(t, md.Truncated)
			assert.Len(t, md.Items, 12, "items:\n%s", summary(md))

			// Index: SPDX referrer, two lifecycle markers, a signature.
			sboms := findItems(md, attest.FormReferrer, attest.KindSBOM, f.index.Digest)
			require.Len(t, sboms, 1)
			require.NoError(t, sboms[0].Err)
			assert.Equal(t, "index", sboms[0].SBOM.Name)
			assert.Len(t, sboms[0].SBOM.Packages, 2)
			assert.Equal(t, artifact.TypeSPDX, sboms[0].ArtifactType)
			assert.Equal(t, artifact.MediaTypeSPDX, sboms[0].MediaType)
			assert.True(t, md.HasSBOM(f.index.Digest))

			assert.Len(t, findItems(md, attest.FormReferrer, attest.KindLifecycle, f.index.Digest), 2)
			cur := md.CurrentLifecycle(f.index.Digest)
			require.NotNil(t, cur)
			assert.Equal(t, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), cur.EndOfLife, "newest marker wins")
			assert.Len(t, findItems(md, attest.FormReferrer, attest.KindSignature, f.index.Digest), 1)

			// amd64: buildkit SBOM + provenance v0.2, cosign .att and .sbom.
			bk := findItems(md, attest.FormBuildkit, attest.KindSBOM, f.amd64.Digest)
			require.Len(t, bk, 1)
			require.NoError(t, bk[0].Err)
			assert.Equal(t, artifact.PredicateSPDX, bk[0].PredicateType)
			assert.Equal(t, "buildkit", bk[0].SBOM.Name)
			require.NotNil(t, bk[0].Platform)
			assert.Equal(t, "amd64", bk[0].Platform.Architecture)

			bkp := findItems(md, attest.FormBuildkit, attest.KindProvenance, f.amd64.Digest)
			require.Len(t, bkp, 1)
			require.NoError(t, bkp[0].Err)
			p := bkp[0].Provenance
			assert.Equal(t, artifact.PredicateSLSAProvenanceV02, p.PredicateType)
			assert.Equal(t, "https://github.com/docker/buildx", p.BuilderID)
			assert.Equal(t, "https://mobyproject.org/buildkit@v1", p.BuildType)
			require.NotNil(t, p.Source)
			assert.Equal(t, "https://github.com/example/app.git", p.Source.URI)
			assert.Equal(t, "0123456789abcdef0123456789abcdef01234567", p.Source.Digest["sha1"])
			require.Len(t, p.Materials, 1)
			assert.Equal(t, time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), p.StartedOn)

			att := findItems(md, attest.FormCosignAttestation, attest.KindProvenance, f.amd64.Digest)
			require.Len(t, att, 1)
			require.NoError(t, att[0].Err)
			assert.Equal(t, 1, att[0].Signatures)
			assert.Equal(t, "https://github.com/actions/runner", att[0].Provenance.BuilderID)
			assert.Equal(t, artifact.PredicateSLSAProvenanceV1, att[0].Provenance.PredicateType)
			require.NotNil(t, att[0].Provenance.Source)
			assert.Equal(t, "git+https://github.com/example/app@refs/heads/main", att[0].Provenance.Source.URI)

			cs := findItems(md, attest.FormCosignSBOM, attest.KindSBOM, f.amd64.Digest)
			require.Len(t, cs, 1)
			require.NoError(t, cs[0].Err)
			assert.Equal(t, "cosign", cs[0].SBOM.Name)
			assert.Len(t, md.SBOMs(f.amd64.Digest), 2)
			assert.Len(t, md.Provenances(f.amd64.Digest), 2)

			// arm64: CycloneDX, provenance v1, sigstore bundle, corrupt SPDX.
			arm := findItems(md, attest.FormReferrer, attest.KindSBOM, f.arm64.Digest)
			require.Len(t, arm, 2)
			var good, bad int
			for _, it := range arm {
				if it.Err != nil {
					bad++
					assert.ErrorIs(t, it.Err, attest.ErrMalformed)
					continue
				}
				good++
				assert.Equal(t, artifact.TypeCycloneDX, it.ArtifactType)
				assert.Equal(t, "arm64", it.SBOM.Name)
			}
			assert.Equal(t, 1, good)
			assert.Equal(t, 1, bad)
			require.Len(t, findItems(md, attest.FormReferrer, attest.KindProvenance, f.arm64.Digest), 1)
			sb := findItems(md, attest.FormSigstoreBundle, attest.KindProvenance, f.arm64.Digest)
			require.Len(t, sb, 1)
			require.NoError(t, sb[0].Err)
			assert.Equal(t, artifact.PredicateSLSAProvenanceV02, sb[0].PredicateType)
			assert.Equal(t, 1, sb[0].Signatures)
			assert.Equal(t, "https://github.com/docker/buildx", sb[0].Provenance.BuilderID)
			require.NotNil(t, sb[0].Platform)
			assert.Equal(t, "arm64", sb[0].Platform.Architecture)

			assert.ErrorIs(t, md.Err(), attest.ErrMalformed, "the corrupt SBOM shows in Err")
			_, err = mustJSONErr(md)
			assert.NoError(t, err, "metadata marshals to JSON")

			// Discovering a single platform manifest finds only its items.
			md2, err := attest.Discover(ctx, repo, f.arm64, nil)
			require.NoError(t, err)
			assert.Len(t, md2.Items, 4)
		})
	}
}

func mustJSONErr(v any) ([]byte, error) {
	return jsonMarshal(v)
}

// TestDiscoverCaps checks that MaxItems, MaxBlobBytes and MaxChildren are
// honoured and recorded, never fatal.
func TestDiscoverCaps(t *testing.T) {
	ctx := context.Background()
	c := registry.NewClient(registry.Options{})
	repo, err := c.Repository(ctx, "mem:caps")
	require.NoError(t, err)
	f := buildFixture(ctx, t, repo)

	md, err := attest.Discover(ctx, repo, f.index, &attest.Options{MaxItems: 3})
	require.NoError(t, err)
	assert.Len(t, md.Items, 3)
	assert.True(t, md.Truncated)

	md, err = attest.Discover(ctx, repo, f.index, &attest.Options{MaxBlobBytes: 64})
	require.NoError(t, err)
	var tooLarge int
	for _, it := range md.Items {
		if errors.Is(it.Err, attest.ErrTooLarge) {
			tooLarge++
		}
	}
	assert.Equal(t, 8, tooLarge, "every blob but the corrupt SPDX is over 64 bytes:\n%s", summary(md))

	// Metadata manifests over MaxManifestBytes are recorded as too large.
	limit := f.arm64.Size
	md, err = attest.Discover(ctx, repo, f.arm64, &attest.Options{MaxManifestBytes: limit})
	require.NoError(t, err)
	var over int
	for _, it := range md.Items {
		if it.Manifest.Size > limit {
			over++
			assert.ErrorIs(t, it.Err, attest.ErrTooLarge, "%s %s", it.Form, it.Manifest.Digest)
		}
	}
	assert.Positive(t, over, "some metadata manifest is larger than the image manifest:\n%s", summary(md))
	_, err = attest.Discover(ctx, repo, f.arm64, &attest.Options{MaxManifestBytes: limit - 1})
	assert.ErrorIs(t, err, registry.ErrSizeExceeded, "an oversized subject is an error")

	md, err = attest.Discover(ctx, repo, f.index, &attest.Options{MaxChildren: 1})
	require.NoError(t, err)
	assert.True(t, md.Truncated)
	assert.Empty(t, md.For(f.arm64.Digest))
	assert.NotEmpty(t, md.For(f.amd64.Digest))
}

// TestDiscoverHostile covers corrupt metadata in every form: each is
// recorded with its error, nothing aborts, nothing panics.
func TestDiscoverHostile(t *testing.T) {
	ctx := context.Background()
	c := registry.NewClient(registry.Options{})
	repo, err := c.Repository(ctx, "mem:hostile")
	require.NoError(t, err)
	img := pushImage(ctx, t, repo, "amd64")
	attach := func(a registry.Artifact) {
		a.Created = runTime
		_, err := registry.Attach(ctx, repo, img, a)
		require.NoError(t, err)
	}
	blob := func(mt, data string) []registry.Blob { return []registry.Blob{{MediaType: mt, Data: []byte(data)}} }
	attach(registry.Artifact{ArtifactType: artifact.TypeInToto, Blobs: blob(artifact.MediaTypeInToto, `{"_type":"https://in-toto.io/Statement/v1"}`)})
	attach(registry.Artifact{ArtifactType: artifact.TypeInToto, Blobs: blob(artifact.MediaTypeInToto, `[1,2,3]`)})
	attach(registry.Artifact{ArtifactType: "application/vnd.example.dsse", Blobs: blob(artifact.MediaTypeDSSE, `{"payloadType":"application/vnd.in-toto+json","payload":"!!!"}`)})
	attach(registry.Artifact{ArtifactType: "application/vnd.example.dsse2", Blobs: blob(artifact.MediaTypeDSSE, `{"payloadType":"text/plain","payload":"aGVsbG8="}`)})
	attach(registry.Artifact{ArtifactType: artifact.TypeSigstoreBundle, Blobs: blob(artifact.TypeSigstoreBundle, `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`)})
	attach(registry.Artifact{ArtifactType: artifact.TypeSigstoreBundle + "x", Blobs: blob(artifact.TypeSigstoreBundle, `{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","messageSignature":{"signature":"x"}}`)})
	attach(registry.Artifact{ArtifactType: artifact.TypeLifecycle, Annotations: map[string]string{artifact.AnnotationEndOfLife: "next tuesday"}})
	attach(registry.Artifact{ArtifactType: artifact.TypeCycloneDX, Blobs: blob(artifact.MediaTypeCycloneDX, `{"bomFormat":"CycloneDX","components":"nope"}`)})
	attach(registry.Artifact{ArtifactType: artifact.TypeSPDX, Blobs: blob(artifact.MediaTypeCosignSPDXTagValue, "SPDXVersion: SPDX-2.3\n")})
	attach(registry.Artifact{ArtifactType: artifact.TypeInToto, Annotations: map[string]string{"k": "v"},
		Blobs: blob(artifact.MediaTypeInToto, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"`+img.Digest.Encoded()+`"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":"not an object"}}`)})
	attach(registry.Artifact{ArtifactType: artifact.TypeSARIF, Blobs: blob(artifact.MediaTypeSARIF, `{}`)})
	// A manifest whose layer is missing from the store.
	missing := ocispec.Descriptor{MediaType: artifact.MediaTypeInToto, Digest: digest.Digest("sha256:" + strings.Repeat("a", 64)), Size: 10}
	pushRaw(ctx, t, repo, img, missing)
	// Cosign .att tag pointing at an index.
	idx := testimageIndex(ctx, t, repo, img)
	require.NoError(t, repo.Tag(ctx, idx, cosignTag(img.Digest, ".att")))

	md, err := attest.Discover(ctx, repo, img, nil)
	require.NoError(t, err)
	var errs, ok int
	for _, it := range md.Items {
		if it.Err != nil {
			errs++
		} else {
			ok++
		}
	}
	assert.Equal(t, 11, errs, "items:\n%s", summary(md))
	assert.Equal(t, 2, ok, "message-signature bundle and SARIF report read fine")
	assert.Empty(t, md.SBOMs(img.Digest))
	assert.Empty(t, md.Provenances(img.Digest))
	assert.Nil(t, md.CurrentLifecycle(img.Digest))
	for _, it := range md.Items {
		if it.Err != nil {
			assert.True(t, errors.Is(it.Err, attest.ErrMalformed) || errors.Is(it.Err, attest.ErrUnsupportedFormat) ||
				errors.Is(it.Err, registry.ErrNotFound), "error %v wraps a sentinel", it.Err)
		}
	}
}

// TestDiscoverSubjectErrors: an unreadable subject is an error, a cancelled
// context stops discovery.
func TestDiscoverSubjectErrors(t *testing.T) {
	ctx := context.Background()
	c := registry.NewClient(registry.Options{})
	repo, err := c.Repository(ctx, "mem:subject")
	require.NoError(t, err)
	_, err = attest.Discover(ctx, repo, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest("sha256:" + strings.Repeat("b", 64)), Size: 3}, nil)
	assert.ErrorIs(t, err, registry.ErrNotFound)

	f := buildFixture(ctx, t, repo)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = attest.Discover(cctx, repo, f.index, nil)
	assert.ErrorIs(t, err, context.Canceled)
}

// TestDiscoverFallbackTagWithAPI: a referrers tag "sha256-<hex>" left over
// from a registry without the referrers API is read even where the API
// answers; entries already listed are not repeated, and an entry whose
// subject is another image is recorded as malformed.
func TestDiscoverFallbackTagWithAPI(t *testing.T) {
	ctx := context.Background()
	for _, store := range []registrytest.Kind{registrytest.OCI} {
		repo := registrytest.Start(t, store).Repository(t, "mirror/app")
		img := pushImage(ctx, t, repo, "amd64")
		other := pushImage(ctx, t, repo, "arm64")
		listed, err := registry.Attach(ctx, repo, img, attest.LifecycleArtifact(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), runTime, ""))
		require.NoError(t, err)
		stray, err := registry.Attach(ctx, repo, other, attest.LifecycleArtifact(time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC), runTime, ""))
		require.NoError(t, err)
		idx := imagetest.BuildIndex(nil, listed, stray)
		require.NoError(t, imagetest.PushBlob(ctx, repo, idx))
		require.NoError(t, repo.Tag(ctx, idx.Desc, cosignTag(img.Digest, "")))

		md, err := attest.Discover(ctx, repo, img, nil)
		require.NoError(t, err)
		require.Len(t, md.Items, 2, "items:\n%s", summary(md))
		assert.NoError(t, md.Items[0].Err)
		assert.Equal(t, listed.Digest, md.Items[0].Manifest.Digest)
		assert.Equal(t, stray.Digest, md.Items[1].Manifest.Digest)
		assert.ErrorIs(t, md.Items[1].Err, attest.ErrMalformed)
		assert.Equal(t, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), md.CurrentLifecycle(img.Digest).EndOfLife)
	}
}

// TestDiscoverLogger: unreadable items are logged as warnings, found ones
// at debug level; a nil logger is silent.
func TestDiscoverLogger(t *testing.T) {
	ctx := context.Background()
	repo, err := registry.NewClient(registry.Options{}).Repository(ctx, "mem:logger")
	require.NoError(t, err)
	f := buildFixture(ctx, t, repo)
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, err = attest.Discover(ctx, repo, f.index, &attest.Options{Logger: log})
	require.NoError(t, err)
	assert.Equal(t, 1, strings.Count(buf.String(), "level=WARN"), "one unreadable item:\n%s", buf.String())
	assert.Equal(t, 12, strings.Count(buf.String(), "publisher metadata found")+strings.Count(buf.String(), "publisher metadata unreadable"))
	assert.Contains(t, buf.String(), "publisher metadata discovered")

	// Lifecycles reports an unreadable marker next to the good ones.
	_, err = registry.Attach(ctx, repo, f.index, registry.Artifact{ArtifactType: artifact.TypeLifecycle,
		Annotations: map[string]string{artifact.AnnotationEndOfLife: "someday"}})
	require.NoError(t, err)
	ls, bad, err := attest.Lifecycles(ctx, repo, f.index)
	require.NoError(t, err)
	assert.Len(t, ls, 2)
	require.Len(t, bad, 1)
	assert.ErrorIs(t, bad[0], attest.ErrMalformed)
}
