package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
)

// AccessPublic is the access level of an entry that no restricting rule
// covers: everybody who may use the catalog may see and pull it.
const AccessPublic = "public"

// ErrInvalidAccess is wrapped by the errors NewAccessPolicy returns for
// rules it refuses.
var ErrInvalidAccess = errors.New("catalog: invalid access rules")

// AccessRule gives the entries of the repositories matching one of its
// patterns an access level. Rules are evaluated in order and the first
// rule with a matching pattern decides; a repository no rule matches is
// AccessPublic.
type AccessRule struct {
	// Name identifies the rule; it is recorded with the level it sets
	// (Access.Rule). Required and unique.
	Name string `json:"name" yaml:"name"`
	// Repositories are patterns over the whole repository location
	// ("registry.corp/golden/licensed/oracle", "oci:/var/golden/x"),
	// segment by segment: "*" matches within one segment (as path.Match),
	// "**" matches any number of segments. "**/licensed/*" matches
	// repositories named licensed/<name> under any registry and prefix;
	// "registry.corp/golden/licensed/**" everything under one prefix. A
	// pattern whose first segment is neither a registry host (with "." or
	// ":", or "localhost"), nor an "oci:"/"mem:" location, nor a wildcard
	// could never match a location and is refused. At least one.
	Repositories []string `json:"repositories" yaml:"repositories"`
	// Level names the access level ("licensed", "internal"). AccessPublic
	// (or empty) makes the matching repositories public, which lets an
	// earlier rule carve an exception out of a later, broader one.
	Level string `json:"level" yaml:"level"`
	// Groups are the groups whose members may see and pull the entries of
	// a restricted level; everybody else (callers without groups
	// included) never sees them. Empty for a restricted level means that
	// nobody sees them. Ignored for a public level.
	Groups []string `json:"groups,omitempty" yaml:"groups"`
	// HowToAsk tells people outside the groups how to get access, in one
	// paragraph; shown to those who see the entry. Empty means none.
	HowToAsk string `json:"howToAsk,omitempty" yaml:"howToAsk"`
	// RequestURL is where to ask for access. "{ref}" in it is replaced by
	// the query-escaped reference repository@digest of the entry (for a
	// request form such as "/requests/new?ref={ref}"). Empty means none.
	RequestURL string `json:"requestURL,omitempty" yaml:"requestURL"`
}

// Access says who may see and pull an entry, as the access rules decide.
type Access struct {
	// Level is AccessPublic or the restricted level of the rule.
	Level string `json:"level"`
	// Rule names the rule that set the level; empty for a repository no
	// rule matches.
	Rule string `json:"rule,omitempty"`
	// Groups are the groups whose members may see and pull the entry;
	// empty for a public entry (everybody may).
	Groups []string `json:"groups,omitempty"`
	// HowToAsk and RequestURL say how to ask for access (RequestURL with
	// the entry's reference filled in); empty when the rule says nothing.
	HowToAsk   string `json:"howToAsk,omitempty"`
	RequestURL string `json:"requestURL,omitempty"`
}

// Restricted reports whether the access is not public.
func (a *Access) Restricted() bool { return a != nil && a.Level != AccessPublic }

// AccessPolicy is a compiled list of access rules: it tells the access of
// the entries of a repository and which repositories a caller may see. A
// nil *AccessPolicy makes every entry public. It is safe for concurrent
// use. Create one with NewAccessPolicy.
type AccessPolicy struct {
	rules []compiledRule
	key   string
	// restricting is true when some rule sets a restricted level.
	restricting bool

	mu    sync.Mutex
	cache map[string]int // repository -> rule index, -1 for none
}

type compiledRule struct {
	AccessRule
	patterns [][]string
	public   bool
}

// maxRuleCache caps the repositories whose rule an AccessPolicy
// remembers; the cache starts again when it is full.
const maxRuleCache = 100_000

