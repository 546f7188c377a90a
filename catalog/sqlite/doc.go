// Package sqlite is the embedded default catalog.Store: one SQLite file,
// no server (modernc.org/sqlite, pure Go). The schema is migrated at Open
// from migrations embedded in the package.
//
// The file keeps, per entry, the canonical entry (what catalog.Marshal
// normalizes) and its search summary in a compact binary form that
// decodes about ten times faster than their JSON, and a compact search
// record (what search reads: facts, tags, labels, package names and
// versions, vulnerability IDs). Every Put and Delete also adds a row to a
// changes table, numbered in commit order (SQLite has one writer).
//
// Entries written as JSON (by an earlier version, which kept the bytes of
// catalog.Marshal) are read as such; Open rewrites those an earlier version
// wrote in the binary form once, at the first Open after the upgrade (about
// 75 s for 100,000 entries of 40 packages per platform image on 2 shared
// cores). An earlier
// version cannot read the binary form: upgrade every program that opens the
// file together.
//
// # Search
//
// Queries are answered by an in-memory index (shared with
// catalog/postgres), loaded from the search records at Open and brought up
// to date at the start of every Search by reading the changes after the
// last one it applied: one indexed read when nothing changed, so a Store
// sees at once what another Store (another process) wrote to the file.
// The index holds the distinct lower-cased terms of every entry with a
// trigram index over them (a query word selects the terms it is a
// substring of), posting lists of dense entry numbers per term,
// vulnerability ID, package name and version, tag, platform, licence,
// signer and label, and the facts filters and facets read. A search
// intersects posting lists in bitsets, walks the matches in result order
// counting the total and the facets, and reads only the page's summaries
// from the file. A reverse package query evaluates its version range once
// per distinct (name, ecosystem, version), with the ecosystem's rules.
//
// Costs: the index takes about 1 KB of heap per entry of ~35 packages
// (102 MiB for the 100,000 entries of the benchmark, 51 MiB for 10,000
// images of ~320 packages each), and loading it at Open reads every search
// record (3 s for those 100,000 entries). A database written by an
// earlier version gets its search records from the stored entries once,
// at its first Open.
//
// Get keeps the last entries it read decoded in memory (Options.EntryCache,
// 1024 by default): the query that reads an entry also reads the number of
// its last change, and the stored bytes are read and decoded again only
// when that number moved, so a changed entry is never served stale. With
// the cache off (or cold), a Get of an entry of 40 packages per platform
// image costs about 40 us of CPU, half of it SQLite reading the row.
// GetMany (catalog.GetMany) reads many entries in one query.
//
// SQLite has one writer: writes go through one connection, reads through
// a small pool (WAL mode), so searches never wait for a write. For several
// catalog instances use catalog/postgres.
package sqlite
