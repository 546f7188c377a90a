package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/registry"
)

// SyncOptions configure NewSyncer. The zero value is usable.
type SyncOptions struct {
	// Concurrency bounds the repositories reconciled at once and, within
	// one repository, the tags resolved at once. Zero means 4.
	Concurrency int
	// MaxTags caps the tags read from one repository; more is a failure of
	// that repository. Zero means 100000.
	MaxTags int
	// Now is the clock of tag observations. Nil means time.Now.
	Now func() time.Time
	// OnTagEvent, if set, receives every tag change (added, moved,
	// removed) after it is recorded. It may be called from several
	// goroutines at once and must return quickly.
	OnTagEvent func(TagEvent)
	// Logger receives logs. Nil means silent.
	Logger *slog.Logger
}

// Syncer keeps a Store in step with a golden registry: Reconcile walks
// repositories, Promoted is the acquire pipeline's promotion hook. It
// resolves every tag with a HEAD request and catalogs (fetches) only
// digests the store does not have, so reconciling an unchanged registry
// reads no manifest. Rebuilding a lost database is Reconcile into an empty
// store: the registry holds every fact, and entries come out identical,
// for every image a tag names. An image no tag names (retired and
// untagged by lifecycle) is not listed by any registry API: a rebuild
// gets it back only through Index with its digest.
type Syncer struct {
	client *registry.Client
	cat    Cataloger
	store  Store
	opts   SyncOptions
	log    *slog.Logger
	locks  sync.Map // repository -> *sync.Mutex
}

