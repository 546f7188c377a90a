package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	packageurl "github.com/package-url/packageurl-go"
)

// The CycloneDX subset cssc reads and writes. Only the fields the model
// needs are declared; everything else in a document is ignored.
type cdxBOM struct {
	BOMFormat    string         `json:"bomFormat"`
	SpecVersion  string         `json:"specVersion"`
	SerialNumber string         `json:"serialNumber,omitempty"`
	Version      int            `json:"version"`
	Metadata     *cdxMetadata   `json:"metadata,omitempty"`
	Components   []cdxComponent `json:"components,omitempty"`
}

type cdxMetadata struct {
	Timestamp  string        `json:"timestamp,omitempty"`
	Tools      *cdxTools     `json:"tools,omitempty"`
	Component  *cdxComponent `json:"component,omitempty"`
	Properties []cdxProperty `json:"properties,omitempty"`
}

// cdxTools accepts both the 1.5+ object form and the legacy array form.
type cdxTools struct {
	Components []cdxComponent `json:"components,omitempty"`
	legacy     []cdxComponent
}

func (t *cdxTools) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		return json.Unmarshal(b, &t.legacy)
	}
	type plain cdxTools
	return json.Unmarshal(b, (*plain)(t))
}

type cdxComponent struct {
	BOMRef     string         `json:"bom-ref,omitempty"`
	Type       string         `json:"type"`
	Name       string         `json:"name"`
	Group      string         `json:"group,omitempty"`
	Version    string         `json:"version,omitempty"`
	PURL       string         `json:"purl,omitempty"`
	Licenses   []cdxLicense   `json:"licenses,omitempty"`
	Hashes     []cdxHash      `json:"hashes,omitempty"`
	Properties []cdxProperty  `json:"properties,omitempty"`
	Components []cdxComponent `json:"components,omitempty"`
	Evidence   *cdxEvidence   `json:"evidence,omitempty"`
}

// cdxEvidence is the part of CycloneDX 1.5+ component evidence cssc reads:
// where the component was found (osv-scalibr and osv-scanner write it).
type cdxEvidence struct {
	Occurrences []struct {
		Location string `json:"location"`
	} `json:"occurrences,omitempty"`
}

type cdxLicense struct {
	License    *cdxLicenseID `json:"license,omitempty"`
	Expression string        `json:"expression,omitempty"`
}

type cdxLicenseID struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

type cdxHash struct {
	Alg     string `json:"alg"`
	Content string `json:"content"`
}

type cdxProperty struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CycloneDX property names cssc writes and reads.
const (
	cdxPropLayer         = "cssc:layer"
	cdxPropLocation      = "cssc:location"
	cdxPropEcosystem     = "cssc:ecosystem"
	cdxPropSourceName    = "cssc:sourceName"
	cdxPropSourceVersion = "cssc:sourceVersion"
	// cdxPropSkipped, in metadata.properties, holds a JSON SkippedFile.
	cdxPropSkipped = "cssc:skipped"
	// syft's location properties ("syft:location:N:path" and
	// "syft:location:N:layerID", N from 0), read for publisher SBOMs made
	// by syft.
	syftPropLocation = "syft:location:"
)

// maxComponentDepth bounds the nesting of CycloneDX components.
const maxComponentDepth = 32

