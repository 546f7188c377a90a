package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"

	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"
)

// layoutRepository is a repository in an OCI image layout directory.
type layoutRepository struct {
	store       *oci.Store
	location    string
	maxManifest int64
}

func (r *layoutRepository) Location() string { return r.location }

func (r *layoutRepository) Fetch(ctx context.Context, target ocispec.Descriptor) (io.ReadCloser, error) {
	rc, err := r.store.Fetch(ctx, target)
	return rc, opError("fetch", r.location, target.Digest.String(), err)
}

func (r *layoutRepository) Push(ctx context.Context, expected ocispec.Descriptor, content io.Reader) error {
	return opError("push", r.location, expected.Digest.String(), r.store.Push(ctx, expected, content))
}

func (r *layoutRepository) Exists(ctx context.Context, target ocispec.Descriptor) (bool, error) {
	ok, err := r.store.Exists(ctx, target)
	return ok, opError("exists", r.location, target.Digest.String(), err)
}

func (r *layoutRepository) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	d, err := r.store.Resolve(ctx, reference)
	return d, opError("resolve", r.location, reference, err)
}

func (r *layoutRepository) Tag(ctx context.Context, desc ocispec.Descriptor, reference string) error {
	return opError("tag", r.location, reference, r.store.Tag(ctx, desc, reference))
}

func (r *layoutRepository) Delete(ctx context.Context, target ocispec.Descriptor) error {
	return opError("delete", r.location, target.Digest.String(), r.store.Delete(ctx, target))
}

func (r *layoutRepository) Tags(ctx context.Context, last string, fn func(tags []string) error) error {
	return opError("tags", r.location, "", r.store.Tags(ctx, last, fn))
}

// Predecessors returns the manifests that refer to node (oras.ExtendedCopy
// uses it to find referrers).
func (r *layoutRepository) Predecessors(ctx context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	return r.store.Predecessors(ctx, node)
}

func (r *layoutRepository) Referrers(ctx context.Context, desc ocispec.Descriptor, artifactType string, fn func([]ocispec.Descriptor) error) error {
	refs, err := referrersFromPredecessors(ctx, r.store, r.store, desc, artifactType, r.maxManifest)
	if err != nil {
		return opError("referrers", r.location, desc.Digest.String(), err)
	}
	if len(refs) == 0 {
		return nil
	}
	return fn(refs)
}

