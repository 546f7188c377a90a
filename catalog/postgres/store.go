package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
)

// Options configure Open and New. The zero value is ready to use.
type Options struct {
	// Logger receives the migrations applied at start. Nil means silent.
	Logger *slog.Logger
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
	return &Store{pool: pool, log: log}, nil
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

// Kinds of cssc_entry_values.
const (
	kindDigest   = 1 // the entry's digest and its children's
	kindTag      = 2
	kindPlatform = 3
	kindLicense  = 4
	kindSigner   = 5 // verified identities
	kindOwner    = 6
	kindLabelKey = 7
	kindLabel    = 8 // key and value, see labelHash
	kindVuln     = 9 // finding IDs and aliases, case-folded
)

// MaxRepositoryBytes caps the length of an entry's repository (and of a
// repository whose tags are recorded) in this store: it is part of a
// B-tree key.
const MaxRepositoryBytes = 2048

// hash returns the SHA-256 of the length-prefixed parts: distinct part
// lists give distinct hashes.
func hash(parts ...string) []byte {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return h.Sum(nil)
}

func labelHash(k, v string) []byte { return hash(k, v) }

// row is what Put writes for one entry.
type row struct {
	status, severity string
	sevRank          int
	fixable, trusted bool
	eolS             *int64
	eolNS            *int32
	owner            []byte
	platforms        [][]byte
	licenses         [][]byte
	signers          [][]byte
	valueKinds       []int16
	valueHashes      [][]byte
	termHashes       [][]byte
	terms            []string
	pkgHashes        [][]byte
	pkgNameHashes    [][]byte
	pkgNames         [][]byte
	pkgEcosystems    [][]byte
	pkgVersions      [][]byte
}

func byteSlices(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func rowOf(e *catalog.Entry) row {
	r := row{
		status:    string(e.Status),
		severity:  e.Vulnerabilities.Max(),
		fixable:   e.Vulnerabilities.Fixable > 0,
		trusted:   e.Trusted(),
		owner:     []byte(e.Owner),
		platforms: byteSlices(e.Platforms),
		licenses:  byteSlices(e.Licenses),
		signers:   byteSlices(e.Signature.Identities),
	}
	if r.status == "" {
		r.status = string(catalog.StatusActive)
	}
	r.sevRank, _ = catalog.SeverityRank(r.severity)
	if len(r.signers) == 0 {
		r.signers = [][]byte{{}}
	}
	if e.EndOfLife != nil {
		sec, ns := split(e.EndOfLife.Date)
		r.eolS, r.eolNS = &sec, &ns
	}

	type vkey struct {
		kind int16
		hash string
	}
	values := map[vkey]bool{}
	value := func(kind int16, h []byte) {
		if k := (vkey{kind, string(h)}); !values[k] {
			values[k] = true
			r.valueKinds = append(r.valueKinds, kind)
			r.valueHashes = append(r.valueHashes, h)
		}
	}
	value(kindDigest, hash(e.Digest.String()))
	for _, t := range e.Tags {
		value(kindTag, hash(t))
	}
	for _, p := range e.Platforms {
		value(kindPlatform, hash(p))
	}
	for _, l := range e.Licenses {
		value(kindLicense, hash(l))
	}
	for _, id := range e.Signature.Identities {
		value(kindSigner, hash(id))
	}
	value(kindOwner, hash(e.Owner))
	for k, v := range e.Labels {
		value(kindLabelKey, hash(k))
		value(kindLabel, labelHash(k, v))
	}

	type pkey struct{ name, eco, version string }
	pkgs := map[pkey]bool{}
	for _, c := range e.Children {
		value(kindDigest, hash(c.Digest.String()))
		for _, p := range c.Packages {
			for _, name := range []string{p.Name, p.SourceName} {
				k := pkey{name, p.Ecosystem, p.Version}
				if name != "" && !pkgs[k] {
					pkgs[k] = true
					r.pkgHashes = append(r.pkgHashes, hash(k.name, k.eco, k.version))
					r.pkgNameHashes = append(r.pkgNameHashes, hash(k.name))
					r.pkgNames = append(r.pkgNames, []byte(k.name))
					r.pkgEcosystems = append(r.pkgEcosystems, []byte(k.eco))
					r.pkgVersions = append(r.pkgVersions, []byte(k.version))
				}
			}
		}
		for _, f := range c.Findings {
			value(kindVuln, hash(fold(f.ID)))
			for _, a := range f.Aliases {
				value(kindVuln, hash(fold(a)))
			}
		}
	}
	seen := map[string]bool{}
	for _, t := range e.Terms() {
		if t = pgText(t); !seen[t] {
			seen[t] = true
			r.terms = append(r.terms, t)
			r.termHashes = append(r.termHashes, hash(t))
		}
	}
	return r
}

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
	summary, err := json.Marshal(c.Summary())
	if err != nil {
		return fmt.Errorf("%w: %v", catalog.ErrInvalidEntry, err)
	}
	if err := s.check(ctx); err != nil {
		return err
	}
	r := rowOf(c)
	repo, dgst := c.Repository, c.Digest.String()
	const id = "(SELECT id FROM cssc_entries WHERE repository = $1 AND digest = $2)"
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO cssc_entries (repository, digest, status, severity, sev_rank, fixable, eol_s, eol_ns,
			trusted, owner, platforms, licenses, signers)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (repository, digest) DO UPDATE SET status = excluded.status, severity = excluded.severity,
			sev_rank = excluded.sev_rank, fixable = excluded.fixable, eol_s = excluded.eol_s, eol_ns = excluded.eol_ns,
			trusted = excluded.trusted, owner = excluded.owner, platforms = excluded.platforms,
			licenses = excluded.licenses, signers = excluded.signers`,
		repo, dgst, r.status, r.severity, r.sevRank, r.fixable, r.eolS, r.eolNS,
		r.trusted, r.owner, r.platforms, r.licenses, r.signers)
	b.Queue(`INSERT INTO cssc_entry_docs (entry_id, doc, summary) SELECT `+id+`, $3, $4
		ON CONFLICT (entry_id) DO UPDATE SET doc = excluded.doc, summary = excluded.summary`, repo, dgst, doc, summary)
	b.Queue(`DELETE FROM cssc_entry_values WHERE entry_id = `+id, repo, dgst)
	b.Queue(`INSERT INTO cssc_entry_values (kind, hash, entry_id)
		SELECT k, h, `+id+` FROM unnest($3::smallint[], $4::bytea[]) AS t(k, h)`, repo, dgst, r.valueKinds, r.valueHashes)
	// Shared dictionaries: insert in hash order, so that concurrent Puts
	// wait for each other in one order and cannot deadlock.
	b.Queue(`INSERT INTO cssc_terms (hash, term) SELECT h, t FROM unnest($1::bytea[], $2::text[]) AS x(h, t)
		ORDER BY h ON CONFLICT (hash) DO NOTHING`, r.termHashes, r.terms)
	b.Queue(`DELETE FROM cssc_entry_terms WHERE entry_id = `+id, repo, dgst)
	b.Queue(`INSERT INTO cssc_entry_terms (term_id, entry_id)
		SELECT t.id, `+id+` FROM cssc_terms t WHERE t.hash = ANY($3::bytea[])`, repo, dgst, r.termHashes)
	b.Queue(`INSERT INTO cssc_packages (hash, name_hash, name, ecosystem, version)
		SELECT h, nh, n, e, v FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[]) AS x(h, nh, n, e, v)
		ORDER BY h ON CONFLICT (hash) DO NOTHING`, r.pkgHashes, r.pkgNameHashes, r.pkgNames, r.pkgEcosystems, r.pkgVersions)
	b.Queue(`DELETE FROM cssc_entry_packages WHERE entry_id = `+id, repo, dgst)
	b.Queue(`INSERT INTO cssc_entry_packages (package_id, entry_id)
		SELECT p.id, `+id+` FROM cssc_packages p WHERE p.hash = ANY($3::bytea[])`, repo, dgst, r.pkgHashes)
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
	var doc []byte
	err := s.pool.QueryRow(ctx, `SELECT d.doc FROM cssc_entries e JOIN cssc_entry_docs d ON d.entry_id = e.id
		WHERE e.repository = $1 AND e.digest = $2`, repository, string(d)).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s@%s", catalog.ErrNotFound, repository, d)
	}
	if err != nil {
		return nil, s.wrap("get", err)
	}
	return catalog.Unmarshal(doc)
}

// Delete implements catalog.Store.
func (s *Store) Delete(ctx context.Context, repository string, d digest.Digest) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if !storable(repository) || !storable(string(d)) {
		return fmt.Errorf("%w: %s@%s", catalog.ErrNotFound, repository, d)
	}
	tag, err := s.pool.Exec(ctx, "DELETE FROM cssc_entries WHERE repository = $1 AND digest = $2", repository, string(d))
	if err != nil {
		return s.wrap("delete", err)
	}
	if tag.RowsAffected() == 0 {
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

// fold returns s with each rune replaced by the smallest rune of its
// case-folding orbit, so that fold(a) == fold(b) exactly when
// strings.EqualFold(a, b).
func fold(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}

// split returns t as Unix seconds and nanoseconds: exact for any time, and
// ordered as the pair.
func split(t time.Time) (int64, int32) { return t.Unix(), int32(t.Nanosecond()) }

func unsplit(sec int64, ns int32) time.Time { return time.Unix(sec, int64(ns)).UTC() }
