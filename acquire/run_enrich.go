package acquire

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/imagefs"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan"
)

// maxResumeAge bounds how old an interrupted run may be for its time to be
// reused.
const maxResumeAge = 30 * 24 * time.Hour

// provenance attaches acquisition provenance to the root. Its time is the
// run time of the image: taken from provenance an earlier (interrupted) run
// attached, so that a rerun regenerates identical artifacts.
func (r *run) provenance(ctx context.Context) (Verdict, string, map[string]any, error) {
	now := r.p.cfg.Now().UTC().Truncate(time.Second)
	r.t = now
	r.resumeTime(ctx, now)
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

// resumeTime sets the run time to that of the provenance an interrupted
// run left, if, and only if, regenerating provenance at that time gives the
// very same bytes.
func (r *run) resumeTime(ctx context.Context, now time.Time) {
	for _, it := range r.meta.For(r.root.Digest) {
		if it.Form != attest.FormReferrer || !it.Generated() || it.Provenance == nil {
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
				return
			}
		}
		r.t = now
	}
}

func (r *run) subject(pi platformImage) *attest.Subject {
	return &attest.Subject{
		Repository:   r.rec.Quarantine,
		Tag:          r.rec.Tag,
		Descriptor:   pi.desc,
		Platform:     pi.platform,
		Source:       r.src.String(),
		SourceDigest: r.imported.SourceDigest,
		Metadata:     r.meta.Publisher(),
		SBOM:         pi.sbom,
		Content:      r.qrepo,
		Policy:       r.p.cfg.PolicyRef,
		Time:         r.t,
	}
}

