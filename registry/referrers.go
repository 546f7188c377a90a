package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	orasregistry "oras.land/oras-go/v2/registry"
)

// MaxReferrers caps how many referrers Referrers collects for one subject.
const MaxReferrers = 10000

// Referrers lists the manifests that refer to subject, optionally only those
// of one artifactType (empty means all). The filter is applied again on the
// client side, since registries may ignore it. Results are sorted by digest
// and capped at MaxReferrers (more gives ErrSizeExceeded). A subject without
// referrers gives an empty list, not an error.
func Referrers(ctx context.Context, repo orasregistry.ReferrerLister, subject ocispec.Descriptor, artifactType string) ([]ocispec.Descriptor, error) {
	var out []ocispec.Descriptor
	err := repo.Referrers(ctx, subject, artifactType, func(page []ocispec.Descriptor) error {
		for _, d := range page {
			if artifactType != "" && d.ArtifactType != artifactType {
				continue
			}
			if len(out) >= MaxReferrers {
				return fmt.Errorf("referrers of %s: %w: more than %d", subject.Digest, ErrSizeExceeded, MaxReferrers)
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, classify(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Digest < out[j].Digest })
	return out, nil
}

func isNotFound(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, errdef.ErrNotFound)
}

// Blob is one layer of an Artifact.
type Blob struct {
	MediaType   string
	Data        []byte
	Annotations map[string]string
}

// Artifact is an OCI 1.1 artifact to attach to a subject: a manifest with
// artifactType, subject, annotations and one or more blobs.
type Artifact struct {
	// ArtifactType is the manifest's artifactType. Required.
	ArtifactType string
	// Blobs are the layers, in order. Empty means the OCI empty descriptor.
	Blobs []Blob
	// Annotations are the manifest annotations.
	Annotations map[string]string
	// Created is written as org.opencontainers.image.created, unless
	// Annotations sets it already. The zero time means the Unix epoch: cssc
	// never stamps "now", so that attaching the same content twice gives the
	// same digest.
	Created time.Time
}

// Manifest builds the artifact's manifest against subject and returns its
// bytes and descriptor, without pushing anything.
func (a Artifact) Manifest(subject ocispec.Descriptor) ([]byte, ocispec.Descriptor, error) {
	if a.ArtifactType == "" {
		return nil, ocispec.Descriptor{}, fmt.Errorf("%w: artifact has no artifactType", ErrInvalidManifest)
	}
	ann := maps.Clone(a.Annotations)
	if ann == nil {
		ann = map[string]string{}
	}
	if _, ok := ann[ocispec.AnnotationCreated]; !ok {
		ann[ocispec.AnnotationCreated] = a.Created.UTC().Format(time.RFC3339)
	}
	m := ocispec.Manifest{
		Versioned:    specsV2,
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: a.ArtifactType,
		Config:       ocispec.DescriptorEmptyJSON,
		Subject: &ocispec.Descriptor{
			MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size,
		},
		Annotations: ann,
	}
	for _, b := range a.Blobs {
		m.Layers = append(m.Layers, ocispec.Descriptor{
			MediaType: b.MediaType, Digest: digest.FromBytes(b.Data), Size: int64(len(b.Data)), Annotations: b.Annotations,
		})
	}
	if len(m.Layers) == 0 {
		m.Layers = []ocispec.Descriptor{ocispec.DescriptorEmptyJSON}
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	desc := ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(raw), Size: int64(len(raw)),
		ArtifactType: a.ArtifactType, Annotations: ann,
	}
	return raw, desc, nil
}

// Attach pushes artifact as a referrer of subject in repo and returns the
// artifact manifest's descriptor. Attaching the same content twice gives the
// same digest and pushes nothing the second time. On registries without the
// referrers API the fallback tag schema is used (and old referrers indexes
// are kept, see remote.Repository.SkipReferrersGC).
func Attach(ctx context.Context, repo content.Storage, subject ocispec.Descriptor, artifact Artifact) (ocispec.Descriptor, error) {
	raw, desc, err := artifact.Manifest(subject)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	blobs := []ocispec.Descriptor{ocispec.DescriptorEmptyJSON}
	data := [][]byte{ocispec.DescriptorEmptyJSON.Data}
	for _, b := range artifact.Blobs {
		blobs = append(blobs, ocispec.Descriptor{MediaType: b.MediaType, Digest: digest.FromBytes(b.Data), Size: int64(len(b.Data))})
		data = append(data, b.Data)
	}
	for i, d := range blobs {
		if err := pushIfMissing(ctx, repo, d, data[i]); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	if err := pushIfMissing(ctx, repo, desc, raw); err != nil {
		return ocispec.Descriptor{}, err
	}
	return desc, nil
}

func pushIfMissing(ctx context.Context, s content.Storage, d ocispec.Descriptor, data []byte) error {
	ok, err := s.Exists(ctx, d)
	if err != nil {
		return classify(err)
	}
	if ok {
		return nil
	}
	if err := s.Push(ctx, d, bytes.NewReader(data)); err != nil && !errors.Is(err, ErrAlreadyExists) && !errors.Is(err, errdef.ErrAlreadyExists) {
		return classify(err)
	}
	return nil
}
