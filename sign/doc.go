// Package sign defines how cssc signs artifacts and verifies signatures:
// the Signer and Verifier interfaces and the result types a verification
// returns.
//
// In the Acquire flow, step 3 verifies the publisher's signatures of an
// imported image (a Verifier per signature scheme, merged with Multi) and
// step 9 signs the image and every attached artifact with enterprise keys
// (a Signer). The policy decides from a Verification whether the evidence
// is enough; a Verifier never decides that on its own.
//
// # Results
//
// A Verification lists every signature found for a subject with its State:
// StateVerified when every performed check passed, StateFailed when a check
// failed, StateInconclusive when the signature could not be checked. Each
// Signature records the signer Identity, Issuer, Format, verification Level,
// Timestamp, the Cause of a failure and the individual Checks. A subject
// without signatures yields an empty list, not an error. Levels that accept
// a signature despite a failed check (notation's "permissive" and "audit")
// still report StateFailed: the failed check carries Enforced=false so a
// caller can see the level would have accepted it, but nothing looks
// verified that was not.
//
// Results marshal to stable JSON (Verification.Sort orders signatures).
//
// # Signing a tree
//
// SignTree signs a subject and every artifact attached to it (SBOMs,
// reports, attestations and their own referrers), optionally the platform
// manifests of an index too, with any Signer, each by its manifest digest,
// skipping existing signatures: step 9 in one call. TreeOptions.Select
// picks what to sign; TreeOptions.Reuse keeps a signature a Verifier
// verifies instead of signing again, which needs the Verifier to report
// Signature.Digest.
//
// # Custom signers
//
// A Signer both signs and stores. A key service that only signs (a cloud
// KMS, an HSM, a remote signing API) implements EnvelopeSigner instead:
// SignEnvelope returns the envelope over a subject, and AsReferrer makes it
// a Signer that stores each envelope as a referrer of its subject
// (StoreSignature), as notation-go separates its signer from its
// repository. sign/notation's Signer is both; sign/devpki certifies the
// public half of an external key for tests.
//
// # Implementations
//
// Sources and sinks, in the manner of go-containerregistry:
//
//   - sign/notation: Signer (PEM key + chain, any crypto.Signer such as a
//     cloud KMS, notation plugins) and Verifier (notation trust policy +
//     trust store) for Notary Project signatures.
//   - sign/cosign: Verifier for cosign signatures (legacy .sig tags, sigstore
//     bundles stored as referrers).
//   - sign/devpki: an insecure development CA and signing certificates for
//     demos and tests.
//   - sign/signtest: a conformance kit that checks any Signer/Verifier pair
//     in one call.
package sign
