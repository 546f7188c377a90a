package acquire_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// location returns the location of repository name under a store prefix.
func location(prefix, name string) string {
	if prefix == "mem:" {
		return "mem:" + name
	}
	return registry.Join(prefix, name)
}

// statusOf returns the status of artifact d in res.
func statusOf(res *acquire.Imported, d digest.Digest) string {
	for _, a := range res.Artifacts {
		if a.Descriptor.Digest == d {
			return a.Status
		}
	}
	return "missing"
}

// TestImportEveryStore imports the fixture within every storage kind (same
// host: mounts for registries) and across registries (with and without the
// referrers API), and checks every part arrived byte for byte.
func TestImportEveryStore(t *testing.T) {
	stores := registrytest.Stores(t)
	var hosts []string
	for _, s := range stores {
		if s.Remote != nil {
			hosts = append(hosts, s.Remote.Host)
		}
	}
	client := newClient(hosts...)
	ctx := context.Background()
	type pair struct{ name, src, dst string }
	var pairs []pair
	for _, s := range stores {
		pairs = append(pairs, pair{s.Name, location(s.Prefix, "pub/app"), location(s.Prefix, "quarantine/app")})
	}
	for i, s := range stores[:3] {
		d := stores[(i+1)%3]
		pairs = append(pairs, pair{s.Name + "-to-" + d.Name, location(s.Prefix, "cross/app"), location(d.Prefix, "quarantine/cross"+s.Name)})
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			srcRepo, err := client.Repository(ctx, p.src)
			require.NoError(t, err)
			dst, err := client.Repository(ctx, p.dst)
			require.NoError(t, err)
			f := publish(t, srcRepo, "1.0", 1)

			var mu sync.Mutex
			done := map[digest.Digest]string{}
			im := acquire.NewImporter(client, acquire.ImporterOptions{})
			res, err := im.Import(ctx, p.src+":1.0", dst, acquire.ImportOptions{
				Tags: []string{"stable"},
				Progress: func(bp acquire.BlobProgress) {
					mu.Lock()
					done[bp.Descriptor.Digest] = bp.State
					mu.Unlock()
				},
			})
			require.NoError(t, err)
			assert.Equal(t, f.index.Digest, res.SourceDigest)
			assert.Equal(t, f.index.Digest, res.Descriptor.Digest, "whole index keeps its digest")
			assert.False(t, res.Subset)
			assert.Equal(t, []string{"1.0", "stable"}, res.Tags)
			assert.Len(t, res.Platforms, 2)
			for _, tag := range []string{"1.0", "stable"} {
				d, err := dst.Resolve(ctx, tag)
				require.NoError(t, err)
				assert.Equal(t, f.index.Digest, d.Digest, "tag %s", tag)
			}
			for _, d := range append([]ocispec.Descriptor{f.amd64, f.arm64, f.attestation, f.rootSig, f.lifecycle, f.sbom, f.sbomSig, f.cosignSig}, f.layers...) {
				assert.True(t, exists(t, dst, d), "destination lacks %s", d.Digest)
			}
			assert.ElementsMatch(t, []digest.Digest{f.rootSig.Digest, f.lifecycle.Digest}, referrerDigests(t, dst, f.index))
			assert.Equal(t, []digest.Digest{f.sbom.Digest}, referrerDigests(t, dst, f.arm64), "referrers of a child")
			assert.Equal(t, []digest.Digest{f.sbomSig.Digest}, referrerDigests(t, dst, f.sbom), "referrer of a referrer")
			d, err := dst.Resolve(ctx, cosignTag(f.index.Digest, ".sig"))
			require.NoError(t, err, "cosign tag")
			assert.Equal(t, f.cosignSig.Digest, d.Digest)

			for _, a := range []struct {
				d    ocispec.Descriptor
				kind string
			}{{f.rootSig, acquire.ArtifactReferrer}, {f.lifecycle, acquire.ArtifactReferrer}, {f.sbom, acquire.ArtifactReferrer},
				{f.sbomSig, acquire.ArtifactReferrer}, {f.cosignSig, acquire.ArtifactCosignTag}, {f.attestation, acquire.ArtifactBuildkit}} {
				i := slices.IndexFunc(res.Artifacts, func(x acquire.ImportedArtifact) bool { return x.Descriptor.Digest == a.d.Digest })
				if assert.GreaterOrEqual(t, i, 0, "artifact %s not reported", a.d.Digest) {
					assert.Equal(t, a.kind, res.Artifacts[i].Kind)
					assert.Equal(t, acquire.ArtifactCopied, res.Artifacts[i].Status)
				}
			}
			assert.Equal(t, 6, res.ArtifactsCopied())
			assert.Equal(t, 0, res.ArtifactsSkipped())
			blobs := res.Blobs.Copied + res.Blobs.Mounted + res.Blobs.Existing
			assert.Equal(t, 13, blobs, "blobs: 3 layers, 2 configs, attestation 2, empty JSON, 2 signatures, SBOM, cosign 2 (got %+v)", res.Blobs)
			for _, l := range f.layers {
				assert.Contains(t, []string{acquire.BlobDone, acquire.BlobMounted, acquire.BlobExisting}, done[l.Digest], "progress of %s", l.Digest)
			}
			if s := p.src[:4]; s != "mem:" && s != "oci:" && !slices.Contains([]string{"distribution-to-ociregistry"}, p.name) {
				assert.Positive(t, res.Requests.Source+res.Requests.Destination, "requests counted")
			}

			// Again: nothing moves.
			again, err := im.Import(ctx, p.src+":1.0", dst, acquire.ImportOptions{Tags: []string{"stable"}})
			require.NoError(t, err)
			assert.True(t, again.Unchanged)
			assert.Zero(t, again.BytesMoved)
			assert.Equal(t, []string{"1.0", "stable"}, again.Tags)
		})
	}
}