// NewSyncer returns a Syncer that opens repositories with client,
// catalogs images with c and writes to s.
func NewSyncer(client *registry.Client, c Cataloger, s Store, opts SyncOptions) (*Syncer, error) {
	if client == nil || c == nil || s == nil {
		return nil, errors.New("catalog: syncer needs a registry client, a cataloger and a store")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.MaxTags <= 0 {
		opts.MaxTags = 100000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Syncer{client: client, cat: c, store: s, opts: opts, log: log}, nil
}

// SyncReport says what a reconcile did.
type SyncReport struct {
	// Repositories counts the repositories examined.
	Repositories int `json:"repositories"`
	// Tags counts the tags resolved.
	Tags int `json:"tags"`
	// Catalogued counts the images read from the registry (new digests).
	Catalogued int `json:"catalogued"`
	// Retagged counts entries whose tags changed without a registry read.
	Retagged int `json:"retagged"`
	// Unchanged counts images already in the store with the same tags.
	Unchanged int `json:"unchanged"`
	// Events are the tag changes recorded.
	Events []TagEvent `json:"events,omitempty"`
	// Failures are what could not be done; they are retried by the next
	// reconcile (the store keeps what it had).
	Failures []Failure `json:"failures,omitempty"`
}

// Failure is one repository, tag or image a reconcile could not process.
type Failure struct {
	Repository string        `json:"repository"`
	Tag        string        `json:"tag,omitempty"`
	Digest     digest.Digest `json:"digest,omitempty"`
	Err        string        `json:"error"`
}

// Err returns an error naming the failures, or nil.
func (r *SyncReport) Err() error {
	if len(r.Failures) == 0 {
		return nil
	}
	errs := make([]error, len(r.Failures))
	for i, f := range r.Failures {
		errs[i] = fmt.Errorf("%s %s %s: %s", f.Repository, f.Tag, f.Digest, f.Err)
	}
	return fmt.Errorf("catalog: reconcile: %d failure(s): %w", len(r.Failures), errors.Join(errs...))
}

func (r *SyncReport) merge(o *SyncReport) {
	r.Repositories += o.Repositories
	r.Tags += o.Tags
	r.Catalogued += o.Catalogued
	r.Retagged += o.Retagged
	r.Unchanged += o.Unchanged
	r.Events = append(r.Events, o.Events...)
	r.Failures = append(r.Failures, o.Failures...)
}

// Reconcile brings the store in step with every repository under prefix
// (a location prefix: "registry.corp/golden", "oci:/var/golden",
// "mem:golden"; see registry.Client.Repositories). A repository or image
// that fails is reported and skipped, and the others go on; the store
// keeps what it had for them, so the next reconcile resumes where this one
// failed. The error is nil unless the repositories could not be listed or
// ctx ended; failures are in the report.
func (s *Syncer) Reconcile(ctx context.Context, prefix string) (*SyncReport, error) {
	repos, err := s.client.Repositories(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("catalog: reconcile %s: %w", prefix, err)
	}
	total := &SyncReport{}
	var mu sync.Mutex
	sem := make(chan struct{}, s.opts.Concurrency)
	var wg sync.WaitGroup
	for _, loc := range repos {
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := s.ReconcileRepository(ctx, loc)
			mu.Lock()
			total.merge(r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	sortReport(total)
	return total, ctx.Err()
}

func sortReport(r *SyncReport) {
	slices.SortStableFunc(r.Events, func(a, b TagEvent) int {
		if a.Repository != b.Repository {
			return cmpString(a.Repository, b.Repository)
		}
		return cmpString(a.Tag, b.Tag)
	})
	slices.SortStableFunc(r.Failures, func(a, b Failure) int {
		if a.Repository != b.Repository {
			return cmpString(a.Repository, b.Repository)
		}
		return cmpString(a.Tag, b.Tag)
	})
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Promoted is the promotion hook of the acquire pipeline: set
// acquire.Config.OnPromoted to it. It reconciles the golden repository the
// record names, so the new image, and the tags that moved away from the
// previous one, are in the store when the run returns. Failures are
// logged; the next reconcile retries them.
func (s *Syncer) Promoted(ctx context.Context, rec *acquire.Record) {
	if rec == nil || rec.Golden == "" {
		return
	}
	r := s.ReconcileRepository(ctx, rec.Golden)
	if err := r.Err(); err != nil {
		s.log.WarnContext(ctx, "catalog: indexing a promoted image failed; the next reconcile retries", "golden", rec.Golden, "digest", rec.Digest, "error", err)
		return
	}
	s.log.InfoContext(ctx, "catalog: promoted image indexed", "golden", rec.Golden, "digest", rec.Digest, "catalogued", r.Catalogued)
}

// Index catalogs the image d of the repository loc (a location) that no
// tag names, and puts its entry with the tags the store records for d
// (none in a new store). It is how a rebuild gets back the images that
// Reconcile cannot find: an image untagged at retirement keeps its digest
// and its signed referrers (lifecycle marker included), but a registry
// lists only tags, so the digest must come from elsewhere (the lifecycle
// events, the acquire run records, an export of the old database). An
// entry the store has already is returned as it is. The errors of the
// registry and of the Cataloger are returned as they are (ErrNotFound
// from the registry when d is not in loc).
func (s *Syncer) Index(ctx context.Context, loc string, d digest.Digest) (*Entry, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("catalog: index %s@%s: %w: %v", loc, d, ErrInvalidEntry, err)
	}
	defer s.lock(loc)()
	e, err := s.store.Get(ctx, loc, d)
	if err == nil {
		return e, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("catalog: index %s@%s: store: %w", loc, d, err)
	}
	repo, err := s.client.Repository(ctx, loc)
	if err != nil {
		return nil, fmt.Errorf("catalog: index %s@%s: %w", loc, d, err)
	}
	current, err := s.store.Tags(ctx, loc)
	if err != nil {
		return nil, fmt.Errorf("catalog: index %s@%s: store: %w", loc, d, err)
	}
	e, err = s.cat.Catalog(ctx, repo, d.String())
	if err != nil {
		return nil, fmt.Errorf("catalog: index %s@%s: %w", loc, d, err)
	}
	var tags []string
	for t, td := range current {
		if td == d {
			tags = append(tags, t)
		}
	}
	e.Repository, e.Tags = loc, sortedSet(tags)
	if err := s.store.Put(ctx, e); err != nil {
		return nil, fmt.Errorf("catalog: index %s@%s: store: %w", loc, d, err)
	}
	s.log.InfoContext(ctx, "catalog: untagged image indexed", "repository", loc, "digest", d)
	return e, nil
}

// metadataTag matches the tags that hold metadata rather than images:
// the referrers fallback index "sha256-<hex>" and cosign's ".sig", ".att"
// and ".sbom" tags.
var metadataTag = regexp.MustCompile(`^sha256-[0-9a-f]{64}(\.[a-z]+)?$`)

func (s *Syncer) lock(repo string) func() {
	m, _ := s.locks.LoadOrStore(repo, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// ReconcileRepository reconciles one repository (a location): list its
// tags, resolve each (HEAD), catalog digests the store does not have, fix
// the tags of entries whose tags changed, and record the observation.
func (s *Syncer) ReconcileRepository(ctx context.Context, loc string) *SyncReport {
	defer s.lock(loc)()
	rep := &SyncReport{Repositories: 1}
	fail := func(tag string, d digest.Digest, err error) {
		rep.Failures = append(rep.Failures, Failure{Repository: loc, Tag: tag, Digest: d, Err: err.Error()})
		s.log.WarnContext(ctx, "catalog: reconcile failure", "repository", loc, "tag", tag, "digest", d, "error", err)
	}
	repo, err := s.client.Repository(ctx, loc)
	if err != nil {
		fail("", "", err)
		return rep
	}
	var tags []string
	err = repo.Tags(ctx, "", func(page []string) error {
		for _, t := range page {
			if metadataTag.MatchString(t) {
				continue
			}
			if len(tags) >= s.opts.MaxTags {
				return fmt.Errorf("more than %d tags", s.opts.MaxTags)
			}
			tags = append(tags, t)
		}
		return nil
	})
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		fail("", "", fmt.Errorf("list tags: %w", err))
		return rep
	}
	at := s.opts.Now().UTC()

	// Resolve every tag (HEAD).
	resolved := make([]digest.Digest, len(tags))
	errs := make([]error, len(tags))
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.opts.Concurrency)
	for i, t := range tags {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d, err := repo.Resolve(ctx, t)
			resolved[i], errs[i] = d.Digest, err
		}()
	}
	wg.Wait()
	complete := true
	observed := map[string]digest.Digest{}
	byDigest := map[digest.Digest][]string{}
	for i, t := range tags {
		if errs[i] != nil {
			complete = false
			fail(t, "", fmt.Errorf("resolve: %w", errs[i]))
			continue
		}
		observed[t] = resolved[i]
		byDigest[resolved[i]] = append(byDigest[resolved[i]], t)
	}
	rep.Tags = len(observed)
	current, err := s.store.Tags(ctx, loc)
	if err != nil {
		fail("", "", fmt.Errorf("store: %w", err))
		return rep
	}

	// Entries to write: new digests (catalogued), and entries whose tags
	// changed (retagged without a registry read).
	digests := make([]digest.Digest, 0, len(byDigest))
	for d := range byDigest {
		digests = append(digests, d)
	}
	for t, old := range current {
		if _, ok := byDigest[old]; !ok {
			if nd, seen := observed[t]; (seen && nd != old) || (!seen && complete) {
				digests = append(digests, old) // lost its tag
				byDigest[old] = nil
			}
		}
	}
	slices.Sort(digests)
	digests = slices.Compact(digests)
	type result struct {
		e       *Entry
		changed bool
		fresh   bool
		err     error
	}
	results := make([]result, len(digests))
	for i, d := range digests {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			want := slices.Clone(byDigest[d])
			if !complete {
				// Keep the tags that could not be resolved this time.
				for t, cd := range current {
					if cd == d {
						if _, ok := observed[t]; !ok {
							want = append(want, t)
						}
					}
				}
			}
			want = sortedSet(want)
			e, err := s.store.Get(ctx, loc, d)
			switch {
			case err == nil:
				if slices.Equal(e.Tags, want) {
					results[i] = result{e: e}
					return
				}
				e.Tags = want
				results[i] = result{e: e, changed: true}
			case errors.Is(err, ErrNotFound) && len(want) > 0:
				e, err := s.cat.Catalog(ctx, repo, d.String())
				if err != nil {
					results[i] = result{err: err}
					return
				}
				e.Repository, e.Tags = loc, want
				results[i] = result{e: e, changed: true, fresh: true}
			case errors.Is(err, ErrNotFound):
				// An untagged digest the store never had: nothing to do.
			default:
				results[i] = result{err: err}
			}
		}()
	}
	wg.Wait()
	for i, r := range results {
		d := digests[i]
		switch {
		case r.err != nil:
			fail("", d, r.err)
			for _, t := range byDigest[d] {
				delete(observed, t) // not recorded: retried next time
			}
			complete = false
		case r.changed:
			if err := s.store.Put(ctx, r.e); err != nil {
				fail("", d, fmt.Errorf("store: %w", err))
				for _, t := range byDigest[d] {
					delete(observed, t)
				}
				complete = false
				continue
			}
			if r.fresh {
				rep.Catalogued++
			} else {
				rep.Retagged++
			}
		case r.e != nil:
			rep.Unchanged++
		}
	}
	events, err := s.store.RecordTags(ctx, loc, observed, at, complete)
	if err != nil {
		fail("", "", fmt.Errorf("record tags: %w", err))
		return rep
	}
	rep.Events = events
	for _, ev := range events {
		s.log.InfoContext(ctx, "catalog: tag "+string(ev.Type), "repository", ev.Repository, "tag", ev.Tag, "from", ev.From, "to", ev.To)
		if s.opts.OnTagEvent != nil {
			s.opts.OnTagEvent(ev)
		}
	}
	return rep
}
