package server

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/catalog"
)

// FindingRow is a finding of an image with the platforms it occurs on.
type FindingRow struct {
	catalog.Finding
	// Platforms are the platforms (or child digests without a platform)
	// with this finding, sorted.
	Platforms []string `json:"platforms,omitempty"`
	// New is true when the finding was not in the previous report.
	New bool `json:"new,omitempty"`
}

// PackageRow is a package of an image with the platforms it is on.
type PackageRow struct {
	catalog.Package
	Platforms []string `json:"platforms,omitempty"`
}

// ReportRow is a report of an image as the image page and the reports
// route show it.
type ReportRow struct {
	catalog.Report
	// Platform is the platform of the report's subject ("" for the index).
	Platform string `json:"platform,omitempty"`
	// Current is true for the latest trusted report of its subject,
	// kind and scanner; older ones are superseded.
	Current bool `json:"current"`
	// Download is the API path of the SARIF document (trusted reports).
	Download string `json:"download,omitempty"`
}

func childName(c catalog.Child) string {
	if c.Platform != "" {
		return c.Platform
	}
	return shortDigest(c.Digest)
}

func platformOf(e *catalog.Entry, d digest.Digest) string {
	for _, c := range e.Children {
		if c.Digest == d {
			return c.Platform
		}
	}
	return ""
}

type findingKey struct{ id, pkg, version string }

func keyOf(f catalog.Finding) findingKey { return findingKey{f.ID, f.Package, f.Version} }

// findingRows merges the findings of every child, most severe first.
func findingRows(e *catalog.Entry) []FindingRow {
	idx := map[findingKey]int{}
	var rows []FindingRow
	for _, c := range e.Children {
		for _, f := range c.Findings {
			k := keyOf(f)
			i, ok := idx[k]
			if !ok {
				i = len(rows)
				idx[k] = i
				rows = append(rows, FindingRow{Finding: f})
			}
			rows[i].Platforms = append(rows[i].Platforms, childName(c))
		}
	}
	sortFindings(rows)
	return rows
}

func sortFindings(rows []FindingRow) {
	slices.SortFunc(rows, func(a, b FindingRow) int {
		ra, _ := catalog.SeverityRank(a.Severity)
		rb, _ := catalog.SeverityRank(b.Severity)
		if a.Severity == catalog.SeverityUnknown {
			ra = -1 // unknown after low in a findings table
		}
		if b.Severity == catalog.SeverityUnknown {
			rb = -1
		}
		return cmp.Or(cmp.Compare(rb, ra), strings.Compare(a.ID, b.ID), strings.Compare(a.Package, b.Package), strings.Compare(a.Version, b.Version))
	})
}

// packageRows merges the packages of every child: one row per distinct
// (ecosystem, name, version, PURL), with the platforms it is on in child
// order, sorted by name, version and ecosystem (rows equal on those three
// in the order they first appear).
func packageRows(e *catalog.Entry) []PackageRow {
	type pk struct{ eco, name, version, purl string }
	n := 0
	for _, c := range e.Children {
		n += len(c.Packages)
	}
	idx := make(map[pk]int, n)
	rows := make([]PackageRow, 0, n)
	for _, c := range e.Children {
		name := childName(c)
		for i := range c.Packages {
			p := &c.Packages[i]
			k := pk{p.Ecosystem, p.Name, p.Version, p.PURL}
			j, ok := idx[k]
			if !ok {
				j = len(rows)
				idx[k] = j
				rows = append(rows, PackageRow{Package: *p})
			}
			rows[j].Platforms = append(rows[j].Platforms, name)
		}
	}
	sortPackageRows(rows)
	return rows
}

// matchingPackageRows returns the rows of packageRows(e) that pq matches
// in vr (PackageQuery.MatchesPackage of the row's package, which is the
// first package of its row), in the same order, without merging and
// sorting the packages that cannot match. A row can match only if its
// package's name is pq.Name or its source name is; every package of a row
// has the row's name, so the rows built are those of pq.Name and of the
// names of packages whose source is pq.Name, each with all its packages.
func matchingPackageRows(e *catalog.Entry, pq *catalog.PackageQuery, vr catalog.VersionRange) []PackageRow {
	names := []string{pq.Name}
	for _, c := range e.Children {
		for i := range c.Packages {
			p := &c.Packages[i]
			if p.SourceName == pq.Name && !slices.Contains(names, p.Name) {
				names = append(names, p.Name)
			}
		}
	}
	var rows []PackageRow
	for _, c := range e.Children {
		for i := range c.Packages {
			p := &c.Packages[i]
			if !slices.Contains(names, p.Name) {
				continue
			}
			j := slices.IndexFunc(rows, func(r PackageRow) bool {
				return r.Name == p.Name && r.Version == p.Version && r.Ecosystem == p.Ecosystem && r.PURL == p.PURL
			})
			if j < 0 {
				j = len(rows)
				rows = append(rows, PackageRow{Package: *p})
			}
			rows[j].Platforms = append(rows[j].Platforms, childName(c))
		}
	}
	rows = slices.DeleteFunc(rows, func(r PackageRow) bool { return !pq.MatchesPackage(vr, r.Package) })
	sortPackageRows(rows)
	return rows
}