// TestImportSingleManifest imports a single-platform image by tag and by
// digest.
func TestImportSingleManifest(t *testing.T) {
	for _, kind := range registrytest.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			src, dstReg := registrytest.Start(t, kind), registrytest.Start(t, kind)
			client := newClient(src.Host, dstReg.Host)
			f := publish(t, src.Repository(t, "lib/app"), "1.0", 7)
			srcRepo := src.Repository(t, "lib/app")
			require.NoError(t, srcRepo.Tag(ctx, f.amd64, "amd64"))
			dst := dstReg.Repository(t, "q/app")
			res, err := acquire.NewImporter(client, acquire.ImporterOptions{}).Import(ctx, src.Location("lib/app:amd64"), dst, acquire.ImportOptions{})
			require.NoError(t, err)
			assert.Equal(t, f.amd64.Digest, res.Descriptor.Digest)
			assert.Empty(t, res.Platforms)
			assert.Equal(t, int64(f.amd64.Size+f.layers[0].Size+f.layers[1].Size), res.BytesMoved-configSize(t, srcRepo, f.amd64))
			assert.Equal(t, 3, res.Blobs.Copied)
			assert.Empty(t, res.Artifacts)

			byDigest, err := acquire.NewImporter(client, acquire.ImporterOptions{}).Import(ctx, src.Location("lib/app@"+f.arm64.Digest.String()), dst, acquire.ImportOptions{Tags: []string{"arm"}})
			require.NoError(t, err)
			assert.Equal(t, f.arm64.Digest, byDigest.Descriptor.Digest)
			assert.Equal(t, []string{"arm"}, byDigest.Tags)
			assert.Equal(t, 1, byDigest.Blobs.Existing, "shared layer skipped")
			assert.Equal(t, []digest.Digest{f.sbom.Digest}, referrerDigests(t, dst, f.arm64))
		})
	}
}

func configSize(t *testing.T, repo registry.Repository, m ocispec.Descriptor) int64 {
	raw, err := manifest.Fetch(context.Background(), repo, m, 0)
	require.NoError(t, err)
	pm, err := manifest.Parse(m.MediaType, raw)
	require.NoError(t, err)
	return pm.Config.Size
}

