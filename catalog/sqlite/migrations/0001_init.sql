-- Entries: one row per (repository, digest); body holds catalog.Marshal bytes,
-- the other columns are what filters and facets read.
CREATE TABLE entries (
	id         INTEGER PRIMARY KEY,
	repository TEXT    NOT NULL,
	digest     TEXT    NOT NULL,
	body       BLOB    NOT NULL,
	summary    BLOB    NOT NULL,
	status     TEXT    NOT NULL,
	severity   INTEGER NOT NULL,
	fixable    INTEGER NOT NULL,
	eol        INTEGER,
	owner      TEXT    NOT NULL,
	trusted    INTEGER NOT NULL,
	UNIQUE (repository, digest)
);
CREATE INDEX entries_status ON entries (status);
CREATE INDEX entries_severity ON entries (severity);
CREATE INDEX entries_eol ON entries (eol) WHERE eol IS NOT NULL;
CREATE INDEX entries_owner ON entries (owner);

-- Multi-valued facts of an entry: kind is platform, license, signer, tag,
-- label ("k=v"), labelkey, child (digest), vuln (lower-case ID or alias).
CREATE TABLE entry_values (
	kind     TEXT    NOT NULL,
	value    TEXT    NOT NULL,
	entry_id INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
	PRIMARY KEY (kind, value, entry_id)
) WITHOUT ROWID;
CREATE INDEX entry_values_entry ON entry_values (entry_id, kind);

-- The component-to-image index for reverse queries: one row per package
-- name (and source package name) of an entry.
CREATE TABLE packages (
	name      TEXT    NOT NULL,
	entry_id  INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
	version   TEXT    NOT NULL,
	ecosystem TEXT    NOT NULL,
	PRIMARY KEY (name, entry_id, version, ecosystem)
) WITHOUT ROWID;
CREATE INDEX packages_entry ON packages (entry_id);

-- Free text: distinct lower-case terms, indexed by FTS5 with the trigram
-- tokenizer (substring search), and which entries have which term.
CREATE TABLE terms (
	id   INTEGER PRIMARY KEY,
	term TEXT NOT NULL UNIQUE
);
CREATE VIRTUAL TABLE terms_fts USING fts5 (term, content = 'terms', content_rowid = 'id', tokenize = 'trigram');
CREATE TRIGGER terms_ai AFTER INSERT ON terms BEGIN
	INSERT INTO terms_fts (rowid, term) VALUES (new.id, new.term);
END;
CREATE TRIGGER terms_ad AFTER DELETE ON terms BEGIN
	INSERT INTO terms_fts (terms_fts, rowid, term) VALUES ('delete', old.id, old.term);
END;
CREATE TABLE entry_terms (
	term_id  INTEGER NOT NULL REFERENCES terms (id),
	entry_id INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
	PRIMARY KEY (term_id, entry_id)
) WITHOUT ROWID;
CREATE INDEX entry_terms_entry ON entry_terms (entry_id);

-- Tag history: one row per period during which a tag pointed at a digest.
CREATE TABLE tags (
	id         INTEGER PRIMARY KEY,
	repository TEXT    NOT NULL,
	tag        TEXT    NOT NULL,
	digest     TEXT    NOT NULL,
	first_seen INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	current    INTEGER NOT NULL
);
CREATE INDEX tags_repository ON tags (repository, tag, first_seen);
CREATE UNIQUE INDEX tags_current ON tags (repository, tag) WHERE current = 1;
