package osv

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/google/osv-scalibr/semantic"
	packageurl "github.com/package-url/packageurl-go"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan"
)

// ToolName is the scanner name written in reports (scan.Tool.Name).
const ToolName = "osv"

// ErrNoSBOM is returned (wrapped together with scan.ErrScanFailed) by
// [Scanner.Scan] for an image without an SBOM: matching needs the package
// list, and an image with no known packages is not a clean one.
var ErrNoSBOM = errors.New("image has no sbom")

// Scanner is a scan.Scanner that matches the packages of an image's SBOM
// (scan.Image.SBOM) against an offline OSV database. Create it with
// [NewScanner]; it is safe for concurrent use.
type Scanner struct {
	db *DB
}

var _ scan.Scanner = (*Scanner)(nil)

// NewScanner returns a Scanner that matches against db. To scan against a
// newer database, load it and create a new Scanner.
func NewScanner(db *DB) *Scanner { return &Scanner{db: db} }

// DB returns the database the scanner matches against.
func (s *Scanner) DB() *DB { return s.db }

// Scan matches img.SBOM's packages (see [DB.Match]) and returns a
// vulnerability report whose Subject is img.Manifest.Digest. An invalid
// image is an error wrapping scan.ErrNoImage; an image whose SBOM is nil is
// an error wrapping both scan.ErrScanFailed and [ErrNoSBOM]. An SBOM with
// no packages gives a report with no findings.
func (s *Scanner) Scan(ctx context.Context, img *scan.Image) (*scan.Report, error) {
	if err := img.Validate(); err != nil {
		return nil, fmt.Errorf("osv: %w", err)
	}
	if img.SBOM == nil {
		return nil, fmt.Errorf("osv: %s: %w: %w", img.Manifest.Digest, scan.ErrScanFailed, ErrNoSBOM)
	}
	if s == nil || s.db == nil {
		return nil, fmt.Errorf("osv: %w: no database", scan.ErrScanFailed)
	}
	rep, err := s.db.Match(ctx, img.SBOM.Packages)
	if err != nil {
		return nil, err
	}
	rep.Subject = img.Manifest.Digest
	return rep, nil
}

