package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/internal/entrycache"
	"github.com/cssc-go/cssc/catalog/internal/entrycodec"
	"github.com/cssc-go/cssc/catalog/internal/searchindex"
)

// Options configure Open and New. The zero value is ready to use.
type Options struct {
	// Logger receives the migrations applied at start. Nil means silent.
	Logger *slog.Logger
	// EntryCache is how many entries Get keeps decoded in memory, used
	// again while the entry has not changed (which Get checks in the
	// query that would read it). Zero means 1024; negative means none.
	EntryCache int
	// MaxConns caps the connections of the pool Open creates. Zero means
	// pgxpool's default (the larger of 4 and the number of CPUs). New
	// ignores it.
	MaxConns int32
}

// Store is a catalog.Store in PostgreSQL, for several instances sharing
// one catalog. It is safe for concurrent use, in one process and across
// processes.
type Store struct {
	pool    *pgxpool.Pool
	ownPool bool
	log     *slog.Logger
	closed  atomic.Bool
	ix      *searchindex.Index
	cache   *entrycache.Cache
	writes  atomic.Int64 // Puts and Deletes of this instance, for pruning the changes
}

var _ catalog.Store = (*Store)(nil)

// Open connects to the database at dsn (a PostgreSQL URL or key=value
// string, as pgx reads it), applies the schema migrations the database
// lacks, and returns the store. Instances may open the same database at
// once: migrations run under an advisory lock. The store owns the pool
// and closes it on Close.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s, err := New(ctx, pool, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownPool = true
	return s, nil
}

// New returns a store on pool, which the caller keeps and closes after
// the store, after applying the schema migrations the database lacks
// (see Open).
func New(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	applied, err := migrate(ctx, pool)
	if err != nil {
		return nil, err
	}
	for _, m := range applied {
		log.Info("catalog schema migration applied", "migration", m)
	}
	if opts.EntryCache == 0 {
		opts.EntryCache = 1024
	}
	s := &Store{pool: pool, log: log, ix: searchindex.New(), cache: entrycache.New(opts.EntryCache)}
	if n, err := s.reencode(ctx); err != nil {
		return nil, s.wrap("re-encode entries", err)
	} else if n > 0 {
		log.Info("catalog entries of an older schema re-encoded in the binary form", "entries", n)
	}
	if n, err := s.backfill(ctx); err != nil {
		return nil, s.wrap("search records", err)
	} else if n > 0 {
		log.Info("catalog search records written for entries of an older schema", "entries", n)
	}
	if err := s.ix.Refresh(ctx, feed{s}); err != nil {
		return nil, s.wrap("load index", err)
	}
	return s, nil
}

// Close releases the store (and the pool Open created). Calls after
// Close fail with catalog.ErrClosed; closing twice is harmless.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.ownPool {
		s.pool.Close()
	}
	return nil
}

// check returns catalog.ErrClosed after Close, else ctx's error.
func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return catalog.ErrClosed
	}
	return ctx.Err()
}

// wrap gives a database error its context, and catalog.ErrClosed when the
// store was closed under the call.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() {
		return fmt.Errorf("postgres: %s: %w", op, catalog.ErrClosed)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// MaxRepositoryBytes caps the length of an entry's repository (and of a
// repository whose tags are recorded) in this store: it is part of a
// B-tree key.
const MaxRepositoryBytes = 2048

