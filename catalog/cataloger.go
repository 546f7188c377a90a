package catalog

import (
	"context"

	"github.com/cssc-go/cssc/registry"
)

// Cataloger builds the catalog entry of one image in a golden repository.
// ref is a tag or a digest; the entry is about the manifest or index it
// resolves to. Facts the Cataloger cannot establish are recorded in
// Entry.Problems, not returned as errors: an error means the image itself
// could not be read (it does not exist, the registry failed, ctx ended).
type Cataloger interface {
	Catalog(ctx context.Context, repo registry.Repository, ref string) (*Entry, error)
}

// CatalogerFunc adapts a function to the Cataloger interface.
type CatalogerFunc func(ctx context.Context, repo registry.Repository, ref string) (*Entry, error)

// Catalog calls f.
func (f CatalogerFunc) Catalog(ctx context.Context, repo registry.Repository, ref string) (*Entry, error) {
	return f(ctx, repo, ref)
}
