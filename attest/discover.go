package attest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	orasregistry "oras.land/oras-go/v2/registry"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
)

// Repository is what Discover reads from: content, tags and referrers.
// registry.Repository satisfies it.
type Repository interface {
	content.ReadOnlyStorage
	content.Resolver
	orasregistry.ReferrerLister
}

// DefaultMaxTotalBytes is the default of Options.MaxTotalBytes (48 MiB).
// It holds a realistic SBOM of 13 MiB (compact JSON, one value in about 25
// bytes) to 18 MiB (indented, one value in about 37 bytes), or several
// smaller ones: with ValueCost, such a document costs about three times its
// size. Parsing all it holds keeps the heap under 256 MiB (at most about
// 170 MiB) even for documents made of the tiniest values, in every form
// Discover reads (BenchmarkDiscoverBudget).
const DefaultMaxTotalBytes = 48 << 20

// ValueCost is what each JSON value parsed costs against
// Options.MaxTotalBytes, on top of the bytes read: about what parsing a
// value costs in heap beyond its bytes when it is a tiny one, such as the
// "{}" of a package list. Real SBOMs hold one value in 20 to 40 bytes, so
// the charge about doubles their cost; "[{},{},...]" costs 100 times more
// than its size, which is about what it costs to parse.
const ValueCost = 64

// ErrBudgetExceeded is wrapped by the error of a Discover call whose
// publisher metadata is larger, in total, than Options.MaxTotalBytes.
var ErrBudgetExceeded = errors.New("publisher metadata budget exceeded")

// BudgetError says how much of the budget publisher metadata had used when
// the next blob, or the next document parsed, would have gone over it. It
// matches ErrBudgetExceeded.
type BudgetError struct {
	// Subject is the image whose metadata was discovered.
	Subject digest.Digest
	// Read is how much of the budget was used (bytes read, and ValueCost
	// per JSON value parsed); Next is what did not fit: the size of the
	// next blob, or, when Values is true, the cost of the JSON values of
	// the blob (or envelope payload) about to be parsed; Budget is
	// Options.MaxTotalBytes.
	Read, Next, Budget int64
	// Blob is the digest of the blob that did not fit.
	Blob digest.Digest
	// Values is true when the blob was read, but parsing its JSON values
	// would have exceeded the budget.
	Values bool
}

func (e *BudgetError) Error() string {
	what := fmt.Sprintf("the next blob %s of %d bytes", e.Blob, e.Next)
	if e.Values {
		what = fmt.Sprintf("parsing the JSON values of %s (%d at %d bytes each)", e.Blob, e.Next/ValueCost, ValueCost)
	}
	return fmt.Sprintf("publisher metadata of %s: %d bytes of the budget used, %s would exceed the budget of %d bytes per image",
		e.Subject, e.Read, what, e.Budget)
}

// Is reports whether target is ErrBudgetExceeded.
func (e *BudgetError) Is(target error) bool { return target == ErrBudgetExceeded }