func decodeCycloneDX(data []byte) (*Document, error) {
	var bom cdxBOM
	if err := json.Unmarshal(data, &bom); err != nil {
		return nil, fmt.Errorf("%w: cyclonedx: %v", ErrInvalidDocument, err)
	}
	if bom.BOMFormat != "CycloneDX" {
		return nil, fmt.Errorf("%w: cyclonedx: bomFormat %q", ErrInvalidDocument, bom.BOMFormat)
	}
	switch bom.SpecVersion {
	case "1.2", "1.3", "1.4", "1.5", "1.6", "1.7":
	default:
		return nil, fmt.Errorf("%w: cyclonedx: unsupported specVersion %q", ErrInvalidDocument, bom.SpecVersion)
	}
	out := &Document{}
	if m := bom.Metadata; m != nil {
		if t, err := time.Parse(time.RFC3339, m.Timestamp); err == nil {
			out.Created = t.UTC()
		}
		if m.Component != nil {
			out.Name = m.Component.Name
		}
		if m.Tools != nil {
			for _, c := range append(m.Tools.Components, m.Tools.legacy...) {
				out.Creators = append(out.Creators, strings.TrimSpace("Tool: "+c.Name+"-"+c.Version))
			}
		}
		for _, prop := range m.Properties {
			if prop.Name != cdxPropSkipped || len(out.Skipped) >= maxSkipped {
				continue
			}
			var sk SkippedFile
			if err := json.Unmarshal([]byte(prop.Value), &sk); err != nil || sk.Path == "" {
				return nil, fmt.Errorf("%w: cyclonedx: skipped-file property %q", ErrInvalidDocument, truncate(prop.Value, 64))
			}
			out.Skipped = append(out.Skipped, sk)
		}
	}
	var walk func(cs []cdxComponent, depth int) error
	walk = func(cs []cdxComponent, depth int) error {
		if depth > maxComponentDepth {
			return fmt.Errorf("%w: cyclonedx: components nested deeper than %d", ErrInvalidDocument, maxComponentDepth)
		}
		for i := range cs {
			c := &cs[i]
			if len(out.Packages) >= maxPackages {
				return fmt.Errorf("%w: cyclonedx: more than %d components", ErrInvalidDocument, maxPackages)
			}
			if c.Type != "container" && c.Type != "operating-system" && c.Type != "file" && purlType(c.PURL) != "oci" {
				out.Packages = append(out.Packages, packageFromCDX(c))
			}
			if err := walk(c.Components, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(bom.Components, 0); err != nil {
		return nil, err
	}
	out.Normalize()
	return out, nil
}

func packageFromCDX(c *cdxComponent) Package {
	p := Package{Name: c.Name, Version: c.Version, PURL: NormalizePURL(c.PURL)}
	if c.Group != "" && purlType(p.PURL) == "maven" {
		p.Name = c.Group + ":" + c.Name
	}
	p.Ecosystem = Ecosystem(p.PURL)
	p.SourceName, p.SourceVersion = SourceFromPURL(p.PURL)
	for _, l := range c.Licenses {
		switch {
		case l.Expression != "":
			p.Licenses = append(p.Licenses, l.Expression)
		case l.License != nil && l.License.ID != "":
			p.Licenses = append(p.Licenses, l.License.ID)
		case l.License != nil && l.License.Name != "":
			p.Licenses = append(p.Licenses, l.License.Name)
		}
	}
	for _, prop := range c.Properties {
		if rest, ok := strings.CutPrefix(prop.Name, syftPropLocation); ok {
			switch _, field, _ := strings.Cut(rest, ":"); field {
			case "path":
				p.Locations = append(p.Locations, prop.Value)
			case "layerID":
				if p.Layer == "" {
					p.Layer = prop.Value
				}
			}
			continue
		}
		switch prop.Name {
		case cdxPropLayer:
			if p.Layer == "" {
				p.Layer = prop.Value
			}
		case cdxPropLocation:
			p.Locations = append(p.Locations, prop.Value)
		case cdxPropEcosystem:
			if p.Ecosystem == "" {
				p.Ecosystem = prop.Value
			}
		case cdxPropSourceName:
			p.SourceName = prop.Value
		case cdxPropSourceVersion:
			p.SourceVersion = prop.Value
		}
	}
	if c.Evidence != nil {
		for _, o := range c.Evidence.Occurrences {
			if o.Location != "" && len(p.Locations) < maxLocations {
				p.Locations = append(p.Locations, o.Location)
			}
		}
	}
	if len(p.Locations) > maxLocations {
		p.Locations = p.Locations[:maxLocations]
	}
	return p
}

// CycloneDXOptions tunes [EncodeCycloneDX]. The zero value is ready to use.
type CycloneDXOptions struct {
	// Subject is the digest of what the SBOM describes ("sha256:..."). If
	// set, metadata.component carries it as a SHA-256 hash and it feeds the
	// derived serial number. Empty means no hash.
	Subject string
	// Created overrides the timestamp. If zero, Document.Created is used; if
	// that is zero too, the Unix epoch.
	Created time.Time
	// Indent, if non-empty, indents the JSON output with this string.
	Indent string
}

// EncodeCycloneDX writes doc as a CycloneDX 1.6 JSON document.
//
// metadata.component (type container) stands for the subject; each package
// is a library component with its purl (with an "upstream" qualifier for
// deb and apk source packages, as in [EncodeSPDX]), its licences (an
// expression for compound ones, an id otherwise) and the properties
// cssc:layer, cssc:location, cssc:ecosystem, cssc:sourceName and
// cssc:sourceVersion; each skipped file (Document.Skipped) is a
// "cssc:skipped" property of the metadata holding it as JSON. The serial
// number is a UUID derived from the content,
// so the output is deterministic.
func EncodeCycloneDX(doc *Document, opts CycloneDXOptions) ([]byte, error) {
	if doc == nil {
		return nil, fmt.Errorf("sbom: encode cyclonedx: nil document")
	}
	created, name := header(doc, opts.Created, opts.Subject)
	bom := cdxBOM{
		BOMFormat:   "CycloneDX",
		SpecVersion: "1.6",
		Version:     1,
		Metadata: &cdxMetadata{
			Timestamp: created.UTC().Format(time.RFC3339),
			Component: &cdxComponent{BOMRef: "subject", Type: "container", Name: name},
		},
	}
	if alg, hexd, ok := strings.Cut(opts.Subject, ":"); ok && alg == "sha256" && isHex(hexd, 64) {
		bom.Metadata.Component.Hashes = []cdxHash{{Alg: "SHA-256", Content: hexd}}
	}
	for _, sk := range doc.Skipped {
		b, err := json.Marshal(sk)
		if err != nil {
			return nil, fmt.Errorf("sbom: encode cyclonedx: %w", err)
		}
		bom.Metadata.Properties = append(bom.Metadata.Properties, cdxProperty{Name: cdxPropSkipped, Value: string(b)})
	}
	if len(doc.Creators) > 0 {
		bom.Metadata.Tools = &cdxTools{}
	}
	for _, c := range doc.Creators {
		_, who, ok := strings.Cut(c, ":")
		if !ok {
			who = c
		}
		bom.Metadata.Tools.Components = append(bom.Metadata.Tools.Components,
			cdxComponent{Type: "application", Name: strings.TrimSpace(who)})
	}
	for i, p := range doc.Packages {
		bom.Components = append(bom.Components, cdxPackage(i, p))
	}
	body, err := json.Marshal(bom)
	if err != nil {
		return nil, fmt.Errorf("sbom: encode cyclonedx: %w", err)
	}
	sum := sha256.Sum256(append([]byte(opts.Subject+"\x00"), body...))
	bom.SerialNumber = "urn:uuid:" + uuidFrom(sum[:16])
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if opts.Indent != "" {
		enc.SetIndent("", opts.Indent)
	}
	if err := enc.Encode(bom); err != nil {
		return nil, fmt.Errorf("sbom: encode cyclonedx: %w", err)
	}
	return buf.Bytes(), nil
}

// cdxPackage returns the library component of p, the i-th package of the
// document: its purl, its licences (one expression when any is compound,
// since CycloneDX allows either one expression or any number of licences)
// and its cssc properties.
func cdxPackage(i int, p Package) cdxComponent {
	c := cdxComponent{
		BOMRef:  fmt.Sprintf("pkg-%d", i+1),
		Type:    "library",
		Name:    p.Name,
		Version: p.Version,
		PURL:    purlWithUpstream(p),
	}
	for _, l := range p.Licenses {
		if strings.ContainsAny(strings.TrimSpace(l), " ()") {
			c.Licenses = append(c.Licenses, cdxLicense{Expression: l})
		} else if ok, _ := validLicenseID(l); ok {
			c.Licenses = append(c.Licenses, cdxLicense{License: &cdxLicenseID{ID: l}})
		} else {
			c.Licenses = append(c.Licenses, cdxLicense{License: &cdxLicenseID{Name: l}})
		}
	}
	// CycloneDX allows either one expression or any number of licences.
	if len(c.Licenses) > 1 {
		var exprs []string
		for _, l := range c.Licenses {
			if l.Expression != "" {
				exprs = append(exprs, l.Expression)
			}
		}
		if len(exprs) > 0 {
			c.Licenses = []cdxLicense{{Expression: strings.Join(wrapAll(p.Licenses), " AND ")}}
		}
	}
	add := func(k, v string) {
		if v != "" {
			c.Properties = append(c.Properties, cdxProperty{Name: k, Value: v})
		}
	}
	add(cdxPropEcosystem, p.Ecosystem)
	add(cdxPropLayer, p.Layer)
	for _, loc := range p.Locations {
		add(cdxPropLocation, loc)
	}
	add(cdxPropSourceName, p.SourceName)
	add(cdxPropSourceVersion, p.SourceVersion)
	return c
}

func wrapAll(lics []string) []string {
	out := make([]string, 0, len(lics))
	for _, l := range lics {
		if strings.Contains(l, " ") {
			l = "(" + l + ")"
		}
		out = append(out, l)
	}
	return out
}

// uuidFrom formats 16 bytes as a version 5-style (name-based) UUID.
func uuidFrom(b []byte) string {
	var u [16]byte
	copy(u[:], b)
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// addQualifier returns purl with the qualifier key=value added (purl must
// parse; if it does not, it is returned unchanged).
func addQualifier(purl, key, value string) string {
	p, err := packageurl.FromString(purl)
	if err != nil {
		return purl
	}
	p.Qualifiers = append(p.Qualifiers, packageurl.Qualifier{Key: key, Value: value})
	return p.ToString()
}
