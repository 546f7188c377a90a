package acquire

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/sign"
)

// run is the state of one Pipeline.Run.
type run struct {
	p    *Pipeline
	opts RunOptions
	rec  *Record

	src      registry.Location
	repoPath string
	qrepo    registry.Repository
	grepo    registry.Repository
	imported *Imported
	root     ocispec.Descriptor
	images   []platformImage // the platform manifests (one for a single manifest)
	meta     *attest.Metadata
	t        time.Time // the run time every generated artifact is created at

	verification *sign.Verification
	reports      []*scan.Report
	attached     []ArtifactRecord     // cssc artifacts in quarantine
	signatures   []ocispec.Descriptor // cssc signatures, in quarantine
	decision     *policy.Decision
}

// platformImage is one image manifest of the subject with what the run
// learnt about it.
type platformImage struct {
	desc     ocispec.Descriptor
	platform *ocispec.Platform
	sbom     *sbom.Document // what the vulnerability scanners match: cssc's own when a generator is configured
	sbomFrom string         // policy.SourcePublisher or policy.SourceGenerated: who supplied an SBOM
	pubSBOM  *sbom.Document // the publisher's, for licences and the record
}

func (pi platformImage) name() string {
	if pi.platform == nil {
		return ""
	}
	s := pi.platform.OS + "/" + pi.platform.Architecture
	if pi.platform.Variant != "" {
		s += "/" + pi.platform.Variant
	}
	return s
}

// step runs fn as the step name, recording its verdict and timing. fn
// returns the verdict, a reason and outputs; an error makes the step (and
// the run) fail.
func (r *run) step(ctx context.Context, name string, fn func(ctx context.Context) (verdict, reason string, outputs map[string]any, err error)) error {
	if err := ctx.Err(); err != nil {
		return &StepError{Step: name, Err: err}
	}
	r.emit(Event{Step: name})
	start := r.p.cfg.Now()
	verdict, reason, outputs, err := fn(ctx)
	if err != nil {
		verdict, reason = VerdictError, err.Error()
	}
	r.rec.Steps = append(r.rec.Steps, Step{Name: name, Verdict: verdict, Reason: reason, Started: start.UTC(), Duration: r.p.cfg.Now().Sub(start), Outputs: outputs})
	r.emit(Event{Step: name, Verdict: verdict, Message: reason})
	if err != nil {
		return &StepError{Step: name, Err: err}
	}
	return nil
}

func (r *run) emit(e Event) {
	if r.p.cfg.OnEvent != nil {
		e.Source = r.rec.Source
		r.p.cfg.OnEvent(e)
	}
}

// executeSafely runs execute and turns a panic in a plug-in (scanner,
// signer, enricher) into a failed run: nothing is promoted.
func (r *run) executeSafely(ctx context.Context) (err error) {
	defer func() {
		if v := recover(); v != nil {
			step := StepImport
			if n := len(r.rec.Steps); n > 0 {
				step = r.rec.Steps[n-1].Name
			}
			err = &StepError{Step: step, Err: fmt.Errorf("panic: %v", v)}
		}
	}()
	return r.execute(ctx)
}

func (r *run) execute(ctx context.Context) error {
	if err := r.open(ctx); err != nil {
		return &StepError{Step: StepImport, Err: err}
	}
	defer r.p.lock(r.rec.Golden)()
	if err := r.step(ctx, StepImport, r.doImport); err != nil {
		return err
	}
	if done, err := r.alreadyPromoted(ctx); err != nil || done {
		return err
	}
	for _, s := range []struct {
		name string
		fn   func(context.Context) (string, string, map[string]any, error)
	}{
		{StepSignatures, r.verifySignatures},
		{StepMetadata, r.checkMetadata},
		{StepProvenance, r.provenance},
		{StepSBOM, r.sbom},
		{StepScan, r.scan},
		{StepReports, r.attachReports},
		{StepLifecycle, r.lifecycle},
		{StepPolicy, r.evaluate},
	} {
		if err := r.step(ctx, s.name, s.fn); err != nil {
			return err
		}
	}
	if !r.decision.Allowed {
		// A denied image is not signed: the enterprise key vouches only
		// for what the policy let through.
		r.rec.Artifacts = r.attached
		r.rec.Outcome = OutcomeDenied
		r.rec.Reason = summary(r.decision)
		return fmt.Errorf("%s: %w", r.rec.Source, r.decision.Err())
	}
	if err := r.step(ctx, StepSign, r.sign); err != nil {
		return err
	}
	if err := r.step(ctx, StepPromote, r.promote); err != nil {
		return err
	}
	r.rec.Outcome = OutcomePromoted
	r.rec.Reason = "every required check passed"
	if r.decision.WouldDeny {
		r.rec.Outcome = OutcomeAudited
		r.rec.Reason = "audit mode: promoted although the policy would deny: " + summary(r.decision)
	}
	return nil
}

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

