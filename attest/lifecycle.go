package attest

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
)

// maxDateLen caps the length of a date string ParseDate accepts.
const maxDateLen = 64

// ParseDate reads an end-of-life date in either form found in the wild: a
// plain date ("2026-01-01", read as midnight UTC) or an RFC 3339 timestamp
// ("2026-01-01T00:00:00Z", any offset, optional fractional seconds). The
// result is in UTC. Anything else (including strings longer than 64 bytes,
// and dates outside the years 1 to 9999 in UTC) fails with ErrMalformed. ParseDate does not judge whether the date is in
// the past: that is the policy's business.
func ParseDate(s string) (time.Time, error) {
	if len(s) > maxDateLen {
		return time.Time{}, fmt.Errorf("date: %w: %d bytes", ErrMalformed, len(s))
	}
	v := strings.TrimSpace(s)
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		if t, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return time.Time{}, fmt.Errorf("date: %w: %q is neither YYYY-MM-DD nor RFC 3339", ErrMalformed, s)
		}
	}
	t = t.UTC()
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("date: %w: %q is out of range in UTC", ErrMalformed, s)
	}
	return t, nil
}

// FormatDate writes an end-of-life date the way cssc writes it: RFC 3339 in
// UTC, whole seconds ("2026-01-01T00:00:00Z").
func FormatDate(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// Lifecycle is one lifecycle marker (Microsoft convention: an artifact of
// type artifact.TypeLifecycle whose annotation artifact.AnnotationEndOfLife
// holds the end-of-life date) attached to an image.
type Lifecycle struct {
	// EndOfLife is the end-of-life date, in UTC.
	EndOfLife time.Time `json:"endOfLife"`
	// Created is the marker's org.opencontainers.image.created time; zero if
	// missing or unparseable (such a marker loses against any dated one).
	Created time.Time `json:"created,omitzero"`
	// Digest is the marker manifest's digest.
	Digest digest.Digest `json:"digest,omitempty"`
	// GeneratedBy is the marker's artifact.AnnotationGeneratedBy annotation:
	// empty for a marker cssc did not write (a publisher's).
	GeneratedBy string `json:"generatedBy,omitempty"`
	// State is the lifecycle state a catalog marker records (status,
	// replacement, sources); nil for a marker that records only a date.
	State *LifecycleState `json:"state,omitempty"`
}

// ParseLifecycle reads a lifecycle marker from the annotations of its
// manifest (or of its descriptor in a referrers list). A missing or
// unparseable end-of-life annotation, or state annotations that are not
// valid (an unknown status; a value that is not valid UTF-8, too long or,
// for the sources, not a JSON array of sources with known fields), fail
// with ErrMalformed.
func ParseLifecycle(manifest digest.Digest, annotations map[string]string) (*Lifecycle, error) {
	v, ok := annotations[artifact.AnnotationEndOfLife]
	if !ok {
		return nil, fmt.Errorf("lifecycle %s: %w: no %s annotation", manifest, ErrMalformed, artifact.AnnotationEndOfLife)
	}
	eol, err := ParseDate(v)
	if err != nil {
		return nil, fmt.Errorf("lifecycle %s: %w", manifest, err)
	}
	l := &Lifecycle{EndOfLife: eol, Digest: manifest, GeneratedBy: annotations[artifact.AnnotationGeneratedBy]}
	if l.State, err = parseLifecycleState(annotations); err != nil {
		return nil, fmt.Errorf("lifecycle %s: %w", manifest, err)
	}
	if c, ok := annotations[ocispec.AnnotationCreated]; ok {
		if t, err := ParseDate(c); err == nil {
			l.Created = t
		}
	}
	return l, nil
}

// CurrentLifecycle returns the marker in force among several: the one
// created last. Ties on the creation time go to the larger manifest digest,
// so that the answer never depends on listing order. It returns nil for an
// empty list. This is how a new marker supersedes an old one without the
// old one being deleted.
func CurrentLifecycle(markers []Lifecycle) *Lifecycle {
	if len(markers) == 0 {
		return nil
	}
	best := markers[0]
	for _, m := range markers[1:] {
		if m.Created.After(best.Created) || (m.Created.Equal(best.Created) && m.Digest > best.Digest) {
			best = m
		}
	}
	return &best
}

// Lifecycles lists the lifecycle markers attached to subject in repo and
// the ones that could not be read (with their error). At most
// registry.MaxReferrers markers are examined.
func Lifecycles(ctx context.Context, repo Repository, subject ocispec.Descriptor) ([]Lifecycle, []error, error) {
	refs, err := registry.Referrers(ctx, repo, subject, artifact.TypeLifecycle)
	if err != nil {
		return nil, nil, err
	}
	var out []Lifecycle
	var bad []error
	for _, d := range refs {
		l, err := lifecycleOf(ctx, repo, d)
		if err != nil {
			bad = append(bad, err)
			continue
		}
		out = append(out, *l)
	}
	return out, bad, nil
}

// lifecycleOf reads a marker from its referrer descriptor, fetching the
// manifest when the descriptor lacks annotations (referrers tag schema
// indexes and some registries drop them).
func lifecycleOf(ctx context.Context, repo Repository, d ocispec.Descriptor) (*Lifecycle, error) {
	if _, ok := d.Annotations[artifact.AnnotationEndOfLife]; ok {
		if _, ok := d.Annotations[ocispec.AnnotationCreated]; ok {
			return ParseLifecycle(d.Digest, d.Annotations)
		}
	}
	raw, err := manifest.Fetch(ctx, repo, d, 0)
	if err != nil {
		return nil, fmt.Errorf("lifecycle %s: %w", d.Digest, err)
	}
	m, err := manifest.Parse(d.MediaType, raw)
	if err != nil {
		return nil, fmt.Errorf("lifecycle %s: %w", d.Digest, err)
	}
	return ParseLifecycle(d.Digest, m.Annotations)
}

// LifecycleRule sets the end-of-life date of the images whose repository and
// tag match its patterns.
type LifecycleRule struct {
	// Repository is a path.Match pattern against Subject.Repository, for
	// example "registry.corp/golden/library/*" ("*" does not cross "/").
	// Empty matches every repository.
	Repository string `json:"repository,omitempty" yaml:"repository,omitempty"`
	// Tag is a path.Match pattern against Subject.Tag, for example "1.27*".
	// Empty matches every tag, and an image imported by digest only.
	Tag string `json:"tag,omitempty" yaml:"tag,omitempty"`
	// EndOfLife is the date to write. Use ParseDate to read it from text.
	EndOfLife time.Time `json:"endOfLife" yaml:"endOfLife"`
}

func (r LifecycleRule) matches(repo, tag string) bool {
	if r.Repository != "" {
		if ok, _ := path.Match(r.Repository, repo); !ok {
			return false
		}
	}
	if r.Tag != "" {
		if ok, _ := path.Match(r.Tag, tag); !ok {
			return false
		}
	}
	return true
}

// LifecycleEnricher writes a lifecycle marker (artifact.TypeLifecycle with
// artifact.AnnotationEndOfLife in RFC 3339) for each image whose end of life
// it knows: EndOfLife if set, else the first rule in order whose patterns
// match the subject. It writes nothing when no date applies, and nothing
// when the marker in force among the ones this generator wrote before
// (CurrentLifecycle of Subject.Metadata's markers for the subject with the
// same AnnotationGeneratedBy) already has the same date; a publisher's
// marker is never taken as ours. A new marker is created at Subject.Time,
// so that it supersedes every older one.
type LifecycleEnricher struct {
	// EndOfLife, if not zero, is the date for every subject; Rules are then
	// not consulted.
	EndOfLife time.Time
	// Rules are consulted in order; the first match wins. Nil means no rules.
	Rules []LifecycleRule
	// Generator is written as artifact.AnnotationGeneratedBy. Empty means
	// "cssc".
	Generator string
}

var _ Enricher = (*LifecycleEnricher)(nil)

// Validate checks the rules: every pattern must be well-formed and every
// rule must carry a date.
func (e *LifecycleEnricher) Validate() error {
	for i, r := range e.Rules {
		if _, err := path.Match(r.Repository, ""); err != nil {
			return fmt.Errorf("lifecycle rule %d: repository pattern %q: %w", i, r.Repository, err)
		}
		if _, err := path.Match(r.Tag, ""); err != nil {
			return fmt.Errorf("lifecycle rule %d: tag pattern %q: %w", i, r.Tag, err)
		}
		if r.EndOfLife.IsZero() {
			return fmt.Errorf("lifecycle rule %d: no end-of-life date", i)
		}
	}
	return nil
}

// EndOfLifeFor returns the end-of-life date configured for repository and
// tag, and whether there is one.
func (e *LifecycleEnricher) EndOfLifeFor(repository, tag string) (time.Time, bool) {
	if !e.EndOfLife.IsZero() {
		return e.EndOfLife.UTC(), true
	}
	for _, r := range e.Rules {
		if r.matches(repository, tag) {
			return r.EndOfLife.UTC(), true
		}
	}
	return time.Time{}, false
}

// Enrich returns the lifecycle marker to attach to s.Descriptor, or none.
func (e *LifecycleEnricher) Enrich(ctx context.Context, s *Subject) ([]registry.Artifact, error) {
	if err := check(ctx, s); err != nil {
		return nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	eol, ok := e.EndOfLifeFor(s.Repository, s.Tag)
	if !ok {
		return nil, nil
	}
	gen := generator(e.Generator)
	var own []Lifecycle
	for _, l := range s.Metadata.Lifecycles(s.Descriptor.Digest) {
		if l.GeneratedBy == gen {
			own = append(own, l)
		}
	}
	if cur := CurrentLifecycle(own); cur != nil && cur.EndOfLife.Equal(eol.Truncate(time.Second)) {
		return nil, nil
	}
	return []registry.Artifact{LifecycleArtifact(eol, s.Time, gen)}, nil
}

// LifecycleArtifact builds a lifecycle marker for end of life eol, created
// at created (zero means the Unix epoch), with the AnnotationGeneratedBy annotation set to generatedBy
// (omitted when empty).
func LifecycleArtifact(eol, created time.Time, generatedBy string) registry.Artifact {
	created = orEpoch(created)
	ann := map[string]string{
		artifact.AnnotationEndOfLife: FormatDate(eol),
		ocispec.AnnotationCreated:    FormatDate(created),
	}
	if generatedBy != "" {
		ann[artifact.AnnotationGeneratedBy] = generatedBy
	}
	return registry.Artifact{ArtifactType: artifact.TypeLifecycle, Annotations: ann, Created: created}
}

func generator(s string) string {
	if s == "" {
		return DefaultGenerator
	}
	return s
}

// DefaultGenerator is the artifact.AnnotationGeneratedBy value of artifacts
// the default enrichers write when no generator name is configured.
const DefaultGenerator = "cssc"

// sortLifecycles orders markers oldest first (the order CurrentLifecycle
// agrees with: the last one is in force).
func sortLifecycles(ls []Lifecycle) {
	sort.SliceStable(ls, func(i, j int) bool {
		if !ls[i].Created.Equal(ls[j].Created) {
			return ls[i].Created.Before(ls[j].Created)
		}
		return ls[i].Digest < ls[j].Digest
	})
}
