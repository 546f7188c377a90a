// Package scalibr generates an SBOM ([sbom.Document]) from an image's
// filesystem with osv-scalibr's extractors, without extracting the image to
// disk. It is step 7 of the Acquire stage (generate an SBOM when the
// publisher did not provide a usable one), and the source of the package
// list that scan/osv matches against vulnerabilities.
//
// [Generate] walks the merged filesystem of a platform image manifest with
// [imagefs.Walk] (layers streamed, whiteouts applied, everything capped) and
// offers every regular file to the extractors. Those that need only the file
// (Go binaries, Java archives, npm package.json, Python METADATA) run on a
// copy of that one file released right after: in memory up to
// [Options.SpillSize] (4 MiB), else in a private temporary file read at
// offsets (Go build info and jar directories are small parts of large
// files), so memory does not follow the size of the largest executable.
// Spilled files and the files of other extractors run on one worker
// goroutine that overlaps with the walk (at most 32 MiB of files and two
// spilled files are queued at a time); an executable small enough for
// memory is read into one reused buffer and looked at by the walk itself
// (the Go build info check is quick; queueing the ~200 shared libraries of
// a Debian-like image raised the peak RSS from 33 to 40 MiB). Those that
// also read other files through scalibr's FS (dpkg, apk and rpm read /etc/os-release) are
// deferred: their files, and os-release, are kept in a small in-memory
// filesystem and extracted when the walk has finished and every layer
// digest has been verified. Only the files some extractor asks for are
// copied, each capped by [Options.MaxFileSize] and the deferred ones
// together by [Options.MaxBufferedBytes].
//
// Nothing is dropped silently. A file an extractor needs that is larger than
// MaxFileSize, or whose extractor crashes on it, is listed in
// [sbom.Document.Skipped]: the document says it is incomplete, the SPDX and
// CycloneDX encodings carry the list, and the policy's sbom rule fails on
// it. Malformed content (a broken package.json in a test fixture) is a
// [Warning] only: the extractor read it and found no package.
//
// Temporary files live in a private directory (created under
// [Options.TempDir], os.TempDir() by default, with mode 0700, only when
// needed) that Generate removes before it returns, on success or failure:
// the spilled copies described above (each removed once extracted), and the
// rpm database (rpmdb.sqlite, Packages or Packages.db under var/lib/rpm,
// usr/lib/sysimage/rpm or usr/share/rpm), because osv-scalibr's rpm
// extractor hands a file path to go-rpmdb, which opens SQLite, Berkeley DB
// and NDB databases itself (capped by MaxFileSize, not counted against
// MaxBufferedBytes). SQLite databases are read with modernc.org/sqlite
// (pure Go, no cgo), which osv-scalibr's extractor imports.
//
// Extractors used by default ([DefaultExtractors]): dpkg (status and
// status.d), apk, rpm (SQLite, Berkeley DB and NDB databases), Go binaries
// (build info; the toolchain is reported as the "stdlib" package, the way
// OSV names it), Java archives (pom.properties, manifests, nested jars), npm
// (package.json under node_modules) and Python (dist-info and egg-info
// METADATA).
//
// What each package gets: the purl from osv-scalibr with the spurious npm
// "source=UNKNOWN" qualifier removed; the OSV ecosystem ("Debian:12" from
// os-release VERSION_ID or the code name, "Alpine:v3.20", "Go", "npm",
// "PyPI", "Maven"; for rpm, "Rocky Linux:9", "AlmaLinux:9", "Red Hat:9",
// "openSUSE:Leap 15.5", "SUSE:15.5" from os-release, and none for
// distributions OSV does not cover, such as Fedora or CentOS); the source
// package (dpkg Source:, apk origin, rpm source rpm) in
// SourceName/SourceVersion; declared licences (apk and rpm from the
// database; npm from package.json "license"; Python from
// License-Expression, else the trove classifiers, else the free-text
// License field (common spellings such as "Apache 2.0" mapped to SPDX);
// Debian from usr/share/doc/NAME/copyright, following symbolic links
// between doc directories (libncursesw6 -> libtinfo6): machine-readable
// files with their short names mapped to SPDX identifiers, free-text ones
// (glibc, libstdc++, gnutls, krb5) classified with Google's
// licenseclassifier once the walk is over, each distinct text once, by a
// classifier built for that call and released when it returns, so that it
// does not add to the walk's peak memory (Options.NoLicenseClassifier
// turns it off); osv-scalibr reads none of these three); the path it was
// found at;
// and the digest of the layer holding that file. For dpkg packages listed in
// var/lib/dpkg/status the layer is the one holding the package's file list
// (var/lib/dpkg/info/NAME[:ARCH].list), which dpkg writes when it installs or
// upgrades the package; without that file it is the layer that last wrote
// the status file. apk keeps no per-package file, so Alpine packages get the
// layer that last wrote lib/apk/db/installed. status.d entries and language
// packages are exact. rpm packages get the layer that last wrote the
// database, and their version is VERSION-RELEASE as osv-scalibr reports it
// (a non-zero epoch is in the purl's "epoch" qualifier).
//
// Known limits: osv-scalibr's extractors log through osv-scalibr's own
// package-level logger (stderr by default), which this package does not
// touch (no global state); Options.Logger only receives cssc's messages. A
// Go binary built from a checkout reports its main module at version
// "(devel)", as the binary says. osv-scalibr gives up on a corrupt Berkeley
// DB rpm database after five minutes (a warning), unless ctx ends first.
// Packages inside nested archives other than jars (e.g. a tarball in the
// image) are not looked at.
//
// This package is the only one in cssc that imports osv-scalibr's
// extractors; package sbom does not.
package scalibr
