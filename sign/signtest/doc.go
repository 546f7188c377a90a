// Package signtest is a conformance kit for sign.Signer and sign.Verifier
// implementations: Run checks a Signer/Verifier pair against the contracts
// of package sign in one call, against any repository the caller provides
// (run it once per storage kind):
//
//	func TestMySigner(t *testing.T) {
//		signtest.Run(t, signtest.Config{
//			Signer:     mySigner,
//			Verifier:   myVerifier,
//			Repository: func(t testing.TB) registry.Repository { ... a fresh repository ... },
//			Identity:   "CN=my signer,O=acme,ST=WA,C=US",
//			Untrusted:  signerFromAnotherCA,
//		})
//	}
//
// It pushes small deterministic images, artifacts and indexes to the
// repository, signs and verifies them, and reports every contract
// violation as a test failure: a signer that signs another subject, stores
// nothing, stores a corrupt envelope, signs invalid subjects without an
// error or cannot sign at all fails it (the package's own tests run Run on
// each of these). An envelope-only signer (sign.EnvelopeSigner) is checked
// as sign.AsReferrer(es).
package signtest
