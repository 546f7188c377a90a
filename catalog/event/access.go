package event

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/cssc-go/cssc/catalog"
)

// Restrict returns a Sink that passes on to sink only the events that a
// subscriber who sees v may see: an event about an image or a tag of a
// repository that v hides (access levels, see catalog.AccessPolicy) is
// dropped, silently, as if it had not happened. The repository is read
// from the event's subject ("repository@digest", "repository:tag") and
// from a "repository" member of its data (event.Image and the catalog's
// tag events carry one); an event that names no repository (a sweep, a
// request, by its id) passes. An event that passes but names a hidden
// image elsewhere in its data (a lifecycle event's replacement, a reason,
// any string or object key at any depth) passes with those names
// redacted (catalog.Visibility.Redact); one whose data is not JSON, or
// whose subject names a hidden image in any form, is dropped. Give each subscriber (each webhook) the visibility of the
// groups it serves: policy.For(groups...). A nil v passes everything.
func Restrict(sink Sink, v *catalog.Visibility) Sink {
	if !v.Restricts() {
		return sink
	}
	return &restricted{sink: sink, v: v}
}

type restricted struct {
	sink Sink
	v    *catalog.Visibility
}

func (r *restricted) Emit(ctx context.Context, events ...Event) error {
	keep := make([]Event, 0, len(events))
	for _, e := range events {
		if !Visible(e, r.v) {
			continue
		}
		e, ok := Redact(e, r.v)
		if ok {
			keep = append(keep, e)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	return r.sink.Emit(ctx, keep...)
}

// Visible reports whether a subscriber who sees v may see e: no
// repository that e names (see Restrict) is hidden by v.
func Visible(e Event, v *catalog.Visibility) bool {
	if !v.Restricts() {
		return true
	}
	for _, repo := range Repositories(e) {
		if !v.Visible(repo) {
			return false
		}
	}
	return true
}

// Repositories returns the repositories an event names: the one of its
// subject ("repository@digest" or "repository:tag") and the "repository"
// and "golden" members of its data, when they are strings.
func Repositories(e Event) []string {
	var out []string
	// A subject that is no reference (an id) is its own
	// ReferenceRepository and names none.
	if repo := catalog.ReferenceRepository(e.Subject); repo != "" && repo != e.Subject {
		out = append(out, repo)
	}
	if len(e.Data) > 0 && len(e.Data) <= MaxDataBytes {
		var d struct {
			Repository any `json:"repository"`
			Golden     any `json:"golden"`
		}
		if json.Unmarshal(e.Data, &d) == nil {
			for _, x := range []any{d.Repository, d.Golden} {
				if s, ok := x.(string); ok && s != "" {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// Redact returns e with every reference to an image v hides in its data
// redacted (catalog.Visibility.Redact, applied to every string and object
// key at any depth), and true; e itself when nothing names such an image.
// It returns false when e's data cannot be read (not JSON, over
// MaxDataBytes) while v hides something, or when its subject names a
// hidden image anywhere in it: such an event must not be delivered.
func Redact(e Event, v *catalog.Visibility) (Event, bool) {
	if !v.Restricts() {
		return e, true
	}
	if _, hidden := v.Redact(e.Subject); hidden {
		return e, false // a subject that names a hidden image anywhere
	}
	if len(e.Data) == 0 {
		return e, true
	}
	if len(e.Data) > MaxDataBytes {
		return e, false
	}
	dec := json.NewDecoder(bytes.NewReader(e.Data))
	dec.UseNumber()
	var data any
	if err := dec.Decode(&data); err != nil || dec.More() {
		return e, false
	}
	data, changed := redactValue(data, v)
	if !changed {
		return e, true
	}
	b, err := json.Marshal(data)
	if err != nil {
		return e, false
	}
	e.Data = b
	return e, true
}

// redactValue redacts the strings and keys of a decoded JSON value.
func redactValue(x any, v *catalog.Visibility) (any, bool) {
	switch x := x.(type) {
	case string:
		return v.Redact(x)
	case []any:
		changed := false
		for i := range x {
			var c bool
			if x[i], c = redactValue(x[i], v); c {
				changed = true
			}
		}
		return x, changed
	case map[string]any:
		changed := false
		for k, val := range x {
			nv, c := redactValue(val, v)
			nk, ck := v.Redact(k)
			if ck {
				delete(x, k)
			}
			if c || ck {
				x[nk] = nv
				changed = true
			}
		}
		return x, changed
	}
	return x, false
}
