package upstream

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/registry"
)

// checkItem is one track of a check job, as the sweep saw it.
type checkItem struct {
	Golden       string             `json:"g"`
	Tag          string             `json:"t"`
	Source       string             `json:"s"`
	SourceDigest digest.Digest      `json:"d,omitempty"`
	State        catalog.TrackState `json:"st"`
}

// checkPayload is the data of a KindCheck job.
type checkPayload struct {
	Sweep  string      `json:"sweep"`
	Tracks []checkItem `json:"tracks"`
}

// maxCheckPayload keeps check payloads well under catalog.MaxPayloadBytes.
const maxCheckPayload = catalog.MaxPayloadBytes * 3 / 4

// Sweep starts a tracking sweep now, whatever the interval: under the
// cluster-wide lock, it finishes the supersessions that earlier
// promotions left pending, discovers untracked golden tags (when
// Options.Store is set), and enqueues every track in check jobs of
// Options.Batch tracks, grouped by source host, for the instances to
// claim. It returns the sweep record, or nil when another instance is
// starting a sweep.
func (t *Tracker) Sweep(ctx context.Context) (*catalog.Sweep, error) {
	return t.sweep(ctx, true)
}

// sweep starts a sweep if force is set or the last one started an
// interval ago.
func (t *Tracker) sweep(ctx context.Context, force bool) (*catalog.Sweep, error) {
	unlock, ok, err := t.opts.Coordinator.TryLock(ctx, lockSweep)
	if err != nil || !ok {
		return nil, err
	}
	defer unlock()
	at := t.now()
	last, err := t.opts.Coordinator.Value(ctx, keySweepAt)
	if err != nil {
		return nil, err
	}
	if !force {
		if lt, err := time.Parse(time.RFC3339Nano, last); err == nil && at.Sub(lt) < t.opts.Interval {
			return nil, nil
		}
	}
	if ok, err := t.opts.Coordinator.SwapValue(ctx, keySweepAt, last, at.Format(time.RFC3339Nano)); err != nil || !ok {
		return nil, err
	}
	tracks, err := catalog.AllTracks(ctx, t.opts.Tracks, catalog.TrackQuery{})
	if err != nil {
		return nil, err
	}
	if t.opts.Store != nil {
		added, err := t.discover(ctx, tracks)
		if err != nil {
			t.log.WarnContext(ctx, "upstream: discovering tracks", "error", err)
		}
		if added > 0 { // read again only when discovery added tracks
			if tracks, err = catalog.AllTracks(ctx, t.opts.Tracks, catalog.TrackQuery{}); err != nil {
				return nil, err
			}
		}
	}
	for _, tr := range tracks {
		if tr.Supersede != "" {
			t.finish(ctx, tr)
		}
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	sw := &catalog.Sweep{ID: "upstream-" + at.Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(b[:]), Kind: SweepKind,
		Trigger: "periodic", Started: at, State: catalog.SweepRunning, Images: len(tracks)}
	if force {
		sw.Trigger = "request"
	}
	if len(tracks) == 0 {
		sw.State, sw.Finished, sw.Reason = catalog.SweepFinished, at, "no tracked tag"
		return sw, t.opts.Sweeps.PutSweep(ctx, sw)
	}
	jobs, err := t.checkJobs(sw.ID, tracks)
	if err != nil {
		return nil, err
	}
	// The jobs go in before the record: an instance that sees a running
	// sweep with no live job closes it.
	for i := 0; i < len(jobs); i += 500 {
		if _, err := t.opts.Queue.Enqueue(ctx, jobs[i:min(i+500, len(jobs))]...); err != nil {
			return nil, err
		}
	}
	sw.Reason = fmt.Sprintf("checking %d tracked tags in %d jobs", len(tracks), len(jobs))
	if err := t.opts.Sweeps.PutSweep(ctx, sw); err != nil {
		return nil, err
	}
	t.log.InfoContext(ctx, "upstream: sweep started", "sweep", sw.ID, "tracks", len(tracks), "jobs", len(jobs))
	return sw, nil
}

// checkJobs batches tracks into check jobs, the tracks of one host
// together.
func (t *Tracker) checkJobs(sweep string, tracks []*catalog.Track) ([]catalog.Job, error) {
	byHost := map[string][]checkItem{}
	for _, tr := range tracks {
		host := ""
		if ref, err := registry.ParseRef(tr.Source); err == nil {
			host = ref.Registry
		}
		byHost[host] = append(byHost[host], checkItem{Golden: tr.Golden, Tag: tr.Tag, Source: tr.Source, SourceDigest: tr.SourceDigest, State: tr.State})
	}
	var jobs []catalog.Job
	var batch []checkItem
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		p, err := json.Marshal(checkPayload{Sweep: sweep, Tracks: batch})
		if err != nil {
			return err
		}
		jobs = append(jobs, catalog.Job{Kind: KindCheck, Key: fmt.Sprintf("upstream/check/%s/%d", sweep, len(jobs)), Group: sweep, Payload: p})
		batch, size = nil, 0
		return nil
	}
	for _, host := range slices.Sorted(maps.Keys(byHost)) {
		for _, it := range byHost[host] {
			n := len(it.Golden) + len(it.Tag) + len(it.Source) + len(it.SourceDigest) + len(it.State) + 40
			if len(batch) >= t.opts.Batch || size+n > maxCheckPayload {
				if err := flush(); err != nil {
					return nil, err
				}
			}
			batch = append(batch, it)
			size += n
		}
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return jobs, nil
}

// observation is what one HEAD found.
type observation struct {
	digest digest.Digest
	gone   bool
	// why, for a gone source, says why when the HEAD alone tells (a
	// repository gone or private upstream); empty means "ask the tags".
	why string
	// deferred: not asked (budget, Retry-After); err: the registry could
	// not answer (an outage, our credentials refused); the track is left
	// as it was.
	deferred bool
	err      error
}

// maxHostErrors is how many failed checks of one host a job tolerates
// before it stops asking that host.
const maxHostErrors = 3

// checkJob checks a batch of tracks: one HEAD each. Tracks whose source
// tag did not move are only touched (their check time, one write for the
// batch); the others are decided one by one. A track whose check could
// not reach its registry is left as it was; the job then fails (without
// retry) naming what failed, and the next sweep checks it again.
func (t *Tracker) checkJob(ctx context.Context, j catalog.Job) (string, error) {
	var p checkPayload
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return "", fmt.Errorf("job payload: %w", err)
	}
	obs := make([]observation, len(p.Tracks))
	var hostErrs sync.Map // host -> *atomic.Int32
	sem := make(chan struct{}, t.opts.HeadConcurrency)
	var wg sync.WaitGroup
	for i, it := range p.Tracks {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			obs[i] = t.head(ctx, it, &hostErrs)
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return "", err
	}
	now := t.now()
	var touch []catalog.TrackKey
	var failures []string
	failed, deferred := 0, 0
	for i, it := range p.Tracks {
		o := obs[i]
		key := catalog.TrackKey{Golden: it.Golden, Tag: it.Tag}
		switch {
		case o.deferred:
			deferred++
		case o.err != nil:
			failed++
			if len(failures) < 5 {
				failures = append(failures, fmt.Sprintf("%s: %v", it.Source, o.err))
			}
		case o.gone && it.State == catalog.TrackGone,
			!o.gone && it.State == catalog.TrackCurrent && o.digest == it.SourceDigest:
			touch = append(touch, key)
		case o.gone:
			if err := t.markGone(ctx, key, it.Source, o.why, now); err != nil {
				return "", err
			}
		default:
			changed, err := t.observe(ctx, key, o.digest, p.Sweep, now)
			if err != nil {
				return "", err
			}
			if !changed {
				touch = append(touch, key)
			}
		}
	}
	if err := t.opts.Tracks.TouchTracks(ctx, now, touch...); err != nil {
		return "", err
	}
	if failed > 0 {
		return "", &checkError{failed: failed, of: len(p.Tracks), examples: failures}
	}
	if deferred > 0 {
		return "deferred", nil
	}
	return "checked", nil
}

