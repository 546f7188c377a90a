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
// A Pipeline (NewPipeline, Config) runs the steps of DESIGN.md for one image
// (Run) or many (RunAll):
//
//	import        copy into quarantine (Importer)                      steps 1, 2
//	verify-signatures  publisher signatures (sign.Verifier)            step 3
//	verify-metadata    publisher SBOMs and provenance (attest.Discover) step 4
//	provenance    acquisition provenance (attest.ProvenanceEnricher)   step 7
//	sbom          cssc's SBOM per platform, attached if the publisher gave none  step 7
//	scan          every scanner on every platform (scan.Scanner)       step 5
//	attach-reports  SARIF reports as referrers                         step 6
//	lifecycle     end-of-life marker and custom enrichers              step 8
//	policy        policy.Evaluate on the evidence alone                step 10
//	sign          image, platforms and every artifact (sign.Signer)    step 9
//	promote       copy to golden, signed verification summary, tag     step 10
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
// when Config.SignatureVerifier is set, and the tag moves last, so golden
// never holds a tag on a partial or unsigned image.
//
// Reruns are idempotent: every generated artifact is stamped with the run
// time, which a rerun recovers from the provenance an interrupted run
// attached, so it regenerates byte-identical artifacts (same digests, no
// duplicates) and reuses the enterprise signatures already in quarantine;
// an unchanged image already in golden under every requested tag, with a
// signed PASSED verification summary of the policy in force, costs one
// upstream HEAD request.
//
// Every run returns a Record: each step with its verdict, reason, timing
// and outputs, the policy decision, the artifacts attached and what was
// promoted. It marshals to stable JSON and holds no secrets.
package acquire
