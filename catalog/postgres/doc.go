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
// Each entry is kept as the exact bytes of catalog.Marshal, beside the
// indexes that answer catalog.Query:
//
//   - free text: a dictionary of the distinct terms of every entry
//     (catalog.Entry.Terms) with a pg_trgm GIN index, and which entries
//     have which term; a query word selects the terms it is a substring of
//     (LIKE '%word%' through trigrams; words under three characters scan
//     the dictionary, which is far smaller than the entries), then their
//     entries;
//   - filters: columns for the single-valued facts (status, severity,
//     end of life, ...) and a table of (kind, SHA-256 of value, entry) for
//     the rest (digests of the image and its children, tags, platforms,
//     licences, signers, owner, labels, vulnerability IDs and aliases
//     case-folded), so that values of any length and any bytes are found
//     exactly;
//   - facets: counted in SQL over every match, grouped by every facet in
//     one pass;
//   - reverse queries: the component-to-image index, each distinct package
//     version (under its package name and its source package name) once,
//     and the entries that have it. A version range is matched once per
//     distinct version, by the ecosystem's rules, in Go, since SQL does not
//     know how Debian or Maven versions order.
//
// Put writes an entry and all its indexes in one transaction; concurrent
// Puts from any number of instances are safe (shared dictionaries are
// written in one order, and a deadlock or serialization failure is
// retried). RecordTags serializes the observations of one repository
// with an advisory lock.
//
// The pg_trgm extension (PostgreSQL's contrib, part of Debian's
// postgresql-15 package) must be available: the first migration creates
// it, which needs a role allowed to (pg_trgm is a trusted extension, so
// the database owner is).
//
// Limits: a repository is at most MaxRepositoryBytes long and UTF-8;
// PostgreSQL text cannot hold NUL, so free text matches NUL in a term as
// U+FFFD. Everything else (entries, filters, facets) keeps every byte.
package postgres
