package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"
	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/internal/entrycache"
	"github.com/cssc-go/cssc/catalog/internal/entrycodec"
	"github.com/cssc-go/cssc/catalog/internal/searchindex"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configure Open. The zero value is usable.
type Options struct {
	// Readers is how many connections serve reads at once. Zero means 4.
	// Writes always go through one connection (SQLite has one writer).
	Readers int
	// BusyTimeout is how long a statement waits for a lock held by
	// another process. Zero means 5 s.
	BusyTimeout time.Duration
	// Logger receives debug logs (migrations). Nil means silent.
	Logger *slog.Logger
	// EntryCache is how many entries Get keeps decoded in memory, used
	// again while the entry has not changed (which Get checks in the
	// query that would read it). Zero means 1024; negative means none.
	EntryCache int
}

// Store is a catalog.Store in one SQLite file (WAL mode), searched through
// an in-memory index kept in step with the file (see the package doc).
// Several goroutines may use it at once; several processes may open the
// same file, but writes are serialised by SQLite.
type Store struct {
	w, r  *sql.DB
	log   *slog.Logger
	ix    *searchindex.Index
	cache *entrycache.Cache
	stmts struct {
		// On the readers: each search and each Get runs them (preparing
		// a statement costs as much as running it).
		head, summaries, get, getBody, getMany *sql.Stmt
	}

	mu     sync.RWMutex // guards closed
	closed bool
}

var _ catalog.Store = (*Store)(nil)

// Open opens (creating if missing) the catalog database at path and
// applies the embedded migrations. path ":memory:" is not supported (the
// reader and writer connections must share one database); use a file in a
// temporary directory instead.
func Open(ctx context.Context, file string, opts Options) (*Store, error) {
	if file == "" || file == ":memory:" || strings.HasPrefix(file, "file:") {
		return nil, fmt.Errorf("catalog/sqlite: path %q: want a file path", file)
	}
	if opts.Readers <= 0 {
		opts.Readers = 4
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dsn := func(write bool) string {
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "cache_size(-65536)")
		q.Add("_pragma", "temp_store(MEMORY)")
		if write {
			q.Set("_txlock", "immediate")
		} else {
			q.Add("_pragma", "query_only(1)")
		}
		return "file:" + (&url.URL{Path: file}).EscapedPath() + "?" + q.Encode()
	}
	w, err := sql.Open("sqlite", dsn(true))
	if err != nil {
		return nil, fmt.Errorf("catalog/sqlite: open %s: %w", file, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if opts.EntryCache == 0 {
		opts.EntryCache = 1024
	}
	s := &Store{w: w, log: log, ix: searchindex.New(), cache: entrycache.New(opts.EntryCache)}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn(false))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("catalog/sqlite: open %s: %w", file, err)
	}
	r.SetMaxOpenConns(opts.Readers)
	r.SetMaxIdleConns(opts.Readers)
	r.SetConnMaxLifetime(0)
	s.r = r
	for _, st := range []struct {
		dst  **sql.Stmt
		text string
	}{
		{&s.stmts.head, `SELECT (SELECT min(seq) FROM changes), (SELECT max(seq) FROM changes)`},
		{&s.stmts.summaries, `SELECT entry_id, summary FROM bodies WHERE entry_id IN (SELECT value FROM json_each(?))`},
		// The entry's id and last change, and its body unless the cache
		// has it at that change.
		{&s.stmts.get, `SELECT id, seq, CASE WHEN id = ? AND seq = ? THEN NULL ELSE (SELECT body FROM bodies WHERE entry_id = id) END
			FROM (SELECT e.id AS id, coalesce((SELECT max(seq) FROM changes c WHERE c.entry_id = e.id), 0) AS seq
				FROM entries e WHERE e.repository = ? AND e.digest = ?)`},
		{&s.stmts.getBody, `SELECT body FROM bodies WHERE entry_id = ?`},
		// Get for a JSON array of [repository, digest, cached id, cached
		// change]: the index of each ref found, with what get reads.
		{&s.stmts.getMany, `SELECT k, id, seq, CASE WHEN id = cid AND seq = cseq THEN NULL ELSE (SELECT body FROM bodies WHERE entry_id = id) END
			FROM (SELECT j.key AS k, e.id AS id, coalesce((SELECT max(seq) FROM changes c WHERE c.entry_id = e.id), 0) AS seq,
					j.value ->> 2 AS cid, j.value ->> 3 AS cseq
				FROM json_each(?) j JOIN entries e ON e.repository = j.value ->> 0 AND e.digest = j.value ->> 1)`},
	} {
		if *st.dst, err = r.PrepareContext(ctx, st.text); err != nil {
			s.Close()
			return nil, fmt.Errorf("catalog/sqlite: prepare: %w", err)
		}
	}
	if n, err := s.reencode(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("catalog/sqlite: re-encode entries: %w", err)
	} else if n > 0 {
		log.InfoContext(ctx, "catalog/sqlite: entries of an older schema re-encoded in the binary form", "entries", n)
	}
	if n, err := s.backfill(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("catalog/sqlite: search records: %w", err)
	} else if n > 0 {
		log.InfoContext(ctx, "catalog/sqlite: search records written for entries of an older schema", "entries", n)
	}
	if err := s.loadIndex(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("catalog/sqlite: load index: %w", err)
	}
	return s, nil
}

