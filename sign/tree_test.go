package sign_test

import (
	"context"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/sign"
)

func TestSignTree(t *testing.T) {
	ctx := context.Background()
	for _, st := range registrytest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			repo := st.Repository(t, "tree/app")
			img, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "a", Data: []byte("a")})}}.Push(ctx, repo)
			require.NoError(t, err)
			img.Platform = nil
			attach := func(subject ocispec.Descriptor, at, data string) ocispec.Descriptor {
				d, err := registry.Attach(ctx, repo, subject, registry.Artifact{ArtifactType: at, Blobs: []registry.Blob{{MediaType: at, Data: []byte(data)}}})
				require.NoError(t, err)
				return d
			}
			sbom := attach(img, artifact.TypeSPDX, `{"spdxVersion":"SPDX-2.3"}`)
			sarif := attach(img, artifact.TypeSARIF, `{"version":"2.1.0"}`)
			vsa := attach(sbom, artifact.TypeInToto, `{}`) // a referrer of a referrer
			attach(img, artifact.TypeNotarySignature, "old signature")
			attach(img, artifact.TypeLifecycle, "{}")

			var mu sync.Mutex
			var signed []digest.Digest
			s := sign.SignerFunc(func(_ context.Context, r registry.Repository, d ocispec.Descriptor) (ocispec.Descriptor, error) {
				mu.Lock()
				defer mu.Unlock()
				signed = append(signed, d.Digest)
				// Like a real signer: add a signature referrer.
				return registry.Attach(ctx, r, d, registry.Artifact{ArtifactType: artifact.TypeNotarySignature, Blobs: []registry.Blob{{MediaType: "application/jose+json", Data: []byte(d.Digest)}}})
			})
			done, err := sign.SignTree(ctx, s, repo, img, sign.TreeOptions{Skip: []string{artifact.TypeLifecycle}})
			require.NoError(t, err)
			assert.Len(t, done, 4)
			assert.Equal(t, img.Digest, signed[0], "subject first")
			assert.ElementsMatch(t, []digest.Digest{img.Digest, sbom.Digest, sarif.Digest, vsa.Digest}, signed)

			signed = nil
			done, err = sign.SignTree(ctx, s, repo, img, sign.TreeOptions{MaxDepth: -1})
			require.NoError(t, err)
			assert.Equal(t, []digest.Digest{img.Digest}, signed)
			assert.Len(t, done, 1)

			_, err = sign.SignTree(ctx, s, repo, img, sign.TreeOptions{MaxArtifacts: 2})
			assert.Error(t, err)
			_, err = sign.SignTree(ctx, s, repo, ocispec.Descriptor{}, sign.TreeOptions{})
			assert.ErrorIs(t, err, sign.ErrInvalidSubject)
		})
	}
}

