// Package osv matches the packages of an SBOM against an offline OSV
// vulnerability database (https://ossf.github.io/osv-schema/).
//
// In the Acquire flow it is step 5's vulnerability half: once an image's
// SBOM is known (supplied by the publisher or generated from the image
// filesystem), [Scanner] turns it into a scan.Report that is encoded to
// SARIF, attached to the image and read by the policy. In the Catalog flow
// the same stored SBOM is re-matched by [DB.Match] against a newer
// database; [DB.Version] tells whether anything changed since the last
// scan.
//
// # Database
//
// [Load] reads a directory (or a single file) holding OSV JSON records
// and/or osv.dev's per-ecosystem exports:
//
//	osv-db/
//	  Debian/all.zip         osv.dev export (gs://osv-vulnerabilities/Debian/all.zip)
//	  Alpine-all.zip         the same, renamed <ecosystem>-all.zip
//	  Go/GO-2024-2687.json   loose records, any depth
//	  npm/GHSA-....json
//
// Every "*.json" file and every "*.json" entry of every "*.zip" file is one
// record. Loading is streamed and bounded (see [Options]): zip archives are
// read entry by entry, each record is capped at Options.MaxRecordSize, and
// records are parsed in parallel. Malformed, oversized and withdrawn
// records, and records only about ecosystems without version rules, are
// skipped, logged through Options.Logger and counted in [Stats]. A zip
// archive that cannot be read fails the load with [ErrCorruptArchive]:
// a database that silently lacks a whole ecosystem would report images
// clean.
//
// The database is indexed by (ecosystem, package name), so matching costs
// a map lookup per package and a walk of that package's records, never a
// scan of the database. Range events are parsed on first use and kept.
//
// # Matching
//
// Versions are compared with osv-scalibr's semantic package, with each
// ecosystem's own rules: dpkg (epochs, tildes) for Debian and Ubuntu, apk
// for Alpine, PEP 440 for PyPI, Maven's ComparableVersion, semantic
// versioning for Go, npm and SEMVER ranges. Debian and Alpine records are
// keyed by source package (Debian "Source:", Alpine origin) and by release
// ("Debian:12", "Alpine:v3.20"); binary packages are matched through
// sbom.Package.SourceName or their purl's qualifiers. The Go standard
// library is the package "stdlib", with toolchain versions such as
// "go1.22.1" understood.
//
// A finding whose FixedVersion is empty is "unfixed": no record names a
// version that fixes it (Debian's "no fix yet", ranges that end with
// last_affected). [Unfixed] lists them; policies usually treat them apart.
//
// Severity comes from the record's CVSS v3.x (or v2) vector, whose base
// score is computed here, else from database_specific or
// ecosystem_specific "severity" (GitHub's "MODERATE", Debian's urgency),
// else it is unknown. CVSS v4 vectors are not scored.
//
// Records that are aliases of each other (GHSA and PYSEC for the same CVE)
// give one finding per package, with the other ids in Aliases.
package osv
