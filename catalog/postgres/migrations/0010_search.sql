-- Search moves into each instance's in-memory index
-- (catalog/internal/searchindex). Each entry keeps the compact record the
-- index reads (filled by Open for entries written before this migration),
-- and every write of an entry adds a change to cssc_changes, in the same
-- transaction. The writers take the transaction-level advisory lock
-- (cssc, 3) just before numbering their change and hold it until they
-- commit, so that changes commit in the order of their numbers: an index
-- that has read every change up to number n has missed none below it.
--
-- The facts columns and the SQL search tables are no longer read or
-- written.
ALTER TABLE cssc_entries ADD COLUMN search bytea;
CREATE TABLE cssc_changes (
	seq      bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY,
	entry_id bigint NOT NULL
);

DROP TABLE cssc_entry_terms;
DROP TABLE cssc_terms;
DROP TABLE cssc_entry_packages;
DROP TABLE cssc_packages;
DROP TABLE cssc_entry_values;
ALTER TABLE cssc_entries
	DROP COLUMN status, DROP COLUMN severity, DROP COLUMN sev_rank, DROP COLUMN fixable,
	DROP COLUMN eol_s, DROP COLUMN eol_ns, DROP COLUMN trusted, DROP COLUMN owner,
	DROP COLUMN platforms, DROP COLUMN licenses, DROP COLUMN signers;
