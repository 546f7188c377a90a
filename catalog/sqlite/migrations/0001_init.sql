-- Entries: one narrow row per (repository, digest) with the facts that
-- filters and facets read (compact JSON, loaded into memory by the store);
-- the canonical entry and its search summary live in bodies.
CREATE TABLE entries (
	id         INTEGER PRIMARY KEY,
	repository TEXT NOT NULL,
	digest     TEXT NOT NULL,
	facets     BLOB NOT NULL,
	UNIQUE (repository, digest)
);
CREATE TABLE bodies (
	entry_id INTEGER PRIMARY KEY REFERENCES entries (id) ON DELETE CASCADE,
	body     BLOB NOT NULL,
	summary  BLOB NOT NULL
);

-- Every write to entries, in order: stores in other processes (and other
-- Store values on the same file) catch up with their in-memory index by
-- reading the changes after the last one they applied.
CREATE TABLE changes (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	entry_id INTEGER NOT NULL
);

-- Reverse query by vulnerability: lower-case IDs and aliases.
CREATE TABLE vulns (
	vuln     TEXT    NOT NULL,
	entry_id INTEGER NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
	PRIMARY KEY (vuln, entry_id)
) WITHOUT ROWID;
CREATE INDEX vulns_entry ON vulns (entry_id);

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
