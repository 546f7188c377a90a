package catalog

import (
	"cmp"
	"context"
	"encoding/json"
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
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/dn"
)

// ErrRegistry marks a Catalog error caused by the registry or the
// verifier (a network error, a 5xx, a refused request), as opposed to bad
// content, which becomes a Problem on the entry. The image should be
// catalogued again later; nothing about it was learnt.
var ErrRegistry = errors.New("catalog: registry error")

// CatalogerOptions configure NewCataloger.
type CatalogerOptions struct {
	// Verifier verifies the enterprise signatures of the image, its
	// platform manifests and every artifact. Required: without it nothing
	// can be trusted (NewCataloger fails).
	Verifier sign.Verifier
	// Identities, if not empty, are the enterprise signer identities
	// accepted (distinguished names compared as names, see sign/dn); a
	// signature the Verifier verifies for another identity is untrusted.
	// Empty means every identity the Verifier's trust material verifies.
	Identities []string
	// Require lists the evidence (Evidence constants) whose absence is a
	// Problem. Nil means EvidenceSignature, EvidenceSBOM,
	// EvidenceVulnReport, EvidenceProvenance and EvidenceSummary (what
	// every promotion writes); malware reports and lifecycle markers are
	// then optional.
	Require []string
	// OwnerLabel is the image config label that names the owner. Empty
	// means "dev.cssc.owner".
	OwnerLabel string
	// MaxManifestBytes caps every manifest read. Zero means 4 MiB.
	MaxManifestBytes int64
	// MaxBlobBytes caps every SBOM, statement and report read. Zero means
	// 16 MiB (reports: at most scan.MaxReportSize).
	MaxBlobBytes int64
	// MaxChildren caps the platform manifests of an index. Zero means 256.
	MaxChildren int
	// Logger receives debug logs. Nil means silent.
	Logger *slog.Logger
}

// RegistryCataloger is the default Cataloger: it builds an entry from the
// golden registry only, trusting only evidence the enterprise key signed.
type RegistryCataloger struct {
	opts     CatalogerOptions
	require  map[string]bool
	log      *slog.Logger
	accepted []string // canonical identities
}

var _ Cataloger = (*RegistryCataloger)(nil)

// NewCataloger returns the default Cataloger. It fails without a
// Verifier.
func NewCataloger(opts CatalogerOptions) (*RegistryCataloger, error) {
	if opts.Verifier == nil {
		return nil, errors.New("catalog: cataloger needs a Verifier for the enterprise signatures")
	}
	if opts.Require == nil {
		opts.Require = []string{EvidenceSignature, EvidenceSBOM, EvidenceVulnReport, EvidenceProvenance, EvidenceSummary}
	}
	if opts.OwnerLabel == "" {
		opts.OwnerLabel = "dev.cssc.owner"
	}
	if opts.MaxManifestBytes <= 0 {
		opts.MaxManifestBytes = 4 << 20
	}
	if opts.MaxBlobBytes <= 0 {
		opts.MaxBlobBytes = attest.MaxStatementBytes
	}
	if opts.MaxChildren <= 0 {
		opts.MaxChildren = 256
	}
	c := &RegistryCataloger{opts: opts, require: map[string]bool{}, log: opts.Logger}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	for _, r := range opts.Require {
		c.require[r] = true
	}
	for _, id := range opts.Identities {
		c.accepted = append(c.accepted, dn.Canonical(id))
	}
	return c, nil
}

// build is the state of one Catalog call.
type build struct {
	c      *RegistryCataloger
	repo   registry.Repository
	e      *Entry
	trust  map[digest.Digest]*trust // verification per manifest
	blobs  map[digest.Digest]bool   // counted for Size
	labels map[string]string
}

// trust is the enterprise verification of one manifest.
type trust struct {
	ok         bool
	identities []string
	cause      string
}