func (r *run) doImport(ctx context.Context) (string, string, map[string]any, error) {
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
	if registry.IsManifest(r.root.MediaType) {
		r.images = []platformImage{{desc: r.root, platform: r.root.Platform}}
		return nil
	}
	if !registry.IsIndex(r.root.MediaType) {
		return fmt.Errorf("%w: root media type %q is neither an image manifest nor an index", registry.ErrInvalidManifest, r.root.MediaType)
	}
	raw, err := registry.FetchManifest(ctx, r.qrepo, r.root, r.p.cfg.Client.MaxManifestBytes())
	if err != nil {
		return err
	}
	idx, err := registry.ParseManifest(r.root.MediaType, raw)
	if err != nil {
		return err
	}
	for _, d := range idx.Manifests {
		// Every entry of the index reaches golden with it, so every entry
		// is either checked as an image or provably not one: fail closed
		// on anything else.
		if !registry.IsManifest(d.MediaType) {
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
// manifest (which is not scanned) only if it cannot be run: platform
// unknown/unknown and in-toto layers only.
func (r *run) checkAttestationEntry(ctx context.Context, d ocispec.Descriptor) error {
	if d.Platform == nil || d.Platform.OS != "unknown" || d.Platform.Architecture != "unknown" {
		return fmt.Errorf("%w: index entry %s is marked as an attestation but has a runnable platform", registry.ErrInvalidManifest, d.Digest)
	}
	raw, err := registry.FetchManifest(ctx, r.qrepo, d, r.p.cfg.Client.MaxManifestBytes())
	if err != nil {
		return err
	}
	m, err := registry.ParseManifest(d.MediaType, raw)
	if err != nil {
		return err
	}
	for _, l := range m.Layers {
		if l.MediaType != artifact.MediaTypeInToto && l.MediaType != artifact.MediaTypeDSSE {
			return fmt.Errorf("%w: attestation entry %s has a %s layer", registry.ErrInvalidManifest, d.Digest, l.MediaType)
		}
	}
	return nil
}

// alreadyPromoted reports whether golden holds this digest under every
// requested tag with a verification summary that cssc signed, that says
// PASSED, and that names the policy in force: then the run is a cheap
// no-op. Anything less (an audit-mode promotion, another policy, a missing
// tag, an unsigned summary) runs the whole pipeline again.
func (r *run) alreadyPromoted(ctx context.Context) (bool, error) {
	if r.rec.Tag == "" || !r.imported.Unchanged || r.p.cfg.SignatureVerifier == nil {
		return false, nil
	}
	for _, t := range r.goldenTags() {
		cur, err := r.grepo.Resolve(ctx, t)
		if err != nil || cur.Digest != r.root.Digest {
			return false, nil
		}
	}
	md, err := attest.Discover(ctx, r.grepo, r.root, &attest.Options{MaxManifestBytes: r.p.cfg.Client.MaxManifestBytes()})
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
		v, err := r.p.cfg.SignatureVerifier.Verify(ctx, r.grepo, it.Manifest)
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

func (r *run) verifySignatures(ctx context.Context) (string, string, map[string]any, error) {
	if r.p.cfg.Verifier == nil {
		return VerdictSkipped, "no verifier configured", nil, nil
	}
	v, err := r.p.cfg.Verifier.Verify(ctx, r.qrepo, r.root)
	if err != nil {
		return "", "", nil, err
	}
	if v == nil {
		return "", "", nil, errors.New("publisher verifier returned no verification")
	}
	// Signatures cssc made in an earlier run of this image are not the
	// publisher's: leave them out of the evidence.
	own := map[digest.Digest]bool{}
	if r.p.cfg.SignatureVerifier != nil {
		mine, err := r.p.cfg.SignatureVerifier.Verify(ctx, r.qrepo, r.root)
		if err != nil {
			return "", "", nil, fmt.Errorf("enterprise signatures of %s: %w", r.root.Digest, err)
		}
		if mine != nil {
			for _, s := range mine.Signatures {
				if s.State == sign.StateVerified {
					own[s.Digest] = true
				}
			}
		}
	}
	v.Signatures = slices.DeleteFunc(v.Signatures, func(s sign.Signature) bool { return s.Digest != "" && own[s.Digest] })
	r.verification = v
	out := map[string]any{"verification": v}
	switch {
	case len(v.Signatures) == 0:
		return VerdictOK, "no publisher signature found", out, nil
	case v.Verified():
		return VerdictOK, "verified: " + strings.Join(v.VerifiedIdentities(), ", "), out, nil
	default:
		return VerdictFailed, fmt.Sprintf("%d signature(s), none verified", len(v.Signatures)), out, nil
	}
}

func (r *run) checkMetadata(ctx context.Context) (string, string, map[string]any, error) {
	md, err := attest.Discover(ctx, r.qrepo, r.root, &attest.Options{MaxManifestBytes: r.p.cfg.Client.MaxManifestBytes(), Logger: r.p.cfg.Logger})
	if err != nil {
		return "", "", nil, err
	}
	r.meta = md
	var sboms, provs, broken int
	var errs []string
	for _, it := range md.Items {
		if isOwn(it.Annotations) {
			continue
		}
		switch {
		case it.Err != nil:
			broken++
			errs = append(errs, fmt.Sprintf("%s %s: %v", it.Form, it.Manifest.Digest, it.Err))
		case it.Kind == attest.KindSBOM:
			sboms++
		case it.Kind == attest.KindProvenance:
			provs++
		}
	}
	out := map[string]any{"sboms": sboms, "provenance": provs, "unreadable": errs, "truncated": md.Truncated}
	reason := fmt.Sprintf("publisher metadata: %d SBOM(s), %d provenance statement(s)", sboms, provs)
	if broken > 0 {
		return VerdictFailed, fmt.Sprintf("%s, %d unreadable", reason, broken), out, nil
	}
	return VerdictOK, reason, out, nil
}

// isOwn reports whether an artifact claims to be cssc's. The claim alone is
// never trusted as evidence: the import drops publisher referrers that make
// it, the pipeline regenerates what it needs (same input, same digest) and
// reuses only provenance whose bytes it can re-derive. Items that claim it
// are never publisher evidence either.
func isOwn(ann map[string]string) bool { _, ok := ann[artifact.AnnotationGeneratedBy]; return ok }

// maxResumeAge bounds how old an interrupted run may be for its time to be
// reused.
const maxResumeAge = 30 * 24 * time.Hour

// provenance attaches acquisition provenance to the root. Its time is the
// run time of the image: taken from provenance an earlier (interrupted) run
// attached, so that a rerun regenerates identical artifacts.
func (r *run) provenance(ctx context.Context) (string, string, map[string]any, error) {
	now := r.p.cfg.Now().UTC().Truncate(time.Second)
	r.t = now
	// An interrupted run left provenance: take its time if, and only if,
	// regenerating provenance at that time gives the very same bytes.
	for _, it := range r.meta.For(r.root.Digest) {
		if it.Form != attest.FormReferrer || !isOwn(it.Annotations) || it.Provenance == nil {
			continue
		}
		t := it.Provenance.StartedOn.UTC()
		if t.IsZero() || t.After(now.Add(5*time.Minute)) || now.Sub(t) > maxResumeAge {
			continue
		}
		r.t = t
		arts, err := r.p.cfg.Provenance.Enrich(ctx, r.subject(platformImage{desc: r.root, platform: r.root.Platform}))
		if err == nil && len(arts) == 1 {
			if _, d, err := arts[0].Manifest(r.root); err == nil && d.Digest == it.Manifest.Digest {
				break
			}
		}
		r.t = now
	}
	arts, err := r.p.cfg.Provenance.Enrich(ctx, r.subject(platformImage{desc: r.root, platform: r.root.Platform}))
	if err != nil {
		return "", "", nil, err
	}
	recs, err := r.attach(ctx, r.root.Digest, "", "provenance", arts)
	if err != nil {
		return "", "", nil, err
	}
	return VerdictOK, "acquisition provenance attached", map[string]any{"artifacts": recs}, nil
}

// publisherMeta is the discovered metadata without the items that claim
// to be cssc's.
func (r *run) publisherMeta() *attest.Metadata {
	if r.meta == nil {
		return nil
	}
	md := *r.meta
	md.Items = slices.DeleteFunc(slices.Clone(r.meta.Items), func(it attest.Item) bool { return isOwn(it.Annotations) })
	return &md
}

func (r *run) subject(pi platformImage) *attest.Subject {
	return &attest.Subject{
		Repository:   r.rec.Quarantine,
		Tag:          r.rec.Tag,
		Descriptor:   pi.desc,
		Platform:     pi.platform,
		Source:       r.src.String(),
		SourceDigest: r.imported.SourceDigest,
		Metadata:     r.publisherMeta(),
		SBOM:         pi.sbom,
		Policy:       r.p.cfg.PolicyRef,
		Time:         r.t,
	}
}

// attach attaches artifacts to subject in quarantine and records them.
func (r *run) attach(ctx context.Context, subject digest.Digest, platform, kind string, arts []registry.Artifact) ([]ArtifactRecord, error) {
	desc, err := r.descriptorOf(subject)
	if err != nil {
		return nil, err
	}
	var out []ArtifactRecord
	for _, a := range arts {
		if a.Created.IsZero() {
			a.Created = r.t
		}
		if _, ok := a.Annotations[artifact.AnnotationGeneratedBy]; !ok {
			// Custom enrichers' artifacts are cssc's too: never publisher evidence.
			a.Annotations = maps.Clone(a.Annotations)
			if a.Annotations == nil {
				a.Annotations = map[string]string{}
			}
			a.Annotations[artifact.AnnotationGeneratedBy] = attest.DefaultGenerator
		}
		d, err := registry.Attach(ctx, r.qrepo, desc, a)
		if err != nil {
			return nil, fmt.Errorf("attach %s to %s: %w", a.ArtifactType, subject, err)
		}
		k := kind
		if k == "report" {
			k = a.Annotations[artifact.AnnotationReportKind] + "-report"
		}
		ar := ArtifactRecord{Kind: k, ArtifactType: a.ArtifactType, Digest: d.Digest, Subject: subject, Platform: platform}
		out = append(out, ar)
		if !slices.ContainsFunc(r.attached, func(x ArtifactRecord) bool { return x.Digest == ar.Digest }) {
			r.attached = append(r.attached, ar)
		}
	}
	return out, nil
}

func (r *run) descriptorOf(d digest.Digest) (ocispec.Descriptor, error) {
	if d == r.root.Digest {
		return r.root, nil
	}
	for _, pi := range r.images {
		if pi.desc.Digest == d {
			return pi.desc, nil
		}
	}
	return ocispec.Descriptor{}, fmt.Errorf("unknown subject %s", d)
}

// sbom finds the publisher's SBOM of every platform and generates cssc's
// own. Vulnerability scanners match cssc's SBOM whenever a generator is
// configured: a publisher's SBOM is unverified input (it could leave out the
// vulnerable package), so it only adds licences and is recorded. cssc's SBOM
// is attached only where the publisher gave none. An index-level publisher
// SBOM counts for a single-platform image only.
func (r *run) sbom(ctx context.Context) (string, string, map[string]any, error) {
	var generated, publisher int
	var recs []ArtifactRecord
	for i := range r.images {
		pi := &r.images[i]
		subjects := []digest.Digest{pi.desc.Digest}
		if len(r.images) == 1 {
			subjects = append(subjects, r.root.Digest)
		}
		for _, d := range subjects {
			for _, it := range r.meta.For(d) {
				if it.SBOM != nil && it.Err == nil && !isOwn(it.Annotations) && pi.pubSBOM == nil {
					pi.pubSBOM = it.SBOM
				}
			}
		}
		if pi.pubSBOM != nil {
			publisher++
			pi.sbom, pi.sbomFrom = pi.pubSBOM, policy.SourcePublisher
		}
		if r.p.cfg.GenerateSBOM == nil {
			continue
		}
		doc, err := r.p.cfg.GenerateSBOM(ctx, r.qrepo, pi.desc)
		if err != nil {
			return "", "", nil, fmt.Errorf("generate SBOM for %s: %w", pi.desc.Digest, err)
		}
		if doc == nil {
			return "", "", nil, fmt.Errorf("generate SBOM for %s: generator returned no document", pi.desc.Digest)
		}
		pi.sbom = doc
		generated++
		if pi.pubSBOM != nil {
			continue
		}
		pi.sbomFrom = policy.SourceGenerated
		sub := r.subject(*pi)
		if len(r.images) > 1 {
			// An index-level publisher SBOM does not describe this platform.
			sub.Metadata = nil
		}
		arts, err := (&attest.SBOMEnricher{}).Enrich(ctx, sub)
		if err != nil {
			return "", "", nil, err
		}
		rs, err := r.attach(ctx, pi.desc.Digest, pi.name(), "sbom", arts)
		if err != nil {
			return "", "", nil, err
		}
		recs = append(recs, rs...)
	}
	out := map[string]any{"publisher": publisher, "generated": generated, "artifacts": recs}
	reason := fmt.Sprintf("%d platform(s): %d publisher SBOM(s), %d generated", len(r.images), publisher, generated)
	if generated < len(r.images) {
		if publisher < len(r.images) {
			return VerdictFailed, reason + "; no SBOM for some platforms (no generator configured)", out, nil
		}
		return VerdictOK, reason + "; scanning the publisher's SBOMs (no generator configured)", out, nil
	}
	return VerdictOK, reason, out, nil
}

// scan runs every scanner on every platform. A scanner error fails the
// run: an incomplete scan is never a clean one.
func (r *run) scan(ctx context.Context) (string, string, map[string]any, error) {
	summary := map[string]any{}
	total := 0
	for _, pi := range r.images {
		img := &scan.Image{
			Repository: r.qrepo,
			Reference:  r.rec.Quarantine + "@" + pi.desc.Digest.String(),
			Manifest:   pi.desc,
			Platform:   pi.platform,
			SBOM:       pi.sbom,
		}
		for _, s := range r.p.cfg.Scanners {
			rep, err := s.Scan(ctx, img)
			if err != nil {
				return "", "", nil, fmt.Errorf("scan %s: %w", pi.desc.Digest, err)
			}
			if rep == nil {
				return "", "", nil, fmt.Errorf("scan %s: scanner returned no report", pi.desc.Digest)
			}
			rep.Subject = pi.desc.Digest
			rep.Time = r.t // reports are stamped with the run time, so reruns give the same digests
			rep.Sort()
			r.reports = append(r.reports, rep)
			key := rep.Kind + "/" + rep.Tool.Name
			if pi.name() != "" {
				key += "/" + pi.name()
			}
			summary[key] = rep.Count()
			total += len(rep.Findings)
		}
	}
	return VerdictOK, fmt.Sprintf("%d report(s), %d finding(s)", len(r.reports), total), map[string]any{"reports": summary}, nil
}

func (r *run) attachReports(ctx context.Context) (string, string, map[string]any, error) {
	var recs []ArtifactRecord
	for _, rep := range r.reports {
		data, err := rep.SARIF()
		if err != nil {
			return "", "", nil, fmt.Errorf("encode %s report: %w", rep.Kind, err)
		}
		a := registry.Artifact{
			ArtifactType: artifact.TypeSARIF,
			Blobs:        []registry.Blob{{MediaType: artifact.MediaTypeSARIF, Data: data}},
			Annotations: map[string]string{
				artifact.AnnotationReportKind:      rep.Kind,
				artifact.AnnotationScanner:         rep.Tool.Name,
				artifact.AnnotationDatabaseVersion: rep.Tool.DatabaseVersion,
				artifact.AnnotationGeneratedBy:     attest.DefaultGenerator,
			},
			Created: r.t,
		}
		platform := ""
		for _, pi := range r.images {
			if pi.desc.Digest == rep.Subject {
				platform = pi.name()
			}
		}
		rs, err := r.attach(ctx, rep.Subject, platform, "report", []registry.Artifact{a})
		if err != nil {
			return "", "", nil, err
		}
		recs = append(recs, rs...)
	}
	return VerdictOK, fmt.Sprintf("%d report(s) attached", len(recs)), map[string]any{"artifacts": recs}, nil
}

func (r *run) lifecycle(ctx context.Context) (string, string, map[string]any, error) {
	var recs []ArtifactRecord
	root := platformImage{desc: r.root, platform: r.root.Platform}
	if r.p.cfg.Lifecycle != nil {
		// No metadata: markers in quarantine that claim to be cssc's are
		// not trusted; the marker is rebuilt at the run time, so a rerun
		// gives the same digest.
		sub := r.subject(root)
		sub.Metadata = nil
		arts, err := r.p.cfg.Lifecycle.Enrich(ctx, sub)
		if err != nil {
			return "", "", nil, err
		}
		rs, err := r.attach(ctx, r.root.Digest, "", "lifecycle", arts)
		if err != nil {
			return "", "", nil, err
		}
		recs = append(recs, rs...)
	}
	for _, e := range r.p.cfg.Enrichers {
		arts, err := e.Enrich(ctx, r.subject(root))
		if err != nil {
			return "", "", nil, err
		}
		rs, err := r.attach(ctx, r.root.Digest, "", "attestation", arts)
		if err != nil {
			return "", "", nil, err
		}
		recs = append(recs, rs...)
	}
	eol, ok := r.endOfLife()
	if !ok {
		return VerdictSkipped, "no end-of-life date known", map[string]any{"artifacts": recs}, nil
	}
	return VerdictOK, "end of life " + attest.FormatDate(eol), map[string]any{"artifacts": recs, "endOfLife": eol}, nil
}

// endOfLife is the date of cssc's lifecycle marker in force for the root.
func (r *run) endOfLife() (time.Time, bool) {
	if r.p.cfg.Lifecycle == nil {
		return time.Time{}, false
	}
	return r.p.cfg.Lifecycle.EndOfLifeFor(r.rec.Quarantine, r.rec.Tag)
}

// sign signs the root, every platform manifest and every artifact cssc
// attached, reusing a verified enterprise signature where one exists.
func (r *run) sign(ctx context.Context) (string, string, map[string]any, error) {
	subjects := []ocispec.Descriptor{r.root}
	if registry.IsIndex(r.root.MediaType) {
		for _, pi := range r.images {
			subjects = append(subjects, pi.desc)
		}
	}
	for _, a := range r.attached {
		subjects = append(subjects, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: a.Digest, ArtifactType: a.ArtifactType})
	}
	var made, reused int
	for i, s := range subjects {
		if s.Size == 0 {
			d, err := r.qrepo.Resolve(ctx, s.Digest.String())
			if err != nil {
				return "", "", nil, err
			}
			s.Size = d.Size
			subjects[i] = s
		}
		sig, fresh, err := r.signOne(ctx, r.qrepo, s)
		if err != nil {
			return "", "", nil, err
		}
		if fresh {
			made++
		} else {
			reused++
		}
		r.signatures = append(r.signatures, sig)
		for j := range r.attached {
			if r.attached[j].Digest == s.Digest {
				r.attached[j].Signature = sig.Digest
			}
		}
	}
	r.rec.Artifacts = r.attached
	return VerdictOK, fmt.Sprintf("%d subject(s) signed: %d new signature(s), %d reused", len(subjects), made, reused), nil, nil
}

// signOne signs subject unless it carries a verified enterprise signature.
func (r *run) signOne(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor) (ocispec.Descriptor, bool, error) {
	if v := r.p.cfg.SignatureVerifier; v != nil {
		res, err := v.Verify(ctx, repo, subject)
		if err != nil {
			return ocispec.Descriptor{}, false, fmt.Errorf("verify enterprise signature of %s: %w", subject.Digest, err)
		}
		if res == nil {
			return ocispec.Descriptor{}, false, fmt.Errorf("verify enterprise signature of %s: verifier returned no verification", subject.Digest)
		}
		for _, s := range res.Signatures {
			if s.State == sign.StateVerified && s.Digest != "" {
				d, err := repo.Resolve(ctx, s.Digest.String())
				if err == nil {
					return d, false, nil
				}
			}
		}
	}
	d, err := r.p.cfg.Signer.Sign(ctx, repo, subject)
	if err != nil {
		return ocispec.Descriptor{}, false, fmt.Errorf("sign %s: %w", subject.Digest, err)
	}
	return d, true, nil
}

func (r *run) evaluate(ctx context.Context) (string, string, map[string]any, error) {
	ev := r.evidence()
	d := r.p.cfg.Policy.Evaluate(ctx, ev)
	r.decision = &d
	r.rec.Decision = &d
	verdict := VerdictOK
	if !d.Allowed || d.WouldDeny {
		verdict = VerdictFailed
	}
	return verdict, summary(&d), map[string]any{"evidence": ev}, nil
}

// evidence assembles the policy evidence from what the steps found. The
// image passes only if every platform does: findings of all platforms are
// merged.
func (r *run) evidence() *policy.Evidence {
	ev := &policy.Evidence{
		Time: r.p.cfg.Now().UTC(),
		Source: policy.Reference{
			Registry: r.src.Ref.Registry, Repository: r.src.Ref.Repository, Tag: r.src.Tag, Digest: r.rec.SourceDigest.String(),
		},
	}
	if r.src.Kind != registry.KindRemote {
		ev.Source.Registry = r.src.Kind
		ev.Source.Repository = strings.TrimPrefix(r.src.Repository, r.src.Kind+":")
	}
	if len(r.images) == 1 {
		ev.Platform = r.images[0].name()
	}
	if r.verification != nil {
		for _, s := range r.verification.Signatures {
			ev.Signatures = append(ev.Signatures, policy.Signature{
				Verifier: verifierOf(s.Format), Format: s.Format, Identity: s.Identity, Issuer: s.Issuer,
				State: string(s.State), Level: s.Level, Cause: s.Cause,
			})
		}
	}
	// SBOM: present only if every platform has one.
	sbomFrom, seen := "", map[string]bool{}
	allSBOM := true
	for _, pi := range r.images {
		if pi.sbom == nil {
			allSBOM = false
			continue
		}
		if sbomFrom == "" || pi.sbomFrom == policy.SourceGenerated {
			sbomFrom = pi.sbomFrom
		}
		var pkgs []sbom.Package
		pkgs = append(pkgs, pi.sbom.Packages...)
		if pi.pubSBOM != nil && pi.pubSBOM != pi.sbom {
			pkgs = append(pkgs, pi.pubSBOM.Packages...)
		}
		for _, p := range pkgs {
			key := p.PURL
			if key == "" {
				key = p.Name + "@" + p.Version
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			ev.Packages = append(ev.Packages, policy.Package{Name: p.Name, Version: p.Version, PURL: p.PURL, Licenses: p.Licenses})
		}
	}
	ev.SBOM = policy.Attestation{Present: allSBOM && len(r.images) > 0, Source: sbomFrom}
	// Provenance: the publisher's, else cssc's acquisition provenance.
	// The publisher's statement counts only if it names the image (the
	// root or one of its platform manifests) among its subjects.
	for _, it := range r.meta.Items {
		if it.Provenance != nil && it.Err == nil && !isOwn(it.Annotations) && r.namesImage(it.Statement) {
			ev.Provenance = policy.Attestation{Present: true, Source: policy.SourcePublisher, Digest: it.Manifest.Digest.String()}
			break
		}
	}
	if !ev.Provenance.Present {
		for _, a := range r.attached {
			if a.Kind == "provenance" {
				ev.Provenance = policy.Attestation{Present: true, Source: policy.SourceGenerated, Digest: a.Digest.String()}
			}
		}
	}
	// Scans: a kind counts as scanned only if every platform has a report.
	vulnScanned, malScanned := map[digest.Digest]bool{}, map[digest.Digest]bool{}
	for _, rep := range r.reports {
		switch rep.Kind {
		case artifact.ReportKindVulnerability:
			vulnScanned[rep.Subject] = true
			ev.Vulnerabilities.Scanner = addName(ev.Vulnerabilities.Scanner, rep.Tool.Name)
			ev.Vulnerabilities.DatabaseVersion = addName(ev.Vulnerabilities.DatabaseVersion, rep.Tool.DatabaseVersion)
			for _, f := range rep.Findings {
				ev.Vulnerabilities.Findings = append(ev.Vulnerabilities.Findings, policy.Vulnerability{
					ID: f.ID, Aliases: f.Aliases, Package: f.Package.Name, Version: f.Package.Version,
					FixedVersion: f.FixedVersion, Severity: policy.Severity(f.Severity.String()), CVSS: f.CVSS,
				})
			}
		case artifact.ReportKindMalware:
			malScanned[rep.Subject] = true
			ev.Malware.Scanner = addName(ev.Malware.Scanner, rep.Tool.Name)
			for _, f := range rep.Findings {
				ev.Malware.Detections = append(ev.Malware.Detections, policy.Detection{Name: f.ID, Path: f.Path, Layer: f.Layer})
			}
		}
	}
	ev.Vulnerabilities.Scanned = len(vulnScanned) == len(r.images)
	ev.Malware.Scanned = len(malScanned) == len(r.images)
	ev.Malware.Complete = ev.Malware.Scanned
	if eol, ok := r.endOfLife(); ok {
		ev.EndOfLife = eol
	}
	sort.Slice(ev.Vulnerabilities.Findings, func(i, j int) bool {
		a, b := ev.Vulnerabilities.Findings[i], ev.Vulnerabilities.Findings[j]
		return a.ID+a.Package < b.ID+b.Package
	})
	return ev
}

// namesImage reports whether an in-toto statement has the root or one of
// the platform manifests as a subject.
func (r *run) namesImage(st *attest.Statement) bool {
	if st == nil || st.Proto == nil {
		return false
	}
	for _, sub := range st.Proto.GetSubject() {
		for alg, hex := range sub.GetDigest() {
			d := digest.NewDigestFromEncoded(digest.Algorithm(alg), hex)
			if _, err := r.descriptorOf(d); err == nil {
				return true
			}
		}
	}
	return false
}

// addName adds name to a comma-separated list unless it is there already.
func addName(list, name string) string {
	if name == "" || slices.Contains(strings.Split(list, ", "), name) {
		return list
	}
	if list == "" {
		return name
	}
	return list + ", " + name
}

func verifierOf(format string) string {
	switch format {
	case sign.FormatNotationJWS, sign.FormatNotationCOSE:
		return "notation"
	case sign.FormatCosign, sign.FormatSigstoreBundle:
		return "cosign"
	}
	return format
}

// promote copies the image and its artifacts to golden, attaches and signs
// the verification summary there, checks the enterprise signature, and
// moves the tag last.
func (r *run) promote(ctx context.Context) (string, string, map[string]any, error) {
	if r.rec.Tag != "" {
		if cur, err := r.grepo.Resolve(ctx, r.rec.Tag); err == nil && cur.Digest != r.root.Digest {
			r.rec.PreviousGoldenDigest = cur.Digest
		} else if err != nil && !errors.Is(err, registry.ErrNotFound) {
			return "", "", nil, err
		}
	}
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
			return "", "", nil, err
		}
	}
	if r.p.cfg.PromotePublisherArtifacts {
		// The publisher's referrers as found in quarantine (also on a
		// resumed run, whose import copied nothing).
		seen := map[digest.Digest]bool{}
		for _, it := range r.meta.Items {
			if it.Form != attest.FormReferrer || isOwn(it.Annotations) || seen[it.Manifest.Digest] {
				continue
			}
			seen[it.Manifest.Digest] = true
			if err := add(it.Manifest.Digest); err != nil {
				return "", "", nil, err
			}
		}
	}
	for _, s := range r.signatures {
		arts = append(arts, s)
	}
	pr := promotion{src: r.qrepo, dst: r.grepo, root: r.root, artifacts: arts, concurrency: 4}
	if err := pr.copyContent(ctx); err != nil {
		return "", "", nil, err
	}
	promoted := append([]digest.Digest{r.root.Digest}, digestsOf(arts)...)

	// The verification summary, attached and signed in golden.
	vsa, err := (&attest.VSAEnricher{VerifierID: r.p.cfg.VerifierID}).Enrich(ctx, &attest.Subject{
		Repository: r.rec.Golden, Tag: r.rec.Tag, Descriptor: r.root, Source: r.src.String(),
		SourceDigest: r.rec.SourceDigest, Metadata: r.publisherMeta(), Policy: r.p.cfg.PolicyRef, Time: r.t,
		Decision: r.attestDecision(),
	})
	if err != nil {
		return "", "", nil, err
	}
	for _, a := range vsa {
		d, err := registry.Attach(ctx, r.grepo, r.root, a)
		if err != nil {
			return "", "", nil, fmt.Errorf("attach verification summary: %w", err)
		}
		sig, _, err := r.signOne(ctx, r.grepo, d)
		if err != nil {
			return "", "", nil, err
		}
		promoted = append(promoted, d.Digest, sig.Digest)
		r.rec.Artifacts = append(r.rec.Artifacts, ArtifactRecord{Kind: "verification-summary", ArtifactType: a.ArtifactType, Digest: d.Digest, Subject: r.root.Digest, Signature: sig.Digest})
	}
	// Golden never holds an unsigned image: check before the tag moves.
	if v := r.p.cfg.SignatureVerifier; v != nil {
		res, err := v.Verify(ctx, r.grepo, r.root)
		if err != nil {
			return "", "", nil, fmt.Errorf("verify golden signature: %w", err)
		}
		if res == nil || !res.Verified() {
			return "", "", nil, fmt.Errorf("golden copy of %s carries no verified enterprise signature", r.root.Digest)
		}
	}
	for i, t := range r.goldenTags() {
		if err := r.grepo.Tag(ctx, r.root, t); err != nil {
			if i > 0 {
				// Some tags moved: say so, the image is in golden.
				r.rec.Promoted = promoted
				return "", "", nil, fmt.Errorf("tag golden %s (tags %v already point at %s): %w", t, r.goldenTags()[:i], r.root.Digest, err)
			}
			return "", "", nil, fmt.Errorf("tag golden %s: %w", t, err)
		}
	}
	r.rec.Promoted = promoted
	return VerdictOK, fmt.Sprintf("promoted %s with %d artifact(s) to %s", r.root.Digest, len(promoted)-1, r.rec.Golden), nil, nil
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
