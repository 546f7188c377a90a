-- Search moves into the in-memory index (catalog/internal/searchindex):
-- each entry keeps the compact record the index reads, filled by Open for
-- entries written before this migration. The SQL search tables and the
-- facts column are no longer read or written.
ALTER TABLE entries ADD COLUMN search BLOB;
ALTER TABLE entries DROP COLUMN facets;
DROP TABLE entry_terms;
DROP TRIGGER terms_ai;
DROP TRIGGER terms_ad;
DROP TABLE terms_fts;
DROP TABLE terms;
DROP TABLE vulns;
DROP TABLE packages;