// sortPackageRows sorts rows by name, version and ecosystem, keeping the
// order of rows equal on all three (a stable sort: a subset of rows sorts
// as it does among all of them).
func sortPackageRows(rows []PackageRow) {
	slices.SortStableFunc(rows, func(a, b PackageRow) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if c := strings.Compare(a.Version, b.Version); c != 0 {
			return c
		}
		return strings.Compare(a.Ecosystem, b.Ecosystem)
	})
}

// LicenseCount is a licence and the number of packages declaring it.
type LicenseCount struct {
	License  string `json:"license"`
	Packages int    `json:"packages"`
}

func licenseCounts(rows []PackageRow) []LicenseCount {
	m := map[string]int{}
	for _, p := range rows {
		if len(p.Licenses) == 0 {
			m[""]++
		}
		for _, l := range p.Licenses {
			m[l]++
		}
	}
	out := make([]LicenseCount, 0, len(m))
	for l, n := range m {
		out = append(out, LicenseCount{License: l, Packages: n})
	}
	slices.SortFunc(out, func(a, b LicenseCount) int {
		return cmp.Or(cmp.Compare(b.Packages, a.Packages), strings.Compare(a.License, b.License))
	})
	return out
}

// reportRows lists the reports newest first and marks the current ones.
func reportRows(e *catalog.Entry) []ReportRow {
	rows := make([]ReportRow, 0, len(e.Reports))
	type group struct {
		subject       digest.Digest
		kind, scanner string
	}
	latest := map[group]int{}
	for _, r := range e.Reports {
		row := ReportRow{Report: r, Platform: platformOf(e, r.Subject)}
		if r.Trusted {
			row.Download = apiImagePath(e.Repository, e.Digest) + "/reports/" + r.Digest.String()
		}
		rows = append(rows, row)
	}
	slices.SortStableFunc(rows, func(a, b ReportRow) int {
		return cmp.Or(b.Time.Compare(a.Time), strings.Compare(a.Platform, b.Platform), strings.Compare(a.Kind, b.Kind))
	})
	for i, r := range rows {
		if !r.Trusted || r.Superseded {
			continue
		}
		g := group{r.Subject, r.Kind, r.Scanner}
		if _, ok := latest[g]; !ok {
			latest[g] = i
			rows[i].Current = true
		}
	}
	return rows
}

// vulnReports returns, per child digest and scanner, the trusted
// vulnerability reports, newest first.
func vulnReports(e *catalog.Entry) map[digest.Digest]map[string][]catalog.Report {
	out := map[digest.Digest]map[string][]catalog.Report{}
	for _, r := range e.Reports {
		if !r.Trusted || r.Kind != artifact.ReportKindVulnerability {
			continue
		}
		m := out[r.Subject]
		if m == nil {
			m = map[string][]catalog.Report{}
			out[r.Subject] = m
		}
		m[r.Scanner] = append(m[r.Scanner], r)
	}
	for _, m := range out {
		for _, rs := range m {
			slices.SortStableFunc(rs, func(a, b catalog.Report) int { return b.Time.Compare(a.Time) })
		}
	}
	return out
}

// reportFindingsFor returns the findings of report r of child c: the
// child's own findings when r is its only current report, else the
// decoded report from the registry.
func (h *Handler) reportFindingsFor(ctx context.Context, e *catalog.Entry, c catalog.Child, byScanner map[string][]catalog.Report, r catalog.Report) ([]catalog.Finding, error) {
	if len(byScanner) == 1 {
		for _, rs := range byScanner {
			if rs[0].Digest == r.Digest {
				return c.Findings, nil
			}
		}
	}
	return h.findingsOf(ctx, e.Repository, r.Digest)
}