// NewAccessPolicy validates and compiles rules: every rule needs a unique
// name and at least one pattern, and patterns must be well formed and able
// to match a repository location. Errors wrap ErrInvalidAccess.
func NewAccessPolicy(rules []AccessRule) (*AccessPolicy, error) {
	p := &AccessPolicy{cache: map[string]int{}}
	names := map[string]bool{}
	for i, r := range rules {
		if r.Name == "" {
			return nil, fmt.Errorf("%w: rule %d has no name", ErrInvalidAccess, i)
		}
		if names[r.Name] {
			return nil, fmt.Errorf("%w: rule name %q used twice", ErrInvalidAccess, r.Name)
		}
		names[r.Name] = true
		if len(r.Repositories) == 0 {
			return nil, fmt.Errorf("%w: rule %q has no repository pattern", ErrInvalidAccess, r.Name)
		}
		if strings.TrimSpace(r.Level) != r.Level || strings.ContainsAny(r.Level, "\x00\r\n") {
			return nil, fmt.Errorf("%w: rule %q: level %q", ErrInvalidAccess, r.Name, r.Level)
		}
		cr := compiledRule{AccessRule: r, public: r.Level == "" || r.Level == AccessPublic}
		cr.Groups = slices.Clone(r.Groups)
		cr.Repositories = slices.Clone(r.Repositories)
		if cr.public {
			cr.Level, cr.Groups = AccessPublic, nil
		}
		for _, g := range cr.Groups {
			if g == "" {
				return nil, fmt.Errorf("%w: rule %q names an empty group", ErrInvalidAccess, r.Name)
			}
		}
		if r.RequestURL != "" {
			if _, err := url.Parse(strings.ReplaceAll(r.RequestURL, "{ref}", "x")); err != nil {
				return nil, fmt.Errorf("%w: rule %q: request URL: %v", ErrInvalidAccess, r.Name, err)
			}
		}
		for _, pat := range r.Repositories {
			segs, err := compilePattern(pat)
			if err != nil {
				return nil, fmt.Errorf("%w: rule %q: %v", ErrInvalidAccess, r.Name, err)
			}
			cr.patterns = append(cr.patterns, segs)
		}
		p.restricting = p.restricting || !cr.public
		p.rules = append(p.rules, cr)
	}
	b, _ := json.Marshal(rules)
	sum := sha256.Sum256(b)
	p.key = hex.EncodeToString(sum[:12])
	return p, nil
}

// maxDoubleStars caps the "**" segments of a pattern (matching costs
// grow with their number).
const maxDoubleStars = 3

func compilePattern(pat string) ([]string, error) {
	if pat == "" || strings.ContainsAny(pat, "@\x00") {
		return nil, fmt.Errorf("pattern %q", pat)
	}
	var segs []string
	stars := 0
	for _, s := range strings.Split(pat, "/") {
		if s == "**" {
			if len(segs) > 0 && segs[len(segs)-1] == "**" {
				continue // "**/**" is "**"
			}
			if stars++; stars > maxDoubleStars {
				return nil, fmt.Errorf("pattern %q: more than %d ** segments", pat, maxDoubleStars)
			}
			segs = append(segs, s)
			continue
		}
		segs = append(segs, s)
		if strings.Contains(s, "**") {
			return nil, fmt.Errorf("pattern %q: ** must be a whole segment", pat)
		}
		if _, err := path.Match(s, ""); err != nil {
			return nil, fmt.Errorf("pattern %q: %v", pat, err)
		}
	}
	first := segs[0]
	if !strings.ContainsAny(first, ".:*?[") && first != "localhost" {
		return nil, fmt.Errorf("pattern %q names no registry host and would match nothing: write **/%s to match it under any registry", pat, pat)
	}
	return segs, nil
}

// matchSegments reports whether the segments of a location match the
// pattern segments.
func matchSegments(pat, loc []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			for i := 0; i <= len(loc); i++ {
				if matchSegments(rest, loc[i:]) {
					return true
				}
			}
			return false
		}
		if len(loc) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], loc[0]); !ok {
			return false
		}
		pat, loc = pat[1:], loc[1:]
	}
	return len(loc) == 0
}

// ruleIndex returns the index of the first rule that matches repository,
// -1 for none.
func (p *AccessPolicy) ruleIndex(repository string) int {
	if p == nil || len(p.rules) == 0 {
		return -1
	}
	p.mu.Lock()
	i, ok := p.cache[repository]
	p.mu.Unlock()
	if ok {
		return i
	}
	i = -1
	loc := strings.Split(repository, "/")
rules:
	for j := range p.rules {
		for _, pat := range p.rules[j].patterns {
			if matchSegments(pat, loc) {
				i = j
				break rules
			}
		}
	}
	p.mu.Lock()
	if len(p.cache) >= maxRuleCache {
		clear(p.cache)
	}
	p.cache[repository] = i
	p.mu.Unlock()
	return i
}

