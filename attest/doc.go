// Package attest finds the metadata a publisher attached to an image and
// builds the metadata cssc attaches itself.
//
// In the acquire flow (see package acquire) it serves steps 4, 7, 8 and the record of
// step 10:
//
//   - Discover (step 4) lists the publisher's metadata for an image and for
//     every child manifest of an index, in every form it is published in
//     (see Form): OCI 1.1 referrers through the referrers API or its
//     fallback tag "sha256-<hex>", sigstore bundles stored as referrers, the
//     cosign tags "sha256-<hex>.att" (DSSE envelopes with in-toto
//     statements) and "sha256-<hex>.sbom", and buildkit attestation
//     manifests inside an index. SBOMs are decoded with the sbom package,
//     in-toto statements with the in-toto attestation bindings, SLSA
//     provenance v0.2 and v1 into one Provenance view, lifecycle markers
//     into Lifecycle. Each piece becomes an Item; a corrupt piece is kept
//     with its error and never stops discovery. Everything read is capped
//     (Options, MaxStatementBytes).
//   - An Enricher (steps 7 and 8, and the promotion record) builds
//     registry.Artifact values for the pipeline to attach, sign and record:
//     SBOMEnricher (SPDX 2.3 when the publisher gave no SBOM),
//     ProvenanceEnricher (in-toto v1 statement with a SLSA provenance v1
//     predicate describing the import), LifecycleEnricher (Microsoft's
//     lifecycle convention, end-of-life dates from configuration) and
//     VSAEnricher (SLSA verification summary v1 with the policy decision).
//
// Sources and sinks: Discover reads any Repository (registry.Repository
// satisfies it: remote registries, OCI layout directories, memory). The
// enrichers read a Subject, a plain value the pipeline fills, and return
// artifacts; they do no I/O. The statement builders (AcquisitionProvenance,
// VerificationSummary) and SPDXArtifact, LifecycleArtifact and
// StatementArtifact can be used on their own. DecisionFromPolicy turns a
// policy.Decision into the Decision a verification summary records.
// Package attesttest checks a custom Enricher against this contract in one
// call.
//
// Attach attaches what cssc made (enricher artifacts, ReportArtifact for a
// scan report as SARIF) and marks it as cssc's (Item.Generated), so that it
// is never read back as publisher evidence; Metadata.Publisher leaves such
// items out. BuildEvidence turns what the checks found (signature
// verification, SBOMs, provenance, scan reports, end of life) into the
// policy's Evidence, the same way for the acquire pipeline and for a
// catalog that reads a golden image's referrers.
//
// Referrers come from registry.Referrers, which uses the referrers API where
// the registry has it and the fallback tag "sha256-<hex>" where it does not
// (oras-go decides); Discover also reads a fallback tag left next to a
// working API, and checks that each referrer's manifest names the subject.
//
// Determinism: every generated artifact is created at Subject.Time, never
// at "now", and statements are written as canonical JSON (MarshalStatement),
// so running an enricher twice on the same input gives the same bytes and
// registry.Attach gives the same digest: reruns do not pile up referrers.
//
// Lifecycle markers: a date is read as "2026-01-01" or RFC 3339 (ParseDate)
// and written as RFC 3339 (FormatDate). Markers are never deleted; the one
// created last is in force (CurrentLifecycle), so a new marker supersedes
// the old ones.
//
// Signatures found by Discover are listed, not verified: verifying them is
// the sign package's job, and deciding what they mean is the policy's.
package attest
