package catalog

import (
	"context"
	"errors"

	"github.com/opencontainers/go-digest"
)

// EntryRef names an entry of a store: repository and digest.
type EntryRef struct {
	Repository string        `json:"repository"`
	Digest     digest.Digest `json:"digest"`
}

// Ref returns the summary's entry.
func (s Summary) Ref() EntryRef { return EntryRef{Repository: s.Repository, Digest: s.Digest} }

// BatchGetter is implemented by stores that read several entries in one
// query (catalog/sqlite, catalog/postgres): a page that shows the findings
// or packages of 50 images then costs one round trip to the database
// instead of 50. Use it through GetMany, which falls back to Get.
type BatchGetter interface {
	// GetMany returns the entries refs name, in the order of refs, with
	// nil for each entry the store does not have (not an error). Each
	// entry is what Get would return at the time of the call.
	GetMany(ctx context.Context, refs []EntryRef) ([]*Entry, error)
}

// GetMany returns the entries refs name, in order, with nil for each one s
// does not have: in one query when s is a BatchGetter, else one Get each.
func GetMany(ctx context.Context, s Store, refs []EntryRef) ([]*Entry, error) {
	if b, ok := s.(BatchGetter); ok {
		return b.GetMany(ctx, refs)
	}
	return getEach(ctx, s, refs)
}

func getEach(ctx context.Context, s Store, refs []EntryRef) ([]*Entry, error) {
	out := make([]*Entry, len(refs))
	for i, r := range refs {
		e, err := s.Get(ctx, r.Repository, r.Digest)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

var _ BatchGetter = (*View)(nil)

// GetMany implements BatchGetter: a hidden entry is nil, as a missing one.
// The store is asked for hidden entries all the same, so that they cost
// what unknown ones cost.
func (w *View) GetMany(ctx context.Context, refs []EntryRef) ([]*Entry, error) {
	out, err := GetMany(ctx, w.s, refs)
	if err != nil {
		return nil, err
	}
	for i, e := range out {
		switch {
		case e == nil:
		case !w.v.Visible(refs[i].Repository):
			out[i] = nil
		default:
			w.apply(e)
		}
	}
	return out, nil
}
