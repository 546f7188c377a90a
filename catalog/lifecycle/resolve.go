package lifecycle

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/catalog"
)

// Facts is what the lifecycle of one catalog entry is decided from. The
// Runner gathers them from the store and the golden registry; tests and
// tools can build them directly.
type Facts struct {
	// Entry is the catalog entry. Required.
	Entry *catalog.Entry
	// Tags are the tags the image carries or carried (Entry.Tags and the
	// store's tag history of its digest): rules and overrides match them.
	Tags []string
	// Marker is the newest enterprise-signed lifecycle marker of the image
	// that records only a date (written by the acquire pipeline or by
	// hand): a source of the image's end of life. Nil if none.
	Marker *attest.Lifecycle
	// State is the newest enterprise-signed lifecycle marker that records
	// a state (the last one a Runner wrote): the state on the registry.
	// Nil if none.
	State *attest.Lifecycle
	// Ignored are the markers that were not used: untrusted or malformed.
	Ignored []*MarkerError
	// Superseded, if set, says that a newer image replaced this one (see
	// Runner.Supersede): a source of the end of life and of the
	// replacement. Nil means the supersession State records, if any.
	Superseded *Supersession
	// Err, if set, is why the facts could not be gathered (a registry
	// failure): the entry gets a KindError change and is left alone.
	Err error
}