// Options configure Discover. The zero value is usable: the documented
// default caps, silent.
type Options struct {
	// MaxManifestBytes caps every manifest and index read. Zero means 4 MiB.
	MaxManifestBytes int64
	// MaxBlobBytes caps every SBOM, statement, DSSE envelope and bundle blob
	// read; a larger one is recorded as an item with ErrTooLarge. Zero means
	// MaxStatementBytes (16 MiB).
	MaxBlobBytes int64
	// MaxItems caps the items recorded for one Discover call; when reached,
	// discovery stops and Metadata.Truncated is set. Zero means 1000.
	MaxItems int
	// MaxChildren caps the child manifests of an index that are examined
	// (attestation manifests not counted); the rest are skipped and
	// Metadata.Truncated is set. Zero means 256.
	MaxChildren int
	// MaxLayers caps the layers read from one metadata manifest; the rest
	// are skipped and Metadata.Truncated is set. Zero means 32.
	MaxLayers int
	// MaxTotalBytes is the budget of one Discover call: the bytes of every
	// SBOM, statement, envelope and bundle blob read, plus ValueCost bytes
	// for every JSON value parsed in them (DSSE payloads included),
	// together. A blob that would go over it ends discovery with an error
	// wrapping ErrBudgetExceeded (a *BudgetError) before it is read, and a
	// document whose values would, before it is parsed; so a publisher
	// cannot make an image cost more memory and time by attaching more
	// metadata, or metadata of many tiny values. Zero means
	// DefaultMaxTotalBytes.
	MaxTotalBytes int64
	// ExemptGenerated reads the blobs of items that claim to be cssc's own
	// (Item.Generated) without counting them against MaxTotalBytes: the
	// budget is then the publisher's alone, and cssc's SBOMs of a large
	// multi-platform image cannot use it up. Set it only on repositories
	// where the claim was filtered out of publisher artifacts before (the
	// acquire pipeline's quarantine and golden repositories, a catalog's
	// golden registry); elsewhere a publisher could make the claim to
	// escape the budget. False counts every item.
	ExemptGenerated bool
	// Logger receives debug logs of what was found and warnings for items
	// that could not be read. Nil means silent.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxManifestBytes <= 0 {
		o.MaxManifestBytes = 4 << 20
	}
	if o.MaxBlobBytes <= 0 {
		o.MaxBlobBytes = MaxStatementBytes
	}
	if o.MaxItems <= 0 {
		o.MaxItems = 1000
	}
	if o.MaxChildren <= 0 {
		o.MaxChildren = 256
	}
	if o.MaxLayers <= 0 {
		o.MaxLayers = 32
	}
	if o.MaxTotalBytes <= 0 {
		o.MaxTotalBytes = DefaultMaxTotalBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// errStop ends discovery when MaxItems is reached.
var errStop = errors.New("item cap reached")

// Discover finds the publisher metadata of subject (an image manifest or an
// index) in repo, and of every child manifest of an index, in every form
// (see Form): OCI referrers (API or fallback tag), sigstore bundle
// referrers, the cosign "sha256-<hex>.att" and ".sbom" tags, and buildkit
// attestation manifests inside the index. SBOMs are decoded with
// sbom.Decode, in-toto statements with the in-toto bindings, SLSA
// provenance into the Provenance view, and lifecycle markers with
// ParseLifecycle.
//
// An item that cannot be read is recorded with its error and discovery goes
// on; Discover never fails because of bad metadata. It returns an error only
// when the subject itself cannot be read, ctx ends, or the metadata is
// larger in total than Options.MaxTotalBytes (ErrBudgetExceeded). opts may
// be nil.
func Discover(ctx context.Context, repo Repository, subject ocispec.Descriptor, opts *Options) (*Metadata, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	d := &discovery{repo: repo, opts: o.withDefaults(), md: &Metadata{Subject: subject}}
	raw, err := manifest.Fetch(ctx, repo, subject, d.opts.MaxManifestBytes)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", subject.Digest, err)
	}
	type target struct {
		desc     ocispec.Descriptor
		platform *ocispec.Platform
	}
	targets := []target{{desc: subject}}
	var attestations []ocispec.Descriptor
	children := map[digest.Digest]*ocispec.Platform{}
	if manifest.IsIndex(subject.MediaType) {
		idx, err := manifest.Parse(subject.MediaType, raw)
		if err != nil {
			return nil, fmt.Errorf("discover %s: %w", subject.Digest, err)
		}
		for _, c := range idx.Manifests {
			if c.Annotations[artifact.AnnotationDockerReferenceType] == artifact.AttestationManifest {
				attestations = append(attestations, c)
				continue
			}
			if len(targets)-1 >= d.opts.MaxChildren {
				d.md.Truncated = true
				continue
			}
			targets = append(targets, target{desc: c, platform: c.Platform})
			children[c.Digest] = c.Platform
		}
	}
	err = func() error {
		for _, t := range targets {
			if err := d.referrers(ctx, t.desc, t.platform); err != nil {
				return err
			}
			for _, f := range []Form{FormCosignAttestation, FormCosignSBOM} {
				if err := d.cosignTag(ctx, t.desc, t.platform, f); err != nil {
					return err
				}
			}
		}
		for _, a := range attestations {
			if err := d.buildkit(ctx, a, children); err != nil {
				return err
			}
		}
		return nil
	}()
	if errors.Is(err, errStop) {
		d.md.Truncated = true
		err = nil
	}
	if err != nil {
		return nil, err
	}
	d.opts.Logger.DebugContext(ctx, "publisher metadata discovered", "subject", subject.Digest,
		"items", len(d.md.Items), "truncated", d.md.Truncated)
	return d.md, nil
}

