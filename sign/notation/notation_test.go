package notation_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"
	"github.com/cssc-go/cssc/sign/signtest"
)

// pki is a CA with one valid leaf.
type pki struct {
	ca   *devpki.CA
	leaf *devpki.Leaf
}

func newPKI(t testing.TB, key devpki.KeyType, crlURL string) pki {
	t.Helper()
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{Key: key, CRLURL: crlURL})
	require.NoError(t, err)
	leaf, err := ca.Issue(devpki.LeafOptions{Key: key})
	require.NoError(t, err)
	return pki{ca: ca, leaf: leaf}
}

const identity = "x509.subject: C=US, ST=WA, L=Seattle, O=cssc development, CN=cssc INSECURE development signer"

// policy returns a one-statement trust policy over every scope.
func policy(t testing.TB, level string, identities ...string) *notation.TrustPolicy {
	t.Helper()
	if len(identities) == 0 {
		identities = []string{"*"}
	}
	ids, _ := json.Marshal(identities)
	doc, err := notation.ParseTrustPolicy([]byte(fmt.Sprintf(`{
		"version": "1.0",
		"trustPolicies": [{
			"name": "test",
			"registryScopes": ["*"],
			"signatureVerification": {"level": %q},
			"trustStores": ["ca:test"],
			"trustedIdentities": %s
		}]
	}`, level, ids)))
	require.NoError(t, err)
	return doc
}

func store(t testing.TB, roots ...*x509.Certificate) *notation.TrustStore {
	t.Helper()
	s := &notation.TrustStore{}
	require.NoError(t, s.Add(notation.StoreCA, "test", roots...))
	return s
}

func newVerifier(t testing.TB, opts notation.VerifierOptions) *notation.Verifier {
	t.Helper()
	if opts.Revocation == notation.RevocationUnset {
		opts.Revocation = notation.RevocationOffline
	}
	v, err := notation.NewVerifier(opts)
	require.NoError(t, err)
	return v
}

func newSigner(t testing.TB, key crypto.Signer, chain []*x509.Certificate, opts notation.SignerOptions) *notation.Signer {
	t.Helper()
	s, err := notation.NewSigner(key, chain, opts)
	require.NoError(t, err)
	return s
}

func pushImage(t testing.TB, repo registry.Repository, seed uint64) ocispec.Descriptor {
	t.Helper()
	img := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "x", Data: imagetest.Random(seed, 32)})}}
	d, err := img.Push(context.Background(), repo)
	require.NoError(t, err)
	d.Platform = nil
	return d
}

// opaqueKey hides the concrete key type, as a KMS client would.
type opaqueKey struct{ crypto.Signer }

func TestConformance(t *testing.T) {
	stores := registrytest.Stores(t)
	for _, kt := range []devpki.KeyType{devpki.ECDSAP256, devpki.RSA2048} {
		p := newPKI(t, kt, "")
		other := newPKI(t, kt, "")
		v := newVerifier(t, notation.VerifierOptions{TrustPolicy: policy(t, "strict", identity), TrustStore: store(t, p.ca.Certificate)})
		// A key that stays in a "KMS": devpki certifies its public half.
		kmsKey, err := devpki.GenerateKey(kt)
		require.NoError(t, err)
		kmsLeaf, err := p.ca.Issue(devpki.LeafOptions{PublicKey: kmsKey.Public()})
		require.NoError(t, err)
		require.Nil(t, kmsLeaf.Key, "no private key for an external key")
		signers := map[string]sign.Signer{
			"jws":     newSigner(t, p.leaf.Key, p.leaf.Chain, notation.SignerOptions{}),
			"cose":    newSigner(t, p.leaf.Key, p.leaf.Chain, notation.SignerOptions{Envelope: notation.EnvelopeCOSE}),
			"kms-jws": newSigner(t, opaqueKey{p.leaf.Key}, p.leaf.Chain, notation.SignerOptions{}),
			// The envelope made apart from its storage (SignEnvelope), then
			// stored as a referrer (sign.AsReferrer).
			"kms-envelope": sign.AsReferrer(newSigner(t, opaqueKey{kmsKey}, kmsLeaf.Chain, notation.SignerOptions{})),
		}
		untrusted := newSigner(t, other.leaf.Key, other.leaf.Chain, notation.SignerOptions{})
		for name, s := range signers {
			for _, st := range stores {
				if name != "jws" && st.Name != "memory" && st.Name != "ociregistry-noreferrers" {
					continue // every envelope/key path once, every store with JWS
				}
				t.Run(fmt.Sprintf("%s/%s/%s", kt, name, st.Name), func(t *testing.T) {
					n := 0
					signtest.Run(t, signtest.Config{
						Signer:   s,
						Verifier: v,
						Repository: func(t testing.TB) registry.Repository {
							n++
							return st.Repository(t, fmt.Sprintf("conf/%s/%s/%d", strings.ToLower(string(kt)), name, n))
						},
						Identity:  p.leaf.Certificate.Subject.String(),
						Untrusted: untrusted,
					})
				})
			}
		}
	}
}

