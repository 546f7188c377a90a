package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/registry"
)

// Acquirer acquires one source digest through the full Acquire pipeline
// into a golden repository, under a tag: the embedding service supplies
// it. PipelineAcquirer adapts an *acquire.Pipeline; AcquirerFunc adapts a
// function.
type Acquirer interface {
	Acquire(ctx context.Context, req Request) (*Result, error)
}

// AcquirerFunc adapts a function to Acquirer.
type AcquirerFunc func(ctx context.Context, req Request) (*Result, error)

// Acquire implements Acquirer.
func (f AcquirerFunc) Acquire(ctx context.Context, req Request) (*Result, error) { return f(ctx, req) }

// Request is one acquisition of a moved source tag.
type Request struct {
	// Source is the source reference pinned to the digest the tag was
	// seen at ("docker.io/library/nginx:1.27@sha256:..."): the pipeline
	// acquires exactly that digest, and keeps the tag.
	Source string
	// Digest is that digest.
	Digest digest.Digest
	// Golden is the golden repository location the image goes to, and Tag
	// the golden tag that moves if it passes.
	Golden string
	Tag    string
	// Previous is the golden digest the tag points at now; empty if
	// unknown.
	Previous digest.Digest
}

// Outcomes of an acquisition (those of acquire.Outcome, and "stale" for
// an acquisition the tracker dropped because the tag moved on).
const (
	OutcomePromoted  = string(acquire.OutcomePromoted)
	OutcomeUnchanged = string(acquire.OutcomeUnchanged)
	OutcomeAudited   = string(acquire.OutcomeAudited)
	OutcomeDenied    = string(acquire.OutcomeDenied)
	OutcomeError     = string(acquire.OutcomeError)
)

// Result says what an acquisition did.
type Result struct {
	// Outcome is one of the Outcome constants.
	Outcome string
	// Promoted is true when the golden tag now points at the acquired
	// image (promoted, unchanged, or promoted in audit mode).
	Promoted bool
	// Digest is the golden digest (which differs from the source digest
	// when the pipeline kept only some platforms).
	Digest digest.Digest
	// SourceDigest is the source digest the pipeline acquired.
	SourceDigest digest.Digest
	// Previous is what the golden tag pointed at before (empty if it did
	// not move, or is unknown).
	Previous digest.Digest
	// Reason explains the outcome in one line (the policy's reasons for a
	// denial).
	Reason string
}

// PipelineAcquirer runs an *acquire.Pipeline for the tracker. Golden is
// the pipeline's golden location prefix (acquire.Config.Golden): a
// track's golden repository must be under it, and the path under it is
// the run's repository (RunOptions.Repository), so that an image acquired
// under another path than its source's is followed there.
type PipelineAcquirer struct {
	Pipeline *acquire.Pipeline
	Golden   string
	// Options is the template of every run (Platforms, Tags); Repository
	// is set from the track.
	Options acquire.RunOptions
}

var _ Acquirer = PipelineAcquirer{}

// Acquire implements Acquirer. A run that did not promote is a Result
// with its outcome and reason, not an error; the error is the context's
// when it ended, or a configuration mismatch.
func (a PipelineAcquirer) Acquire(ctx context.Context, req Request) (*Result, error) {
	if a.Pipeline == nil {
		return nil, fmt.Errorf("%w: PipelineAcquirer without a pipeline", ErrInvalidConfig)
	}
	prefix := strings.TrimSuffix(a.Golden, "/") + "/"
	if a.Golden == "mem:" {
		prefix = a.Golden
	}
	path, ok := strings.CutPrefix(req.Golden, prefix)
	if !ok || path == "" {
		return nil, fmt.Errorf("%w: golden repository %s is not under the pipeline's golden %s", ErrInvalidConfig, req.Golden, a.Golden)
	}
	opts := a.Options
	opts.Repository = path
	rec, err := a.Pipeline.Run(ctx, req.Source, opts)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res := &Result{Outcome: string(rec.Outcome), Reason: rec.Reason, Digest: rec.Digest, SourceDigest: rec.SourceDigest, Previous: rec.PreviousGoldenDigest}
	switch rec.Outcome {
	case acquire.OutcomePromoted, acquire.OutcomeUnchanged, acquire.OutcomeAudited:
		res.Promoted = true
		if rec.Golden != req.Golden || rec.Tag != req.Tag {
			return res, fmt.Errorf("upstream: the pipeline promoted %s:%s, not %s:%s", rec.Golden, rec.Tag, req.Golden, req.Tag)
		}
	}
	return res, nil
}

