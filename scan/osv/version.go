package osv

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/osv-scalibr/semantic"
)

// errVersion is wrapped by errors about versions that the ecosystem's
// version rules cannot read.
var errVersion = errors.New("unparseable version")

// ecosystemBase returns the ecosystem without its release suffix:
// "Debian" for "Debian:12", "Alpine" for "Alpine:v3.20".
func ecosystemBase(eco string) string {
	if i := strings.IndexByte(eco, ':'); i >= 0 {
		return eco[:i]
	}
	return eco
}

// supportedEcosystem reports whether osv-scalibr's semantic package has
// version rules for the base ecosystem.
func supportedEcosystem(base string) bool {
	if base == "" {
		return false
	}
	_, err := semantic.Parse("1", base)
	return !errors.Is(err, semantic.ErrUnsupportedEcosystem)
}

// normalizeName returns the form of a package name used as an index key:
// PyPI names are normalised as in PEP 503 (lower case, runs of "-", "_"
// and "." become "-"); other ecosystems compare names exactly.
func normalizeName(base, name string) string {
	if base != "PyPI" {
		return name
	}
	var b strings.Builder
	b.Grow(len(name))
	sep := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '-' || c == '_' || c == '.' {
			sep = true
			continue
		}
		if sep && b.Len() > 0 {
			b.WriteByte('-')
		}
		sep = false
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// canonicalVersion rewrites an installed or advisory version into the
// spelling the ecosystem's OSV records use: Go module versions lose their
// "v" prefix and Go toolchain versions ("go1.22.1", "go1.23rc2") become
// semantic versions ("1.22.1", "1.23.0-rc.2").
func canonicalVersion(base, name, v string) string {
	v = strings.TrimSpace(v)
	if base != "Go" {
		return v
	}
	if name == "stdlib" || name == "toolchain" {
		if s, ok := goTagToSemver(v); ok {
			return s
		}
	}
	return strings.TrimPrefix(v, "v")
}

// goTagToSemver converts a Go release tag ("go1.22.1", "go1.21", "go1.23rc2",
// "go1.19beta1") or a plain "1.22.1" to a semantic version without "v".
func goTagToSemver(tag string) (string, bool) {
	t := strings.TrimPrefix(tag, "go")
	t = strings.TrimPrefix(t, "v")
	if t == "" || t[0] < '0' || t[0] > '9' {
		return "", false
	}
	// Drop anything after a space ("go1.22.1 X:boringcrypto").
	if i := strings.IndexAny(t, " +"); i >= 0 {
		t = t[:i]
	}
	pre := ""
	for _, p := range [...]string{"rc", "beta", "alpha"} {
		if i := strings.Index(t, p); i > 0 {
			pre = "-" + p + "." + t[i+len(p):]
			t = t[:i]
			break
		}
	}
	if i := strings.IndexByte(t, '-'); i > 0 && pre == "" {
		pre, t = t[i:], t[:i]
	}
	parts := strings.Split(t, ".")
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" {
			return "", false
		}
	}
	switch len(parts) {
	case 1:
		t += ".0.0"
	case 2:
		t += ".0"
	}
	if pre == "-rc." || pre == "-beta." || pre == "-alpha." {
		pre += "0"
	}
	return t + pre, true
}

// parseVersion parses v with the version rules of the ecosystem (or plain
// semantic versioning when semver is set, for SEMVER ranges). It turns any
// panic in the third-party parser into an error: versions come from
// untrusted SBOMs and advisories.
func parseVersion(base, v string, semver bool) (ver semantic.Version, err error) {
	defer func() {
		if r := recover(); r != nil {
			ver, err = nil, fmt.Errorf("%w %q: %v", errVersion, truncate(v, 64), r)
		}
	}()
	if v == "" {
		return nil, fmt.Errorf("%w: empty", errVersion)
	}
	if semver {
		return semantic.ParseSemverVersion(v), nil
	}
	ver, err = semantic.Parse(v, base)
	if err != nil {
		return nil, fmt.Errorf("%w %q (%s): %v", errVersion, truncate(v, 64), base, err)
	}
	return ver, nil
}

// compare compares two versions of the same kind, turning errors and
// panics into an error.
func compare(a, b semantic.Version) (c int, err error) {
	defer func() {
		if r := recover(); r != nil {
			c, err = 0, fmt.Errorf("%w: compare: %v", errVersion, r)
		}
	}()
	return a.Compare(b)
}

// Kinds of range event.
const (
	evIntroduced = iota
	evFixed
	evLastAffected
	evLimit
)

// rawEvent is a range event as read from the record.
type rawEvent struct {
	kind uint8
	v    string
}

