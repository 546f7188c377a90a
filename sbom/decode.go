package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"slices"
	"strings"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
	"github.com/spdx/tools-golang/spdx/v2/v2_3"
)

// MaxDocumentSize is the largest SBOM, in bytes, that [Decode] accepts:
// 64 MiB, enough for an image with tens of thousands of packages. Larger
// input is rejected with an error wrapping [ErrTooLarge] before any parsing.
const MaxDocumentSize = 64 << 20

// maxPackages caps the number of packages taken from one document.
const maxPackages = 1 << 20

// maxLocations caps the locations taken for one package.
const maxLocations = 1 << 10

// maxSkipped caps the skipped files taken from one document.
const maxSkipped = 1 << 12

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Media types accepted by [Decode].
const (
	// MediaTypeSPDX is SPDX JSON (2.2 or 2.3).
	MediaTypeSPDX = "application/spdx+json"
	// MediaTypeCycloneDX is CycloneDX JSON (1.2 to 1.6).
	MediaTypeCycloneDX = "application/vnd.cyclonedx+json"
)

var (
	// ErrInvalidDocument is wrapped by every error about a malformed or
	// unsupported SBOM document.
	ErrInvalidDocument = errors.New("invalid sbom document")
	// ErrTooLarge is wrapped when an SBOM is larger than [MaxDocumentSize].
	ErrTooLarge = errors.New("sbom document too large")
	// ErrUnsupportedMediaType is wrapped when [Decode] is given a media type
	// it does not read.
	ErrUnsupportedMediaType = errors.New("unsupported sbom media type")
)

// Decode parses an SBOM document into a [Document].
//
// mediaType selects the format: [MediaTypeSPDX] ("application/spdx+json",
// SPDX 2.2 or 2.3; 2.2 is converted to 2.3 by tools-golang) or
// [MediaTypeCycloneDX] ("application/vnd.cyclonedx+json"); parameters such
// as "; version=1.6" are ignored, and "application/json" or "" make Decode
// sniff the format from the content. Data larger than [MaxDocumentSize] is
// rejected. Malformed input gives an error wrapping [ErrInvalidDocument].
//
// For each package Decode fills the ecosystem from the purl (see
// [Ecosystem]), the source package from the purl's "upstream" qualifier or
// the SPDX sourceInfo, and the layer and locations from the annotations
// cssc writes (see [EncodeSPDX]), syft's "syft:location:N:path" and
// "syft:location:N:layerID" properties and CycloneDX evidence occurrences
// (at most 1024 locations per package), and the files the producer
// skipped from cssc's "cssc:skipped" annotations and properties (see
// [Document.Skipped]). Every package is then normalised
// with [NormalizePackage], so that the Go standard library is "stdlib"
// whichever tool wrote the document. The package that describes the image
// itself (SPDX primaryPackagePurpose CONTAINER, purl type oci or docker,
// CycloneDX metadata.component) is not listed as a package.
func Decode(data []byte, mediaType string) (*Document, error) {
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), MaxDocumentSize)
	}
	mt := mediaType
	if parsed, _, err := mime.ParseMediaType(mediaType); err == nil {
		mt = parsed
	}
	switch strings.ToLower(mt) {
	case MediaTypeSPDX, "text/spdx+json":
		return decodeSPDX(data)
	case MediaTypeCycloneDX:
		return decodeCycloneDX(data)
	case "", "application/json":
		return sniff(data)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedMediaType, mediaType)
}

