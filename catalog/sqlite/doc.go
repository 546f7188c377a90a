// Package sqlite is the embedded default catalog.Store: one SQLite file,
// no server (modernc.org/sqlite, pure Go). The schema is migrated at Open
// from migrations embedded in the package.
//
// Free text uses an FTS5 table with the trigram tokenizer over the
// distinct terms of every entry (repository, tags, package names,
// vulnerability IDs, labels), so any substring of three characters or
// more is an index lookup; shorter words scan the term list. Reverse
// queries read the component-to-image table (one row per package name and
// entry) and compare version ranges in Go with each ecosystem's rules.
// Filters and facets read indexed columns and a table of multi-valued
// facts (platforms, licences, signers, tags, labels, vulnerability IDs).
//
// SQLite has one writer: writes go through one connection, reads through
// a small pool (WAL mode), so searches never wait for a write. For several
// catalog instances use catalog/postgres.
package sqlite
