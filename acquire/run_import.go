package acquire

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
)

// open parses the source and opens the quarantine and golden repositories.
func (r *run) open(ctx context.Context) error {
	src, err := registry.ParseLocation(r.rec.Source)
	if err != nil {
		return err
	}
	if src.Reference() == "" {
		if src.Kind != registry.KindRemote {
			return fmt.Errorf("source %q has no tag or digest", r.rec.Source)
		}
		src.Tag = "latest"
	}
	r.src = src
	r.repoPath = r.opts.Repository
	if r.repoPath == "" {
		switch src.Kind {
		case registry.KindRemote:
			r.repoPath = src.Ref.Repository
		default:
			r.repoPath = strings.TrimPrefix(src.Repository[strings.LastIndex(src.Repository, "/")+1:], src.Kind+":")
		}
	}
	if !repositoryPath.MatchString(r.repoPath) {
		return fmt.Errorf("%w: repository path %q is not a valid repository name", registry.ErrInvalidReference, r.repoPath)
	}
	cfg := r.p.cfg
	r.rec.Quarantine = registry.Join(cfg.Quarantine, r.repoPath)
	r.rec.Golden = registry.Join(cfg.Golden, r.repoPath)
	r.rec.Tag = src.Tag
	if r.qrepo, err = cfg.Client.Repository(ctx, r.rec.Quarantine); err != nil {
		return err
	}
	if r.grepo, err = cfg.Client.Repository(ctx, r.rec.Golden); err != nil {
		return err
	}
	return nil
}

func (r *run) doImport(ctx context.Context) (Verdict, string, map[string]any, error) {
	opts := r.p.cfg.Import
	if len(r.opts.Platforms) > 0 {
		opts.Platforms = r.opts.Platforms
	}
	opts.Tags = append(slices.Clone(opts.Tags), r.opts.Tags...)
	opts.Artifacts.Deny = append(slices.Clone(opts.Artifacts.Deny),
		ArtifactRule{Annotations: map[string]string{artifact.AnnotationGeneratedBy: "*"}},
		ArtifactRule{ArtifactType: artifact.TypeLifecycle},
	)
	if r.p.cfg.OnEvent != nil {
		user := opts.Progress
		opts.Progress = func(bp BlobProgress) {
			r.emit(Event{Step: StepImport, Blob: &bp})
			if user != nil {
				user(bp)
			}
		}
	}
	src := r.src.String()
	im, err := r.p.cfg.Importer.Import(ctx, src, r.qrepo, opts)
	if err != nil {
		return "", "", nil, err
	}
	r.imported = im
	r.root = im.Descriptor
	r.rec.SourceDigest = im.SourceDigest
	r.rec.Digest = im.Descriptor.Digest
	if err := r.loadImages(ctx); err != nil {
		return "", "", nil, err
	}
	out := map[string]any{
		"sourceDigest": im.SourceDigest, "digest": im.Descriptor.Digest, "unchanged": im.Unchanged,
		"bytesMoved": im.BytesMoved, "artifactsCopied": im.ArtifactsCopied(), "artifactsSkipped": im.ArtifactsSkipped(),
		"requests": im.Requests,
	}
	if len(im.Changes) > 0 {
		out["tagChanges"] = im.Changes
	}
	reason := fmt.Sprintf("%s imported as %s", src, im.Descriptor.Digest)
	if im.Unchanged {
		reason = "quarantine already holds " + im.Descriptor.Digest.String()
	}
	return VerdictOK, reason, out, nil
}

// repositoryPath is the distribution spec's repository name grammar: no
// "..", no empty or leading segment, lower case.
var repositoryPath = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)

