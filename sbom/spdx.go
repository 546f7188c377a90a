package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	spdxexp "github.com/github/go-spdx/v2/spdxexp"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
	"github.com/spdx/tools-golang/spdxlib"
)

// Annotation comments cssc writes on SPDX packages (annotation type OTHER,
// annotator "Tool: cssc") and reads back in [Decode].
const (
	// annotationLayer is followed by the digest of the layer that introduced
	// the package.
	annotationLayer = "cssc:layer="
	// annotationLocation is followed by one path where the package was found.
	annotationLocation = "cssc:location="
	// annotationSubject marks the package that stands for the image itself.
	annotationSubject = "cssc:subject"
	// annotationSkipped, on the subject package, is followed by a JSON
	// SkippedFile: a file the document's producer did not examine.
	annotationSkipped = "cssc:skipped="
	// sourceInfoPrefix starts the sourceInfo sentence naming the source
	// package.
	sourceInfoPrefix = "source package: "
)

// DefaultNamespacePrefix is the prefix of the document namespace
// [EncodeSPDX] derives when [SPDXOptions.Namespace] is empty.
const DefaultNamespacePrefix = "https://cssc.dev/spdx/"

// SPDXOptions tunes [EncodeSPDX]. The zero value is ready to use.
type SPDXOptions struct {
	// Namespace is the SPDX document namespace. If empty, one is derived
	// from the document content and Subject:
	// DefaultNamespacePrefix + "<name>-<sha256 of content>", so the same
	// input always gives the same namespace.
	Namespace string
	// Subject is the digest of what the SBOM describes (the image manifest,
	// "sha256:..."). If set, the root package carries it as a SHA256
	// checksum and it goes into the derived namespace. Empty means no
	// checksum.
	Subject string
	// Created overrides the creation time. If zero, Document.Created is used;
	// if that is zero too, the Unix epoch, so that output never depends on
	// the clock.
	Created time.Time
	// ConcludeDeclared copies each package's declared licence into
	// licenseConcluded. If false, licenseConcluded is NOASSERTION (cssc
	// reads the licence a package declares; it does not analyse files).
	ConcludeDeclared bool
	// Indent, if non-empty, indents the JSON output with this string.
	// Empty means compact output.
	Indent string
}

var spdxIDUnsafe = regexp.MustCompile(`[^A-Za-z0-9.\-]+`)

// EncodeSPDX writes doc as an SPDX 2.3 JSON document.
//
// The document has one root package for the subject (named doc.Name,
// purpose CONTAINER, checksum opts.Subject), DESCRIBES from the document to
// it and CONTAINS from it to every package. Each package carries:
//   - its purl as a PACKAGE-MANAGER/purl external reference, with the source
//     package recorded in an "upstream" qualifier for deb and apk purls
//     (NAME or NAME@VERSION, syft's convention);
//   - the source package also as a sourceInfo sentence
//     ("source package: NAME[@VERSION]");
//   - the declared licences joined with AND as licenseDeclared (an
//     expression go-spdx does not accept becomes a LicenseRef- with the
//     text in hasExtractedLicensingInfos);
//   - the layer attribution as a package annotation of type OTHER with
//     comment "cssc:layer=<digest>", and one "cssc:location=<path>"
//     annotation per location.
//
// Each skipped file (Document.Skipped) is an annotation of the root
// package, "cssc:skipped=" followed by the SkippedFile as JSON.
//
// The output is deterministic: package identifiers follow the order of
// doc.Packages (call [Document.Sort] first for a canonical order), and
// nothing depends on the clock or randomness. The result is checked with
// tools-golang's spdxlib.ValidateDocument before it is returned.
func EncodeSPDX(doc *Document, opts SPDXOptions) ([]byte, error) {
	if doc == nil {
		return nil, fmt.Errorf("sbom: encode spdx: nil document")
	}
	created, name := header(doc, opts.Created, opts.Subject)
	annotationDate := created.UTC().Format(time.RFC3339)
	annotator := common.Annotator{Annotator: "cssc", AnnotatorType: "Tool"}
	note := func(comment string) spdx.Annotation {
		return spdx.Annotation{
			Annotator:         annotator,
			AnnotationDate:    annotationDate,
			AnnotationType:    "OTHER",
			AnnotationComment: comment,
		}
	}

	sd := &spdx.Document{
		SPDXVersion:    spdx.Version,
		DataLicense:    spdx.DataLicense,
		SPDXIdentifier: "DOCUMENT",
		DocumentName:   name,
		CreationInfo: &spdx.CreationInfo{
			Created:  created.UTC().Format(time.RFC3339),
			Creators: spdxCreators(doc.Creators),
		},
	}
	root, err := spdxRoot(doc, name, opts.Subject, note)
	if err != nil {
		return nil, err
	}
	sd.Packages = append(sd.Packages, root)
	sd.Relationships = append(sd.Relationships, &spdx.Relationship{
		RefA:         common.MakeDocElementID("", "DOCUMENT"),
		RefB:         common.MakeDocElementID("", "SPDXRef-Subject"),
		Relationship: "DESCRIBES",
	})

	licRefs := map[string]string{} // text -> LicenseRef id
	for i, p := range doc.Packages {
		sp := spdxPackage(i, p, opts, sd, licRefs, note)
		sd.Packages = append(sd.Packages, sp)
		sd.Relationships = append(sd.Relationships, &spdx.Relationship{
			RefA:         common.MakeDocElementID("", "SPDXRef-Subject"),
			RefB:         common.MakeDocElementID("", string(sp.PackageSPDXIdentifier)),
			Relationship: "CONTAINS",
		})
	}

	if opts.Namespace != "" {
		sd.DocumentNamespace = opts.Namespace
	} else if sd.DocumentNamespace, err = spdxNamespace(sd, name, opts.Subject); err != nil {
		return nil, err
	}

	if err := spdxlib.ValidateDocument(sd); err != nil {
		return nil, fmt.Errorf("sbom: encode spdx: %w", err)
	}
	var buf bytes.Buffer
	wopts := []spdxjson.WriteOption{spdxjson.EscapeHTML(false)}
	if opts.Indent != "" {
		wopts = append(wopts, spdxjson.Indent(opts.Indent))
	}
	if err := spdxjson.Write(sd, &buf, wopts...); err != nil {
		return nil, fmt.Errorf("sbom: encode spdx: %w", err)
	}
	return buf.Bytes(), nil
}

