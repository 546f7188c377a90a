// Package postgres is a catalog.Store in PostgreSQL (15 or later), for
// several catalog instances that share one database. Where catalog/sqlite
// is the embedded default for one process, this store lets any number of
// processes index, search and record tags at once.
//
// Open connects (pgx v5), applies the embedded schema migrations under an
// advisory lock, so that instances starting together migrate once, and
// returns the Store; New does the same on a pool the caller owns. Every
// table is named cssc_*, so the catalog can share a database with other
// tables.
//
// Each entry is kept as the canonical entry (what catalog.Marshal
// normalizes) and its search summary in a compact binary form that decodes
// about ten times faster than their JSON, and a compact search record
// (what search reads: facts, tags, labels, package names and versions,
// vulnerability IDs). Every Put and Delete also adds a change to
// cssc_changes in the same transaction.
//
// Documents written as JSON (by an earlier version, which kept the bytes of
// catalog.Marshal) are read as such; a store rewrites those an earlier
// version wrote in the binary form when it opens, once. An earlier version
// cannot read the binary form: upgrade every instance together.
//
// # Search
//
// Each Store answers queries from its own in-memory index (shared with
// catalog/sqlite), loaded from the search records when it opens. At the
// start of every Search it reads the changes numbered after the last one
// it applied (one indexed query when nothing changed) and applies them, so
// every instance sees every instance's writes on its next search. Change
// numbers come from a sequence, and sequence values can commit out of
// order between concurrent transactions: an index that had read number 11
// while number 10 was still uncommitted would skip 10 forever. Writers
// therefore number their change last in their transaction, under a
// transaction-level advisory lock held until they commit, so that numbers
// commit in order; Puts of all instances serialize on that lock for the
// time of a commit, not for the rest of their work. A reader far behind
// (more than 20,000 changes, or behind the 100,000 changes kept) loads
// every record again.
//
// The index holds the distinct lower-cased terms of every entry with a
// trigram index over them (a query word selects the terms it is a
// substring of), posting lists of dense entry numbers per term,
// vulnerability ID (case-folded), package name and version, tag,
// platform, licence, signer and label, and the facts filters and facets
// read. A search intersects posting lists in bitsets, walks the matches
// in result order counting the total and the facets, and reads only the
// page's summaries from the database: two queries in all. A reverse
// package query evaluates its version range once per distinct (name,
// ecosystem, version), in Go, by the ecosystem's rules (SQL does not know
// how Debian or Maven versions order).
//
// Costs: each instance holds its index in memory, about 1 KB of heap per
// entry of ~35 packages (77 MiB for 100,000 entries of ~20 packages, 51 MiB
// for 10,000 images of ~320 packages), and loads it at Open by reading
// every search record (2 s for those 100,000 entries). A database written by an earlier
// version gets its search records from the stored entries at the first
// Open; instances of an earlier version must not keep writing to a
// database that a later one migrated (they would not record changes).
//
// Get keeps the last entries it read decoded in memory (Options.EntryCache,
// 1024 by default): its one query reads the number of the entry's last
// change, and the document only when that number moved, so an entry
// another instance changed is never served stale. GetMany
// (catalog.GetMany) reads many entries in one query: one round trip for
// the 50 entries of a page instead of 50.
//
// Put writes an entry in one transaction; concurrent Puts from any number
// of instances are safe (a deadlock or serialization failure is retried).
// RecordTags serializes the observations of one repository with an
// advisory lock.
//
// # Work queue
//
// The Store is also a catalog.Queue, catalog.Coordinator and
// catalog.SweepLog, so that instances share rescans, tracking checks and
// acquisitions through the database alone. Claim leases jobs in one
// statement: it reads the ready jobs of each kind in claim order from a
// partial index of live jobs, locks them with FOR UPDATE SKIP LOCKED (so
// concurrent claimers never wait for each other) and writes the lease as
// a heap-only update (it changes no indexed column). Leases expire by the
// server's clock and are fenced by (ID, Attempts). Cluster-wide locks are
// session advisory locks. 8 claimers of 100 jobs claim and complete well
// over 10,000 jobs per second on 2 cores (bench/README.md has the figures).
//
// The pg_trgm extension (PostgreSQL's contrib, part of Debian's
// postgresql-15 package) must be available: the first migration creates
// it (for an index that a later migration drops), which needs a role
// allowed to (pg_trgm is a trusted extension, so the database owner is).
//
// Limits: a repository is at most MaxRepositoryBytes long and UTF-8.
// Everything else (entries, text, filters, facets) keeps every byte.
package postgres
