-- Upstream tracking state (catalog.TrackStore): one row per golden tag
-- that follows a source tag. The document is catalog.MarshalTrack's JSON;
-- revision is the compare-and-swap token; checked is kept apart so that a
-- check can move it without a revision. Numbered high so that the
-- entries' and the queue's migrations keep the lower numbers.
CREATE TABLE cssc_upstream_tracks (
	golden      text COLLATE "C" NOT NULL,
	tag         text COLLATE "C" NOT NULL,
	source_name text COLLATE "C" NOT NULL,
	revision    bigint NOT NULL,
	checked     timestamptz,
	doc         bytea NOT NULL,
	PRIMARY KEY (golden, tag)
);
CREATE INDEX cssc_upstream_tracks_source ON cssc_upstream_tracks (source_name, golden, tag);
