package catalog

import (
	"maps"
	"slices"
	"strings"
)

// Redacted replaces, in free text shown to a caller, a reference to an
// image the caller may not see (Visibility.Redact).
const Redacted = "[image not shown]"

// Redact returns text with every image reference in it that names a
// repository v hides replaced by Redacted, and whether it replaced any.
// Free text (an end-of-life reason, a source's detail, a problem's
// detail, a label, an event's field) may name another image than the one
// it is about; a caller outside that image's groups must not read its
// name. A reference is a run of the characters references are made of
// ("registry.corp/golden/library/nginx:1.27", "library/nginx@sha256:...")
// that holds a "/"; its repository (ReferenceRepository) decides, by the
// access rules alone, so the answer is the same whether or not the
// catalog holds the image. A bare digest names no repository and is kept.
// A nil or unrestricting v returns text unchanged.
func (v *Visibility) Redact(text string) (string, bool) {
	if !v.Restricts() || !strings.Contains(text, "/") {
		return text, false
	}
	var b strings.Builder
	changed := false
	pos := 0 // text[:pos] is written to b (once changed)
	for i := 0; i < len(text); {
		j := strings.IndexFunc(text[i:], isRefRune)
		if j < 0 {
			break
		}
		i += j
		k := strings.IndexFunc(text[i:], func(r rune) bool { return !isRefRune(r) })
		if k < 0 {
			k = len(text) - i
		}
		// Punctuation that ends a sentence or a clause is not part of
		// the reference.
		tok := strings.TrimRight(text[i:i+k], ".:-_")
		if strings.Contains(tok, "/") && !v.Visible(ReferenceRepository(tok)) {
			b.WriteString(text[pos:i])
			b.WriteString(Redacted)
			pos, changed = i+len(tok), true
		}
		i += k
	}
	if !changed {
		return text, false
	}
	b.WriteString(text[pos:])
	return b.String(), true
}

// isRefRune reports whether r may be part of an image reference.
func isRefRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/:@+", r)
}

// redactEntry removes from e, a copy the caller owns, what names an
// image v hides: a replacement (left out), and references in the free
// text of the source, the end of life, the problems and the labels
// (replaced by Redacted).
func redactEntry(e *Entry, v *Visibility) {
	if !v.Restricts() {
		return
	}
	if e.Replacement != "" && !v.Visible(ReferenceRepository(e.Replacement)) {
		e.Replacement = ""
	}
	if s, ok := v.Redact(e.Source.Reference); ok {
		e.Source.Reference = s
	}
	e.EndOfLife = redactEndOfLife(e.EndOfLife, v)
	cloned := false
	for i := range e.Problems {
		if s, ok := v.Redact(e.Problems[i].Detail); ok {
			if !cloned {
				e.Problems, cloned = slices.Clone(e.Problems), true
			}
			e.Problems[i].Detail = s
		}
	}
	e.Labels = redactLabels(e.Labels, v)
}

// redactSummary is redactEntry for a search result.
func redactSummary(s *Summary, v *Visibility) {
	if !v.Restricts() {
		return
	}
	s.EndOfLife = redactEndOfLife(s.EndOfLife, v)
	s.Labels = redactLabels(s.Labels, v)
}

// redactEndOfLife returns eol, or a redacted copy of it when its reason
// or a source's detail names an image v hides.
func redactEndOfLife(eol *EndOfLife, v *Visibility) *EndOfLife {
	if eol == nil {
		return nil
	}
	reason, changed := v.Redact(eol.Reason)
	sources, cloned := eol.Sources, false
	for i := range sources {
		if d, ok := v.Redact(sources[i].Detail); ok {
			if !cloned {
				sources, cloned = slices.Clone(sources), true
			}
			sources[i].Detail = d
			changed = true
		}
	}
	if !changed {
		return eol
	}
	c := *eol
	c.Reason, c.Sources = reason, sources
	return &c
}

// redactLabels returns labels, or a copy whose values that name an image
// v hides are redacted.
func redactLabels(labels map[string]string, v *Visibility) map[string]string {
	var out map[string]string
	for k, val := range labels {
		if s, ok := v.Redact(val); ok {
			if out == nil {
				out = maps.Clone(labels)
			}
			out[k] = s
		}
	}
	if out == nil {
		return labels
	}
	return out
}
