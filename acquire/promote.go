package acquire

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
)

// promotion copies an image and a chosen set of its referrers from
// quarantine to golden. Content is copied first, subjects before their
// referrers (so registries without the referrers API index them), and the
// tag is moved last: golden never has a tag on an incomplete image.
type promotion struct {
	src, dst    registry.Repository
	root        ocispec.Descriptor
	artifacts   []ocispec.Descriptor // in dependency order: artifacts, then their signatures
	tagged      []taggedArtifact     // publisher artifacts stored under a cosign tag
	concurrency int
}

// taggedArtifact is a publisher artifact that is found by its tag, not as
// a referrer: cosign's "sha256-<hex>.sig", ".att" and ".sbom" tags.
type taggedArtifact struct {
	desc ocispec.Descriptor
	tag  string
}

// copyContent copies the image graph and every artifact, and sets the
// cosign tags of tagged artifacts (each points at a complete signature or
// attestation manifest, which is all cosign needs); it does not tag the
// image.
func (p promotion) copyContent(ctx context.Context) error {
	opts := oras.CopyGraphOptions{Concurrency: p.concurrency, MountFrom: p.mountFrom()}
	if err := oras.CopyGraph(ctx, p.src, p.dst, p.root, opts); err != nil {
		return fmt.Errorf("copy image %s: %w", p.root.Digest, err)
	}
	for _, a := range p.artifacts {
		if err := oras.CopyGraph(ctx, p.src, p.dst, a, opts); err != nil {
			return fmt.Errorf("copy artifact %s: %w", a.Digest, err)
		}
	}
	for _, a := range p.tagged {
		if err := oras.CopyGraph(ctx, p.src, p.dst, a.desc, opts); err != nil {
			return fmt.Errorf("copy artifact %s (tag %s): %w", a.desc.Digest, a.tag, err)
		}
		if err := p.dst.Tag(ctx, a.desc, a.tag); err != nil {
			return fmt.Errorf("tag artifact %s as %s: %w", a.desc.Digest, a.tag, err)
		}
	}
	return nil
}

// mountFrom mounts blobs from the quarantine repository when quarantine and
// golden are on the same registry host. oras-go falls back to a normal
// upload when the mount is refused.
func (p promotion) mountFrom() func(context.Context, ocispec.Descriptor) ([]string, error) {
	src, err1 := registry.ParseLocation(p.src.Location())
	dst, err2 := registry.ParseLocation(p.dst.Location())
	if err1 != nil || err2 != nil || src.Kind != registry.KindRemote || dst.Kind != registry.KindRemote || src.Ref.Registry != dst.Ref.Registry {
		return nil
	}
	from := strings.TrimPrefix(src.Repository, src.Ref.Registry+"/")
	return func(context.Context, ocispec.Descriptor) ([]string, error) { return []string{from}, nil }
}

// alreadyPromoted reports whether golden holds this digest under every
// requested tag with a verification summary that cssc signed, that says
// PASSED, and that names the policy in force: then the run is a cheap
// no-op. Anything less (an audit-mode promotion, another policy, a missing
// tag, an unsigned summary) runs the whole pipeline again.
func (r *run) alreadyPromoted(ctx context.Context) (bool, error) {
	if r.rec.Tag == "" || !r.imported.Unchanged || r.p.cfg.EnterpriseVerifier == nil {
		return false, nil
	}
	for _, t := range r.goldenTags() {
		cur, err := r.grepo.Resolve(ctx, t)
		if err != nil || cur.Digest != r.root.Digest {
			return false, nil
		}
	}
	opts := r.discoverOptions()
	opts.Logger = nil
	md, err := attest.Discover(ctx, r.grepo, r.root, opts)
	if err != nil {
		return false, nil
	}
	for _, it := range md.For(r.root.Digest) {
		if it.Form != attest.FormReferrer || it.PredicateType != artifact.PredicateVerificationSummaryV1 || it.Statement == nil || it.Err != nil {
			continue
		}
		vsa, _, err := attest.ParseVerificationSummary(it.Statement)
		if err != nil || vsa.GetVerificationResult() != attest.ResultPassed {
			continue
		}
		if want := r.p.cfg.PolicyRef.Digest; want != "" && vsa.GetPolicy().GetDigest()[want.Algorithm().String()] != want.Encoded() {
			continue
		}
		v, err := r.p.cfg.EnterpriseVerifier.Verify(ctx, r.grepo, it.Manifest)
		if err != nil || v == nil || !v.Verified() {
			continue
		}
		r.rec.Outcome = OutcomeUnchanged
		r.rec.Reason = "golden already holds " + r.root.Digest.String() + " under its tags, with a signed verification summary " + it.Manifest.Digest.String() + " (PASSED, same policy)"
		return true, nil
	}
	return false, nil
}