// TestManifestShape checks that signatures have the shape the notation
// CLI writes.
func TestManifestShape(t *testing.T) {
	ctx := context.Background()
	p := newPKI(t, devpki.ECDSAP256, "")
	for _, st := range registrytest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			repo := st.Repository(t, "shape/app")
			img := pushImage(t, repo, 1)
			for _, env := range []string{notation.EnvelopeJWS, notation.EnvelopeCOSE} {
				s := newSigner(t, p.leaf.Key, p.leaf.Chain, notation.SignerOptions{Envelope: env})
				d, err := s.Sign(ctx, repo, img)
				require.NoError(t, err)
				assert.Equal(t, ocispec.MediaTypeImageManifest, d.MediaType)
				raw, err := manifest.Fetch(ctx, repo, d, 1<<20)
				require.NoError(t, err)
				var m ocispec.Manifest
				require.NoError(t, json.Unmarshal(raw, &m))
				assert.Equal(t, "application/vnd.cncf.notary.signature", m.Config.MediaType, "config media type")
				assert.Equal(t, ocispec.DescriptorEmptyJSON.Digest, m.Config.Digest, "config is the empty JSON")
				require.Len(t, m.Layers, 1)
				assert.Equal(t, env, m.Layers[0].MediaType)
				require.NotNil(t, m.Subject)
				assert.Equal(t, img.Digest, m.Subject.Digest)
				assert.Contains(t, m.Annotations, "io.cncf.notary.x509chain.thumbprint#S256")
				assert.Contains(t, m.Annotations, ocispec.AnnotationCreated)
				var thumbs []string
				require.NoError(t, json.Unmarshal([]byte(m.Annotations["io.cncf.notary.x509chain.thumbprint#S256"]), &thumbs))
				assert.Len(t, thumbs, 2, "leaf and root thumbprints")
				assert.Equal(t, digest.FromBytes(p.leaf.Certificate.Raw).Encoded(), thumbs[0])
				refs, err := registry.Referrers(ctx, repo, img, "application/vnd.cncf.notary.signature")
				require.NoError(t, err)
				assert.Contains(t, digests(refs), d.Digest, "the signature is listed as a referrer")
			}
		})
	}
}

func digests(ds []ocispec.Descriptor) []digest.Digest {
	var out []digest.Digest
	for _, d := range ds {
		out = append(out, d.Digest)
	}
	return out
}

// TestSignTree signs an image and its attached artifacts with notation and
// verifies each of them.
func TestSignTree(t *testing.T) {
	ctx := context.Background()
	p := newPKI(t, devpki.ECDSAP256, "")
	s := newSigner(t, p.leaf.Key, p.leaf.Chain, notation.SignerOptions{})
	v := newVerifier(t, notation.VerifierOptions{TrustPolicy: policy(t, "strict", identity), TrustStore: store(t, p.ca.Certificate)})
	reg := registrytest.Start(t, registrytest.OCINoReferrers)
	for _, repo := range []registry.Repository{newMemRepo(t), reg.Repository(t, "tree/app")} {
		img := pushImage(t, repo, 1)
		sbom, err := registry.Attach(ctx, repo, img, registry.Artifact{ArtifactType: "application/spdx+json",
			Blobs: []registry.Blob{{MediaType: "application/spdx+json", Data: []byte(`{}`)}}})
		require.NoError(t, err)
		done, err := sign.SignTree(ctx, s, repo, img, sign.TreeOptions{})
		require.NoError(t, err)
		require.Len(t, done, 2)
		for _, d := range []ocispec.Descriptor{img, sbom} {
			res, err := v.Verify(ctx, repo, d)
			require.NoError(t, err)
			assert.True(t, res.Verified(), "%s: %+v", d.Digest, res.Signatures)
			assert.Len(t, res.Signatures, 1)
		}
	}
}

// TestSignWrongDescriptor: a subject descriptor that does not match the
// repository is refused before anything is pushed.
func TestSignWrongDescriptor(t *testing.T) {
	ctx := context.Background()
	p := newPKI(t, devpki.ECDSAP256, "")
	s := newSigner(t, p.leaf.Key, p.leaf.Chain, notation.SignerOptions{})
	for _, st := range registrytest.Stores(t) {
		repo := st.Repository(t, "wrong/app")
		img := pushImage(t, repo, 1)
		bad := img
		bad.Size++
		_, err := s.Sign(ctx, repo, bad)
		assert.ErrorIs(t, err, sign.ErrInvalidSubject, st.Name)
		bad = img
		bad.MediaType = ocispec.MediaTypeImageIndex
		_, err = s.Sign(ctx, repo, bad)
		assert.ErrorIs(t, err, sign.ErrInvalidSubject, st.Name)
		refs, err := registry.Referrers(ctx, repo, img, "")
		require.NoError(t, err)
		assert.Empty(t, refs, "%s: nothing pushed", st.Name)
	}
}
