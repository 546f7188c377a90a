package rescan

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/time/rate"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/osv"
	"github.com/cssc-go/cssc/sign"
)

// Defaults for the zero values of Options.
const (
	DefaultKeep        = 3
	DefaultMaxAge      = 7 * 24 * time.Hour
	DefaultInterval    = 24 * time.Hour
	DefaultConcurrency = 4
	DefaultLease       = 2 * time.Minute
	DefaultMaxAttempts = 5
	DefaultRetry       = 30 * time.Second
	DefaultPoll        = time.Second
	DefaultSource      = "/cssc/catalog"
)

// Priorities of rescan jobs: on-demand before a database delta before a
// periodic sweep.
const (
	PriorityRequest  = 30
	PriorityDelta    = 20
	PriorityPeriodic = 10
)

// Job kinds; the database or signature version follows a slash, so that
// an instance claims only the jobs of the version it holds.
const (
	KindVulnerability = "rescan.vulnerability"
	KindMalware       = "rescan.malware"
)

// Keys of the coordinator values this package keeps.
const (
	keyOSVVersion      = "rescan/osv/version"      // the database version the cluster swept last
	keyOSVPeriodic     = "rescan/osv/periodic"     // the version of the last full (periodic) sweep
	keyPeriodicAt      = "rescan/periodic-at"      // RFC 3339 time of the last periodic sweep
	keyMalwareVersion  = "rescan/malware/version"  // the signature version the cluster swept last
	keyPaused          = "rescan/paused"           // "paused" while paused
	keyLayerPrefix     = "rescan/malware/layer/"   // + layer digest: JSON layerResult
	keySweepDonePrefix = "rescan/sweep-finalized/" // + sweep id: set once by the finalizer
	lockOSV            = "rescan/osv"              // diffing a database and enqueuing its sweep
	lockMalware        = "rescan/malware"          // enqueuing a malware sweep
	lockPeriodic       = "rescan/periodic"         // starting the periodic sweep
	lockLayerPrefix    = "rescan/malware/layer/"   // + layer digest: scanning it
	pausedValue        = "paused"
)

// ErrInvalidConfig is returned by New for missing or contradictory
// options.
var ErrInvalidConfig = errors.New("rescan: invalid configuration")

// ErrNoDatabase is returned by Sweep and Request when no vulnerability
// database was given (SetDatabase).
var ErrNoDatabase = errors.New("rescan: no vulnerability database")

// Options configure a Rescanner. Store, Queue, Coordinator, Sweeps, Open,
// Signer and Verifier are required.
type Options struct {
	// Store holds the catalog entries rescanned (their packages, findings
	// and reports), and receives them updated.
	Store catalog.Store
	// Queue, Coordinator and Sweeps keep the shared work: usually the
	// same catalog/postgres or catalog/sqlite store, or a
	// catalog.MemoryQueue for one process.
	Queue       catalog.Queue
	Coordinator catalog.Coordinator
	Sweeps      catalog.SweepLog
	// Open opens a golden repository by its location (Entry.Repository),
	// for instance registry.Client.Repository.
	Open func(ctx context.Context, location string) (registry.Repository, error)
	// Signer is the enterprise signer new reports are signed with.
	Signer sign.Signer
	// Verifier verifies enterprise signatures: a report that a crashed
	// attempt attached and signed is not signed twice.
	Verifier sign.Verifier
	// Events receives new and resolved findings and failed rescans. Nil
	// means none.
	Events event.Sink
	// Source is the CloudEvents source of the events. Empty means
	// DefaultSource.
	Source string
	// Instance names this instance in leases. Empty means
	// "<hostname>-<pid>-<random>".
	Instance string
	// Keep is how many reports of one kind are kept per platform manifest
	// (the newest; older ones are deleted with their signatures). Zero
	// means DefaultKeep (3).
	Keep int
	// MaxAge is the age past which a report is written again even though
	// its findings did not change. Zero means DefaultMaxAge (7 days).
	MaxAge time.Duration
	// Interval is the period of the full sweep (skipped when the
	// database did not change since the last one). Zero means
	// DefaultInterval (24 h); negative means no periodic sweep.
	Interval time.Duration
	// Rate caps the images this instance rescans per second. Zero means
	// no cap.
	Rate float64
	// Concurrency is how many images this instance rescans at once. Zero
	// means DefaultConcurrency (4).
	Concurrency int
	// Lease is how long a claimed job is held before another instance
	// may take it; leases are renewed while the job runs. Zero means
	// DefaultLease (2 min).
	Lease time.Duration
	// MaxAttempts caps the claims of one job (failed attempts and
	// instances that died with it); the job then fails for good. Zero
	// means DefaultMaxAttempts (5).
	MaxAttempts int
	// Retry is the wait before the second attempt of a failed job; it
	// doubles with each attempt. Zero means DefaultRetry (30 s).
	Retry time.Duration
	// Poll is how often an idle instance looks for work, a new malware
	// signature version, the periodic sweep and the end of sweeps. Zero
	// means DefaultPoll (1 s).
	Poll time.Duration
	// Malware rescans layers for malware when its signature version
	// changes; nil means no malware rescans. MalwareVersion is then
	// required: it returns the scanner's current signature version (for
	// clamd, clamav.Scanner.Version's String). Being configured here is
	// its declaration: its reports say it is a malware scanner
	// (artifact.AnnotationScannerDeclaration), which the catalog requires
	// to count an image as scanned for malware.
	Malware        scan.Scanner
	MalwareVersion func(ctx context.Context) (string, error)
	// Logger receives what the rescanner does. Nil means silent.
	Logger *slog.Logger
	// Now is the clock for report and sweep times. Nil means time.Now.
	Now func() time.Time
}

