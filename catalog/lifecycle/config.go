package lifecycle

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"
	"github.com/package-url/packageurl-go"

	"github.com/cssc-go/cssc/catalog"
)

// Role says what an end-of-life date is about.
type Role string

// Roles of an end-of-life date. The effective end of life of an image is
// the earliest of its roles' dates.
const (
	// RoleImage: the image itself (its marker, a rule, its product in the
	// data file, an override).
	RoleImage Role = "image"
	// RoleBaseOS: the distribution its OS packages come from (the SBOM's
	// ecosystems, "Debian:12").
	RoleBaseOS Role = "base-os"
	// RoleRuntime: its main runtime (a package of the SBOM, such as Go's
	// stdlib).
	RoleRuntime Role = "runtime"
)

// Sources of an end-of-life date (catalog.EndOfLife.Source and
// catalog.EndOfLifeSource.Source).
const (
	// SourceMarker: a lifecycle marker on the golden image signed with the
	// enterprise key.
	SourceMarker = catalog.SourceMarker
	// SourceRule: a Rule of the configuration.
	SourceRule = "rule"
	// SourceData: the product-release data file.
	SourceData = "data-file"
	// SourceOverride: a manual Override.
	SourceOverride = "override"
	// SourceSuperseded: a newer image replaced this one (Runner.Supersede);
	// the source's detail is the replacement reference.
	SourceSuperseded = "superseded"
)

// ConflictMode says what to do when the sources of an image's own end of
// life (marker, rule, data file) give different dates.
type ConflictMode string

// Conflict modes.
const (
	// ConflictPrecedence (the zero value) takes the date of the source
	// that ranks first (a signed marker, then a rule, then the data file)
	// and records the choice and the dates it set aside in the reason.
	ConflictPrecedence ConflictMode = ""
	// ConflictFail refuses to decide: the entry gets a *ConflictError and
	// is left as it is until the sources agree or an override decides.
	ConflictFail ConflictMode = "fail"
)

// Action is what retirement does to the golden image.
type Action string

// Retirement actions.
const (
	// ActionMark (the zero value) only marks the image: status, event,
	// signed marker. Tags and digest stay.
	ActionMark Action = ""
	// ActionUntag also removes the image's golden tags; the digest stays
	// for consumers who pinned it (until Retirement.GracePeriod, if set).
	ActionUntag Action = "untag"
	// ActionArchive copies the image with every referrer (signatures,
	// SBOMs, reports, markers) to the archive repository, tags it there
	// with its golden tags, then removes the golden tags.
	ActionArchive Action = "archive"
)

// Retirement configures what happens to an image that is retired.
type Retirement struct {
	// Action is the retirement action. The zero value is ActionMark.
	Action Action `json:"action,omitempty"`
	// ArchiveFrom and ArchiveTo are location prefixes: an image of
	// repository ArchiveFrom + "/x" is archived to ArchiveTo + "/x".
	// Required with ActionArchive; an image outside ArchiveFrom is then
	// not archived (its retirement fails and is retried).
	ArchiveFrom string `json:"archiveFrom,omitempty"`
	ArchiveTo   string `json:"archiveTo,omitempty"`
	// GracePeriod is how long after its retirement an untagged image's
	// digest is deleted from the golden repository (ActionUntag,
	// ActionArchive), unless it is protected (see Policy.Protected). Zero
	// means never: the digest stays.
	GracePeriod Duration `json:"gracePeriod,omitzero"`
}

// Rule sets the end of life of the images whose repository and tags match
// its patterns.
type Rule struct {
	// Name names the rule in records. Empty means "rule <index>".
	Name string `json:"name,omitempty"`
	// Repository is a path.Match pattern against Entry.Repository ("*"
	// does not cross "/"). Empty matches every repository.
	Repository string `json:"repository,omitempty"`
	// Tag is a path.Match pattern against the tags the image carries or
	// carried (tag history), so that a rule still applies once retirement
	// removed the tags. Empty matches every image.
	Tag string `json:"tag,omitempty"`
	// EndOfLife is the date. Required.
	EndOfLife Date `json:"endOfLife"`
	// Replacement, if set, names the image that replaces the matching
	// ones ("registry.corp/golden/library/nginx:1.28").
	Replacement string `json:"replacement,omitempty"`
}

