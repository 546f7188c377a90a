package acquire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
)

// maxRestoreHops bounds how far withdraw follows the previous digests of a
// tag looking for one that passed.
const maxRestoreHops = 8

// withdraw runs after a denial: no golden tag may point at the denied
// digest. An earlier run may have promoted it (in audit mode, or under a
// policy that has since changed); each golden tag that points at it goes
// back to the last digest it pointed at that passed (see lastPassing), or
// is removed. The manifest and its referrers stay, so that a consumer who
// pinned the digest still pulls it with its evidence. Every tag handled is
// in Record.Withdrawn, and Record.Reason says so. The error joins the tags
// that could not be withdrawn.
func (r *run) withdraw(ctx context.Context) error {
	ok, err := r.grepo.Exists(ctx, r.root)
	if err != nil {
		return fmt.Errorf("look up %s in golden: %w", r.root.Digest, err)
	}
	if !ok {
		return nil // never promoted: no tag can point at it
	}
	tags, err := r.goldenTagsAt(ctx, r.root.Digest)
	if err != nil {
		return err
	}
	var errs []error
	var done []string
	for _, t := range tags {
		w := Withdrawal{Tag: t, Digest: r.root.Digest}
		to, found, err := r.lastPassing(ctx, t, r.root.Digest)
		switch {
		case err != nil:
		case found:
			if err = r.grepo.Tag(ctx, to, t); err == nil {
				w.RestoredTo = to.Digest
				done = append(done, t+" (back to "+to.Digest.String()+")")
			}
		default:
			if err = registry.Untag(ctx, r.grepo, t); err == nil {
				done = append(done, t+" (removed)")
			}
		}
		if err != nil {
			w.Error = err.Error()
			errs = append(errs, fmt.Errorf("tag %s: %w", t, err))
			r.p.log.Log(ctx, slog.LevelError, "acquire: golden tag still points at a denied image", "golden", r.rec.Golden, "tag", t, "digest", r.root.Digest, "error", err)
		}
		r.rec.Withdrawn = append(r.rec.Withdrawn, w)
	}
	if len(done) > 0 {
		r.rec.Reason += "; withdrew golden tag(s) " + strings.Join(done, ", ")
	}
	if len(errs) > 0 {
		r.rec.Reason += fmt.Sprintf("; %d golden tag(s) could not be withdrawn", len(errs))
	}
	return errors.Join(errs...)
}