// Rescanner runs rescans. Create it with New; it is safe for concurrent
// use.
type Rescanner struct {
	opts    Options
	log     *slog.Logger
	limiter *rate.Limiter

	mu      sync.Mutex
	db      *osv.DB
	prev    *osv.DB
	matcher *matcher

	malwareVersion atomic.Pointer[string]
	layers         *layerCache

	running sync.Map // sweep id -> struct{}: sweeps this instance watches to finalize
}

// New checks opts and returns a Rescanner. Call SetDatabase before Run.
func New(opts Options) (*Rescanner, error) {
	switch {
	case opts.Store == nil || opts.Queue == nil || opts.Coordinator == nil || opts.Sweeps == nil:
		return nil, fmt.Errorf("%w: Store, Queue, Coordinator and Sweeps are required", ErrInvalidConfig)
	case opts.Open == nil:
		return nil, fmt.Errorf("%w: Open is required", ErrInvalidConfig)
	case opts.Signer == nil || opts.Verifier == nil:
		return nil, fmt.Errorf("%w: Signer and Verifier are required", ErrInvalidConfig)
	case opts.Malware != nil && opts.MalwareVersion == nil:
		return nil, fmt.Errorf("%w: MalwareVersion is required with Malware", ErrInvalidConfig)
	case opts.Keep < 0 || opts.MaxAge < 0 || opts.Rate < 0 || opts.Concurrency < 0 || opts.Lease < 0 ||
		opts.MaxAttempts < 0 || opts.Retry < 0 || opts.Poll < 0:
		return nil, fmt.Errorf("%w: negative option", ErrInvalidConfig)
	}
	if opts.Source == "" {
		opts.Source = DefaultSource
	}
	if opts.Instance == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		opts.Instance = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if opts.Keep == 0 {
		opts.Keep = DefaultKeep
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Lease == 0 {
		opts.Lease = DefaultLease
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.Retry == 0 {
		opts.Retry = DefaultRetry
	}
	if opts.Poll == 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Rescanner{opts: opts, log: log.With("instance", opts.Instance), layers: newLayerCache()}
	if opts.Rate > 0 {
		r.limiter = rate.NewLimiter(rate.Limit(opts.Rate), max(1, int(opts.Rate)))
	}
	return r, nil
}

func (r *Rescanner) now() time.Time { return r.opts.Now().UTC() }

// database returns the vulnerability database and its matcher.
func (r *Rescanner) database() (*osv.DB, *matcher) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.db, r.matcher
}

// Matched returns how many distinct package versions this instance has
// matched against its current database (each is matched once, whatever
// the number of images holding it).
func (r *Rescanner) Matched() int {
	_, m := r.database()
	if m == nil {
		return 0
	}
	return m.Matched()
}

// versionTime returns the modified time a database version starts with
// ("2026-01-02T03:04:05Z/sha256:..."); zero if it has none.
func versionTime(v string) time.Time {
	s, _, _ := strings.Cut(v, "/")
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// SetDatabase makes db the vulnerability database this instance matches
// against, and, if the cluster has not swept it yet, starts its sweep:
// under the cluster lock, the jobs of older versions still waiting are
// cancelled (their images join the new sweep), db is diffed against the
// version swept last when this instance holds it (a delta sweep of the
// images a changed advisory names), or every image is enqueued when it
// does not (the first database, or a previous one not at hand: a full
// sweep). It returns the sweep record, or nil when the cluster already
// swept this version, another instance is starting the sweep, or db is
// older than the version swept last (this instance lags behind; it will
// not claim the newer jobs until it is given that database).
func (r *Rescanner) SetDatabase(ctx context.Context, db *osv.DB) (*catalog.Sweep, error) {
	if db == nil {
		return nil, ErrNoDatabase
	}
	r.mu.Lock()
	if r.db == nil || r.db.Version() != db.Version() {
		r.prev, r.db = r.db, db
		r.matcher = newMatcher(db)
	}
	prevLocal := r.prev
	r.mu.Unlock()

	unlock, ok, err := r.opts.Coordinator.TryLock(ctx, lockOSV)
	if err != nil || !ok {
		return nil, err
	}
	defer unlock()
	cur, err := r.opts.Coordinator.Value(ctx, keyOSVVersion)
	if err != nil {
		return nil, err
	}
	if cur == db.Version() {
		return nil, nil
	}
	if cur != "" && db.Modified().Before(versionTime(cur)) {
		r.log.Warn("rescan: this instance's database is older than the cluster's; not sweeping", "database", db.Version(), "cluster", cur)
		return nil, nil
	}
	at := r.now()
	sw := &catalog.Sweep{ID: sweepID("osv", at, db.Version()), Scanner: osv.ToolName, Trigger: "database",
		DatabaseVersion: db.Version(), PreviousVersion: cur, Started: at, State: catalog.SweepRunning}

	// Jobs of the version swept last that have not run join this sweep.
	carried, err := r.cancelVersion(ctx, cur)
	if err != nil {
		return nil, err
	}
	keys, err := r.sweepEntries(ctx, sw, db, prevLocal, cur)
	if err != nil {
		return nil, err
	}
	seen := make(map[entryKey]bool, len(keys))
	for _, k := range keys {
		seen[k] = true
	}
	for k := range carried {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	if err := r.enqueueSweep(ctx, sw, KindVulnerability+"/"+db.Version(), "vulnerability/"+db.Version()+"/", keys, PriorityDelta, at, false); err != nil {
		return nil, err
	}
	if ok, err := r.opts.Coordinator.SwapValue(ctx, keyOSVVersion, cur, db.Version()); err != nil || !ok {
		return nil, fmt.Errorf("rescan: record database version %s: swapped=%v: %w", db.Version(), ok, err)
	}
	if sw.Kind == catalog.SweepFull {
		// A full sweep of this version: the periodic sweep has nothing
		// to add until the database changes again.
		if err := r.setValue(ctx, keyOSVPeriodic, db.Version()); err != nil {
			return nil, err
		}
	}
	r.log.Info("rescan: sweep started", "sweep", sw.ID, "kind", sw.Kind, "images", sw.Images, "database", db.Version(), "previous", cur)
	return sw, nil
}

// cancelVersion cancels the waiting vulnerability jobs of version cur (none
// when cur is empty) and returns their images.
func (r *Rescanner) cancelVersion(ctx context.Context, cur string) (map[entryKey]bool, error) {
	carried := map[entryKey]bool{}
	if cur == "" {
		return carried, nil
	}
	cancelled, err := r.opts.Queue.Cancel(ctx, KindVulnerability+"/"+cur)
	if err != nil {
		return nil, err
	}
	for _, j := range cancelled {
		var p payload
		if json.Unmarshal(j.Payload, &p) == nil {
			carried[entryKey{p.Repository, p.Digest}] = true
		}
	}
	return carried, nil
}

// sweepEntries decides the sweep sw of db after version cur and returns
// its images: every image for a full sweep (no version swept yet, or the
// previous database prev not at hand to diff), else the images holding a
// package that a changed advisory names (a delta sweep, its diff recorded
// in sw).
func (r *Rescanner) sweepEntries(ctx context.Context, sw *catalog.Sweep, db, prev *osv.DB, cur string) ([]entryKey, error) {
	var keys []entryKey
	var err error
	switch {
	case cur == "":
		sw.Kind, sw.Reason = catalog.SweepFull, "first database: full re-match"
		keys, err = r.allEntries(ctx)
	case prev == nil || prev.Version() != cur:
		sw.Kind, sw.Reason = catalog.SweepFull, "the previous database is not at hand to diff: full re-match"
		keys, err = r.allEntries(ctx)
	default:
		d := db.Diff(prev)
		sw.Kind = catalog.SweepDelta
		sw.Diff = &catalog.SweepDiff{Added: len(d.Added), Changed: len(d.Changed), Withdrawn: len(d.Withdrawn), Packages: d.Packages()}
		keys, err = r.affectedEntries(ctx, d)
		if err == nil {
			sw.Diff.Affected = len(keys)
			sw.Reason = fmt.Sprintf("%d advisories added, %d changed, %d withdrawn, naming %d packages held by %d images",
				sw.Diff.Added, sw.Diff.Changed, sw.Diff.Withdrawn, sw.Diff.Packages, len(keys))
		}
	}
	return keys, err
}

// setValue sets a coordinator value whatever it was.
func (r *Rescanner) setValue(ctx context.Context, key, value string) error {
	for range 100 {
		old, err := r.opts.Coordinator.Value(ctx, key)
		if err != nil {
			return err
		}
		if old == value {
			return nil
		}
		ok, err := r.opts.Coordinator.SwapValue(ctx, key, old, value)
		if err != nil || ok {
			return err
		}
	}
	return fmt.Errorf("rescan: value %s keeps changing", key)
}

// Sweep runs the periodic sweep now: a full re-match of every image
// against the database the cluster swept last, unless a full sweep of
// that version was done already, in which case the record says "skipped:
// database unchanged" and nothing is matched. It returns the record, or
// nil when another instance is starting a sweep.
func (r *Rescanner) Sweep(ctx context.Context) (*catalog.Sweep, error) {
	db, _ := r.database()
	if db == nil {
		return nil, ErrNoDatabase
	}
	unlock, ok, err := r.opts.Coordinator.TryLock(ctx, lockPeriodic)
	if err != nil || !ok {
		return nil, err
	}
	defer unlock()
	at := r.now()
	if err := r.setValue(ctx, keyPeriodicAt, at.Format(time.RFC3339Nano)); err != nil {
		return nil, err
	}
	cur, err := r.opts.Coordinator.Value(ctx, keyOSVVersion)
	if err != nil {
		return nil, err
	}
	last, err := r.opts.Coordinator.Value(ctx, keyOSVPeriodic)
	if err != nil {
		return nil, err
	}
	sw := &catalog.Sweep{ID: sweepID("periodic", at, cur), Kind: catalog.SweepFull, Trigger: "periodic", Scanner: osv.ToolName,
		DatabaseVersion: cur, PreviousVersion: last, Started: at, State: catalog.SweepRunning}
	switch {
	case cur == "":
		sw.State, sw.Finished, sw.Reason = catalog.SweepSkipped, at, "skipped: no database swept yet"
	case cur == last:
		sw.State, sw.Finished, sw.Reason = catalog.SweepSkipped, at, "skipped: database unchanged"
	case cur != db.Version():
		sw.State, sw.Finished, sw.Reason = catalog.SweepSkipped, at, "skipped: this instance does not hold the cluster's database "+cur
	}
	if sw.State == catalog.SweepSkipped {
		if err := r.opts.Sweeps.PutSweep(ctx, sw); err != nil {
			return nil, err
		}
		r.log.Info("rescan: periodic sweep skipped", "sweep", sw.ID, "reason", sw.Reason)
		return sw, nil
	}
	keys, err := r.allEntries(ctx)
	if err != nil {
		return nil, err
	}
	sw.Reason = "periodic full re-match"
	if err := r.enqueueSweep(ctx, sw, KindVulnerability+"/"+cur, "periodic/"+cur+"/", keys, PriorityPeriodic, at, false); err != nil {
		return nil, err
	}
	if err := r.setValue(ctx, keyOSVPeriodic, cur); err != nil {
		return nil, err
	}
	r.log.Info("rescan: periodic sweep started", "sweep", sw.ID, "images", sw.Images)
	return sw, nil
}

// Request asks for a rescan of one image against the cluster's current
// database, before any other pending work. With force, a report is
// written even if the findings did not change. It returns the sweep
// record of the request.
func (r *Rescanner) Request(ctx context.Context, repository string, d digest.Digest, force bool) (*catalog.Sweep, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("rescan: request: %w", err)
	}
	cur, err := r.opts.Coordinator.Value(ctx, keyOSVVersion)
	if err != nil {
		return nil, err
	}
	if cur == "" {
		return nil, ErrNoDatabase
	}
	if _, err := r.opts.Store.Get(ctx, repository, d); err != nil {
		return nil, err
	}
	at := r.now()
	sw := &catalog.Sweep{ID: sweepID("request", at, repository+"@"+d.String()), Kind: catalog.SweepRequest, Trigger: "request",
		Scanner: osv.ToolName, DatabaseVersion: cur, Started: at, State: catalog.SweepRunning, Reason: "requested rescan of " + repository + "@" + d.String(),
		Subject: repository + "@" + d.String()}
	if err := r.enqueueSweep(ctx, sw, KindVulnerability+"/"+cur, "request/"+sw.ID+"/", []entryKey{{repository, d}}, PriorityRequest, at, force); err != nil {
		return nil, err
	}
	return sw, nil
}

// Pause holds every instance sharing the store: no job is claimed until
// Resume. Jobs already running finish.
func (r *Rescanner) Pause(ctx context.Context) error { return r.setValue(ctx, keyPaused, pausedValue) }

// Resume releases a Pause.
func (r *Rescanner) Resume(ctx context.Context) error { return r.setValue(ctx, keyPaused, "") }

// Paused reports whether the instances are paused.
func (r *Rescanner) Paused(ctx context.Context) (bool, error) {
	v, err := r.opts.Coordinator.Value(ctx, keyPaused)
	return v == pausedValue, err
}

// sweepID names a sweep: its trigger, start time and a hash of what it
// is about.
func sweepID(prefix string, at time.Time, about string) string {
	return fmt.Sprintf("%s-%s-%s", prefix, at.UTC().Format("20060102T150405.000000000Z"), digest.FromString(about).Encoded()[:12])
}

// entryKey identifies an entry.
type entryKey struct {
	Repository string
	Digest     digest.Digest
}

// payload is a rescan job's data.
type payload struct {
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
	// Version is the database or signature version the job is for.
	Version string `json:"version"`
	// At is the sweep's time: the time of the reports the job writes
	// (unless the report in force is newer), so that a retried job writes
	// the same bytes.
	At time.Time `json:"at"`
	// Sweep is the sweep's id.
	Sweep string `json:"sweep"`
	// Force writes a report even when the findings did not change.
	Force bool `json:"force,omitempty"`
}

// enqueueSweep enqueues one job per key, then records sw.
func (r *Rescanner) enqueueSweep(ctx context.Context, sw *catalog.Sweep, kind, keyPrefix string, keys []entryKey, prio int, at time.Time, force bool) error {
	version := kind[strings.IndexByte(kind, '/')+1:]
	sw.Images = len(keys)
	if len(keys) == 0 {
		sw.State, sw.Finished = catalog.SweepFinished, at
		if sw.Reason == "" {
			sw.Reason = "no image to rescan"
		}
		return r.opts.Sweeps.PutSweep(ctx, sw)
	}
	// The jobs go in before the record: an instance that sees a running
	// sweep with no live job closes it (see finalize), and would close
	// this one early, with no outcomes.
	const batch = 500
	jobs := make([]catalog.Job, 0, min(batch, len(keys)))
	flush := func() error {
		if len(jobs) == 0 {
			return nil
		}
		_, err := r.opts.Queue.Enqueue(ctx, jobs...)
		jobs = jobs[:0]
		return err
	}
	for _, k := range keys {
		p, err := json.Marshal(payload{Repository: k.Repository, Digest: k.Digest, Version: version, At: at, Sweep: sw.ID, Force: force})
		if err != nil {
			return err
		}
		jobs = append(jobs, catalog.Job{Kind: kind, Key: keyPrefix + k.Repository + "@" + k.Digest.String(), Group: sw.ID, Priority: prio, Payload: p})
		if len(jobs) == batch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	r.running.Store(sw.ID, struct{}{})
	return r.opts.Sweeps.PutSweep(ctx, sw)
}

// allEntries lists every entry of the store.
func (r *Rescanner) allEntries(ctx context.Context) ([]entryKey, error) {
	var out []entryKey
	q := catalog.Query{Limit: catalog.MaxLimit}
	for {
		res, err := r.opts.Store.Search(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, s := range res.Entries {
			out = append(out, entryKey{s.Repository, s.Digest})
		}
		if res.Next == "" {
			return out, nil
		}
		q.Cursor = res.Next
	}
}

// affectedEntries lists the entries holding a package the delta names.
func (r *Rescanner) affectedEntries(ctx context.Context, d *osv.Delta) ([]entryKey, error) {
	if d.Empty() {
		return nil, nil
	}
	all, err := r.allEntries(ctx)
	if err != nil {
		return nil, err
	}
	var out []entryKey
	for _, k := range all {
		e, err := r.opts.Store.Get(ctx, k.Repository, k.Digest)
		if errors.Is(err, catalog.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if entryAffected(e, d) {
			out = append(out, k)
		}
	}
	return out, nil
}

func entryAffected(e *catalog.Entry, d *osv.Delta) bool {
	for _, c := range e.Children {
		for i := range c.Packages {
			p := sbomPackage(&c.Packages[i])
			if d.Affects(&p) {
				return true
			}
		}
	}
	return false
}
