package postgres

import (
	"context"
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

// row is what Put writes for one entry.
type row struct {
	status, severity string
	sevRank          int
	fixable, trusted bool
	eolS             *int64
	eolNS            *int32
	owner            string
	platforms        []string
	licenses         []string
	signers          []string
	tags             []string
	labels           map[string]string
	terms            string
	digests          []string
	pkgNames         []string
	pkgEcosystems    []string
	pkgVersions      []string
	vulns            []string
}

func rowOf(e *catalog.Entry) row {
	r := row{
		status:    string(e.Status),
		severity:  e.Vulnerabilities.Max(),
		fixable:   e.Vulnerabilities.Fixable > 0,
		trusted:   e.Trusted(),
		owner:     pgText(e.Owner),
		platforms: pgTexts(e.Platforms),
		licenses:  pgTexts(e.Licenses),
		signers:   pgTexts(e.Signature.Identities),
		tags:      pgTexts(e.Tags),
		labels:    map[string]string{},
	}
	if r.status == "" {
		r.status = string(catalog.StatusActive)
	}
	r.sevRank, _ = catalog.SeverityRank(r.severity)
	if len(r.signers) == 0 {
		r.signers = []string{""}
	}
	if e.EndOfLife != nil {
		sec, ns := split(e.EndOfLife.Date)
		r.eolS, r.eolNS = &sec, &ns
	}
	for k, v := range e.Labels {
		r.labels[pgText(k)] = pgText(v)
	}
	r.terms = pgText(strings.Join(e.Terms(), "\n"))
	r.digests = []string{e.Digest.String()}
	type pkey struct{ name, eco, version string }
	pkgs := map[pkey]bool{}
	vulns := map[string]bool{}
	for _, c := range e.Children {
		if c.Digest != e.Digest {
			r.digests = append(r.digests, c.Digest.String())
		}
		for _, p := range c.Packages {
			for _, name := range []string{p.Name, p.SourceName} {
				k := pkey{pgText(name), pgText(p.Ecosystem), pgText(p.Version)}
				if name != "" && !pkgs[k] {
					pkgs[k] = true
					r.pkgNames = append(r.pkgNames, k.name)
					r.pkgEcosystems = append(r.pkgEcosystems, k.eco)
					r.pkgVersions = append(r.pkgVersions, k.version)
				}
			}
		}
		for _, f := range c.Findings {
			for _, id := range append([]string{f.ID}, f.Aliases...) {
				if v := pgText(fold(id)); !vulns[v] {
					vulns[v] = true
					r.vulns = append(r.vulns, v)
				}
			}
		}
	}
	return r
}

// Put implements catalog.Store.
func (s *Store) Put(ctx context.Context, e *catalog.Entry) error {
	if err := e.Validate(); err != nil {
		return err
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
	b.Queue(`INSERT INTO cssc_entries (repository, digest, status, severity, sev_rank, fixable, eol_s, eol_ns, owner,
			trusted, platforms, licenses, signers, tags, labels)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (repository, digest) DO UPDATE SET status = excluded.status, severity = excluded.severity,
			sev_rank = excluded.sev_rank, fixable = excluded.fixable, eol_s = excluded.eol_s, eol_ns = excluded.eol_ns,
			owner = excluded.owner, trusted = excluded.trusted, platforms = excluded.platforms,
			licenses = excluded.licenses, signers = excluded.signers, tags = excluded.tags, labels = excluded.labels`,
		repo, dgst, r.status, r.severity, r.sevRank, r.fixable, r.eolS, r.eolNS, r.owner,
		r.trusted, r.platforms, r.licenses, r.signers, r.tags, r.labels)
	b.Queue(`INSERT INTO cssc_entry_docs (entry_id, doc, summary) SELECT `+id+`, $3, $4
		ON CONFLICT (entry_id) DO UPDATE SET doc = excluded.doc, summary = excluded.summary`, repo, dgst, doc, summary)
	b.Queue(`INSERT INTO cssc_entry_text (entry_id, terms) SELECT `+id+`, $3
		ON CONFLICT (entry_id) DO UPDATE SET terms = excluded.terms`, repo, dgst, r.terms)
	b.Queue(`DELETE FROM cssc_entry_digests WHERE entry_id = `+id, repo, dgst)
	b.Queue(`INSERT INTO cssc_entry_digests (digest, entry_id) SELECT d, `+id+` FROM unnest($3::text[]) AS t(d)`, repo, dgst, r.digests)
	b.Queue(`DELETE FROM cssc_entry_packages WHERE entry_id = `+id, repo, dgst)
	b.Queue(`INSERT INTO cssc_entry_packages (name, ecosystem, version, entry_id)
		SELECT n, e, v, `+id+` FROM unnest($3::text[], $4::text[], $5::text[]) AS t(n, e, v)`,
		repo, dgst, r.pkgNames, r.pkgEcosystems, r.pkgVersions)
	b.Queue(`DELETE FROM cssc_entry_vulns WHERE entry_id = `+id, repo, dgst)
	b.Queue(`INSERT INTO cssc_entry_vulns (vuln, entry_id) SELECT v, `+id+` FROM unnest($3::text[]) AS t(v)`, repo, dgst, r.vulns)
	// A batch runs in one implicit transaction: all of it or nothing.
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return s.wrap("put "+c.Key(), err)
	}
	return nil
}

// Get implements catalog.Store.
func (s *Store) Get(ctx context.Context, repository string, d digest.Digest) (*catalog.Entry, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var doc []byte
	err := s.pool.QueryRow(ctx, `SELECT d.doc FROM cssc_entries e JOIN cssc_entry_docs d ON d.entry_id = e.id
		WHERE e.repository = $1 AND e.digest = $2`, pgText(repository), pgText(d.String())).Scan(&doc)
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
	tag, err := s.pool.Exec(ctx, "DELETE FROM cssc_entries WHERE repository = $1 AND digest = $2", pgText(repository), pgText(d.String()))
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

// pgText makes s storable in a PostgreSQL text value, which cannot hold
// NUL: NUL becomes U+FFFD (so a query for U+FFFD also finds NUL).
func pgText(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

func pgTexts(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = pgText(s)
	}
	return out
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