// rawRange is an affected range as read from the record: a SEMVER or
// ECOSYSTEM range (GIT ranges cannot be evaluated offline and are dropped
// at load time).
type rawRange struct {
	semver bool
	events []rawEvent
}

// event is a range event with its version parsed.
type event struct {
	kind uint8
	zero bool // introduced "0": before every version
	raw  string
	v    semantic.Version
}

// compiledRange is a range whose events are parsed and sorted by version.
type compiledRange struct {
	semver bool
	events []event // introduced, fixed and last_affected, sorted
	limits []event
}

// versionCache shares parsed versions between the records of a database:
// the same fixed version often closes many advisories of one package.
// semantic.Version values are immutable, so sharing them is safe. A nil
// *versionCache parses every time.
type versionCache struct {
	mu sync.Mutex
	m  map[versionKey]semantic.Version
}

type versionKey struct {
	base   string // "" for SEMVER
	semver bool
	v      string
}

// parse is parseVersion through the cache.
func (c *versionCache) parse(base, v string, semver bool) (semantic.Version, error) {
	if c == nil {
		return parseVersion(base, v, semver)
	}
	k := versionKey{base: base, semver: semver, v: v}
	if semver {
		k.base = ""
	}
	c.mu.Lock()
	ver, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return ver, nil
	}
	ver, err := parseVersion(base, v, semver)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[versionKey]semantic.Version)
	}
	c.m[k] = ver
	c.mu.Unlock()
	return ver, nil
}

// compileRange parses and sorts the events of r, parsing through cache
// (which may be nil).
func compileRange(base string, r rawRange, cache *versionCache) (compiledRange, error) {
	out := compiledRange{semver: r.semver}
	for _, e := range r.events {
		ev := event{kind: e.kind, raw: e.v}
		if e.kind == evIntroduced && e.v == "0" {
			ev.zero = true
		} else {
			v, err := cache.parse(base, e.v, r.semver)
			if err != nil {
				return compiledRange{}, err
			}
			ev.v = v
		}
		if e.kind == evLimit {
			if e.v != "*" { // "*" is no limit
				out.limits = append(out.limits, ev)
			}
			continue
		}
		out.events = append(out.events, ev)
	}
	var sortErr error
	slices.SortStableFunc(out.events, func(a, b event) int {
		switch {
		case a.zero && b.zero:
			return 0
		case a.zero:
			return -1
		case b.zero:
			return 1
		}
		c, err := compare(a.v, b.v)
		if err != nil && sortErr == nil {
			sortErr = err
		}
		// At the same version, apply introduced before fixed so that
		// "introduced X, fixed X" (an empty range) ends not affected.
		return cmp.Or(c, cmp.Compare(a.kind, b.kind))
	})
	if sortErr != nil {
		return compiledRange{}, sortErr
	}
	return out, nil
}

// affects evaluates the range for version v as the OSV schema describes
// (https://ossf.github.io/osv-schema/#evaluation): walking the events in
// version order, "introduced" at or below v opens the range, "fixed" at or
// below v closes it, "last_affected" below v closes it; "limit" events, if
// any, bound the range from above. It returns whether v is affected and
// the fixed version that ends the affected interval containing v ("" if
// that interval ends with last_affected or not at all).
func (r *compiledRange) affects(v semantic.Version) (affected bool, fixed string, err error) {
	for _, e := range r.events {
		if e.zero {
			affected = true
			continue
		}
		c, err := compare(v, e.v) // c = sign(v - e)
		if err != nil {
			return false, "", err
		}
		if c < 0 {
			// The first event above v decides the fix of the interval that
			// holds v; later events do not change whether v is affected.
			if affected && e.kind == evFixed {
				fixed = e.raw
			}
			break
		}
		switch e.kind {
		case evIntroduced:
			affected = true
		case evFixed:
			affected = false
		case evLastAffected:
			if c > 0 {
				affected = false
			}
		}
	}
	if affected && len(r.limits) > 0 {
		below := false
		for _, l := range r.limits {
			c, err := compare(v, l.v)
			if err != nil {
				return false, "", err
			}
			if c < 0 {
				below = true
				break
			}
		}
		affected = below
	}
	if !affected {
		fixed = ""
	}
	return affected, fixed, nil
}

// nextFixed returns the smallest fixed version in r above v, "" if none.
func (r *compiledRange) nextFixed(v semantic.Version) string {
	for _, e := range r.events {
		if e.kind != evFixed || e.zero {
			continue
		}
		if c, err := compare(v, e.v); err == nil && c < 0 {
			return e.raw
		}
	}
	return ""
}