type discovery struct {
	repo  Repository
	opts  Options
	md    *Metadata
	spent int64 // budget used so far: blob bytes read, ValueCost per JSON value parsed
}

// add records an item; it returns errStop once MaxItems is reached and
// ctx.Err() when the context ended.
func (d *discovery) add(ctx context.Context, it Item) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(d.md.Items) >= d.opts.MaxItems {
		return errStop
	}
	if it.Err != nil {
		d.opts.Logger.WarnContext(ctx, "publisher metadata unreadable", "form", it.Form, "subject", it.Subject,
			"manifest", it.Manifest.Digest, "error", it.Err)
	} else {
		d.opts.Logger.DebugContext(ctx, "publisher metadata found", "form", it.Form, "kind", it.Kind,
			"subject", it.Subject, "manifest", it.Manifest.Digest, "predicateType", it.PredicateType)
	}
	d.md.Items = append(d.md.Items, it)
	return nil
}

// ctxErr returns err when it is the context's error, so that a cancelled
// discovery ends instead of recording every remaining item as failed.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return ctx.Err()
	}
	return nil
}

func (d *discovery) referrers(ctx context.Context, subject ocispec.Descriptor, platform *ocispec.Platform) error {
	refs, err := registry.Referrers(ctx, d.repo, subject, "")
	if err != nil {
		if e := ctxErr(ctx, err); e != nil {
			return e
		}
		return d.add(ctx, Item{Form: FormReferrer, Subject: subject.Digest, Platform: platform,
			Err: fmt.Errorf("referrers of %s: %w", subject.Digest, err)})
	}
	seen := map[digest.Digest]bool{}
	for _, r := range refs {
		seen[r.Digest] = true
		if err := d.referrer(ctx, subject, platform, r); err != nil {
			return err
		}
	}
	return d.fallbackTag(ctx, subject, platform, seen)
}

