package acquire

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
)

// run does the import; see ORASImporter.Import for the order of steps.
func (j *job) run(ctx context.Context, loc registry.Location) error {
	// 1. One HEAD upstream.
	root, err := j.resolveSource(ctx, loc)
	if err != nil {
		return err
	}

	// 2. Unchanged? Decided from the destination only.
	existing, err := j.existingTags(ctx)
	if err != nil {
		return err
	}
	if loc.Tag != "" && !j.opts.Recheck {
		if d, ok := existing[loc.Tag]; ok {
			done, err := j.unchanged(ctx, root, d)
			if err != nil {
				return err
			}
			if done {
				return j.finishUnchanged(ctx, d, existing)
			}
		}
	}

	// 3. Manifests: the image graph and the target root.
	raw, err := manifest.Fetch(ctx, j.src, root, j.im.client.MaxManifestBytes())
	if err != nil {
		return fmt.Errorf("fetch %s: %w", root.Digest, err)
	}
	target, subjects, err := j.planImage(ctx, root, raw)
	if err != nil {
		return err
	}
	j.res.Descriptor = target

	// 4. Tags are checked before any content moves.
	if err := j.checkTags(existing, target); err != nil {
		return err
	}

	// 5. Publisher artifacts (discovery only; content moves below).
	if err := j.discover(ctx, subjects); err != nil {
		return err
	}

	// 6. Blobs, then manifests children first, then tags.
	if err := j.copyBlobs(ctx); err != nil {
		return err
	}
	if err := j.pushManifests(ctx); err != nil {
		return err
	}
	return j.pushTags(ctx, target, existing)
}

// resolveSource resolves the source reference with one HEAD and records
// the source digest; a location by digest must resolve to that digest.
func (j *job) resolveSource(ctx context.Context, loc registry.Location) (ocispec.Descriptor, error) {
	root, err := j.src.resolve(ctx, loc.Reference())
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	if loc.Digest != "" && root.Digest != loc.Digest {
		return ocispec.Descriptor{}, fmt.Errorf("%w: source resolved %s to %s", registry.ErrDigestMismatch, loc.Digest, root.Digest)
	}
	j.res.SourceDigest, j.res.SourceMediaType = root.Digest, root.MediaType
	j.res.Descriptor = root
	return root, nil
}

// existingTags resolves the destination tags; a tag that does not exist is
// left out.
func (j *job) existingTags(ctx context.Context) (map[string]ocispec.Descriptor, error) {
	existing := map[string]ocispec.Descriptor{}
	for _, t := range j.tags {
		d, err := j.dst.resolve(ctx, t)
		switch {
		case err == nil:
			existing[t] = d
		case !isNotFound(err):
			return nil, err
		}
	}
	return existing, nil
}

// checkTags refuses to move an immutable tag and records the tags that
// move to target.
func (j *job) checkTags(existing map[string]ocispec.Descriptor, target ocispec.Descriptor) error {
	for _, t := range j.tags {
		d, ok := existing[t]
		if !ok || d.Digest == target.Digest {
			continue
		}
		if j.opts.ImmutableTags {
			return &TagConflictError{Location: j.dst.Location(), Tag: t, Existing: d.Digest, Want: target.Digest}
		}
		j.res.Changes = append(j.res.Changes, TagChange{Tag: t, Old: d.Digest, New: target.Digest})
	}
	return nil
}

// pushManifests pushes the planned manifests, children first, marks the
// artifacts the destination already had as present, and pushes the cosign
// tags.
func (j *job) pushManifests(ctx context.Context) error {
	present := map[digest.Digest]bool{}
	for _, n := range j.nodes {
		ok, err := j.pushManifest(ctx, n, "")
		if err != nil {
			return err
		}
		present[n.desc.Digest] = !ok
	}
	for i := range j.res.Artifacts {
		a := &j.res.Artifacts[i]
		if a.Status == ArtifactCopied && present[a.Descriptor.Digest] {
			a.Status, a.Reason = ArtifactPresent, "already in destination"
		}
	}
	for _, c := range j.cosignTag {
		if _, err := j.pushManifest(ctx, c.node, c.tag); err != nil {
			return err
		}
	}
	return nil
}

