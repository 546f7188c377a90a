package cosign_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign/cosign"
)

var specsV2 = specs.Versioned{SchemaVersion: 2}

// push stores data in repo and returns its descriptor.
func push(ctx context.Context, repo registry.Repository, mediaType string, data []byte) ocispec.Descriptor {
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if err := repo.Push(ctx, desc, bytes.NewReader(data)); err != nil {
		log.Fatal(err)
	}
	return desc
}

// Verify a legacy cosign signature made with a key (cosign sign --key
// cosign.key --tlog-upload=false). The signature is written here the way
// cosign writes it, so that the example runs on its own.
func Example() {
	ctx := context.Background()
	repo, err := registry.NewClient(registry.Options{}).Repository(ctx, "mem:library/app")
	if err != nil {
		log.Fatal(err)
	}

	// An image to sign (an empty config and no layers keep it short).
	config := push(ctx, repo, ocispec.MediaTypeImageConfig, []byte("{}"))
	manifest, _ := json.Marshal(ocispec.Manifest{Versioned: specsV2, MediaType: ocispec.MediaTypeImageManifest, Config: config, Layers: []ocispec.Descriptor{}})
	image := push(ctx, repo, ocispec.MediaTypeImageManifest, manifest)

	// What cosign does: sign the simple-signing payload and store it as a
	// layer of the manifest tagged sha256-<hex>.sig.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	payload := fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":"registry.example/library/app"},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, image.Digest)
	sum := sha256.Sum256(payload)
	sig, _ := ecdsa.SignASN1(rand.Reader, key, sum[:])
	layer := push(ctx, repo, artifact.MediaTypeCosignSimpleSigning, payload)
	layer.Annotations = map[string]string{cosign.AnnotationSignature: base64.StdEncoding.EncodeToString(sig)}
	sigConfig := push(ctx, repo, ocispec.MediaTypeImageConfig, fmt.Appendf(nil, `{"rootfs":{"type":"layers","diff_ids":[%q]}}`, layer.Digest))
	sigManifest, _ := json.Marshal(ocispec.Manifest{Versioned: specsV2, MediaType: ocispec.MediaTypeImageManifest, Config: sigConfig, Layers: []ocispec.Descriptor{layer}})
	sigDesc := push(ctx, repo, ocispec.MediaTypeImageManifest, sigManifest)
	if err := repo.Tag(ctx, sigDesc, cosign.SignatureTag(image.Digest)); err != nil {
		log.Fatal(err)
	}

	// The verifier: the publisher's public key (usually read from cosign.pub
	// with cosign.ParsePublicKey). Without a trusted root there is no
	// transparency log to check, which must be said explicitly.
	v, err := cosign.New(cosign.Options{
		PublicKeys:                  []crypto.PublicKey{key.Public()},
		IgnoreTransparencyLogUnsafe: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	res, err := v.Verify(ctx, repo, image)
	if err != nil {
		log.Fatal(err)
	}
	keyID, _ := cosign.KeyID(key.Public())
	for _, s := range res.Signatures {
		fmt.Println(s.Format, s.State, s.Identity == keyID)
	}
	fmt.Println("verified:", res.Verified())
	// Output:
	// cosign verified true
	// verified: true
}

// Keyless verification: a trusted root (the trusted_root.json of a sigstore
// deployment, never fetched) and the identities allowed to sign.
func ExampleNew_keyless() {
	trustedRootJSON := []byte(`{}`) // read from a file in real use
	tr, err := cosign.TrustedRootFromJSON(trustedRootJSON)
	if err != nil {
		fmt.Println("load the trusted root first")
		return
	}
	_, err = cosign.New(cosign.Options{
		TrustedRoot: tr,
		Identities: []cosign.Identity{{
			Issuer:                       "https://token.actions.githubusercontent.com",
			SubjectAlternativeNameRegexp: `https://github\.com/example/app/\.github/workflows/release\.yml@refs/tags/v.*`,
		}},
		SignedCertificateTimestamps: 1, // the public Sigstore instance embeds SCTs
	})
	fmt.Println(err == nil)
	// Output: load the trusted root first
}
