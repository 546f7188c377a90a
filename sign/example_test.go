package sign_test

import (
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/sign"
)

// ExampleVerification shows how a caller (the policy step) reads a
// verification: states per signature, the cause of failures, and Err for
// callers that want an error.
func ExampleVerification() {
	v := &sign.Verification{
		Subject: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("image"), Size: 5},
		Signatures: []sign.Signature{
			{Format: sign.FormatNotationJWS, Digest: digest.FromString("sig1"), State: sign.StateFailed,
				Identity: "CN=old signer,O=acme,C=US", Level: "audit",
				Cause: "authenticity: the signature's certificate chain does not contain any trusted certificate (only logged at level audit)"},
			{Format: sign.FormatNotationJWS, Digest: digest.FromString("sig2"), State: sign.StateVerified,
				Identity: "CN=release,O=acme,C=US", Level: "strict"},
		},
	}
	for _, s := range v.Signatures {
		fmt.Printf("%s %s %q\n", s.State, s.Identity, s.Cause)
	}
	fmt.Println(v.Verified(), v.VerifiedBy("CN=release,O=acme,C=US"), v.VerifiedBy("CN=old signer,O=acme,C=US"))
	fmt.Println(v.Err())

	none := &sign.Verification{Subject: v.Subject}
	fmt.Println(errors.Is(none.Err(), sign.ErrNoSignature))
	// Output:
	// failed CN=old signer,O=acme,C=US "authenticity: the signature's certificate chain does not contain any trusted certificate (only logged at level audit)"
	// verified CN=release,O=acme,C=US ""
	// true true false
	// <nil>
	// true
}