// pushTags points the destination tags at target, last.
func (j *job) pushTags(ctx context.Context, target ocispec.Descriptor, existing map[string]ocispec.Descriptor) error {
	rootNode := j.nodes[slices.IndexFunc(j.nodes, func(n node) bool { return n.desc.Digest == target.Digest })]
	for _, t := range j.tags {
		if d, ok := existing[t]; ok && d.Digest == target.Digest {
			j.res.Tags = append(j.res.Tags, t)
			continue
		}
		if _, err := j.pushManifest(ctx, rootNode, t); err != nil {
			return err
		}
		j.res.Tags = append(j.res.Tags, t)
	}
	return nil
}

// unchanged reports whether the destination's tag d already holds the
// import of root with the requested platforms. It reads only the
// destination.
func (j *job) unchanged(ctx context.Context, root, d ocispec.Descriptor) (bool, error) {
	if d.Digest == root.Digest {
		return len(j.platforms) == 0 || !manifest.IsIndex(root.MediaType) || j.platformsCoverAll(ctx, d), nil
	}
	if len(j.platforms) == 0 || !manifest.IsIndex(d.MediaType) {
		return false, nil
	}
	raw, err := manifest.Fetch(ctx, j.dst, d, j.im.client.MaxManifestBytes())
	if err != nil {
		return false, err
	}
	m, err := manifest.Parse(d.MediaType, raw)
	if err != nil {
		return false, nil
	}
	return m.Annotations[AnnotationSourceDigest] == root.Digest.String() &&
		m.Annotations[AnnotationSourcePlatforms] == platformsString(j.platforms), nil
}

// platformsCoverAll reports whether the requested platforms match every
// image of the destination index d (then the index was kept as published).
func (j *job) platformsCoverAll(ctx context.Context, d ocispec.Descriptor) bool {
	raw, err := manifest.Fetch(ctx, j.dst, d, j.im.client.MaxManifestBytes())
	if err != nil {
		return false
	}
	m, err := manifest.Parse(d.MediaType, raw)
	if err != nil {
		return false
	}
	for _, c := range m.Manifests {
		if !isAttestation(c) && !matchAny(j.platforms, c.Platform) {
			return false
		}
	}
	return true
}

// finishUnchanged completes the result of an unchanged image and sets the
// extra tags, if any are missing.
func (j *job) finishUnchanged(ctx context.Context, d ocispec.Descriptor, existing map[string]ocispec.Descriptor) error {
	j.res.Unchanged = true
	j.res.Descriptor = d
	j.res.Subset = d.Digest != j.res.SourceDigest
	raw, err := manifest.Fetch(ctx, j.dst, d, j.im.client.MaxManifestBytes())
	if err != nil {
		return err
	}
	if m, err := manifest.Parse(d.MediaType, raw); err == nil && manifest.IsIndex(d.MediaType) {
		for _, c := range m.Manifests {
			if c.Platform != nil && !isAttestation(c) {
				j.res.Platforms = append(j.res.Platforms, *c.Platform)
			}
		}
	}
	for _, t := range j.tags {
		e, ok := existing[t]
		if ok && e.Digest != d.Digest && j.opts.ImmutableTags {
			return &TagConflictError{Location: j.dst.Location(), Tag: t, Existing: e.Digest, Want: d.Digest}
		}
	}
	for _, t := range j.tags {
		e, ok := existing[t]
		if !ok || e.Digest != d.Digest {
			if ok {
				j.res.Changes = append(j.res.Changes, TagChange{Tag: t, Old: e.Digest, New: d.Digest})
			}
			if _, err := j.pushManifest(ctx, node{desc: d, raw: raw}, t); err != nil {
				return err
			}
		}
		j.res.Tags = append(j.res.Tags, t)
	}
	return nil
}

