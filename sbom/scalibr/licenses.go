package scalibr

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"

	spdxexp "github.com/github/go-spdx/v2/spdxexp"
)

// osv-scalibr v0.5.3 reads licences for apk (and rpm) packages only. The
// parsers below fill them in for npm, Python and Debian packages from the
// files the generator reads anyway (or, for Debian, the small copyright
// files next to the package database). Licences are kept as declared, with
// Debian's common short names mapped to SPDX identifiers; free-text Debian
// copyright files are classified (licenseclassify.go).

// maxLicenses caps the distinct licences taken from one file: far more
// than any real package declares (the largest Debian copyright files name
// about 60). Past it, the rest is dropped with a Warning, never silently.
const maxLicenses = 512

// maxCopyrightSize caps a Debian copyright file read for licences (1 MiB;
// the largest in Debian are about 500 KiB). A larger one is not read, with
// a Warning.
const maxCopyrightSize = 1 << 20

// npmLicenses returns the licences of a package.json: "license" as a string
// (an SPDX expression) or legacy object {"type": ...}, or the legacy
// "licenses" array.
func npmLicenses(data []byte) []string {
	var pj struct {
		License  json.RawMessage `json:"license"`
		Licenses []struct {
			Type string `json:"type"`
		} `json:"licenses"`
	}
	if json.Unmarshal(data, &pj) != nil {
		return nil
	}
	var out []string
	if len(pj.License) > 0 {
		var s string
		var obj struct {
			Type string `json:"type"`
		}
		switch {
		case json.Unmarshal(pj.License, &s) == nil:
			out = appendLicense(out, s)
		case json.Unmarshal(pj.License, &obj) == nil:
			out = appendLicense(out, obj.Type)
		}
	}
	for _, l := range pj.Licenses {
		out = appendLicense(out, l.Type)
	}
	return out
}

// pythonLicenses returns the licences of a METADATA or PKG-INFO file, the
// most precise first: the License-Expression field (core metadata 2.4, an
// SPDX expression), else the licences named by "License ::" trove
// classifiers, else a one-line free-text License field, mapped to an SPDX
// identifier when it is a common spelling ("Apache 2.0" is Apache-2.0; see
// licenseFromText) and kept as written otherwise. Classifiers come before
// the License field because the field is free text: "Apache 2.0" would
// otherwise become LicenseRef-Apache-2.0 and fail an Apache-2.0 allow-list.
func pythonLicenses(data []byte) []string {
	var expr, lic string
	var classifiers []string
	s := bufio.NewScanner(bytes.NewReader(data))
	s.Buffer(make([]byte, 0, 4096), 64<<10)
	for s.Scan() {
		line := s.Text()
		if line == "" {
			break // end of the headers; the description follows
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "license-expression":
			expr = v
		case "license":
			lic = v
		case "classifier":
			if name, ok := strings.CutPrefix(v, "License :: "); ok {
				parts := strings.Split(name, " :: ")
				if spdx := troveLicenses[parts[len(parts)-1]]; spdx != "" {
					classifiers = appendLicense(classifiers, spdx)
				}
			}
		}
	}
	switch {
	case expr != "":
		return appendLicense(nil, expr)
	case len(classifiers) > 0:
		return classifiers
	case lic != "" && !strings.EqualFold(lic, "UNKNOWN") && len(lic) <= 128:
		return appendLicense(nil, licenseFromText(lic))
	}
	return nil
}

