package upstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/lifecycle"
	"github.com/cssc-go/cssc/registry"
)

// Defaults for the zero values of Options.
const (
	DefaultInterval              = time.Hour
	DefaultMaxAcquisitionsPerDay = 3
	DefaultRetryFailed           = time.Hour
	DefaultBatch                 = 100
	DefaultConcurrency           = 4
	DefaultHeadConcurrency       = 4
	DefaultAcquisitions          = 1
	DefaultLease                 = time.Minute
	DefaultAcquireLease          = 10 * time.Minute
	DefaultMaxAttempts           = 3
	DefaultPoll                  = time.Second
	DefaultMaxWait               = 2 * time.Second
)

// Job kinds of upstream tracking, claimed with the store's leases.
const (
	// KindCheck checks a batch of tracks with HEAD requests.
	KindCheck = "upstream.check"
	// KindAcquire acquires the new digest of one moved source tag.
	KindAcquire = "upstream.acquire"
)

// SweepKind is the catalog.Sweep Kind of tracking sweeps.
const SweepKind = "upstream"

// Keys of the coordinator values and locks this package keeps.
const (
	keySweepAt         = "upstream/sweep-at"         // RFC 3339 time of the last sweep
	keySweepDonePrefix = "upstream/sweep-finalized/" // + sweep id: set once by the finalizer
	lockSweep          = "upstream/sweep"            // starting a sweep
	lockTrackPrefix    = "upstream/track/"           // + golden:tag: acquiring for it
)

// ErrInvalidConfig is returned by New for missing or contradictory
// options.
var ErrInvalidConfig = errors.New("upstream: invalid configuration")

// Syncer indexes a golden repository after a promotion, so that the
// catalog has the new entry and the tag history (and emits the golden
// tag's move through its own hook): *catalog.Syncer.
type Syncer interface {
	ReconcileRepository(ctx context.Context, location string) *catalog.SyncReport
}

// Superseder deprecates the image a promotion replaced, with a
// replacement pointer, as the lifecycle configuration says:
// *lifecycle.Runner.
type Superseder interface {
	Supersede(ctx context.Context, req lifecycle.SupersedeRequest) (*lifecycle.Change, error)
}

var (
	_ Syncer     = (*catalog.Syncer)(nil)
	_ Superseder = (*lifecycle.Runner)(nil)
)

