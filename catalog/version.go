package catalog

import (
	"fmt"
	"strings"

	"github.com/google/osv-scalibr/semantic"
)

// VersionRange is a parsed version range: a list of constraints that must
// all hold. The zero VersionRange contains every version.
type VersionRange struct {
	constraints []constraint
}

type constraint struct {
	op      string // "=", "!=", "<", "<=", ">", ">="
	version string
}

// ParseVersionRange parses a comma-separated list of constraints, each an
// operator (=, ==, !=, <, <=, >, >=; none means =) followed by a version:
// ">= 3.0.0, < 3.0.14" or "1.2.13". Versions are compared with the rules
// of the package's ecosystem (Debian, Alpine, PyPI, Maven, npm, Go, ...;
// semantic versioning for ecosystems without rules of their own). An empty
// string contains every version. Errors wrap ErrInvalidQuery.
func ParseVersionRange(s string) (VersionRange, error) {
	var r VersionRange
	if strings.TrimSpace(s) == "" {
		return r, nil
	}
	if len(s) > 1024 {
		return r, fmt.Errorf("%w: version range longer than 1024 bytes", ErrInvalidQuery)
	}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		op := "="
		for _, o := range []string{">=", "<=", "!=", "==", ">", "<", "="} {
			if rest, ok := strings.CutPrefix(part, o); ok {
				op, part = o, strings.TrimSpace(rest)
				break
			}
		}
		if op == "==" {
			op = "="
		}
		if part == "" || strings.ContainsAny(part, " \t<>=!") {
			return VersionRange{}, fmt.Errorf("%w: version range %q: bad constraint", ErrInvalidQuery, s)
		}
		r.constraints = append(r.constraints, constraint{op: op, version: part})
	}
	return r, nil
}

// Contains reports whether version, in ecosystem ("Debian:12", "npm", ""),
// satisfies every constraint. A version that cannot be compared is not
// contained (a reverse query never guesses).
func (r VersionRange) Contains(ecosystem, version string) bool {
	if len(r.constraints) == 0 {
		return true
	}
	v, ok := parseVersion(ecosystem, version)
	if !ok {
		return false
	}
	for _, c := range r.constraints {
		n, err := v.CompareStr(c.version)
		if err != nil {
			return false
		}
		var holds bool
		switch c.op {
		case "=":
			holds = n == 0
		case "!=":
			holds = n != 0
		case "<":
			holds = n < 0
		case "<=":
			holds = n <= 0
		case ">":
			holds = n > 0
		case ">=":
			holds = n >= 0
		}
		if !holds {
			return false
		}
	}
	return true
}

// ecosystemBase returns the ecosystem without its release ("Debian:12" ->
// "Debian").
func ecosystemBase(eco string) string {
	base, _, _ := strings.Cut(eco, ":")
	return base
}

func parseVersion(ecosystem, version string) (semantic.Version, bool) {
	if version == "" {
		return nil, false
	}
	base := ecosystemBase(ecosystem)
	if base == "" {
		base = "Go" // semantic versioning
	}
	v, err := semantic.Parse(version, base)
	if err != nil {
		v, err = semantic.Parse(version, "Go")
		if err != nil {
			return nil, false
		}
	}
	return v, true
}