// textLicenses maps common free-text spellings of licences (Python's
// License field, lower-cased, with runs of spaces, dashes, underscores and
// commas made one space) to SPDX identifiers.
var textLicenses = map[string]string{
	"apache 2": "Apache-2.0", "apache 2.0": "Apache-2.0", "apache license 2.0": "Apache-2.0",
	"apache license version 2.0": "Apache-2.0", "apache software license 2.0": "Apache-2.0",
	"apache software license": "Apache-2.0", "asl 2.0": "Apache-2.0", "apache2": "Apache-2.0",
	"mit": "MIT", "mit license": "MIT", "the mit license": "MIT", "expat": "MIT",
	"bsd 3 clause": "BSD-3-Clause", "3 clause bsd": "BSD-3-Clause", "new bsd": "BSD-3-Clause",
	"new bsd license": "BSD-3-Clause", "modified bsd license": "BSD-3-Clause", "bsd 3": "BSD-3-Clause",
	"bsd 2 clause": "BSD-2-Clause", "2 clause bsd": "BSD-2-Clause", "simplified bsd": "BSD-2-Clause",
	"isc": "ISC", "isc license": "ISC", "zlib": "Zlib", "unlicense": "Unlicense", "the unlicense": "Unlicense",
	"mpl 2.0": "MPL-2.0", "mozilla public license 2.0": "MPL-2.0", "mpl2": "MPL-2.0",
	"psf": "PSF-2.0", "psf license": "PSF-2.0", "python software foundation license": "PSF-2.0",
	"gplv2": "GPL-2.0-only", "gplv2+": "GPL-2.0-or-later", "gplv3": "GPL-3.0-only", "gplv3+": "GPL-3.0-or-later",
	"lgplv2+": "LGPL-2.0-or-later", "lgplv3": "LGPL-3.0-only", "lgplv3+": "LGPL-3.0-or-later",
	"agplv3": "AGPL-3.0-only", "agplv3+": "AGPL-3.0-or-later", "cc0": "CC0-1.0", "cc0 1.0": "CC0-1.0",
}

// licenseFromText returns the SPDX spelling of a free-text licence name:
// the text itself when it is already a valid SPDX expression, its
// textLicenses entry, or the text unchanged.
func licenseFromText(text string) string {
	text = strings.TrimSpace(text)
	if ok, _ := spdxexp.ValidateLicenses([]string{text}); ok {
		return text
	}
	key := strings.Join(strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return r == ' ' || r == '-' || r == '_' || r == ',' || r == '\t'
	}), " ")
	key = strings.TrimSuffix(strings.TrimPrefix(key, "the "), " license")
	if id, ok := textLicenses[key]; ok {
		return id
	}
	if id, ok := textLicenses[key+" license"]; ok {
		return id
	}
	return text
}

// troveLicenses maps common Python trove licence classifiers to SPDX.
var troveLicenses = map[string]string{
	"MIT License":                                             "MIT",
	"Apache Software License":                                 "Apache-2.0",
	"ISC License (ISCL)":                                      "ISC",
	"Mozilla Public License 2.0 (MPL 2.0)":                    "MPL-2.0",
	"GNU General Public License v2 (GPLv2)":                   "GPL-2.0-only",
	"GNU General Public License v3 (GPLv3)":                   "GPL-3.0-only",
	"GNU General Public License v2 or later (GPLv2+)":         "GPL-2.0-or-later",
	"GNU General Public License v3 or later (GPLv3+)":         "GPL-3.0-or-later",
	"GNU Lesser General Public License v3 (LGPLv3)":           "LGPL-3.0-only",
	"GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
	"GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
	"GNU Affero General Public License v3":                    "AGPL-3.0-only",
	"GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
	"Python Software Foundation License":                      "PSF-2.0",
	"The Unlicense (Unlicense)":                               "Unlicense",
	"Boost Software License 1.0 (BSL-1.0)":                    "BSL-1.0",
	"Eclipse Public License 2.0 (EPL-2.0)":                    "EPL-2.0",
	"zlib/libpng License":                                     "Zlib",
	"CC0 1.0 Universal (CC0 1.0) Public Domain Dedication":    "CC0-1.0",
	"GNU Lesser General Public License v2 (LGPLv2)":           "LGPL-2.0-only",
	"Eclipse Public License 1.0 (EPL-1.0)":                    "EPL-1.0",
	"Mozilla Public License 1.1 (MPL 1.1)":                    "MPL-1.1",
	"MIT No Attribution License (MIT-0)":                      "MIT-0",
	"Zope Public License":                                     "ZPL-2.1",
}

// isDEP5 reports whether a Debian copyright file is machine-readable
// (https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/): its
// first field is Format (or the draft's Format-Specification).
func isDEP5(data []byte) bool {
	data = bytes.TrimLeft(data, " \t\r\n")
	return bytes.HasPrefix(data, []byte("Format:")) || bytes.HasPrefix(data, []byte("Format-Specification:"))
}

