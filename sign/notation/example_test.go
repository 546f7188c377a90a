package notation_test

import (
	"context"
	"fmt"

	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"
)

// Example signs an image in an in-memory repository with a development
// certificate and verifies it against a trust policy given as JSON.
func Example() {
	ctx := context.Background()
	repo, _ := registry.NewClient(registry.Options{}).Repository(ctx, "mem:golden/app")
	img, _ := imagetest.Image{}.Push(ctx, repo)
	img.Platform = nil

	ca, _ := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{})
	leaf, _ := ca.Issue(devpki.LeafOptions{})
	signer, err := notation.NewSigner(leaf.Key, leaf.Chain, notation.SignerOptions{})
	if err != nil {
		panic(err)
	}
	if _, err := signer.Sign(ctx, repo, img); err != nil {
		panic(err)
	}

	policy, err := notation.ParseTrustPolicy([]byte(`{
	  "version": "1.0",
	  "trustPolicies": [{
	    "name": "golden",
	    "registryScopes": ["*"],
	    "signatureVerification": {"level": "strict"},
	    "trustStores": ["ca:dev"],
	    "trustedIdentities": ["x509.subject: C=US, ST=WA, O=cssc development"]
	  }]
	}`))
	if err != nil {
		panic(err)
	}
	var store notation.TrustStore
	if err := store.AddPEM(notation.StoreCA, "dev", ca.CertificatePEM()); err != nil {
		panic(err)
	}
	verifier, err := notation.NewVerifier(notation.VerifierOptions{
		TrustPolicy: policy,
		TrustStore:  &store,
		Revocation:  notation.RevocationOffline, // no CRLs named: nothing to fetch
	})
	if err != nil {
		panic(err)
	}
	res, err := verifier.Verify(ctx, repo, img)
	if err != nil {
		panic(err)
	}
	for _, s := range res.Signatures {
		fmt.Println(s.Format, s.State, s.Identity)
		for _, c := range s.Checks {
			fmt.Printf("  %s: %s\n", c.Name, c.Result)
		}
	}
	fmt.Println("verified:", res.Verified())
	// Output:
	// notation-jws verified C=US, ST=WA, L=Seattle, O=cssc development, CN=cssc INSECURE development signer
	//   integrity: passed
	//   authenticity: passed
	//   expiry: passed
	//   authenticTimestamp: passed
	//   revocation: passed
	//   subject: passed
	// verified: true
}