// planImage walks the image graph from root (whose bytes are raw), applying
// the platform subset, and returns the destination root and the manifests
// whose publisher artifacts are to be looked up.
func (j *job) planImage(ctx context.Context, root ocispec.Descriptor, raw []byte) (ocispec.Descriptor, []ocispec.Descriptor, error) {
	j.seen, j.blobSeen = map[digest.Digest]bool{}, map[digest.Digest]bool{}
	if !manifest.IsIndex(root.MediaType) {
		if err := j.walk(ctx, root, raw, 0); err != nil {
			return ocispec.Descriptor{}, nil, err
		}
		return root, []ocispec.Descriptor{root}, nil
	}
	idx, err := manifest.Parse(root.MediaType, raw)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("index %s: %w", root.Digest, err)
	}
	keep, kept, err := j.selectPlatforms(root, idx)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if err := j.planAttestations(ctx, idx, keep, kept); err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	subjects, err := j.walkKept(ctx, root, idx, keep)
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if !slices.Contains(keep, false) {
		j.addNode(node{desc: root, raw: raw})
		return root, subjects, nil
	}
	// A subset: a new index.
	newRaw, err := subsetIndex(raw, keep, root.Digest, platformsString(j.platforms))
	if err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	target := ocispec.Descriptor{MediaType: root.MediaType, Digest: digest.FromBytes(newRaw), Size: int64(len(newRaw))}
	j.addNode(node{desc: target, raw: newRaw})
	j.res.Subset = true
	return target, subjects, nil
}

// selectPlatforms marks the images of the index root to keep (all of
// them, or those of the requested platforms) and fails when a requested
// platform has no image. It returns the marks by position and the kept
// images by digest.
func (j *job) selectPlatforms(root ocispec.Descriptor, idx *manifest.Manifest) ([]bool, map[digest.Digest]bool, error) {
	keep := make([]bool, len(idx.Manifests))
	kept := map[digest.Digest]bool{}
	for i, c := range idx.Manifests {
		if !isAttestation(c) && (len(j.platforms) == 0 || matchAny(j.platforms, c.Platform)) {
			keep[i], kept[c.Digest] = true, true
		}
	}
	for _, p := range j.platforms {
		if !slices.ContainsFunc(idx.Manifests, func(c ocispec.Descriptor) bool { return !isAttestation(c) && p.match(c.Platform) }) {
			return nil, nil, fmt.Errorf("index %s: %w: %s", root.Digest, ErrPlatformNotFound, p)
		}
	}
	return keep, kept, nil
}

// planAttestations decides the buildkit attestation manifests of the
// index, which are part of it: with the whole index they are kept whatever
// the filter says (dropping them would change the digest); with a subset,
// the filter decides. Kept ones are marked in keep.
func (j *job) planAttestations(ctx context.Context, idx *manifest.Manifest, keep []bool, kept map[digest.Digest]bool) error {
	subset := len(j.platforms) > 0
	for i, c := range idx.Manifests {
		if !isAttestation(c) {
			continue
		}
		ref := digest.Digest(c.Annotations[artifact.AnnotationDockerReferenceDigest])
		a := ImportedArtifact{Descriptor: c, Subject: ref, Kind: ArtifactBuildkit, Status: ArtifactCopied}
		craw, err := manifest.Fetch(ctx, j.src, c, j.im.client.MaxManifestBytes())
		if err != nil {
			return fmt.Errorf("fetch attestation %s: %w", c.Digest, err)
		}
		a.Descriptor.ArtifactType = effectiveType(c, craw)
		switch {
		case subset && !kept[ref]:
			a.Status, a.Reason = ArtifactFiltered, "platform not imported"
		case subset && !j.opts.Artifacts.Allows(a.Descriptor):
			a.Status, a.Reason = ArtifactFiltered, j.opts.Artifacts.reason(a.Descriptor)
		case !subset && !j.opts.Artifacts.Allows(a.Descriptor):
			a.Reason = "part of the index: kept to keep its digest"
		default:
			a.Reason = "inside the index"
		}
		if a.Status == ArtifactCopied {
			keep[i] = true
		}
		if err := j.addArtifact(a); err != nil {
			return err
		}
	}
	return nil
}

