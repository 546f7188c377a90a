package attest

import (
	"encoding/json"
	"errors"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/sbom"
)

// Form says how a piece of publisher metadata was published.
type Form string

// Forms of publisher metadata that Discover finds.
const (
	// FormReferrer is an OCI 1.1 referrer, listed through the referrers API
	// or, on registries without it, the fallback tag "sha256-<hex>" (oras-go
	// picks the method; both give the same items). A fallback tag left next
	// to a working referrers API (metadata mirrored from a registry without
	// it) is read as well. A referrer whose manifest names another subject
	// is recorded with ErrMalformed.
	FormReferrer Form = "referrer"
	// FormSigstoreBundle is a sigstore bundle stored as a referrer; a bundle
	// with a DSSE envelope carries an in-toto statement.
	FormSigstoreBundle Form = "sigstore-bundle"
	// FormCosignAttestation is a layer of the cosign tag "sha256-<hex>.att":
	// a DSSE envelope holding an in-toto statement.
	FormCosignAttestation Form = "cosign-attestation"
	// FormCosignSBOM is a layer of the cosign tag "sha256-<hex>.sbom": an SBOM.
	FormCosignSBOM Form = "cosign-sbom"
	// FormBuildkit is a layer of a buildkit attestation manifest inside an
	// index (annotation vnd.docker.reference.type: attestation-manifest): an
	// in-toto statement about the image manifest named by
	// vnd.docker.reference.digest.
	FormBuildkit Form = "buildkit-attestation"
)

// Kind says what a piece of metadata is.
type Kind string

// Kinds of metadata.
const (
	// KindSBOM is an SBOM: Item.SBOM is set (Item.Statement too when the SBOM
	// came as an in-toto predicate).
	KindSBOM Kind = "sbom"
	// KindProvenance is SLSA provenance: Item.Statement and Item.Provenance
	// are set.
	KindProvenance Kind = "provenance"
	// KindStatement is any other in-toto statement: Item.Statement is set.
	KindStatement Kind = "statement"
	// KindLifecycle is a lifecycle marker: Item.Lifecycle is set.
	KindLifecycle Kind = "lifecycle"
	// KindSignature is a signature (Notary Project, sigstore message
	// signature). Discovery lists it without reading it; sign verifies it.
	KindSignature Kind = "signature"
	// KindReport is a scan report (SARIF), listed without reading it.
	KindReport Kind = "report"
	// KindOther is anything else attached to the image, listed only.
	KindOther Kind = "other"
)

// Item is one piece of publisher metadata: one SBOM, one statement, one
// lifecycle marker, one signature... A corrupt item is kept with its error
// (Err) and whatever could be read before it.
type Item struct {
	// Form is how it was published.
	Form Form `json:"form"`
	// Kind is what it is; empty when nothing could be read (see Err).
	Kind Kind `json:"kind,omitempty"`
	// Subject is the digest of the manifest the item is about: the
	// discovered subject or one of its child manifests.
	Subject digest.Digest `json:"subject"`
	// Platform is the platform of Subject when it is a child of an index.
	Platform *ocispec.Platform `json:"platform,omitempty"`
	// Manifest is the manifest the item came from: the referrer, the cosign
	// tag's manifest or the buildkit attestation manifest.
	Manifest ocispec.Descriptor `json:"manifest"`
	// Layer is the blob the item was read from; nil when the item was read
	// from the manifest alone (lifecycle markers, signatures, listings).
	Layer *ocispec.Descriptor `json:"layer,omitempty"`
	// ArtifactType is the manifest's artifactType (or config media type).
	ArtifactType string `json:"artifactType,omitempty"`
	// MediaType is the media type of the content read: the layer's, or the
	// DSSE payload type.
	MediaType string `json:"mediaType,omitempty"`
	// PredicateType is the in-toto predicate type, from the statement when
	// it could be read, else from the annotations.
	PredicateType string `json:"predicateType,omitempty"`
	// Annotations are the manifest's annotations.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Signatures is the number of signatures on the DSSE envelope the
	// statement came in (zero for unsigned statements). They are not
	// verified here.
	Signatures int `json:"signatures,omitempty"`
	// SBOM is the decoded SBOM (KindSBOM).
	SBOM *sbom.Document `json:"sbom,omitempty"`
	// Statement is the in-toto statement (KindProvenance, KindStatement,
	// and KindSBOM carried as a predicate).
	Statement *Statement `json:"statement,omitempty"`
	// Provenance is the common view of SLSA provenance v0.2 or v1.
	Provenance *Provenance `json:"provenance,omitempty"`
	// Lifecycle is the lifecycle marker (KindLifecycle).
	Lifecycle *Lifecycle `json:"lifecycle,omitempty"`
	// Err is why the item could not be read in full; nil if it could.
	Err error `json:"-"`
}

