package lifecycle

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/catalog"
)

// Plan is what a lifecycle run does, or would do (a dry run): the changes
// of every entry that changes, holds or fails. Entries that stay as they
// are only count.
type Plan struct {
	// ID identifies the run (and its catalog.Sweep record).
	ID string `json:"id"`
	// At is the time the plan was made for (the run's clock).
	At time.Time `json:"at"`
	// Entries counts the entries examined; Unchanged those with nothing
	// to do.
	Entries   int `json:"entries"`
	Unchanged int `json:"unchanged"`
	// Changes lists the others, sorted by repository then digest.
	Changes []*Change `json:"changes,omitempty"`
}

// Count returns how many changes are of kind.
func (p *Plan) Count(kind ChangeKind) int {
	n := 0
	for _, c := range p.Changes {
		if c.Kind == kind {
			n++
		}
	}
	return n
}

// Find returns the change of an entry, or nil.
func (p *Plan) Find(repository string, d digest.Digest) *Change {
	for _, c := range p.Changes {
		if c.Repository == repository && c.Digest == d {
			return c
		}
	}
	return nil
}

// PlanFacts decides the changes of many entries at now: Evaluate for each,
// then retention, which deletes the digest of a retired image once its
// grace period has passed, unless it is protected (see Protected). The
// replacement pointers of every entry, as stored and as planned, protect
// the images they name. It does no I/O. Unchanged entries are nil in the
// result.
func (p *Policy) PlanFacts(facts []Facts, now time.Time) []*Change {
	out := make([]*Change, len(facts))
	var pins []string
	for i, f := range facts {
		if f.Entry == nil {
			out[i] = p.Evaluate(f, now)
			continue
		}
		if f.Err != nil {
			c := &Change{Kind: KindError, Repository: f.Entry.Repository, Digest: f.Entry.Digest, Tags: slices.Clone(f.Entry.Tags),
				From: status(f.Entry.Status), To: status(f.Entry.Status), Replacement: f.Entry.Replacement}
			c.fail(f.Err)
			out[i] = c
			pins = append(pins, f.Entry.Replacement)
			continue
		}
		c := p.Evaluate(f, now)
		out[i] = c
		pins = append(pins, f.Entry.Replacement, c.Replacement)
		if c.Kind == "" {
			out[i] = nil
		}
	}
	pinned := newPins(pins)
	for i, f := range facts {
		c := out[i]
		if f.Entry == nil || f.Err != nil || (c != nil && c.Kind != KindHold) {
			continue // deletions only when nothing else changes this run
		}
		if c == nil {
			c = p.Evaluate(f, now)
		}
		due, err := p.Protected(f, c.Resolution, now, pinned.pins(f))
		switch {
		case due && err == nil:
			d := &Change{Kind: KindDelete, Repository: c.Repository, Digest: c.Digest, From: c.From, To: c.To,
				EndOfLife: c.EndOfLife, PreviousEndOfLife: c.PreviousEndOfLife, Source: c.Source, Reason: c.Reason,
				Replacement: c.Replacement, Resolution: c.Resolution, Notes: c.Notes, Ignored: c.Ignored, facts: f}
			if f.State != nil {
				d.Marker = f.State.Digest
			}
			d.Steps = []Step{{Kind: StepDelete, Target: c.Digest.String()}, {Kind: StepEvent}}
			out[i] = d
		case due:
			c.Kind = KindHold
			c.Steps = nil
			c.Notes = append(c.Notes, "not deleted: "+err.Error())
			out[i] = c
		}
	}
	return out
}

// Protected says whether the digest of a retired image is due for
// deletion at now (retired on the registry by a signed marker, its grace
// period over since the retirement the marker records) and, if it is, whether something protects it (the error,
// wrapping ErrProtected): an end of life that is not past (no date, a
// later date, a status that is not retired), current tags, or a
// replacement pointer of another image (pinnedBy names it). Nothing is
// ever deleted without a grace period, or from the archive.
func (p *Policy) Protected(f Facts, res *Resolution, now time.Time, pinnedBy string) (due bool, err error) {
	grace := p.cfg.Retirement.GracePeriod.Duration
	if grace <= 0 || p.cfg.Retirement.Action == ActionMark || p.inArchive(f.Entry.Repository) {
		return false, nil
	}
	if f.State == nil || f.State.State == nil || f.State.State.Status != string(catalog.StatusRetired) ||
		status(f.Entry.Status) != catalog.StatusRetired {
		return false, nil
	}
	if now.Before(recordedSince(f.State).Add(grace)) {
		return false, nil
	}
	protect := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s@%s: %s", ErrProtected, f.Entry.Repository, f.Entry.Digest, fmt.Sprintf(format, a...))
	}
	switch {
	case res == nil || res.EndOfLife.IsZero():
		return true, protect("no end-of-life date")
	case now.Before(res.EndOfLife):
		return true, protect("still supported until %s", attest.FormatDate(res.EndOfLife))
	case p.StatusAt(res, now) != catalog.StatusRetired:
		return true, protect("still supported")
	case len(f.Entry.Tags) > 0:
		return true, protect("still tagged %s", strings.Join(f.Entry.Tags, ", "))
	case pinnedBy != "":
		return true, protect("pinned by the replacement pointer %q", pinnedBy)
	}
	return true, nil
}

// pinSet holds the replacement pointers of a plan.
type pinSet []pin

type pin struct {
	ref, repo, tag string
	digest         digest.Digest
}

// newPins parses replacement references: "repo@sha256:..." pins a
// digest, "repo:tag" the images that carry or carried the tag, "repo" the
// whole repository. A repository matches an entry's repository exactly or
// as its trailing path ("library/nginx" matches
// "registry.corp/golden/library/nginx").
func newPins(refs []string) pinSet {
	var out pinSet
	for _, r := range sortedUnique(slices.Clone(refs)) {
		p := pin{ref: r}
		name := r
		if n, d, ok := strings.Cut(r, "@"); ok {
			name, p.digest = n, digest.Digest(d)
		} else if i := strings.LastIndex(r, ":"); i > strings.LastIndex(r, "/") {
			name, p.tag = r[:i], r[i+1:]
		}
		p.repo = strings.TrimSuffix(name, "/")
		out = append(out, p)
	}
	return out
}

// pins returns the first replacement pointer that names the image of f,
// or "".
func (ps pinSet) pins(f Facts) string {
	repo := f.Entry.Repository
	tags := append(slices.Clone(f.Tags), f.Entry.Tags...)
	for _, p := range ps {
		if p.repo == "" || (repo != p.repo && !strings.HasSuffix(repo, "/"+p.repo)) {
			continue
		}
		switch {
		case p.digest != "":
			if p.digest == f.Entry.Digest {
				return p.ref
			}
		case p.tag != "":
			if slices.Contains(tags, p.tag) {
				return p.ref
			}
		default:
			return p.ref
		}
	}
	return ""
}