// Rules returns a copy of the rules, in order.
func (p *AccessPolicy) Rules() []AccessRule {
	if p == nil {
		return nil
	}
	out := make([]AccessRule, len(p.rules))
	for i, r := range p.rules {
		out[i] = r.AccessRule
		out[i].Groups = slices.Clone(r.Groups)
		out[i].Repositories = slices.Clone(r.Repositories)
	}
	return out
}

// Access returns the access of the entry repository@d: its level, the
// rule that set it, who may see it and how to ask.
func (p *AccessPolicy) Access(repository string, ref string) *Access {
	i := p.ruleIndex(repository)
	if i < 0 {
		return &Access{Level: AccessPublic}
	}
	r := &p.rules[i]
	a := &Access{Level: r.Level, Rule: r.Name, Groups: slices.Clone(r.Groups), HowToAsk: r.HowToAsk}
	if r.RequestURL != "" {
		a.RequestURL = strings.ReplaceAll(r.RequestURL, "{ref}", url.QueryEscape(ref))
	}
	return a
}

// Apply records the access of e on it: Entry.Access, and
// Entry.AccessLevel (the level of a restricted entry, empty for a public
// one).
func (p *AccessPolicy) Apply(e *Entry) {
	e.Access = p.Access(e.Repository, e.Repository+"@"+e.Digest.String())
	e.AccessLevel = p.restrictedLevel(e.Repository)
}

// restrictedLevel returns the level of the entries of repository when it
// is restricted, empty when they are public (Entry.AccessLevel,
// Summary.AccessLevel). It builds no Access.
func (p *AccessPolicy) restrictedLevel(repository string) string {
	if i := p.ruleIndex(repository); i >= 0 && !p.rules[i].public {
		return p.rules[i].Level
	}
	return ""
}

// For returns the visibility of a caller who is a member of groups (none:
// an outsider, who sees public entries only).
func (p *AccessPolicy) For(groups ...string) *Visibility {
	v := &Visibility{policy: p}
	if p == nil {
		return v
	}
	v.allowed = make([]bool, len(p.rules))
	var b strings.Builder
	b.WriteString(p.key)
	b.WriteByte(':')
	for i, r := range p.rules {
		v.allowed[i] = r.public || slices.ContainsFunc(r.Groups, func(g string) bool { return slices.Contains(groups, g) })
		if !v.allowed[i] {
			v.restricts = true
			b.WriteByte('0')
		} else {
			b.WriteByte('1')
		}
	}
	v.key = b.String()
	return v
}

// Visibility is what one caller may see of the catalog: the entries of the
// repositories whose access level the caller's groups allow. A nil
// *Visibility sees everything (code inside the service). Stores honour it
// through Query.Visibility; View applies it to every read of a Store.
type Visibility struct {
	policy    *AccessPolicy
	allowed   []bool // by rule
	restricts bool
	key       string
}

// Visible reports whether the caller may see the entries of repository.
func (v *Visibility) Visible(repository string) bool {
	if v == nil || !v.restricts {
		return true
	}
	i := v.policy.ruleIndex(repository)
	return i < 0 || v.allowed[i]
}

// Restricts reports whether some repositories may be hidden from the
// caller (a rule sets a level the caller's groups do not allow).
func (v *Visibility) Restricts() bool { return v != nil && v.restricts }

// Key identifies what the caller sees, for caches: two visibilities with
// the same key see the same entries. Empty for one that sees everything.
func (v *Visibility) Key() string {
	if !v.Restricts() {
		return ""
	}
	return v.key
}

// Policy returns the policy v is of; nil for a nil v.
func (v *Visibility) Policy() *AccessPolicy {
	if v == nil {
		return nil
	}
	return v.policy
}

// Allows reports whether the caller of v may use e, and if not, why and
// how to ask, in one line. Its signature is catalog/resolve's
// Options.Access hook: a resolver that reads the whole store then says
// "restricted" (with how to ask) for images the caller may not use,
// rather than "none".
func (v *Visibility) Allows(_ context.Context, e *Entry) (allowed bool, reason string) {
	if v.Visible(e.Repository) {
		return true, ""
	}
	a := v.policy.Access(e.Repository, e.Repository+"@"+e.Digest.String())
	reason = "restricted (access level " + a.Level + ")"
	if len(a.Groups) > 0 {
		reason += ": members of " + strings.Join(a.Groups, ", ") + " may use it"
	}
	if a.HowToAsk != "" {
		reason += "; " + a.HowToAsk
	}
	if a.RequestURL != "" {
		reason += " " + a.RequestURL
	}
	return false, reason
}