// Match matches packages against the database and returns a vulnerability
// report (Kind artifact.ReportKindVulnerability, Tool.Name "osv",
// Tool.DatabaseVersion [DB.Version], no Subject) whose findings are sorted.
//
// Every package is first normalised with sbom.NormalizePackage (so the Go
// toolchain is "stdlib" however the SBOM named it: osv-scalibr's
// pkg:golang/go@1.19.8, syft's stdlib@go1.19.8). For each package the
// ecosystem is Package.Ecosystem, or, if empty or
// without a release ("Debian"), derived from Package.PURL (distro
// qualifier: "distro=bookworm" or "debian-12" gives "Debian:12",
// "3.20.3" gives "Alpine:v3.20"; Ubuntu "22.04" also matches OSV's
// "Ubuntu:22.04:LTS"). Debian, Ubuntu and Alpine-family
// records are keyed by source package: the name looked up is
// Package.SourceName, else the purl's "source", "origin" or "upstream"
// qualifier, else Package.Name; the version compared is
// Package.SourceVersion (or the purl's "sourceversion"/"upstream" version)
// when set, else Package.Version. PyPI names are compared in PEP 503 form;
// Go versions with or without "v", and the Go toolchain as package
// "stdlib" with versions such as "go1.22.1". Records whose ecosystem is
// unversioned ("Alpine") also match packages of every release of that
// ecosystem.
//
// Version semantics are those of osv-scalibr's semantic package for the
// ecosystem (dpkg rules with epochs for Debian, apk rules for Alpine,
// PEP 440 for PyPI, Maven's ComparableVersion, semantic versioning for
// Go and npm and for SEMVER ranges). A package is affected when its
// version is listed in the record's versions or falls in a SEMVER or
// ECOSYSTEM range (events introduced, fixed, last_affected, limit). GIT
// ranges are not evaluated. Packages without a version, ecosystem or
// parsable version are skipped (with a warning for the last).
//
// Findings are deduplicated per package (ecosystem, name, version) and
// vulnerability: a package version listed several times (in several
// binaries, layers or package databases) gives one finding per
// vulnerability whose Locations hold every listing's paths and layer, and
// whose Layer is the first listing's. Records that are aliases of each other (one's id in the
// other's aliases, or a shared alias such as a CVE id) give one finding,
// whose ID is the smallest id, whose Aliases hold the others, whose
// severity and CVSS are the highest and whose FixedVersion is the highest
// fixed version named. FixedVersion is empty when no record names a fixed
// version for the matched range: an "unfixed" vulnerability (see
// [Unfixed]).
func (db *DB) Match(ctx context.Context, pkgs []sbom.Package) (*scan.Report, error) {
	if db == nil {
		return nil, fmt.Errorf("osv: %w: no database", scan.ErrScanFailed)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	results, err := db.matchAll(ctx, pkgs)
	if err != nil {
		return nil, err
	}
	rep := &scan.Report{
		Kind:     artifact.ReportKindVulnerability,
		Tool:     scan.Tool{Name: ToolName, DatabaseVersion: db.version},
		Time:     db.now().UTC(),
		Findings: presort(findingsOf(results)),
	}
	rep.Sort() // cheap on sorted input; keeps the order scan defines
	return rep, nil
}

// matchAll matches the packages in parallel chunks and returns, per chunk
// in package order, the packages that have findings.
func (db *DB) matchAll(ctx context.Context, pkgs []sbom.Package) ([][]pkgResult, error) {
	workers := min(runtime.GOMAXPROCS(0), 1+len(pkgs)/256)
	chunk := (len(pkgs) + workers - 1) / max(workers, 1)
	results := make([][]pkgResult, workers)
	var wg sync.WaitGroup
	var ctxErr error
	var errOnce sync.Once
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, len(pkgs))
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var hits []hit
			for i := lo; i < hi; i++ {
				if (i-lo)%64 == 0 {
					if err := ctx.Err(); err != nil {
						errOnce.Do(func() { ctxErr = err })
						return
					}
				}
				// The one normalisation every SBOM goes through (decoded,
				// generated, or built by hand): the Go toolchain is
				// "stdlib" whoever named it, locations are clean paths.
				np := sbom.NormalizePackage(pkgs[i])
				var id pkgID
				id, hits = db.matchPackage(&np, hits[:0])
				if len(hits) > 0 {
					results[w] = append(results[w], pkgResult{id, mergeHits(hits), packageLocations(&np)})
				}
			}
		}()
	}
	wg.Wait()
	if ctxErr != nil {
		return nil, ctxErr
	}
	return results, nil
}

// findingsOf returns the findings of the matched packages. The same
// package listed several times (found in several files or layers) gives
// its findings once, with the first listing's purl and layer, and the
// locations of every listing.
func findingsOf(results [][]pkgResult) []scan.Finding {
	n := 0
	for _, r := range results {
		n += len(r)
	}
	first := make(map[pkgID]*pkgResult, n)
	var order []*pkgResult
	for _, r := range results {
		for i := range r {
			pr := &r[i]
			if f, dup := first[pr.id]; dup {
				f.locs = append(f.locs, pr.locs...)
				continue
			}
			first[pr.id] = pr
			order = append(order, pr)
		}
	}
	var findings []scan.Finding
	for _, pr := range order {
		locs := scan.SortLocations(pr.locs)
		for i := range pr.findings {
			if len(locs) > 0 {
				pr.findings[i].Locations = slices.Clone(locs)
			}
		}
		findings = append(findings, pr.findings...)
	}
	return findings
}

// presort orders findings as scan.Report.Sort does, with an unstable sort
// of indices (findings are unique per id and package after
// deduplication, so the order is total), to spare Report.Sort's stable
// sort the moves of large structs.
func presort(fs []scan.Finding) []scan.Finding {
	if len(fs) < 64 {
		return fs
	}
	idx := make([]int32, len(fs))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(i, j int32) int {
		a, b := &fs[i], &fs[j]
		return cmp.Or(
			strings.Compare(a.ID, b.ID),
			strings.Compare(a.Package.Name, b.Package.Name),
			strings.Compare(a.Package.Version, b.Package.Version),
			strings.Compare(a.Package.Ecosystem, b.Package.Ecosystem),
			strings.Compare(a.Path, b.Path),
			strings.Compare(a.Layer, b.Layer),
		)
	})
	out := make([]scan.Finding, len(fs))
	for i, j := range idx {
		out[i] = fs[j]
	}
	return out
}