// goldenTags are the tags the image gets in golden.
func (r *run) goldenTags() []string {
	var tags []string
	for _, t := range append(append([]string{r.rec.Tag}, r.opts.Tags...), r.p.cfg.Import.Tags...) {
		if t != "" && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	return tags
}

// promote copies the image and its artifacts to golden, attaches and signs
// the verification summary there, checks the enterprise signature, and
// moves the tags last.
func (r *run) promote(ctx context.Context) (Verdict, string, map[string]any, error) {
	// What each golden tag points at before it moves: the record says it
	// for the source tag, and the verification summary keeps it for all,
	// so that a later denial can move a tag back (withdraw).
	r.previous = map[string]digest.Digest{}
	for _, t := range r.goldenTags() {
		cur, err := r.grepo.Resolve(ctx, t)
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return "", "", nil, err
		}
		if err == nil && cur.Digest != r.root.Digest {
			r.previous[t] = cur.Digest
		}
	}
	r.rec.PreviousGoldenDigest = r.previous[r.rec.Tag]
	arts, err := r.promotedArtifacts(ctx)
	if err != nil {
		return "", "", nil, err
	}
	tagged, err := r.promotedTags(ctx)
	if err != nil {
		return "", "", nil, err
	}
	pr := promotion{src: r.qrepo, dst: r.grepo, root: r.root, artifacts: arts, tagged: tagged, concurrency: 4}
	if err := pr.copyContent(ctx); err != nil {
		return "", "", nil, err
	}
	promoted := append([]digest.Digest{r.root.Digest}, digestsOf(arts)...)
	var out map[string]any
	if len(tagged) > 0 {
		tags := make([]string, len(tagged))
		for i, a := range tagged {
			promoted = append(promoted, a.desc.Digest)
			tags[i] = a.tag
		}
		out = map[string]any{"cosignTags": tags}
	}
	summaries, err := r.attachSummary(ctx)
	if err != nil {
		return "", "", nil, err
	}
	promoted = append(promoted, summaries...)
	if err := r.checkGolden(ctx); err != nil {
		return "", "", nil, err
	}
	if err := r.moveTags(ctx, promoted); err != nil {
		return "", "", nil, err
	}
	r.rec.Promoted = promoted
	return VerdictOK, fmt.Sprintf("promoted %s with %d artifact(s) to %s", r.root.Digest, len(promoted)-1, r.rec.Golden), out, nil
}

// promotedArtifacts lists what goes to golden with the image, in
// dependency order: cssc's artifacts, the publisher's (if configured), then
// cssc's signatures.
func (r *run) promotedArtifacts(ctx context.Context) ([]ocispec.Descriptor, error) {
	var arts []ocispec.Descriptor
	add := func(d digest.Digest) error {
		desc, err := r.qrepo.Resolve(ctx, d.String())
		if err != nil {
			return err
		}
		arts = append(arts, desc)
		return nil
	}
	for _, a := range r.attached {
		if err := add(a.Digest); err != nil {
			return nil, err
		}
	}
	if r.p.cfg.PromotePublisherArtifacts {
		// The publisher's referrers as found in quarantine (also on a
		// resumed run, whose import copied nothing).
		seen := map[digest.Digest]bool{}
		verdicts := r.publisherVerdicts()
		for _, it := range r.meta.Items {
			// Referrers in every form: Notary signatures, SBOMs and
			// attestations, sigstore bundles (cosign v3's signatures).
			referrer := it.Form == attest.FormReferrer || it.Form == attest.FormSigstoreBundle
			if !referrer || it.Manifest.Digest == "" || it.Generated() || seen[it.Manifest.Digest] || verdicts[it.Manifest.Digest] {
				continue
			}
			seen[it.Manifest.Digest] = true
			if err := add(it.Manifest.Digest); err != nil {
				return nil, err
			}
		}
	}
	return append(arts, r.signatures...), nil
}

// cosignSuffixes are the suffixes of cosign's tags next to a subject
// "sha256-<hex>": signatures, attestations, SBOMs.
var cosignSuffixes = []string{".sig", ".att", ".sbom"}

// promotedTags lists the publisher artifacts stored under cosign tags in
// quarantine for the image and each of its platform images, when publisher
// artifacts are promoted: they go to golden under the same tags, so that
// `cosign verify` finds the publisher's signature there as upstream. What
// the import filter left out is not in quarantine; an attestation that
// poses as a verdict stays (see publisherVerdicts).
func (r *run) promotedTags(ctx context.Context) ([]taggedArtifact, error) {
	if !r.p.cfg.PromotePublisherArtifacts {
		return nil, nil
	}
	subjects := []digest.Digest{r.root.Digest}
	for _, pi := range r.images {
		if pi.desc.Digest != r.root.Digest {
			subjects = append(subjects, pi.desc.Digest)
		}
	}
	verdicts := r.publisherVerdicts()
	var out []taggedArtifact
	for _, s := range subjects {
		for _, suffix := range cosignSuffixes {
			tag := s.Algorithm().String() + "-" + s.Encoded() + suffix
			d, err := r.qrepo.Resolve(ctx, tag)
			if errors.Is(err, registry.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("cosign tag %s: %w", tag, err)
			}
			if verdicts[d.Digest] {
				continue
			}
			out = append(out, taggedArtifact{desc: d, tag: tag})
		}
	}
	return out, nil
}

