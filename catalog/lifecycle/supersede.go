package lifecycle

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/attest"
)

// Supersession says that a newer image replaced an image in golden: the
// golden tag moved to a newer acquisition of the same source tag (a
// publisher's patched rebuild, see catalog/upstream).
type Supersession struct {
	// Replacement names the replacing image, pinned
	// ("registry.corp/golden/library/nginx:1.27@sha256:...").
	Replacement string `json:"replacement"`
	// EndOfLife is the end of life the supersession gives the replaced
	// image (Config.Superseded after it happened).
	EndOfLife time.Time `json:"endOfLife"`
}

// supersession returns f.Superseded, or the supersession the recorded
// state marker carries among its sources (the date and, in its detail,
// the replacement), or nil. A supersession recorded once is therefore
// kept by every later run, without any configuration.
func (f Facts) supersession() *Supersession {
	if f.Superseded != nil {
		return f.Superseded
	}
	return recordedSupersession(f.State)
}

func recordedSupersession(m *attest.Lifecycle) *Supersession {
	if m == nil || m.State == nil {
		return nil
	}
	for _, s := range m.State.Sources {
		if s.Source == SourceSuperseded && !s.Date.IsZero() && s.Detail != "" {
			return &Supersession{Replacement: s.Detail, EndOfLife: s.Date.UTC()}
		}
	}
	return nil
}

// SupersedeRequest asks to record that a newer image replaced one.
type SupersedeRequest struct {
	// Repository and Digest name the replaced catalog entry. Required.
	Repository string
	Digest     digest.Digest
	// Replacement names the replacing image, pinned by digest
	// ("registry.corp/golden/library/nginx:1.27@sha256:..."). Required.
	Replacement string
}

// Supersede records that req.Replacement replaced an image: the image
// gets the replacement pointer and an end of life Config.Superseded from
// now (Window when zero), or an earlier one if another source (or an
// earlier supersession) gives it, and moves to the status the lifecycle
// rules give for that date: with the default, deprecated at once, and
// retired once the window has passed. The change is applied as a run
// applies it (signed marker, event, entry); the marker records the
// supersession, so later runs keep it. Superseding an image again keeps
// the earlier date. A retired image stays retired (the change is a
// KindHold). It returns the change; an error means nothing changed (the
// change's Error says which step failed; ErrBusy while a run holds the
// cluster-wide lock).
func (r *Runner) Supersede(ctx context.Context, req SupersedeRequest) (*Change, error) {
	if req.Repository == "" || req.Digest.Validate() != nil || req.Replacement == "" || len(req.Replacement) > attest.MaxLifecycleText {
		return nil, fmt.Errorf("%w: a supersession needs a repository, a digest and a replacement", ErrInvalidConfig)
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
	f := r.newGatherer().gather(ctx, e)
	if f.Err != nil {
		return nil, f.Err
	}
	after := r.opts.Policy.cfg.Superseded.Duration
	if after <= 0 {
		after = r.opts.Policy.Window()
	}
	sup := &Supersession{Replacement: req.Replacement, EndOfLife: now.Add(after).Truncate(time.Second)}
	if prev := recordedSupersession(f.State); prev != nil && prev.EndOfLife.Before(sup.EndOfLife) {
		sup.EndOfLife = prev.EndOfLife
	}
	f.Superseded = sup
	c := r.opts.Policy.Evaluate(f, now)
	if c.Kind == KindError {
		return c, c.err
	}
	r.applyChange(ctx, c, now)
	if c.Error != "" {
		r.log.WarnContext(ctx, "lifecycle: supersession failed", "image", req.Repository+"@"+req.Digest.String(), "replacement", req.Replacement, "error", c.Error)
		return c, c.err
	}
	r.log.InfoContext(ctx, "lifecycle: superseded", "image", req.Repository+"@"+req.Digest.String(), "replacement", req.Replacement,
		"status", c.To, "endOfLife", c.EndOfLife)
	return c, nil
}
