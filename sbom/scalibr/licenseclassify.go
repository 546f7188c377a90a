package scalibr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"

	"github.com/google/licenseclassifier/v2/assets"

	classifier "github.com/cssc-go/cssc/sbom/scalibr/internal/licenseclassifier"
)

// Free-text Debian copyright files (glibc, libstdc++, gnutls, krb5: about
// one package in five in a Debian base image) name their licences in prose.
// They are classified with Google's maintained licence classifier,
// github.com/google/licenseclassifier/v2 (the one Trivy uses; the module
// proxy serves v2.0.0, which builds with Go 1.26 and adds only go-diff and
// go-spew), through a copy of its matcher in internal/licenseclassifier that
// keeps q-grams as checksums and offsets instead of pointer-linked ranges
// (same matches, field for field: TestClassifierForkMatchesUpstream); the
// licence texts are upstream's assets. cssc loads the licence texts and
// notices found in Linux distributions (below, by asset path), which takes
// ~0.2 s of CPU and keeps ~1.9 MiB (5.6 MiB with upstream's matcher; its
// full corpus takes ~1.5 s and ~65 MiB); matching the largest free-text
// file (68 KB) allocates ~12 MiB, most of it short-lived. To keep that off
// the walk's peak, the walk only collects the distinct free-text files (by
// SHA-256; their licences are cached per process by the same digest); once
// the walk and the extraction worker are done and the walk's buffers are
// released, one classifier is built, matches each distinct file once and is
// released when Generate returns (nothing is held between calls). On the
// image of bench/README.md ("sbom") the peak RSS of an SBOM went from 53-56
// MiB (classifier in the walk) to 46-49 MiB (after it) to 33-34 MiB (the
// compact copy; 31-32 MiB without the classifier). A test checks that every
// path still exists in the module.