// walkKept walks the kept entries of the index root and returns the
// subjects whose publisher artifacts are to be looked up: root and every
// kept entry.
func (j *job) walkKept(ctx context.Context, root ocispec.Descriptor, idx *manifest.Manifest, keep []bool) ([]ocispec.Descriptor, error) {
	subjects := []ocispec.Descriptor{root}
	for i, c := range idx.Manifests {
		if !keep[i] {
			continue
		}
		if err := j.walkDesc(ctx, c, 1); err != nil {
			return nil, err
		}
		subjects = append(subjects, c)
		if c.Platform != nil && !isAttestation(c) {
			j.res.Platforms = append(j.res.Platforms, *c.Platform)
		}
	}
	return subjects, nil
}

// subsetIndex returns the index raw with only the entries marked in keep
// and the import annotations; every other field is kept.
func subsetIndex(raw []byte, keep []bool, source digest.Digest, platforms string) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%w: %w", registry.ErrInvalidManifest, err)
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(doc["manifests"], &entries); err != nil || len(entries) != len(keep) {
		return nil, fmt.Errorf("%w: index manifests", registry.ErrInvalidManifest)
	}
	var kept []json.RawMessage
	for i, e := range entries {
		if keep[i] {
			kept = append(kept, e)
		}
	}
	ann := map[string]string{}
	if a, ok := doc["annotations"]; ok {
		if err := json.Unmarshal(a, &ann); err != nil {
			return nil, fmt.Errorf("%w: index annotations: %w", registry.ErrInvalidManifest, err)
		}
	}
	if ann == nil { // "annotations": null
		ann = map[string]string{}
	}
	ann[AnnotationSourceDigest] = source.String()
	ann[AnnotationSourcePlatforms] = platforms
	var err error
	if doc["manifests"], err = json.Marshal(kept); err != nil {
		return nil, err
	}
	if doc["annotations"], err = json.Marshal(ann); err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

// walkDesc fetches the manifest desc and walks it.
func (j *job) walkDesc(ctx context.Context, desc ocispec.Descriptor, depth int) error {
	if j.seen[desc.Digest] {
		return nil
	}
	raw, err := manifest.Fetch(ctx, j.src, desc, j.im.client.MaxManifestBytes())
	if err != nil {
		return fmt.Errorf("fetch manifest %s: %w", desc.Digest, err)
	}
	return j.walk(ctx, desc, raw, depth)
}

// walk records the blobs and child manifests of the manifest desc (bytes
// raw), children before desc itself.
func (j *job) walk(ctx context.Context, desc ocispec.Descriptor, raw []byte, depth int) error {
	if j.seen[desc.Digest] {
		return nil
	}
	if depth > 8 {
		return fmt.Errorf("manifest %s: %w: nested too deep", desc.Digest, registry.ErrInvalidManifest)
	}
	m, err := manifest.Parse(desc.MediaType, raw)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	for _, c := range m.Manifests {
		if err := j.walkDesc(ctx, c, depth+1); err != nil {
			return err
		}
	}
	if m.Config != nil {
		j.addBlob(*m.Config)
	}
	for _, l := range m.Layers {
		j.addBlob(l)
	}
	j.addNode(node{desc: desc, raw: raw})
	return nil
}

func (j *job) addNode(n node) {
	if j.seen[n.desc.Digest] {
		return
	}
	j.seen[n.desc.Digest] = true
	j.nodes = append(j.nodes, n)
}

func (j *job) addBlob(d ocispec.Descriptor) {
	if j.blobSeen[d.Digest] {
		return
	}
	j.blobSeen[d.Digest] = true
	j.blobs = append(j.blobs, ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, URLs: d.URLs, Data: d.Data})
}

func (j *job) addArtifact(a ImportedArtifact) error {
	if len(j.res.Artifacts) >= j.im.opts.MaxArtifacts {
		return fmt.Errorf("artifacts: %w: more than %d", registry.ErrSizeExceeded, j.im.opts.MaxArtifacts)
	}
	j.res.Artifacts = append(j.res.Artifacts, a)
	return nil
}

