-- The work queue, cluster-wide values and sweep records (catalog.Queue,
-- catalog.Coordinator, catalog.SweepLog). Numbered high so that the
-- entries' migrations keep the low numbers.
CREATE TABLE cssc_jobs (
	id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind     text COLLATE "C" NOT NULL,
	key      text COLLATE "C" NOT NULL UNIQUE,
	grp      text COLLATE "C" NOT NULL,
	priority integer NOT NULL,
	payload  bytea NOT NULL,
	state    smallint NOT NULL,     -- 0 pending, 1 leased, 2 done, 3 failed, 4 cancelled
	ready_at timestamptz NOT NULL,  -- pending: not before; leased: lease expiry
	attempts integer NOT NULL DEFAULT 0,
	owner    text NOT NULL DEFAULT '',
	created  timestamptz NOT NULL DEFAULT now(),
	finished timestamptz,
	outcome  text NOT NULL DEFAULT '',
	error    text NOT NULL DEFAULT ''
);
-- Claims walk the live jobs of a kind in claim order.
CREATE INDEX cssc_jobs_claim ON cssc_jobs (kind, priority DESC, id) WHERE state < 2;
CREATE INDEX cssc_jobs_group ON cssc_jobs (grp, state);

CREATE TABLE cssc_values (
	key   text COLLATE "C" PRIMARY KEY,
	value text NOT NULL
);

CREATE TABLE cssc_sweeps (
	id      text COLLATE "C" PRIMARY KEY,
	started bigint NOT NULL, -- Unix nanoseconds
	doc     bytea NOT NULL   -- JSON of catalog.Sweep
);
CREATE INDEX cssc_sweeps_started ON cssc_sweeps (started DESC, id);