// Resolution is the effective end of life of an image and how it was
// found.
type Resolution struct {
	// EndOfLife is the effective end of life, UTC; zero when no source
	// gives one.
	EndOfLife time.Time `json:"endOfLife,omitzero"`
	// Role, Source and Detail describe the source of EndOfLife.
	Role   Role   `json:"role,omitempty"`
	Source string `json:"source,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Support is the end of active support of the data-file cycle that
	// gives EndOfLife, zero if unknown.
	Support time.Time `json:"support,omitzero"`
	// Override is true when EndOfLife comes from a manual Override.
	Override bool `json:"override,omitempty"`
	// Replacement names the image that replaces this one ("" if none
	// known): an override's, else the matching rule's.
	Replacement string `json:"replacement,omitempty"`
	// Reason explains the date in one line, with every choice made
	// between sources.
	Reason string `json:"reason,omitempty"`
	// Sources are every date considered.
	Sources []catalog.EndOfLifeSource `json:"sources,omitempty"`
	// Notes are the choices made and the inputs set aside, one line each.
	Notes []string `json:"notes,omitempty"`
}

// candidate is one date from one source.
type candidate struct {
	role    Role
	source  string
	date    time.Time // zero: ended without a date, or not ended
	ended   bool      // with a zero date: the source says ended
	support time.Time
	detail  string
	rank    int // within RoleImage: override 0, marker 1, rule 2, data 3
}

func (c candidate) String() string {
	d := "no date"
	if !c.date.IsZero() {
		d = attest.FormatDate(c.date)
	} else if c.ended {
		d = "ended, no date"
	}
	return fmt.Sprintf("%s %s (%s %s)", roleName(c.role), d, c.source, c.detail)
}

func roleName(r Role) string {
	switch r {
	case RoleBaseOS:
		return "base OS"
	case RoleRuntime:
		return "runtime"
	}
	return "image"
}

// Resolve finds the effective end of life of f.Entry: the earliest of the
// image's own date, its base OS's and its main runtime's, unless an
// override decides. Within the image's own sources, a disagreement is
// settled by precedence (signed marker, rule, data file) and recorded, or
// is a *ConflictError with ConflictFail. When no source gives a date any
// more but f.State recorded one, the recorded date stays (recorded as a
// note): an image is never silently made supported again.
func (p *Policy) Resolve(f Facts) (*Resolution, error) {
	e := f.Entry
	if e == nil {
		return nil, fmt.Errorf("%w: no entry", ErrInvalidConfig)
	}
	tags := sortedUnique(append(slices.Clone(f.Tags), e.Tags...))
	res := &Resolution{}
	var image, baseOS, runtime []candidate
	var override *Override

	for i := range p.cfg.Overrides {
		o := &p.cfg.Overrides[i]
		if match(o.Repository, e.Repository) && (o.Digest == "" || o.Digest == e.Digest) && matchAny(o.Tag, tags) {
			override = o
			break
		}
	}
	if override != nil && !override.EndOfLife.IsZero() {
		image = append(image, candidate{role: RoleImage, source: SourceOverride, date: override.EndOfLife.UTC(),
			detail: strings.TrimSpace(override.Author + ": " + override.Reason), rank: 0})
	}
	if f.Marker != nil {
		image = append(image, candidate{role: RoleImage, source: SourceMarker, date: f.Marker.EndOfLife.UTC(), detail: f.Marker.Digest.String(), rank: 1})
	}
	var rule *Rule
	for i := range p.cfg.Rules {
		r := &p.cfg.Rules[i]
		if match(r.Repository, e.Repository) && matchAny(r.Tag, tags) {
			rule = r
			name := cmp.Or(r.Name, fmt.Sprintf("rule %d", i))
			image = append(image, candidate{role: RoleImage, source: SourceRule, date: r.EndOfLife.UTC(), detail: name, rank: 2})
			break
		}
	}
	rel := p.cfg.Releases
	runtimeFound := false
	for _, m := range p.mappings {
		switch m.Role() {
		case RoleImage:
			if !match(m.Repository, e.Repository) {
				continue
			}
			var versions []string
			if m.Cycle != "" {
				versions = []string{m.Cycle}
			} else {
				versions = tags
			}
			image = append(image, cycleCandidates(rel, m.Product, versions, RoleImage, 3)...)
		case RoleBaseOS:
			baseOS = append(baseOS, cycleCandidates(rel, m.Product, distributionReleases(e, m), RoleBaseOS, 0)...)
		case RoleRuntime:
			if runtimeFound {
				continue // the first runtime mapping that matches is the main runtime
			}
			versions := runtimeVersions(e, m)
			if len(versions) == 0 {
				continue
			}
			runtimeFound = true
			if m.Cycle != "" {
				versions = []string{m.Cycle}
			}
			c := cycleCandidates(rel, m.Product, versions, RoleRuntime, 0)
			if len(c) == 0 {
				res.Notes = append(res.Notes, fmt.Sprintf("runtime %s %s is in no cycle of the data file", m.Product, strings.Join(versions, ", ")))
			}
			runtime = append(runtime, c...)
		}
	}
	var superseded []candidate
	if sup := f.supersession(); sup != nil && !sup.EndOfLife.IsZero() {
		superseded = append(superseded, candidate{role: RoleImage, source: SourceSuperseded, date: sup.EndOfLife.UTC(), detail: sup.Replacement})
	}
	for _, c := range slices.Concat(image, baseOS, runtime, superseded) {
		res.Sources = append(res.Sources, catalog.EndOfLifeSource{Role: string(c.role), Source: c.source, Date: c.date, Detail: c.detail})
		if c.date.IsZero() && c.ended {
			res.Notes = append(res.Notes, fmt.Sprintf("%s says ended but gives no date: not used (set an override)", c))
		}
	}

	// The image's own date: the source that ranks first.
	var winners []candidate
	if w, note, err := p.imageDate(e, image); err != nil {
		return nil, err
	} else if w != nil {
		winners = append(winners, *w)
		if note != "" {
			res.Notes = append(res.Notes, note)
		}
	}
	for _, cs := range [][]candidate{baseOS, runtime, superseded} {
		if w := earliest(cs); w != nil {
			winners = append(winners, *w)
		}
	}
	if override != nil {
		res.Replacement = override.Replacement
	}
	if res.Replacement == "" && len(superseded) > 0 {
		res.Replacement = superseded[0].detail
	}
	if res.Replacement == "" && rule != nil {
		res.Replacement = rule.Replacement
	}

	if override != nil && !override.EndOfLife.IsZero() {
		w := winners[0] // the override ranks first among the image's
		res.set(w)
		res.Override = true
		var others []string
		for _, o := range winners[1:] {
			others = append(others, o.String())
		}
		res.Reason = fmt.Sprintf("end of life %s set by override (%s)", attest.FormatDate(w.date), w.detail)
		if len(others) > 0 {
			res.Reason += "; it supersedes " + strings.Join(others, ", ")
		}
		return res.finish(), nil
	}
	w := earliest(winners)
	if w == nil {
		if f.State != nil && !f.State.EndOfLife.IsZero() && f.State.State != nil {
			res.EndOfLife = f.State.EndOfLife.UTC()
			res.Source = cmp.Or(f.State.State.Source, SourceMarker)
			res.Role = RoleImage
			res.Detail = "recorded by marker " + f.State.Digest.String()
			res.Notes = append(res.Notes, "no source names a date any more: the recorded end of life stays until an override changes it")
			for _, s := range f.State.State.Sources {
				if s.Source == res.Source && !s.Date.IsZero() && s.Date.Equal(res.EndOfLife) {
					res.Role = Role(s.Role)
					break
				}
			}
			res.Reason = fmt.Sprintf("end of life %s as recorded (%s)", attest.FormatDate(res.EndOfLife), res.Source)
			return res.finish(), nil
		}
		res.Reason = "no source gives an end-of-life date"
		return res.finish(), nil
	}
	res.set(*w)
	res.Reason = fmt.Sprintf("end of life %s from the %s (%s %s)", attest.FormatDate(w.date), roleName(w.role), w.source, w.detail)
	var later []string
	for _, o := range winners {
		if o != *w {
			later = append(later, o.String())
		}
	}
	if len(later) > 0 {
		res.Reason += ", the earliest of the image's, base OS's and runtime's dates; later: " + strings.Join(later, ", ")
	}
	return res.finish(), nil
}

func (r *Resolution) set(c candidate) {
	r.EndOfLife, r.Role, r.Source, r.Detail, r.Support = c.date.UTC().Truncate(time.Second), c.role, c.source, c.detail, c.support
}

// finish appends the notes to the reason, caps it, and sorts the sources.
func (r *Resolution) finish() *Resolution {
	if len(r.Notes) > 0 {
		r.Reason += "; " + strings.Join(r.Notes, "; ")
	}
	if len(r.Reason) > attest.MaxLifecycleText {
		cut := attest.MaxLifecycleText - 3
		for cut > 0 && !isRuneStart(r.Reason[cut]) {
			cut--
		}
		r.Reason = r.Reason[:cut] + "..."
	}
	for i := range r.Sources {
		r.Sources[i].Date = r.Sources[i].Date.UTC().Truncate(time.Second)
	}
	slices.SortFunc(r.Sources, func(a, b catalog.EndOfLifeSource) int {
		return cmp.Or(strings.Compare(a.Role, b.Role), strings.Compare(a.Source, b.Source), a.Date.Compare(b.Date), strings.Compare(a.Detail, b.Detail))
	})
	r.Sources = slices.Compact(r.Sources)
	if len(r.Sources) > attest.MaxLifecycleSources {
		r.Sources = r.Sources[:attest.MaxLifecycleSources]
	}
	return r
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// imageDate picks the image's own date among its sources: the one of the
// best rank (override, marker, rule, data file); data-file cycles of
// several tags give their earliest. With ConflictFail, differing dates
// (without an override) are a *ConflictError.
func (p *Policy) imageDate(e *catalog.Entry, cs []candidate) (*candidate, string, error) {
	var dated []candidate
	for _, c := range cs {
		if !c.date.IsZero() {
			dated = append(dated, c)
		}
	}
	if len(dated) == 0 {
		return nil, "", nil
	}
	slices.SortStableFunc(dated, func(a, b candidate) int { return cmp.Or(cmp.Compare(a.rank, b.rank), a.date.Compare(b.date)) })
	best := dated[0]
	var aside []string
	for _, c := range dated[1:] {
		if !c.date.Equal(best.date) {
			aside = append(aside, c.String())
		}
	}
	if len(aside) == 0 {
		return &best, "", nil
	}
	if p.cfg.Conflicts == ConflictFail && best.source != SourceOverride {
		ce := &ConflictError{Repository: e.Repository, Digest: e.Digest}
		for _, c := range dated {
			ce.Dates = append(ce.Dates, c.source+" "+attest.FormatDate(c.date))
		}
		return nil, "", ce
	}
	return &best, fmt.Sprintf("sources of the image's own date disagree: %s %s %s preferred over %s (precedence: override, signed marker, rule, data file)",
		best.source, best.detail, attest.FormatDate(best.date), strings.Join(aside, ", ")), nil
}

// earliest returns the dated candidate with the earliest date (ties: the
// first), or nil.
func earliest(cs []candidate) *candidate {
	var best *candidate
	for i := range cs {
		if cs[i].date.IsZero() {
			continue
		}
		if best == nil || cs[i].date.Before(best.date) {
			best = &cs[i]
		}
	}
	return best
}

// cycleCandidates returns one candidate per distinct cycle of product the
// versions belong to.
func cycleCandidates(rel *Releases, product string, versions []string, role Role, rank int) []candidate {
	if rel == nil {
		return nil
	}
	var out []candidate
	seen := map[string]bool{}
	for _, v := range versions {
		c := rel.CycleOf(product, v)
		if c == nil || seen[c.Cycle] {
			continue
		}
		seen[c.Cycle] = true
		cand := candidate{role: role, source: SourceData, detail: product + " " + c.Cycle, rank: rank, support: c.Support.Date}
		switch {
		case !c.EOL.Date.IsZero():
			cand.date = c.EOL.Date
		case c.EOL.True:
			cand.ended = true
		default:
			cand.detail += ": no end of life announced"
		}
		out = append(out, cand)
	}
	return out
}

// distributionReleases returns the releases of the mapping's distribution
// that the entry's packages name in their ecosystems ("Debian:12" gives
// "12", "Alpine:v3.20" gives "3.20"), or the mapping's cycle when it has
// one and the distribution is present.
func distributionReleases(e *catalog.Entry, m compiledMapping) []string {
	var out []string
	for _, ch := range e.Children {
		for _, p := range ch.Packages {
			name, rest, ok := strings.Cut(p.Ecosystem, ":")
			if !ok || !strings.EqualFold(name, m.Distribution) {
				continue
			}
			release, _, _ := strings.Cut(rest, ":")
			if m.Cycle != "" {
				release = m.Cycle
			}
			out = append(out, release)
		}
	}
	return sortedUnique(out)
}

// runtimeVersions returns the versions of the entry's packages that are
// the mapping's package.
func runtimeVersions(e *catalog.Entry, m compiledMapping) []string {
	var out []string
	for _, ch := range e.Children {
		for _, p := range ch.Packages {
			if v, ok := samePackage(m.purl, p.PURL); ok && v != "" {
				out = append(out, v)
			}
		}
	}
	return sortedUnique(out)
}

func sortedUnique(s []string) []string {
	slices.Sort(s)
	s = slices.Compact(s)
	if len(s) > 0 && s[0] == "" {
		s = s[1:]
	}
	return s
}
