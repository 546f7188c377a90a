package lifecycle

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/dn"
)

// SweepKind is the catalog.Sweep Kind of lifecycle run records.
const SweepKind = "lifecycle"

// DefaultGenerator is the artifact.AnnotationGeneratedBy value of the
// markers a Runner writes when Options.Generator is empty.
const DefaultGenerator = "cssc-lifecycle"

// lockName is the cluster-wide lock a run holds.
const lockName = "lifecycle/run"

// ErrBusy is returned by Run and Apply when another instance holds the
// cluster-wide lifecycle lock.
var ErrBusy = errors.New("lifecycle: another run is in progress")

// Options configure a Runner. Store, Policy, Open, Signer and Verifier
// are required.
type Options struct {
	// Store holds the catalog entries; the Runner updates their status,
	// end of life and replacement.
	Store catalog.Store
	// Policy is the compiled lifecycle configuration.
	Policy *Policy
	// Open opens a golden repository by its location (Entry.Repository),
	// for instance registry.Client.Repository.
	Open func(ctx context.Context, location string) (registry.Repository, error)
	// Signer is the enterprise signer of the markers the Runner writes.
	Signer sign.Signer
	// Verifier verifies enterprise signatures: a lifecycle marker counts
	// only when it verifies (an unsigned or upstream marker never does).
	Verifier sign.Verifier
	// Identities, if not empty, are the enterprise signer identities
	// accepted (distinguished names compared as names); a marker that
	// verifies for another identity is untrusted. Empty means every
	// identity the Verifier's trust material verifies.
	Identities []string
	// Events receives a CloudEvent per applied change (the Type
	// constants). Nil means none; event.Func adapts a callback.
	Events event.Sink
	// EventSource is the CloudEvents source. Empty means DefaultSource.
	EventSource string
	// Sweeps, if set, receives a record of each run (catalog.Sweep of
	// kind SweepKind), for the portal's sweeps page. Nil means none.
	Sweeps catalog.SweepLog
	// Coordinator, if set, holds the cluster-wide lock that keeps two
	// instances from applying lifecycle changes at once. Nil means no
	// lock (one instance).
	Coordinator catalog.Coordinator
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Generator is written as artifact.AnnotationGeneratedBy on markers.
	// Empty means DefaultGenerator.
	Generator string
	// MaxMarkers caps the lifecycle markers examined per image (the
	// newest first). Zero means 64.
	MaxMarkers int
	// Concurrency is how many images are examined at once while planning
	// (markers listed and verified). Changes are applied one at a time.
	// Zero means 4.
	Concurrency int
	// Logger receives logs. Nil means silent.
	Logger *slog.Logger
}

// Runner moves catalog entries through their lifecycle: it decides each
// entry's end of life and status (Plan, a dry run), and applies the
// changes (Apply, Run): signed markers, retirement actions, events,
// entries, retention. A Runner is safe for concurrent use; runs of several
// instances are serialized by Options.Coordinator.
type Runner struct {
	opts     Options
	log      *slog.Logger
	accepted []dn.Name
	rawIDs   []string
}

