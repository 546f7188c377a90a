package acquire

import (
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ArtifactFilter decides which publisher artifacts an import copies. An
// artifact is copied when it matches at least one Allow rule (or Allow is
// empty) and no Deny rule: deny wins. The zero value copies everything;
// ArtifactFilter{Deny: []ArtifactRule{{}}} copies nothing (an empty rule
// matches every artifact).
//
// Artifacts are matched by their effective type and their manifest
// annotations. The effective type of an OCI referrer is its artifactType;
// of a cosign tag or a buildkit attestation manifest (which have none) it
// is the config media type unless that is a plain image config, else the
// media type of the first layer ("application/vnd.dev.cosign.simplesigning.v1+json"
// for a .sig, "application/vnd.dsse.envelope.v1+json" for a .att,
// "application/vnd.in-toto+json" for buildkit).
//
// Buildkit attestation manifests are entries of the image index: when the
// whole index is imported they are always copied, since leaving one out
// would change the index digest (they are reported with the reason); with
// a platform subset the filter applies to them.
type ArtifactFilter struct {
	// Allow lists the rules an artifact must match one of. Empty means
	// every artifact is allowed.
	Allow []ArtifactRule
	// Deny lists rules an artifact must match none of. Empty means none
	// is denied.
	Deny []ArtifactRule
}

// ArtifactRule matches artifacts by type and annotations; all set fields
// must match.
type ArtifactRule struct {
	// ArtifactType is the effective artifact type to match exactly, or a
	// prefix when it ends in "*" ("application/vnd.dev.cosign*"). Empty
	// matches any type.
	ArtifactType string
	// Annotations must all be present on the artifact with these values; a
	// value "*" matches any value of a present key. Empty matches any
	// annotations.
	Annotations map[string]string
}

// Match reports whether the rule matches the artifact descriptor d (its
// ArtifactType and Annotations).
func (r ArtifactRule) Match(d ocispec.Descriptor) bool {
	if t, ok := strings.CutSuffix(r.ArtifactType, "*"); ok {
		if !strings.HasPrefix(d.ArtifactType, t) {
			return false
		}
	} else if r.ArtifactType != "" && r.ArtifactType != d.ArtifactType {
		return false
	}
	for k, v := range r.Annotations {
		got, ok := d.Annotations[k]
		if !ok || v != "*" && v != got {
			return false
		}
	}
	return true
}

func (r ArtifactRule) String() string {
	s := r.ArtifactType
	if s == "" {
		s = "*"
	}
	for k, v := range r.Annotations {
		s += fmt.Sprintf(" %s=%s", k, v)
	}
	return s
}

// Allows reports whether the filter lets the artifact descriptor d through.
func (f ArtifactFilter) Allows(d ocispec.Descriptor) bool {
	for _, r := range f.Deny {
		if r.Match(d) {
			return false
		}
	}
	if len(f.Allow) == 0 {
		return true
	}
	for _, r := range f.Allow {
		if r.Match(d) {
			return true
		}
	}
	return false
}

// reason says why the filter drops d.
func (f ArtifactFilter) reason(d ocispec.Descriptor) string {
	for _, r := range f.Deny {
		if r.Match(d) {
			return "denied by rule " + r.String()
		}
	}
	return "not in the allow list"
}

func (f ArtifactFilter) validate() error {
	for _, r := range append(append([]ArtifactRule(nil), f.Allow...), f.Deny...) {
		if i := strings.IndexByte(r.ArtifactType, '*'); i >= 0 && i != len(r.ArtifactType)-1 {
			return fmt.Errorf("%w: artifact rule %q: '*' only at the end", ErrInvalidOptions, r.ArtifactType)
		}
	}
	return nil
}