// checkError says which tracks of a job could not be checked.
type checkError struct {
	failed, of int
	examples   []string
}

func (e *checkError) Error() string {
	return fmt.Sprintf("%d of %d tracks not checked (left as they were): %s", e.failed, e.of, strings.Join(e.examples, "; "))
}

// head checks one track with a HEAD request, unless its host asked to be
// left alone, has no budget left, or already failed maxHostErrors times
// in this job.
func (t *Tracker) head(ctx context.Context, it checkItem, hostErrs *sync.Map) observation {
	ref, err := registry.ParseRef(it.Source)
	if err != nil {
		return observation{err: err}
	}
	v, _ := hostErrs.LoadOrStore(ref.Registry, new(atomic.Int32))
	errs := v.(*atomic.Int32)
	if errs.Load() >= maxHostErrors {
		return observation{err: fmt.Errorf("not asked: %s failed %d times in this job", ref.Registry, maxHostErrors)}
	}
	if !t.hosts.take(ctx, ref.Registry, t.opts.MaxWait) {
		return observation{deferred: true}
	}
	repo, err := t.client.Repository(ctx, ref.Name())
	if err != nil {
		return observation{err: err}
	}
	probe := new(authProbe)
	desc, err := repo.Resolve(withProbe(ctx, probe), ref.Tag)
	switch {
	case err == nil:
		return observation{digest: desc.Digest}
	case errors.Is(err, registry.ErrNotFound):
		return observation{gone: true}
	case errors.Is(err, registry.ErrUnauthorized):
		if code, ok := probe.refusedWithToken(); ok {
			return observation{gone: true, why: fmt.Sprintf("the source repository is gone or private upstream: the registry refused a HEAD that carried a token it had just issued (%s); golden keeps serving what it has", code)}
		}
	}
	if until, _ := t.hosts.blockedUntil(ref.Registry); !until.IsZero() {
		return observation{deferred: true} // 429: the host said when to come back
	}
	errs.Add(1)
	return observation{err: err}
}

