// Package scalibr generates an SBOM ([sbom.Document]) from an image's
// filesystem with osv-scalibr's extractors, without extracting the image to
// disk. It is step 7 of the Acquire stage (generate an SBOM when the
// publisher did not provide a usable one), and the source of the package
// list that scan/osv matches against vulnerabilities.
//
// [Generate] walks the merged filesystem of a platform image manifest with
// [scan.Walk] (layers streamed, whiteouts applied, everything capped) and
// offers every regular file to the extractors. Those that need only the file
// (Go binaries, Java archives, npm package.json, Python METADATA) run on an
// in-memory copy of that one file, released right after, on one worker
// goroutine that overlaps with the walk (at most 64 MiB, or one larger file,
// queued at a time). Those
// that also read other files through scalibr's FS (dpkg and apk read
// /etc/os-release) are deferred: their files, and os-release, are kept in a
// small in-memory filesystem and extracted when the walk has finished and
// every layer digest has been verified. Only the files some extractor asks
// for are buffered, each capped by [Options.MaxFileSize] and the deferred
// ones together by [Options.MaxBufferedBytes].
//
// Extractors used by default ([DefaultExtractors]): dpkg (status and
// status.d), apk, Go binaries (build info; the toolchain is reported as the
// "stdlib" package, the way OSV names it), Java archives (pom.properties,
// manifests, nested jars), npm (package.json under node_modules) and Python
// (dist-info and egg-info METADATA). rpm is not included: osv-scalibr's rpm
// extractor needs the database as a file on disk (it copies it to a
// temporary directory) and pulls a second SQLite driver into the build;
// callers who need it can add it through [Options.Extractors].
//
// What each package gets: the purl from osv-scalibr with the spurious npm
// "source=UNKNOWN" qualifier removed; the OSV ecosystem ("Debian:12" from
// os-release VERSION_ID or the code name, "Alpine:v3.20", "Go", "npm",
// "PyPI", "Maven"); the source package (dpkg Source:, apk origin) in
// SourceName/SourceVersion; declared licences (apk from the database; npm
// from package.json "license"; Python from License-Expression, License or
// trove classifiers; Debian from the machine-readable
// usr/share/doc/NAME/copyright, short names mapped to SPDX identifiers, as
// osv-scalibr reads none of these three); the path it was found at;
// and the digest of the layer holding that file. For dpkg packages listed in
// var/lib/dpkg/status the layer is the one holding the package's file list
// (var/lib/dpkg/info/NAME[:ARCH].list), which dpkg writes when it installs or
// upgrades the package; without that file it is the layer that last wrote
// the status file. apk keeps no per-package file, so Alpine packages get the
// layer that last wrote lib/apk/db/installed. status.d entries and language
// packages are exact.
//
// Known limits: osv-scalibr's extractors log through osv-scalibr's own
// package-level logger (stderr by default), which this package does not
// touch (no global state); Options.Logger only receives cssc's messages. A
// Go binary built from a checkout reports its main module at version
// "(devel)", as the binary says. Packages inside nested archives other than
// jars (e.g. a tarball in the image) are not looked at.
//
// This package is the only one in cssc that imports osv-scalibr's
// extractors; package sbom does not.
package scalibr