// loadIndex brings the search index up to date in a read transaction.
func (s *Store) loadIndex(ctx context.Context) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return s.ix.Refresh(ctx, feed{tx, s.stmts.head})
}

// migrate applies the embedded migrations not applied yet, in order, each
// in its own transaction.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("catalog/sqlite: migrations table: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, name := range names {
		version := strings.TrimSuffix(path.Base(name), ".sql")
		var n int
		if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
			return fmt.Errorf("catalog/sqlite: migrations: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied) VALUES (?, ?)`, version, time.Now().Unix())
			return err
		})
		if err != nil {
			return fmt.Errorf("catalog/sqlite: migration %s: %w", version, err)
		}
		s.log.DebugContext(ctx, "catalog/sqlite: migration applied", "version", version)
	}
	return nil
}

// Close closes the database. Further calls fail with catalog.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, st := range []*sql.Stmt{s.stmts.head, s.stmts.summaries, s.stmts.get, s.stmts.getBody, s.stmts.getMany} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	return errors.Join(append(errs, s.w.Close())...)
}

// use runs fn unless the store is closed; Close waits for it.
func (s *Store) use(ctx context.Context, fn func() error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return catalog.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return fn()
}

func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// row is what Put writes for one entry.
type row struct {
	e       *catalog.Entry
	body    []byte // entrycodec.Encode
	summary []byte // entrycodec.EncodeSummary
	search  []byte // searchindex.Encode
}

func prepare(e *catalog.Entry) (*row, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	doc, err := catalog.Marshal(e)
	if err != nil {
		return nil, err
	}
	n, err := catalog.Unmarshal(doc) // the normalized copy
	if err != nil {
		return nil, err
	}
	sm := n.Summary()
	return &row{e: n, body: entrycodec.Encode(n), summary: entrycodec.EncodeSummary(&sm), search: searchindex.Encode(n)}, nil
}

// Put implements catalog.Store.
func (s *Store) Put(ctx context.Context, e *catalog.Entry) error {
	return s.PutAll(ctx, []*catalog.Entry{e})
}

// PutAll puts several entries in one transaction: all or none. It is
// Put for many entries at once (a rebuild, a reconcile batch), much
// faster than one Put each.
func (s *Store) PutAll(ctx context.Context, entries []*catalog.Entry) error {
	rows := make([]*row, len(entries))
	for i, e := range entries {
		r, err := prepare(e)
		if err != nil {
			return err
		}
		rows[i] = r
	}
	return s.use(ctx, func() error {
		return s.tx(ctx, func(tx *sql.Tx) error {
			p, err := newPutter(ctx, tx)
			if err != nil {
				return err
			}
			defer p.close()
			for _, r := range rows {
				if err := p.put(ctx, r); err != nil {
					return fmt.Errorf("catalog/sqlite: put %s: %w", r.e.Key(), err)
				}
			}
			_, err = p.prune.ExecContext(ctx, keepChanges)
			return err
		})
	})
}