// publisherVerdicts are the publisher's manifests that pose as verdicts (a
// SARIF scan report, a verification summary, in any layer) of a type
// Config.PromotePublisherVerdicts does not name: they are not promoted.
func (r *run) publisherVerdicts() map[digest.Digest]bool {
	out := map[digest.Digest]bool{}
	allowed := r.p.cfg.PromotePublisherVerdicts
	for _, it := range r.meta.Items {
		switch {
		case it.ArtifactType == artifact.TypeSARIF || it.Kind == attest.KindReport || it.MediaType == artifact.MediaTypeSARIF:
			if !slices.Contains(allowed, artifact.TypeSARIF) {
				out[it.Manifest.Digest] = true
			}
		case it.PredicateType == artifact.PredicateVerificationSummaryV1:
			if !slices.Contains(allowed, artifact.PredicateVerificationSummaryV1) {
				out[it.Manifest.Digest] = true
			}
		}
	}
	return out
}

// attachSummary attaches the verification summary to the golden image and
// signs it there; it returns the digests of the summary and its signature.
func (r *run) attachSummary(ctx context.Context) ([]digest.Digest, error) {
	vsa, err := (&attest.VSAEnricher{VerifierID: r.p.cfg.PipelineID}).Enrich(ctx, &attest.Subject{
		Repository: r.rec.Golden, Tag: r.rec.Tag, Descriptor: r.root, Source: r.src.String(),
		SourceDigest: r.rec.SourceDigest, Metadata: r.meta.Publisher(), Policy: r.p.cfg.PolicyRef, Time: r.t,
		Decision: r.attestDecision(),
	})
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	for _, a := range vsa {
		if prev := formatPrevious(r.previous); prev != "" {
			a.Annotations = maps.Clone(a.Annotations)
			if a.Annotations == nil {
				a.Annotations = map[string]string{}
			}
			a.Annotations[artifact.AnnotationPreviousDigests] = prev
		}
		descs, err := attest.Attach(ctx, r.grepo, r.root, r.t, a)
		if err != nil {
			return nil, fmt.Errorf("attach verification summary: %w", err)
		}
		d := descs[0]
		signed, err := sign.SignTree(ctx, r.p.cfg.Signer, r.grepo, d, sign.TreeOptions{MaxDepth: -1, Reuse: r.p.cfg.EnterpriseVerifier})
		if err != nil {
			return nil, err
		}
		sig := signed[0].Signature
		out = append(out, d.Digest, sig.Digest)
		r.rec.Artifacts = append(r.rec.Artifacts, ArtifactRecord{Kind: "verification-summary", ArtifactType: a.ArtifactType, Digest: d.Digest, Subject: r.root.Digest, Signature: sig.Digest})
	}
	return out, nil
}

// checkGolden makes sure golden never holds an unsigned image: it runs
// before the tags move.
func (r *run) checkGolden(ctx context.Context) error {
	v := r.p.cfg.EnterpriseVerifier
	if v == nil {
		return nil
	}
	res, err := v.Verify(ctx, r.grepo, r.root)
	if err != nil {
		return fmt.Errorf("verify golden signature: %w", err)
	}
	if res == nil || !res.Verified() {
		return fmt.Errorf("golden copy of %s carries no verified enterprise signature", r.root.Digest)
	}
	return nil
}

// moveTags points the golden tags at the image. When some tags moved
// before one failed, the record says what was promoted.
func (r *run) moveTags(ctx context.Context, promoted []digest.Digest) error {
	for i, t := range r.goldenTags() {
		if err := r.grepo.Tag(ctx, r.root, t); err != nil {
			if i > 0 {
				// Some tags moved: say so, the image is in golden.
				r.rec.Promoted = promoted
				return fmt.Errorf("tag golden %s (tags %v already point at %s): %w", t, r.goldenTags()[:i], r.root.Digest, err)
			}
			return fmt.Errorf("tag golden %s: %w", t, err)
		}
	}
	return nil
}

func (r *run) attestDecision() *attest.Decision {
	out := attest.DecisionFromPolicy(*r.decision)
	for _, a := range r.attached {
		out.Inputs = append(out.Inputs, attest.Input{URI: r.rec.Golden + "@" + a.Digest.String(), Digest: a.Digest})
	}
	return out
}

func digestsOf(ds []ocispec.Descriptor) []digest.Digest {
	out := make([]digest.Digest, len(ds))
	for i, d := range ds {
		out[i] = d.Digest
	}
	return out
}