// classifierCorpus lists the assets of the classifier cssc loads: notices
// ("Header") of the GNU licences and a few others, and the full texts of the
// permissive licences common in distributions. The full texts of the GNU
// licences are left out (Debian refers to /usr/share/common-licenses
// instead of copying them; their notices are matched).
var classifierCorpus = []string{
	"Header/GPL-1.0/a.txt",
	"Header/GPL-1.0/b.txt",
	"Header/GPL-2.0/a.txt",
	"Header/GPL-2.0/b.txt",
	"Header/GPL-2.0/c.txt",
	"Header/GPL-2.0/d.txt",
	"Header/GPL-2.0/e.txt",
	"Header/GPL-2.0/f.txt",
	"Header/GPL-2.0/g.txt",
	"Header/GPL-2.0/h.txt",
	"Header/GPL-2.0/header.txt",
	"Header/GPL-2.0/i.txt",
	"Header/GPL-2.0/j.txt",
	"Header/GPL-2.0/k.txt",
	"Header/GPL-3.0/a.txt",
	"Header/GPL-3.0/b.txt",
	"Header/GPL-3.0/header.txt",
	"Header/LGPL-2.0/a.txt",
	"Header/LGPL-2.0/header.txt",
	"Header/LGPL-2.1/a.txt",
	"Header/LGPL-2.1/b.txt",
	"Header/LGPL-2.1/c.txt",
	"Header/LGPL-2.1/d.txt",
	"Header/LGPL-2.1/header.txt",
	"Header/LGPL-2.1/qt_dual.txt",
	"Header/LGPL-2.1/qt_toolkit.txt",
	"Header/LGPL-3.0/a.txt",
	"Header/LGPL-3.0/b.txt",
	"Header/LGPL-3.0/header.txt",
	"Header/AGPL-3.0/header.txt",
	"Header/GPL-2.0-with-classpath-exception/header.txt",
	"Header/GPL-2.0-with-autoconf-exception/a.txt",
	"Header/GPL-2.0-with-autoconf-exception/b.txt",
	"Header/GPL-2.0-with-autoconf-exception/header.txt",
	"Header/GPL-3.0-with-autoconf-exception/a.txt",
	"Header/GPL-3.0-with-autoconf-exception/header.txt",
	"Header/GPL-3.0-with-bison-exception/header.txt",
	"Header/Apache-2.0/header.txt",
	"Header/Apache-2.0/nourl.txt",
	"Header/Apache-2.0/short.txt",
	"Header/MPL-1.1/header.txt",
	"Header/MPL-2.0/header.txt",
	"Header/BSD-3-Clause/a.txt",
	"Header/BSD-3-Clause/header.txt",
	"Header/MIT/header.txt",
	"Header/OpenSSL/header.txt",
	"License/GPL-3.0-with-GCC-exception/license.txt",
	"License/MIT/a.txt",
	"License/MIT/dec.txt",
	"License/MIT/pristine.txt",
	"License/MIT/xfig.txt",
	"License/X11/license.txt",
	"License/ISC/license.txt",
	"License/ISC/pristine.txt",
	"License/BSD-0-Clause/license.txt",
	"License/BSD-2-Clause/license.txt",
	"License/BSD-2-Clause/pristine.txt",
	"License/BSD-2-Clause/tcpdump.txt",
	"License/BSD-3-Clause/JDOM.txt",
	"License/BSD-3-Clause/a.txt",
	"License/BSD-3-Clause/juniper.txt",
	"License/BSD-3-Clause/libcap.txt",
	"License/BSD-3-Clause/libcap2.txt",
	"License/BSD-3-Clause/libpcap.txt",
	"License/BSD-3-Clause/mtk_pcap.txt",
	"License/BSD-3-Clause/pristine.txt",
	"License/BSD-3-Clause/sun.txt",
	"License/BSD-4-Clause/kitware.txt",
	"License/BSD-4-Clause/license.txt",
	"License/BSD-4-Clause/pristine.txt",
	"License/BSD-4-Clause/vovida.txt",
	"License/BSD-4-Clause-UC/license.txt",
	"License/Zlib/license.txt",
	"License/Zlib/pristine.txt",
	"License/Zlib/roelofs.txt",
	"License/zlib-acknowledgement/license.txt",
	"License/Apache-2.0/a.txt",
	"License/Artistic-1.0-Perl/license.txt",
	"License/Artistic-2.0/license.txt",
	"License/OpenSSL/a.txt",
	"License/OpenSSL/license.txt",
	"License/MPL-2.0/license.txt",
	"License/Python-2.0/license.txt",
	"License/CC0-1.0/license.txt",
	"License/Unicode-DFS-2015/a.txt",
	"License/Unicode-DFS-2015/license.txt",
	"License/Unicode-DFS-2016/a.txt",
	"License/Unicode-DFS-2016/license.txt",
	"License/libtiff/license.txt",
	"License/libtiff/singular.txt",
	"License/OpenLDAP/license.txt",
	"License/BSL-1.0/license.txt",
	"License/BSL-1.0/pristine.txt",
	"License/NCSA/license.txt",
	"License/WTFPL/license.txt",
	"License/WTFPL/v2.txt",
	"License/Unlicense/license.txt",
	"License/GNU-All-permissive-Copying-License/license.txt",
	"License/Libpng/license.txt",
	"License/PostgreSQL/license.txt",
	"License/bzip2/1.0.3.txt",
	"License/bzip2/1.0.4.txt",
	"License/bzip2/1.0.5.txt",
	"License/bzip2/1.0.6.txt",
	"License/bzip2/1.0.8.txt",
	"License/bzip2/1.0.txt",
	"License/cURL/pristine.txt",
	"License/IJG/license.txt",
	"License/FTL/license.txt",
	"License/Sleepycat/license.txt",
	"License/X11-Lucent/license.txt",
	"License/Spencer-86/license.txt",
	"License/Spencer-86/revised.txt",
	"License/HPND-sell-variant/license.txt",
	"License/HPND-sell-variant/vecmath.txt",
	"License/ICU/license.txt",
	"License/Ruby/license.txt",
	"License/W3C/license.txt",
	"License/XZ/java.txt",
	"License/XZ/license.txt",
	"License/MIT-Modern-Variant/pristine.txt",
	"License/Info-ZIP/license.txt",
	"License/tcl_tk/pristine.txt",
}