// attach attaches artifacts to subject in quarantine (attest.Attach: at
// the run time, marked as cssc's, custom enrichers' artifacts too) and
// records them.
func (r *run) attach(ctx context.Context, subject digest.Digest, platform, kind string, arts []registry.Artifact) ([]ArtifactRecord, error) {
	desc, err := r.descriptorOf(subject)
	if err != nil {
		return nil, err
	}
	descs, err := attest.Attach(ctx, r.qrepo, desc, r.t, arts...)
	if err != nil {
		return nil, err
	}
	var out []ArtifactRecord
	for i, a := range arts {
		d := descs[i]
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
// own (Config.SBOM). Vulnerability scanners match cssc's SBOM whenever one
// is generated: a publisher's SBOM is unverified input (it could leave out
// the vulnerable package), so it only adds licences and is recorded. cssc's
// SBOM is attached to every platform, beside the publisher's where there
// is one. An index-level publisher SBOM counts for a single-platform image
// only.
func (r *run) sbom(ctx context.Context) (Verdict, string, map[string]any, error) {
	gen, _ := r.p.cfg.SBOM.(attest.SBOMGenerator) // NewPipeline checked it
	var generated, publisher, onePass int
	var recs []ArtifactRecord
	for i := range r.images {
		pi := &r.images[i]
		if pi.pubSBOM = r.publisherSBOM(*pi); pi.pubSBOM != nil {
			publisher++
			pi.sbom, pi.sbomFrom = pi.pubSBOM, policy.SourcePublisher
		}
		if gen == nil {
			continue
		}
		doc, shared, err := r.generateSBOM(ctx, gen, pi)
		if err != nil {
			return "", "", nil, fmt.Errorf("generate SBOM for %s: %w", pi.desc.Digest, err)
		}
		onePass += shared
		if doc == nil {
			return "", "", nil, fmt.Errorf("generate SBOM for %s: generator returned no document", pi.desc.Digest)
		}
		pi.sbom = doc
		generated++
		if pi.pubSBOM == nil {
			pi.sbomFrom = policy.SourceGenerated
		}
		// cssc's SBOM is attached (and signed) beside a publisher's: it is
		// what the scanners matched, and the catalog rescans only what the
		// enterprise key signed. No metadata, so the enricher does not
		// step aside for the publisher's document.
		sub := r.subject(*pi)
		sub.Metadata = nil
		arts, err := gen.Enrich(ctx, sub)
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
	if onePass > 0 {
		out["sharedWalks"] = onePass
		reason += fmt.Sprintf(" (%d in one walk with the file scanners)", onePass)
	}
	switch {
	case gen == nil && publisher < len(r.images):
		return VerdictSkipped, reason + "; no SBOM for some platforms (no SBOM generator configured)", out, nil
	case gen == nil:
		return VerdictOK, reason + "; scanning the publisher's SBOMs (no SBOM generator configured)", out, nil
	}
	return VerdictOK, reason, out, nil
}

// publisherSBOM is the publisher's readable SBOM of a platform (or of the
// root, for a single-platform image), or nil.
func (r *run) publisherSBOM(pi platformImage) *sbom.Document {
	subjects := []digest.Digest{pi.desc.Digest}
	if len(r.images) == 1 {
		subjects = append(subjects, r.root.Digest)
	}
	for _, d := range subjects {
		for _, it := range r.meta.For(d) {
			if it.SBOM != nil && it.Err == nil && !it.Generated() {
				return it.SBOM
			}
		}
	}
	return nil
}

// lifecycle attaches the end-of-life marker (Config.Lifecycle) and the
// artifacts of further enrichers to the root.
func (r *run) lifecycle(ctx context.Context) (Verdict, string, map[string]any, error) {
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
		if r.eol, err = endOfLife(arts); err != nil {
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
	if r.eol.IsZero() {
		return VerdictSkipped, "no end-of-life date known", map[string]any{"artifacts": recs}, nil
	}
	return VerdictOK, "end of life " + attest.FormatDate(r.eol), map[string]any{"artifacts": recs, "endOfLife": r.eol}, nil
}

// endOfLife is the date of the last lifecycle marker among arts, zero if
// there is none. A marker whose date does not parse is an error.
func endOfLife(arts []registry.Artifact) (time.Time, error) {
	var eol time.Time
	for _, a := range arts {
		if a.ArtifactType != artifact.TypeLifecycle {
			continue
		}
		t, err := attest.ParseDate(a.Annotations[artifact.AnnotationEndOfLife])
		if err != nil {
			return time.Time{}, fmt.Errorf("lifecycle marker: %w", err)
		}
		eol = t
	}
	return eol, nil
}

// generateSBOM generates the SBOM of one platform. When the generator can
// be fed from a shared walk (attest.SBOMFileGenerator) and some scanners
// read files (scan.FileScanner), the platform is walked once for all of
// them (imagefs.WalkAll: one decompression and one digest check per layer)
// and the scanners' results are kept for the scan step; shared is 1 then.
// Otherwise GenerateSBOM walks on its own and the scanners will too.
func (r *run) generateSBOM(ctx context.Context, gen attest.SBOMGenerator, pi *platformImage) (*sbom.Document, int, error) {
	sub := r.subject(*pi)
	fgen, ok := gen.(attest.SBOMFileGenerator)
	var fileScanners []int
	for i, s := range r.p.cfg.Scanners {
		if _, ok := s.(scan.FileScanner); ok {
			fileScanners = append(fileScanners, i)
		}
	}
	if !ok || len(fileScanners) == 0 {
		doc, err := gen.GenerateSBOM(ctx, sub)
		return doc, 0, err
	}
	files, err := fgen.StartSBOM(ctx, sub)
	if err != nil || files == nil {
		if err != nil {
			return nil, 0, err
		}
		doc, err := gen.GenerateSBOM(ctx, sub)
		return doc, 0, err
	}
	visitors := []imagefs.Visitor{files}
	img := r.scanImage(*pi)
	var scans []scan.FileScan
	var started []int
	for _, i := range fileScanners {
		fs, err := r.p.cfg.Scanners[i].(scan.FileScanner).StartFiles(ctx, img)
		if err != nil {
			// This scanner's failure is the scan step's to report; the
			// others and the SBOM go on.
			pi.setFileScan(i, fileScanResult{err: err})
			continue
		}
		scans = append(scans, fs)
		started = append(started, i)
		visitors = append(visitors, fs)
	}
	errs, walkErr := imagefs.WalkAll(ctx, r.qrepo, pi.desc, r.p.cfg.Walk, imagefs.ShareOptions{}, visitors...)
	for k, fs := range scans {
		e := walkErr
		if e == nil {
			e = errs[k+1]
		}
		rep, err := fs.Finish(ctx, e)
		pi.setFileScan(started[k], fileScanResult{report: rep, err: err})
	}
	e := walkErr
	if e == nil {
		e = errs[0]
	}
	doc, err := files.Finish(ctx, e)
	return doc, 1, err
}

func (pi *platformImage) setFileScan(i int, res fileScanResult) {
	if pi.fileScans == nil {
		pi.fileScans = map[int]fileScanResult{}
	}
	pi.fileScans[i] = res
}
