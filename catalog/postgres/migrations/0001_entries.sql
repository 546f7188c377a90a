-- Entries and the indexes that answer catalog.Query.
--
-- Text that is sorted or compared for order uses the "C" collation, so
-- that the order is Go's byte order whatever the database's locale. Values
-- of unbounded length that are looked up by equality (tags, labels,
-- licences, package names, ...) are indexed by their SHA-256 (a B-tree
-- entry cannot exceed about 2.7 kB); facets read the values themselves.
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
	trusted    boolean NOT NULL,
	-- Facet values, as bytes (text cannot hold NUL).
	owner      bytea NOT NULL,
	platforms  bytea[] NOT NULL,
	licenses   bytea[] NOT NULL,
	signers    bytea[] NOT NULL,  -- verified identities; {""} when none (the facet value)
	UNIQUE (repository, digest)
);
CREATE INDEX cssc_entries_status ON cssc_entries (status);
CREATE INDEX cssc_entries_sev ON cssc_entries (sev_rank);
CREATE INDEX cssc_entries_eol ON cssc_entries (eol_s, eol_ns);

-- The canonical bytes of the entry (catalog.Marshal) and of its summary.
CREATE TABLE cssc_entry_docs (
	entry_id bigint PRIMARY KEY REFERENCES cssc_entries ON DELETE CASCADE,
	doc      bytea NOT NULL,
	summary  bytea NOT NULL
);

-- Single values an entry is selected by, by kind (see kind* in store.go):
-- its own and its children's digests, tags, platforms, licences, signer
-- identities, owner, label keys and key=value pairs, vulnerability IDs and
-- aliases (case-folded).
CREATE TABLE cssc_entry_values (
	kind     smallint NOT NULL,
	hash     bytea NOT NULL, -- SHA-256 of the value
	entry_id bigint NOT NULL REFERENCES cssc_entries ON DELETE CASCADE,
	PRIMARY KEY (kind, hash, entry_id)
);
CREATE INDEX cssc_entry_values_entry ON cssc_entry_values (entry_id);
-- Common values (a tag such as latest, a platform, a licence) must be in
-- the planner's most-common-values list, among many unique digests.
ALTER TABLE cssc_entry_values ALTER COLUMN hash SET STATISTICS 1000;

-- Free text: the distinct terms of every entry (catalog.Entry.Terms,
-- lower-cased) with a trigram index, and which entries have which term.
-- A query word selects the terms it is a substring of (LIKE '%word%',
-- through the trigrams for words of three characters or more, by a scan of
-- the distinct terms for shorter ones), then their entries. Terms are never
-- deleted: a term no entry has any more selects nothing.
CREATE TABLE cssc_terms (
	id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	hash bytea NOT NULL UNIQUE, -- SHA-256 of the term
	term text COLLATE "C" NOT NULL
);
CREATE INDEX cssc_terms_trgm ON cssc_terms USING gin (term gin_trgm_ops);
CREATE TABLE cssc_entry_terms (
	term_id  bigint NOT NULL REFERENCES cssc_terms,
	entry_id bigint NOT NULL REFERENCES cssc_entries ON DELETE CASCADE,
	PRIMARY KEY (term_id, entry_id)
);
CREATE INDEX cssc_entry_terms_entry ON cssc_entry_terms (entry_id);

-- The component-to-image index for reverse queries: each distinct
-- package version (name, ecosystem, version) once, listed under its
-- package name and again under its source package name, and which entries
-- have it. A version range is matched once per distinct version. Like
-- terms, package versions are never deleted.
CREATE TABLE cssc_packages (
	id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	hash      bytea NOT NULL UNIQUE, -- SHA-256 of name, ecosystem, version (length-prefixed)
	name_hash bytea NOT NULL,        -- SHA-256 of name
	name      bytea NOT NULL,
	ecosystem bytea NOT NULL,
	version   bytea NOT NULL
);
CREATE INDEX cssc_packages_name ON cssc_packages (name_hash);
CREATE TABLE cssc_entry_packages (
	package_id bigint NOT NULL REFERENCES cssc_packages,
	entry_id   bigint NOT NULL REFERENCES cssc_entries ON DELETE CASCADE,
	PRIMARY KEY (package_id, entry_id)
);
CREATE INDEX cssc_entry_packages_entry ON cssc_entry_packages (entry_id);

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
