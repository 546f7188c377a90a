// Package sbom is cssc's software bill of materials model and its codecs.
//
// A [Document] lists the [Package] values found in one image: name, version,
// package URL, OSV ecosystem, the source package a binary package was built
// from (Debian source package, Alpine origin), declared licences, and the layer
// that introduced it. The model is deliberately small: it carries what the
// later steps of the Acquire stage need (vulnerability matching in scan/osv,
// licence rules in policy, the catalog's licence index) and nothing else.
//
// In the flow, an SBOM enters this package from two directions:
//
//   - generated from the image filesystem by sbom/scalibr (step 7), then
//     written with [EncodeSPDX] (SPDX 2.3 JSON, the artifact cssc attaches) or
//     [EncodeCycloneDX] (CycloneDX 1.6 JSON, optional);
//   - published upstream and discovered by attest (step 4), then read with
//     [Decode], which accepts SPDX 2.2 and 2.3 JSON and CycloneDX JSON.
//
// Package sbom has no dependency on osv-scalibr; only sbom/scalibr does.
// Every decoder caps its input (see [MaxDocumentSize]) and reports malformed
// input as an error wrapping [ErrInvalidDocument], never a panic.
package sbom
