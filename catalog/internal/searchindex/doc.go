// Package searchindex is the in-memory search index that catalog/sqlite
// and catalog/postgres answer catalog.Query with. The database stays the
// truth: each store keeps, beside every entry, a compact record of what
// search reads (Encode), and a change feed (a table of changes numbered
// by a sequence). An Index loads every record once, then, before each
// search, applies the changes numbered after the last one it applied
// (Refresh), so that every instance over one database sees every write on
// its next search.
//
// What the index holds, over dense slot numbers given to entries:
//
//   - free text: a dictionary of the distinct lower-cased terms
//     (catalog.Entry.Terms) with a trigram index over the dictionary, and
//     per term the sorted slots of the entries that have it. A query word
//     selects the terms it is a substring of (through the trigrams for
//     words of three bytes or more, by a scan of the dictionary for
//     shorter ones), and the union of their slots;
//   - vulnerabilities: per case-folded ID or alias, the slots;
//   - packages: per distinct (name, ecosystem, version), the slots, and
//     per name its versions, so that a version range is evaluated once per
//     distinct version, not once per entry;
//   - digests of entries and of their children, for the digest filter;
//   - the facts every other filter and every facet reads (status,
//     severity, end of life, owner, platforms, licences, signers, tags,
//     labels), as small integers, and the order of results (repository,
//     then digest).
//
// A search combines the posting lists of its text, vulnerability, package
// and digest conditions in bitsets, then walks the matches in result order
// applying the other filters, counting the total and the facets and
// keeping one page. It returns the store ids of the page; the store reads
// their summaries.
package searchindex