// TestImportReimportOneHEAD checks that importing an unchanged image again
// sends exactly one request upstream, a HEAD on the manifest, and moves no
// bytes; also for a platform subset.
func TestImportReimportOneHEAD(t *testing.T) {
	for _, kind := range registrytest.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			var log requestLog
			src := registrytest.Start(t, kind, registrytest.Options{Middleware: log.middleware})
			dstReg := registrytest.Start(t, kind)
			client := newClient(src.Host, dstReg.Host)
			publish(t, src.Repository(t, "lib/app"), "1.0", 3)
			im := acquire.NewImporter(client, acquire.ImporterOptions{})
			for _, platforms := range [][]string{nil, {"linux/arm64"}} {
				dst := dstReg.Repository(t, fmt.Sprintf("q/app%d", len(platforms)))
				opts := acquire.ImportOptions{Platforms: platforms}
				_, err := im.Import(ctx, src.Location("lib/app:1.0"), dst, opts)
				require.NoError(t, err)
				log.reset()
				res, err := im.Import(ctx, src.Location("lib/app:1.0"), dst, opts)
				require.NoError(t, err)
				assert.True(t, res.Unchanged)
				assert.Equal(t, []string{"HEAD /v2/lib/app/manifests/1.0"}, log.list(), "upstream requests")
				assert.Equal(t, int64(1), res.Requests.Source)
				assert.Zero(t, res.BytesMoved)
				assert.Equal(t, len(platforms) > 0, res.Subset)
			}
		})
	}
}

// TestImportTagMoved publishes a new image under the same tag: the import
// reports the move, or refuses it before copying any blob when tags are
// immutable.
func TestImportTagMoved(t *testing.T) {
	ctx := context.Background()
	var dlog requestLog
	src := registrytest.Start(t, registrytest.OCI)
	dstReg := registrytest.Start(t, registrytest.Distribution, registrytest.Options{Middleware: dlog.middleware})
	client := newClient(src.Host, dstReg.Host)
	srcRepo := src.Repository(t, "lib/app")
	dst := dstReg.Repository(t, "q/app")
	im := acquire.NewImporter(client, acquire.ImporterOptions{})
	old := publish(t, srcRepo, "1.0", 10)
	_, err := im.Import(ctx, src.Location("lib/app:1.0"), dst, acquire.ImportOptions{ImmutableTags: true})
	require.NoError(t, err)

	moved := publish(t, srcRepo, "1.0", 20)
	dlog.reset()
	_, err = im.Import(ctx, src.Location("lib/app:1.0"), dst, acquire.ImportOptions{ImmutableTags: true})
	var conflict *acquire.TagConflictError
	require.ErrorAs(t, err, &conflict)
	assert.ErrorIs(t, err, acquire.ErrTagConflict)
	assert.Equal(t, "1.0", conflict.Tag)
	assert.Equal(t, old.index.Digest, conflict.Existing)
	assert.Equal(t, moved.index.Digest, conflict.Want)
	assert.Zero(t, dlog.count("POST", "/blobs/uploads/")+dlog.count("PUT", ""), "nothing pushed before the conflict was found: %v", dlog.list())
	assert.False(t, exists(t, dst, moved.amd64))

	res, err := im.Import(ctx, src.Location("lib/app:1.0"), dst, acquire.ImportOptions{})
	require.NoError(t, err)
	assert.False(t, res.Unchanged)
	assert.Equal(t, []acquire.TagChange{{Tag: "1.0", Old: old.index.Digest, New: moved.index.Digest}}, res.Changes)
	d, err := dst.Resolve(ctx, "1.0")
	require.NoError(t, err)
	assert.Equal(t, moved.index.Digest, d.Digest)
	assert.Positive(t, res.Blobs.Existing, "artifact blobs shared with the old image are skipped (got %+v)", res.Blobs)
}