// minConfidence is the lowest classifier confidence taken as a match.
const minConfidence = 0.9

// newClassifier builds a classifier from classifierCorpus. It is built for
// one Generate call, when that call first needs it (a free-text copyright
// file whose licences are not in the cache), and released when the call
// ends: a process that is not generating an SBOM holds none of it.
func newClassifier() (*classifier.Classifier, error) {
	c := classifier.NewClassifier(0.8)
	if err := addCorpus(c.AddContent); err != nil {
		return nil, err
	}
	return c, nil
}

// addCorpus gives every asset of classifierCorpus to add (a classifier's
// AddContent).
func addCorpus(add func(category, name, variant string, content []byte)) error {
	for _, p := range classifierCorpus {
		b, err := assets.ReadLicenseFile(p)
		if err != nil {
			return fmt.Errorf("licence classifier asset %s: %w", p, err)
		}
		parts := strings.Split(p, "/")
		add(parts[0], parts[1], parts[2], b)
	}
	return nil
}

// classified caches the licences of free-text copyright files by content
// digest: images built on the same base share their copyright files, so a
// process that generates many SBOMs classifies each file once (and builds
// no classifier when every file is known). It is a cache of pure results,
// bounded (classifiedMax entries, then reset).
var classified struct {
	sync.Mutex
	m map[[32]byte][]string
}

const classifiedMax = 4096

// cachedLicenses returns the cached licences of a free-text copyright file
// of content digest key.
func cachedLicenses(key [32]byte) ([]string, bool) {
	classified.Lock()
	defer classified.Unlock()
	l, ok := classified.m[key]
	return l, ok
}

// cacheLicenses records the licences of a free-text copyright file.
func cacheLicenses(key [32]byte, lics []string) {
	classified.Lock()
	defer classified.Unlock()
	if classified.m == nil || len(classified.m) >= classifiedMax {
		classified.m = map[[32]byte][]string{}
	}
	classified.m[key] = lics
}

// freeTextFile is a distinct free-text copyright file waiting for the
// classifier: its content and every copyright file that has it (images
// copy the same text into several doc directories).
type freeTextFile struct {
	data  []byte
	paths []string
	layer string // of the first path, for warnings
}

// deferClassify records a free-text copyright file for classifyFreeText
// (the walk goes on without waiting for the classifier), or its licences
// at once when the cache knows its content. Each distinct content is kept
// once and counts against MaxBufferedBytes.
func (g *generator) deferClassify(path, layer string, data []byte) error {
	key := sha256.Sum256(data)
	g.mu.Lock()
	defer g.mu.Unlock()
	if lics, ok := cachedLicenses(key); ok {
		g.copyrights[path] = lics
		return nil
	}
	if ft := g.freeText[key]; ft != nil {
		ft.paths = append(ft.paths, path)
		return nil
	}
	if g.buffered+int64(len(data)) > g.maxBuf {
		return fmt.Errorf("%w: %s would bring %d bytes over the %d-byte limit", ErrTooLarge, path, g.buffered+int64(len(data)), g.maxBuf)
	}
	g.buffered += int64(len(data))
	if g.freeText == nil {
		g.freeText = map[[32]byte]*freeTextFile{}
	}
	g.freeText[key] = &freeTextFile{data: data, paths: []string{path}, layer: layer}
	g.freeOrder = append(g.freeOrder, key)
	return nil
}

