package notation

import (
	"context"
	"errors"

	notationregistry "github.com/notaryproject/notation-go/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/registry"
)

// graphRepository makes a registry.Repository an oras.GraphTarget, which is
// what notation-go's registry adapter wants. Predecessors is answered from
// the referrers of the node; notation-go calls it only for targets without
// Referrers, which a registry.Repository always has, so it is a fallback.
type graphRepository struct {
	registry.Repository
}

// Predecessors returns the manifests that refer to node as their subject.
func (g graphRepository) Predecessors(ctx context.Context, node ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	return registry.Referrers(ctx, g.Repository, node, "")
}

// newNotationRepository adapts repo to notation-go's registry.Repository
// through notation-go's own adapter, so that the signature manifests have
// exactly the shape the notation CLI writes.
func newNotationRepository(repo registry.Repository) notationregistry.Repository {
	return notationregistry.NewRepository(graphRepository{repo})
}

// recordingRepository remembers the descriptor of the signature manifest
// that notation.Sign pushes (notation.Sign returns the subject's).
type recordingRepository struct {
	notationregistry.Repository
	manifest ocispec.Descriptor
}

// PushSignature pushes the envelope and the signature manifest and records
// the manifest's descriptor.
func (r *recordingRepository) PushSignature(ctx context.Context, mediaType string, blob []byte, subject ocispec.Descriptor, annotations map[string]string) (ocispec.Descriptor, ocispec.Descriptor, error) {
	blobDesc, manifestDesc, err := r.Repository.PushSignature(ctx, mediaType, blob, subject, annotations)
	if err != nil {
		return blobDesc, manifestDesc, err
	}
	if manifestDesc.ArtifactType == "" {
		manifestDesc.ArtifactType = artifact.TypeNotarySignature
	}
	if manifestDesc.Annotations == nil {
		manifestDesc.Annotations = annotations
	}
	r.manifest = manifestDesc
	return blobDesc, manifestDesc, nil
}

// ListSignatures is not used: verification lists signatures itself.
func (r *recordingRepository) ListSignatures(context.Context, ocispec.Descriptor, func([]ocispec.Descriptor) error) error {
	return errors.New("not supported")
}