// Put implements catalog.Store. It writes the entry and every index in
// one transaction.
func (s *Store) Put(ctx context.Context, e *catalog.Entry) error {
	if err := e.Validate(); err != nil {
		return err
	}
	if len(e.Repository) > MaxRepositoryBytes {
		return fmt.Errorf("%w: repository longer than %d bytes", catalog.ErrInvalidEntry, MaxRepositoryBytes)
	}
	doc, err := catalog.Marshal(e)
	if err != nil {
		return err
	}
	// Index the canonical entry, as Get will return it.
	c, err := catalog.Unmarshal(doc)
	if err != nil {
		return err
	}
	sm := c.Summary()
	summary := entrycodec.EncodeSummary(&sm)
	if err := s.check(ctx); err != nil {
		return err
	}
	repo, dgst := c.Repository, c.Digest.String()
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO cssc_entries (repository, digest, search) VALUES ($1, $2, $3)
		ON CONFLICT (repository, digest) DO UPDATE SET search = excluded.search`, repo, dgst, searchindex.Encode(c))
	b.Queue(`INSERT INTO cssc_entry_docs (entry_id, doc, summary, json) SELECT id, $3, $4, false FROM cssc_entries WHERE repository = $1 AND digest = $2
		ON CONFLICT (entry_id) DO UPDATE SET doc = excluded.doc, summary = excluded.summary, json = false`, repo, dgst, entrycodec.Encode(c), summary)
	queueChangeLock(b)
	b.Queue(`INSERT INTO cssc_changes (entry_id) SELECT id FROM cssc_entries WHERE repository = $1 AND digest = $2`, repo, dgst)
	s.queuePrune(b)
	// A batch runs in one implicit transaction: all of it or nothing. A
	// deadlock or serialization failure is retried.
	for attempt := 0; ; attempt++ {
		err = s.pool.SendBatch(ctx, b).Close()
		if err == nil || attempt == 4 || !retryable(err) {
			break
		}
	}
	if err != nil {
		return s.wrap("put "+c.Key(), err)
	}
	return nil
}

// keepChanges is how many changes cssc_changes keeps; an index further
// behind loads every record again.
const keepChanges = 100_000

// queueChangeLock adds to b (a batch, run as one transaction) the
// advisory lock that orders changes, held until the transaction ends: the
// next statement numbers a change, and change numbers then commit in
// order (see migration 0010). Writers queue it last but one, so that it
// is held only while the change is numbered and the transaction commits.
func queueChangeLock(b *pgx.Batch) {
	b.Queue(`SELECT pg_advisory_xact_lock($1, $2)`, lockClass, lockChanges)
}

// queuePrune adds to b, at every thousandth write of this instance, the
// deletion of the changes beyond the last keepChanges.
func (s *Store) queuePrune(b *pgx.Batch) {
	if s.writes.Add(1)%1000 == 0 {
		b.Queue(`DELETE FROM cssc_changes WHERE seq <= (SELECT max(seq) FROM cssc_changes) - $1`, keepChanges)
	}
}

// retryable reports whether err is a transient conflict between
// transactions (deadlock, serialization failure).
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

// Get implements catalog.Store.
func (s *Store) Get(ctx context.Context, repository string, d digest.Digest) (*catalog.Entry, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if !storable(repository) || !storable(string(d)) {
		return nil, fmt.Errorf("%w: %s@%s", catalog.ErrNotFound, repository, d)
	}
	// The entry's id and last change, and its document unless the cache
	// has it at that change: one query either way.
	key := repository + "@" + string(d)
	cachedID, cachedSeq, _ := s.cache.Version(key)
	var id, seq int64
	var doc []byte
	err := s.pool.QueryRow(ctx, `SELECT x.id, x.seq, CASE WHEN x.id = $3 AND x.seq = $4 THEN NULL
			ELSE (SELECT doc FROM cssc_entry_docs WHERE entry_id = x.id) END
		FROM (SELECT e.id, coalesce((SELECT max(seq) FROM cssc_changes c WHERE c.entry_id = e.id), 0) AS seq
			FROM cssc_entries e WHERE e.repository = $1 AND e.digest = $2) x`,
		repository, string(d), cachedID, cachedSeq).Scan(&id, &seq, &doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s@%s", catalog.ErrNotFound, repository, d)
	}
	if err != nil {
		return nil, s.wrap("get", err)
	}
	if e, err := s.cache.Load(key, id, seq, doc); e != nil || err != nil {
		return e, err
	}
	// Evicted between the query and now.
	err = s.pool.QueryRow(ctx, `SELECT doc FROM cssc_entry_docs WHERE entry_id = $1`, id).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s@%s", catalog.ErrNotFound, repository, d)
	}
	if err != nil {
		return nil, s.wrap("get", err)
	}
	return s.cache.Decode(key, id, seq, doc)
}

// Delete implements catalog.Store.
func (s *Store) Delete(ctx context.Context, repository string, d digest.Digest) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if !storable(repository) || !storable(string(d)) {
		return fmt.Errorf("%w: %s@%s", catalog.ErrNotFound, repository, d)
	}
	// The lock comes before the delete: the change is numbered in the
	// same statement.
	b := &pgx.Batch{}
	queueChangeLock(b)
	var deleted int64
	b.Queue(`WITH d AS (DELETE FROM cssc_entries WHERE repository = $1 AND digest = $2 RETURNING id)
		INSERT INTO cssc_changes (entry_id) SELECT id FROM d`, repository, string(d)).Exec(func(tag pgconn.CommandTag) error {
		deleted = tag.RowsAffected()
		return nil
	})
	s.queuePrune(b)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return s.wrap("delete", err)
	}
	if deleted == 0 {
		return fmt.Errorf("%w: %s@%s", catalog.ErrNotFound, repository, d)
	}
	return nil
}

// Repositories implements catalog.Store.
func (s *Store) Repositories(ctx context.Context) ([]string, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT repository FROM cssc_entries
		UNION SELECT repository FROM cssc_tags WHERE current ORDER BY 1`)
	if err != nil {
		return nil, s.wrap("repositories", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, s.wrap("repositories", err)
	}
	return out, nil
}

