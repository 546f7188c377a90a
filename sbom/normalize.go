package sbom

import (
	"path"
	"slices"
	"strings"

	packageurl "github.com/package-url/packageurl-go"
)

// GoStdlib is the name OSV gives the Go standard library (and toolchain)
// in the "Go" ecosystem. Every SBOM cssc reads or writes names it so: see
// [NormalizePackage].
const GoStdlib = "stdlib"

// Normalize rewrites every package of d with [NormalizePackage]. It is the
// one place where the spellings of different SBOM tools meet: [Decode] and
// sbom/scalibr call it on every document they return, and scan/osv on
// every package it matches, so a document assembled by hand is matched the
// same way.
func (d *Document) Normalize() {
	if d == nil {
		return
	}
	for i := range d.Packages {
		d.Packages[i] = NormalizePackage(d.Packages[i])
	}
}

// NormalizePackage returns p in the spelling cssc matches, indexes and
// writes, whichever tool wrote it:
//
//   - The Go toolchain is the package [GoStdlib] ("stdlib") with a version
//     without the "go" prefix and a purl pkg:golang/stdlib@VERSION.
//     osv-scalibr names it "go" (pkg:golang/go@1.19.8, the version already
//     without "go"); syft names it "stdlib" with version "go1.19.8" and
//     purl pkg:golang/stdlib@1.19.8; osv-scanner writes "stdlib" and
//     "1.19.8". Anything after a space in the version
//     ("go1.22.1 X:boringcrypto") is dropped.
//   - The name of a package whose purl has a namespace is the full name
//     its ecosystem uses when the document gave only the purl's last
//     segment (osv-scalibr's SPDX output names github.com/foo/bar "bar"
//     and @types/node "node"): namespace/name for Go, npm and Composer,
//     namespace:name for Maven.
//   - The purl is in canonical form without spurious qualifiers
//     ([NormalizePURL]); an empty name or version is taken from the purl,
//     and an empty ecosystem or source package is derived from it
//     ([Ecosystem], [SourceFromPURL]).
//   - Locations are clean relative paths (syft writes "/usr/bin/x"), in
//     their first order, without duplicates or empty entries.
//
// Everything else is kept as found. NormalizePackage is idempotent.
func NormalizePackage(p Package) Package {
	if p.PURL != "" {
		if pu, err := packageurl.FromString(p.PURL); err == nil {
			normalizeWithPURL(&p, pu)
		} else {
			p.PURL = strings.TrimSpace(p.PURL)
		}
	}
	if p.Name == GoStdlib && (p.Ecosystem == "Go" || p.PURL == "") && strings.HasPrefix(p.Version, "go") {
		p.Version = goToolchainVersion(p.Version)
	}
	if p.SourceVersion == p.Version {
		p.SourceVersion = ""
	}
	if p.SourceName == p.Name && p.SourceVersion == "" {
		p.SourceName = ""
	}
	p.Locations = cleanLocations(p.Locations)
	return p
}

// normalizeWithPURL applies the rules that need the parsed purl.
func normalizeWithPURL(p *Package, pu packageurl.PackageURL) {
	changed := false
	// Drop spurious qualifiers (NormalizePURL's rule), on the parsed form.
	q := pu.Qualifiers[:0:0]
	for _, kv := range pu.Qualifiers {
		if kv.Value == "" || (kv.Key == "source" && strings.EqualFold(kv.Value, "unknown")) {
			changed = true
			continue
		}
		q = append(q, kv)
	}
	pu.Qualifiers = q

	if pu.Type == packageurl.TypeGolang && pu.Namespace == "" && (pu.Name == "go" || pu.Name == GoStdlib) {
		// The Go toolchain, whoever wrote it.
		v := goToolchainVersion(cmpOr(pu.Version, p.Version))
		if pu.Name != GoStdlib || pu.Version != v {
			pu.Name, pu.Version, changed = GoStdlib, v, true
		}
		p.Name = GoStdlib
		p.Version = goToolchainVersion(cmpOr(p.Version, v))
	} else if full := fullName(pu); full != "" && (p.Name == "" || (p.Name == pu.Name && full != pu.Name)) {
		p.Name = full
	}
	if p.Version == "" {
		p.Version = pu.Version
	}
	if changed || !isCanonical(pu, p.PURL) {
		p.PURL = pu.ToString()
	}
	if p.Ecosystem == "" {
		p.Ecosystem = ecosystemOf(pu)
	}
	if p.SourceName == "" {
		p.SourceName, p.SourceVersion = sourceFromParsed(pu)
	}
}

// isCanonical reports whether s is already pu's canonical string, to spare
// re-serialising purls that need no change.
func isCanonical(pu packageurl.PackageURL, s string) bool {
	if !slices.IsSortedFunc(pu.Qualifiers, func(a, b packageurl.Qualifier) int { return strings.Compare(a.Key, b.Key) }) {
		return false
	}
	return pu.ToString() == s
}

// fullName returns the name a package's ecosystem uses for a purl with a
// namespace, or "" when the purl has none or its type keeps names apart.
func fullName(pu packageurl.PackageURL) string {
	if pu.Namespace == "" {
		return ""
	}
	switch pu.Type {
	case packageurl.TypeGolang, packageurl.TypeNPM, packageurl.TypeComposer:
		return pu.Namespace + "/" + pu.Name
	case packageurl.TypeMaven:
		return pu.Namespace + ":" + pu.Name
	}
	return ""
}

// goToolchainVersion turns a Go release tag ("go1.19.8", "go1.22.1
// X:boringcrypto") into the version without prefix ("1.19.8").
func goToolchainVersion(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, ' '); i >= 0 {
		v = v[:i]
	}
	if rest, ok := strings.CutPrefix(v, "go"); ok && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
		return rest
	}
	return v
}

// sourceFromParsed is SourceFromPURL on a parsed purl.
func sourceFromParsed(p packageurl.PackageURL) (name, version string) {
	q := p.Qualifiers.Map()
	up := q["upstream"]
	if up == "" {
		if src := q["source"]; src != "" && !strings.EqualFold(src, "unknown") {
			return src, q["sourceversion"]
		}
		return "", ""
	}
	if i := strings.IndexByte(up, '@'); i >= 0 {
		return up[:i], up[i+1:]
	}
	return up, ""
}

// cleanLocations makes every location a clean relative path and drops
// empty and repeated ones. It returns locs itself when nothing changes.
func cleanLocations(locs []string) []string {
	clean := true
	for i, l := range locs {
		if l == "" || l[0] == '/' || path.Clean(l) != l || slices.Contains(locs[:i], l) {
			clean = false
			break
		}
	}
	if clean {
		return locs
	}
	out := make([]string, 0, len(locs))
	for _, l := range locs {
		l = strings.TrimPrefix(path.Clean("/"+strings.TrimSpace(l)), "/")
		if l == "" || slices.Contains(out, l) {
			continue
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func cmpOr(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