// Catalog implements Cataloger. The error wraps ErrRegistry when the
// registry or the verifier failed (try again later), registry.ErrNotFound
// when ref does not exist, and ErrInvalidEntry-free content problems never
// fail: they are Problems.
func (c *RegistryCataloger) Catalog(ctx context.Context, repo registry.Repository, ref string) (*Entry, error) {
	root, err := repo.Resolve(ctx, ref)
	if err != nil {
		return nil, registryErr("resolve "+ref, err)
	}
	b := &build{c: c, repo: repo, trust: map[digest.Digest]*trust{}, blobs: map[digest.Digest]bool{}, labels: map[string]string{}}
	b.e = &Entry{Repository: repo.Location(), Digest: root.Digest, MediaType: root.MediaType}
	if err := b.image(ctx, root); err != nil {
		return nil, err
	}
	md, err := attest.Discover(ctx, repo, plain(root), &attest.Options{
		MaxManifestBytes: c.opts.MaxManifestBytes, MaxBlobBytes: c.opts.MaxBlobBytes, MaxChildren: c.opts.MaxChildren, Logger: c.opts.Logger,
		// Golden holds no publisher artifact that claims to be cssc's (the
		// pipeline drops them): cssc's SBOMs of a large multi-platform
		// image do not use up the publisher's budget.
		ExemptGenerated: true,
	})
	if err != nil {
		return nil, registryErr("discover", err)
	}
	if md.Truncated {
		b.problem(root.Digest, EvidenceReferrers, ReasonUnreadable, "", "more metadata than the discovery caps allow; some was not read")
	}
	if err := b.evidence(ctx, md); err != nil {
		return nil, err
	}
	if len(b.labels) > 0 {
		b.e.Labels = b.labels
		b.e.Owner = b.labels[c.opts.OwnerLabel]
	}
	b.e.Normalize()
	return b.e, nil
}

// registryErr wraps an error of the registry: not found stays not found,
// bad content is reported as is, anything else is ErrRegistry.
func registryErr(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, registry.ErrNotFound) || contentErr(err) {
		return fmt.Errorf("catalog: %s: %w", what, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrRegistry, what, err)
}

// contentErr reports whether err is about the content read (corrupt,
// malformed, too large, of an unknown format, missing from a listing that
// named it), which no retry changes.
func contentErr(err error) bool {
	for _, s := range []error{attest.ErrMalformed, attest.ErrTooLarge, attest.ErrUnsupportedFormat,
		registry.ErrInvalidManifest, registry.ErrDigestMismatch, registry.ErrSizeExceeded, registry.ErrNotFound,
		registry.ErrInvalidReference, scan.ErrInvalidReport, sbom.ErrInvalidDocument, sbom.ErrTooLarge, sbom.ErrUnsupportedMediaType} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func plain(d ocispec.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: d.ArtifactType}
}