// storable reports whether s can be a text value: UTF-8 without NUL.
func storable(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// pgText makes s storable in a PostgreSQL text value, which cannot hold
// NUL: NUL becomes U+FFFD (so a query for U+FFFD also finds NUL).
func pgText(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// split returns t as Unix seconds and nanoseconds: exact for any time, and
// ordered as the pair.
func split(t time.Time) (int64, int32) { return t.Unix(), int32(t.Nanosecond()) }

func unsplit(sec int64, ns int32) time.Time { return time.Unix(sec, int64(ns)).UTC() }

var _ catalog.BatchGetter = (*Store)(nil)

// getManyChunk is how many entries one query of GetMany reads.
const getManyChunk = 500

// GetMany implements catalog.BatchGetter: one query per 500 refs reads
// each entry's id and last change, and its document unless the cache has
// the entry at that change.
func (s *Store) GetMany(ctx context.Context, refs []catalog.EntryRef) ([]*catalog.Entry, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out := make([]*catalog.Entry, len(refs))
	for start := 0; start < len(refs); start += getManyChunk {
		if err := s.getMany(ctx, refs[start:min(start+getManyChunk, len(refs))], out[start:]); err != nil {
			return nil, s.wrap("get", err)
		}
	}
	return out, nil
}

// getMany reads the entries of refs into out.
func (s *Store) getMany(ctx context.Context, refs []catalog.EntryRef, out []*catalog.Entry) error {
	n := len(refs)
	repos, digests, keys := make([]string, n), make([]string, n), make([]string, n)
	ids, seqs := make([]int64, n), make([]int64, n)
	for i, r := range refs {
		keys[i] = r.Repository + "@" + string(r.Digest)
		if !storable(r.Repository) || !storable(string(r.Digest)) {
			continue // no entry has it; "" matches none
		}
		repos[i], digests[i] = r.Repository, string(r.Digest)
		ids[i], seqs[i], _ = s.cache.Version(keys[i])
	}
	rows, err := s.pool.Query(ctx, `SELECT x.i::int, e.id, c.seq, CASE WHEN e.id = x.cid AND c.seq = x.cseq THEN NULL
			ELSE (SELECT doc FROM cssc_entry_docs WHERE entry_id = e.id) END
		FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) WITH ORDINALITY AS x(repo, dgst, cid, cseq, i)
		JOIN cssc_entries e ON e.repository = x.repo COLLATE "C" AND e.digest = x.dgst COLLATE "C"
		CROSS JOIN LATERAL (SELECT coalesce((SELECT max(seq) FROM cssc_changes c WHERE c.entry_id = e.id), 0) AS seq) c`,
		repos, digests, ids, seqs)
	if err != nil {
		return err
	}
	defer rows.Close()
	var evicted []int
	for rows.Next() {
		var i int
		var id, seq int64
		var doc []byte
		if err := rows.Scan(&i, &id, &seq, &doc); err != nil {
			return err
		}
		i-- // ordinality counts from 1
		if i < 0 || i >= n {
			return fmt.Errorf("row for ref %d of %d", i, n)
		}
		e, err := s.cache.Load(keys[i], id, seq, doc)
		if err != nil {
			return err
		}
		if e == nil {
			evicted = append(evicted, i)
		}
		out[i] = e
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	// Evicted between the query and now: read them again.
	for _, i := range evicted {
		e, err := s.Get(ctx, refs[i].Repository, refs[i].Digest)
		if err != nil && !errors.Is(err, catalog.ErrNotFound) {
			return err
		}
		out[i] = e
	}
	return nil
}
