package registry

import (
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// Ref is a normalised image reference: registry host, repository path, and
// a tag and/or digest. The zero Ref is invalid.
type Ref struct {
	Registry   string        // host[:port], e.g. "docker.io", "localhost:5000"
	Repository string        // path, e.g. "library/nginx"
	Tag        string        // may be empty when Digest is set
	Digest     digest.Digest // may be empty
}

// ParseRef parses and normalises an image reference the way docker does:
// "nginx" becomes "docker.io/library/nginx:latest", "docker.io/alpine"
// becomes "docker.io/library/alpine:latest"; a reference with a digest and no
// tag gets no tag. A malformed reference gives an error wrapping
// ErrInvalidReference.
func ParseRef(s string) (Ref, error) {
	if s == "" || len(s) > 4096 || strings.TrimSpace(s) != s {
		return Ref{}, fmt.Errorf("%w: %q", ErrInvalidReference, s)
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Ref{}, fmt.Errorf("%w: %q: %w", ErrInvalidReference, s, err)
	}
	r := Ref{Registry: reference.Domain(named), Repository: reference.Path(named)}
	if t, ok := named.(reference.Tagged); ok {
		r.Tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		r.Digest = d.Digest()
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r, nil
}

// Name returns registry/repository without tag or digest.
func (r Ref) Name() string { return r.Registry + "/" + r.Repository }

// Reference returns the digest if there is one, else the tag: the string to
// resolve in the repository.
func (r Ref) Reference() string {
	if r.Digest != "" {
		return r.Digest.String()
	}
	return r.Tag
}

// String returns the full reference: registry/repository[:tag][@digest].
func (r Ref) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest.String()
	}
	return s
}

// WithDigest returns a copy of r pinned to d, keeping the tag.
func (r Ref) WithDigest(d digest.Digest) Ref { r.Digest = d; return r }

// Location kinds.
const (
	KindRemote = "remote" // a registry reached over HTTP(S)
	KindLayout = "oci"    // an OCI image layout directory: "oci:<dir>"
	KindMemory = "mem"    // an in-memory repository: "mem:<name>"
)

// Location is a parsed location string: where a repository lives and,
// optionally, which tag or digest in it. Location strings are:
//
//	registry.example.com/team/app[:tag][@digest]   a remote repository
//	oci:/path/to/layout[:tag][@digest]             an OCI image layout directory
//	mem:name[:tag][@digest]                        an in-memory repository of a Client
type Location struct {
	Kind string // KindRemote, KindLayout or KindMemory
	// Repository is the location of the repository without tag or digest,
	// in the same string form ("oci:/dir", "mem:q/nginx", "host/repo").
	Repository string
	Ref        Ref // for KindRemote: the parsed reference
	Tag        string
	Digest     digest.Digest
}

// Reference returns the digest if there is one, else the tag.
func (l Location) Reference() string {
	if l.Digest != "" {
		return l.Digest.String()
	}
	return l.Tag
}

// String returns the location with its tag and digest.
func (l Location) String() string {
	s := l.Repository
	if l.Tag != "" {
		s += ":" + l.Tag
	}
	if l.Digest != "" {
		s += "@" + l.Digest.String()
	}
	return s
}

// ParseLocation parses a location string (see Location). Remote references
// are normalised as by ParseRef, except that no default tag is added.
func ParseLocation(s string) (Location, error) {
	for _, kind := range []string{KindLayout, KindMemory} {
		rest, ok := strings.CutPrefix(s, kind+":")
		if !ok {
			continue
		}
		l := Location{Kind: kind}
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			d, err := digest.Parse(rest[i+1:])
			if err != nil {
				return Location{}, fmt.Errorf("%w: %q: %w", ErrInvalidReference, s, err)
			}
			l.Digest, rest = d, rest[:i]
		}
		if i := strings.LastIndex(rest, ":"); i >= 0 && !strings.Contains(rest[i:], "/") {
			l.Tag, rest = rest[i+1:], rest[:i]
			if !validTag(l.Tag) {
				return Location{}, fmt.Errorf("%w: %q: bad tag %q", ErrInvalidReference, s, l.Tag)
			}
		}
		rest = strings.TrimSuffix(rest, "/")
		if rest == "" || strings.ContainsRune(rest, 0) {
			return Location{}, fmt.Errorf("%w: %q: empty %s path", ErrInvalidReference, s, kind)
		}
		l.Repository = kind + ":" + rest
		return l, nil
	}
	if s == "" || strings.Contains(s, "://") {
		return Location{}, fmt.Errorf("%w: %q", ErrInvalidReference, s)
	}
	r, err := ParseRef(s)
	if err != nil {
		return Location{}, err
	}
	// ParseRef adds "latest"; a location keeps what was written.
	named, _ := reference.ParseNormalizedNamed(s)
	if _, tagged := named.(reference.Tagged); !tagged {
		r.Tag = ""
	}
	return Location{Kind: KindRemote, Repository: r.Name(), Ref: r, Tag: r.Tag, Digest: r.Digest}, nil
}

// Join appends a repository path to a location prefix of any kind:
// Join("registry.corp/quarantine", "library/nginx") is
// "registry.corp/quarantine/library/nginx" and Join("oci:/var/q",
// "library/nginx") is "oci:/var/q/library/nginx".
func Join(prefix, repository string) string {
	return strings.TrimSuffix(prefix, "/") + "/" + strings.TrimPrefix(repository, "/")
}

func validTag(t string) bool {
	if t == "" || len(t) > 128 {
		return false
	}
	for i, c := range t {
		ok := c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (i > 0 && (c == '.' || c == '-'))
		if !ok {
			return false
		}
	}
	return true
}
