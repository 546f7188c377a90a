// Package acquire runs the Acquire stage of the container supply chain:
// bringing an external image into a quarantine repository exactly as
// published, checking it, enriching it with evidence and promoting it to a
// golden repository only when the policy allows.
//
// # Importer
//
// The Importer interface copies an image, digest for digest, with its
// publisher artifacts (OCI referrers of the index and of every child
// manifest, the referrers fallback tag, cosign tags, buildkit attestations),
// filtered by ArtifactFilter. ORASImporter, built with NewImporter, is the
// default implementation: bounded concurrency, per-registry rate limits,
// cross-repository mounts with fallback, resumable blob copies, tags set
// last, and an unchanged image re-imported with one HEAD request.
//
// # Pipeline
//
// A Pipeline (NewPipeline, Config) runs the ten steps of the Acquire flow
// for one image (Run) or many (RunAll), in this order (Steps; the numbers
// are those of the flow):
//
//	import             copy into quarantine (Importer)                         1, 2
//	verify-signatures  publisher signatures (Config.PublisherVerifier)         3
//	verify-metadata    publisher SBOMs and provenance (attest.Discover)        4
//	provenance         acquisition provenance (Config.Provenance)              7
//	sbom               cssc's SBOM per platform (Config.SBOM), attached
//	                   beside the publisher's, if any                          7
//	scan               every scanner on every platform (Config.Scanners)       5
//	attach-reports     SARIF reports as referrers (attest.ReportArtifact)      6
//	lifecycle          end-of-life marker (Config.Lifecycle), Config.Enrichers 8
//	policy             the decision, from the evidence alone (Config.Policy,
//	                   evidence from attest.BuildEvidence)                     10
//	sign               image, platforms and every artifact (sign.SignTree
//	                   with Config.Signer)                                     9
//	promote            copy to golden, signed verification summary, tags       10
//
// Each step is recorded with a Verdict: ok, failed (a finding the policy
// weighs), skipped (not configured or not applicable) or error (the run
// stops). Everything cssc attaches comes from an attest.Enricher and is
// attached with attest.Attach, marked as cssc's.
//
// The SBOM is made before scanning because vulnerability matching reads it,
// and the scanners match cssc's own SBOM: a publisher's SBOM is unverified
// input, so it only adds licences (and is what the policy sees as the
// publisher's). Signing comes after the decision so that the enterprise key
// vouches only for what the policy let through.
//
// Nothing that claims to be cssc's is trusted because of the claim: the
// import drops publisher referrers annotated as cssc's (judged on their
// manifests, not on a referrers listing), every index entry is either
// checked or provably an attestation, and reports, SBOMs and lifecycle
// markers are regenerated on a rerun (same input, same digest) rather than
// read back.
//
// Fail closed: a missing required component is an ErrInvalidConfig from
// NewPipeline; a step that errors, times out or is cancelled ends the run
// with a *StepError and nothing in golden; a denied image stays in
// quarantine (ErrPolicyDenied). Golden content is copied first (image, then
// artifacts, then signatures), the enterprise signature is verified there
// when Config.EnterpriseVerifier is set, and the tag moves last, so golden
// never holds a tag on a partial or unsigned image.
//
// A denial also withdraws what an earlier run promoted: when golden holds
// the denied digest (promoted in audit mode, or under a policy since
// changed), every golden tag on it goes back to the last digest it pointed
// at whose verification summary, signed by the enterprise key, says PASSED
// (each summary records the digests its promotion moved the tags off,
// artifact.AnnotationPreviousDigests), or is removed (registry.Untag; the
// manifest stays for those who pinned its digest). Record.Withdrawn names
// each tag.
//
// Publisher metadata has one budget per image
// (Config.MaxPublisherMetadataBytes, attest.Options.MaxTotalBytes): the
// bytes of the SBOMs and statements read, plus a fixed cost per JSON value
// parsed, so that neither many documents nor documents of tiny values make
// an image cost more memory. Over it, the run stops in verify-metadata with
// an error wrapping attest.ErrBudgetExceeded and the image stays in
// quarantine.
//
// # Publisher artifacts in golden
//
// With Config.PromotePublisherArtifacts, the publisher's artifacts go to
// golden in the form they were published in, so that the tools that read
// them upstream read them there: referrers (Notary Project signatures,
// SBOMs, attestations, sigstore bundles as cosign v3 stores its
// signatures) as referrers, and cosign's tags ("sha256-<hex>.sig", ".att",
// ".sbom" of the image and of each platform image) as the same tags:
// `cosign verify` (or sign/cosign) finds the publisher's signature on the
// golden image as it did upstream. Publisher scan reports and verification
// summaries stay in quarantine unless Config.PromotePublisherVerdicts names
// their type.
//
// Reruns are idempotent: every generated artifact is stamped with the run
// time, which a rerun recovers from the provenance an interrupted run
// attached, so it regenerates byte-identical artifacts (same digests, no
// duplicates) and reuses the enterprise signatures already in quarantine
// (which needs Config.EnterpriseVerifier to report sign.Signature.Digest);
// an unchanged image already in golden under every requested tag, with a
// signed PASSED verification summary of the policy in force, costs one
// upstream HEAD request.
//
// Every run returns a Record: each step with its verdict, reason, timing
// and outputs, the policy decision, the artifacts attached and what was
// promoted. It marshals to stable JSON and holds no secrets.
package acquire