func sniff(data []byte) (*Document, error) {
	var probe struct {
		SPDXVersion *string `json:"spdxVersion"`
		BOMFormat   *string `json:"bomFormat"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidDocument, err)
	}
	switch {
	case probe.SPDXVersion != nil:
		return decodeSPDX(data)
	case probe.BOMFormat != nil:
		return decodeCycloneDX(data)
	}
	return nil, fmt.Errorf("%w: neither spdxVersion nor bomFormat present", ErrInvalidDocument)
}

func decodeSPDX(data []byte) (doc *Document, err error) {
	// tools-golang's converter uses reflection over untrusted shapes; turn
	// any panic into an error rather than crashing the caller.
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, fmt.Errorf("%w: spdx: %v", ErrInvalidDocument, r)
		}
	}()
	parts, err := readSPDX(data)
	if err != nil {
		return nil, fmt.Errorf("%w: spdx: %v", ErrInvalidDocument, err)
	}
	return parts.document()
}

// readSPDX parses an SPDX JSON document into what Decode keeps of it.
//
// SPDX 2.3, the version every current tool writes, is streamed: each
// package, file and relationship is decoded on its own into tools-golang's
// model and reduced at once to the few fields cssc reads, so that the heap
// holds one element of the model at a time, not the whole document in it
// (a package is a 500-byte struct: "[{},{},...]" would cost 150 times its
// size). Older versions go through tools-golang's reader and converter.
func readSPDX(data []byte) (*spdxParts, error) {
	var probe struct {
		SPDXVersion string `json:"spdxVersion"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, err
	}
	if probe.SPDXVersion != v2_3.Version {
		sd, err := spdxjson.Read(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		if sd.SPDXVersion != spdx.Version {
			return nil, fmt.Errorf("version %q after conversion", sd.SPDXVersion)
		}
		return partsOf(sd)
	}
	return streamSPDX(data)
}

// spdxParts is what Decode reads from an SPDX document.
type spdxParts struct {
	name      string
	created   string
	creators  []string
	extracted map[string]string // LicenseRef id -> extracted licence name
	packages  []decodedPackage
	files     map[common.ElementID]spdxFile
	described map[common.ElementID]bool
	links     []spdxLink // package -> file relationships
}

// decodedPackage is what Decode reads from an SPDX package.
type decodedPackage struct {
	id                                                   common.ElementID
	name, version, purl, sourceInfo, declared, concluded string
	purpose                                              string
	comments                                             []string // annotation comments cssc reads ("cssc:...")
}

// spdxLink ties a package to a file it was found in.
type spdxLink struct{ pkg, file common.ElementID }

func newSPDXParts() *spdxParts {
	return &spdxParts{extracted: map[string]string{}, files: map[common.ElementID]spdxFile{}, described: map[common.ElementID]bool{}}
}

func (d *spdxParts) setCreation(ci *spdx.CreationInfo) {
	if ci == nil {
		return
	}
	d.created = ci.Created
	d.creators = d.creators[:0]
	for _, c := range ci.Creators {
		d.creators = append(d.creators, strings.TrimSpace(c.CreatorType+": "+c.Creator))
	}
}

func (d *spdxParts) addLicense(ol *spdx.OtherLicense) {
	if ol != nil && ol.LicenseName != "" && ol.LicenseName != "NOASSERTION" {
		d.extracted[ol.LicenseIdentifier] = ol.LicenseName
	}
}

func (d *spdxParts) addPackage(sp *spdx.Package) error {
	if sp == nil {
		return nil
	}
	if len(d.packages) >= maxPackages {
		return fmt.Errorf("more than %d packages", maxPackages)
	}
	p := decodedPackage{
		id: sp.PackageSPDXIdentifier, name: sp.PackageName, version: sp.PackageVersion, purl: spdxPURL(sp),
		sourceInfo: sp.PackageSourceInfo, declared: sp.PackageLicenseDeclared, concluded: sp.PackageLicenseConcluded,
		purpose: sp.PrimaryPackagePurpose,
	}
	for _, a := range sp.Annotations {
		if strings.HasPrefix(a.AnnotationComment, "cssc:") {
			p.comments = append(p.comments, a.AnnotationComment)
		}
	}
	d.packages = append(d.packages, p)
	return nil
}

func (d *spdxParts) addFile(f *spdx.File) {
	if f == nil || f.FileName == "" {
		return
	}
	layer := ""
	if v, ok := strings.CutPrefix(strings.TrimSpace(f.FileComment), "layerID: "); ok {
		layer = strings.TrimSpace(v)
	}
	d.files[f.FileSPDXIdentifier] = spdxFile{name: f.FileName, layer: layer}
}

// addRelationship keeps what Decode reads of the relationships: the
// elements the document DESCRIBES, and the files packages were found in,
// in two shapes: osv-scalibr's DEPENDENCY_MANIFEST_OF (file to package)
// and syft's OTHER relationships whose comment starts with "evident-by:"
// (package to file; syft puts the layer in the file comment,
// "layerID: sha256:...").
func (d *spdxParts) addRelationship(r *spdx.Relationship) {
	if r == nil || r.RefA.DocumentRefID != "" || r.RefB.DocumentRefID != "" {
		return
	}
	switch strings.ToUpper(r.Relationship) {
	case "DESCRIBES":
		if r.RefA.ElementRefID == "DOCUMENT" {
			d.described[r.RefB.ElementRefID] = true
		}
	case "DESCRIBED_BY":
		if r.RefB.ElementRefID == "DOCUMENT" {
			d.described[r.RefA.ElementRefID] = true
		}
	case "DEPENDENCY_MANIFEST_OF":
		d.links = append(d.links, spdxLink{pkg: r.RefB.ElementRefID, file: r.RefA.ElementRefID})
	case "OTHER":
		if strings.HasPrefix(r.RelationshipComment, "evident-by:") {
			d.links = append(d.links, spdxLink{pkg: r.RefA.ElementRefID, file: r.RefB.ElementRefID})
		}
	}
}

// partsOf reduces a whole tools-golang document.
func partsOf(sd *spdx.Document) (*spdxParts, error) {
	d := newSPDXParts()
	d.name = sd.DocumentName
	d.setCreation(sd.CreationInfo)
	for _, ol := range sd.OtherLicenses {
		d.addLicense(ol)
	}
	for _, sp := range sd.Packages {
		if err := d.addPackage(sp); err != nil {
			return nil, err
		}
	}
	for _, f := range sd.Files {
		d.addFile(f)
	}
	for _, r := range sd.Relationships {
		d.addRelationship(r)
	}
	return d, nil
}

// streamSPDX reads an SPDX 2.3 JSON document element by element (see
// readSPDX). It accepts what decoding the whole document into
// tools-golang's model accepts, and reads documentDescribes as DESCRIBES
// relationships as that model does.
func streamSPDX(data []byte) (*spdxParts, error) {
	d := newSPDXParts()
	var docID common.ElementID
	var describes []common.ElementID
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		// encoding/json matches keys without regard to case; so does this.
		switch strings.ToLower(key) {
		case "name":
			err = dec.Decode(&d.name)
		case "creationinfo":
			var ci *spdx.CreationInfo
			if err = dec.Decode(&ci); err == nil {
				d.setCreation(ci)
			}
		case "spdxid":
			err = dec.Decode(&docID)
		case "documentdescribes":
			var ids []common.DocElementID
			if err = dec.Decode(&ids); err == nil {
				for _, id := range ids {
					if id.DocumentRefID == "" {
						describes = append(describes, id.ElementRefID)
					}
				}
			}
		case "hasextractedlicensinginfos":
			err = eachElement(dec, func(ol *spdx.OtherLicense) error { d.addLicense(ol); return nil })
		case "packages":
			err = eachElement(dec, d.addPackage)
		case "files":
			err = eachElement(dec, func(f *spdx.File) error { d.addFile(f); return nil })
		case "relationships":
			err = eachElement(dec, func(r *spdx.Relationship) error { d.addRelationship(r); return nil })
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the document")
	}
	// documentDescribes are DESCRIBES relationships from the document.
	if docID == "DOCUMENT" {
		for _, id := range describes {
			d.described[id] = true
		}
	}
	return d, nil
}

// eachElement decodes the array (or null) at dec's position one element at
// a time, each into a new *T handed to fn.
func eachElement[T any](dec *json.Decoder, fn func(*T) error) error {
	tok, err := dec.Token()
	if err != nil || tok == nil {
		return err
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("want an array, found %v", tok)
	}
	for dec.More() {
		var v *T
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if err := fn(v); err != nil {
			return err
		}
	}
	_, err = dec.Token()
	return err
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("want %v, found %v", want, tok)
	}
	return nil
}

