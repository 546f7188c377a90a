package lifecycle

import (
	"context"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"

	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
)

// maxArchiveDepth caps how deep referrers of referrers are copied (a
// signature of a report of a platform manifest of an index is depth 3).
const maxArchiveDepth = 4

// maxArchiveNodes caps the manifests one archive copies.
const maxArchiveNodes = 10000

// copyTree copies root (a manifest or index with everything it refers to)
// from src to dst, then every referrer of root and, for an index, of its
// manifests, recursively: signatures, SBOMs, reports and lifecycle markers
// move with the image and still verify in the archive.
func copyTree(ctx context.Context, src, dst registry.Repository, root ocispec.Descriptor, depth int) error {
	n := 0
	return copyNode(ctx, src, dst, root, depth, &n)
}

func copyNode(ctx context.Context, src, dst registry.Repository, root ocispec.Descriptor, depth int, n *int) error {
	if *n++; *n > maxArchiveNodes {
		return fmt.Errorf("more than %d manifests under %s", maxArchiveNodes, root.Digest)
	}
	if err := oras.CopyGraph(ctx, src, dst, root, oras.CopyGraphOptions{}); err != nil {
		return fmt.Errorf("copy %s: %w", root.Digest, err)
	}
	if depth >= maxArchiveDepth {
		return nil
	}
	subjects := []ocispec.Descriptor{root}
	if manifest.IsIndex(root.MediaType) {
		raw, err := manifest.Fetch(ctx, src, root, 0)
		if err != nil {
			return err
		}
		idx, err := manifest.Parse(root.MediaType, raw)
		if err != nil {
			return err
		}
		subjects = append(subjects, idx.Manifests...)
	}
	for _, s := range subjects {
		refs, err := registry.Referrers(ctx, src, s, "")
		if err != nil {
			return fmt.Errorf("referrers of %s: %w", s.Digest, err)
		}
		for _, ref := range refs {
			ref := ocispec.Descriptor{MediaType: ref.MediaType, Digest: ref.Digest, Size: ref.Size, ArtifactType: ref.ArtifactType, Annotations: ref.Annotations}
			if err := copyNode(ctx, src, dst, ref, depth+1, n); err != nil {
				return err
			}
		}
	}
	return nil
}