// debianLicenses returns the licences named in a machine-readable Debian
// copyright file (DEP-5: "License:" fields), in order of first appearance,
// with Debian's short names mapped to SPDX identifiers where they differ,
// and how many distinct licences past maxLicenses were dropped.
func debianLicenses(data []byte) (lics []string, dropped int) {
	s := bufio.NewScanner(bytes.NewReader(data))
	s.Buffer(make([]byte, 0, 4096), 64<<10)
	seen := map[string]bool{}
	for s.Scan() {
		v, ok := strings.CutPrefix(s.Text(), "License:")
		if !ok {
			continue
		}
		l := debianToSPDX(strings.TrimSpace(v))
		if l == "" || seen[l] {
			continue
		}
		seen[l] = true
		if len(lics) >= maxLicenses {
			dropped++
			continue
		}
		lics = append(lics, l)
	}
	return lics, dropped
}

// debianShortNames maps DEP-5 short names to SPDX identifiers.
var debianShortNames = map[string]string{
	"gpl-1":            "GPL-1.0-only",
	"gpl-1+":           "GPL-1.0-or-later",
	"gpl-2":            "GPL-2.0-only",
	"gpl-2+":           "GPL-2.0-or-later",
	"gpl-3":            "GPL-3.0-only",
	"gpl-3+":           "GPL-3.0-or-later",
	"lgpl-2":           "LGPL-2.0-only",
	"lgpl-2+":          "LGPL-2.0-or-later",
	"lgpl-2.1":         "LGPL-2.1-only",
	"lgpl-2.1+":        "LGPL-2.1-or-later",
	"lgpl-3":           "LGPL-3.0-only",
	"lgpl-3+":          "LGPL-3.0-or-later",
	"agpl-3":           "AGPL-3.0-only",
	"agpl-3+":          "AGPL-3.0-or-later",
	"gfdl-1.3":         "GFDL-1.3-only",
	"gfdl-1.3+":        "GFDL-1.3-or-later",
	"apache-2.0":       "Apache-2.0",
	"apache-2":         "Apache-2.0",
	"expat":            "MIT",
	"mit":              "MIT",
	"bsd-2-clause":     "BSD-2-Clause",
	"bsd-3-clause":     "BSD-3-Clause",
	"bsd-4-clause":     "BSD-4-Clause",
	"isc":              "ISC",
	"zlib":             "Zlib",
	"mpl-1.1":          "MPL-1.1",
	"mpl-2.0":          "MPL-2.0",
	"artistic":         "Artistic-1.0-Perl",
	"artistic-2.0":     "Artistic-2.0",
	"cc0-1.0":          "CC0-1.0",
	"openssl":          "OpenSSL",
	"curl":             "curl",
	"psf-2":            "PSF-2.0",
	"python-2.0":       "Python-2.0",
	"ftl":              "FTL",
	"x11":              "X11",
	"bsl-1.0":          "BSL-1.0",
	"unicode-dfs-2016": "Unicode-DFS-2016",
}

// debianToSPDX maps a DEP-5 licence value ("GPL-2+", "GPL-2+ or
// Artistic", "LGPL-2.1+ and BSD-3-clause") to an SPDX expression; names it
// does not know are kept as written.
func debianToSPDX(v string) string {
	fields := strings.Fields(v)
	for i, f := range fields {
		switch strings.ToLower(f) {
		case "or":
			fields[i] = "OR"
			continue
		case "and":
			fields[i] = "AND"
			continue
		}
		trimmed := strings.TrimRight(f, ",")
		if spdx, ok := debianShortNames[strings.ToLower(trimmed)]; ok {
			fields[i] = spdx + f[len(trimmed):]
		}
	}
	return strings.Join(fields, " ")
}

func appendLicense(out []string, l string) []string {
	l = strings.TrimSpace(l)
	if l == "" || len(out) >= maxLicenses {
		return out
	}
	for _, have := range out {
		if have == l {
			return out
		}
	}
	return append(out, l)
}

// copyrightPackage returns the package name of a Debian copyright file,
// usr/share/doc/NAME/copyright.
func copyrightPackage(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, "usr/share/doc/")
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, "/copyright")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	return name, true
}