// Override is a manual decision about some images. A date in an override
// is the effective end of life, whatever the other sources say (it can
// also reinstate a retired image, which nothing else does).
type Override struct {
	// Repository is a path.Match pattern against Entry.Repository.
	// Required.
	Repository string `json:"repository"`
	// Digest, if set, limits the override to that image.
	Digest digest.Digest `json:"digest,omitempty"`
	// Tag, if set, is a path.Match pattern against the image's current
	// and past tags.
	Tag string `json:"tag,omitempty"`
	// EndOfLife, if set, is the effective end of life. Zero leaves the
	// date to the other sources (an override may set only Replacement).
	EndOfLife Date `json:"endOfLife,omitzero"`
	// Replacement, if set, names the image that replaces the matching
	// ones.
	Replacement string `json:"replacement,omitempty"`
	// Reason says why, for the record. Required.
	Reason string `json:"reason"`
	// Author says who decided.
	Author string `json:"author,omitempty"`
}

// Config is the lifecycle configuration. Compile checks it.
type Config struct {
	// Rules set the image's own end of life by repository and tag; the
	// first match wins.
	Rules []Rule `json:"rules,omitempty"`
	// Overrides are manual decisions; the first match wins.
	Overrides []Override `json:"overrides,omitempty"`
	// Releases is the product-release data (ReadReleases). Nil means
	// none.
	Releases *Releases `json:"-"`
	// Window is how long before its end of life an image is deprecated.
	// Zero means DefaultWindow (90 days).
	Window Duration `json:"window,omitzero"`
	// Notice is how long an image stays deprecated at least before it is
	// retired, even when its end of life is already past (a date that
	// moved earlier, an image first seen after its end of life): nobody
	// loses an image without an announcement that lasted this long. Zero
	// means no minimum (the deprecation event and marker still come
	// first whenever a run sees the image before its end of life).
	Notice Duration `json:"notice,omitzero"`
	// DeprecateAtEndOfSupport also deprecates an image once the end of
	// active support of the data-file cycle that gives its end of life
	// has passed, if that is before the window.
	DeprecateAtEndOfSupport bool `json:"deprecateAtEndOfSupport,omitempty"`
	// Conflicts says what disagreeing sources of an image's own date do.
	// The zero value is ConflictPrecedence.
	Conflicts ConflictMode `json:"conflicts,omitempty"`
	// Retirement configures the retirement actions. The zero value only
	// marks.
	Retirement Retirement `json:"retirement,omitzero"`
	// Superseded is how long an image stays supported once a newer
	// acquisition of its source tag replaced it in golden (Runner.Supersede,
	// which catalog/upstream calls when a publisher's rebuild is promoted):
	// its end of life becomes that long after the replacement, unless
	// another source gives an earlier one. Zero means Window: the image is
	// deprecated at once and retired when the window ends.
	Superseded Duration `json:"superseded,omitzero"`
}

// DefaultWindow is the deprecation window of a Config whose Window is
// zero: 90 days.
const DefaultWindow = 90 * 24 * time.Hour

// ParseConfig reads a Config from JSON, strictly: unknown fields and
// impossible dates are errors wrapping ErrInvalidConfig. The result is not
// compiled yet (set Releases, then Compile).
func ParseConfig(b []byte) (*Config, error) {
	var c Config
	if err := strictDecode(b, &c); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, fieldErr(err))
	}
	return &c, nil
}

// Policy is a compiled Config: what Runner and Resolve use.
type Policy struct {
	cfg      Config
	window   time.Duration
	mappings []compiledMapping
}

type compiledMapping struct {
	Mapping
	purl packageurl.PackageURL
}

