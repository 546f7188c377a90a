package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
)

// applyChange carries out the steps of c in order and stops at the first
// failure: the marker is signed before anything else changes, the event
// goes out before the entry is written, so that a failure leaves the
// entry as it was and the next run does the rest (reusing the marker,
// emitting an event with the same id).
func (r *Runner) applyChange(ctx context.Context, c *Change, now time.Time) {
	switch c.Kind {
	case KindTransition, KindUpdate, KindDelete:
	case KindError:
		if err := r.emit(ctx, c, now); err != nil {
			r.log.WarnContext(ctx, "lifecycle: failure event", "image", c.Repository+"@"+c.Digest.String(), "error", err)
		}
		return
	default:
		return
	}
	repo, desc, err := r.open(ctx, c.facts.Entry)
	if err != nil {
		c.fail(err)
		return
	}
	untagged := map[string]bool{}
	for i := range c.Steps {
		s := &c.Steps[i]
		var err error
		switch s.Kind {
		case StepMarker:
			c.Marker, err = r.writeMarker(ctx, repo, desc, c, now)
			if err == nil && c.entry.EndOfLife != nil {
				c.entry.EndOfLife.Marker = c.Marker
			}
		case StepArchive:
			err = r.archive(ctx, repo, desc, s.Target, c.Tags)
		case StepUntag:
			var removed bool
			removed, err = r.untag(ctx, repo, desc, s.Target)
			if removed || err == nil {
				untagged[s.Target] = true
			}
		case StepDelete:
			err = r.delete(ctx, repo, desc, c)
		case StepEvent:
			err = r.emit(ctx, c, now)
		case StepEntry:
			c.entry.Tags = slices.DeleteFunc(slices.Clone(c.entry.Tags), func(t string) bool { return untagged[t] })
			err = r.opts.Store.Put(ctx, c.entry)
		}
		if err != nil {
			s.Error = err.Error()
			c.fail(fmt.Errorf("%s %s@%s: %s: %w", c.Kind, c.Repository, c.Digest, s, err))
			r.log.WarnContext(ctx, "lifecycle: change failed", "image", c.Repository+"@"+c.Digest.String(), "step", s.String(), "error", err)
			return
		}
		s.Done = true
	}
	c.Applied = true
	r.log.InfoContext(ctx, "lifecycle: "+string(c.Kind), "image", c.Repository+"@"+c.Digest.String(), "from", c.From, "to", c.To,
		"endOfLife", c.EndOfLife, "source", c.Source)
}

// writeMarker attaches a lifecycle marker recording c's state to the image
// and signs it with the enterprise signer. If signing fails the marker is
// deleted again, so that an unsigned marker never stands beside the
// signed ones.
func (r *Runner) writeMarker(ctx context.Context, repo registry.Repository, desc ocispec.Descriptor, c *Change, now time.Time) (digest.Digest, error) {
	// The new marker must be the newest: markers are ordered by creation
	// time (whole seconds), and a tie would go to the larger digest.
	created := now.UTC().Truncate(time.Second)
	if prev := c.facts.State; prev != nil && !created.After(prev.Created) {
		created = prev.Created.Add(time.Second)
	}
	art := attest.LifecycleStateArtifact(c.EndOfLife, created, r.opts.Generator, *c.state)
	d, err := registry.Attach(ctx, repo, desc, art)
	if err != nil {
		return "", fmt.Errorf("attach lifecycle marker: %w", err)
	}
	d.Annotations = nil
	if _, err := sign.SignTree(ctx, r.opts.Signer, repo, d, sign.TreeOptions{MaxDepth: -1, Reuse: r.opts.Verifier}); err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := repo.Delete(dctx, d); derr != nil {
			r.log.WarnContext(ctx, "lifecycle: deleting the unsigned marker", "marker", d.Digest, "error", derr)
		}
		return "", fmt.Errorf("sign lifecycle marker %s: %w", d.Digest, err)
	}
	return d.Digest, nil
}

// untag removes tag from the golden repository if it still points at the
// image. A tag that moved to another image, or is gone, is left alone
// (removed is false, the error nil).
func (r *Runner) untag(ctx context.Context, repo registry.Repository, desc ocispec.Descriptor, tag string) (removed bool, err error) {
	cur, err := repo.Resolve(ctx, tag)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	case cur.Digest != desc.Digest:
		return false, nil
	}
	if err := registry.Untag(ctx, repo, tag); err != nil && !errors.Is(err, registry.ErrNotFound) {
		return false, err
	}
	return true, nil
}