// discoverItem is a manifest whose publisher artifacts are to be looked
// up, at its depth in the chain of referrers (0 for the image).
type discoverItem struct {
	desc  ocispec.Descriptor
	depth int
}

// discover finds the publisher artifacts of subjects (OCI referrers, with
// the fallback tag when the source has no referrers API, and cosign tags),
// follows referrers of artifacts up to ArtifactDepth, applies the filter
// and walks what is to be copied.
func (j *job) discover(ctx context.Context, subjects []ocispec.Descriptor) error {
	queue := make([]discoverItem, 0, len(subjects))
	for _, s := range subjects {
		queue = append(queue, discoverItem{s, 0})
	}
	found := map[digest.Digest]bool{}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		next, err := j.discoverReferrers(ctx, it, found)
		if err != nil {
			return err
		}
		queue = append(queue, next...)
		if j.opts.SkipCosignTags || it.depth > 0 {
			continue
		}
		if err := j.discoverCosignTags(ctx, it.desc, found); err != nil {
			return err
		}
	}
	return nil
}

// discoverReferrers records the OCI referrers of it not found yet and
// walks those to be copied; it returns those whose own referrers are to be
// looked up (below ArtifactDepth).
func (j *job) discoverReferrers(ctx context.Context, it discoverItem, found map[digest.Digest]bool) ([]discoverItem, error) {
	refs, err := registry.Referrers(ctx, j.src, it.desc, "")
	if err != nil {
		return nil, fmt.Errorf("referrers of %s: %w", it.desc.Digest, err)
	}
	var next []discoverItem
	for _, r := range refs {
		if found[r.Digest] || j.seen[r.Digest] {
			continue
		}
		found[r.Digest] = true
		// Filter on the manifest itself, not on the listing: a
		// referrers list (above all the fallback tag's index, which
		// the publisher writes) can describe an artifact as
		// something it is not.
		r, err := j.manifestDescriptor(ctx, r, it.desc.Digest)
		if err != nil {
			return nil, err
		}
		a := ImportedArtifact{Descriptor: r, Subject: it.desc.Digest, Kind: ArtifactReferrer, Status: ArtifactCopied}
		if r.Annotations[annotationSubjectMismatch] != "" {
			a.Status, a.Reason = ArtifactFiltered, "its manifest names another subject"
		} else if !j.opts.Artifacts.Allows(r) {
			a.Status, a.Reason = ArtifactFiltered, j.opts.Artifacts.reason(r)
		} else if err := j.walkDesc(ctx, r, 0); err != nil {
			return nil, err
		} else if it.depth+1 < j.im.opts.ArtifactDepth {
			next = append(next, discoverItem{r, it.depth + 1})
		}
		if err := j.addArtifact(a); err != nil {
			return nil, err
		}
	}
	return next, nil
}

// discoverCosignTags records the artifacts of subject under the cosign
// tags "<alg>-<hex>.sig", ".att" and ".sbom" not found yet, and walks
// those to be copied.
func (j *job) discoverCosignTags(ctx context.Context, subject ocispec.Descriptor, found map[digest.Digest]bool) error {
	for _, suffix := range []string{".sig", ".att", ".sbom"} {
		tag := subject.Digest.Algorithm().String() + "-" + subject.Digest.Encoded() + suffix
		d, err := j.src.resolve(ctx, tag)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("cosign tag %s: %w", tag, err)
		}
		if found[d.Digest] {
			continue
		}
		found[d.Digest] = true
		raw, err := manifest.Fetch(ctx, j.src, d, j.im.client.MaxManifestBytes())
		if err != nil {
			return fmt.Errorf("cosign tag %s: %w", tag, err)
		}
		d.ArtifactType = effectiveType(d, raw)
		if m, err := manifest.Parse(d.MediaType, raw); err == nil && len(d.Annotations) == 0 {
			d.Annotations = maps.Clone(m.Annotations)
		}
		a := ImportedArtifact{Descriptor: d, Subject: subject.Digest, Kind: ArtifactCosignTag, Tag: tag, Status: ArtifactCopied}
		if !j.opts.Artifacts.Allows(d) {
			a.Status, a.Reason = ArtifactFiltered, j.opts.Artifacts.reason(d)
		} else {
			if err := j.walk(ctx, d, raw, 0); err != nil {
				return err
			}
			j.cosignTag = append(j.cosignTag, taggedNode{node{desc: d, raw: raw}, tag})
		}
		if err := j.addArtifact(a); err != nil {
			return err
		}
	}
	return nil
}

