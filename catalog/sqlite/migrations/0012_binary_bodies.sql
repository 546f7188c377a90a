-- Entry bodies and summaries move to the compact binary form of
-- catalog/internal/entrycodec; Get and Search read both forms (the first
-- byte tells them apart). body_json marks the entries whose body and
-- summary may still be JSON: Open re-encodes them and clears the mark, and
-- Put writes the binary form with the mark clear.
ALTER TABLE entries ADD COLUMN body_json INTEGER NOT NULL DEFAULT 1;
CREATE INDEX entries_body_json ON entries (id) WHERE body_json = 1;
