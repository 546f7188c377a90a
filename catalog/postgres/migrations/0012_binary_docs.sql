-- Entry documents and summaries move to the compact binary form of
-- catalog/internal/entrycodec; Get and Search read both forms (the first
-- byte tells them apart). json marks the rows that may still be JSON: a
-- store re-encodes those when it opens and clears the mark, and Put writes
-- the binary form with the mark clear.
ALTER TABLE cssc_entry_docs ADD COLUMN json boolean NOT NULL DEFAULT true;
CREATE INDEX cssc_entry_docs_json ON cssc_entry_docs (entry_id) WHERE json;