// Compile checks cfg (patterns, dates, required fields, modes, the data
// file's mappings) and returns the Policy. Errors wrap ErrInvalidConfig
// (or ErrInvalidData for the data file).
func Compile(cfg Config) (*Policy, error) {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, a...)...))
	}
	pattern := func(what, p string) {
		if _, err := path.Match(p, ""); err != nil {
			bad("%s pattern %q: %v", what, p, err)
		}
	}
	text := func(what, s string) {
		if len(s) > maxName*4 || !utf8.ValidString(s) {
			bad("%s too long or not UTF-8", what)
		}
	}
	for i, r := range cfg.Rules {
		at := fmt.Sprintf("rule %d", i)
		pattern(at+" repository", r.Repository)
		pattern(at+" tag", r.Tag)
		if r.EndOfLife.IsZero() {
			bad("%s has no end-of-life date", at)
		}
		text(at+" name", r.Name)
		text(at+" replacement", r.Replacement)
	}
	for i, o := range cfg.Overrides {
		at := fmt.Sprintf("override %d", i)
		if o.Repository == "" {
			bad("%s has no repository", at)
		}
		pattern(at+" repository", o.Repository)
		pattern(at+" tag", o.Tag)
		if o.Digest != "" {
			if err := o.Digest.Validate(); err != nil {
				bad("%s digest: %v", at, err)
			}
		}
		if strings.TrimSpace(o.Reason) == "" {
			bad("%s has no reason", at)
		}
		if o.EndOfLife.IsZero() && o.Replacement == "" {
			bad("%s sets neither an end-of-life date nor a replacement", at)
		}
		text(at+" reason", o.Reason)
		text(at+" author", o.Author)
		text(at+" replacement", o.Replacement)
	}
	switch cfg.Conflicts {
	case ConflictPrecedence, ConflictFail:
	default:
		bad("conflicts %q", cfg.Conflicts)
	}
	switch cfg.Retirement.Action {
	case ActionMark, ActionUntag:
	case ActionArchive:
		if cfg.Retirement.ArchiveFrom == "" || cfg.Retirement.ArchiveTo == "" {
			bad("archive needs archiveFrom and archiveTo")
		}
		if cfg.Retirement.ArchiveFrom == cfg.Retirement.ArchiveTo {
			bad("archiveTo is archiveFrom")
		}
	default:
		bad("retirement action %q", cfg.Retirement.Action)
	}
	if cfg.Retirement.GracePeriod.Duration > 0 && cfg.Retirement.Action == ActionMark {
		bad("a grace period deletes untagged images: it needs the untag or archive action")
	}
	p := &Policy{cfg: cfg, window: cfg.Window.Duration}
	if p.window == 0 {
		p.window = DefaultWindow
	}
	if cfg.Releases != nil {
		if err := cfg.Releases.Validate(); err != nil {
			errs = append(errs, err)
		}
		for _, m := range cfg.Releases.mappings() {
			cm := compiledMapping{Mapping: m}
			if m.PURL != "" {
				cm.purl, _ = parsePURL(m.PURL) // Validate checked it
			}
			p.mappings = append(p.mappings, cm)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// Config returns the configuration the policy was compiled from.
func (p *Policy) Config() Config { return p.cfg }

// Window returns the deprecation window.
func (p *Policy) Window() time.Duration { return p.window }

// archiveLocation returns the archive repository of a golden repository.
func (p *Policy) archiveLocation(repo string) (string, error) {
	from, to := strings.TrimSuffix(p.cfg.Retirement.ArchiveFrom, "/"), strings.TrimSuffix(p.cfg.Retirement.ArchiveTo, "/")
	rest, ok := strings.CutPrefix(repo, from+"/")
	if !ok {
		return "", fmt.Errorf("%w: %s is not under the archive's source %s", ErrInvalidConfig, repo, from)
	}
	return to + "/" + rest, nil
}

func match(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	ok, _ := path.Match(pattern, s)
	return ok
}

func matchAny(pattern string, tags []string) bool {
	if pattern == "" {
		return true
	}
	for _, t := range tags {
		if match(pattern, t) {
			return true
		}
	}
	return false
}
