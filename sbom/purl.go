package sbom

import (
	"strings"

	packageurl "github.com/package-url/packageurl-go"
)

// debianCodenames maps Debian release code names to their major versions,
// for purls that say distro=bookworm instead of distro=debian-12.
var debianCodenames = map[string]string{
	"jessie":   "8",
	"stretch":  "9",
	"buster":   "10",
	"bullseye": "11",
	"bookworm": "12",
	"trixie":   "13",
	"forky":    "14",
}

// Ecosystem returns the OSV ecosystem of a package URL, or "" when the purl
// does not parse or its type has no OSV ecosystem.
//
// Distribution qualifiers are read: pkg:deb/debian/x?distro=debian-12 and
// ?distro=bookworm give "Debian:12", pkg:deb/ubuntu/x?distro=ubuntu-22.04
// or ?distro=jammy gives "Ubuntu:22.04:LTS", pkg:apk/alpine/x?distro=alpine-3.20.3 (or 3.20.3)
// gives "Alpine:v3.20". Without a usable distro qualifier the bare
// ecosystem ("Debian", "Alpine") is returned. Language types map to "Go",
// "npm", "PyPI", "Maven", "crates.io", "RubyGems", "NuGet", "Packagist",
// "Pub", "Hex".
func Ecosystem(purl string) string {
	p, err := packageurl.FromString(purl)
	if err != nil {
		return ""
	}
	return ecosystemOf(p)
}

func ecosystemOf(p packageurl.PackageURL) string {
	distro := p.Qualifiers.Map()["distro"]
	switch p.Type {
	case packageurl.TypeGolang:
		return "Go"
	case packageurl.TypeNPM:
		return "npm"
	case packageurl.TypePyPi:
		return "PyPI"
	case packageurl.TypeMaven:
		return "Maven"
	case packageurl.TypeCargo:
		return "crates.io"
	case packageurl.TypeGem:
		return "RubyGems"
	case packageurl.TypeNuget:
		return "NuGet"
	case packageurl.TypeComposer:
		return "Packagist"
	case "pub":
		return "Pub"
	case packageurl.TypeHex:
		return "Hex"
	case packageurl.TypeDebian:
		switch strings.ToLower(p.Namespace) {
		case "ubuntu":
			return UbuntuEcosystem(distro)
		case "debian", "":
			return DebianEcosystem(distro)
		}
		return ""
	case packageurl.TypeApk:
		switch strings.ToLower(p.Namespace) {
		case "alpine", "":
			return AlpineEcosystem(distro)
		case "wolfi":
			return "Wolfi"
		case "chainguard":
			return "Chainguard"
		}
		return ""
	case packageurl.TypeRPM:
		v := majorOf(distroVersion(distro))
		var eco string
		switch strings.ToLower(p.Namespace) {
		case "redhat", "rhel":
			eco = "Red Hat"
		case "rocky", "rocky-linux":
			eco = "Rocky Linux"
		case "almalinux":
			eco = "AlmaLinux"
		case "opensuse":
			return "openSUSE"
		case "suse":
			return "SUSE"
		default:
			return ""
		}
		if v != "" {
			return eco + ":" + v
		}
		return eco
	}
	return ""
}

// DebianEcosystem returns the OSV ecosystem for a Debian release given as a
// purl distro qualifier ("debian-12", "debian-12.5"), an os-release
// VERSION_ID ("12") or a code name ("bookworm"). An empty or unrecognised
// release gives the bare "Debian".
func DebianEcosystem(release string) string {
	r := strings.ToLower(strings.TrimSpace(release))
	r = strings.TrimPrefix(r, "debian-")
	if v, ok := debianCodenames[r]; ok {
		return "Debian:" + v
	}
	if m := majorOf(r); m != "" {
		return "Debian:" + m
	}
	return "Debian"
}

