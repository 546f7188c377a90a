package requests

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/cssc-go/cssc/registry"
)

// Rules say which references teams may request, which are approved
// without an approver, and which names typosquats are compared against.
// The zero Rules let teams request any source and approve nothing
// automatically. Patterns are globs on "registry/repository"
// ("docker.io/library/nginx"): "*" matches within one path segment, "**"
// across segments; a pattern without a wildcard matches that name only.
type Rules struct {
	// Sources are the patterns a requested reference must match; a
	// reference that matches none is refused (ErrSourceNotAllowed). Empty
	// means any source (the policy's sources rule still decides at
	// acquisition).
	Sources []string `json:"sources,omitempty" yaml:"sources,omitempty"`
	// AutoApprove are the rules that approve a request without an
	// approver; the first that matches names itself on the request. A
	// reference flagged as a possible typosquat is never approved
	// automatically.
	AutoApprove []Rule `json:"autoApprove,omitempty" yaml:"autoApprove,omitempty"`
	// KnownImages are the well-known image names ("docker.io/library/nginx")
	// that typosquats are compared against, beside the catalog's own
	// repositories. Nil means DefaultKnownImages; an empty, non-nil list
	// means the catalog's repositories only.
	KnownImages []string `json:"knownImages,omitempty" yaml:"knownImages,omitempty"`
	// MaxDistance is the edit distance (insertions, deletions,
	// substitutions, transpositions) within which a name resembles a known
	// one. Zero means 1, and 2 for known names whose last path segment
	// has 8 characters or more; negative turns the edit-distance check
	// off (look-alike characters and namespaces are still checked).
	MaxDistance int `json:"maxDistance,omitempty" yaml:"maxDistance,omitempty"`
}

// Rule approves matching references automatically.
type Rule struct {
	// Name names the rule on the requests it approves. Required.
	Name string `json:"name" yaml:"name"`
	// Match are the patterns of the sources and publishers the rule
	// approves ("docker.io/library/*" for Docker's official images,
	// "mcr.microsoft.com/**" for one publisher's registry). At least one.
	Match []string `json:"match" yaml:"match"`
}

// DefaultKnownImages are well-known public image names that typosquats
// imitate: Docker official images, and the distroless, Microsoft and
// Kubernetes images most teams build on.
var DefaultKnownImages = []string{
	"docker.io/library/alpine", "docker.io/library/amazonlinux", "docker.io/library/bash", "docker.io/library/busybox",
	"docker.io/library/caddy", "docker.io/library/centos", "docker.io/library/debian", "docker.io/library/docker",
	"docker.io/library/eclipse-temurin", "docker.io/library/fedora", "docker.io/library/gcc", "docker.io/library/golang",
	"docker.io/library/gradle", "docker.io/library/haproxy", "docker.io/library/httpd", "docker.io/library/mariadb",
	"docker.io/library/maven", "docker.io/library/memcached", "docker.io/library/mongo", "docker.io/library/mysql",
	"docker.io/library/nginx", "docker.io/library/node", "docker.io/library/openjdk", "docker.io/library/php",
	"docker.io/library/postgres", "docker.io/library/python", "docker.io/library/rabbitmq", "docker.io/library/redis",
	"docker.io/library/registry", "docker.io/library/ruby", "docker.io/library/rust", "docker.io/library/tomcat",
	"docker.io/library/traefik", "docker.io/library/ubuntu", "docker.io/library/wordpress",
	"gcr.io/distroless/static", "gcr.io/distroless/base", "gcr.io/distroless/java", "gcr.io/distroless/nodejs",
	"mcr.microsoft.com/dotnet/runtime", "mcr.microsoft.com/dotnet/aspnet", "mcr.microsoft.com/dotnet/sdk",
	"registry.k8s.io/pause", "quay.io/prometheus/prometheus", "docker.io/grafana/grafana",
}

// ErrInvalidRules is wrapped by the errors New returns for malformed Rules.
var ErrInvalidRules = errors.New("requests: invalid rules")