// markGone records that a source tag is gone, and whether its whole
// repository is (one tag listing, only when the state changes), unless
// why says already (a repository gone or private upstream).
func (t *Tracker) markGone(ctx context.Context, key catalog.TrackKey, source, why string, now time.Time) error {
	if why == "" {
		why = "the source tag is gone upstream; golden keeps serving what it has"
		if ref, err := registry.ParseRef(source); err == nil {
			if repo, err := t.client.Repository(ctx, ref.Name()); err == nil {
				stop := errors.New("stop")
				err := repo.Tags(ctx, "", func([]string) error { return stop })
				if errors.Is(err, registry.ErrNotFound) {
					why = "the source repository is gone upstream; golden keeps serving what it has"
				}
			}
		}
	}
	tr, err := t.update(ctx, key, false, func(tr *catalog.Track) (bool, error) {
		if tr.State == catalog.TrackGone {
			return false, nil
		}
		tr.Observed = ""
		tr.Checked = now
		setState(tr, catalog.TrackGone, now, why)
		return true, nil
	})
	if errors.Is(err, catalog.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if tr.State == catalog.TrackGone && tr.Since.Equal(now) {
		t.emit(ctx, TypeGone, now, change(tr))
		t.log.WarnContext(ctx, "upstream: "+why, "golden", key.Golden, "tag", key.Tag, "source", source)
	}
	return nil
}

// observe decides what a source digest d that differs from the track's
// last view means, and records it: back to the followed digest; a move
// to acquire (queued in this sweep); a flap back to a replaced digest
// (held); a digest that failed lately (wait); the day's bound reached
// (capped). It reports whether it changed the track.
func (t *Tracker) observe(ctx context.Context, key catalog.TrackKey, d digest.Digest, sweep string, now time.Time) (bool, error) {
	var evType string
	enqueue, wrote := false, false
	tr, err := t.update(ctx, key, false, func(tr *catalog.Track) (bool, error) {
		evType, enqueue = "", false
		wrote = t.decide(tr, d, now, &evType, &enqueue)
		return wrote, nil
	})
	if errors.Is(err, catalog.ErrNotFound) {
		return true, nil // untracked meanwhile
	}
	if err != nil {
		return false, err
	}
	// The change is stored: say so before queueing the acquisition, so
	// that no worker reports the acquisition's end before the move.
	if evType != "" {
		t.emit(ctx, evType, now, change(tr))
		t.log.InfoContext(ctx, "upstream: "+string(tr.State), "golden", key.Golden, "tag", key.Tag, "reason", tr.Reason)
	}
	if enqueue {
		p, err := json.Marshal(acquirePayload{Golden: tr.Golden, Tag: tr.Tag, Source: tr.Source, Digest: d, Sweep: sweep})
		if err != nil {
			return false, err
		}
		job := catalog.Job{Kind: KindAcquire, Key: "upstream/acquire/" + key.String() + "@" + d.String() + "/" + sweep, Group: sweep, Priority: 10, Payload: p}
		if _, err := t.opts.Queue.Enqueue(ctx, job); err != nil {
			return false, err
		}
	}
	return wrote, nil
}

// decide applies to tr what seeing its source tag at d means, sets the
// event to emit and whether to queue an acquisition, and reports whether
// tr changed.
func (t *Tracker) decide(tr *catalog.Track, d digest.Digest, now time.Time, evType *string, enqueue *bool) bool {
	tr.Checked = now
	switch {
	case d == tr.SourceDigest:
		if tr.State == catalog.TrackCurrent && tr.Observed == d {
			return false
		}
		tr.Observed = d
		setState(tr, catalog.TrackCurrent, now, "the source tag points at the digest golden follows")
		return true
	case tr.State == catalog.TrackHeld && tr.Observed == d:
		return false
	case slices.Contains(tr.Replaced, d):
		tr.Observed = d
		setState(tr, catalog.TrackHeld, now, fmt.Sprintf("the source tag went back to %s, which golden followed before and replaced: held until released", d))
		*evType = TypeFlapping
		return true
	case tr.State == catalog.TrackMoved && tr.Observed == d:
		*enqueue = true // the acquisition is queued or running; queue it again if it was lost
		return false
	}
	if wait := t.failedWait(tr, d, now); wait > 0 {
		if tr.State == catalog.TrackFailed && tr.Observed == d {
			return false
		}
		tr.Observed = d
		setState(tr, catalog.TrackFailed, now, fmt.Sprintf("%s failed lately; acquired again after %s", d, now.Add(wait).Format(time.RFC3339)))
		return true
	}
	if n := len(recentAttempts(tr.Attempts, now)); n >= t.opts.MaxAcquisitionsPerDay {
		if tr.State == catalog.TrackCapped && tr.Observed == d {
			return false
		}
		tr.Observed = d
		setState(tr, catalog.TrackCapped, now, fmt.Sprintf("the source tag moved to %s, but %d acquisitions in 24 hours reach the bound of %d", d, n, t.opts.MaxAcquisitionsPerDay))
		*evType = TypeCapped
		return true
	}
	tr.Observed = d
	setState(tr, catalog.TrackMoved, now, fmt.Sprintf("the source tag moved from %s to %s; acquiring", orUnknown(tr.SourceDigest), d))
	*evType, *enqueue = TypeMoved, true
	return true
}

// failedWait returns how long d still waits after failing, or 0: the
// wait is Options.RetryFailed after the last failure of d, doubled for
// each earlier failure of d among the recent attempts (at most a day).
func (t *Tracker) failedWait(tr *catalog.Track, d digest.Digest, now time.Time) time.Duration {
	if tr.Failure == nil || tr.Failure.Digest != d {
		return 0
	}
	n := 0
	for _, a := range tr.Attempts {
		if a.Digest == d && a.Outcome != "" && a.Outcome != OutcomePromoted && a.Outcome != OutcomeUnchanged && a.Outcome != OutcomeAudited {
			n++
		}
	}
	wait := t.opts.RetryFailed << min(max(n-1, 0), 10)
	wait = min(wait, 24*time.Hour)
	if left := tr.Failure.At.Add(wait).Sub(now); left > 0 {
		return left
	}
	return 0
}