// TestImportPlatformSubset imports one platform: a new index that records
// the original digest; the other platform and its attestation stay out.
func TestImportPlatformSubset(t *testing.T) {
	for _, kind := range []registrytest.Kind{registrytest.OCI, registrytest.OCINoReferrers} {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			src, dstReg := registrytest.Start(t, kind), registrytest.Start(t, kind)
			client := newClient(src.Host, dstReg.Host)
			f := publish(t, src.Repository(t, "lib/app"), "1.0", 4)
			dst := dstReg.Repository(t, "q/app")
			res, err := acquire.NewImporter(client, acquire.ImporterOptions{}).Import(ctx, src.Location("lib/app:1.0"), dst,
				acquire.ImportOptions{Platforms: []string{"linux/arm64"}})
			require.NoError(t, err)
			assert.True(t, res.Subset)
			assert.Equal(t, f.index.Digest, res.SourceDigest)
			assert.NotEqual(t, f.index.Digest, res.Descriptor.Digest, "a subset is a new index")
			assert.Equal(t, []ocispec.Platform{{OS: "linux", Architecture: "arm64", Variant: "v8"}}, res.Platforms)
			raw, err := manifest.Fetch(ctx, dst, res.Descriptor, 0)
			require.NoError(t, err)
			m, err := manifest.Parse(res.Descriptor.MediaType, raw)
			require.NoError(t, err)
			require.Len(t, m.Manifests, 1)
			assert.Equal(t, f.arm64.Digest, m.Manifests[0].Digest)
			assert.Equal(t, f.index.Digest.String(), m.Annotations[acquire.AnnotationSourceDigest])
			assert.Equal(t, "linux/arm64", m.Annotations[acquire.AnnotationSourcePlatforms])
			assert.Equal(t, "1.0", m.Annotations["org.opencontainers.image.ref.name"], "other annotations kept")
			assert.True(t, exists(t, dst, f.arm64))
			assert.False(t, exists(t, dst, f.amd64))
			assert.False(t, exists(t, dst, f.attestation))
			assert.Equal(t, acquire.ArtifactFiltered, statusOf(res, f.attestation.Digest))
			assert.Equal(t, []digest.Digest{f.sbom.Digest}, referrerDigests(t, dst, f.arm64))
			assert.ElementsMatch(t, []digest.Digest{f.rootSig.Digest, f.lifecycle.Digest}, referrerDigests(t, dst, f.index),
				"publisher artifacts of the original index keep their subject")

			_, err = acquire.NewImporter(client, acquire.ImporterOptions{}).Import(ctx, src.Location("lib/app:1.0"), dst,
				acquire.ImportOptions{Platforms: []string{"windows/amd64"}})
			assert.ErrorIs(t, err, acquire.ErrPlatformNotFound)
			_, err = acquire.NewImporter(client, acquire.ImporterOptions{}).Import(ctx, src.Location("lib/app:1.0"), dst,
				acquire.ImportOptions{Platforms: []string{"linux"}})
			assert.ErrorIs(t, err, acquire.ErrInvalidOptions)

			all, err := acquire.NewImporter(client, acquire.ImporterOptions{}).Import(ctx, src.Location("lib/app:1.0"), dstReg.Repository(t, "q/all"),
				acquire.ImportOptions{Platforms: []string{"linux/arm64", "linux/amd64"}})
			require.NoError(t, err)
			assert.False(t, all.Subset, "every platform: the index is kept")
			assert.Equal(t, f.index.Digest, all.Descriptor.Digest)
		})
	}
}

// TestImportFilters checks allow and deny lists (deny wins) over referrers,
// cosign tags and buildkit attestations.
func TestImportFilters(t *testing.T) {
	for _, kind := range []registrytest.Kind{"memory", registrytest.OCINoReferrers} {
		t.Run(string(kind), func(t *testing.T) { testImportFilters(t, kind) })
	}
}

