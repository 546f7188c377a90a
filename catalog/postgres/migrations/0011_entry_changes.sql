-- The last change of an entry, for Get to tell whether the entry it keeps
-- decoded in memory is still current.
CREATE INDEX cssc_changes_entry ON cssc_changes (entry_id, seq);
