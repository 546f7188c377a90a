package policy

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/cssc-go/cssc/sign/dn"
)

// maxPatternLength bounds a single pattern (a reference is at most 255
// characters for the repository plus the host; identities are longer).
const maxPatternLength = 1024

// pattern is a compiled glob: "*" matches any run of characters except
// "/", "**" matches any run including "/", everything else matches itself.
// Matching is on the whole string. Compiled to a regular expression (linear
// time, no backtracking blow-up).
type pattern struct {
	text string
	re   *regexp.Regexp
	lit  bool // no wildcard at all
}

func (p *pattern) match(s string) bool {
	if p.lit {
		return p.text == s
	}
	return p.re.MatchString(s)
}

// compileGlob compiles a glob pattern. When segments is true, "**" must be
// a whole path segment, and "/**/" also matches a single "/" (zero
// segments).
func compileGlob(text string, segments bool) (*pattern, error) {
	if text == "" {
		return nil, errors.New("empty pattern")
	}
	if len(text) > maxPatternLength {
		return nil, fmt.Errorf("pattern longer than %d characters", maxPatternLength)
	}
	if strings.Contains(text, "***") {
		return nil, fmt.Errorf("pattern %q: *** is not a wildcard (use * or **)", text)
	}
	for _, r := range text {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return nil, fmt.Errorf("pattern %q: control or invalid character", text)
		}
	}
	if !strings.Contains(text, "*") {
		return &pattern{text: text, lit: true}, nil
	}
	var b strings.Builder
	b.WriteString(`\A`)
	for i := 0; i < len(text); {
		if strings.HasPrefix(text[i:], "**") {
			if segments {
				startOK := i == 0 || text[i-1] == '/'
				endOK := i+2 == len(text) || text[i+2] == '/'
				if !startOK || !endOK {
					return nil, fmt.Errorf("pattern %q: ** must be a whole path segment", text)
				}
				if i > 0 && i+2 < len(text) {
					// "/**/" matches "/" or "/anything/".
					b.WriteString(`(?:.*/)?`)
					i += 3
					continue
				}
			}
			b.WriteString(`.*`)
			i += 2
			continue
		}
		if text[i] == '*' {
			b.WriteString(`[^/]*`)
			i++
			continue
		}
		j := i
		for j < len(text) && text[j] != '*' {
			j++
		}
		b.WriteString(regexp.QuoteMeta(text[i:j]))
		i = j
	}
	b.WriteString(`\z`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %v", text, err)
	}
	return &pattern{text: text, re: re}, nil
}

// localHosts are registry names without a dot that still name a place:
// localhost, and the cssc location kinds "oci" (an OCI image layout
// directory, whose path is the repository) and "mem" (an in-memory store).
var localHosts = map[string]bool{"localhost": true, "oci": true, "mem": true}

// compileSourcePattern compiles a registry/repository pattern and checks
// that it can match a normalised reference: lower-case, made of reference
// characters, starting with a registry host, no empty segment.
func compileSourcePattern(text string) (*pattern, error) {
	if text == "" {
		return nil, errors.New("empty pattern")
	}
	for _, r := range text {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case r == '.', r == '-', r == '_', r == '/', r == ':', r == '*':
		case r >= 'A' && r <= 'Z':
			return nil, fmt.Errorf("pattern %q: references are lower-case, so upper-case letters never match", text)
		default:
			return nil, fmt.Errorf("pattern %q: character %q cannot appear in a registry/repository", text, r)
		}
	}
	if strings.ContainsAny(text, "@") {
		return nil, fmt.Errorf("pattern %q: patterns match registry/repository, not digests", text)
	}
	segs := strings.Split(text, "/")
	for _, s := range segs {
		if s == "" {
			return nil, fmt.Errorf("pattern %q: empty path segment", text)
		}
	}
	host := segs[0]
	if host != "**" && !strings.ContainsAny(host, ".:*") && !localHosts[host] {
		return nil, fmt.Errorf("pattern %q: must start with a registry host such as docker.io (write docker.io/library/nginx, not nginx or library/nginx)", text)
	}
	if len(segs) == 1 && host != "**" {
		return nil, fmt.Errorf("pattern %q: names a registry but no repository (write %s/** for the whole registry)", text, text)
	}
	for i, s := range segs[1:] {
		if strings.Contains(s, ":") {
			return nil, fmt.Errorf("pattern %q: segment %d has a ':' (tags are not part of a source pattern)", text, i+2)
		}
	}
	return compileGlob(text, true)
}