// New returns a Runner. It fails (ErrInvalidConfig) without a store, a
// policy, a way to open repositories, a signer or a verifier.
func New(opts Options) (*Runner, error) {
	switch {
	case opts.Store == nil:
		return nil, fmt.Errorf("%w: no store", ErrInvalidConfig)
	case opts.Policy == nil:
		return nil, fmt.Errorf("%w: no policy", ErrInvalidConfig)
	case opts.Open == nil:
		return nil, fmt.Errorf("%w: no way to open repositories", ErrInvalidConfig)
	case opts.Signer == nil:
		return nil, fmt.Errorf("%w: no signer: lifecycle markers must be signed", ErrInvalidConfig)
	case opts.Verifier == nil:
		return nil, fmt.Errorf("%w: no verifier: lifecycle markers are trusted only when verified", ErrInvalidConfig)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.EventSource == "" {
		opts.EventSource = DefaultSource
	}
	if opts.Generator == "" {
		opts.Generator = DefaultGenerator
	}
	if opts.MaxMarkers <= 0 {
		opts.MaxMarkers = 64
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	r := &Runner{opts: opts, log: opts.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	for _, id := range opts.Identities {
		n, err := dn.Parse(id)
		if err != nil {
			r.rawIDs = append(r.rawIDs, id)
			continue
		}
		r.accepted = append(r.accepted, n)
	}
	return r, nil
}

func (r *Runner) now() time.Time { return r.opts.Now().UTC() }

// Plan decides what a run would do now, without changing anything: a dry
// run. It reads the store and the golden registry (markers and their
// signatures).
func (r *Runner) Plan(ctx context.Context) (*Plan, error) {
	return r.plan(ctx, r.now())
}

func (r *Runner) plan(ctx context.Context, now time.Time) (*Plan, error) {
	entries, err := r.entries(ctx)
	if err != nil {
		return nil, err
	}
	g := r.newGatherer()
	facts := make([]Facts, len(entries))
	sem := make(chan struct{}, r.opts.Concurrency)
	var wg sync.WaitGroup
	for i, e := range entries {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			facts[i] = g.gather(ctx, e)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := &Plan{ID: planID(now), At: now, Entries: len(entries)}
	for _, c := range r.opts.Policy.PlanFacts(facts, now) {
		if c == nil {
			p.Unchanged++
			continue
		}
		p.Changes = append(p.Changes, c)
	}
	slices.SortFunc(p.Changes, func(a, b *Change) int {
		return cmp.Or(cmp.Compare(a.Repository, b.Repository), cmp.Compare(a.Digest, b.Digest))
	})
	return p, nil
}

func planID(now time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "lifecycle-" + now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// entries returns every entry of the store.
func (r *Runner) entries(ctx context.Context) ([]*catalog.Entry, error) {
	var out []*catalog.Entry
	q := catalog.Query{Limit: catalog.MaxLimit}
	for {
		res, err := r.opts.Store.Search(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("lifecycle: list entries: %w", err)
		}
		for _, s := range res.Entries {
			e, err := r.opts.Store.Get(ctx, s.Repository, s.Digest)
			if errors.Is(err, catalog.ErrNotFound) {
				continue // deleted meanwhile
			}
			if err != nil {
				return nil, fmt.Errorf("lifecycle: get %s@%s: %w", s.Repository, s.Digest, err)
			}
			out = append(out, e)
		}
		if res.Next == "" {
			return out, nil
		}
		q.Cursor = res.Next
	}
}

// Run plans and applies at once, and records the run (Options.Sweeps).
// It returns the plan with each change's outcome, and the record.
func (r *Runner) Run(ctx context.Context) (*Plan, *catalog.Sweep, error) {
	unlock, err := r.lock(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	now := r.now()
	p, err := r.plan(ctx, now)
	if err != nil {
		return nil, nil, err
	}
	sw := r.startSweep(ctx, p, "run")
	for _, c := range p.Changes {
		r.applyChange(ctx, c, now)
	}
	return p, r.finishSweep(ctx, sw, p), nil
}

// Apply applies a plan made by Plan (a dry run someone approved): it
// plans again, and applies each fresh change that is still the one the
// plan lists; the others are left alone and marked with ErrChanged. It
// returns the fresh plan with each change's outcome, and the record.
func (r *Runner) Apply(ctx context.Context, planned *Plan) (*Plan, *catalog.Sweep, error) {
	if planned == nil {
		return nil, nil, fmt.Errorf("%w: no plan", ErrInvalidConfig)
	}
	unlock, err := r.lock(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	now := r.now()
	fresh, err := r.plan(ctx, now)
	if err != nil {
		return nil, nil, err
	}
	fresh.ID = planned.ID
	sw := r.startSweep(ctx, fresh, "apply")
	for _, c := range fresh.Changes {
		old := planned.Find(c.Repository, c.Digest)
		if old == nil || !samePlanned(old, c) {
			if c.Kind == KindHold || c.Kind == KindError {
				continue
			}
			c.fail(fmt.Errorf("%w: %s@%s: planned %s, now %s", ErrChanged, c.Repository, c.Digest, describe(old), describe(c)))
			c.Steps = nil
			continue
		}
		r.applyChange(ctx, c, now)
	}
	return fresh, r.finishSweep(ctx, sw, fresh), nil
}

func describe(c *Change) string {
	if c == nil {
		return "nothing"
	}
	s := fmt.Sprintf("%s %s->%s", c.Kind, c.From, c.To)
	for _, st := range c.actionSteps() {
		s += ", " + st.String()
	}
	return s
}

// samePlanned reports whether a fresh change is the one planned: same
// kind, statuses, date, replacement and registry actions.
func samePlanned(a, b *Change) bool {
	return a.Kind == b.Kind && a.From == b.From && a.To == b.To && a.EndOfLife.Equal(b.EndOfLife) && a.Replacement == b.Replacement &&
		slices.EqualFunc(a.actionSteps(), b.actionSteps(), func(x, y Step) bool { return x.Kind == y.Kind && x.Target == y.Target })
}

func (r *Runner) lock(ctx context.Context) (func(), error) {
	if r.opts.Coordinator == nil {
		return func() {}, nil
	}
	unlock, ok, err := r.opts.Coordinator.TryLock(ctx, lockName)
	if err != nil {
		return nil, fmt.Errorf("lifecycle: lock: %w", err)
	}
	if !ok {
		return nil, ErrBusy
	}
	return unlock, nil
}

// gatherer reads the facts of entries, caching tag histories per
// repository and marker verifications per digest for one plan.
type gatherer struct {
	r *Runner

	mu       sync.Mutex
	history  map[string][]catalog.TagRecord
	verified map[digest.Digest]error
}

func (r *Runner) newGatherer() *gatherer {
	return &gatherer{r: r, history: map[string][]catalog.TagRecord{}, verified: map[digest.Digest]error{}}
}

// gather reads the facts of one entry: its tag history from the store,
// its lifecycle markers from the registry, and which of them the
// enterprise key signed.
func (g *gatherer) gather(ctx context.Context, e *catalog.Entry) Facts {
	f := Facts{Entry: e}
	if err := ctx.Err(); err != nil {
		f.Err = err
		return f
	}
	g.mu.Lock()
	hist, ok := g.history[e.Repository]
	g.mu.Unlock()
	if !ok {
		h, err := g.r.opts.Store.TagHistory(ctx, e.Repository, "")
		if err != nil {
			f.Err = fmt.Errorf("tag history of %s: %w", e.Repository, err)
			return f
		}
		g.mu.Lock()
		g.history[e.Repository], hist = h, h
		g.mu.Unlock()
	}
	for _, t := range hist {
		if t.Digest == e.Digest {
			f.Tags = append(f.Tags, t.Tag)
		}
	}
	f.Tags = sortedUnique(f.Tags)
	repo, desc, err := g.r.open(ctx, e)
	if err != nil {
		f.Err = err
		return f
	}
	if err := g.markers(ctx, repo, desc, &f); err != nil {
		f.Err = err
	}
	return f
}

// open opens the entry's repository and resolves its digest.
func (r *Runner) open(ctx context.Context, e *catalog.Entry) (registry.Repository, ocispec.Descriptor, error) {
	repo, err := r.opts.Open(ctx, e.Repository)
	if err != nil {
		return nil, ocispec.Descriptor{}, fmt.Errorf("open %s: %w", e.Repository, err)
	}
	desc, err := repo.Resolve(ctx, e.Digest.String())
	if err != nil {
		return nil, ocispec.Descriptor{}, fmt.Errorf("resolve %s@%s: %w", e.Repository, e.Digest, err)
	}
	return repo, ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}, nil
}

// markers lists the lifecycle markers of desc and sets f.Marker (the
// newest trusted date-only marker), f.State (the newest trusted state
// marker) and f.Ignored (malformed markers, and untrusted ones newer than
// those used). Markers older than both are not verified.
func (g *gatherer) markers(ctx context.Context, repo registry.Repository, desc ocispec.Descriptor, f *Facts) error {
	refs, err := registry.Referrers(ctx, repo, desc, artifact.TypeLifecycle)
	if err != nil {
		return fmt.Errorf("lifecycle markers of %s: %w", desc.Digest, err)
	}
	type marker struct {
		l    *attest.Lifecycle
		desc ocispec.Descriptor
	}
	var ms []marker
	for _, d := range refs {
		l, err := readMarker(ctx, repo, d)
		if err != nil {
			if errors.Is(err, attest.ErrMalformed) || errors.Is(err, registry.ErrInvalidManifest) || errors.Is(err, registry.ErrSizeExceeded) {
				f.Ignored = append(f.Ignored, &MarkerError{Marker: d.Digest, Kind: ErrMarkerMalformed, Err: err})
				continue
			}
			return err
		}
		ms = append(ms, marker{l: l, desc: ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}})
	}
	slices.SortFunc(ms, func(a, b marker) int {
		return cmp.Or(b.l.Created.Compare(a.l.Created), cmp.Compare(b.l.Digest, a.l.Digest))
	})
	for i, m := range ms {
		if f.Marker != nil && f.State != nil {
			break
		}
		if i >= g.r.opts.MaxMarkers {
			f.Ignored = append(f.Ignored, &MarkerError{Marker: m.l.Digest, Kind: ErrMarkerUntrusted,
				Err: fmt.Errorf("not examined: more than %d markers", g.r.opts.MaxMarkers)})
			continue
		}
		isState := m.l.State != nil
		if (isState && f.State != nil) || (!isState && f.Marker != nil) {
			continue
		}
		if err := g.verify(ctx, repo, m.desc); err != nil {
			var me *MarkerError
			if errors.As(err, &me) {
				f.Ignored = append(f.Ignored, me)
				continue
			}
			return err
		}
		if isState {
			f.State = m.l
		} else {
			f.Marker = m.l
		}
	}
	return nil
}

// readMarker reads a marker from its referrer descriptor, fetching the
// manifest when the descriptor lacks the end-of-life annotation.
func readMarker(ctx context.Context, repo registry.Repository, d ocispec.Descriptor) (*attest.Lifecycle, error) {
	if _, ok := d.Annotations[artifact.AnnotationEndOfLife]; ok {
		if _, ok := d.Annotations[artifact.AnnotationCreated]; ok {
			return attest.ParseLifecycle(d.Digest, d.Annotations)
		}
	}
	raw, err := manifest.Fetch(ctx, repo, d, 0)
	if err != nil {
		return nil, fmt.Errorf("lifecycle marker %s: %w", d.Digest, err)
	}
	m, err := manifest.Parse(d.MediaType, raw)
	if err != nil {
		return nil, fmt.Errorf("lifecycle marker %s: %w", d.Digest, err)
	}
	return attest.ParseLifecycle(d.Digest, m.Annotations)
}

// verify returns nil when the marker d carries a verified enterprise
// signature of an accepted identity, a *MarkerError when it does not, and
// another error when the verifier could not look.
func (g *gatherer) verify(ctx context.Context, repo registry.Repository, d ocispec.Descriptor) error {
	g.mu.Lock()
	err, ok := g.verified[d.Digest]
	g.mu.Unlock()
	if ok {
		return err
	}
	v, err := g.r.opts.Verifier.Verify(ctx, repo, d)
	if err != nil {
		return fmt.Errorf("verify lifecycle marker %s: %w", d.Digest, err)
	}
	var res error
	switch {
	case !v.Verified():
		res = &MarkerError{Marker: d.Digest, Kind: ErrMarkerUntrusted, Err: v.Err()}
	case !g.r.acceptedBy(v):
		res = &MarkerError{Marker: d.Digest, Kind: ErrMarkerUntrusted,
			Err: fmt.Errorf("verified for %v, not an accepted enterprise identity", v.VerifiedIdentities())}
	}
	g.mu.Lock()
	g.verified[d.Digest] = res
	g.mu.Unlock()
	return res
}

func (r *Runner) acceptedBy(v *sign.Verification) bool {
	if len(r.accepted) == 0 && len(r.rawIDs) == 0 {
		return true
	}
	for _, id := range v.VerifiedIdentities() {
		if slices.Contains(r.rawIDs, id) {
			return true
		}
		n, err := dn.Parse(id)
		if err != nil {
			continue
		}
		if slices.ContainsFunc(r.accepted, func(a dn.Name) bool { return a.Equal(n) }) {
			return true
		}
	}
	return false
}

// RetireRequest asks to retire one image now, by hand.
type RetireRequest struct {
	// Repository and Digest name the catalog entry. Required.
	Repository string
	Digest     digest.Digest
	// Replacement names the image to use instead; empty keeps the one the
	// configuration gives, if any.
	Replacement string
	// Reason says why, for the record. Required.
	Reason string
	// Author says who decided.
	Author string
}

// Retire retires one image now, as an override dated now would: the
// signed marker, the configured retirement action, the event and the
// entry, at once (a Notice does not delay a decision made by hand). The
// marker records the override, so the image stays retired in later runs
// whatever the other sources say. It returns the applied change; an error
// means nothing was retired (the change's Error says which step failed).
func (r *Runner) Retire(ctx context.Context, req RetireRequest) (*Change, error) {
	if req.Repository == "" || req.Digest.Validate() != nil || req.Reason == "" {
		return nil, fmt.Errorf("%w: a retirement needs a repository, a digest and a reason", ErrInvalidConfig)
	}
	unlock, err := r.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	now := r.now()
	e, err := r.opts.Store.Get(ctx, req.Repository, req.Digest)
	if err != nil {
		return nil, err
	}
	cfg := r.opts.Policy.Config()
	cfg.Notice = Duration{}
	cfg.Overrides = append([]Override{{Repository: quoteMeta(req.Repository), Digest: req.Digest, EndOfLife: Date{now.Truncate(time.Second)},
		Replacement: req.Replacement, Reason: req.Reason, Author: req.Author}}, cfg.Overrides...)
	p, err := Compile(cfg)
	if err != nil {
		return nil, err
	}
	f := r.newGatherer().gather(ctx, e)
	if f.Err != nil {
		return nil, f.Err
	}
	c := p.Evaluate(f, now)
	if c.Kind == KindError {
		return c, c.err
	}
	if c.To != catalog.StatusRetired {
		return c, fmt.Errorf("lifecycle: %s@%s was not retired: %s", req.Repository, req.Digest, strings.Join(c.Notes, "; "))
	}
	r.applyChange(ctx, c, now)
	return c, c.err
}

// quoteMeta escapes the path.Match metacharacters of s.
func quoteMeta(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