// classifyFreeText classifies the free-text copyright files the walk
// found, one distinct content at a time, once the walk and the extraction
// worker are done (the walk's buffers are released first, so that the
// classifier does not add to the walk's peak memory). The classifier is
// built here and released on return. A classifier that cannot be built
// leaves those packages without licences, with a Warning for each file.
func (g *generator) classifyFreeText(ctx context.Context) error {
	if len(g.freeOrder) == 0 {
		return nil
	}
	g.dropBuffers()
	c, err := newClassifier()
	for _, key := range g.freeOrder {
		if err := ctx.Err(); err != nil {
			return err
		}
		ft := g.freeText[key]
		delete(g.freeText, key)
		if err != nil {
			for _, p := range ft.paths {
				g.warn(Warning{Path: p, Layer: ft.layer, Err: fmt.Errorf("licence classifier: %w", err)})
			}
			continue
		}
		lics := classifyLicenses(c, ft.data)
		cacheLicenses(key, lics)
		g.mu.Lock()
		for _, p := range ft.paths {
			g.copyrights[p] = lics
		}
		g.mu.Unlock()
	}
	g.freeOrder = nil
	return nil
}

// dropBuffers lets the GC have the recycled read buffers of the walk.
func (g *generator) dropBuffers() {
	g.exe = nil
	for {
		select {
		case <-g.free:
		case <-g.freeBig:
		default:
			return
		}
	}
}

// exceptions maps the classifier's GNU "with exception" names to the base
// licence family and the SPDX exception identifier.
var exceptions = map[string][2]string{
	"GPL-2.0-with-classpath-exception": {"GPL-2.0", "Classpath-exception-2.0"},
	"GPL-2.0-with-autoconf-exception":  {"GPL-2.0", "Autoconf-exception-2.0"},
	"GPL-3.0-with-autoconf-exception":  {"GPL-3.0", "Autoconf-exception-3.0"},
	"GPL-3.0-with-bison-exception":     {"GPL-3.0", "Bison-exception-2.2"},
	"GPL-3.0-with-GCC-exception":       {"GPL-3.0", "GCC-exception-3.1"},
}

// gnuFamilies are the classifier names whose SPDX identifiers need -only or
// -or-later.
var gnuFamilies = map[string]bool{
	"GPL-1.0": true, "GPL-2.0": true, "GPL-3.0": true,
	"LGPL-2.0": true, "LGPL-2.1": true, "LGPL-3.0": true, "AGPL-3.0": true,
}

// classifyLicenses returns the SPDX expressions of the licences a free-text
// copyright file names, in order of appearance, without duplicates. A GNU
// licence is "-or-later" when its matched notice says "any later version"
// (or "or later"), else "-only".
func classifyLicenses(c *classifier.Classifier, data []byte) []string {
	res := c.Match(data)
	lines := bytes.Split(data, []byte("\n"))
	var out []string
	for _, m := range res.Matches {
		if m.Confidence < minConfidence || (m.MatchType != "License" && m.MatchType != "Header") {
			continue
		}
		name, exception := m.Name, ""
		if e, ok := exceptions[name]; ok {
			name, exception = e[0], e[1]
		}
		id := name
		if gnuFamilies[name] {
			if laterVersion(lines, m.StartLine, m.EndLine) {
				id += "-or-later"
			} else {
				id += "-only"
			}
		}
		if exception != "" {
			id += " WITH " + exception
		}
		out = appendLicense(out, id)
	}
	return out
}

// laterVersion reports whether the lines from start to end (1-based, as the
// classifier counts them, widened by three lines each way) grant "any later
// version".
func laterVersion(lines [][]byte, start, end int) bool {
	lo, hi := max(start-4, 0), min(end+3, len(lines))
	if lo >= hi {
		return false
	}
	text := strings.ToLower(strings.Join(strings.Fields(string(bytes.Join(lines[lo:hi], []byte(" ")))), " "))
	return strings.Contains(text, "any later version") || strings.Contains(text, "or later") ||
		strings.Contains(text, "or (at your option) any later") || strings.Contains(text, "or a specified later version")
}