// spdxCreators returns the SPDX creators of the document's creators
// ("Tool: name", "Organization: name"; a bare name is a tool), or cssc.
func spdxCreators(creators []string) []common.Creator {
	var out []common.Creator
	for _, c := range creators {
		typ, who, ok := strings.Cut(c, ":")
		if !ok {
			typ, who = "Tool", c
		}
		out = append(out, common.Creator{CreatorType: strings.TrimSpace(typ), Creator: strings.TrimSpace(who)})
	}
	if len(out) == 0 {
		out = []common.Creator{{CreatorType: "Tool", Creator: "cssc"}}
	}
	return out
}

// spdxRoot returns the package describing the image itself: its name, the
// subject digest as checksum, and the subject and skipped-file
// annotations.
func spdxRoot(doc *Document, name, subject string, note func(string) spdx.Annotation) (*spdx.Package, error) {
	root := &spdx.Package{
		PackageName:             name,
		PackageSPDXIdentifier:   "SPDXRef-Subject",
		PackageDownloadLocation: "NOASSERTION",
		PrimaryPackagePurpose:   "CONTAINER",
		PackageLicenseConcluded: "NOASSERTION",
		PackageLicenseDeclared:  "NOASSERTION",
		PackageCopyrightText:    "NOASSERTION",
		Annotations:             []spdx.Annotation{note(annotationSubject)},
	}
	for _, sk := range doc.Skipped {
		b, err := json.Marshal(sk)
		if err != nil {
			return nil, fmt.Errorf("sbom: encode spdx: %w", err)
		}
		root.Annotations = append(root.Annotations, note(annotationSkipped+string(b)))
	}
	if alg, hexd, ok := strings.Cut(subject, ":"); ok && alg == "sha256" && isHex(hexd, 64) {
		root.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: hexd}}
	}
	return root, nil
}

// spdxPackage returns the SPDX package of p, the i-th package of the
// document; licence texts that are no SPDX expression become LicenseRefs
// of sd (licRefs maps each text to its id).
func spdxPackage(i int, p Package, opts SPDXOptions, sd *spdx.Document, licRefs map[string]string, note func(string) spdx.Annotation) *spdx.Package {
	id := common.ElementID(fmt.Sprintf("Package-%d-%s", i+1, strings.Trim(spdxIDUnsafe.ReplaceAllString(p.Name, "-"), "-")))
	sp := &spdx.Package{
		PackageName:             p.Name,
		PackageSPDXIdentifier:   id,
		PackageVersion:          p.Version,
		PackageDownloadLocation: "NOASSERTION",
		PackageCopyrightText:    "NOASSERTION",
		PackageLicenseConcluded: "NOASSERTION",
		PackageLicenseDeclared:  "NOASSERTION",
		PrimaryPackagePurpose:   "LIBRARY",
	}
	if sp.PackageName == "" {
		sp.PackageName = "unknown"
	}
	if purl := purlWithUpstream(p); purl != "" {
		sp.PackageExternalReferences = []*spdx.PackageExternalReference{{
			Category: "PACKAGE-MANAGER",
			RefType:  "purl",
			Locator:  purl,
		}}
	}
	if p.SourceName != "" {
		src := p.SourceName
		if p.SourceVersion != "" {
			src += "@" + p.SourceVersion
		}
		sp.PackageSourceInfo = sourceInfoPrefix + src
	}
	if decl := licenseExpression(p.Licenses, licRefs, sd); decl != "" {
		sp.PackageLicenseDeclared = decl
		if opts.ConcludeDeclared {
			sp.PackageLicenseConcluded = decl
		}
	}
	if p.Layer != "" {
		sp.Annotations = append(sp.Annotations, note(annotationLayer+p.Layer))
	}
	for _, loc := range p.Locations {
		sp.Annotations = append(sp.Annotations, note(annotationLocation+loc))
	}
	return sp
}

