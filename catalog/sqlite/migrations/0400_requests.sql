-- Requests for images (catalog.RequestStore): one row per request. The
-- document is catalog.MarshalRequest's JSON; revision is the
-- compare-and-swap token; created is Unix microseconds. A partial unique
-- index keeps at most one open request per key (duplicates collapse).
CREATE TABLE image_requests (
	id        TEXT    NOT NULL PRIMARY KEY,
	key       TEXT    NOT NULL,
	state     TEXT    NOT NULL,
	open      INTEGER NOT NULL,
	requester TEXT    NOT NULL,
	created   INTEGER NOT NULL,
	revision  INTEGER NOT NULL,
	doc       BLOB    NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX image_requests_open_key ON image_requests (key) WHERE open = 1;
CREATE INDEX image_requests_created ON image_requests (created DESC, id DESC);
CREATE INDEX image_requests_requester ON image_requests (requester, created DESC, id DESC);
CREATE INDEX image_requests_state ON image_requests (state, created DESC, id DESC);