// putter holds the prepared statements of a Put transaction.
type putter struct {
	find, insert, update, body, change, prune *sql.Stmt
}

// keepChanges is how many changes the changes table keeps; a reader
// further behind reloads its index.
const keepChanges = 100000

func newPutter(ctx context.Context, tx *sql.Tx) (*putter, error) {
	p := &putter{}
	for _, s := range []struct {
		dst  **sql.Stmt
		text string
	}{
		{&p.find, `SELECT id FROM entries WHERE repository = ? AND digest = ?`},
		{&p.insert, `INSERT INTO entries (repository, digest, search, body_json) VALUES (?, ?, ?, 0)`},
		{&p.update, `UPDATE entries SET search = ?, body_json = 0 WHERE id = ?`},
		{&p.body, `INSERT INTO bodies (entry_id, body, summary) VALUES (?, ?, ?) ON CONFLICT (entry_id) DO UPDATE SET body = excluded.body, summary = excluded.summary`},
		{&p.change, `INSERT INTO changes (entry_id) VALUES (?)`},
		{&p.prune, `DELETE FROM changes WHERE seq <= (SELECT max(seq) FROM changes) - ?`},
	} {
		st, err := tx.PrepareContext(ctx, s.text)
		if err != nil {
			p.close()
			return nil, err
		}
		*s.dst = st
	}
	return p, nil
}

func (p *putter) close() {
	for _, st := range []*sql.Stmt{p.find, p.insert, p.update, p.body, p.change, p.prune} {
		if st != nil {
			st.Close()
		}
	}
}

// put writes the entry, its body and summary, its search record and a
// change for the indexes of every Store on the file.
func (p *putter) put(ctx context.Context, r *row) error {
	e := r.e
	var id int64
	err := p.find.QueryRowContext(ctx, e.Repository, e.Digest.String()).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		res, err := p.insert.ExecContext(ctx, e.Repository, e.Digest.String(), r.search)
		if err != nil {
			return err
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if _, err := p.update.ExecContext(ctx, r.search, id); err != nil {
			return err
		}
	}
	if _, err := p.body.ExecContext(ctx, id, r.body, r.summary); err != nil {
		return err
	}
	_, err = p.change.ExecContext(ctx, id)
	return err
}

// Get implements catalog.Store.
func (s *Store) Get(ctx context.Context, repository string, d digest.Digest) (*catalog.Entry, error) {
	var e *catalog.Entry
	err := s.use(ctx, func() (err error) {
		e, err = s.get(ctx, repository, d)
		return err
	})
	return e, err
}

// get is Get inside use.
func (s *Store) get(ctx context.Context, repository string, d digest.Digest) (*catalog.Entry, error) {
	key := repository + "@" + d.String()
	id, seq, e, found, err := s.getRow(ctx, key, repository, d)
	if err != nil {
		return nil, fmt.Errorf("catalog/sqlite: get: %w", err)
	}
	if !found {
		return nil, fmt.Errorf("%w: %s@%s", catalog.ErrNotFound, repository, d)
	}
	if e != nil {
		return e, nil
	}
	// Evicted between the query and now.
	var body []byte
	err = s.stmts.getBody.QueryRowContext(ctx, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s@%s", catalog.ErrNotFound, repository, d)
	}
	if err != nil {
		return nil, fmt.Errorf("catalog/sqlite: get: %w", err)
	}
	return s.cache.Decode(key, id, seq, body)
}

// getRow runs the get statement: the entry's id and last change, and the
// entry, decoded from its body and cached or, when the cache has it at
// that change (the statement then reads no body), taken from the cache (nil
// if evicted since). It decodes from the row's own bytes (sql.RawBytes):
// decoding copies them once, so database/sql need not copy them first.
func (s *Store) getRow(ctx context.Context, key, repository string, d digest.Digest) (id, seq int64, e *catalog.Entry, found bool, err error) {
	cachedID, cachedSeq, _ := s.cache.Version(key)
	rows, err := s.stmts.get.QueryContext(ctx, cachedID, cachedSeq, repository, d.String())
	if err != nil {
		return 0, 0, nil, false, err
	}
	defer rows.Close()
	if !rows.Next() {
		return 0, 0, nil, false, rows.Err()
	}
	var body sql.RawBytes
	if err := rows.Scan(&id, &seq, &body); err != nil {
		return 0, 0, nil, false, err
	}
	if e, err = s.cache.Load(key, id, seq, body); err != nil {
		return 0, 0, nil, false, err
	}
	return id, seq, e, true, rows.Close()
}