// Diff says what changed between an image's previous and current
// vulnerability reports.
type Diff struct {
	// Since is the time of the previous report compared with (the latest
	// of them when platforms differ); zero when there is no previous
	// report.
	Since time.Time `json:"since,omitzero"`
	// Database is the database version of that report.
	Database string `json:"database,omitempty"`
	// New are the findings of the current reports that the previous ones
	// did not have; Resolved those that are gone.
	New      []FindingRow `json:"new"`
	Resolved []FindingRow `json:"resolved"`
	// Error says why the comparison could not be made, empty if it was.
	Error string `json:"error,omitempty"`
}

// diff compares each child's current findings with its previous trusted
// vulnerability reports (one per scanner) and marks new rows in rows.
func (h *Handler) diff(ctx context.Context, e *catalog.Entry, rows []FindingRow) *Diff {
	reports := vulnReports(e)
	d := &Diff{New: []FindingRow{}, Resolved: []FindingRow{}}
	type pk struct{ id, pkg string }
	newKeys := map[findingKey]bool{}
	resolved := map[pk]int{}
	compared := false
	for _, c := range e.Children {
		byScanner := reports[c.Digest]
		var prev []catalog.Finding
		has := false
		for _, scanner := range slices.Sorted(maps.Keys(byScanner)) {
			rs := byScanner[scanner]
			r := rs[0]
			if len(rs) > 1 {
				r = rs[1]
				has = true
				if r.Time.After(d.Since) {
					d.Since, d.Database = r.Time, r.DatabaseVersion
				}
			}
			fs, err := h.reportFindingsFor(ctx, e, c, byScanner, r)
			if err != nil {
				d.Error = "the previous report could not be read: " + err.Error()
				return d
			}
			prev = append(prev, fs...)
		}
		if !has {
			continue
		}
		compared = true
		before := map[pk]bool{}
		for _, f := range prev {
			before[pk{f.ID, f.Package}] = true
		}
		now := map[pk]bool{}
		for _, f := range c.Findings {
			now[pk{f.ID, f.Package}] = true
			if !before[pk{f.ID, f.Package}] {
				newKeys[keyOf(f)] = true
			}
		}
		for _, f := range prev {
			k := pk{f.ID, f.Package}
			if now[k] {
				continue
			}
			if i, ok := resolved[k]; ok {
				if !slices.Contains(d.Resolved[i].Platforms, childName(c)) {
					d.Resolved[i].Platforms = append(d.Resolved[i].Platforms, childName(c))
				}
				continue
			}
			resolved[k] = len(d.Resolved)
			d.Resolved = append(d.Resolved, FindingRow{Finding: f, Platforms: []string{childName(c)}})
		}
	}
	if !compared {
		return d
	}
	for i := range rows {
		if newKeys[keyOf(rows[i].Finding)] {
			rows[i].New = true
			d.New = append(d.New, rows[i])
		}
	}
	sortFindings(d.Resolved)
	return d
}

// SeverityPoint is the number of findings by severity at one time.
type SeverityPoint struct {
	Time     time.Time `json:"time"`
	Database string    `json:"database,omitempty"`
	Critical int       `json:"critical"`
	High     int       `json:"high"`
	Medium   int       `json:"medium"`
	Low      int       `json:"low"`
	Unknown  int       `json:"unknown"`
}

// Total returns the number of findings at the point.
func (p SeverityPoint) Total() int { return p.Critical + p.High + p.Medium + p.Low + p.Unknown }

// maxChartPoints caps the points of a findings chart (the most recent).
const maxChartPoints = 24

