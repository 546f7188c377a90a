package catalog

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// View is a Store as one caller sees it: every read answers only for the
// entries the caller's Visibility allows, and exactly as the store answers
// for an entry it does not have (an error wrapping ErrNotFound, an empty
// tag map, no tag history), so that a restricted entry's existence does
// not leak. A visible entry's replacement that names a hidden image is
// left out, and hidden images named in its free text are redacted
// (Visibility.Redact). Entries and summaries it returns carry their access
// (AccessPolicy.Apply). Writes pass through to the store, except Delete of
// a hidden entry, which is ErrNotFound; Close does nothing (the view does
// not own the store). Create one with NewView.
type View struct {
	s Store
	v *Visibility
}

var _ Store = (*View)(nil)

// NewView returns the view of s for a caller who sees v (nil: everything;
// entries are then returned as the store has them).
func NewView(s Store, v *Visibility) *View { return &View{s: s, v: v} }

// Visibility returns what the view's caller sees.
func (w *View) Visibility() *Visibility { return w.v }

func (w *View) notFound(repository string, d digest.Digest) error {
	return fmt.Errorf("%w: %s@%s", ErrNotFound, repository, d)
}

// Put implements Store: it passes through.
func (w *View) Put(ctx context.Context, e *Entry) error { return w.s.Put(ctx, e) }

// Get implements Store: a hidden entry is ErrNotFound.
func (w *View) Get(ctx context.Context, repository string, d digest.Digest) (*Entry, error) {
	if !w.v.Visible(repository) {
		// Ask the store all the same, so that a hidden entry costs what
		// an unknown one costs; answer as for an unknown one.
		_, err := w.s.Get(ctx, repository, d)
		if err == nil {
			return nil, w.notFound(repository, d)
		}
		return nil, err
	}
	e, err := w.s.Get(ctx, repository, d)
	if err != nil {
		return nil, err
	}
	w.apply(e)
	return e, nil
}

// apply records the access of e, drops a replacement that names an
// image the caller may not see, and redacts such names in e's free text
// (Visibility.Redact): the source reference, the end-of-life reason and
// sources, the problems' details and the labels' values.
func (w *View) apply(e *Entry) {
	if p := w.v.Policy(); p != nil {
		p.Apply(e)
	}
	redactEntry(e, w.v)
}

// ReferenceRepository returns the repository of an image reference:
// what comes before "@digest", else before a ":tag" after the last "/".
func ReferenceRepository(ref string) string {
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		return ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") && strings.Contains(ref, "/") {
		return ref[:i]
	}
	return ref
}

// Delete implements Store: a hidden entry is ErrNotFound.
func (w *View) Delete(ctx context.Context, repository string, d digest.Digest) error {
	if !w.v.Visible(repository) {
		return w.notFound(repository, d)
	}
	return w.s.Delete(ctx, repository, d)
}

// Search implements Store: the query sees what the view sees.
func (w *View) Search(ctx context.Context, q Query) (*Result, error) {
	if w.v != nil {
		q.Visibility = w.v
	}
	res, err := w.s.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	if p := w.v.Policy(); p != nil {
		for i := range res.Entries {
			s := &res.Entries[i]
			s.AccessLevel = p.restrictedLevel(s.Repository)
			redactSummary(s, w.v)
		}
	}
	return res, nil
}

// RecordTags implements Store: it passes through.
func (w *View) RecordTags(ctx context.Context, repository string, tags map[string]digest.Digest, at time.Time, complete bool) ([]TagEvent, error) {
	return w.s.RecordTags(ctx, repository, tags, at, complete)
}

// Tags implements Store: a hidden repository has no tags.
func (w *View) Tags(ctx context.Context, repository string) (map[string]digest.Digest, error) {
	tags, err := w.s.Tags(ctx, repository)
	if err != nil || w.v.Visible(repository) {
		return tags, err
	}
	return map[string]digest.Digest{}, nil
}

// TagHistory implements Store: a hidden repository has no history.
func (w *View) TagHistory(ctx context.Context, repository, tag string) ([]TagRecord, error) {
	recs, err := w.s.TagHistory(ctx, repository, tag)
	if err != nil || w.v.Visible(repository) {
		return recs, err
	}
	return nil, nil
}

// Repositories implements Store: hidden repositories are left out.
func (w *View) Repositories(ctx context.Context) ([]string, error) {
	repos, err := w.s.Repositories(ctx)
	if err != nil || !w.v.Restricts() {
		return repos, err
	}
	out := repos[:0:0]
	for _, r := range repos {
		if w.v.Visible(r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// Close implements Store: it does nothing.
func (w *View) Close() error { return nil }