// referrersFromPredecessors lists the manifests whose subject is desc, for
// stores that track predecessors but have no referrers index.
func referrersFromPredecessors(ctx context.Context, p content.PredecessorFinder, f content.Fetcher, desc ocispec.Descriptor, artifactType string, maxManifest int64) ([]ocispec.Descriptor, error) {
	preds, err := p.Predecessors(ctx, desc)
	if err != nil {
		return nil, err
	}
	var out []ocispec.Descriptor
	for _, pred := range preds {
		if pred.MediaType != ocispec.MediaTypeImageManifest && pred.MediaType != ocispec.MediaTypeImageIndex {
			continue
		}
		raw, err := manifest.Fetch(ctx, f, pred, maxManifest)
		if err != nil {
			return nil, err
		}
		var m struct {
			ArtifactType string              `json:"artifactType"`
			Config       ocispec.Descriptor  `json:"config"`
			Subject      *ocispec.Descriptor `json:"subject"`
			Annotations  map[string]string   `json:"annotations"`
		}
		if err := json.Unmarshal(raw, &m); err != nil || m.Subject == nil || m.Subject.Digest != desc.Digest {
			continue
		}
		at := m.ArtifactType
		if at == "" && pred.MediaType == ocispec.MediaTypeImageManifest {
			at = m.Config.MediaType
		}
		if artifactType != "" && at != artifactType {
			continue
		}
		out = append(out, ocispec.Descriptor{
			MediaType:    pred.MediaType,
			Digest:       pred.Digest,
			Size:         pred.Size,
			ArtifactType: at,
			Annotations:  m.Annotations,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest < out[j].Digest })
	return out, nil
}

// memoryRepository is an in-memory repository. It keeps every blob and
// manifest in memory: meant for tests, demos and small artifacts.
type memoryRepository struct {
	location    string
	maxManifest int64

	mu    sync.RWMutex
	blobs map[digest.Digest][]byte
	tags  map[string]ocispec.Descriptor
	preds map[digest.Digest][]ocispec.Descriptor
}

func newMemoryRepository(location string, maxManifest int64) *memoryRepository {
	return &memoryRepository{
		location:    location,
		maxManifest: maxManifest,
		blobs:       map[digest.Digest][]byte{},
		tags:        map[string]ocispec.Descriptor{},
		preds:       map[digest.Digest][]ocispec.Descriptor{},
	}
}

func (r *memoryRepository) Location() string { return r.location }

func (r *memoryRepository) Fetch(_ context.Context, target ocispec.Descriptor) (io.ReadCloser, error) {
	r.mu.RLock()
	b, ok := r.blobs[target.Digest]
	r.mu.RUnlock()
	if !ok {
		return nil, opError("fetch", r.location, target.Digest.String(), errdef.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (r *memoryRepository) Push(_ context.Context, expected ocispec.Descriptor, rd io.Reader) error {
	if err := expected.Digest.Validate(); err != nil {
		return opError("push", r.location, expected.Digest.String(), fmt.Errorf("%w: %w", ErrInvalidReference, err))
	}
	b, err := content.ReadAll(rd, expected)
	if err != nil {
		return opError("push", r.location, expected.Digest.String(), err)
	}
	var succ []ocispec.Descriptor
	if isManifestType(expected.MediaType) {
		if succ, err = successors(b); err != nil {
			return opError("push", r.location, expected.Digest.String(), err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.blobs[expected.Digest]; ok {
		return opError("push", r.location, expected.Digest.String(), errdef.ErrAlreadyExists)
	}
	r.blobs[expected.Digest] = b
	node := ocispec.Descriptor{MediaType: expected.MediaType, Digest: expected.Digest, Size: expected.Size, ArtifactType: expected.ArtifactType, Annotations: expected.Annotations}
	for _, s := range succ {
		if !slices.ContainsFunc(r.preds[s.Digest], func(d ocispec.Descriptor) bool { return d.Digest == node.Digest }) {
			r.preds[s.Digest] = append(r.preds[s.Digest], node)
		}
	}
	return nil
}

func (r *memoryRepository) Exists(_ context.Context, target ocispec.Descriptor) (bool, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.blobs[target.Digest]
	return ok, nil
}

func (r *memoryRepository) Resolve(_ context.Context, reference string) (ocispec.Descriptor, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if d, ok := r.tags[reference]; ok {
		return d, nil
	}
	if dg, err := digest.Parse(reference); err == nil {
		if b, ok := r.blobs[dg]; ok {
			return ocispec.Descriptor{MediaType: sniffMediaType(b), Digest: dg, Size: int64(len(b))}, nil
		}
	}
	return ocispec.Descriptor{}, opError("resolve", r.location, reference, errdef.ErrNotFound)
}

func (r *memoryRepository) Tag(_ context.Context, desc ocispec.Descriptor, reference string) error {
	if !validTag(reference) {
		return opError("tag", r.location, reference, fmt.Errorf("%w: bad tag %q", ErrInvalidReference, reference))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.blobs[desc.Digest]; !ok {
		return opError("tag", r.location, reference, errdef.ErrNotFound)
	}
	r.tags[reference] = ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size, ArtifactType: desc.ArtifactType, Annotations: desc.Annotations}
	return nil
}

func (r *memoryRepository) Delete(_ context.Context, target ocispec.Descriptor) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.blobs[target.Digest]
	if !ok {
		return opError("delete", r.location, target.Digest.String(), errdef.ErrNotFound)
	}
	delete(r.blobs, target.Digest)
	for t, d := range r.tags {
		if d.Digest == target.Digest {
			delete(r.tags, t)
		}
	}
	if isManifestType(target.MediaType) {
		succ, _ := successors(b)
		for _, s := range succ {
			r.preds[s.Digest] = slices.DeleteFunc(r.preds[s.Digest], func(d ocispec.Descriptor) bool { return d.Digest == target.Digest })
		}
	}
	return nil
}

func (r *memoryRepository) Tags(_ context.Context, last string, fn func(tags []string) error) error {
	r.mu.RLock()
	var tags []string
	for t := range r.tags {
		if t > last {
			tags = append(tags, t)
		}
	}
	r.mu.RUnlock()
	sort.Strings(tags)
	if len(tags) == 0 {
		return nil
	}
	return fn(tags)
}

func (r *memoryRepository) Predecessors(_ context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.preds[node.Digest]), nil
}

func (r *memoryRepository) Referrers(ctx context.Context, desc ocispec.Descriptor, artifactType string, fn func([]ocispec.Descriptor) error) error {
	refs, err := referrersFromPredecessors(ctx, r, r, desc, artifactType, r.maxManifest)
	if err != nil {
		return opError("referrers", r.location, desc.Digest.String(), err)
	}
	if len(refs) == 0 {
		return nil
	}
	return fn(refs)
}

// successors returns what a manifest or index refers to: config, layers,
// child manifests and subject.
func successors(raw []byte) ([]ocispec.Descriptor, error) {
	var m struct {
		Config    *ocispec.Descriptor  `json:"config"`
		Layers    []ocispec.Descriptor `json:"layers"`
		Manifests []ocispec.Descriptor `json:"manifests"`
		Subject   *ocispec.Descriptor  `json:"subject"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	var out []ocispec.Descriptor
	if m.Config != nil {
		out = append(out, *m.Config)
	}
	out = append(out, m.Layers...)
	out = append(out, m.Manifests...)
	if m.Subject != nil {
		out = append(out, *m.Subject)
	}
	return out, nil
}

func sniffMediaType(b []byte) string {
	var m struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(b, &m) == nil && m.MediaType != "" {
		return m.MediaType
	}
	return "application/octet-stream"
}
