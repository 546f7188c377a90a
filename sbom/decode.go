package sbom

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
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
	var sd *spdx.Document
	sd, err = spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%w: spdx: %v", ErrInvalidDocument, err)
	}
	if sd.SPDXVersion != spdx.Version {
		return nil, fmt.Errorf("%w: spdx: version %q after conversion", ErrInvalidDocument, sd.SPDXVersion)
	}
	if len(sd.Packages) > maxPackages {
		return nil, fmt.Errorf("%w: spdx: %d packages, limit %d", ErrInvalidDocument, len(sd.Packages), maxPackages)
	}
	out := &Document{Name: sd.DocumentName}
	if ci := sd.CreationInfo; ci != nil {
		if t, err := time.Parse(time.RFC3339, ci.Created); err == nil {
			out.Created = t.UTC()
		}
		for _, c := range ci.Creators {
			out.Creators = append(out.Creators, strings.TrimSpace(c.CreatorType+": "+c.Creator))
		}
	}
	extracted := map[string]string{}
	for _, ol := range sd.OtherLicenses {
		if ol != nil && ol.LicenseName != "" && ol.LicenseName != "NOASSERTION" {
			extracted[ol.LicenseIdentifier] = ol.LicenseName
		}
	}
	files, described := spdxFiles(sd)
	for _, sp := range sd.Packages {
		if sp == nil {
			continue
		}
		if isSubjectPackage(sp, described) {
			for _, a := range sp.Annotations {
				if v, ok := strings.CutPrefix(a.AnnotationComment, annotationSkipped); ok && len(out.Skipped) < maxSkipped {
					var sk SkippedFile
					if err := json.Unmarshal([]byte(v), &sk); err != nil || sk.Path == "" {
						return nil, fmt.Errorf("%w: spdx: skipped-file annotation %q", ErrInvalidDocument, truncate(v, 64))
					}
					out.Skipped = append(out.Skipped, sk)
				}
			}
			continue
		}
		p := packageFromSPDX(sp, extracted)
		if f := files[sp.PackageSPDXIdentifier]; len(f) > 0 {
			for _, loc := range f {
				if len(p.Locations) < maxLocations {
					p.Locations = append(p.Locations, loc.name)
				}
				if p.Layer == "" {
					p.Layer = loc.layer
				}
			}
		} else if len(p.Locations) == 0 {
			p.Locations = sourceInfoLocations(sp.PackageSourceInfo)
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

// spdxFiles returns, per package, the files the document says the package
// was found in, and the elements the document DESCRIBES. Two shapes are
// read: osv-scalibr's DEPENDENCY_MANIFEST_OF (file to package) and syft's
// OTHER relationships whose comment starts with "evident-by:" (package to
// file; syft puts the layer in the file comment, "layerID: sha256:...").
func spdxFiles(sd *spdx.Document) (map[common.ElementID][]spdxFile, map[common.ElementID]bool) {
	byID := map[common.ElementID]*spdx.File{}
	for _, f := range sd.Files {
		if f != nil {
			byID[f.FileSPDXIdentifier] = f
		}
	}
	out := map[common.ElementID][]spdxFile{}
	described := map[common.ElementID]bool{}
	add := func(pkg, file common.ElementID) {
		f := byID[file]
		if f == nil || f.FileName == "" || len(out[pkg]) >= maxLocations {
			return
		}
		layer := ""
		if v, ok := strings.CutPrefix(strings.TrimSpace(f.FileComment), "layerID: "); ok {
			layer = strings.TrimSpace(v)
		}
		out[pkg] = append(out[pkg], spdxFile{name: f.FileName, layer: layer})
	}
	for _, r := range sd.Relationships {
		if r == nil || r.RefA.DocumentRefID != "" || r.RefB.DocumentRefID != "" {
			continue
		}
		switch strings.ToUpper(r.Relationship) {
		case "DESCRIBES":
			if r.RefA.ElementRefID == "DOCUMENT" {
				described[r.RefB.ElementRefID] = true
			}
		case "DESCRIBED_BY":
			if r.RefB.ElementRefID == "DOCUMENT" {
				described[r.RefA.ElementRefID] = true
			}
		case "DEPENDENCY_MANIFEST_OF":
			add(r.RefB.ElementRefID, r.RefA.ElementRefID)
		case "OTHER":
			if strings.HasPrefix(r.RelationshipComment, "evident-by:") {
				add(r.RefA.ElementRefID, r.RefB.ElementRefID)
			}
		}
	}
	return out, described
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
func isSubjectPackage(sp *spdx.Package, described map[common.ElementID]bool) bool {
	if strings.EqualFold(sp.PrimaryPackagePurpose, "CONTAINER") {
		return true
	}
	for _, a := range sp.Annotations {
		if a.AnnotationComment == annotationSubject {
			return true
		}
	}
	if purl := spdxPURL(sp); purl != "" {
		t := purlType(purl)
		return t == "oci" || t == "docker"
	}
	return described[sp.PackageSPDXIdentifier]
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

func packageFromSPDX(sp *spdx.Package, extracted map[string]string) Package {
	p := Package{
		Name:    sp.PackageName,
		Version: sp.PackageVersion,
		PURL:    NormalizePURL(spdxPURL(sp)),
	}
	p.Ecosystem = Ecosystem(p.PURL)
	p.SourceName, p.SourceVersion = SourceFromPURL(p.PURL)
	if p.SourceName == "" {
		p.SourceName, p.SourceVersion = sourceFromInfo(sp.PackageSourceInfo)
	}
	if p.SourceVersion == p.Version {
		p.SourceVersion = ""
	}
	if l := licenseValue(sp.PackageLicenseDeclared, extracted); l != "" {
		p.Licenses = []string{l}
	} else if l := licenseValue(sp.PackageLicenseConcluded, extracted); l != "" {
		p.Licenses = []string{l}
	}
	for _, a := range sp.Annotations {
		if v, ok := strings.CutPrefix(a.AnnotationComment, annotationLayer); ok && p.Layer == "" {
			p.Layer = v
		}
		if v, ok := strings.CutPrefix(a.AnnotationComment, annotationLocation); ok && len(p.Locations) < maxLocations {
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