func testImportFilters(t *testing.T, kind registrytest.Kind) {
	ctx := context.Background()
	client := registry.NewClient(registry.Options{})
	prefix := "mem:"
	if kind != "memory" {
		reg := registrytest.Start(t, kind)
		client, prefix = newClient(reg.Host), reg.Host
	}
	srcLoc := location(prefix, "pub/app")
	srcRepo, err := client.Repository(ctx, srcLoc)
	require.NoError(t, err)
	f := publish(t, srcRepo, "1.0", 5)
	cases := []struct {
		name      string
		filter    acquire.ArtifactFilter
		platforms []string
		copied    []ocispec.Descriptor
		filtered  []ocispec.Descriptor
	}{
		{name: "deny-lifecycle", filter: acquire.ArtifactFilter{Deny: []acquire.ArtifactRule{{ArtifactType: artifact.TypeLifecycle}}},
			copied: []ocispec.Descriptor{f.rootSig, f.sbom, f.sbomSig, f.cosignSig}, filtered: []ocispec.Descriptor{f.lifecycle}},
		{name: "deny-annotation", filter: acquire.ArtifactFilter{Deny: []acquire.ArtifactRule{{Annotations: map[string]string{artifact.AnnotationEndOfLife: "*"}}}},
			copied: []ocispec.Descriptor{f.rootSig, f.sbom, f.cosignSig}, filtered: []ocispec.Descriptor{f.lifecycle}},
		{name: "allow-signatures", filter: acquire.ArtifactFilter{Allow: []acquire.ArtifactRule{{ArtifactType: artifact.TypeNotarySignature}, {ArtifactType: "application/vnd.dev.cosign*"}}},
			copied: []ocispec.Descriptor{f.rootSig, f.cosignSig}, filtered: []ocispec.Descriptor{f.lifecycle, f.sbom}},
		{name: "deny-wins", filter: acquire.ArtifactFilter{
			Allow: []acquire.ArtifactRule{{ArtifactType: artifact.TypeNotarySignature}, {ArtifactType: artifact.TypeSPDX}},
			Deny:  []acquire.ArtifactRule{{ArtifactType: artifact.TypeNotarySignature}}},
			copied: []ocispec.Descriptor{f.sbom}, filtered: []ocispec.Descriptor{f.rootSig, f.sbomSig, f.lifecycle, f.cosignSig}},
		{name: "nothing", filter: acquire.ArtifactFilter{Deny: []acquire.ArtifactRule{{}}},
			filtered: []ocispec.Descriptor{f.rootSig, f.lifecycle, f.sbom, f.cosignSig}},
		{name: "attestation-kept-in-whole-index", filter: acquire.ArtifactFilter{Deny: []acquire.ArtifactRule{{ArtifactType: artifact.MediaTypeInToto}}},
			copied: []ocispec.Descriptor{f.attestation}},
		{name: "attestation-filtered-in-subset", filter: acquire.ArtifactFilter{Deny: []acquire.ArtifactRule{{ArtifactType: artifact.MediaTypeInToto}}},
			platforms: []string{"linux/amd64"}, filtered: []ocispec.Descriptor{f.attestation}},
		{name: "attestation-kept-in-subset", platforms: []string{"linux/amd64"}, copied: []ocispec.Descriptor{f.attestation}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst, err := client.Repository(ctx, location(prefix, "q/"+c.name))
			require.NoError(t, err)
			res, err := acquire.NewImporter(client, acquire.ImporterOptions{}).Import(ctx, srcLoc+":1.0", dst,
				acquire.ImportOptions{Artifacts: c.filter, Platforms: c.platforms})
			require.NoError(t, err)
			for _, d := range c.copied {
				assert.Equal(t, acquire.ArtifactCopied, statusOf(res, d.Digest), "status of %s", d.Digest)
				assert.True(t, exists(t, dst, d), "%s copied", d.Digest)
			}
			for _, d := range c.filtered {
				if statusOf(res, d.Digest) != "missing" { // referrers of filtered artifacts are never looked at
					assert.Equal(t, acquire.ArtifactFiltered, statusOf(res, d.Digest), "status of %s", d.Digest)
				}
				assert.False(t, exists(t, dst, d), "%s filtered", d.Digest)
			}
		})
	}
	_, err = acquire.NewImporter(client, acquire.ImporterOptions{}).Import(ctx, srcLoc+":1.0", srcRepo,
		acquire.ImportOptions{Artifacts: acquire.ArtifactFilter{Allow: []acquire.ArtifactRule{{ArtifactType: "a*b"}}}})
	assert.ErrorIs(t, err, acquire.ErrInvalidOptions)
}