// loadImages lists the platform image manifests of the root.
func (r *run) loadImages(ctx context.Context) error {
	r.images = nil
	if manifest.IsManifest(r.root.MediaType) {
		r.images = []platformImage{{desc: r.root, platform: r.root.Platform}}
		return nil
	}
	if !manifest.IsIndex(r.root.MediaType) {
		return fmt.Errorf("%w: root media type %q is neither an image manifest nor an index", registry.ErrInvalidManifest, r.root.MediaType)
	}
	raw, err := manifest.Fetch(ctx, r.qrepo, r.root, r.p.cfg.Client.MaxManifestBytes())
	if err != nil {
		return err
	}
	idx, err := manifest.Parse(r.root.MediaType, raw)
	if err != nil {
		return err
	}
	for _, d := range idx.Manifests {
		// Every entry of the index reaches golden with it, so every entry
		// is either checked as an image or provably not one: fail closed
		// on anything else.
		if !manifest.IsManifest(d.MediaType) {
			return fmt.Errorf("%w: index %s holds %s (%s): nested indexes are not supported", registry.ErrInvalidManifest, r.root.Digest, d.Digest, d.MediaType)
		}
		if d.Annotations[artifact.AnnotationDockerReferenceType] == artifact.AttestationManifest {
			if err := r.checkAttestationEntry(ctx, d); err != nil {
				return err
			}
			continue
		}
		r.images = append(r.images, platformImage{desc: d, platform: d.Platform})
		if p := (platformImage{platform: d.Platform}).name(); p != "" {
			r.rec.Platforms = append(r.rec.Platforms, p)
		}
	}
	if len(r.images) == 0 {
		return fmt.Errorf("%w: index %s has no image manifests", registry.ErrInvalidManifest, r.root.Digest)
	}
	return nil
}

// checkAttestationEntry accepts an index entry as a buildkit attestation
// manifest (which is not scanned) only if it cannot be run and holds
// nothing but in-toto statements: platform unknown/unknown, and every layer
// parses as an in-toto statement (plain, or in a DSSE envelope). A layer
// that only claims the media type (a tar under an in-toto label) fails the
// run: nothing unscanned reaches golden.
func (r *run) checkAttestationEntry(ctx context.Context, d ocispec.Descriptor) error {
	if d.Platform == nil || d.Platform.OS != "unknown" || d.Platform.Architecture != "unknown" {
		return fmt.Errorf("%w: index entry %s is marked as an attestation but has a runnable platform", registry.ErrInvalidManifest, d.Digest)
	}
	raw, err := manifest.Fetch(ctx, r.qrepo, d, r.p.cfg.Client.MaxManifestBytes())
	if err != nil {
		return err
	}
	m, err := manifest.Parse(d.MediaType, raw)
	if err != nil {
		return err
	}
	for _, l := range m.Layers {
		if l.MediaType != artifact.MediaTypeInToto && l.MediaType != artifact.MediaTypeDSSE {
			return fmt.Errorf("%w: attestation entry %s has a %s layer", registry.ErrInvalidManifest, d.Digest, l.MediaType)
		}
		if l.Size > attest.MaxStatementBytes {
			return fmt.Errorf("%w: attestation entry %s: layer %s of %d bytes is larger than a statement may be (%d)", registry.ErrInvalidManifest, d.Digest, l.Digest, l.Size, attest.MaxStatementBytes)
		}
		data, err := manifest.Fetch(ctx, r.qrepo, l, attest.MaxStatementBytes)
		if err != nil {
			return fmt.Errorf("attestation entry %s: layer %s: %w", d.Digest, l.Digest, err)
		}
		if l.MediaType == artifact.MediaTypeDSSE {
			env, perr := attest.ParseDSSE(data)
			if perr == nil {
				_, perr = env.Statement()
			}
			err = perr
		} else {
			_, err = attest.ParseStatement(data)
		}
		if err != nil {
			return fmt.Errorf("%w: attestation entry %s: layer %s is not an in-toto statement, so the entry would reach golden unscanned: %w", registry.ErrInvalidManifest, d.Digest, l.Digest, err)
		}
	}
	return nil
}
