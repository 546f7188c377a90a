package registry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	orasregistry "oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
)

// MaxRepositories caps how many repositories Repositories lists.
const MaxRepositories = 100000

// Repositories lists the repositories under a location prefix of any kind,
// as locations that Client.Repository opens, sorted:
//
//	"registry.corp/golden"  the registry's catalog (GET /v2/_catalog), names under golden/
//	"registry.corp"         every repository of the registry
//	"oci:/var/golden"       every OCI image layout directory under /var/golden (itself included)
//	"mem:golden"            the memory repositories of this Client under golden/
//
// A registry without the catalog API fails with ErrUnsupported. More than
// MaxRepositories repositories fail with ErrSizeExceeded.
func (c *Client) Repositories(ctx context.Context, prefix string) ([]string, error) {
	prefix = strings.TrimSuffix(prefix, "/")
	switch {
	case strings.HasPrefix(prefix, KindLayout+":"):
		return layoutRepositories(ctx, strings.TrimPrefix(prefix, KindLayout+":"))
	case strings.HasPrefix(prefix, KindMemory+":"):
		c.mu.Lock()
		defer c.mu.Unlock()
		var out []string
		for loc := range c.mem {
			if loc == prefix || strings.HasPrefix(loc, prefix+"/") || prefix == KindMemory+":" {
				out = append(out, loc)
			}
		}
		slices.Sort(out)
		return out, nil
	}
	host, path, _ := strings.Cut(prefix, "/")
	if host == "" {
		return nil, fmt.Errorf("%w: empty registry prefix", ErrInvalidReference)
	}
	reg := &remote.Registry{RepositoryOptions: remote.RepositoryOptions{
		Client:    c.client,
		Reference: orasregistry.Reference{Registry: host},
		PlainHTTP: slices.Contains(c.opts.PlainHTTP, host),
	}}
	var out []string
	err := reg.Repositories(ctx, "", func(repos []string) error {
		for _, r := range repos {
			if path != "" && r != path && !strings.HasPrefix(r, path+"/") {
				continue
			}
			if len(out) >= MaxRepositories {
				return fmt.Errorf("%w: more than %d repositories", ErrSizeExceeded, MaxRepositories)
			}
			out = append(out, host+"/"+r)
		}
		return nil
	})
	if err != nil {
		return nil, opError("repositories", prefix, "", err)
	}
	slices.Sort(out)
	return out, nil
}

// layoutRepositories finds the OCI image layouts under dir.
func layoutRepositories(ctx context.Context, dir string) ([]string, error) {
	dir = filepath.Clean(dir)
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%w: %w", ErrNotFound, err)
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if d.Name() == "blobs" && p != dir {
			return filepath.SkipDir // a layout's blob store
		}
		if _, err := os.Stat(filepath.Join(p, "oci-layout")); err == nil {
			if len(out) >= MaxRepositories {
				return fmt.Errorf("%w: more than %d repositories", ErrSizeExceeded, MaxRepositories)
			}
			out = append(out, KindLayout+":"+p)
		}
		return nil
	})
	if err != nil {
		return nil, opError("repositories", KindLayout+":"+dir, "", err)
	}
	slices.Sort(out)
	return out, nil
}