// Options configure a Tracker. Tracks, Queue, Coordinator, Sweeps and
// Acquirer are required.
type Options struct {
	// Tracks keeps the tracking state; Queue, Coordinator and Sweeps keep
	// the shared work. Usually one catalog/postgres or catalog/sqlite
	// store is all four (and Store); catalog.MemoryStore and
	// catalog.MemoryQueue serve one process.
	Tracks      catalog.TrackStore
	Queue       catalog.Queue
	Coordinator catalog.Coordinator
	Sweeps      catalog.SweepLog
	// Store holds the catalog entries: Discover finds in it the golden
	// tags acquired from a source tag. Nil means Discover is not
	// available (tracks come from Register and Promoted only).
	Store catalog.Store
	// Registry configures the client that reaches the source registries
	// (credentials, plain-HTTP hosts, transport). The tracker makes a
	// client of its own from it: its transport reads every response's
	// Retry-After and rate-limit headers, and its MaxRetries is forced to
	// -1, because the tracker does not wait inside a request: a host that
	// asks to be left alone is left alone, for every track, until the
	// time it named, and its tracks wait for the next sweep.
	Registry registry.Options
	// Acquirer acquires a moved tag's new digest through the full
	// pipeline. Required. PipelineAcquirer adapts an *acquire.Pipeline.
	Acquirer Acquirer
	// Syncer, if set, indexes the golden repository after a promotion
	// (*catalog.Syncer: new entry, tag history, TagMoved through its
	// OnTagEvent). Nil relies on the pipeline's promotion hook
	// (acquire.Config.OnPromoted = syncer.Promoted).
	Syncer Syncer
	// Lifecycle, if set, supersedes the golden image a promotion replaced
	// (*lifecycle.Runner: replacement pointer, deprecation, signed
	// marker, event). Nil means the replaced image is left as it is.
	Lifecycle Superseder
	// Events receives the upstream events (the Type constants). Nil
	// means none; event.Func adapts a callback.
	Events event.Sink
	// EventSource is the CloudEvents source. Empty means DefaultSource.
	EventSource string
	// Interval is how often every track is checked (a sweep). Zero means
	// DefaultInterval (1 h); negative means no periodic sweep (call
	// Sweep).
	Interval time.Duration
	// Budgets are request budgets per registry host ("docker.io",
	// "ghcr.io", "registry.corp:5000"), per instance; DefaultBudget
	// applies to the other hosts. A check whose host has no request left
	// within MaxWait waits for the next sweep. The zero Budget means
	// unlimited.
	Budgets       map[string]Budget
	DefaultBudget Budget
	// MaxWait is how long a check waits for its host's budget. Zero
	// means DefaultMaxWait (2 s).
	MaxWait time.Duration
	// MaxAcquisitionsPerDay bounds the acquisitions started for one
	// track in any 24 hours: a tag that flaps between digests, or a
	// registry whose HEAD names a digest its GET does not serve, costs at
	// most this many pipeline runs a day (then TypeCapped). Zero means
	// DefaultMaxAcquisitionsPerDay (3).
	MaxAcquisitionsPerDay int
	// RetryFailed is how long after a failed acquisition the same digest
	// is acquired again; it doubles with each failure of that digest (at
	// most a day). A policy denial is retried too: the policy, its
	// exceptions or the vulnerability data may have changed. Zero means
	// DefaultRetryFailed (1 h).
	RetryFailed time.Duration
	// Batch is how many tracks one check job holds. Zero means
	// DefaultBatch (100).
	Batch int
	// Concurrency is how many check jobs this instance runs at once, and
	// HeadConcurrency how many HEAD requests each job has in flight.
	// Zero means DefaultConcurrency (4) and DefaultHeadConcurrency (4).
	Concurrency     int
	HeadConcurrency int
	// Acquisitions is how many acquisitions this instance runs at once.
	// Zero means DefaultAcquisitions (1).
	Acquisitions int
	// Lease and AcquireLease are the leases of check and acquisition
	// jobs; they are renewed while a job runs. Zero means DefaultLease (1
	// min) and DefaultAcquireLease (10 min).
	Lease        time.Duration
	AcquireLease time.Duration
	// MaxAttempts caps the claims of one job (instances that died with
	// it); the job then fails for good. Zero means DefaultMaxAttempts (3).
	MaxAttempts int
	// Poll is how often an idle instance looks for work and for a due
	// sweep. Zero means DefaultPoll (1 s).
	Poll time.Duration
	// Instance names this instance in leases. Empty means
	// "<hostname>-<pid>-<random>".
	Instance string
	// Now is the clock of track states, budgets and sweeps. Nil means
	// time.Now. (Job leases run on the store's clock.)
	Now func() time.Time
	// Logger receives what the tracker does. Nil means silent.
	Logger *slog.Logger
}

// Tracker watches the source tags of golden images with HEAD requests
// and has the acquire pipeline follow a publisher's moves. Create it with
// New; it is safe for concurrent use, and instances sharing a store share
// the work.
type Tracker struct {
	opts   Options
	log    *slog.Logger
	client *registry.Client
	hosts  *hosts
}