// Delete implements catalog.Store.
func (s *Store) Delete(ctx context.Context, repository string, d digest.Digest) error {
	return s.use(ctx, func() error {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			var id int64
			err := tx.QueryRowContext(ctx, `SELECT id FROM entries WHERE repository = ? AND digest = ?`, repository, d.String()).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("%w: %s@%s", catalog.ErrNotFound, repository, d)
			}
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM entries WHERE id = ?`, id); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO changes (entry_id) VALUES (?)`, id)
			return err
		})
		if err != nil && !errors.Is(err, catalog.ErrNotFound) {
			return fmt.Errorf("catalog/sqlite: delete: %w", err)
		}
		return err
	})
}

// RecordTags implements catalog.Store.
func (s *Store) RecordTags(ctx context.Context, repository string, tags map[string]digest.Digest, at time.Time, complete bool) ([]catalog.TagEvent, error) {
	if err := catalog.CheckTags(repository, tags); err != nil {
		return nil, err
	}
	at = at.UTC()
	var events []catalog.TagEvent
	err := s.use(ctx, func() error {
		return s.tx(ctx, func(tx *sql.Tx) error {
			events = nil
			current := map[string]struct {
				id int64
				d  digest.Digest
			}{}
			rows, err := tx.QueryContext(ctx, `SELECT id, tag, digest FROM tags WHERE repository = ? AND current = 1`, repository)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id int64
				var tag, d string
				if err := rows.Scan(&id, &tag, &d); err != nil {
					rows.Close()
					return err
				}
				current[tag] = struct {
					id int64
					d  digest.Digest
				}{id, digest.Digest(d)}
			}
			if err := rows.Close(); err != nil {
				return err
			}
			ns := at.UnixNano()
			for _, tag := range sortedKeys(tags) {
				d := tags[tag]
				cur, ok := current[tag]
				switch {
				case ok && cur.d == d:
					if _, err := tx.ExecContext(ctx, `UPDATE tags SET last_seen = max(last_seen, ?) WHERE id = ?`, ns, cur.id); err != nil {
						return err
					}
					continue
				case ok:
					if _, err := tx.ExecContext(ctx, `UPDATE tags SET current = 0 WHERE id = ?`, cur.id); err != nil {
						return err
					}
					events = append(events, catalog.TagEvent{Type: catalog.TagMoved, Repository: repository, Tag: tag, From: cur.d, To: d, At: at})
				default:
					events = append(events, catalog.TagEvent{Type: catalog.TagAdded, Repository: repository, Tag: tag, To: d, At: at})
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO tags (repository, tag, digest, first_seen, last_seen, current) VALUES (?, ?, ?, ?, ?, 1)`,
					repository, tag, d.String(), ns, ns); err != nil {
					return err
				}
			}
			if complete {
				for _, tag := range sortedKeys(current) {
					if _, ok := tags[tag]; ok {
						continue
					}
					if _, err := tx.ExecContext(ctx, `UPDATE tags SET current = 0 WHERE id = ?`, current[tag].id); err != nil {
						return err
					}
					events = append(events, catalog.TagEvent{Type: catalog.TagRemoved, Repository: repository, Tag: tag, From: current[tag].d, At: at})
				}
			}
			slices.SortStableFunc(events, func(a, b catalog.TagEvent) int { return strings.Compare(a.Tag, b.Tag) })
			return nil
		})
	})
	if err != nil && !errors.Is(err, catalog.ErrClosed) {
		err = fmt.Errorf("catalog/sqlite: record tags: %w", err)
	}
	return events, err
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Tags implements catalog.Store.
func (s *Store) Tags(ctx context.Context, repository string) (map[string]digest.Digest, error) {
	out := map[string]digest.Digest{}
	err := s.use(ctx, func() error {
		rows, err := s.r.QueryContext(ctx, `SELECT tag, digest FROM tags WHERE repository = ? AND current = 1`, repository)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var tag, d string
			if err := rows.Scan(&tag, &d); err != nil {
				return err
			}
			out[tag] = digest.Digest(d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// TagHistory implements catalog.Store.
func (s *Store) TagHistory(ctx context.Context, repository, tag string) ([]catalog.TagRecord, error) {
	var out []catalog.TagRecord
	err := s.use(ctx, func() error {
		rows, err := s.r.QueryContext(ctx, `SELECT tag, digest, first_seen, last_seen, current FROM tags
			WHERE repository = ? AND (? = '' OR tag = ?) ORDER BY tag, first_seen, digest, id`, repository, tag, tag)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r catalog.TagRecord
			var d string
			var first, last int64
			var cur int
			if err := rows.Scan(&r.Tag, &d, &first, &last, &cur); err != nil {
				return err
			}
			r.Repository, r.Digest, r.Current = repository, digest.Digest(d), cur == 1
			r.FirstSeen, r.LastSeen = time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, err
}

// Repositories implements catalog.Store.
func (s *Store) Repositories(ctx context.Context) ([]string, error) {
	var out []string
	err := s.use(ctx, func() error {
		rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT repository FROM entries UNION SELECT DISTINCT repository FROM tags WHERE current = 1 ORDER BY 1`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r string
			if err := rows.Scan(&r); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	return out, err
}

var _ catalog.BatchGetter = (*Store)(nil)

// getManyChunk is how many entries one query of GetMany reads.
const getManyChunk = 200

// GetMany implements catalog.BatchGetter: one query per 200 refs reads
// each entry's id and last change, and its body unless the cache has the
// entry at that change.
func (s *Store) GetMany(ctx context.Context, refs []catalog.EntryRef) ([]*catalog.Entry, error) {
	out := make([]*catalog.Entry, len(refs))
	err := s.use(ctx, func() error {
		for start := 0; start < len(refs); start += getManyChunk {
			if err := s.getMany(ctx, refs[start:min(start+getManyChunk, len(refs))], out[start:]); err != nil {
				return fmt.Errorf("catalog/sqlite: get: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// getMany reads the entries of refs into out.
func (s *Store) getMany(ctx context.Context, refs []catalog.EntryRef, out []*catalog.Entry) error {
	// [repository, digest, cached id, cached change] per ref. A ref that
	// no entry can have (not UTF-8, or with NUL: JSON would change it) is
	// left out: it is not found.
	args := make([][4]any, len(refs))
	keys := make([]string, len(refs))
	for i, r := range refs {
		keys[i] = r.Repository + "@" + r.Digest.String()
		if !utf8.ValidString(keys[i]) || strings.IndexByte(keys[i], 0) >= 0 {
			args[i] = [4]any{"", "", 0, 0}
			continue
		}
		id, seq, _ := s.cache.Version(keys[i])
		args[i] = [4]any{r.Repository, r.Digest.String(), id, seq}
	}
	arg, err := json.Marshal(args)
	if err != nil {
		return err
	}
	rows, err := s.stmts.getMany.QueryContext(ctx, string(arg))
	if err != nil {
		return err
	}
	defer rows.Close()
	var evicted []int
	for rows.Next() {
		var i int
		var id, seq int64
		var body sql.RawBytes // decoding copies it
		if err := rows.Scan(&i, &id, &seq, &body); err != nil {
			return err
		}
		if i < 0 || i >= len(refs) {
			return fmt.Errorf("row for ref %d of %d", i, len(refs))
		}
		e, err := s.cache.Load(keys[i], id, seq, body)
		if err != nil {
			return err
		}
		if e == nil {
			evicted = append(evicted, i)
		}
		out[i] = e
	}
	if err := rows.Close(); err != nil {
		return err
	}
	// Evicted between the query and now: read them again (get's errors
	// say where they come from).
	for _, i := range evicted {
		e, err := s.get(ctx, refs[i].Repository, refs[i].Digest)
		if err != nil && !errors.Is(err, catalog.ErrNotFound) {
			return err
		}
		out[i] = e
	}
	return nil
}