// Unfixed returns the findings of r that have no known fixed version.
func Unfixed(r *scan.Report) []scan.Finding {
	var out []scan.Finding
	for _, f := range r.Findings {
		if f.FixedVersion == "" {
			out = append(out, f)
		}
	}
	return out
}

// hit is one (package, record) match before deduplication.
type hit struct {
	base string
	f    scan.Finding
}

// pkgID identifies a package for deduplication.
type pkgID struct {
	eco, name, version string
}

// pkgResult holds the merged findings of one package listing, and where
// the listing says the package is.
type pkgResult struct {
	id       pkgID
	findings []scan.Finding
	locs     []scan.Location
}

// packageLocations returns where an SBOM package was found: one location
// per path, all in the package's layer, or the layer alone.
func packageLocations(p *sbom.Package) []scan.Location {
	if len(p.Locations) == 0 {
		if p.Layer == "" {
			return nil
		}
		return []scan.Location{{Layer: p.Layer}}
	}
	out := make([]scan.Location, 0, len(p.Locations))
	for _, l := range p.Locations {
		out = append(out, scan.Location{Path: l, Layer: p.Layer})
	}
	return out
}

// query is a package prepared for lookup.
type query struct {
	eco, base string
	name      string // looked-up name (source name where applicable)
	version   string // canonical version compared
	// pkgName and pkgVersion are the installed package's name and version
	// as reported (from the purl when the package has none).
	pkgName, pkgVersion string
	parsed              [2]semantic.Version
	perr                [2]error
	done                [2]bool
}

// parse returns the query version parsed for SEMVER (semver) or
// ECOSYSTEM ranges.
func (q *query) parse(semver bool) (semantic.Version, error) {
	i := 0
	if semver {
		i = 1
	}
	if !q.done[i] {
		q.parsed[i], q.perr[i] = parseVersion(q.base, q.version, semver)
		q.done[i] = true
	}
	return q.parsed[i], q.perr[i]
}

// sourceKeyed lists the ecosystems whose records are keyed by source (or
// origin) package name.
var sourceKeyed = map[string]bool{
	"Debian": true, "Ubuntu": true, "Alpine": true, "Wolfi": true, "Chainguard": true,
	"Alpaquita": true, "BellSoft Hardened Containers": true, "MinimOS": true,
}

// prepare derives the lookup ecosystem, name and version of a package.
func prepare(p *sbom.Package) (query, bool) {
	eco := strings.TrimSpace(p.Ecosystem)
	var pu *packageurl.PackageURL
	if p.PURL != "" {
		if u, err := packageurl.FromString(p.PURL); err == nil {
			pu = &u
		}
	}
	if pu != nil && (eco == "" || !strings.Contains(eco, ":")) {
		if e := purlEcosystem(pu); e != "" && (eco == "" || ecosystemBase(e) == eco) {
			eco = e
		}
	}
	eco = normalizeEcosystem(eco)
	if eco == "" {
		return query{}, false
	}
	base := ecosystemBase(eco)
	name, version := p.Name, p.Version
	if sourceKeyed[base] {
		srcName, srcVersion := p.SourceName, p.SourceVersion
		if pu != nil && (srcName == "" || srcVersion == "") {
			n, v := purlSource(pu)
			if srcName == "" {
				srcName = n
			}
			if srcVersion == "" && (srcName == n || n == "") {
				srcVersion = v
			}
		}
		if srcName != "" {
			name = srcName
		}
		if srcVersion != "" {
			version = srcVersion
		}
	}
	pkgName, pkgVersion := p.Name, p.Version
	if pu != nil {
		if pkgName == "" {
			pkgName = pu.Name
			if pu.Namespace != "" {
				switch pu.Type {
				case packageurl.TypeMaven:
					pkgName = pu.Namespace + ":" + pu.Name
				case packageurl.TypeNPM, packageurl.TypeGolang:
					pkgName = pu.Namespace + "/" + pu.Name
				}
			}
		}
		if pkgVersion == "" {
			pkgVersion = pu.Version
		}
	}
	if name == "" {
		name = pkgName
	}
	if version == "" {
		version = pkgVersion
	}
	version = canonicalVersion(base, name, version)
	if name == "" || version == "" {
		return query{}, false
	}
	return query{eco: eco, base: base, name: normalizeName(base, name), version: version,
		pkgName: pkgName, pkgVersion: pkgVersion}, true
}