// goldenTagsAt lists the golden tags that point at d, leaving out the tags
// that name artifacts by their subject (referrers fallback tags and cosign
// tags, "sha256-<hex>[.sig]"), which never point at an image.
func (r *run) goldenTagsAt(ctx context.Context, d digest.Digest) ([]string, error) {
	var all []string
	if err := r.grepo.Tags(ctx, "", func(tags []string) error {
		all = append(all, tags...)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list golden tags: %w", err)
	}
	var out []string
	for _, t := range all {
		if isSubjectTag(t) {
			continue
		}
		cur, err := r.grepo.Resolve(ctx, t)
		if errors.Is(err, registry.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("resolve golden tag %s: %w", t, err)
		}
		if cur.Digest == d {
			out = append(out, t)
		}
	}
	return out, nil
}

// isSubjectTag reports whether tag has the shape "<alg>-<hex>" with an
// optional cosign suffix.
func isSubjectTag(tag string) bool {
	for _, s := range cosignSuffixes {
		tag = strings.TrimSuffix(tag, s)
	}
	alg, hex, ok := strings.Cut(tag, "-")
	return ok && digest.Digest(alg+":"+hex).Validate() == nil
}

// lastPassing follows the digests tag pointed at before d (the
// AnnotationPreviousDigests of d's verification summaries in golden) and
// returns the first that still exists in golden with a verification
// summary that says PASSED. Only summaries signed by the enterprise key
// (Config.EnterpriseVerifier) are read: without that verifier nothing in
// golden is trusted and found is false.
func (r *run) lastPassing(ctx context.Context, tag string, d digest.Digest) (desc ocispec.Descriptor, found bool, err error) {
	if r.p.cfg.EnterpriseVerifier == nil {
		return ocispec.Descriptor{}, false, nil
	}
	seen := map[digest.Digest]bool{d: true}
	cur := ocispec.Descriptor{Digest: d, MediaType: r.root.MediaType, Size: r.root.Size}
	for range maxRestoreHops {
		sums, err := r.goldenSummaries(ctx, cur)
		if err != nil {
			return ocispec.Descriptor{}, false, err
		}
		var prev digest.Digest
		for _, s := range sums {
			if p := s.previous[tag]; p != "" {
				prev = p
				break
			}
		}
		if prev == "" || seen[prev] {
			return ocispec.Descriptor{}, false, nil
		}
		seen[prev] = true
		cur, err = r.grepo.Resolve(ctx, prev.String())
		if errors.Is(err, registry.ErrNotFound) {
			return ocispec.Descriptor{}, false, nil
		}
		if err != nil {
			return ocispec.Descriptor{}, false, err
		}
		sums, err = r.goldenSummaries(ctx, cur)
		if err != nil {
			return ocispec.Descriptor{}, false, err
		}
		if slices.ContainsFunc(sums, func(s goldenSummary) bool { return s.passed }) {
			return cur, true, nil
		}
	}
	return ocispec.Descriptor{}, false, nil
}

// goldenSummary is what withdraw reads from a verification summary in
// golden.
type goldenSummary struct {
	passed   bool
	previous map[string]digest.Digest
}

// goldenSummaries reads the verification summaries of subject in golden
// that the enterprise key signed, newest first.
func (r *run) goldenSummaries(ctx context.Context, subject ocispec.Descriptor) ([]goldenSummary, error) {
	refs, err := registry.Referrers(ctx, r.grepo, subject, artifact.TypeInToto)
	if err != nil {
		return nil, fmt.Errorf("referrers of %s in golden: %w", subject.Digest, err)
	}
	slices.SortStableFunc(refs, func(a, b ocispec.Descriptor) int {
		return strings.Compare(b.Annotations[ocispec.AnnotationCreated], a.Annotations[ocispec.AnnotationCreated])
	})
	var out []goldenSummary
	for _, ref := range refs {
		if ref.Annotations[artifact.AnnotationPredicateType] != artifact.PredicateVerificationSummaryV1 {
			continue
		}
		v, err := r.p.cfg.EnterpriseVerifier.Verify(ctx, r.grepo, ref)
		if err != nil {
			return nil, fmt.Errorf("verify summary %s: %w", ref.Digest, err)
		}
		if v == nil || !v.Verified() {
			continue // not cssc's: not evidence
		}
		s, err := r.readSummary(ctx, ref)
		if err != nil {
			continue // unreadable: not evidence either
		}
		out = append(out, s)
	}
	return out, nil
}

// readSummary reads one verification summary manifest: its verdict and
// the previous digests annotated on it.
func (r *run) readSummary(ctx context.Context, desc ocispec.Descriptor) (goldenSummary, error) {
	raw, err := manifest.Fetch(ctx, r.grepo, desc, r.p.cfg.Client.MaxManifestBytes())
	if err != nil {
		return goldenSummary{}, err
	}
	m, err := manifest.Parse(desc.MediaType, raw)
	if err != nil {
		return goldenSummary{}, err
	}
	out := goldenSummary{previous: parsePrevious(m.Annotations[artifact.AnnotationPreviousDigests])}
	for _, l := range m.Layers {
		if l.MediaType != artifact.MediaTypeInToto {
			continue
		}
		data, err := manifest.Fetch(ctx, r.grepo, l, attest.MaxStatementBytes)
		if err != nil {
			return goldenSummary{}, err
		}
		st, err := attest.ParseStatement(data)
		if err != nil {
			return goldenSummary{}, err
		}
		vsa, _, err := attest.ParseVerificationSummary(st)
		if err != nil {
			return goldenSummary{}, err
		}
		out.passed = vsa.GetVerificationResult() == attest.ResultPassed
	}
	return out, nil
}

// formatPrevious writes AnnotationPreviousDigests: "tag=digest" pairs
// sorted by tag, comma-separated.
func formatPrevious(prev map[string]digest.Digest) string {
	pairs := make([]string, 0, len(prev))
	for t, d := range prev {
		pairs = append(pairs, t+"="+d.String())
	}
	slices.Sort(pairs)
	return strings.Join(pairs, ",")
}

// parsePrevious reads AnnotationPreviousDigests; malformed pairs are
// ignored.
func parsePrevious(s string) map[string]digest.Digest {
	out := map[string]digest.Digest{}
	for pair := range strings.SplitSeq(s, ",") {
		t, d, ok := strings.Cut(pair, "=")
		if ok && t != "" && digest.Digest(d).Validate() == nil {
			out[t] = digest.Digest(d)
		}
	}
	return out
}