// archive copies the image with every referrer to the archive repository
// and gives it the image's tags there.
func (r *Runner) archive(ctx context.Context, repo registry.Repository, desc ocispec.Descriptor, to string, tags []string) error {
	dst, err := r.opts.Open(ctx, to)
	if err != nil {
		return fmt.Errorf("open archive %s: %w", to, err)
	}
	if err := copyTree(ctx, repo, dst, desc, 0); err != nil {
		return fmt.Errorf("archive to %s: %w", to, err)
	}
	for _, t := range tags {
		if err := dst.Tag(ctx, desc, t); err != nil {
			return fmt.Errorf("archive to %s: tag %s: %w", to, t, err)
		}
	}
	return nil
}

// delete deletes a retired image's digest after checking once more, on the
// registry, that no tag points at it: the root manifest first, then its
// referrers (markers, signatures, SBOMs, reports), best effort; then the
// entry.
func (r *Runner) delete(ctx context.Context, repo registry.Repository, desc ocispec.Descriptor, c *Change) error {
	e := c.facts.Entry
	current, err := r.opts.Store.Tags(ctx, e.Repository)
	if err != nil {
		return err
	}
	candidates := append(slices.Collect(maps.Keys(current)), c.facts.Tags...)
	candidates = append(candidates, e.Tags...)
	for _, t := range sortedUnique(candidates) {
		d, err := repo.Resolve(ctx, t)
		if err == nil && d.Digest == desc.Digest {
			return fmt.Errorf("%w: %s@%s: tagged %s on the registry", ErrProtected, e.Repository, e.Digest, t)
		}
	}
	refs, err := registry.Referrers(ctx, repo, desc, "")
	if err != nil {
		return err
	}
	if err := repo.Delete(ctx, desc); err != nil && !errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("delete %s@%s: %w", e.Repository, e.Digest, err)
	}
	for _, ref := range refs {
		sub, _ := registry.Referrers(ctx, repo, ref, "")
		for _, s := range sub {
			_ = repo.Delete(ctx, ocispec.Descriptor{MediaType: s.MediaType, Digest: s.Digest, Size: s.Size})
		}
		if err := repo.Delete(ctx, ocispec.Descriptor{MediaType: ref.MediaType, Digest: ref.Digest, Size: ref.Size}); err != nil {
			r.log.WarnContext(ctx, "lifecycle: deleting a referrer of a deleted image", "referrer", ref.Digest, "error", err)
		}
	}
	if err := r.opts.Store.Delete(ctx, e.Repository, e.Digest); err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return err
	}
	return nil
}

func (r *Runner) emit(ctx context.Context, c *Change, now time.Time) error {
	if r.opts.Events == nil || c.eventType() == "" {
		return nil
	}
	ev, err := c.event(r.opts.EventSource, now)
	if err != nil {
		return err
	}
	return r.opts.Events.Emit(ctx, ev)
}

// startSweep records the start of a run.
func (r *Runner) startSweep(ctx context.Context, p *Plan, trigger string) *catalog.Sweep {
	sw := &catalog.Sweep{ID: p.ID, Kind: SweepKind, Trigger: trigger, Started: p.At, State: catalog.SweepRunning, Images: p.Entries}
	if r.opts.Sweeps != nil {
		if err := r.opts.Sweeps.PutSweep(ctx, sw); err != nil {
			r.log.WarnContext(ctx, "lifecycle: record run", "id", sw.ID, "error", err)
		}
	}
	return sw
}

// finishSweep records the outcome of every change.
func (r *Runner) finishSweep(ctx context.Context, sw *catalog.Sweep, p *Plan) *catalog.Sweep {
	sw.Finished = r.now()
	sw.State = catalog.SweepFinished
	sw.Outcomes = map[string]int{}
	if p.Unchanged > 0 {
		sw.Outcomes["unchanged"] = p.Unchanged
	}
	for _, c := range p.Changes {
		o := outcome(c)
		sw.Outcomes[o]++
		if c.Error != "" && len(sw.Failures) < catalog.MaxStatusFailures {
			sw.Failures = append(sw.Failures, catalog.SweepFailure{Job: c.Repository + "@" + c.Digest.String(), Error: c.Error})
		}
	}
	var parts []string
	for _, k := range sortedKeys(sw.Outcomes) {
		parts = append(parts, fmt.Sprintf("%d %s", sw.Outcomes[k], k))
	}
	sw.Reason = strings.Join(parts, ", ")
	if r.opts.Sweeps != nil {
		if err := r.opts.Sweeps.PutSweep(ctx, sw); err != nil {
			r.log.WarnContext(ctx, "lifecycle: record run", "id", sw.ID, "error", err)
		}
	}
	return sw
}

// outcome labels an applied change for the run record.
func outcome(c *Change) string {
	switch {
	case errors.Is(c.err, ErrChanged):
		return "skipped"
	case c.Kind == KindError || c.Error != "":
		return "failed"
	case c.Kind == KindHold:
		return "held"
	case c.Kind == KindTransition:
		return string(c.To)
	case c.Kind == KindUpdate:
		return "updated"
	case c.Kind == KindDelete:
		return "deleted"
	}
	return string(c.Kind)
}
