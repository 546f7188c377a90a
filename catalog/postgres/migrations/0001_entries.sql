-- Entries and the indexes that answer catalog.Query. Text columns that are
-- sorted or compared for order use the "C" collation, so that the order is
-- Go's byte order whatever the database's locale.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE cssc_entries (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	repository text COLLATE "C" NOT NULL,
	digest     text COLLATE "C" NOT NULL,
	status     text NOT NULL,
	severity   text NOT NULL,     -- Vulnerabilities.Max()
	sev_rank   smallint NOT NULL, -- catalog.SeverityRank(severity)
	fixable    boolean NOT NULL,
	eol_s      bigint,            -- end of life: Unix seconds and nanoseconds, NULL if unknown
	eol_ns     integer,
	owner      text NOT NULL,
	trusted    boolean NOT NULL,
	platforms  text[] NOT NULL,
	licenses   text[] NOT NULL,
	signers    text[] NOT NULL,   -- verified identities; {""} when none (the facet value)
	tags       text[] NOT NULL,
	labels     jsonb NOT NULL,
	UNIQUE (repository, digest)
);
CREATE INDEX cssc_entries_status ON cssc_entries (status);
CREATE INDEX cssc_entries_sev ON cssc_entries (sev_rank);
CREATE INDEX cssc_entries_owner ON cssc_entries (owner);
CREATE INDEX cssc_entries_eol ON cssc_entries (eol_s, eol_ns);
CREATE INDEX cssc_entries_platforms ON cssc_entries USING gin (platforms);
CREATE INDEX cssc_entries_licenses ON cssc_entries USING gin (licenses);
CREATE INDEX cssc_entries_signers ON cssc_entries USING gin (signers);
CREATE INDEX cssc_entries_tags ON cssc_entries USING gin (tags);
CREATE INDEX cssc_entries_labels ON cssc_entries USING gin (labels);

-- The canonical bytes of the entry (catalog.Marshal) and of its summary.
CREATE TABLE cssc_entry_docs (
	entry_id bigint PRIMARY KEY REFERENCES cssc_entries ON DELETE CASCADE,
	doc      bytea NOT NULL,
	summary  bytea NOT NULL
);

-- Free text: the entry's terms (catalog.Entry.Terms), lower-cased, one per
-- line; words match substrings through the trigram index.
CREATE TABLE cssc_entry_text (
	entry_id bigint PRIMARY KEY REFERENCES cssc_entries ON DELETE CASCADE,
	terms    text NOT NULL
);
CREATE INDEX cssc_entry_text_trgm ON cssc_entry_text USING gin (terms gin_trgm_ops);

-- The entry's digest and its children's.
CREATE TABLE cssc_entry_digests (
	digest   text COLLATE "C" NOT NULL,
	entry_id bigint NOT NULL REFERENCES cssc_entries ON DELETE CASCADE,
	PRIMARY KEY (digest, entry_id)
);
CREATE INDEX cssc_entry_digests_entry ON cssc_entry_digests (entry_id);

-- The component-to-image index for reverse queries: one row per entry and
-- distinct (name, ecosystem, version), under the package name and again
-- under its source package name.
CREATE TABLE cssc_entry_packages (
	name      text COLLATE "C" NOT NULL,
	ecosystem text COLLATE "C" NOT NULL,
	version   text COLLATE "C" NOT NULL,
	entry_id  bigint NOT NULL REFERENCES cssc_entries ON DELETE CASCADE,
	PRIMARY KEY (name, ecosystem, version, entry_id)
);
CREATE INDEX cssc_entry_packages_entry ON cssc_entry_packages (entry_id);

-- Vulnerability IDs and aliases of trusted findings, case-folded.
CREATE TABLE cssc_entry_vulns (
	vuln     text COLLATE "C" NOT NULL,
	entry_id bigint NOT NULL REFERENCES cssc_entries ON DELETE CASCADE,
	PRIMARY KEY (vuln, entry_id)
);
CREATE INDEX cssc_entry_vulns_entry ON cssc_entry_vulns (entry_id);

-- Tag history: one row per period during which a tag pointed at a digest.
CREATE TABLE cssc_tags (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	repository text COLLATE "C" NOT NULL,
	tag        text COLLATE "C" NOT NULL,
	digest     text COLLATE "C" NOT NULL,
	first_s    bigint NOT NULL,
	first_ns   integer NOT NULL,
	last_s     bigint NOT NULL,
	last_ns    integer NOT NULL,
	current    boolean NOT NULL
);
CREATE INDEX cssc_tags_history ON cssc_tags (repository, tag, first_s, first_ns, digest);
CREATE UNIQUE INDEX cssc_tags_current ON cssc_tags (repository, tag) WHERE current;
