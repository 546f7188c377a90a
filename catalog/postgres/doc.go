// Package postgres is a catalog.Store in PostgreSQL (15 or later), for
// several catalog instances that share one database. Where catalog/sqlite
// is the embedded default for one process, this store lets any number of
// processes index, search and record tags at once.
//
// Open connects (pgx v5), applies the embedded schema migrations under an
// advisory lock, so that instances starting together migrate once, and
// returns the Store. Every table is named cssc_*, so the catalog can share
// a database with other tables.
//
// Each entry is kept as the exact bytes of catalog.Marshal, beside the
// indexes that answer catalog.Query:
//
//   - free text: the entry's terms (catalog.Entry.Terms) in one text
//     column with a pg_trgm GIN index, so that every query word matches
//     as a substring (LIKE '%word%') through trigrams;
//   - facets and filters: columns and arrays with B-tree and GIN indexes;
//   - reverse queries: a component-to-image index (package name, source
//     name, ecosystem, version -> entry), and vulnerability IDs and aliases
//     case-folded. A version range is matched once per distinct version of
//     the package, by the ecosystem's rules, in Go, since SQL does not
//     know how Debian or Maven versions order.
//
// The pg_trgm extension (in PostgreSQL's contrib, part of Debian's
// postgresql-15 package) must be available; the first migration creates
// it, which needs a role allowed to (pg_trgm is a trusted extension, so the
// database owner is).
//
// PostgreSQL text cannot hold NUL: index values store it as U+FFFD, so a
// query for U+FFFD also matches NUL. Entries themselves keep every byte.
package postgres