// document builds the Document.
func (d *spdxParts) document() (*Document, error) {
	out := &Document{Name: d.name}
	if t, err := time.Parse(time.RFC3339, d.created); err == nil {
		out.Created = t.UTC()
	}
	out.Creators = d.creators
	files := map[common.ElementID][]spdxFile{}
	for _, l := range d.links {
		f, ok := d.files[l.file]
		if !ok || len(files[l.pkg]) >= maxLocations {
			continue
		}
		files[l.pkg] = append(files[l.pkg], f)
	}
	for _, sp := range d.packages {
		if isSubjectPackage(sp, d.described) {
			for _, c := range sp.comments {
				if v, ok := strings.CutPrefix(c, annotationSkipped); ok && len(out.Skipped) < maxSkipped {
					var sk SkippedFile
					if err := json.Unmarshal([]byte(v), &sk); err != nil || sk.Path == "" {
						return nil, fmt.Errorf("%w: spdx: skipped-file annotation %q", ErrInvalidDocument, truncate(v, 64))
					}
					out.Skipped = append(out.Skipped, sk)
				}
			}
			continue
		}
		p := packageFromSPDX(sp, d.extracted)
		if f := files[sp.id]; len(f) > 0 {
			for _, loc := range f {
				if len(p.Locations) < maxLocations {
					p.Locations = append(p.Locations, loc.name)
				}
				if p.Layer == "" {
					p.Layer = loc.layer
				}
			}
		} else if len(p.Locations) == 0 {
			p.Locations = sourceInfoLocations(sp.sourceInfo)
		}
		out.Packages = append(out.Packages, p)
	}
	out.Normalize()
	return out, nil
}