// matchPackage appends the hits of one package to out.
func (db *DB) matchPackage(p *sbom.Package, out []hit) (pkgID, []hit) {
	q, ok := prepare(p)
	if !ok {
		return pkgID{}, out
	}
	slots := [3][]*entry{db.index[key{q.eco, q.name}]}
	if b := q.base; b != q.eco {
		slots[1] = db.index[key{b, q.name}]
		// Ubuntu's long-term releases are "Ubuntu:22.04:LTS" in OSV.
		if b == "Ubuntu" && strings.Count(q.eco, ":") == 1 {
			slots[2] = db.index[key{q.eco + ":LTS", q.name}]
		}
	}
	warned := false
	for _, es := range slots {
		for _, e := range es {
			affected, fixed, err := e.match(&q, &db.versions)
			if err != nil && !warned {
				warned = true
				db.warnMatch("osv: cannot compare versions", "package", q.pkgName, "version", q.version,
					"ecosystem", q.eco, "record", e.vuln.id, "error", err)
			}
			if !affected {
				continue
			}
			out = append(out, hit{
				base: q.base,
				f: scan.Finding{
					ID:           e.vuln.id,
					Aliases:      e.vuln.aliases,
					Package:      scan.Package{Name: q.pkgName, Version: q.pkgVersion, PURL: p.PURL, Ecosystem: q.eco},
					FixedVersion: fixed,
					Severity:     e.severity,
					CVSS:         e.cvss,
					Summary:      e.vuln.summary,
					Layer:        p.Layer,
				},
			})
		}
	}
	return pkgID{q.eco, q.pkgName, q.pkgVersion}, out
}

// match evaluates the entry for a package. err reports a version that
// could not be parsed or compared (the ranges concerned count as not
// matching).
func (e *entry) match(q *query, cache *versionCache) (affected bool, fixed string, err error) {
	e.compile(cache)
	err = e.err
	_, listed := e.versSet[q.version]
	unfixed := false
	for i := range e.compiled {
		r := &e.compiled[i]
		v, perr := q.parse(r.semver)
		if perr != nil {
			err = perr
			continue
		}
		a, fix, aerr := r.affects(v)
		if aerr != nil {
			err = aerr
			continue
		}
		if !a {
			continue
		}
		affected = true
		if fix == "" {
			unfixed = true
		} else {
			fixed = maxVersion(q.base, fixed, fix)
		}
	}
	if !affected && listed {
		affected = true
		for i := range e.compiled {
			r := &e.compiled[i]
			if v, perr := q.parse(r.semver); perr == nil {
				if fix := r.nextFixed(v); fix != "" {
					fixed = minVersion(q.base, fixed, fix)
				}
			}
		}
	}
	if unfixed {
		fixed = ""
	}
	if affected {
		err = nil
	}
	return affected, fixed, err
}

// maxVersion returns the greater of two versions of an ecosystem ("" is
// smallest); versions that do not parse compare as strings.
func maxVersion(base, a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	if compareStrings(base, a, b) >= 0 {
		return a
	}
	return b
}

// minVersion returns the smaller of two versions ("" is ignored).
func minVersion(base, a, b string) string {
	if a == "" {
		return b
	}
	if b == "" {
		return a
	}
	if compareStrings(base, a, b) <= 0 {
		return a
	}
	return b
}

func compareStrings(base, a, b string) int {
	va, err1 := parseVersion(base, a, false)
	vb, err2 := parseVersion(base, b, false)
	if err1 == nil && err2 == nil {
		if c, err := compare(va, vb); err == nil {
			return c
		}
	}
	return strings.Compare(a, b)
}

