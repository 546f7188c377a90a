package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Untagger is the optional capability of a Repository to remove a tag
// without deleting the manifest it points at. Untag detects it on
// repositories of other implementations.
type Untagger interface {
	Untag(ctx context.Context, tag string) error
}

// Untag removes tag from repo; the manifest it pointed at stays, so that
// consumers who pinned its digest still pull it. On a registry it sends
// DELETE /v2/<name>/manifests/<tag>, which the OCI distribution
// specification allows for tags (distribution v3 and cuelabs ociregistry
// implement it); OCI layout directories and memory repositories drop the
// tag from their index. A missing tag wraps ErrNotFound; a registry or a
// Repository implementation that cannot remove only a tag wraps
// ErrUnsupported, and then nothing was deleted: Untag never falls back to
// deleting the manifest.
func Untag(ctx context.Context, repo Repository, tag string) error {
	if !validTag(tag) {
		return &Error{Op: "untag", Location: repo.Location(), Ref: tag, Err: fmt.Errorf("%w: bad tag %q", ErrInvalidReference, tag)}
	}
	switch r := repo.(type) {
	case *memoryRepository:
		return r.untag(tag)
	case *layoutRepository:
		if _, err := r.store.Resolve(ctx, tag); err != nil {
			return opError("untag", r.location, tag, err)
		}
		return opError("untag", r.location, tag, r.store.Untag(ctx, tag))
	case *remoteRepository:
		return opError("untag", r.location, tag, r.untag(ctx, tag))
	case Untagger:
		return r.Untag(ctx, tag)
	}
	return &Error{Op: "untag", Location: repo.Location(), Ref: tag, Err: fmt.Errorf("%w: %T cannot remove a tag alone", ErrUnsupported, repo)}
}

func (r *memoryRepository) untag(tag string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.tags[tag]; !ok {
		return opError("untag", r.location, tag, errdef.ErrNotFound)
	}
	delete(r.tags, tag)
	return nil
}

func (r *remoteRepository) untag(ctx context.Context, tag string) error {
	scheme := "https"
	if r.PlainHTTP {
		scheme = "http"
	}
	u := url.URL{Scheme: scheme, Host: r.Reference.Registry, Path: "/v2/" + r.Reference.Repository + "/manifests/" + tag}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u.String(), nil)
	if err != nil {
		return err
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent:
		return nil
	case resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusBadRequest:
		return fmt.Errorf("%w: the registry refuses to delete a tag (%s)", ErrUnsupported, resp.Status)
	}
	return &errcode.ErrorResponse{Method: req.Method, URL: req.URL, StatusCode: resp.StatusCode}
}
