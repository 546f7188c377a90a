package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
)

// remoteRepository is a repository on a registry reached over HTTP(S). It
// embeds *remote.Repository so that oras-go still finds its optional
// capabilities (Mount, PushReference, FetchReference, Blobs, Manifests) and
// translates the errors of the common operations.
type remoteRepository struct {
	*remote.Repository
	location    string
	maxManifest int64

	probeMu sync.Mutex
	probed  bool
}

// probeReferrers makes oras-go learn whether the registry has a working
// referrers API before the first manifest with a subject is pushed. Some
// registries answer a push with an OCI-Subject header yet have no referrers
// API (cuelabs ociregistry with DisableReferrersAPI does); oras-go would then
// skip the referrers tag schema and the referrer could never be listed.
func (r *remoteRepository) probeReferrers(ctx context.Context, subject ocispec.Descriptor) {
	r.probeMu.Lock()
	defer r.probeMu.Unlock()
	if r.probed {
		return
	}
	err := r.Repository.Referrers(ctx, subject, "", func([]ocispec.Descriptor) error { return nil })
	switch {
	case err == nil:
		r.probed = true
	case errors.Is(err, errdef.ErrUnsupported):
		r.probed = true
		_ = r.Repository.SetReferrersCapability(false) // fails only if already set
	}
}

// withSubject reads a manifest about to be pushed and, if it has a subject,
// probes the referrers capability. It returns a reader over the same bytes.
func (r *remoteRepository) withSubject(ctx context.Context, expected ocispec.Descriptor, rd io.Reader) (io.Reader, error) {
	if !isManifestType(expected.MediaType) || expected.Size > r.maxManifest {
		return rd, nil
	}
	raw, err := io.ReadAll(io.LimitReader(rd, expected.Size+1))
	if err != nil {
		return nil, err
	}
	var m struct {
		Subject *ocispec.Descriptor `json:"subject"`
	}
	if json.Unmarshal(raw, &m) == nil && m.Subject != nil {
		r.probeReferrers(ctx, *m.Subject)
	}
	return bytes.NewReader(raw), nil
}

func (r *remoteRepository) Location() string { return r.location }

func (r *remoteRepository) Fetch(ctx context.Context, target ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := r.Repository.Fetch(ctx, target)
	return rc, opError("fetch", r.location, target.Digest.String(), err)
}

func (r *remoteRepository) Push(ctx context.Context, expected ocispec.Descriptor, content io.Reader) error {
	content, err := r.withSubject(ctx, expected, content)
	if err != nil {
		return opError("push", r.location, expected.Digest.String(), err)
	}
	return opError("push", r.location, expected.Digest.String(), r.Repository.Push(ctx, expected, content))
}

func (r *remoteRepository) Exists(ctx context.Context, target ocispec.Descriptor) (bool, error) {
	ok, err := r.Repository.Exists(ctx, target)
	return ok, opError("exists", r.location, target.Digest.String(), err)
}

func (r *remoteRepository) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	d, err := r.Repository.Resolve(ctx, reference)
	return d, opError("resolve", r.location, reference, err)
}

func (r *remoteRepository) Tag(ctx context.Context, desc ocispec.Descriptor, reference string) error {
	return opError("tag", r.location, reference, r.Repository.Tag(ctx, desc, reference))
}

func (r *remoteRepository) Delete(ctx context.Context, target ocispec.Descriptor) error {
	return opError("delete", r.location, target.Digest.String(), r.Repository.Delete(ctx, target))
}

func (r *remoteRepository) Tags(ctx context.Context, last string, fn func(tags []string) error) error {
	return opError("tags", r.location, "", r.Repository.Tags(ctx, last, fn))
}

func (r *remoteRepository) Referrers(ctx context.Context, desc ocispec.Descriptor, artifactType string, fn func([]ocispec.Descriptor) error) error {
	return opError("referrers", r.location, desc.Digest.String(), r.Repository.Referrers(ctx, desc, artifactType, fn))
}

func (r *remoteRepository) FetchReference(ctx context.Context, reference string) (ocispec.Descriptor, io.ReadCloser, error) {
	d, rc, err := r.Repository.FetchReference(ctx, reference)
	return d, rc, opError("fetch", r.location, reference, err)
}

func (r *remoteRepository) PushReference(ctx context.Context, expected ocispec.Descriptor, content io.Reader, reference string) error {
	content, err := r.withSubject(ctx, expected, content)
	if err != nil {
		return opError("push", r.location, reference, err)
	}
	return opError("push", r.location, reference, r.Repository.PushReference(ctx, expected, content, reference))
}

func (r *remoteRepository) Mount(ctx context.Context, desc ocispec.Descriptor, fromRepo string, getContent func() (io.ReadCloser, error)) error {
	return opError("mount", r.location, desc.Digest.String(), r.Repository.Mount(ctx, desc, fromRepo, getContent))
}
