package event

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/cssc-go/cssc/catalog"
)

// Restrict returns a Sink that passes on to sink only the events that a
// subscriber who sees v may see: an event about an image or a tag of a
// repository that v hides (access levels, see catalog.AccessPolicy) is
// dropped, silently, as if it had not happened. The repository is read
// from the event's subject ("repository@digest", "repository:tag") and
// from a "repository" member of its data (event.Image and the catalog's
// tag events carry one); an event that names no repository (a sweep, a
// request, by its id) passes. Give each subscriber (each webhook) the
// visibility of the groups it serves: policy.For(groups...). A nil v
// passes everything.
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
		if Visible(e, r.v) {
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
	if s := e.Subject; s != "" {
		if i := strings.LastIndex(s, "@"); i > 0 {
			out = append(out, s[:i])
		} else if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") && strings.Contains(s, "/") {
			out = append(out, s[:i])
		}
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
