package sbom

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Document is a software bill of materials for one subject (an image
// manifest, usually): the packages found in it and who produced the list.
//
// A Document is a plain value; it marshals to stable JSON and holds no
// references to the image it describes.
type Document struct {
	// Name is a human-readable name of the subject, for example
	// "docker.io/library/nginx@sha256:...". Empty is allowed.
	Name string `json:"name,omitempty"`
	// Created is when the document was produced. Zero means unknown.
	Created time.Time `json:"created,omitzero"`
	// Creators names the tools and organisations that produced the document,
	// in SPDX creator form ("Tool: cssc-1.0", "Organization: Example").
	Creators []string `json:"creators,omitempty"`
	// Packages lists the software packages found, in a stable order.
	Packages []Package `json:"packages,omitempty"`
	// Skipped lists the files the producer needed but did not examine (over
	// a size limit, an extractor that crashed): packages they hold may be
	// missing. Empty means every file that could hold packages was read.
	// A document with skipped files is incomplete; the policy treats it so.
	Skipped []SkippedFile `json:"skipped,omitempty"`
}

// SkippedFile is a file that could hold packages but was not examined.
type SkippedFile struct {
	// Path is the file's path in the image filesystem.
	Path string `json:"path"`
	// Layer is the digest of the layer holding it, empty if unknown.
	Layer string `json:"layer,omitempty"`
	// Reason says why it was skipped ("file of 600000000 bytes exceeds the
	// 536870912-byte limit").
	Reason string `json:"reason"`
}

// Package is one software package found in the subject.
type Package struct {
	// Name is the package name as its ecosystem spells it (binary package
	// name for Debian and Alpine, module path for Go, groupId:artifactId for
	// Maven).
	Name string `json:"name"`
	// Version is the installed version as its ecosystem spells it.
	Version string `json:"version,omitempty"`
	// PURL is the package URL (https://github.com/package-url/purl-spec),
	// empty if unknown.
	PURL string `json:"purl,omitempty"`
	// Ecosystem is the OSV ecosystem of the package, for example "Debian:12",
	// "Alpine:v3.20", "Go", "npm", "PyPI" or "Maven". Empty if unknown.
	Ecosystem string `json:"ecosystem,omitempty"`
	// SourceName is the name of the source package this binary package was
	// built from (Debian "Source:", Alpine origin). Empty means the same as
	// Name or not applicable. Debian and Alpine OSV records are keyed by it.
	SourceName string `json:"sourceName,omitempty"`
	// SourceVersion is the version of the source package when it differs
	// from Version. Empty means the same as Version.
	SourceVersion string `json:"sourceVersion,omitempty"`
	// Licenses lists the licences as declared by the package, ideally SPDX
	// license expressions; free text is kept as found.
	Licenses []string `json:"licenses,omitempty"`
	// Layer is the digest of the image layer that introduced the package
	// ("sha256:..."), empty if unknown.
	Layer string `json:"layer,omitempty"`
	// Locations lists the paths in the image filesystem where the package
	// was found (package database, binary, manifest file).
	Locations []string `json:"locations,omitempty"`
}

// Sort orders the packages of d by ecosystem, name, version, purl, layer and
// first location, so that documents built from the same input compare and
// encode identically.
func (d *Document) Sort() {
	slices.SortStableFunc(d.Packages, comparePackages)
}

func comparePackages(a, b Package) int {
	return cmp.Or(
		cmp.Compare(a.Ecosystem, b.Ecosystem),
		cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.Version, b.Version),
		cmp.Compare(a.PURL, b.PURL),
		cmp.Compare(a.Layer, b.Layer),
		cmp.Compare(strings.Join(a.Locations, "\x00"), strings.Join(b.Locations, "\x00")),
	)
}