// TestSignTreeOptions: Select picks what is signed, IndexManifests adds the
// platform manifests of an index and their referrers, and Reuse keeps a
// verified signature instead of signing again.
func TestSignTreeOptions(t *testing.T) {
	ctx := context.Background()
	for _, st := range registrytest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			repo := st.Repository(t, "tree/index")
			var children []ocispec.Descriptor
			for i, arch := range []string{"amd64", "arm64"} {
				d, err := imagetest.Image{
					Platform: ocispec.Platform{OS: "linux", Architecture: arch},
					Layers:   []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "a", Data: []byte{byte(i)}})},
				}.Push(ctx, repo)
				require.NoError(t, err)
				children = append(children, d)
			}
			idx, err := imagetest.PushIndex(ctx, repo, children...)
			require.NoError(t, err)
			attach := func(subject ocispec.Descriptor, at, data string) ocispec.Descriptor {
				d, err := registry.Attach(ctx, repo, subject, registry.Artifact{ArtifactType: at, Blobs: []registry.Blob{{MediaType: at, Data: []byte(data)}}})
				require.NoError(t, err)
				return d
			}
			sbom0 := attach(children[0], artifact.TypeSPDX, `{"n":0}`)
			sbom1 := attach(children[1], artifact.TypeSPDX, `{"n":1}`)
			publisher := attach(idx, artifact.TypeInToto, `{"publisher":true}`)

			var mu sync.Mutex
			signatures := map[digest.Digest]digest.Digest{} // subject -> signature
			var signed []digest.Digest
			s := sign.SignerFunc(func(_ context.Context, r registry.Repository, d ocispec.Descriptor) (ocispec.Descriptor, error) {
				mu.Lock()
				defer mu.Unlock()
				signed = append(signed, d.Digest)
				sig, err := registry.Attach(ctx, r, d, registry.Artifact{ArtifactType: artifact.TypeNotarySignature, Blobs: []registry.Blob{{MediaType: "application/jose+json", Data: []byte(d.Digest)}}})
				signatures[d.Digest] = sig.Digest
				return sig, err
			})
			// A verifier that trusts the signatures s made.
			v := sign.VerifierFunc(func(_ context.Context, _ registry.Repository, d ocispec.Descriptor) (*sign.Verification, error) {
				mu.Lock()
				defer mu.Unlock()
				out := &sign.Verification{Subject: d}
				if sig, ok := signatures[d.Digest]; ok {
					out.Signatures = append(out.Signatures, sign.Signature{Format: sign.FormatNotationJWS, Digest: sig, State: sign.StateVerified})
				}
				return out, nil
			})

			notPublisher := func(d ocispec.Descriptor) bool { return d.Digest != publisher.Digest }
			done, err := sign.SignTree(ctx, s, repo, idx, sign.TreeOptions{IndexManifests: true, Select: notPublisher, Reuse: v})
			require.NoError(t, err)
			want := []digest.Digest{idx.Digest, children[0].Digest, children[1].Digest, sbom0.Digest, sbom1.Digest}
			assert.ElementsMatch(t, want, signed, "index, platforms and their SBOMs signed; the publisher's artifact not")
			require.Len(t, done, len(want))
			assert.Equal(t, idx.Digest, done[0].Subject.Digest, "subject first")
			for _, d := range done {
				assert.False(t, d.Reused, "%s: nothing to reuse on the first pass", d.Subject.Digest)
				assert.Equal(t, signatures[d.Subject.Digest], d.Signature.Digest, "%s: signature returned", d.Subject.Digest)
			}

			// Again: every signature is reused, nothing is signed.
			signed = nil
			again, err := sign.SignTree(ctx, s, repo, idx, sign.TreeOptions{IndexManifests: true, Select: notPublisher, Reuse: v})
			require.NoError(t, err)
			assert.Empty(t, signed, "second pass signs nothing")
			require.Len(t, again, len(want))
			for i, d := range again {
				assert.True(t, d.Reused, "%s reused", d.Subject.Digest)
				assert.Equal(t, done[i].Signature.Digest, d.Signature.Digest)
			}

			// Without IndexManifests, the platforms and their SBOMs are not
			// part of the tree.
			signed = nil
			_, err = sign.SignTree(ctx, s, repo, idx, sign.TreeOptions{})
			require.NoError(t, err)
			assert.ElementsMatch(t, []digest.Digest{idx.Digest, publisher.Digest}, signed)

			// A verified signature without a digest cannot be reused.
			noDigest := sign.VerifierFunc(func(_ context.Context, _ registry.Repository, d ocispec.Descriptor) (*sign.Verification, error) {
				return &sign.Verification{Subject: d, Signatures: []sign.Signature{{Format: sign.FormatNotationJWS, State: sign.StateVerified}}}, nil
			})
			signed = nil
			_, err = sign.SignTree(ctx, s, repo, idx, sign.TreeOptions{MaxDepth: -1, Reuse: noDigest})
			require.NoError(t, err)
			assert.Equal(t, []digest.Digest{idx.Digest}, signed)

			// A verifier that fails, or returns nothing, stops the tree.
			_, err = sign.SignTree(ctx, s, repo, idx, sign.TreeOptions{Reuse: sign.VerifierFunc(func(context.Context, registry.Repository, ocispec.Descriptor) (*sign.Verification, error) {
				return nil, nil
			})})
			assert.ErrorContains(t, err, "no verification")
		})
	}
}