// history computes the image's findings by severity at the time of each
// of its trusted vulnerability reports: at each time, the latest report
// of each child and scanner up to then, findings counted once across
// platforms. It reads superseded reports from the registry.
func (h *Handler) history(ctx context.Context, e *catalog.Entry) ([]SeverityPoint, error) {
	reports := vulnReports(e)
	var times []time.Time
	for _, m := range reports {
		for _, rs := range m {
			for _, r := range rs {
				times = append(times, r.Time)
			}
		}
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	times = slices.CompactFunc(times, func(a, b time.Time) bool { return a.Equal(b) })
	if len(times) > maxChartPoints {
		times = times[len(times)-maxChartPoints:]
	}
	points := make([]SeverityPoint, 0, len(times))
	for _, t := range times {
		p := SeverityPoint{Time: t}
		seen := map[findingKey]bool{}
		for _, c := range e.Children {
			byScanner := reports[c.Digest]
			for _, scanner := range slices.Sorted(maps.Keys(byScanner)) {
				i := slices.IndexFunc(byScanner[scanner], func(r catalog.Report) bool { return !r.Time.After(t) })
				if i < 0 {
					continue
				}
				r := byScanner[scanner][i]
				if r.Time.Equal(t) {
					p.Database = r.DatabaseVersion
				}
				fs, err := h.reportFindingsFor(ctx, e, c, byScanner, r)
				if err != nil {
					return nil, err
				}
				for _, f := range fs {
					if seen[keyOf(f)] {
						continue
					}
					seen[keyOf(f)] = true
					switch f.Severity {
					case catalog.SeverityCritical:
						p.Critical++
					case catalog.SeverityHigh:
						p.High++
					case catalog.SeverityMedium:
						p.Medium++
					case catalog.SeverityLow:
						p.Low++
					default:
						p.Unknown++
					}
				}
			}
		}
		points = append(points, p)
	}
	return points, nil
}

// Comparison is what differs between two images.
type Comparison struct {
	A catalog.Summary `json:"a"`
	B catalog.Summary `json:"b"`
	// Packages added in B, removed from A, and present in both with other
	// versions; Unchanged counts the rest.
	Packages struct {
		Added     []PackageRow    `json:"added"`
		Removed   []PackageRow    `json:"removed"`
		Changed   []PackageChange `json:"changed"`
		Unchanged int             `json:"unchanged"`
	} `json:"packages"`
	// Findings B has and A has not (Added), A has and B has not
	// (Removed, typically fixed), by vulnerability and package.
	Findings struct {
		Added     []FindingRow `json:"added"`
		Removed   []FindingRow `json:"removed"`
		Unchanged int          `json:"unchanged"`
	} `json:"findings"`
}

// PackageChange is a package present in both images with other versions.
type PackageChange struct {
	Name      string `json:"name"`
	Ecosystem string `json:"ecosystem,omitempty"`
	From      string `json:"from"`
	To        string `json:"to"`
}

// compare computes the comparison of a and b.
func compare(a, b *catalog.Entry) *Comparison {
	c := &Comparison{A: a.Summary(), B: b.Summary()}
	c.Packages.Added, c.Packages.Removed, c.Packages.Changed = []PackageRow{}, []PackageRow{}, []PackageChange{}
	c.Findings.Added, c.Findings.Removed = []FindingRow{}, []FindingRow{}
	type pk struct{ name, eco string }
	versions := func(rows []PackageRow) (map[pk][]string, map[pk]PackageRow) {
		v, first := map[pk][]string{}, map[pk]PackageRow{}
		for _, r := range rows {
			k := pk{r.Name, r.Ecosystem}
			v[k] = append(v[k], r.Version)
			if _, ok := first[k]; !ok {
				first[k] = r
			}
		}
		for k := range v {
			slices.Sort(v[k])
			v[k] = slices.Compact(v[k])
		}
		return v, first
	}
	va, ra := versions(packageRows(a))
	vb, rb := versions(packageRows(b))
	sorted := func(m map[pk][]string) []pk {
		return slices.SortedFunc(maps.Keys(m), func(a, b pk) int { return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.eco, b.eco)) })
	}
	for _, k := range sorted(va) {
		w, ok := vb[k]
		switch {
		case !ok:
			c.Packages.Removed = append(c.Packages.Removed, ra[k])
		case !slices.Equal(va[k], w):
			c.Packages.Changed = append(c.Packages.Changed, PackageChange{Name: k.name, Ecosystem: k.eco, From: strings.Join(va[k], ", "), To: strings.Join(w, ", ")})
		default:
			c.Packages.Unchanged++
		}
	}
	for _, k := range sorted(vb) {
		if _, ok := va[k]; !ok {
			c.Packages.Added = append(c.Packages.Added, rb[k])
		}
	}
	type fk struct{ id, pkg string }
	index := func(rows []FindingRow) map[fk]bool {
		m := map[fk]bool{}
		for _, r := range rows {
			m[fk{r.ID, r.Package}] = true
		}
		return m
	}
	fa, fb := findingRows(a), findingRows(b)
	ia, ib := index(fa), index(fb)
	for _, r := range fb {
		if !ia[fk{r.ID, r.Package}] {
			c.Findings.Added = append(c.Findings.Added, r)
		} else {
			c.Findings.Unchanged++
		}
	}
	for _, r := range fa {
		if !ib[fk{r.ID, r.Package}] {
			c.Findings.Removed = append(c.Findings.Removed, r)
		}
	}
	return c
}

func sortedKeys(m map[string]int) []string {
	return slices.Sorted(maps.Keys(m))
}

func contains(s []string, v string) bool { return slices.Contains(s, v) }