// isAttestation reports whether an index entry is a buildkit attestation
// manifest.
func isAttestation(d ocispec.Descriptor) bool {
	return d.Annotations[artifact.AnnotationDockerReferenceType] == artifact.AttestationManifest
}

// effectiveType returns the type an artifact is filtered by: the
// manifest's artifactType; else its config media type unless that is a
// plain image config; else the media type of its first layer.
func effectiveType(d ocispec.Descriptor, raw []byte) string {
	if d.ArtifactType != "" {
		return d.ArtifactType
	}
	m, err := manifest.Parse(d.MediaType, raw)
	if err != nil {
		return ""
	}
	if m.ArtifactType != "" {
		return m.ArtifactType
	}
	if m.Config != nil {
		switch m.Config.MediaType {
		case ocispec.MediaTypeImageConfig, "application/vnd.docker.container.image.v1+json", ocispec.MediaTypeEmptyJSON, "":
		default:
			return m.Config.MediaType
		}
	}
	if len(m.Layers) > 0 {
		return m.Layers[0].MediaType
	}
	return ""
}

// platformSpec is one requested platform.
type platformSpec struct{ os, arch, variant string }

func (p platformSpec) String() string {
	if p.variant != "" {
		return p.os + "/" + p.arch + "/" + p.variant
	}
	return p.os + "/" + p.arch
}

func (p platformSpec) match(pl *ocispec.Platform) bool {
	return pl != nil && pl.OS == p.os && pl.Architecture == p.arch && (p.variant == "" || p.variant == pl.Variant)
}

func matchAny(ps []platformSpec, pl *ocispec.Platform) bool {
	return slices.ContainsFunc(ps, func(p platformSpec) bool { return p.match(pl) })
}

func parsePlatforms(in []string) ([]platformSpec, error) {
	var out []platformSpec
	for _, s := range in {
		parts := strings.Split(s, "/")
		if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
			return nil, fmt.Errorf("%w: platform %q: want os/arch[/variant]", ErrInvalidOptions, s)
		}
		p := platformSpec{os: parts[0], arch: parts[1]}
		if len(parts) == 3 {
			p.variant = parts[2]
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

func platformsString(ps []platformSpec) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	slices.Sort(s)
	return strings.Join(s, ",")
}

// annotationSubjectMismatch marks (in memory only) a listed referrer whose
// manifest does not name the subject it was listed for.
const annotationSubjectMismatch = "dev.cssc.import.subject-mismatch"

// manifestDescriptor fetches a listed referrer's manifest and returns its
// descriptor with the artifactType (or config media type) and annotations
// the manifest really has.
func (j *job) manifestDescriptor(ctx context.Context, listed ocispec.Descriptor, subject digest.Digest) (ocispec.Descriptor, error) {
	raw, err := manifest.Fetch(ctx, j.src, listed, 0)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("referrer %s: %w", listed.Digest, err)
	}
	m, err := manifest.Parse(listed.MediaType, raw)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("referrer %s: %w", listed.Digest, err)
	}
	d := ocispec.Descriptor{MediaType: listed.MediaType, Digest: listed.Digest, Size: listed.Size, ArtifactType: m.ArtifactType, Annotations: m.Annotations}
	if d.ArtifactType == "" && m.Config != nil {
		d.ArtifactType = m.Config.MediaType
	}
	if m.Subject == nil || m.Subject.Digest != subject {
		d.Annotations = maps.Clone(d.Annotations)
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		d.Annotations[annotationSubjectMismatch] = "true"
	}
	return d, nil
}