// compiled is Rules ready to use.
type compiled struct {
	sources     []*glob
	autoApprove []compiledRule
	known       []knownName
	maxDistance int
}

type compiledRule struct {
	name  string
	match []*glob
}

// compile validates r (fail closed: an unknown or malformed pattern is an
// error, not a rule that matches nothing).
func compile(r Rules) (*compiled, error) {
	c := &compiled{maxDistance: r.MaxDistance}
	for _, p := range r.Sources {
		g, err := compileGlob(p)
		if err != nil {
			return nil, fmt.Errorf("%w: sources: %v", ErrInvalidRules, err)
		}
		c.sources = append(c.sources, g)
	}
	seen := map[string]bool{}
	for i, rule := range r.AutoApprove {
		if rule.Name == "" || seen[rule.Name] {
			return nil, fmt.Errorf("%w: autoApprove[%d]: a rule needs a name of its own", ErrInvalidRules, i)
		}
		seen[rule.Name] = true
		if len(rule.Match) == 0 {
			return nil, fmt.Errorf("%w: autoApprove %s: no match patterns", ErrInvalidRules, rule.Name)
		}
		cr := compiledRule{name: rule.Name}
		for _, p := range rule.Match {
			g, err := compileGlob(p)
			if err != nil {
				return nil, fmt.Errorf("%w: autoApprove %s: %v", ErrInvalidRules, rule.Name, err)
			}
			cr.match = append(cr.match, g)
		}
		c.autoApprove = append(c.autoApprove, cr)
	}
	known := r.KnownImages
	if known == nil {
		known = DefaultKnownImages
	}
	for _, k := range known {
		ref, err := registry.ParseRef(k)
		if err != nil || ref.Name() != strings.TrimSuffix(k, ":latest") && ref.Name() != k {
			return nil, fmt.Errorf("%w: knownImages: %q is not an image name (registry/repository, no tag)", ErrInvalidRules, k)
		}
		c.known = append(c.known, newKnown(ref.Name()))
	}
	return c, nil
}

// allowed reports whether name matches the sources (any when none).
func (c *compiled) allowed(name string) bool {
	if len(c.sources) == 0 {
		return true
	}
	for _, g := range c.sources {
		if g.match(name) {
			return true
		}
	}
	return false
}

// approver returns the first auto-approve rule that matches name, "" if
// none.
func (c *compiled) approver(name string) string {
	for _, r := range c.autoApprove {
		for _, g := range r.match {
			if g.match(name) {
				return r.name
			}
		}
	}
	return ""
}

// glob is a compiled pattern: "*" matches any run of characters except
// "/", "**" any run including "/"; the whole name must match.
type glob struct {
	text string
	re   *regexp.Regexp // nil for a literal
}

func (g *glob) match(s string) bool {
	if g.re == nil {
		return g.text == s
	}
	return g.re.MatchString(s)
}

func compileGlob(text string) (*glob, error) {
	switch {
	case text == "":
		return nil, errors.New("empty pattern")
	case len(text) > 512:
		return nil, fmt.Errorf("pattern %.40q... longer than 512 bytes", text)
	case strings.Contains(text, "***"):
		return nil, fmt.Errorf("pattern %q: *** is not a wildcard (use * or **)", text)
	case strings.Contains(text, "@"):
		return nil, fmt.Errorf("pattern %q: patterns name registry/repository, without digest", text)
	}
	for _, r := range text {
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == unicode.ReplacementChar {
			return nil, fmt.Errorf("pattern %q: space, control or invalid character", text)
		}
	}
	if !strings.Contains(text, "*") {
		return &glob{text: text}, nil
	}
	var b strings.Builder
	b.WriteString(`\A`)
	for i := 0; i < len(text); {
		switch {
		case strings.HasPrefix(text[i:], "**"):
			b.WriteString(`.*`)
			i += 2
		case text[i] == '*':
			b.WriteString(`[^/]*`)
			i++
		default:
			b.WriteString(regexp.QuoteMeta(text[i : i+1]))
			i++
		}
	}
	b.WriteString(`\z`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %v", text, err)
	}
	return &glob{text: text, re: re}, nil
}