// MarshalJSON writes the item with Err as the string "error".
func (it Item) MarshalJSON() ([]byte, error) {
	type plain Item
	out := struct {
		plain
		Error string `json:"error,omitempty"`
	}{plain: plain(it)}
	if it.Err != nil {
		out.Error = it.Err.Error()
	}
	return json.Marshal(out)
}

// Metadata is what Discover found for one subject and its child manifests.
type Metadata struct {
	// Subject is the discovered manifest or index.
	Subject ocispec.Descriptor `json:"subject"`
	// Items are the pieces found, in discovery order: for the subject and
	// then each child manifest, referrers (sorted by digest, then any left in
	// a fallback tag only), then the cosign ".att" and ".sbom" tags; then
	// buildkit attestation manifests in index order.
	Items []Item `json:"items,omitempty"`
	// Truncated is set when a cap (Options.MaxItems, MaxChildren) stopped
	// discovery early.
	Truncated bool `json:"truncated,omitempty"`
}

// For returns the items about the manifest d (the subject or a child).
// It is nil-safe.
func (m *Metadata) For(d digest.Digest) []Item {
	if m == nil {
		return nil
	}
	var out []Item
	for _, it := range m.Items {
		if it.Subject == d {
			out = append(out, it)
		}
	}
	return out
}

// SBOMs returns the SBOMs that could be read for the manifest d.
func (m *Metadata) SBOMs(d digest.Digest) []*sbom.Document {
	var out []*sbom.Document
	for _, it := range m.For(d) {
		if it.Kind == KindSBOM && it.SBOM != nil && it.Err == nil {
			out = append(out, it.SBOM)
		}
	}
	return out
}

// HasSBOM reports whether a readable SBOM was found for the manifest d.
func (m *Metadata) HasSBOM(d digest.Digest) bool { return len(m.SBOMs(d)) > 0 }

// Provenances returns the SLSA provenance that could be read for the
// manifest d.
func (m *Metadata) Provenances(d digest.Digest) []*Provenance {
	var out []*Provenance
	for _, it := range m.For(d) {
		if it.Kind == KindProvenance && it.Provenance != nil && it.Err == nil {
			out = append(out, it.Provenance)
		}
	}
	return out
}

// Lifecycles returns the readable lifecycle markers for the manifest d,
// oldest first (the last one is in force, see CurrentLifecycle).
func (m *Metadata) Lifecycles(d digest.Digest) []Lifecycle {
	var out []Lifecycle
	for _, it := range m.For(d) {
		if it.Kind == KindLifecycle && it.Lifecycle != nil && it.Err == nil {
			out = append(out, *it.Lifecycle)
		}
	}
	sortLifecycles(out)
	return out
}

// CurrentLifecycle returns the lifecycle marker in force for the manifest
// d, or nil (see the function CurrentLifecycle).
func (m *Metadata) CurrentLifecycle(d digest.Digest) *Lifecycle {
	return CurrentLifecycle(m.Lifecycles(d))
}

// Err returns the errors of every item that could not be read, joined, or
// nil.
func (m *Metadata) Err() error {
	if m == nil {
		return nil
	}
	var errs []error
	for _, it := range m.Items {
		if it.Err != nil {
			errs = append(errs, it.Err)
		}
	}
	return errors.Join(errs...)
}

// isSBOMMediaType reports whether mt is an SBOM media type cssc decodes,
// and the media type to hand to sbom.Decode.
func sbomMediaType(mt string) (string, bool) {
	switch mt {
	case artifact.MediaTypeSPDX, artifact.MediaTypeCosignSPDX:
		return artifact.MediaTypeSPDX, true
	case artifact.MediaTypeCycloneDX:
		return artifact.MediaTypeCycloneDX, true
	}
	return "", false
}

// Generated reports whether the item claims to be cssc's own (it carries
// the annotation artifact.AnnotationGeneratedBy). The claim is never
// evidence by itself: the acquire pipeline drops publisher referrers that
// make it, regenerates what it needs, and counts generated items neither
// as publisher evidence nor as its own without re-deriving them.
func (it Item) Generated() bool {
	_, ok := it.Annotations[artifact.AnnotationGeneratedBy]
	return ok
}

// Publisher returns m without the items that claim to be cssc's own (see
// Item.Generated). It is nil-safe.
func (m *Metadata) Publisher() *Metadata {
	if m == nil {
		return nil
	}
	md := *m
	md.Items = slices.DeleteFunc(slices.Clone(m.Items), func(it Item) bool { return it.Generated() })
	return &md
}
