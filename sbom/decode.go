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
)

// MaxDocumentSize is the largest SBOM, in bytes, that [Decode] accepts:
// 64 MiB, enough for an image with tens of thousands of packages. Larger
// input is rejected with an error wrapping [ErrTooLarge] before any parsing.
const MaxDocumentSize = 64 << 20

// maxPackages caps the number of packages taken from one document.
const maxPackages = 1 << 20

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
// cssc writes (see [EncodeSPDX]). The package that describes the image
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
	for _, sp := range sd.Packages {
		if sp == nil || isSubjectPackage(sp) {
			continue
		}
		out.Packages = append(out.Packages, packageFromSPDX(sp, extracted))
	}
	return out, nil
}

func isSubjectPackage(sp *spdx.Package) bool {
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
	return false
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
		if v, ok := strings.CutPrefix(a.AnnotationComment, annotationLocation); ok {
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
