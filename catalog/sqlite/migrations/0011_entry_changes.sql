-- The last change of an entry, for Get to tell whether the entry it keeps
-- decoded in memory is still current.
CREATE INDEX changes_entry ON changes (entry_id, seq);