// fallbackTag reads the referrers tag schema index "sha256-<hex>" even when
// the repository answered through the referrers API (or predecessors):
// metadata copied from a registry without the API keeps its fallback tag,
// and a registry with the API does not list what is only in that tag.
// Manifests already seen are skipped.
func (d *discovery) fallbackTag(ctx context.Context, subject ocispec.Descriptor, platform *ocispec.Platform, seen map[digest.Digest]bool) error {
	tag := strings.Replace(subject.Digest.String(), ":", "-", 1)
	desc, found, err := d.resolveTag(ctx, tag, Item{Form: FormReferrer, Subject: subject.Digest, Platform: platform})
	if !found || err != nil {
		return err
	}
	if !manifest.IsIndex(desc.MediaType) {
		return nil // not a referrers index: somebody's tag that looks like one
	}
	raw, err := manifest.Fetch(ctx, d.repo, desc, d.opts.MaxManifestBytes)
	if err == nil {
		var idx *manifest.Manifest
		if idx, err = manifest.Parse(desc.MediaType, raw); err == nil {
			for _, r := range idx.Manifests {
				if seen[r.Digest] {
					continue
				}
				seen[r.Digest] = true
				if err := d.referrer(ctx, subject, platform, r); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if e := ctxErr(ctx, err); e != nil {
		return e
	}
	return d.add(ctx, Item{Form: FormReferrer, Subject: subject.Digest, Platform: platform, Manifest: plainDescriptor(desc),
		Err: fmt.Errorf("referrers tag %s: %w", tag, err)})
}

func isBundleType(t string) bool { return strings.HasPrefix(t, "application/vnd.dev.sigstore.bundle") }

func (d *discovery) referrer(ctx context.Context, subject ocispec.Descriptor, platform *ocispec.Platform, r ocispec.Descriptor) error {
	base := Item{Form: FormReferrer, Subject: subject.Digest, Platform: platform,
		Manifest: plainDescriptor(r), ArtifactType: r.ArtifactType, Annotations: maps.Clone(r.Annotations)}
	if isBundleType(r.ArtifactType) {
		base.Form = FormSigstoreBundle
	}
	switch {
	case r.ArtifactType == artifact.TypeNotarySignature:
		base.Kind = KindSignature
		return d.add(ctx, base)
	case r.ArtifactType == artifact.TypeSARIF:
		base.Kind = KindReport
		return d.add(ctx, base)
	}
	m, err := d.manifest(ctx, r)
	if err != nil {
		if e := ctxErr(ctx, err); e != nil {
			return e
		}
		base.Err = err
		return d.add(ctx, base)
	}
	if m.Subject == nil || m.Subject.Digest != subject.Digest {
		base.Err = fmt.Errorf("referrer %s: %w: its subject is not %s", r.Digest, ErrMalformed, subject.Digest)
		return d.add(ctx, base)
	}
	if len(m.Annotations) > 0 {
		base.Annotations = maps.Clone(m.Annotations)
	}
	if base.ArtifactType == "" {
		base.ArtifactType = m.ArtifactType
		if base.ArtifactType == "" && m.Config != nil {
			base.ArtifactType = m.Config.MediaType
		}
		if isBundleType(base.ArtifactType) {
			base.Form = FormSigstoreBundle
		}
	}
	if base.ArtifactType == artifact.TypeLifecycle {
		it := base
		it.Kind = KindLifecycle
		it.Lifecycle, it.Err = ParseLifecycle(r.Digest, m.Annotations)
		return d.add(ctx, it)
	}
	return d.layers(ctx, base, m.Layers)
}

// layers records one item per layer of a metadata manifest.
func (d *discovery) layers(ctx context.Context, base Item, layers []ocispec.Descriptor) error {
	for i, l := range layers {
		if i >= d.opts.MaxLayers {
			d.md.Truncated = true
			break
		}
		if l.MediaType == ocispec.MediaTypeEmptyJSON {
			continue
		}
		it := base
		layer := plainDescriptor(l)
		it.Layer = &layer
		it.MediaType = l.MediaType
		if pt := firstNonEmpty(l.Annotations[artifact.AnnotationPredicateType], l.Annotations[artifact.AnnotationCosignPredicateType],
			base.Annotations[artifact.AnnotationSigstoreBundlePredicateType], base.Annotations[artifact.AnnotationPredicateType]); pt != "" {
			it.PredicateType = pt
		}
		if err := d.read(ctx, &it, l); err != nil {
			return err
		}
		if err := d.add(ctx, it); err != nil {
			return err
		}
	}
	return nil
}

// read fills it from the blob l, by its form and media type. It returns an
// error only when ctx ended; read errors go to it.Err.
func (d *discovery) read(ctx context.Context, it *Item, l ocispec.Descriptor) error {
	mt := l.MediaType
	if it.Form == FormSigstoreBundle || isBundleType(mt) {
		it.Form = FormSigstoreBundle
		mt = artifact.TypeSigstoreBundle
	}
	_, isSBOM := sbomMediaType(mt)
	if _, ok := sbomMediaType(it.ArtifactType); ok && !isSBOM && (mt == "application/octet-stream" || mt == "application/json") {
		mt, isSBOM = it.ArtifactType, true
	}
	switch {
	case isSBOM:
		it.Kind = KindSBOM
	case mt == artifact.MediaTypeInToto, mt == artifact.MediaTypeDSSE, mt == artifact.TypeSigstoreBundle:
		it.Kind = KindStatement
	case mt == artifact.MediaTypeCosignSPDXTagValue, mt == artifact.MediaTypeCosignCycloneDXXML:
		it.Kind = KindSBOM
		it.Err = fmt.Errorf("layer %s: %w: SBOM media type %q", l.Digest, ErrUnsupportedFormat, mt)
		return nil
	case mt == artifact.MediaTypeSARIF:
		it.Kind = KindReport
		return nil
	default:
		it.Kind = KindOther
		return nil
	}
	data, err := d.blob(ctx, l, d.exempt(it))
	if err != nil {
		if e := ctxErr(ctx, err); e != nil {
			return e
		}
		if errors.Is(err, ErrBudgetExceeded) {
			return err
		}
		it.Err = err
		return nil
	}
	switch {
	case isSBOM:
		it.Kind = KindSBOM
		decodeMT, _ := sbomMediaType(mt)
		doc, err := sbom.Decode(data, decodeMT)
		if err != nil {
			it.Err = fmt.Errorf("layer %s: sbom: %w: %w", l.Digest, ErrMalformed, err)
			return nil
		}
		it.SBOM = doc
	case mt == artifact.MediaTypeInToto:
		return d.statement(it, l, data)
	case mt == artifact.MediaTypeDSSE:
		env, err := ParseDSSE(data)
		if err != nil {
			it.Kind = KindStatement
			it.Err = fmt.Errorf("layer %s: %w", l.Digest, err)
			return nil
		}
		return d.envelope(it, l, env)
	default: // sigstore bundle
		b, err := parseBundle(data)
		if err != nil {
			it.Err = fmt.Errorf("layer %s: %w", l.Digest, err)
			return nil
		}
		if b.Envelope == nil {
			it.Kind = KindSignature
			return nil
		}
		return d.envelope(it, l, b.Envelope)
	}
	return nil
}

func (d *discovery) envelope(it *Item, l ocispec.Descriptor, env *Envelope) error {
	it.Signatures = len(env.Signatures)
	it.MediaType = env.PayloadType
	if env.PayloadType != artifact.MediaTypeInToto {
		it.Kind = KindStatement
		it.Err = fmt.Errorf("layer %s: dsse envelope: %w: payload type %q", l.Digest, ErrUnsupportedFormat, env.PayloadType)
		return nil
	}
	// The payload was base64 in the blob: its values are parsed now.
	if err := d.charge(l, env.Payload, d.exempt(it)); err != nil {
		return err
	}
	return d.statement(it, l, env.Payload)
}

// statement fills it from the in-toto statement in data: provenance into
// the common view, SBOM predicates through sbom.Decode. An SBOM predicate
// is decoded straight from its bytes and left out of it.Statement (which
// keeps the type, subjects and predicate type): through the in-toto
// bindings, every JSON value of a 15 MiB SBOM would become a protobuf
// Value (tens of bytes of heap each), be written back to JSON, and stay in
// memory for as long as the metadata. It returns an error only when the
// budget is exceeded; a malformed statement goes to it.Err.
func (d *discovery) statement(it *Item, l ocispec.Descriptor, data []byte) error {
	it.Kind = KindStatement
	st, pred, err := parseStatementSBOM(data)
	if err != nil {
		it.Err = fmt.Errorf("layer %s: %w", l.Digest, err)
		return nil
	}
	it.Statement = st
	it.PredicateType = st.PredicateType()
	switch st.PredicateType() {
	case artifact.PredicateSLSAProvenanceV1, artifact.PredicateSLSAProvenanceV02:
		it.Kind = KindProvenance
		it.Provenance, it.Err = parseProvenance(st)
	case artifact.PredicateSPDX, artifact.PredicateCycloneDX:
		it.Kind = KindSBOM
		mt := artifact.MediaTypeSPDX
		if st.PredicateType() == artifact.PredicateCycloneDX {
			mt = artifact.MediaTypeCycloneDX
		}
		doc, err := sbom.Decode(pred, mt)
		if err != nil {
			it.Err = fmt.Errorf("sbom predicate: %w: %w", ErrMalformed, err)
			return nil
		}
		it.SBOM = doc
	}
	return nil
}

// parseStatementSBOM parses an in-toto statement. When its predicate is an
// SBOM (SPDX, CycloneDX), the predicate's bytes are returned and the
// statement is parsed without them (its predicate is then {}).
func parseStatementSBOM(data []byte) (*Statement, []byte, error) {
	if len(data) > MaxStatementBytes {
		return nil, nil, fmt.Errorf("in-toto statement: %w: %d bytes, cap %d", ErrTooLarge, len(data), MaxStatementBytes)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, nil, fmt.Errorf("in-toto statement: %w: %w", ErrMalformed, err)
	}
	var pt string
	if raw, ok := top["predicateType"]; !ok || json.Unmarshal(raw, &pt) != nil || (pt != artifact.PredicateSPDX && pt != artifact.PredicateCycloneDX) {
		st, err := ParseStatement(data)
		return st, nil, err
	}
	pred := top["predicate"]
	top["predicate"] = json.RawMessage("{}")
	head, err := json.Marshal(top)
	if err != nil {
		return nil, nil, fmt.Errorf("in-toto statement: %w: %w", ErrMalformed, err)
	}
	st, err := ParseStatement(head)
	if err != nil {
		return nil, nil, err
	}
	if len(bytes.TrimSpace(pred)) == 0 || bytes.TrimSpace(pred)[0] != '{' {
		return nil, nil, fmt.Errorf("in-toto statement: %w: the predicate is not an object", ErrMalformed)
	}
	return st, pred, nil
}

func (d *discovery) cosignTag(ctx context.Context, subject ocispec.Descriptor, platform *ocispec.Platform, form Form) error {
	suffix := ".att"
	if form == FormCosignSBOM {
		suffix = ".sbom"
	}
	tag := strings.Replace(subject.Digest.String(), ":", "-", 1) + suffix
	desc, found, err := d.resolveTag(ctx, tag, Item{Form: form, Subject: subject.Digest, Platform: platform})
	if !found || err != nil {
		return err
	}
	base := Item{Form: form, Subject: subject.Digest, Platform: platform, Manifest: plainDescriptor(desc)}
	m, err := d.manifest(ctx, desc)
	if err != nil {
		if e := ctxErr(ctx, err); e != nil {
			return e
		}
		base.Err = err
		return d.add(ctx, base)
	}
	base.Annotations = maps.Clone(m.Annotations)
	base.ArtifactType = m.ArtifactType
	if base.ArtifactType == "" && m.Config != nil {
		base.ArtifactType = m.Config.MediaType
	}
	return d.layers(ctx, base, m.Layers)
}

func (d *discovery) buildkit(ctx context.Context, a ocispec.Descriptor, children map[digest.Digest]*ocispec.Platform) error {
	base := Item{Form: FormBuildkit, Manifest: plainDescriptor(a), Annotations: maps.Clone(a.Annotations)}
	ref, err := digest.Parse(a.Annotations[artifact.AnnotationDockerReferenceDigest])
	if err != nil {
		base.Err = fmt.Errorf("attestation manifest %s: %w: %s: %w", a.Digest, ErrMalformed, artifact.AnnotationDockerReferenceDigest, err)
		return d.add(ctx, base)
	}
	base.Subject = ref
	base.Platform = children[ref]
	m, err := d.manifest(ctx, a)
	if err != nil {
		if e := ctxErr(ctx, err); e != nil {
			return e
		}
		base.Err = err
		return d.add(ctx, base)
	}
	if len(m.Annotations) > 0 {
		base.Annotations = maps.Clone(m.Annotations)
	}
	base.ArtifactType = m.ArtifactType
	if base.ArtifactType == "" && m.Config != nil {
		base.ArtifactType = m.Config.MediaType
	}
	return d.layers(ctx, base, m.Layers)
}

// manifest fetches and parses a metadata manifest (an image manifest; an
// index is refused).
func (d *discovery) manifest(ctx context.Context, desc ocispec.Descriptor) (*manifest.Manifest, error) {
	mt := desc.MediaType
	if mt == "" {
		mt = ocispec.MediaTypeImageManifest
	}
	if manifest.IsIndex(mt) {
		return nil, fmt.Errorf("manifest %s: %w: an index where an image manifest was expected", desc.Digest, ErrUnsupportedFormat)
	}
	if !manifest.IsManifest(mt) {
		return nil, fmt.Errorf("manifest %s: %w: media type %q is not an image manifest", desc.Digest, ErrMalformed, mt)
	}
	raw, err := manifest.Fetch(ctx, d.repo, desc, d.opts.MaxManifestBytes)
	if err != nil {
		if errors.Is(err, registry.ErrSizeExceeded) {
			return nil, fmt.Errorf("manifest %s: %w: %w", desc.Digest, ErrTooLarge, err)
		}
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	m, err := manifest.Parse(mt, raw)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w: %w", desc.Digest, ErrMalformed, err)
	}
	return m, nil
}

// blob reads a layer, capped at MaxBlobBytes and verified against its
// digest, and counts it against the budget unless exempt.
func (d *discovery) blob(ctx context.Context, l ocispec.Descriptor, exempt bool) ([]byte, error) {
	if l.Size > d.opts.MaxBlobBytes {
		return nil, fmt.Errorf("layer %s: %w: %d bytes, cap %d", l.Digest, ErrTooLarge, l.Size, d.opts.MaxBlobBytes)
	}
	if !exempt && d.spent+l.Size > d.opts.MaxTotalBytes {
		return nil, &BudgetError{Subject: d.md.Subject.Digest, Read: d.spent, Next: l.Size, Budget: d.opts.MaxTotalBytes, Blob: l.Digest}
	}
	b, err := manifest.Fetch(ctx, d.repo, l, d.opts.MaxBlobBytes)
	if err != nil {
		if errors.Is(err, registry.ErrSizeExceeded) {
			return nil, fmt.Errorf("layer %s: %w: %w", l.Digest, ErrTooLarge, err)
		}
		return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
	}
	if !exempt {
		d.spent += l.Size
	}
	if err := d.charge(l, b, exempt); err != nil {
		return nil, err
	}
	return b, nil
}

// exempt reports whether the item's blobs are read outside the budget
// (Options.ExemptGenerated).
func (d *discovery) exempt(it *Item) bool { return d.opts.ExemptGenerated && it.Generated() }

// charge counts the JSON values of data, about to be parsed, against the
// budget unless exempt: ValueCost bytes each. A document of many tiny
// values ("[{},{},...]" in an SBOM's package list, "[[],[],...]" in a
// predicate) costs parsers hundreds of bytes of heap per byte read; with
// this charge the budget bounds the memory of parsing, not only the bytes
// read.
func (d *discovery) charge(l ocispec.Descriptor, data []byte, exempt bool) error {
	if exempt {
		return nil
	}
	cost := jsonValues(data) * ValueCost
	if d.spent+cost > d.opts.MaxTotalBytes {
		return &BudgetError{Subject: d.md.Subject.Digest, Read: d.spent, Next: cost, Budget: d.opts.MaxTotalBytes, Blob: l.Digest, Values: true}
	}
	d.spent += cost
	return nil
}

// jsonValues returns about how many JSON values data holds, without
// parsing it: one per object and array, one per element separator, and the
// top-level value. Commas and brackets inside strings do not count.
func jsonValues(data []byte) int64 {
	n := int64(1)
	in, esc := false, false
	for _, c := range data {
		switch {
		case in:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				in = false
			}
		case c == '"':
			in = true
		case c == '{', c == '[', c == ',':
			n++
		}
	}
	return n
}

func isNotFound(err error) bool {
	return errors.Is(err, registry.ErrNotFound) || errors.Is(err, errdef.ErrNotFound)
}

// plainDescriptor keeps the identifying fields of a descriptor.
func plainDescriptor(d ocispec.Descriptor) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: d.ArtifactType}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// resolveTag resolves a metadata tag. A missing tag is not found, not an
// error; any other failure is recorded as item (with the error) and is not
// found either; only cancellation and a failure to record are errors.
func (d *discovery) resolveTag(ctx context.Context, tag string, item Item) (ocispec.Descriptor, bool, error) {
	desc, err := d.repo.Resolve(ctx, tag)
	if err == nil {
		return desc, true, nil
	}
	if e := ctxErr(ctx, err); e != nil {
		return ocispec.Descriptor{}, false, e
	}
	if isNotFound(err) {
		return ocispec.Descriptor{}, false, nil
	}
	item.Err = fmt.Errorf("resolve %s: %w", tag, err)
	return ocispec.Descriptor{}, false, d.add(ctx, item)
}
