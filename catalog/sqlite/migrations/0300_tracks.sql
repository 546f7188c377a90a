-- Upstream tracking state (catalog.TrackStore): one row per golden tag
-- that follows a source tag. The document is catalog.MarshalTrack's JSON;
-- revision is the compare-and-swap token; checked (Unix nanoseconds, 0 for
-- never) is kept apart so that a check can move it without a revision.
-- Numbered high so that the entries' and the queue's migrations keep the
-- lower numbers.
CREATE TABLE upstream_tracks (
	golden      TEXT    NOT NULL,
	tag         TEXT    NOT NULL,
	source_name TEXT    NOT NULL,
	revision    INTEGER NOT NULL,
	checked     INTEGER NOT NULL,
	doc         BLOB    NOT NULL,
	PRIMARY KEY (golden, tag)
) WITHOUT ROWID;
CREATE INDEX upstream_tracks_source ON upstream_tracks (source_name, golden, tag);