// spdxNamespace derives the document namespace from the subject and the
// document written with an empty namespace.
func spdxNamespace(sd *spdx.Document, name, subject string) (string, error) {
	body, err := json.Marshal(sd)
	if err != nil {
		return "", fmt.Errorf("sbom: encode spdx: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(subject))
	h.Write([]byte{0})
	h.Write(body)
	return DefaultNamespacePrefix + strings.Trim(spdxIDUnsafe.ReplaceAllString(name, "-"), "-") +
		"-" + hex.EncodeToString(h.Sum(nil)), nil
}

// purlWithUpstream returns p.PURL normalised, with an "upstream" qualifier
// naming the source package added to deb and apk purls that lack one.
func purlWithUpstream(p Package) string {
	purl := NormalizePURL(p.PURL)
	if purl == "" || p.SourceName == "" || (p.SourceName == p.Name && p.SourceVersion == "") {
		return purl
	}
	switch purlType(purl) {
	case "deb", "apk", "rpm":
	default:
		return purl
	}
	if n, _ := SourceFromPURL(purl); n != "" {
		return purl
	}
	up := p.SourceName
	if p.SourceVersion != "" && p.SourceVersion != p.Version {
		up += "@" + p.SourceVersion
	}
	return addQualifier(purl, "upstream", up)
}

// licenseExpression joins licences into one SPDX expression. Licences that
// go-spdx does not accept become LicenseRef- identifiers whose text is added
// to sd's extracted licences.
func licenseExpression(lics []string, refs map[string]string, sd *spdx.Document) string {
	var parts []string
	for _, l := range lics {
		l = strings.TrimSpace(l)
		if l == "" || l == "NOASSERTION" || l == "NONE" {
			continue
		}
		if ok, _ := spdxexp.ValidateLicenses([]string{l}); ok {
			if len(lics) > 1 && strings.ContainsAny(l, " ") {
				l = "(" + l + ")"
			}
			parts = append(parts, l)
			continue
		}
		ref, ok := refs[l]
		if !ok {
			sum := sha256.Sum256([]byte(l))
			ref = "LicenseRef-" + strings.Trim(spdxIDUnsafe.ReplaceAllString(l, "-"), "-")
			if len(ref) > 64 || ref == "LicenseRef-" {
				ref = "LicenseRef-" + hex.EncodeToString(sum[:8])
			}
			for _, existing := range refs {
				if existing == ref {
					ref += "-" + hex.EncodeToString(sum[:4])
					break
				}
			}
			refs[l] = ref
			sd.OtherLicenses = append(sd.OtherLicenses, &spdx.OtherLicense{
				LicenseIdentifier: ref,
				ExtractedText:     l,
				LicenseName:       l,
			})
		}
		parts = append(parts, ref)
	}
	return strings.Join(parts, " AND ")
}

// validLicenseID reports whether id is a single SPDX licence identifier
// (not an expression).
func validLicenseID(id string) (bool, string) {
	ok, _ := spdxexp.ValidateLicensesWithOptions([]string{id}, spdxexp.ValidateLicensesOptions{FailComplexExpressions: true, FailAllLicenseRefs: true, FailAllDocumentRefs: true})
	return ok, id
}

// isHex reports whether s is n lower-case hexadecimal digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// header returns the creation time and name both encoders write: the
// option, else the document's, else the Unix epoch (never the clock); the
// document name, else the subject, else "image".
func header(doc *Document, created time.Time, subject string) (time.Time, string) {
	if created.IsZero() {
		created = doc.Created
	}
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	name := doc.Name
	if name == "" {
		name = "image"
		if subject != "" {
			name = subject
		}
	}
	return created, name
}
