-- The work queue, cluster-wide values, locks and sweep records
-- (catalog.Queue, catalog.Coordinator, catalog.SweepLog). Numbered high so
-- that the entries' migrations keep the low numbers. Times are Unix
-- nanoseconds.
CREATE TABLE jobs (
	id       INTEGER PRIMARY KEY,
	kind     TEXT    NOT NULL,
	key      TEXT    NOT NULL UNIQUE,
	grp      TEXT    NOT NULL,
	priority INTEGER NOT NULL,
	payload  BLOB    NOT NULL,
	state    INTEGER NOT NULL, -- 0 pending, 1 leased, 2 done, 3 failed, 4 cancelled
	ready_at INTEGER NOT NULL, -- pending: not before; leased: lease expiry
	attempts INTEGER NOT NULL DEFAULT 0,
	owner    TEXT    NOT NULL DEFAULT '',
	created  INTEGER NOT NULL,
	finished INTEGER,
	outcome  TEXT    NOT NULL DEFAULT '',
	error    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX jobs_claim ON jobs (kind, priority DESC, id) WHERE state < 2;
CREATE INDEX jobs_group ON jobs (grp, state);

CREATE TABLE coord_values (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE locks (
	name    TEXT PRIMARY KEY,
	owner   TEXT    NOT NULL,
	expires INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE sweeps (
	id      TEXT PRIMARY KEY,
	started INTEGER NOT NULL,
	doc     BLOB    NOT NULL
) WITHOUT ROWID;
CREATE INDEX sweeps_started ON sweeps (started DESC, id);
