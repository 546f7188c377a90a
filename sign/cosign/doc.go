// Package cosign verifies cosign signatures of images and artifacts stored
// in OCI repositories. It is read only: cssc signs with Notary Project
// signatures (sign/notation) and verifies what publishers signed with
// cosign.
//
// In the Acquire flow it is one of the Verifiers of step 3 ("verify the
// publisher's signatures"): a Verifier found here is usually combined with
// a notation verifier through sign.Multi, and the policy decides from the
// resulting sign.Verification whether the evidence is enough.
//
// # What is verified
//
// Two storage schemes are read, and every signature found becomes one
// sign.Signature with its state, identity, timestamp and checks:
//
//   - The legacy tag scheme (sign.FormatCosign): the tag
//     "sha256-<hex>.sig" in the subject's repository holds a manifest whose
//     layers are "simple signing" payloads
//     (application/vnd.dev.cosign.simplesigning.v1+json) with the signature
//     in the annotation dev.cosignproject.cosign/signature, and optionally a
//     certificate, chain, Rekor bundle and RFC 3161 timestamp in further
//     annotations. The signature is checked, then the payload's
//     critical.image.docker-manifest-digest must equal the subject digest.
//     The payload's docker-reference is not compared with the repository:
//     images move between repositories (quarantine, golden) and keep their
//     digest, which is what the signature binds.
//   - Sigstore bundles stored as OCI referrers of the subject (artifactType
//     application/vnd.dev.sigstore.bundle.v0.3+json, sign.FormatSigstoreBundle),
//     as cosign v3 writes them: a DSSE envelope holding an in-toto statement
//     of predicate type https://sigstore.dev/cosign/sign/v1 whose subject is
//     the image digest, or a message signature over the subject manifest.
//
// Signatures made with a key are verified against the caller's public keys
// (ECDSA, RSA PKCS #1 v1.5 and Ed25519, as cosign makes them). Keyless
// signatures (a short-lived Fulcio certificate) are verified against a
// trusted root supplied by the caller (a sigstore trusted_root.json, see
// TrustedRootFromJSON) and identity rules (OIDC issuer and certificate
// subject alternative name). Verification never uses the network: there is
// no TUF update and no Rekor lookup; transparency log entries and
// timestamps are checked offline with the keys in the trusted root.
//
// # Results
//
// Each sign.Signature lists its checks by name, in the order performed:
// "format" (the manifest, payload or bundle could be read and parsed),
// "transparencyLog", "timestamp", "certificate" (chain to the trusted
// root's CA, SCTs), "signature", "subject" (the signature covers the
// subject digest) and "identity" (the certificate matches an Identity).
// Checks that do not apply (certificate and identity for key signatures)
// are absent; checks turned off by an Unsafe option are "skipped". The
// first failed check is the signature's Cause. A signature that could not
// be fetched, is of an unsupported version, or needs trust material that
// was not configured (a keyless signature without TrustedRoot) is
// inconclusive; everything else that does not verify is failed.
//
// Key signatures get the Identity KeyID(key); keyless ones the certificate's
// subject alternative name, with the OIDC issuer in Issuer. TrustPolicy
// names the key or Identity rule that matched, and Timestamp is the
// earliest signing time proven by a log entry or timestamp authority
// (Timestamped is then true).
//
// Bundles whose DSSE statement has a predicate type not in
// Options.PredicateTypes (provenance, SBOM attestations) are attestations,
// not signatures, and are not listed. At most Options.MaxSignatures
// signatures are examined per Verify; the rest are counted in
// sign.Verification.Unexamined.
//
// # Security choices are explicit
//
// New fails unless the Options name trust material: public keys, or a
// trusted root with identity rules. By default every signature must carry a
// transparency log entry verified against the trusted root (as cosign
// requires), and keyless certificates are checked at a time proven by a
// transparency log or timestamp authority. Options that weaken these rules
// carry "Unsafe" in their names. Regular expressions in identity rules are
// anchored: they must match the whole value (cosign's flags are not).
//
// The sigstore stack (sigstore-go and its dependencies) is imported only by
// this package, so that programs that do not verify cosign signatures do
// not build it.
package cosign