func platformString(p *ocispec.Platform) string {
	if p == nil || p.OS == "" {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

func (b *build) problem(subject digest.Digest, evidence, reason string, art digest.Digest, detail string) {
	b.e.Problems = append(b.e.Problems, Problem{Subject: subject, Evidence: evidence, Reason: reason, Artifact: art, Detail: detail})
}

func (b *build) size(d ocispec.Descriptor) {
	if !b.blobs[d.Digest] {
		b.blobs[d.Digest] = true
		b.e.Size += d.Size
	}
}

// image reads the root manifest or index and its platform manifests:
// children, platforms, sizes, labels, and the enterprise signature of each.
func (b *build) image(ctx context.Context, root ocispec.Descriptor) error {
	raw, err := manifest.Fetch(ctx, b.repo, root, b.c.opts.MaxManifestBytes)
	if err != nil {
		return registryErr("fetch "+root.Digest.String(), err)
	}
	m, err := manifest.Parse(root.MediaType, raw)
	if err != nil {
		return fmt.Errorf("catalog: %s: %w", root.Digest, err)
	}
	b.size(root)
	if err := b.verify(ctx, root); err != nil {
		return err
	}
	t := b.trust[root.Digest]
	b.e.Signature = Signature{Verified: t.ok, Identities: t.identities}
	b.signatureProblem(root.Digest, t)
	if !manifest.IsIndex(root.MediaType) {
		ch, err := b.child(ctx, root, m, nil)
		if err != nil {
			return err
		}
		b.e.Children = []Child{ch}
		return nil
	}
	n := 0
	for _, d := range m.Manifests {
		if d.Annotations[artifact.AnnotationDockerReferenceType] == artifact.AttestationManifest || !manifest.IsManifest(d.MediaType) {
			continue
		}
		if n >= b.c.opts.MaxChildren {
			b.problem(root.Digest, EvidenceManifest, ReasonUnreadable, "", fmt.Sprintf("index has more than %d platform manifests; the rest were not read", b.c.opts.MaxChildren))
			break
		}
		n++
		raw, err := manifest.Fetch(ctx, b.repo, d, b.c.opts.MaxManifestBytes)
		if err != nil {
			if contentErr(err) {
				b.problem(d.Digest, EvidenceManifest, ReasonUnreadable, d.Digest, err.Error())
				continue
			}
			return registryErr("fetch "+d.Digest.String(), err)
		}
		cm, err := manifest.Parse(d.MediaType, raw)
		if err != nil {
			b.problem(d.Digest, EvidenceManifest, ReasonUnreadable, d.Digest, err.Error())
			continue
		}
		if err := b.verify(ctx, d); err != nil {
			return err
		}
		b.signatureProblem(d.Digest, b.trust[d.Digest])
		ch, err := b.child(ctx, d, cm, d.Platform)
		if err != nil {
			return err
		}
		b.e.Children = append(b.e.Children, ch)
	}
	return nil
}

func (b *build) signatureProblem(d digest.Digest, t *trust) {
	switch {
	case t.ok:
	case t.cause == "":
		if b.c.require[EvidenceSignature] {
			b.problem(d, EvidenceSignature, ReasonMissing, "", "no enterprise signature")
		}
	default:
		b.problem(d, EvidenceSignature, ReasonUntrusted, "", t.cause)
	}
}

// child reads a platform manifest's config for its platform and labels.
func (b *build) child(ctx context.Context, d ocispec.Descriptor, m *manifest.Manifest, p *ocispec.Platform) (Child, error) {
	t := b.trust[d.Digest]
	ch := Child{Digest: d.Digest, MediaType: d.MediaType, Platform: platformString(p), Size: d.Size,
		Signature: Signature{Verified: t.ok, Identities: t.identities}}
	b.size(d)
	if m.Config != nil {
		ch.Size += m.Config.Size
		b.size(*m.Config)
	}
	for _, l := range m.Layers {
		ch.Size += l.Size
		b.size(l)
	}
	if m.Config == nil || m.Config.Size > b.c.opts.MaxManifestBytes || (m.Config.MediaType != ocispec.MediaTypeImageConfig && m.Config.MediaType != "application/vnd.docker.container.image.v1+json") {
		return ch, nil
	}
	raw, err := manifest.Fetch(ctx, b.repo, *m.Config, b.c.opts.MaxManifestBytes)
	if err != nil {
		if contentErr(err) {
			b.problem(d.Digest, EvidenceManifest, ReasonUnreadable, m.Config.Digest, "config: "+err.Error())
			return ch, nil
		}
		return ch, registryErr("fetch config "+m.Config.Digest.String(), err)
	}
	var img ocispec.Image
	if err := json.Unmarshal(raw, &img); err != nil {
		b.problem(d.Digest, EvidenceManifest, ReasonUnreadable, m.Config.Digest, "config: "+err.Error())
		return ch, nil
	}
	if ch.Platform == "" {
		ch.Platform = platformString(&img.Platform)
	}
	// Labels of several platforms are merged in index order: the first
	// platform's value wins.
	for k, v := range img.Config.Labels {
		if _, ok := b.labels[k]; !ok {
			b.labels[k] = v
		}
	}
	return ch, nil
}

// verify verifies the enterprise signature of the manifest d once.
func (b *build) verify(ctx context.Context, d ocispec.Descriptor) error {
	if _, ok := b.trust[d.Digest]; ok {
		return nil
	}
	if d.MediaType == "" {
		d.MediaType = ocispec.MediaTypeImageManifest
	}
	v, err := sign.VerifyAs(ctx, b.c.opts.Verifier, b.repo, "", plain(d))
	if err != nil {
		return registryErr("verify "+d.Digest.String(), err)
	}
	t := &trust{}
	if v != nil {
		for _, s := range v.Signatures {
			id := dn.Canonical(s.Identity)
			if s.Verified() && (len(b.c.accepted) == 0 || slices.Contains(b.c.accepted, id)) {
				t.ok = true
				t.identities = append(t.identities, id)
			}
		}
		if !t.ok && len(v.Signatures) > 0 {
			var causes []string
			for _, s := range v.Signatures {
				c := s.Cause
				if s.Verified() {
					c = "signer " + dn.Canonical(s.Identity) + " is not an accepted enterprise identity"
				}
				causes = append(causes, fmt.Sprintf("%s signature %s: %s", s.Format, s.Digest, c))
			}
			slices.Sort(causes)
			t.cause = strings.Join(causes, "; ")
		}
	}
	slices.Sort(t.identities)
	t.identities = slices.Compact(t.identities)
	b.trust[d.Digest] = t
	return nil
}

// candidate is one piece of evidence about one subject.
type candidate struct {
	evidence string
	item     attest.Item
	trusted  bool
	created  string
}

// evidenceOf classifies an item; "" means it is no evidence the catalog
// reads (signatures, other statements, other artifacts).
func evidenceOf(it attest.Item) string {
	switch it.Kind {
	case attest.KindSBOM:
		return EvidenceSBOM
	case attest.KindProvenance:
		return EvidenceProvenance
	case attest.KindLifecycle:
		return EvidenceLifecycle
	case attest.KindReport:
		if it.Annotations[artifact.AnnotationReportKind] == artifact.ReportKindMalware {
			return EvidenceMalware
		}
		return EvidenceVulnReport
	case attest.KindStatement:
		if it.PredicateType == artifact.PredicateVerificationSummaryV1 {
			return EvidenceSummary
		}
	}
	return ""
}

// evidence reads the discovered metadata: for each subject and kind of
// evidence, the trusted items are used and the others are problems.
func (b *build) evidence(ctx context.Context, md *attest.Metadata) error {
	subjects := []digest.Digest{b.e.Digest}
	for _, ch := range b.e.Children {
		if ch.Digest != b.e.Digest {
			subjects = append(subjects, ch.Digest)
		}
	}
	bySubject := map[digest.Digest]map[string][]candidate{}
	for _, it := range md.Items {
		if !slices.Contains(subjects, it.Subject) {
			continue
		}
		ev := evidenceOf(it)
		if it.Err != nil && ev == "" {
			// Nothing could be read: a listing, a tag or a manifest failed.
			if !contentErr(it.Err) {
				return registryErr("metadata of "+it.Subject.String(), it.Err)
			}
			// A listing that failed, or an artifact that claims to be
			// cssc's, is a problem; a publisher's unreadable artifact of
			// unknown kind is no evidence the catalog reads.
			if it.Manifest.Digest == "" || it.Generated() {
				b.problem(it.Subject, EvidenceReferrers, ReasonUnreadable, it.Manifest.Digest, it.Err.Error())
			}
			continue
		}
		if ev == "" {
			continue
		}
		if it.Manifest.Digest == "" {
			continue
		}
		if err := b.verify(ctx, it.Manifest); err != nil {
			return err
		}
		m := bySubject[it.Subject]
		if m == nil {
			m = map[string][]candidate{}
			bySubject[it.Subject] = m
		}
		m[ev] = append(m[ev], candidate{evidence: ev, item: it, trusted: b.trust[it.Manifest.Digest].ok, created: it.Annotations[ocispec.AnnotationCreated]})
	}
	for _, s := range subjects {
		isRoot := s == b.e.Digest
		isChild := slices.ContainsFunc(b.e.Children, func(c Child) bool { return c.Digest == s })
		var want []string
		if isRoot {
			want = append(want, EvidenceProvenance, EvidenceSummary, EvidenceLifecycle)
		}
		if isChild {
			want = append(want, EvidenceSBOM, EvidenceVulnReport, EvidenceMalware)
		}
		for _, ev := range want {
			if err := b.use(ctx, s, ev, bySubject[s][ev]); err != nil {
				return err
			}
		}
	}
	return nil
}

// use applies the evidence of one kind about one subject.
func (b *build) use(ctx context.Context, subject digest.Digest, ev string, cands []candidate) error {
	var trusted []candidate
	for _, c := range cands {
		switch {
		case !c.trusted:
			// A publisher's item (no cssc generator annotation) beside a
			// trusted one is not a catalog fact and not a problem.
			if !c.item.Generated() && slices.ContainsFunc(cands, func(o candidate) bool { return o.trusted }) {
				continue
			}
			cause := b.trust[c.item.Manifest.Digest].cause
			if cause == "" {
				cause = "no enterprise signature"
			}
			b.problem(subject, ev, ReasonUntrusted, c.item.Manifest.Digest, cause)
			if ev == EvidenceVulnReport || ev == EvidenceMalware {
				b.e.Reports = append(b.e.Reports, reportFromAnnotations(subject, c.item, false))
			}
		case c.item.Err != nil:
			if !contentErr(c.item.Err) {
				return registryErr("read "+c.item.Manifest.Digest.String(), c.item.Err)
			}
			b.problem(subject, ev, ReasonUnreadable, c.item.Manifest.Digest, c.item.Err.Error())
		default:
			trusted = append(trusted, c)
		}
	}
	// Newest first (creation time, then digest), so the one in force is
	// trusted[0] whatever the listing order.
	slices.SortFunc(trusted, func(a, b candidate) int {
		return cmp.Or(strings.Compare(b.created, a.created), strings.Compare(string(b.item.Manifest.Digest), string(a.item.Manifest.Digest)))
	})
	if len(trusted) == 0 {
		if b.c.require[ev] && !slices.ContainsFunc(b.e.Problems, func(p Problem) bool { return p.Subject == subject && p.Evidence == ev }) {
			b.problem(subject, ev, ReasonMissing, "", "no "+ev+" signed by the enterprise key")
		}
		return nil
	}
	switch ev {
	case EvidenceSBOM:
		b.sbom(subject, trusted[0])
	case EvidenceProvenance:
		p := trusted[0].item.Provenance
		if p.Source != nil {
			b.e.Source.Reference = p.Source.URI
			if h, ok := p.Source.Digest["sha256"]; ok {
				b.e.Source.Digest = digest.NewDigestFromEncoded(digest.SHA256, h)
			}
		}
		b.e.AcquiredAt = p.StartedOn
	case EvidenceSummary:
		vsa, dec, err := attest.ParseVerificationSummary(trusted[0].item.Statement)
		if err != nil {
			b.problem(subject, ev, ReasonUnreadable, trusted[0].item.Manifest.Digest, err.Error())
			return nil
		}
		d := &Decision{Result: vsa.GetVerificationResult(), Verifier: vsa.GetVerifier().GetId(), Digest: trusted[0].item.Manifest.Digest,
			Policy: vsa.GetPolicy().GetUri()}
		if dec != nil {
			d.Mode = dec.Mode
		}
		b.e.Decision = d
		if t := vsa.GetTimeVerified(); t != nil {
			b.e.PromotedAt = t.AsTime()
		}
	case EvidenceLifecycle:
		var ls, states []attest.Lifecycle
		for _, c := range trusted {
			ls = append(ls, *c.item.Lifecycle)
			if c.item.Lifecycle.State != nil {
				states = append(states, *c.item.Lifecycle)
			}
		}
		// A marker that records a lifecycle state (catalog/lifecycle writes
		// one on every change) is the catalog's state: the newest one wins
		// over markers that carry only a date, which are inputs of the
		// next lifecycle run.
		if cur := attest.CurrentLifecycle(states); cur != nil {
			st := cur.State
			eol := &EndOfLife{Date: cur.EndOfLife, Source: cmp.Or(st.Source, SourceMarker), Marker: cur.Digest, Reason: st.Reason}
			for _, s := range st.Sources {
				eol.Sources = append(eol.Sources, EndOfLifeSource{Role: s.Role, Source: s.Source, Date: s.Date, Detail: s.Detail})
			}
			b.e.EndOfLife, b.e.Status, b.e.Replacement = eol, Status(st.Status), st.Replacement
		} else if cur := attest.CurrentLifecycle(ls); cur != nil {
			b.e.EndOfLife = &EndOfLife{Date: cur.EndOfLife, Source: SourceMarker, Marker: cur.Digest}
		}
	case EvidenceVulnReport, EvidenceMalware:
		return b.reports(ctx, subject, ev, trusted)
	}
	return nil
}

func (b *build) childOf(d digest.Digest) *Child {
	for i := range b.e.Children {
		if b.e.Children[i].Digest == d {
			return &b.e.Children[i]
		}
	}
	return nil
}

func (b *build) sbom(subject digest.Digest, c candidate) {
	ch := b.childOf(subject)
	doc := c.item.SBOM
	ch.SBOM = &SBOM{Digest: c.item.Manifest.Digest, MediaType: c.item.MediaType, Packages: len(doc.Packages)}
	for _, p := range doc.Packages {
		sn := p.SourceName
		if sn == p.Name {
			sn = ""
		}
		ch.Packages = append(ch.Packages, Package{Name: p.Name, Version: p.Version, Ecosystem: p.Ecosystem, PURL: p.PURL,
			SourceName: sn, Licenses: slices.Clone(p.Licenses)})
	}
}

func reportFromAnnotations(subject digest.Digest, it attest.Item, trusted bool) Report {
	return Report{Subject: subject, Digest: it.Manifest.Digest, Kind: it.Annotations[artifact.AnnotationReportKind],
		Scanner: it.Annotations[artifact.AnnotationScanner], DatabaseVersion: it.Annotations[artifact.AnnotationDatabaseVersion], Trusted: trusted}
}

// reports reads the trusted reports of one kind about one subject; the
// newest report of each scanner is in force, older ones are listed only.
func (b *build) reports(ctx context.Context, subject digest.Digest, ev string, trusted []candidate) error {
	ch := b.childOf(subject)
	type read struct {
		c   candidate
		rep *scan.Report
	}
	var ok []read
	for _, c := range trusted {
		rep, err := b.readReport(ctx, c.item.Manifest)
		if err != nil {
			if !contentErr(err) {
				return registryErr("read report "+c.item.Manifest.Digest.String(), err)
			}
			b.problem(subject, ev, ReasonUnreadable, c.item.Manifest.Digest, err.Error())
			b.e.Reports = append(b.e.Reports, reportFromAnnotations(subject, c.item, false))
			continue
		}
		ok = append(ok, read{c, rep})
	}
	slices.SortStableFunc(ok, func(x, y read) int {
		return cmp.Or(y.rep.Time.Compare(x.rep.Time), strings.Compare(string(y.c.item.Manifest.Digest), string(x.c.item.Manifest.Digest)))
	})
	inForce := map[string]bool{}
	for _, r := range ok {
		scanner := cmp.Or(r.rep.Tool.Name, r.c.item.Annotations[artifact.AnnotationScanner])
		rep := Report{Subject: subject, Digest: r.c.item.Manifest.Digest, Kind: cmp.Or(r.rep.Kind, r.c.item.Annotations[artifact.AnnotationReportKind]),
			Scanner: scanner, ScannerVersion: r.rep.Tool.Version, DatabaseVersion: r.rep.Tool.DatabaseVersion,
			Time: r.rep.Time, Findings: len(r.rep.Findings), Trusted: true}
		if inForce[scanner] {
			rep.Superseded = true
			b.e.Reports = append(b.e.Reports, rep)
			continue
		}
		inForce[scanner] = true
		b.e.Reports = append(b.e.Reports, rep)
		if ch == nil {
			continue
		}
		if ev == EvidenceMalware {
			// Detections count whoever found them; only a scanner that
			// declares itself a malware scanner makes the image scanned
			// (scan.Declaration, as the acquire policy reads it).
			if r.c.item.Annotations[artifact.AnnotationScannerDeclaration] == artifact.DeclarationMalware {
				ch.Malware.Scanned = true
				ch.Malware.DatabaseVersions = append(ch.Malware.DatabaseVersions, rep.DatabaseVersion)
			}
			for _, f := range r.rep.Findings {
				ch.Malware.Detections++
				ch.Malware.Names = append(ch.Malware.Names, f.ID)
			}
			continue
		}
		ch.Vulnerabilities.Scanned = true
		ch.Vulnerabilities.DatabaseVersions = append(ch.Vulnerabilities.DatabaseVersions, rep.DatabaseVersion)
		for _, f := range r.rep.Findings {
			ch.Findings = append(ch.Findings, Finding{ID: f.ID, Aliases: slices.Clone(f.Aliases), Package: f.Package.Name,
				Version: f.Package.Version, FixedVersion: f.FixedVersion, Severity: f.Severity.String()})
		}
	}
	return nil
}

// readReport fetches a SARIF report artifact and decodes it.
func (b *build) readReport(ctx context.Context, desc ocispec.Descriptor) (*scan.Report, error) {
	if desc.MediaType == "" {
		desc.MediaType = ocispec.MediaTypeImageManifest
	}
	raw, err := manifest.Fetch(ctx, b.repo, desc, b.c.opts.MaxManifestBytes)
	if err != nil {
		return nil, err
	}
	m, err := manifest.Parse(desc.MediaType, raw)
	if err != nil {
		return nil, err
	}
	limit := min(b.c.opts.MaxBlobBytes, int64(scan.MaxReportSize))
	for _, l := range m.Layers {
		if l.MediaType != artifact.MediaTypeSARIF {
			continue
		}
		if l.Size > limit {
			return nil, fmt.Errorf("report %s: %w: %d bytes, cap %d", desc.Digest, registry.ErrSizeExceeded, l.Size, limit)
		}
		data, err := manifest.Fetch(ctx, b.repo, l, limit)
		if err != nil {
			return nil, err
		}
		return scan.DecodeSARIF(data)
	}
	return nil, fmt.Errorf("report %s: %w: no SARIF layer", desc.Digest, scan.ErrInvalidReport)
}
