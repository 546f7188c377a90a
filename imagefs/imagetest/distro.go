package imagetest

import (
	"fmt"
	"strings"
)

// Package is an OS package for DpkgStatus and APKInstalled.
type Package struct {
	Name    string
	Version string
	Source  string // Debian source package / Alpine origin; empty means Name
	License string // written to apk's L: field
	Arch    string // empty means amd64 (dpkg) or x86_64 (apk)
}

// OSRelease returns /etc/os-release for a distribution, e.g.
// OSRelease("debian", "12", "bookworm") or OSRelease("alpine", "3.20.3", "").
func OSRelease(id, versionID, codename string) File {
	var b strings.Builder
	fmt.Fprintf(&b, "ID=%s\nVERSION_ID=%q\n", id, versionID)
	if codename != "" {
		fmt.Fprintf(&b, "VERSION_CODENAME=%s\n", codename)
	}
	fmt.Fprintf(&b, "PRETTY_NAME=%q\n", id+" "+versionID)
	return File{Path: "etc/os-release", Data: []byte(b.String())}
}

// DpkgStatus returns /var/lib/dpkg/status listing pkgs as installed.
func DpkgStatus(pkgs ...Package) File {
	var b strings.Builder
	for _, p := range pkgs {
		arch := p.Arch
		if arch == "" {
			arch = "amd64"
		}
		fmt.Fprintf(&b, "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: 100\nMaintainer: Debian <debian@example.org>\nArchitecture: %s\n", p.Name, arch)
		if p.Source != "" && p.Source != p.Name {
			fmt.Fprintf(&b, "Source: %s\n", p.Source)
		}
		fmt.Fprintf(&b, "Version: %s\nDescription: %s package\n\n", p.Version, p.Name)
	}
	return File{Path: "var/lib/dpkg/status", Data: []byte(b.String())}
}

// APKInstalled returns /lib/apk/db/installed listing pkgs.
func APKInstalled(pkgs ...Package) File {
	var b strings.Builder
	for _, p := range pkgs {
		arch := p.Arch
		if arch == "" {
			arch = "x86_64"
		}
		origin := p.Source
		if origin == "" {
			origin = p.Name
		}
		lic := p.License
		if lic == "" {
			lic = "MIT"
		}
		fmt.Fprintf(&b, "C:Q1%s=\nP:%s\nV:%s\nA:%s\nS:1000\nI:2000\nT:%s package\nU:https://example.org/%s\nL:%s\no:%s\nm:Alpine <alpine@example.org>\nt:1700000000\n\n",
			strings.Repeat("A", 26), p.Name, p.Version, arch, p.Name, p.Name, lic, origin)
	}
	return File{Path: "lib/apk/db/installed", Data: []byte(b.String())}
}
