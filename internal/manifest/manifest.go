// Package manifest reads image manifests and indexes for cssc's packages:
// Fetch reads one into memory under a cap and checks its size and digest,
// Parse decodes it (OCI and Docker v2 media types alike) and checks its
// shape. Errors wrap the sentinels of package registry (ErrSizeExceeded,
// ErrDigestMismatch, ErrSizeMismatch, ErrInvalidManifest, ...).
package manifest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-go/cssc/internal/regerr"
)

// Docker v2 schema 2 media types (registry exports the same values).
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// DefaultMaxBytes is the cap Fetch applies when given none: 4 MiB.
const DefaultMaxBytes = 4 << 20

// Supported reports whether a media type is a manifest or index media type
// cssc understands (OCI and Docker v2 schema 2).
func Supported(mt string) bool {
	switch mt {
	case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex, MediaTypeDockerManifest, MediaTypeDockerManifestList:
		return true
	}
	return false
}

// IsIndex reports whether a media type is an image index or manifest list.
func IsIndex(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == MediaTypeDockerManifestList
}

// IsManifest reports whether a media type is a single image manifest.
func IsManifest(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageManifest || mediaType == MediaTypeDockerManifest
}

// Fetch reads the manifest (or index) desc into memory, refusing anything
// larger than max bytes (max <= 0 means DefaultMaxBytes), and verifies its
// size and digest. A descriptor that claims more than max fails with
// ErrSizeExceeded before any byte is read; content that does not match the
// descriptor fails with ErrDigestMismatch, ErrSizeExceeded (more bytes than
// the descriptor says) or ErrSizeMismatch (fewer, or a response length that
// disagrees with the descriptor).
func Fetch(ctx context.Context, f content.Fetcher, desc ocispec.Descriptor, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxBytes
	}
	if desc.Size > max || desc.Size < 0 {
		return nil, fmt.Errorf("manifest %s: %w: %d bytes, cap %d", desc.Digest, regerr.ErrSizeExceeded, desc.Size, max)
	}
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("manifest %q: %w: %w", desc.Digest, regerr.ErrInvalidReference, err)
	}
	rc, err := f.Fetch(ctx, desc)
	if err != nil {
		return nil, regerr.Classify(err)
	}
	defer rc.Close()
	b, err := content.ReadAll(io.LimitReader(rc, max+1), desc)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("manifest %s: %w: %w", desc.Digest, regerr.ErrSizeMismatch, err)
	}
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, regerr.Classify(err))
	}
	return b, nil
}

// Manifest is an image manifest or index with the fields cssc reads; it
// decodes OCI and Docker v2 media types alike.
type Manifest struct {
	MediaType    string               `json:"mediaType,omitempty"`
	ArtifactType string               `json:"artifactType,omitempty"`
	Config       *ocispec.Descriptor  `json:"config,omitempty"`
	Layers       []ocispec.Descriptor `json:"layers,omitempty"`
	Manifests    []ocispec.Descriptor `json:"manifests,omitempty"`
	Subject      *ocispec.Descriptor  `json:"subject,omitempty"`
	Annotations  map[string]string    `json:"annotations,omitempty"`
}

// Parse decodes raw as the manifest or index of media type mediaType and
// checks its shape: a manifest has a config, an index has no layers, and
// every descriptor has a valid digest and a non-negative size. Errors wrap
// ErrInvalidManifest.
func Parse(mediaType string, raw []byte) (*Manifest, error) {
	if !Supported(mediaType) {
		return nil, fmt.Errorf("%w: unsupported media type %q", regerr.ErrInvalidManifest, mediaType)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", regerr.ErrInvalidManifest, err)
	}
	if m.MediaType != "" && m.MediaType != mediaType {
		return nil, fmt.Errorf("%w: media type %q in body, %q in descriptor", regerr.ErrInvalidManifest, m.MediaType, mediaType)
	}
	m.MediaType = mediaType
	if IsIndex(mediaType) {
		if m.Config != nil || len(m.Layers) > 0 {
			return nil, fmt.Errorf("%w: index has config or layers", regerr.ErrInvalidManifest)
		}
		for _, d := range m.Manifests {
			if err := check("child", d); err != nil {
				return nil, err
			}
		}
	} else {
		if m.Config == nil {
			return nil, fmt.Errorf("%w: manifest has no config", regerr.ErrInvalidManifest)
		}
		if len(m.Manifests) > 0 {
			return nil, fmt.Errorf("%w: manifest has child manifests", regerr.ErrInvalidManifest)
		}
		if err := check("config", *m.Config); err != nil {
			return nil, err
		}
		for _, d := range m.Layers {
			if err := check("layer", d); err != nil {
				return nil, err
			}
		}
	}
	if m.Subject != nil {
		if err := check("subject", *m.Subject); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// check validates one descriptor of a manifest: a valid digest and a
// non-negative size.
func check(what string, d ocispec.Descriptor) error {
	if err := d.Digest.Validate(); err != nil {
		return fmt.Errorf("%w: %s digest %q: %w", regerr.ErrInvalidManifest, what, d.Digest, err)
	}
	if d.Size < 0 {
		return fmt.Errorf("%w: %s %s has negative size", regerr.ErrInvalidManifest, what, d.Digest)
	}
	return nil
}