// normaliseSource returns "registry/repository" of a reference in the form
// source patterns are written in.
func normaliseSource(ref Reference) string {
	reg := asciiLower(strings.TrimSpace(ref.Registry))
	repo := asciiLower(strings.Trim(strings.TrimSpace(ref.Repository), "/"))
	switch reg {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		reg = "docker.io"
	}
	if reg == "docker.io" && repo != "" && !strings.Contains(repo, "/") {
		repo = "library/" + repo
	}
	return reg + "/" + repo
}

// asciiLower lower-cases ASCII letters only: Unicode case folding would turn
// look-alikes (the Kelvin sign K) into ASCII and let them match a pattern;
// left alone, they fail the reference character check instead.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// editDistance returns the optimal-string-alignment distance between a
// and b (insertions, deletions, substitutions and adjacent transpositions
// such as "ngnix" for "nginx" each count one), giving up and returning
// limit+1 once it exceeds limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	pp := make([]int, len(b)+1) // row i-2
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		best := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], pp[j-2]+1)
			}
			best = min(best, cur[j])
		}
		if best > limit {
			return limit + 1
		}
		pp, prev, cur = prev, cur, pp
	}
	return prev[len(b)]
}

// identityPattern is a compiled signer identity or issuer pattern: a
// distinguished name whose values may hold "*" wildcards
// ("C=US, ST=WA, O=Example, CN=Release*"), or a glob for any other identity
// (a URI, an e-mail address, "**").
type identityPattern struct {
	text   string
	glob   *pattern            // not a distinguished name
	name   dn.Name             // a distinguished name
	values map[string]*pattern // value pattern -> compiled
}

func compileIdentity(text string) (*identityPattern, error) {
	if strings.TrimSpace(text) == "" {
		return nil, errors.New("empty pattern")
	}
	if text != "**" {
		if name, err := dn.Parse(text); err == nil {
			ip := &identityPattern{text: text, name: name, values: map[string]*pattern{}}
			for _, a := range name.Attributes() {
				if strings.Contains(a.Value, "**") {
					return nil, fmt.Errorf("pattern %q: a distinguished name value takes *, not **", text)
				}
				if a.Value == "" {
					return nil, fmt.Errorf("pattern %q: %s has an empty value", text, a.Type)
				}
				// In a value "*" is any run of characters, "/" included.
				p, err := compileGlob(strings.ReplaceAll(a.Value, "*", "**"), false)
				if err != nil {
					return nil, err
				}
				ip.values[a.Value] = p
			}
			return ip, nil
		}
	}
	p, err := compileGlob(text, false)
	if err != nil {
		return nil, err
	}
	return &identityPattern{text: text, glob: p}, nil
}

// match reports whether an identity (or issuer) matches. A distinguished
// name pattern matches, as a notation trust policy's x509.subject identity
// does, a name that has each of its attributes with a matching value, in
// any order and either spelling; attributes it does not name are not
// checked.
func (ip *identityPattern) match(s string) bool {
	if ip.glob != nil {
		return ip.glob.match(s) || ip.glob.match(dn.Canonical(s))
	}
	name, err := dn.Parse(s)
	if err != nil {
		return false
	}
	return name.Contains(ip.name, func(want, got string) bool { return ip.values[want].match(got) })
}

func anyIdentity(ps []*identityPattern, s string) bool {
	for _, p := range ps {
		if p.match(s) {
			return true
		}
	}
	return false
}
