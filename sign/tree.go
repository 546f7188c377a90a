package sign

import (
	"context"
	"fmt"
	"slices"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
)

// TreeOptions configure SignTree. The zero value signs the subject and
// every referrer, recursively up to depth 4, except signatures, and signs
// each of them afresh.
type TreeOptions struct {
	// Skip lists artifact types not to sign (their referrers are not
	// visited either). Signatures (artifact.TypeNotarySignature,
	// artifact.TypeSigstoreBundle) are always skipped. Nil means none more.
	Skip []string
	// Select, if not nil, is asked about every referrer (and, with
	// IndexManifests, every manifest of the index) that Skip lets through:
	// only those it returns true for are signed, and only their referrers
	// are visited. Nil means all of them.
	Select func(ocispec.Descriptor) bool
	// IndexManifests, when the subject is an index, also signs the
	// manifests it lists (one per platform) and visits their referrers, at
	// depth 1 like the subject's own referrers. False signs the index
	// alone.
	IndexManifests bool
	// Reuse, if not nil, is asked before each manifest is signed: when it
	// reports a verified signature whose Signature.Digest names a signature
	// manifest that the repository holds, that signature is reused
	// (Signed.Reused) and nothing is signed, so that signing the same tree
	// twice adds no signatures. A verified signature without Digest cannot
	// be reused: the manifest is signed again. An error from Reuse stops
	// SignTree. Nil means every manifest is signed.
	Reuse Verifier
	// ReuseAs is the repository name Reuse verifies under (see VerifyAs):
	// the Acquire pipeline signs in quarantine what goes to golden, and its
	// enterprise trust policy is written for golden's names. Empty means
	// the repository's own name.
	ReuseAs string
	// MaxDepth caps how deep referrers of referrers are followed. Zero
	// means 4; negative means the subject only.
	MaxDepth int
	// MaxArtifacts caps how many manifests are signed in total. Zero
	// means 1000; more gives an error before anything beyond is signed.
	MaxArtifacts int
}

// Signed is one manifest that SignTree signed, with its signature.
type Signed struct {
	// Subject is the manifest that was signed.
	Subject ocispec.Descriptor
	// Signature is the signature manifest: the one the Signer stored, or
	// the one reused (see TreeOptions.Reuse).
	Signature ocispec.Descriptor
	// Reused is true when the signature was already there and nothing was
	// signed.
	Reused bool
}

// SignTree signs subject and every artifact attached to it as a referrer
// (SBOMs, reports, attestations, lifecycle markers, and their own
// referrers), each by its manifest digest exactly like an image; with
// TreeOptions.IndexManifests, also the platform manifests of an index and
// their referrers. Existing signatures are not signed. The tree is listed
// before anything is signed, so the signatures SignTree adds are never
// visited. It returns what it signed, subject first, then breadth first; on
// error, what it signed so far.
func SignTree(ctx context.Context, s Signer, repo registry.Repository, subject ocispec.Descriptor, opts TreeOptions) ([]Signed, error) {
	if err := CheckSubject(subject); err != nil {
		return nil, err
	}
	todo, err := listTree(ctx, repo, subject, opts)
	if err != nil {
		return nil, err
	}
	var done []Signed
	for _, d := range todo {
		sd, err := signOnce(ctx, s, opts.Reuse, opts.ReuseAs, repo, d)
		if err != nil {
			return done, fmt.Errorf("sign tree: %w", err)
		}
		done = append(done, sd)
	}
	return done, nil
}

// listTree lists the manifests SignTree signs, breadth first.
func listTree(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor, opts TreeOptions) ([]ocispec.Descriptor, error) {
	maxDepth := opts.MaxDepth
	if maxDepth == 0 {
		maxDepth = 4
	}
	maxN := opts.MaxArtifacts
	if maxN <= 0 {
		maxN = 1000
	}
	skip := append([]string{artifact.TypeNotarySignature, artifact.TypeSigstoreBundle}, opts.Skip...)
	todo := []ocispec.Descriptor{subject}
	seen := map[string]bool{subject.Digest.String(): true}
	// add queues d unless it was seen, is skipped or is not selected.
	add := func(d ocispec.Descriptor, next *[]ocispec.Descriptor) error {
		if seen[d.Digest.String()] || slices.Contains(skip, d.ArtifactType) || opts.Select != nil && !opts.Select(d) {
			return nil
		}
		seen[d.Digest.String()] = true
		if len(todo) >= maxN {
			return fmt.Errorf("sign tree: more than %d artifacts under %s", maxN, subject.Digest)
		}
		todo = append(todo, d)
		*next = append(*next, d)
		return nil
	}
	level := []ocispec.Descriptor{subject}
	for depth := 0; depth < maxDepth && len(level) > 0; depth++ {
		var next []ocispec.Descriptor
		if depth == 0 && opts.IndexManifests && manifest.IsIndex(subject.MediaType) {
			children, err := indexManifests(ctx, repo, subject)
			if err != nil {
				return nil, err
			}
			for _, c := range children {
				if err := add(c, &next); err != nil {
					return nil, err
				}
			}
		}
		for _, d := range level {
			refs, err := registry.Referrers(ctx, repo, d, "")
			if err != nil {
				return nil, fmt.Errorf("sign tree: referrers of %s: %w", d.Digest, err)
			}
			for _, r := range refs {
				r.Annotations = nil
				if err := add(r, &next); err != nil {
					return nil, err
				}
			}
		}
		level = next
	}
	return todo, nil
}

// indexManifests lists the manifests of the index desc.
func indexManifests(ctx context.Context, repo registry.Repository, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	raw, err := manifest.Fetch(ctx, repo, desc, 0)
	if err != nil {
		return nil, fmt.Errorf("sign tree: %w", err)
	}
	idx, err := manifest.Parse(desc.MediaType, raw)
	if err != nil {
		return nil, fmt.Errorf("sign tree: %w", err)
	}
	return idx.Manifests, nil
}

// signOnce signs subject unless reuse verifies a signature of it that the
// repository holds.
func signOnce(ctx context.Context, s Signer, reuse Verifier, reuseAs string, repo registry.Repository, subject ocispec.Descriptor) (Signed, error) {
	if reuse != nil {
		res, err := VerifyAs(ctx, reuse, repo, reuseAs, subject)
		if err != nil {
			return Signed{}, fmt.Errorf("verify existing signatures of %s: %w", subject.Digest, err)
		}
		if res == nil {
			return Signed{}, fmt.Errorf("verify existing signatures of %s: verifier returned no verification", subject.Digest)
		}
		for _, sig := range res.Signatures {
			if sig.State == StateVerified && sig.Digest != "" {
				if d, err := repo.Resolve(ctx, sig.Digest.String()); err == nil {
					return Signed{Subject: subject, Signature: d, Reused: true}, nil
				}
			}
		}
	}
	d, err := s.Sign(ctx, repo, subject)
	if err != nil {
		return Signed{}, fmt.Errorf("sign %s: %w", subject.Digest, err)
	}
	return Signed{Subject: subject, Signature: d}, nil
}
