-- Requests for images (catalog.RequestStore): one row per request. The
-- document is catalog.MarshalRequest's JSON; revision is the
-- compare-and-swap token. A partial unique index keeps at most one open
-- request per key (duplicates collapse).
CREATE TABLE cssc_requests (
	id        text COLLATE "C" PRIMARY KEY,
	key       text COLLATE "C" NOT NULL,
	state     text NOT NULL,
	open      boolean NOT NULL,
	requester text COLLATE "C" NOT NULL,
	created   timestamptz NOT NULL,
	revision  bigint NOT NULL,
	doc       bytea NOT NULL
);
CREATE UNIQUE INDEX cssc_requests_open_key ON cssc_requests (key) WHERE open;
CREATE INDEX cssc_requests_created ON cssc_requests (created DESC, id DESC);
CREATE INDEX cssc_requests_requester ON cssc_requests (requester, created DESC, id DESC);
CREATE INDEX cssc_requests_state ON cssc_requests (state, created DESC, id DESC);
