// Package policy is the gate of the Acquire stage (step 10 of the flow, see
// package acquire): it decides, from evidence alone, whether an image in
// quarantine may be promoted to the golden registry, and says why.
//
// # How it fits
//
// The pipeline collects evidence in the earlier steps (signature
// verification, vulnerability and malware scans, SBOM, provenance,
// lifecycle) and fills an Evidence value. The policy never talks to a
// registry or a scanner, so a policy can be tested with a hand-written
// Evidence:
//
//	doc, err := policy.Parse(yamlBytes)       // or build a *policy.Document in Go
//	pol, err := policy.Compile(doc)           // validate once (fail closed)
//	dec := pol.Evaluate(ctx, &policy.Evidence{...}) // for every image
//	if err := dec.Err(); err != nil { ... }   // errors.Is(err, policy.ErrPolicyDenied)
//
// Compile once, evaluate many, as OPA's PrepareForEval does: a Policy is
// immutable and safe for concurrent use. The Decision lists every rule with
// a verdict (pass, fail, warn, skip), a reason and details, the exceptions
// used and warnings, and marshals to stable JSON for the run record and the
// verification summary attestation.
//
// # Fail closed
//
//   - A rule section present in the document is required: missing evidence
//     for it (no scan, no SBOM, no source reference, no signatures) fails
//     the rule. Only sbom and provenance with required: false, and malware
//     with required: false (for a missing or incomplete scan), give warn.
//   - Compile rejects unknown keys, unknown enum values, bad patterns, bad
//     SPDX identifiers, exceptions without reason or expiry, and a document
//     with no rule that could ever fail.
//   - A zero Decision denies; a nil Policy denies; a cancelled context fails
//     the rules not yet evaluated; a custom rule that panics or returns an
//     unknown verdict fails.
//
// # Modes
//
// In mode enforce (the default) a decision with any failing rule has
// Allowed false. In mode audit Allowed is always true, failing rules are
// still recorded as fail, and WouldDeny says the image would have been
// denied: roll a policy out in audit mode, read the decisions, then
// enforce. The acquire pipeline promotes what audit mode lets through
// (its verification summary says FAILED); when a later run under an
// enforcing policy denies the same digest, no golden tag is left on it:
// each goes back to the last digest that passed, or is removed
// (acquire.Record.Withdrawn).
//
// # Document format
//
// YAML or JSON with the same keys (Parse tells them apart by a leading
// '{'; documents are capped at MaxDocumentSize). A complete example:
//
//	apiVersion: cssc.dev/policy/v1     # optional; if present must be this
//	name: golden-images                # required
//	version: "2026.11"                 # optional, free text
//	mode: enforce                      # enforce (default) or audit
//
//	sources:
//	  allowed:                         # the source must match one (if any given)
//	    - docker.io/library/nginx
//	    - mcr.microsoft.com/dotnet/**
//	    - ghcr.io/cssc-go/*
//	  denied:                          # matching any fails, even if allowed
//	    - docker.io/corp/**
//
//	signatures:
//	  require: any                     # any (default) or all of the signers
//	  signers:
//	    - name: docker-official
//	      verifier: notation           # optional: notation, cosign, ...
//	      format: notation-jws         # optional: notation-jws, notation-cose, cosign, sigstore-bundle
//	      identities: ["C=US, ST=WA, O=Docker Inc, CN=Docker Official Images*"]
//	      minLevel: strict             # strict (default), permissive, audit
//	    - name: github-actions
//	      verifier: cosign
//	      identities: [https://github.com/cssc-go/**]
//	      issuers: [https://token.actions.githubusercontent.com]
//
//	vulnerabilities:
//	  maxSeverity: medium              # required: none, low, medium, high, critical
//	  unfixed: deny                    # deny (default), report, ignore
//	  maxUnfixedSeverity: high         # optional ceiling for findings without a fix
//	  unknownSeverity: critical        # rating of unrated findings (default critical)
//	  exceptions:
//	    - id: CVE-2024-45491           # ID or alias, case-insensitive
//	      reason: not reachable (SEC-1234)   # required
//	      expires: 2027-06-30          # required: date (00:00 UTC) or RFC 3339
//	      packages: [libexpat1]        # optional package-name patterns
//	      images: [docker.io/library/nginx]  # optional source patterns
//
//	licenses:
//	  denied: [AGPL-3.0-only, AGPL-3.0-or-later, SSPL-1.0]
//	  allowed: [MIT, Apache-2.0, BSD-3-Clause, GPL-2.0-or-later]   # optional
//	  unknown: warn                    # allow, warn, deny (default)
//
//	sbom:       {required: true, source: any}   # source: any (default) or publisher
//	provenance: {required: true}
//	malware:    {required: true}       # detections always fail
//	lifecycle:  {minDaysBeforeEndOfLife: 90, allowMissing: false}
//
//	reports:                           # report kinds of custom scanners
//	  - kind: secrets                  # a kind not listed here fails (rule reports)
//	    maxSeverity: none              # none (default): any finding fails
//	    required: true                 # a report of this kind must be present
//
// Default returns the strict starter policy document (String prints it as
// YAML).
//
// # Reports of custom scanners
//
// Vulnerability and malware reports are judged by their sections. Every
// other scan report (a secrets scanner, a configuration checker) is in
// Evidence.Reports, and the rule "reports" judges it even when the document
// has no reports section: a report whose kind the document does not name,
// or that has no kind, fails (a scanner that found private keys must not
// be ignored because nobody wrote a rule for it). A named kind fails on
// findings above its maxSeverity ("none" by default). The malware rule is
// met only by a scanner that declares itself a malware scanner
// (Evidence.Malware.Scanned; scan.Declaration.Malware, which scan/clamav
// declares and scan.Declare gives any other scanner); a report merely
// labelled "malware" does not meet it, but its detections fail it, as
// anyone's do.
//
// # Patterns
//
// Source patterns (sources.allowed, sources.denied, exceptions[].images)
// are matched against "registry/repository" of the source reference, after
// normalisation (lower case; index.docker.io is docker.io; docker.io/nginx
// is docker.io/library/nginx). Tags and digests are not part of it.
//
//   - "*" matches any run of characters within one path segment (not "/");
//   - "**" matches any number of whole segments and must be a segment of
//     its own: "mcr.microsoft.com/**" matches every repository of that
//     registry, "a.io/x/**/y" matches a.io/x/y and a.io/x/p/q/y;
//   - everything else matches itself; there are no character classes.
//
// A pattern must start with a registry host (docker.io, not library/nginx;
// localhost, and "oci" and "mem" for sources that are OCI layout
// directories or in-memory stores, whose path is the repository) and be
// lower case, or Compile rejects it: a pattern that can never match
// would silently deny, and "nginx" means different images to different
// tools. Prefer exact repositories for publishers you do not control:
// "docker.io/library/*" admits every official image (Docker controls that
// namespace), "docker.io/*/*" admits anyone's. A source that misses every
// allowed pattern but is within two edits of one (docker.io/library/ngnix)
// is reported as possible typosquatting. Deny your internal namespaces on
// public registries ("docker.io/corp/**") against dependency confusion.
//
// Identity, issuer and package patterns use the same "*" and "**" (any
// characters, "/" included), with no other restriction; matching is
// case-sensitive and on the whole string. Write "**" as the identity to
// accept every identity the verifier's own trust policy already trusts.
//
// # Licences
//
// Policy entries are single SPDX licence identifiers, validated with
// github.com/github/go-spdx/v2/spdxexp: "MIT", "GPL-2.0-only",
// "GPL-2.0-or-later" (or "GPL-2.0+"), "GPL-2.0-only WITH
// Classpath-exception-2.0", "LicenseRef-Proprietary". A range stands for
// every version from the named one upwards ("GPL-2.0-or-later" is
// GPL-2.0-only and GPL-3.0-only).
//
// A package's licence expression is judged with its AND/OR structure: a
// licence is usable if one of the versions it stands for is not denied and,
// when an allowed list exists, is allowed; "A OR B" needs one usable side,
// "A AND B" both. So with GPL-3.0-only denied, "GPL-3.0-only OR MIT" and
// "GPL-2.0-or-later" pass, while "GPL-3.0-only", "GPL-3.0-or-later" and
// "GPL-3.0-only AND MIT" fail. Several licence entries on one package all
// apply (as if joined with AND).
//
// Nothing outside the policy's own words can make a licence acceptable:
//
//   - "X WITH exception" is judged as X: with GPL-2.0-only denied,
//     "GPL-2.0-only WITH Classpath-exception-2.0" is denied too, unless the
//     allowed list names that exact WITH form (which then wins: allow
//     "GPL-2.0-only WITH Classpath-exception-2.0" and deny GPL-2.0-only to
//     accept only the Classpath form). A denied WITH form denies only
//     itself.
//   - A licence reference ("LicenseRef-x", "DocumentRef-d:LicenseRef-x")
//     names a text that anyone can write, so it is an unknown licence,
//     handled by licenses.unknown, unless the policy lists that exact
//     reference as allowed or denied.
//   - A choice is as good as its best side and a combination as bad as its
//     worst: with AGPL-3.0-only denied, "AGPL-3.0-only OR LicenseRef-y" is
//     unknown (not acceptable through the reference), and "MIT AND
//     LicenseRef-y" is unknown too.
//
// An empty licence, NOASSERTION, NONE or an expression spdxexp cannot
// parse is unknown as well. Unknown licences are handled by
// licenses.unknown (deny by default).
//
// # Vulnerabilities
//
// A finding's severity is its Severity; if that is unknown, its CVSS score
// (9.0+ critical, 7.0+ high, 4.0+ medium, above 0 low); if that is zero
// too, vulnerabilities.unknownSeverity (default critical). A finding fails
// when its severity is above the ceiling (maxSeverity, or for a finding
// without a fixed version maxUnfixedSeverity when set) and no exception
// applies. unfixed: report turns such failures of unfixed findings into
// warnings; unfixed: ignore leaves unfixed findings out. An exception
// applies when its ID is the finding's ID or one of its aliases, its
// package and image scopes (if any) match, and it has not expired at the
// decision time; Decision.ExceptionsUsed lists each use.
//
// Expired exceptions: Compile accepts them with a warning (use
// RejectExpiredExceptions to make them an error) because a lapsed exception
// must not stop every other image from being judged; Evaluate never applies
// an exception at or after its expiry, and says so in the rule details and
// the decision warnings. An exception expiring within 14 days of Compile
// draws a warning too, so that it is renewed or removed in time.
//
// # Time
//
// Evaluate reads no hidden clock: the decision time is Evidence.Time, or
// the clock given to Compile with WithClock (time.Now if none) when that is
// zero. Decision.Time records which was used.
//
// # Custom rules
//
// A Rule (Name and Evaluate) is added with WithRule when compiling; there
// is no global registry. Custom rules run after the built-in ones, in the
// order given, and their results count exactly like built-in ones.
package policy