// acquirePayload is the data of a KindAcquire job.
type acquirePayload struct {
	Golden string        `json:"golden"`
	Tag    string        `json:"tag"`
	Source string        `json:"source"`
	Digest digest.Digest `json:"digest"`
	Sweep  string        `json:"sweep"`
}

// Outcomes of acquisition jobs beside the acquisition's own.
const (
	jobStale    = "stale"    // the tag moved on (or back) before the job ran
	jobBusy     = "busy"     // another instance acquires for the track
	jobDeferred = "deferred" // the source host asked to be left alone
)

// acquireJob acquires the digest of one moved tag, if the track still
// wants it, under the track's cluster-wide lock.
func (t *Tracker) acquireJob(ctx context.Context, j catalog.Job) (string, error) {
	var p acquirePayload
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return "", fmt.Errorf("job payload: %w", err)
	}
	key := catalog.TrackKey{Golden: p.Golden, Tag: p.Tag}
	unlock, ok, err := t.opts.Coordinator.TryLock(ctx, lockTrackPrefix+key.String())
	if err != nil {
		return "", err
	}
	if !ok {
		return jobBusy, nil
	}
	defer unlock()
	ref, err := registry.ParseRef(p.Source)
	if err != nil {
		return "", err
	}
	if until, why := t.hosts.blockedUntil(ref.Registry); !until.IsZero() {
		t.log.InfoContext(ctx, "upstream: acquisition deferred: the source host asked to be left alone", "host", ref.Registry, "until", until, "why", why)
		return jobDeferred, nil
	}
	now := t.now()
	var n int
	var previous digest.Digest
	stale := false
	_, err = t.update(ctx, key, false, func(tr *catalog.Track) (bool, error) {
		if tr.State != catalog.TrackMoved || tr.Observed != p.Digest || tr.SourceDigest == p.Digest {
			stale = true
			return false, nil
		}
		tr.Acquisitions++
		n, previous = tr.Acquisitions, tr.GoldenDigest
		tr.Attempts = append(recentAttempts(tr.Attempts, now), catalog.TrackAttempt{Digest: p.Digest, Started: now})
		if over := len(tr.Attempts) - catalog.MaxTrackAttempts; over > 0 {
			tr.Attempts = tr.Attempts[over:]
		}
		tr.Reason = fmt.Sprintf("acquiring %s (acquisition %d)", p.Digest, n)
		return true, nil
	})
	if errors.Is(err, catalog.ErrNotFound) {
		return jobStale, nil
	}
	if err != nil {
		return "", err
	}
	if stale {
		return jobStale, nil
	}
	req := Request{Source: ref.Name() + ":" + ref.Tag + "@" + p.Digest.String(), Digest: p.Digest, Golden: p.Golden, Tag: p.Tag, Previous: previous}
	t.log.InfoContext(ctx, "upstream: acquiring a moved tag", "golden", p.Golden, "tag", p.Tag, "source", req.Source, "acquisition", n)
	res, aerr := t.opts.Acquirer.Acquire(ctx, req)
	if aerr != nil && ctx.Err() != nil {
		return "", aerr // abandoned: the lease decides who goes on
	}
	if res == nil {
		res = &Result{Outcome: OutcomeError}
	}
	if aerr != nil {
		res.Promoted, res.Outcome = false, OutcomeError
		res.Reason = strings.TrimSpace(res.Reason + " " + aerr.Error())
	}
	end := t.now()
	var tr *catalog.Track
	tr, err = t.update(ctx, key, false, func(tr *catalog.Track) (bool, error) {
		for i := len(tr.Attempts) - 1; i >= 0; i-- {
			if tr.Attempts[i].Digest == p.Digest && tr.Attempts[i].Outcome == "" {
				tr.Attempts[i].Outcome = res.Outcome
				break
			}
		}
		if res.Promoted {
			reason := fmt.Sprintf("golden follows %s: %s (acquisition %d)", p.Digest, res.Outcome, n)
			if res.SourceDigest != "" && res.SourceDigest != p.Digest {
				reason += fmt.Sprintf("; the pipeline read %s where HEAD said %s", res.SourceDigest, p.Digest)
			}
			followed(tr, p.Digest, res.Digest, res.Previous, end, reason)
			return true, nil
		}
		tr.Failure = &catalog.TrackFailure{Digest: p.Digest, Outcome: res.Outcome, Reason: res.Reason, At: end}
		setState(tr, catalog.TrackFailed, end, fmt.Sprintf("acquisition %d of %s %s; golden stays on %s", n, p.Digest, res.Outcome, orUnknown(tr.SourceDigest)))
		return true, nil
	})
	if err != nil {
		return "", err
	}
	c := change(tr)
	c.To, c.Acquisition, c.Outcome = p.Digest, n, res.Outcome
	if res.Promoted {
		c.From = lastReplaced(tr, p.Digest)
		c.GoldenFrom, c.GoldenTo = orPrev(res.Previous, previous, res.Digest), res.Digest
		t.finish(ctx, tr)
		t.emit(ctx, TypePromoted, end, c)
		t.log.InfoContext(ctx, "upstream: golden follows the moved tag", "golden", p.Golden, "tag", p.Tag, "digest", res.Digest, "outcome", res.Outcome)
	} else {
		c.Reason = res.Reason
		t.emit(ctx, TypeFailed, end, c)
		t.log.WarnContext(ctx, "upstream: the moved tag did not pass; golden stays", "golden", p.Golden, "tag", p.Tag, "digest", p.Digest,
			"outcome", res.Outcome, "reason", res.Reason)
	}
	return res.Outcome, nil
}