// spdxFile is a file an SPDX document ties to a package.
type spdxFile struct {
	name, layer string
}

// sourceInfoLocations reads the paths in the sourceInfo sentences of
// syft ("acquired package info from go module information: /usr/bin/x")
// and osv-scalibr ("Identified by the go/binary extractor from usr/bin/x"),
// for documents without file relationships.
func sourceInfoLocations(info string) []string {
	if rest, ok := strings.CutPrefix(info, "acquired package info from "); ok {
		if _, paths, ok := strings.Cut(rest, ": "); ok {
			var out []string
			for p := range strings.SplitSeq(paths, ", ") {
				if p = strings.TrimSpace(p); strings.HasPrefix(p, "/") && len(out) < maxLocations {
					out = append(out, p)
				}
			}
			return out
		}
		return nil
	}
	if strings.HasPrefix(info, "Identified by the ") {
		if _, p, ok := strings.Cut(info, " extractor from "); ok && !strings.Contains(p, " locations, including ") {
			return []string{strings.TrimSpace(p)}
		}
	}
	return nil
}

// isSubjectPackage reports whether sp stands for the image itself rather
// than for a package in it: purpose CONTAINER, cssc's subject annotation,
// an oci or docker purl, or a package without purl that the document
// DESCRIBES (osv-scalibr's root package "main").
func isSubjectPackage(sp decodedPackage, described map[common.ElementID]bool) bool {
	if strings.EqualFold(sp.purpose, "CONTAINER") {
		return true
	}
	if slices.Contains(sp.comments, annotationSubject) {
		return true
	}
	if sp.purl != "" {
		t := purlType(sp.purl)
		return t == "oci" || t == "docker"
	}
	return described[sp.id]
}

func spdxPURL(sp *spdx.Package) string {
	for _, r := range sp.PackageExternalReferences {
		if r != nil && strings.EqualFold(r.RefType, "purl") {
			return r.Locator
		}
	}
	return ""
}

func purlType(purl string) string {
	rest, ok := strings.CutPrefix(purl, "pkg:")
	if !ok {
		return ""
	}
	rest = strings.TrimLeft(rest, "/")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return strings.ToLower(rest[:i])
	}
	return ""
}

func packageFromSPDX(sp decodedPackage, extracted map[string]string) Package {
	p := Package{
		Name:    sp.name,
		Version: sp.version,
		PURL:    NormalizePURL(sp.purl),
	}
	p.Ecosystem = Ecosystem(p.PURL)
	p.SourceName, p.SourceVersion = SourceFromPURL(p.PURL)
	if p.SourceName == "" {
		p.SourceName, p.SourceVersion = sourceFromInfo(sp.sourceInfo)
	}
	if p.SourceVersion == p.Version {
		p.SourceVersion = ""
	}
	if l := licenseValue(sp.declared, extracted); l != "" {
		p.Licenses = []string{l}
	} else if l := licenseValue(sp.concluded, extracted); l != "" {
		p.Licenses = []string{l}
	}
	for _, c := range sp.comments {
		if v, ok := strings.CutPrefix(c, annotationLayer); ok && p.Layer == "" {
			p.Layer = v
		}
		if v, ok := strings.CutPrefix(c, annotationLocation); ok && len(p.Locations) < maxLocations {
			p.Locations = append(p.Locations, v)
		}
	}
	return p
}

// licenseValue turns an SPDX licence field into the licence text cssc keeps:
// NOASSERTION and NONE are dropped, a lone LicenseRef is replaced by its
// extracted name when the document has one.
func licenseValue(v string, extracted map[string]string) string {
	v = strings.TrimSpace(v)
	switch v {
	case "", "NOASSERTION", "NONE":
		return ""
	}
	if name, ok := extracted[v]; ok {
		return name
	}
	return v
}

// sourceFromInfo reads the "source package: NAME[@VERSION]" sentence cssc
// writes into SPDX sourceInfo.
func sourceFromInfo(info string) (string, string) {
	_, rest, ok := strings.Cut(info, sourceInfoPrefix)
	if !ok {
		return "", ""
	}
	rest, _, _ = strings.Cut(rest, ";")
	rest = strings.TrimSpace(rest)
	if name, ver, ok := strings.Cut(rest, "@"); ok {
		return name, ver
	}
	return rest, ""
}
