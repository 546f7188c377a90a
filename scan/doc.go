// Package scan defines how cssc scans an image and what a scan reports.
//
// In the Acquire stage, step 5 scans the quarantined image: a [Scanner]
// takes an [Image] (a platform manifest in a repository, plus its SBOM when
// one is known) and returns a [Report]: the kind of scan
// (artifact.ReportKindVulnerability or artifact.ReportKindMalware), the
// [Tool] with its database version, the subject digest, the time and the
// [Finding] values. Step 6 attaches each report to the image as SARIF 2.1.0
// ([Report.SARIF], one report per scanner kind, readable by Ratify's
// vulnerability-report verifier); the catalog reads reports back with
// [DecodeSARIF] to compare rescans.
//
// Scanners (sources of reports) in cssc:
//
//   - scan/osv: matches the SBOM's packages against an offline OSV database;
//   - scan/clamav: streams every regular file to clamd over INSTREAM;
//   - [ScannerFunc]: any function, for custom scanners.
//
// A custom scanner may report a kind of its own ("secrets"); a policy must
// name that kind to accept it. A scanner declares what it is with a
// [Declaration] ([Declarer], or [Declare] around a ScannerFunc): only a
// scanner declared a malware scanner meets a malware requirement, whatever
// its reports are labelled.
//
// Sinks: [Report.SARIF] (attached as an application/sarif+json referrer),
// the report's JSON form (stable: call [Report.Sort]), and policy evidence.
// Check any Scanner in one call with scan/scantest.
//
// Scanners that read the image's files walk its merged filesystem with
// imagefs.Walk.
package scan