func orUnknown(d digest.Digest) string {
	if d == "" {
		return "what it had"
	}
	return d.String()
}

func orPrev(ds ...digest.Digest) digest.Digest {
	last := ds[len(ds)-1]
	for _, d := range ds[:len(ds)-1] {
		if d != "" && d != last {
			return d
		}
	}
	return ""
}

// lastReplaced returns the source digest golden followed before now,
// given that it now follows now.
func lastReplaced(tr *catalog.Track, now digest.Digest) digest.Digest {
	for i := len(tr.Replaced) - 1; i >= 0; i-- {
		if tr.Replaced[i] != now {
			return tr.Replaced[i]
		}
	}
	return ""
}

// recentAttempts returns the attempts of the last 24 hours.
func recentAttempts(as []catalog.TrackAttempt, now time.Time) []catalog.TrackAttempt {
	var out []catalog.TrackAttempt
	for _, a := range as {
		if now.Sub(a.Started) < 24*time.Hour {
			out = append(out, a)
		}
	}
	return out
}

// failAcquisition records a job that failed for good on its track, so
// that a track never stays "moved" without a job.
func (t *Tracker) failAcquisition(ctx context.Context, j catalog.Job, cause string) {
	var p acquirePayload
	if json.Unmarshal(j.Payload, &p) != nil {
		return
	}
	now := t.now()
	tr, err := t.update(ctx, catalog.TrackKey{Golden: p.Golden, Tag: p.Tag}, false, func(tr *catalog.Track) (bool, error) {
		if tr.State != catalog.TrackMoved || tr.Observed != p.Digest {
			return false, nil
		}
		tr.Failure = &catalog.TrackFailure{Digest: p.Digest, Outcome: OutcomeError, Reason: cause, At: now}
		setState(tr, catalog.TrackFailed, now, "the acquisition job failed: "+cause)
		return true, nil
	})
	if err == nil && tr.State == catalog.TrackFailed && tr.Failure != nil && tr.Failure.At.Equal(now) {
		c := change(tr)
		c.Outcome, c.Reason = OutcomeError, cause
		t.emit(ctx, TypeFailed, now, c)
	}
}
