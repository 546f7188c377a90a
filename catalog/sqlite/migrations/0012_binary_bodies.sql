-- Entry bodies move to the compact binary form of
-- catalog/internal/entrycodec; Get reads both forms (the first byte tells
-- them apart). body_json marks the entries whose body may still be JSON:
-- Open re-encodes those bodies and clears the mark, and Put writes the
-- binary form with the mark clear.
ALTER TABLE entries ADD COLUMN body_json INTEGER NOT NULL DEFAULT 1;
CREATE INDEX entries_body_json ON entries (id) WHERE body_json = 1;