func TestArtifactRuleMatch(t *testing.T) {
	d := ocispec.Descriptor{ArtifactType: "application/vnd.cncf.notary.signature", Annotations: map[string]string{"k": "v"}}
	cases := []struct {
		rule acquire.ArtifactRule
		want bool
	}{
		{acquire.ArtifactRule{}, true},
		{acquire.ArtifactRule{ArtifactType: "application/vnd.cncf.notary.signature"}, true},
		{acquire.ArtifactRule{ArtifactType: "application/vnd.cncf.*"}, true},
		{acquire.ArtifactRule{ArtifactType: "application/spdx+json"}, false},
		{acquire.ArtifactRule{Annotations: map[string]string{"k": "v"}}, true},
		{acquire.ArtifactRule{Annotations: map[string]string{"k": "*"}}, true},
		{acquire.ArtifactRule{Annotations: map[string]string{"k": "w"}}, false},
		{acquire.ArtifactRule{Annotations: map[string]string{"x": "*"}}, false},
		{acquire.ArtifactRule{ArtifactType: "application/vnd.cncf.notary.signature", Annotations: map[string]string{"x": "*"}}, false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, c.rule.Match(d), "rule %+v", c.rule)
	}
}

// TestImportMountFallback imports within one registry host: blobs are
// mounted from the source repository, and a refused mount (401, 403, 404,
// 202 without mount) falls back to an upload.
func TestImportMountFallback(t *testing.T) {
	for _, refusal := range []int{0, 401, 403, 404, 202} {
		t.Run(fmt.Sprint(refusal), func(t *testing.T) {
			ctx := context.Background()
			var log requestLog
			mw := func(next http.Handler) http.Handler {
				return log.middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if refusal != 0 && r.Method == http.MethodPost && r.URL.Query().Get("mount") != "" {
						q := r.URL.Query()
						q.Del("mount")
						q.Del("from")
						r.URL.RawQuery = q.Encode()
						if refusal != http.StatusAccepted { // 202: the registry opens a plain upload session
							w.WriteHeader(refusal)
							return
						}
					}
					next.ServeHTTP(w, r)
				}))
			}
			reg := registrytest.Start(t, registrytest.Distribution, registrytest.Options{Middleware: mw})
			client := newClient(reg.Host)
			f := publish(t, reg.Repository(t, "pub/app"), "1.0", 6)
			dst := reg.Repository(t, "q/app")
			log.reset()
			res, err := acquire.NewImporter(client, acquire.ImporterOptions{}).Import(ctx, reg.Location("pub/app:1.0"), dst, acquire.ImportOptions{})
			require.NoError(t, err)
			if refusal == 0 {
				assert.Equal(t, 13, res.Blobs.Mounted, "blobs %+v", res.Blobs)
				assert.Zero(t, res.Blobs.Copied)
				assert.Zero(t, log.count("GET", "/blobs/sha256:"), "mounted blobs are not downloaded")
			} else {
				assert.Zero(t, res.Blobs.Mounted)
				assert.Equal(t, 13, res.Blobs.Copied, "blobs %+v", res.Blobs)
			}
			for _, l := range f.layers {
				assert.True(t, exists(t, dst, l))
			}
			d, err := dst.Resolve(ctx, "1.0")
			require.NoError(t, err)
			assert.Equal(t, f.index.Digest, d.Digest)
		})
	}
}

var _ = errors.New