// New checks opts and returns a Tracker.
func New(opts Options) (*Tracker, error) {
	switch {
	case opts.Tracks == nil || opts.Queue == nil || opts.Coordinator == nil || opts.Sweeps == nil:
		return nil, fmt.Errorf("%w: Tracks, Queue, Coordinator and Sweeps are required", ErrInvalidConfig)
	case opts.Acquirer == nil:
		return nil, fmt.Errorf("%w: Acquirer is required", ErrInvalidConfig)
	case opts.MaxWait < 0 || opts.MaxAcquisitionsPerDay < 0 || opts.RetryFailed < 0 || opts.Batch < 0 || opts.Concurrency < 0 ||
		opts.HeadConcurrency < 0 || opts.Acquisitions < 0 || opts.Lease < 0 || opts.AcquireLease < 0 || opts.MaxAttempts < 0 || opts.Poll < 0:
		return nil, fmt.Errorf("%w: negative option", ErrInvalidConfig)
	}
	for h, b := range opts.Budgets {
		if b.Requests < 0 || b.Per < 0 {
			return nil, fmt.Errorf("%w: negative budget for %s", ErrInvalidConfig, h)
		}
	}
	if opts.DefaultBudget.Requests < 0 || opts.DefaultBudget.Per < 0 {
		return nil, fmt.Errorf("%w: negative default budget", ErrInvalidConfig)
	}
	if opts.EventSource == "" {
		opts.EventSource = DefaultSource
	}
	opts.Interval = orDefault(opts.Interval, DefaultInterval)
	opts.MaxWait = orDefault(opts.MaxWait, DefaultMaxWait)
	opts.RetryFailed = orDefault(opts.RetryFailed, DefaultRetryFailed)
	opts.Lease = orDefault(opts.Lease, DefaultLease)
	opts.AcquireLease = orDefault(opts.AcquireLease, DefaultAcquireLease)
	opts.Poll = orDefault(opts.Poll, DefaultPoll)
	opts.MaxAcquisitionsPerDay = orDefault(opts.MaxAcquisitionsPerDay, DefaultMaxAcquisitionsPerDay)
	opts.Batch = orDefault(opts.Batch, DefaultBatch)
	opts.Concurrency = orDefault(opts.Concurrency, DefaultConcurrency)
	opts.HeadConcurrency = orDefault(opts.HeadConcurrency, DefaultHeadConcurrency)
	opts.Acquisitions = orDefault(opts.Acquisitions, DefaultAcquisitions)
	opts.MaxAttempts = orDefault(opts.MaxAttempts, DefaultMaxAttempts)
	if opts.Instance == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		opts.Instance = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Tracker{opts: opts, log: log.With("instance", opts.Instance)}
	t.hosts = newHosts(opts.Budgets, opts.DefaultBudget, t.now)
	ro := opts.Registry
	base := ro.Transport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	ro.Transport = &observer{base: base, hosts: t.hosts}
	ro.MaxRetries = -1
	t.client = registry.NewClient(ro)
	return t, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

func (t *Tracker) now() time.Time { return t.opts.Now().UTC() }

// Registration names a golden tag that follows a source tag.
type Registration struct {
	// Source is the source reference with its tag
	// ("docker.io/library/nginx:1.27"); a digest in it is the source
	// digest. Required.
	Source string
	// SourceDigest is the digest the source tag pointed at when golden
	// acquired it. Empty means the digest in Source, or unknown (the first
	// check then starts an acquisition, which the pipeline finds
	// unchanged at the cost of one HEAD if golden already holds it).
	SourceDigest digest.Digest
	// Golden is the golden repository location; Tag defaults to the
	// source tag.
	Golden string
	Tag    string
	// GoldenDigest is the golden digest the tag points at. Empty means
	// unknown.
	GoldenDigest digest.Digest
	// Previous is what the golden tag pointed at before GoldenDigest
	// (the image a promotion replaced), to be superseded. Empty means
	// none.
	Previous digest.Digest
}

// Register starts tracking a golden tag, or records that golden now
// follows another source digest (an acquisition run outside the tracker,
// by hand or by a request): the digest it replaced is remembered (a tag
// that goes back to it is flapping), and the golden image it replaced is
// superseded. It returns the track.
func (t *Tracker) Register(ctx context.Context, reg Registration) (*catalog.Track, error) {
	ref, err := registry.ParseRef(reg.Source)
	if err != nil {
		return nil, fmt.Errorf("upstream: register %s: %w", reg.Source, err)
	}
	if ref.Tag == "" {
		return nil, fmt.Errorf("upstream: register %s: %w: a source without a tag is not tracked", reg.Source, registry.ErrInvalidReference)
	}
	src := reg.SourceDigest
	if src == "" {
		src = ref.Digest
	}
	tag := reg.Tag
	if tag == "" {
		tag = ref.Tag
	}
	source := ref.Name() + ":" + ref.Tag
	now := t.now()
	key := catalog.TrackKey{Golden: reg.Golden, Tag: tag}
	tr, err := t.update(ctx, key, true, func(tr *catalog.Track) (bool, error) {
		if tr.Revision == 0 {
			tr.Source, tr.SourceDigest, tr.Observed, tr.GoldenDigest = source, src, src, reg.GoldenDigest
			setState(tr, catalog.TrackCurrent, now, "tracking starts")
			return true, nil
		}
		if tr.Source == source && (src == "" || tr.SourceDigest == src) && (reg.GoldenDigest == "" || tr.GoldenDigest == reg.GoldenDigest) {
			return false, nil
		}
		tr.Source = source
		if src == "" {
			return true, nil
		}
		followed(tr, src, reg.GoldenDigest, reg.Previous, now, "golden follows "+src.String()+" (registered)")
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if tr.Supersede != "" {
		t.finish(ctx, tr)
	}
	return tr, nil
}

// Promoted is a promotion hook for the acquire pipeline: it registers
// the golden tag of every promoted run whose source has a tag. Set
// acquire.Config.OnPromoted to a function that calls it (beside
// catalog.Syncer.Promoted). Failures are logged.
func (t *Tracker) Promoted(ctx context.Context, rec *acquire.Record) {
	if rec == nil || rec.Golden == "" || rec.Tag == "" || (rec.Outcome != acquire.OutcomePromoted && rec.Outcome != acquire.OutcomeAudited) {
		return
	}
	ref, err := registry.ParseRef(rec.Source)
	if err != nil || ref.Tag == "" {
		return
	}
	if _, err := t.Register(ctx, Registration{Source: ref.Name() + ":" + ref.Tag, SourceDigest: rec.SourceDigest, Golden: rec.Golden,
		Tag: rec.Tag, GoldenDigest: rec.Digest, Previous: rec.PreviousGoldenDigest}); err != nil {
		t.log.WarnContext(ctx, "upstream: register a promotion", "golden", rec.Golden, "tag", rec.Tag, "error", err)
	}
}

// Discover registers the golden tags of the catalog that are not tracked
// yet and whose entry was acquired from a source tag of the same name
// (Entry.Source.Reference "docker.io/library/nginx:1.27" for golden tag
// "1.27"). It reads the store's repositories and current tags, and an
// entry only for a tag that has no track, so that it costs little once
// every tag is tracked. It returns how many tracks it added.
func (t *Tracker) Discover(ctx context.Context) (int, error) {
	if t.opts.Store == nil {
		return 0, fmt.Errorf("%w: Discover needs Options.Store", ErrInvalidConfig)
	}
	all, err := catalog.AllTracks(ctx, t.opts.Tracks, catalog.TrackQuery{})
	if err != nil {
		return 0, err
	}
	return t.discover(ctx, all)
}

// discover is Discover given every track stored (all).
func (t *Tracker) discover(ctx context.Context, all []*catalog.Track) (int, error) {
	tracked := map[catalog.TrackKey]bool{}
	for _, tr := range all {
		tracked[tr.Key()] = true
	}
	repos, err := t.opts.Store.Repositories(ctx)
	if err != nil {
		return 0, err
	}
	added := 0
	for _, repo := range repos {
		tags, err := t.opts.Store.Tags(ctx, repo)
		if err != nil {
			return added, err
		}
		for _, tag := range slices.Sorted(maps.Keys(tags)) {
			if tracked[catalog.TrackKey{Golden: repo, Tag: tag}] {
				continue
			}
			e, err := t.opts.Store.Get(ctx, repo, tags[tag])
			if errors.Is(err, catalog.ErrNotFound) {
				continue
			}
			if err != nil {
				return added, err
			}
			ref, err := registry.ParseRef(e.Source.Reference)
			if err != nil || ref.Tag != tag {
				continue
			}
			if _, err := t.Register(ctx, Registration{Source: e.Source.Reference, SourceDigest: e.Source.Digest, Golden: repo, Tag: tag, GoldenDigest: e.Digest}); err != nil {
				return added, err
			}
			added++
		}
	}
	if added > 0 {
		t.log.InfoContext(ctx, "upstream: tracks discovered", "added", added)
	}
	return added, nil
}

// Release lets a held, capped or failed track go on: its failures and
// recent attempts are forgotten and the digest it is held on is no
// longer counted as replaced, so the next sweep acquires what the source
// tag points at (once). reason is recorded.
func (t *Tracker) Release(ctx context.Context, golden, tag, reason string) (*catalog.Track, error) {
	now := t.now()
	return t.update(ctx, catalog.TrackKey{Golden: golden, Tag: tag}, false, func(tr *catalog.Track) (bool, error) {
		tr.Attempts, tr.Failure = nil, nil
		tr.Replaced = slices.DeleteFunc(tr.Replaced, func(d digest.Digest) bool { return d == tr.Observed })
		setState(tr, catalog.TrackCurrent, now, "released: "+reason)
		return true, nil
	})
}

// Track returns the tracking state of a golden tag (catalog.ErrNotFound
// when it is not tracked).
func (t *Tracker) Track(ctx context.Context, golden, tag string) (*catalog.Track, error) {
	return t.opts.Tracks.Track(ctx, golden, tag)
}

// update reads the track of key (a new one when create is set and none
// is stored), applies fn, and writes it when fn says so, again on a
// conflict with another writer. It returns the track as stored.
func (t *Tracker) update(ctx context.Context, key catalog.TrackKey, create bool, fn func(tr *catalog.Track) (bool, error)) (*catalog.Track, error) {
	for range 20 {
		tr, err := t.opts.Tracks.Track(ctx, key.Golden, key.Tag)
		switch {
		case errors.Is(err, catalog.ErrNotFound) && create:
			tr = &catalog.Track{Golden: key.Golden, Tag: key.Tag}
		case err != nil:
			return nil, err
		}
		write, err := fn(tr)
		if err != nil || !write {
			return tr, err
		}
		err = t.opts.Tracks.PutTrack(ctx, tr)
		if errors.Is(err, catalog.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return tr, nil
	}
	return nil, fmt.Errorf("upstream: track %s: %w: too many concurrent writers", key, catalog.ErrConflict)
}

// setState moves tr to state with reason; Since changes with the state.
func setState(tr *catalog.Track, state catalog.TrackState, now time.Time, reason string) {
	if tr.State != state || tr.Since.IsZero() {
		tr.Since = now
	}
	tr.State, tr.Reason = state, reason
}

// followed records that golden follows source digest src with golden
// digest gold (empty: unknown), having replaced the golden image prev
// (empty: the one it followed before, if any).
func followed(tr *catalog.Track, src, gold, prev digest.Digest, now time.Time, reason string) {
	if tr.SourceDigest == src && (gold == "" || tr.GoldenDigest == gold) {
		// Recorded already (the promotion hook and the acquisition job
		// both report the same promotion): the supersession, if any, was
		// set the first time.
		tr.Observed, tr.Failure = src, nil
		setState(tr, catalog.TrackCurrent, now, reason)
		return
	}
	if tr.SourceDigest != "" && tr.SourceDigest != src {
		tr.Replaced = append(slices.DeleteFunc(tr.Replaced, func(d digest.Digest) bool { return d == tr.SourceDigest }), tr.SourceDigest)
		if n := len(tr.Replaced) - catalog.MaxTrackReplaced; n > 0 {
			tr.Replaced = tr.Replaced[n:]
		}
	}
	tr.Replaced = slices.DeleteFunc(tr.Replaced, func(d digest.Digest) bool { return d == src })
	if prev == "" && tr.GoldenDigest != gold {
		prev = tr.GoldenDigest
	}
	if prev != "" && gold != "" && prev != gold {
		tr.Supersede = prev
	}
	tr.SourceDigest, tr.Observed = src, src
	if gold != "" {
		tr.GoldenDigest = gold
	}
	tr.Failure = nil
	setState(tr, catalog.TrackCurrent, now, reason)
}

// finish completes what follows a promotion: the golden repository is
// indexed (Syncer) and the image the promotion replaced is superseded
// (Lifecycle); the pending supersession is cleared once it is done.
// Failures are logged and retried by the next sweep.
func (t *Tracker) finish(ctx context.Context, tr *catalog.Track) {
	if t.opts.Syncer != nil {
		if rep := t.opts.Syncer.ReconcileRepository(ctx, tr.Golden); rep != nil && rep.Err() != nil {
			t.log.WarnContext(ctx, "upstream: indexing golden after a promotion", "golden", tr.Golden, "error", rep.Err())
		}
	}
	old := tr.Supersede
	if old == "" || t.opts.Lifecycle == nil {
		return
	}
	replacement := tr.Golden + ":" + tr.Tag + "@" + tr.GoldenDigest.String()
	if _, err := t.opts.Lifecycle.Supersede(ctx, lifecycle.SupersedeRequest{Repository: tr.Golden, Digest: old, Replacement: replacement}); err != nil {
		t.log.WarnContext(ctx, "upstream: superseding the replaced image; the next sweep retries", "golden", tr.Golden, "digest", old, "error", err)
		return
	}
	if _, err := t.update(ctx, tr.Key(), false, func(cur *catalog.Track) (bool, error) {
		if cur.Supersede != old {
			return false, nil
		}
		cur.Supersede = ""
		return true, nil
	}); err != nil {
		t.log.WarnContext(ctx, "upstream: recording the supersession", "golden", tr.Golden, "error", err)
	}
}