// ubuntuCodenames maps Ubuntu code names to their versions.
var ubuntuCodenames = map[string]string{
	"xenial":   "16.04",
	"bionic":   "18.04",
	"focal":    "20.04",
	"jammy":    "22.04",
	"mantic":   "23.10",
	"noble":    "24.04",
	"oracular": "24.10",
	"plucky":   "25.04",
	"questing": "25.10",
}

// UbuntuEcosystem returns the OSV ecosystem for an Ubuntu release given as
// a purl distro qualifier ("ubuntu-22.04"), an os-release VERSION_ID
// ("22.04") or a code name ("jammy"). OSV marks long-term-support releases
// (even years, April): "Ubuntu:22.04:LTS", "Ubuntu:24.10". An empty or
// unrecognised release gives the bare "Ubuntu".
func UbuntuEcosystem(release string) string {
	r := strings.ToLower(strings.TrimSpace(release))
	r = strings.TrimPrefix(r, "ubuntu-")
	if v, ok := ubuntuCodenames[r]; ok {
		r = v
	}
	parts := strings.Split(r, ".")
	if len(parts) < 2 || !isDigits(parts[0]) || !isDigits(parts[1]) {
		return "Ubuntu"
	}
	v := parts[0] + "." + parts[1]
	if year := parts[0]; parts[1] == "04" && len(year) == 2 && (year[1]-'0')%2 == 0 {
		return "Ubuntu:" + v + ":LTS"
	}
	return "Ubuntu:" + v
}

// AlpineEcosystem returns the OSV ecosystem for an Alpine release given as a
// purl distro qualifier ("alpine-3.20.3", "3.20.3") or an os-release
// VERSION_ID ("3.20.3"): "Alpine:v3.20". An empty or unrecognised release
// gives the bare "Alpine".
func AlpineEcosystem(release string) string {
	r := strings.ToLower(strings.TrimSpace(release))
	r = strings.TrimPrefix(r, "alpine-")
	r = strings.TrimPrefix(r, "v")
	parts := strings.SplitN(r, ".", 3)
	if len(parts) < 2 || !isDigits(parts[0]) || !isDigits(parts[1]) {
		return "Alpine"
	}
	return "Alpine:v" + parts[0] + "." + parts[1]
}

// distroVersion strips a leading "name-" from a distro qualifier.
func distroVersion(distro string) string {
	if i := strings.LastIndexByte(distro, '-'); i >= 0 {
		return distro[i+1:]
	}
	return distro
}

// majorOf returns the leading run of digits of a version ("12.5" -> "12").
func majorOf(v string) string {
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i == 0 || (i < len(v) && v[i] != '.') {
		return ""
	}
	return v[:i]
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// NormalizePURL returns purl in canonical form (qualifiers sorted) with
// spurious qualifiers removed: a "source=UNKNOWN" qualifier (osv-scalibr
// adds it to npm purls) is dropped. A purl that does not parse is returned
// unchanged.
func NormalizePURL(purl string) string {
	if purl == "" {
		return ""
	}
	p, err := packageurl.FromString(purl)
	if err != nil {
		return purl
	}
	q := p.Qualifiers[:0:0]
	for _, kv := range p.Qualifiers {
		if kv.Key == "source" && strings.EqualFold(kv.Value, "unknown") {
			continue
		}
		if kv.Value == "" {
			continue
		}
		q = append(q, kv)
	}
	p.Qualifiers = q
	return p.ToString()
}

// SourceFromPURL returns the source package name and version recorded in
// a purl's qualifiers: "upstream=openssl" or "upstream=openssl@3.0.11-1"
// (the convention of syft and cssc), or osv-scalibr's "source=openssl" with
// an optional "sourceversion=3.0.11-1". Both are empty when there is no such
// qualifier (a "source=UNKNOWN" qualifier does not count).
func SourceFromPURL(purl string) (name, version string) {
	p, err := packageurl.FromString(purl)
	if err != nil {
		return "", ""
	}
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
