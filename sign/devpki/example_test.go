package devpki_test

import (
	"fmt"

	"github.com/cssc-go/cssc/sign/devpki"
)

// ExampleNewInsecureDevelopmentCA creates a development CA and a code
// signing certificate for demos and tests.
func ExampleNewInsecureDevelopmentCA() {
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{})
	if err != nil {
		panic(err)
	}
	leaf, err := ca.Issue(devpki.LeafOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println(ca.Certificate.Subject)
	fmt.Println(leaf.Certificate.Subject)
	fmt.Println(len(leaf.Chain), leaf.Chain[1] == ca.Certificate)
	// Output:
	// CN=cssc INSECURE development root CA,O=cssc development,L=Seattle,ST=WA,C=US
	// CN=cssc INSECURE development signer,O=cssc development,L=Seattle,ST=WA,C=US
	// 2 true
}
