// Package rescan keeps the images of a catalog scanned with current data
// and signs every new report with the enterprise key.
//
// # Re-match, don't re-pull
//
// A vulnerability rescan matches the packages of an image's trusted SBOM,
// as the catalog entry indexes them, against the current offline OSV
// database (scan/osv); it pulls no layer. The database version gates every
// sweep: an unchanged database costs no match and writes no report, and
// the sweep record says "skipped: database unchanged". A new database is
// diffed against the previous one ([osv.DB.Diff]: added, changed and
// withdrawn advisories and the packages they name), and only the images
// holding a package the delta names are rescanned. Within an instance each
// distinct package version is matched once per database version, whatever
// the number of images that hold it.
//
// Malware rescans follow the signature version of the malware scanner
// (clamd's): when it changes, every image is rescanned, but each layer
// digest is scanned once for all the images that share it, and its result
// is shared between instances through the store.
//
// # Signed reports that supersede
//
// A rescan whose findings differ from the report in force, or whose report
// is older than Options.MaxAge, writes a new SARIF report (one per
// scanner kind and platform manifest), attaches it to the golden image as
// a referrer and signs it with the enterprise signer (sign.SignTree, as the
// acquire pipeline signs its artifacts). The catalog entry moves to it:
// its findings, summaries and report list are updated, and the reports
// beyond the latest Options.Keep are deleted from the registry with their
// signatures. A report is written under a time and content fixed by the
// job, so a job retried after its instance died writes the same digest: a
// report is never attached twice, and one left unsigned by a crash is
// signed by the retry (or deleted when signing fails). A registry or signer
// failure leaves the previous signed report in force; the entry carries a
// catalog.ReasonRescanFailed problem until a rescan succeeds.
//
// # Scheduling and several instances
//
// Work is kept in the store (catalog.Queue, catalog.Coordinator,
// catalog.SweepLog: catalog/postgres for several instances,
// catalog/sqlite or catalog.MemoryQueue for one): one job per image and
// database version, claimed with a lease that expires, so the jobs of an
// instance that dies are taken over by the others; a job's key is unique,
// so each image is rescanned once per database version. Priorities:
// on-demand requests before the delta after a database update before the
// periodic sweep. Cluster-wide steps (diffing a new database and enqueuing
// its sweep, starting the periodic sweep) run under a lock in the store.
// A rate limit bounds the images rescanned per second per instance;
// [Rescanner.Pause] and [Rescanner.Resume] hold and release every
// instance. Each sweep leaves a catalog.Sweep record: what triggered it,
// the database versions, the diff, and how many images were written,
// unchanged or failed, and why.
//
// # Events
//
// New and resolved findings and failed rescans are emitted to an
// event.Sink (catalog/event: a Go callback, or HMAC-signed webhooks).
// Events are emitted before the entry moves, with ids derived from their
// content, so a retried job emits the same events again and receivers
// drop the duplicates.
package rescan
