package sign

import (
	"context"
	"fmt"
	"slices"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/registry"
)

// TreeOptions configure SignTree. The zero value signs the subject and
// every referrer, recursively up to depth 4, except signatures.
type TreeOptions struct {
	// Skip lists artifact types not to sign (their referrers are not
	// visited either). Signatures (artifact.TypeNotarySignature,
	// artifact.TypeSigstoreBundle) are always skipped. Nil means none more.
	Skip []string
	// MaxDepth caps how deep referrers of referrers are followed. Zero
	// means 4; negative means the subject only.
	MaxDepth int
	// MaxArtifacts caps how many manifests are signed in total. Zero
	// means 1000; more gives an error before anything beyond is signed.
	MaxArtifacts int
}

// SignTree signs subject and every artifact attached to it as a referrer
// (SBOMs, reports, attestations, lifecycle markers, and their own
// referrers), each by its manifest digest exactly like an image. Existing
// signatures are not signed. Referrers are listed before anything is
// signed, so the signatures SignTree adds are never visited. It returns
// the descriptors of the manifests signed, subject first; on error, the
// ones signed so far.
func SignTree(ctx context.Context, s Signer, repo registry.Repository, subject ocispec.Descriptor, opts TreeOptions) ([]ocispec.Descriptor, error) {
	if err := CheckSubject(subject); err != nil {
		return nil, err
	}
	maxDepth := opts.MaxDepth
	if maxDepth == 0 {
		maxDepth = 4
	}
	maxN := opts.MaxArtifacts
	if maxN <= 0 {
		maxN = 1000
	}
	skip := append([]string{artifact.TypeNotarySignature, artifact.TypeSigstoreBundle}, opts.Skip...)

	// Collect the tree first (breadth first), then sign.
	todo := []ocispec.Descriptor{subject}
	seen := map[string]bool{subject.Digest.String(): true}
	for depth, level := 0, []ocispec.Descriptor{subject}; depth < maxDepth && len(level) > 0; depth++ {
		var next []ocispec.Descriptor
		for _, d := range level {
			refs, err := registry.Referrers(ctx, repo, d, "")
			if err != nil {
				return nil, fmt.Errorf("sign tree: referrers of %s: %w", d.Digest, err)
			}
			for _, r := range refs {
				if seen[r.Digest.String()] || slices.Contains(skip, r.ArtifactType) {
					continue
				}
				seen[r.Digest.String()] = true
				if len(todo) >= maxN {
					return nil, fmt.Errorf("sign tree: more than %d artifacts under %s", maxN, subject.Digest)
				}
				r.Annotations = nil
				todo = append(todo, r)
				next = append(next, r)
			}
		}
		level = next
	}
	var done []ocispec.Descriptor
	for _, d := range todo {
		if _, err := s.Sign(ctx, repo, d); err != nil {
			return done, fmt.Errorf("sign tree: %s: %w", d.Digest, err)
		}
		done = append(done, d)
	}
	return done, nil
}