// mergeHits merges the hits of one package: same id, or linked by
// aliases.
func mergeHits(hs []hit) []scan.Finding {
	if len(hs) == 1 {
		f := hs[0].f
		f.Aliases = slices.Clone(f.Aliases)
		return []scan.Finding{f}
	}
	roots, sets := aliasSets(hs)
	out := make([]scan.Finding, 0, len(roots))
	for _, r := range roots {
		out = append(out, mergeSet(hs, sets[r]))
	}
	return out
}

// aliasSets groups the hits linked by an id or alias (union-find) and
// returns each group's root, in the order of their first hit, and each
// group's members.
func aliasSets(hs []hit) ([]int, map[int][]int) {
	parent := make([]int, len(hs))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := make(map[string]int)
	link := func(name string, i int) {
		if j, ok := owner[name]; ok {
			a, b := find(i), find(j)
			if a != b {
				parent[a] = b
			}
			return
		}
		owner[name] = i
	}
	for i, h := range hs {
		link(h.f.ID, i)
		for _, a := range h.f.Aliases {
			link(a, i)
		}
	}
	sets := make(map[int][]int)
	var roots []int
	for i := range hs {
		r := find(i)
		if _, ok := sets[r]; !ok {
			roots = append(roots, r)
		}
		sets[r] = append(sets[r], i)
	}
	return roots, sets
}

// mergeSet merges the hits members of hs into one finding: the smallest
// id, the other ids and aliases as aliases, the highest severity, CVSS and
// fixed version, and the first summary.
func mergeSet(hs []hit, members []int) scan.Finding {
	slices.SortFunc(members, func(a, b int) int { return cmp.Compare(hs[a].f.ID, hs[b].f.ID) })
	f := hs[members[0]].f
	base := hs[members[0]].base
	if len(members) == 1 {
		f.Aliases = slices.Clone(f.Aliases)
		return f
	}
	names := make(map[string]bool)
	for _, m := range members {
		g := hs[m].f
		names[g.ID] = true
		for _, a := range g.Aliases {
			names[a] = true
		}
		f.Severity = max(f.Severity, g.Severity)
		f.CVSS = max(f.CVSS, g.CVSS)
		f.FixedVersion = maxVersion(base, f.FixedVersion, g.FixedVersion)
		if f.Summary == "" {
			f.Summary = g.Summary
		}
	}
	delete(names, f.ID)
	f.Aliases = slices.Sorted(func(yield func(string) bool) {
		for n := range names {
			if !yield(n) {
				return
			}
		}
	})
	return f
}

// purlEcosystem derives the OSV ecosystem of a package URL.
func purlEcosystem(p *packageurl.PackageURL) string { return sbom.Ecosystem(p.ToString()) }

// purlSource returns the source package name and version from the
// qualifiers osv-scalibr ("source", "sourceversion" for deb; "origin" for
// apk) and syft ("upstream=name" or "upstream=name@version") write.
func purlSource(p *packageurl.PackageURL) (name, version string) {
	q := p.Qualifiers.Map()
	if n := q["source"]; n != "" && !strings.EqualFold(n, "unknown") {
		return n, q["sourceversion"]
	}
	if n := q["origin"]; n != "" {
		return n, ""
	}
	if up := q["upstream"]; up != "" {
		if n, v, ok := strings.Cut(up, "@"); ok {
			return n, v
		}
		return up, ""
	}
	return "", ""
}

// normalizeEcosystem rewrites release suffixes that SBOM tools spell
// differently from OSV: "Debian:12.5" and "Debian:bookworm" become
// "Debian:12", "Alpine:3.20.3" becomes "Alpine:v3.20".
func normalizeEcosystem(eco string) string {
	base, rel, ok := strings.Cut(eco, ":")
	if !ok || rel == "" {
		return base
	}
	switch base {
	case "Debian":
		if e := sbom.DebianEcosystem(rel); e != "Debian" {
			return e
		}
	case "Alpine":
		if e := sbom.AlpineEcosystem(rel); e != "Alpine" {
			return e
		}
	}
	return eco
}
