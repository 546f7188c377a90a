// Package attesttest checks that an attest.Enricher keeps the contract of
// package attest, in one call:
//
//	func TestMyEnricher(t *testing.T) {
//		attesttest.Run(t, &myenricher.Enricher{...}, attesttest.Options{})
//	}
//
// Run enriches a built-in subject (or Options.Subject) and checks that: a
// nil subject is an error, not a panic; a cancelled context stops it with
// context.Canceled; every artifact has an artifact type, builds a manifest,
// and is created at Subject.Time (not at "now"), following Subject.Time
// when it changes; two runs give byte-identical artifacts, and attaching
// them twice leaves one referrer each; in-toto blobs parse with
// attest.ParseStatement and carry their predicate type annotation; SPDX
// and CycloneDX blobs decode with sbom.Decode; lifecycle markers carry an
// end-of-life date attest.ParseDate reads; and concurrent runs agree (run
// tests with -race).
package attesttest
