// Package clamav scans container images for malware with ClamAV's daemon,
// clamd, over its INSTREAM protocol (TCP or unix socket).
//
// In the Acquire stage it is the malware half of step 5: [Scanner] walks
// every regular file of the image's final filesystem with imagefs.Walk
// (streaming the layers, never extracting to disk) and streams each file to
// clamd in chunks over a small pool of IDSESSION connections, a bounded
// number of files in flight. Detections become scan.Finding values with the
// signature name as ID, the file's path and the digest of its layer; the
// report's kind is artifact.ReportKindMalware and its tool carries clamd's
// engine and signature database versions (from the VERSION command).
//
// Scanner.StartFiles is the same scan fed by a walk the caller shares with
// other visitors (imagefs.WalkAll: the pipeline's one pass with SBOM
// generation). Files wait in a queue for a free connection, so that the
// walk runs ahead of clamd and clamd always has files to scan while the
// walk decompresses a layer: small files (up to 1 MiB) in recycled
// buffers, at most Options.MaxBuffered bytes of them; a larger file that the walk copied to
// a private temporary file for its visitors ([imagefs.SharedCopy])
// through its own handle on that copy, at most 2 x Options.Concurrency of
// them (each keeps its copy's disk space until clamd has scanned it). Past
// those bounds the walk waits. Every file is still scanned before Finish
// returns, and a failure drops what is queued.
//
// Fail closed: any reply other than "OK" or "FOUND" (INSTREAM size limit
// exceeded, a clamd error, a timeout, a dropped connection) fails the scan
// with an error wrapping scan.ErrScanFailed, never a clean report. A file
// larger than clamd's StreamMaxLength (Options.StreamMaxLength) fails the
// scan too, unless Options.Oversize says to report it as a finding or,
// explicitly unsafe, to skip it.
//
// clamd has limits of its own (MaxScanSize, MaxFileSize, MaxRecursion,
// MaxFiles for content inside archives) past which it stops looking and
// still answers OK. Run clamd with "AlertExceedsMax yes" so that hitting
// one of them is reported as a Heuristics.Limits.Exceeded detection rather
// than a silent pass; this package cannot see those settings.
//
// Deployment: clamd writes every INSTREAM stream to a file in its
// TemporaryDirectory and makes a directory there for each scan, so a scan
// of many small files spends much of clamd's CPU in the file system. With
// TemporaryDirectory on tmpfs (/dev/shm, or a tmpfs /tmp) clamd used
// 15-33% less CPU on a 166 MB image of ~1,000 files than on ext4 (clamd
// 1.4.6). Where clamd shares CPU cores with the process that walks the
// image (one host, a pod with both containers), a lower CPU priority for
// clamd (nice 10, or a lower systemd CPUWeight=) keeps the walk, which
// decompresses the layers and is the one pass's critical path, on its
// core; clamd catches up from the queue. On 2 shared cores, SBOM and
// malware report in one pass took 1.09-1.17x the SBOM alone (1.10-1.12x
// with clamd at nice 10). clamd's FILDES command (clamdscan --fdpass) is
// not used: clamd 1.4.6 answers "OK" for a descriptor it cannot read,
// which would pass a file as clean unscanned.
//
// Package clamav/clamdtest starts a real clamd with a tiny test database for
// tests and benchmarks.
package clamav
