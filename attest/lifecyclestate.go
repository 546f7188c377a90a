package attest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"time"
	"unicode/utf8"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/registry"
)

// Caps of the lifecycle state annotations (ParseLifecycle refuses more).
const (
	// MaxLifecycleSources caps the dates listed in
	// artifact.AnnotationLifecycleSources: 64.
	MaxLifecycleSources = 64
	// MaxLifecycleText caps the reason, the replacement, the source and
	// every source's detail: 2 KiB each.
	MaxLifecycleText = 2 << 10
	// MaxLifecycleSourcesBytes caps the JSON of
	// artifact.AnnotationLifecycleSources: 64 KiB.
	MaxLifecycleSourcesBytes = 64 << 10
)

// LifecycleState is what a lifecycle marker written by the catalog says
// beside the end-of-life date: the status it records, the replacement, and
// where the date comes from (artifact.AnnotationLifecycle... annotations).
// A marker written by the acquire pipeline or by hand carries none of it.
type LifecycleState struct {
	// Status is artifact.LifecycleActive, LifecycleDeprecated or
	// LifecycleRetired.
	Status string `json:"status"`
	// Replacement names the image that replaces the subject; empty if
	// none.
	Replacement string `json:"replacement,omitempty"`
	// Source says where the end-of-life date comes from; empty if the
	// subject has no end-of-life date.
	Source string `json:"source,omitempty"`
	// Reason explains the date and the status in one line.
	Reason string `json:"reason,omitempty"`
	// Sources lists every date considered.
	Sources []LifecycleSource `json:"sources,omitempty"`
	// Since is when Status began; zero if not recorded (the marker's
	// creation time is then the best guess).
	Since time.Time `json:"since,omitzero"`
}

// LifecycleSource is one end-of-life date considered for a subject.
type LifecycleSource struct {
	// Role is what the date is about: "image", "base-os" or "runtime".
	Role string `json:"role"`
	// Source is where it comes from ("lifecycle-marker", "rule",
	// "data-file", "override").
	Source string `json:"source"`
	// Date is the date; zero when the source names no date (an override
	// that exempts the image, a release cycle marked ended without a
	// date).
	Date time.Time `json:"date,omitzero"`
	// Detail names the source in one line (the rule, the product and
	// cycle, the marker digest).
	Detail string `json:"detail,omitempty"`
}

// Annotations returns the annotations that record s on a marker.
func (s LifecycleState) Annotations() map[string]string {
	ann := map[string]string{artifact.AnnotationLifecycleStatus: s.Status}
	if s.Replacement != "" {
		ann[artifact.AnnotationLifecycleReplacement] = s.Replacement
	}
	if s.Source != "" {
		ann[artifact.AnnotationLifecycleSource] = s.Source
	}
	if s.Reason != "" {
		ann[artifact.AnnotationLifecycleReason] = s.Reason
	}
	if !s.Since.IsZero() {
		ann[artifact.AnnotationLifecycleSince] = FormatDate(s.Since)
	}
	if len(s.Sources) > 0 {
		src := make([]LifecycleSource, len(s.Sources))
		for i, x := range s.Sources {
			x.Date = x.Date.UTC().Truncate(time.Second)
			src[i] = x
		}
		b, _ := json.Marshal(src) // plain strings and times: cannot fail
		ann[artifact.AnnotationLifecycleSources] = string(b)
	}
	return ann
}

// parseLifecycleState reads the lifecycle state annotations of a marker.
// It returns nil and no error when the marker has no
// artifact.AnnotationLifecycleStatus (a marker that records only a date),
// and an error wrapping ErrMalformed when the status is unknown or any
// state annotation is not valid UTF-8, too long, or (for the sources) not
// a JSON array of sources with known fields.
func parseLifecycleState(annotations map[string]string) (*LifecycleState, error) {
	status, ok := annotations[artifact.AnnotationLifecycleStatus]
	if !ok {
		return nil, nil
	}
	switch status {
	case artifact.LifecycleActive, artifact.LifecycleDeprecated, artifact.LifecycleRetired:
	default:
		return nil, fmt.Errorf("lifecycle state: %w: status %.64q", ErrMalformed, status)
	}
	s := &LifecycleState{
		Status:      status,
		Replacement: annotations[artifact.AnnotationLifecycleReplacement],
		Source:      annotations[artifact.AnnotationLifecycleSource],
		Reason:      annotations[artifact.AnnotationLifecycleReason],
	}
	for k, v := range map[string]string{"replacement": s.Replacement, "source": s.Source, "reason": s.Reason} {
		if err := checkText(k, v); err != nil {
			return nil, err
		}
	}
	if v, ok := annotations[artifact.AnnotationLifecycleSince]; ok {
		t, err := ParseDate(v)
		if err != nil {
			return nil, fmt.Errorf("lifecycle state: since: %w", err)
		}
		s.Since = t
	}
	if raw, ok := annotations[artifact.AnnotationLifecycleSources]; ok {
		if len(raw) > MaxLifecycleSourcesBytes {
			return nil, fmt.Errorf("lifecycle state: %w: sources of %d bytes, cap %d", ErrMalformed, len(raw), MaxLifecycleSourcesBytes)
		}
		dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s.Sources); err != nil {
			return nil, fmt.Errorf("lifecycle state: %w: sources: %v", ErrMalformed, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("lifecycle state: %w: sources: trailing data", ErrMalformed)
		}
		if len(s.Sources) > MaxLifecycleSources {
			return nil, fmt.Errorf("lifecycle state: %w: %d sources, cap %d", ErrMalformed, len(s.Sources), MaxLifecycleSources)
		}
		for i := range s.Sources {
			x := &s.Sources[i]
			x.Date = x.Date.UTC()
			if x.Role == "" || x.Source == "" {
				return nil, fmt.Errorf("lifecycle state: %w: source %d without role or source", ErrMalformed, i)
			}
			for k, v := range map[string]string{"role": x.Role, "source": x.Source, "detail": x.Detail} {
				if err := checkText("source "+k, v); err != nil {
					return nil, err
				}
			}
		}
	}
	return s, nil
}

func checkText(what, v string) error {
	if len(v) > MaxLifecycleText || !utf8.ValidString(v) {
		return fmt.Errorf("lifecycle state: %w: %s is longer than %d bytes or not UTF-8", ErrMalformed, what, MaxLifecycleText)
	}
	return nil
}

// LifecycleStateArtifact builds a lifecycle marker for end of life eol that
// also records state (see LifecycleArtifact for created and generatedBy).
// Every marker carries a date, as Microsoft's convention requires.
func LifecycleStateArtifact(eol, created time.Time, generatedBy string, state LifecycleState) registry.Artifact {
	a := LifecycleArtifact(eol, created, generatedBy)
	maps.Copy(a.Annotations, state.Annotations())
	return a
}
