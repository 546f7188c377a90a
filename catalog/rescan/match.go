package rescan

import (
	"context"
	"strings"
	"sync"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/osv"
)

// matcher matches packages against one database version, each distinct
// package once: the findings of a package are kept and shared by every
// image that holds it.
type matcher struct {
	db *osv.DB
	mu sync.Mutex
	// slots holds one slot per distinct package; ready is closed once
	// findings (or err) are set.
	slots map[string]*slot
	// matched counts the packages actually matched (for tests and sweep
	// figures).
	matched int
}

type slot struct {
	ready    chan struct{}
	findings []scan.Finding
	err      error
}

func newMatcher(db *osv.DB) *matcher { return &matcher{db: db, slots: map[string]*slot{}} }

// packageKey identifies a package for matching: every field matching
// reads.
func packageKey(p *catalog.Package) string {
	return strings.Join([]string{p.Ecosystem, p.Name, p.Version, p.PURL, p.SourceName}, "\x00")
}

func sbomPackage(p *catalog.Package) sbom.Package {
	return sbom.Package{Name: p.Name, Version: p.Version, PURL: p.PURL, Ecosystem: p.Ecosystem, SourceName: p.SourceName}
}

// Matched returns how many distinct packages were matched so far.
func (m *matcher) Matched() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.matched
}

// match returns the findings of pkgs (one platform image's packages),
// deduplicated per package as osv.DB.Match does and sorted.
func (m *matcher) match(ctx context.Context, pkgs []catalog.Package) ([]scan.Finding, error) {
	slots := make([]*slot, len(pkgs))
	var mine []int
	m.mu.Lock()
	for i := range pkgs {
		k := packageKey(&pkgs[i])
		s, ok := m.slots[k]
		if !ok {
			s = &slot{ready: make(chan struct{})}
			m.slots[k] = s
			mine = append(mine, i)
		}
		slots[i] = s
	}
	m.mu.Unlock()

	if len(mine) > 0 {
		batch := make([]sbom.Package, len(mine))
		for j, i := range mine {
			batch[j] = sbomPackage(&pkgs[i])
		}
		res, err := m.db.MatchEach(ctx, batch)
		m.mu.Lock()
		for j, i := range mine {
			s := slots[i]
			if err != nil {
				s.err = err
				// Let a later caller match it again.
				delete(m.slots, packageKey(&pkgs[i]))
			} else {
				s.findings = res[j]
			}
			close(s.ready)
		}
		if err == nil {
			m.matched += len(mine)
		}
		m.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}

	type pkgID struct{ eco, name, version string }
	seen := map[pkgID]bool{}
	var out []scan.Finding
	for _, s := range slots {
		select {
		case <-s.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if s.err != nil {
			return nil, s.err
		}
		if len(s.findings) == 0 {
			continue
		}
		p := s.findings[0].Package
		id := pkgID{p.Ecosystem, p.Name, p.Version}
		if seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, s.findings...)
	}
	r := scan.Report{Findings: out}
	r.Sort()
	return r.Findings, nil
}

// catalogFindings converts report findings as the catalog indexes them.
func catalogFindings(fs []scan.Finding) []catalog.Finding {
	out := make([]catalog.Finding, 0, len(fs))
	for _, f := range fs {
		out = append(out, catalog.Finding{ID: f.ID, Aliases: f.Aliases, Package: f.Package.Name, Version: f.Package.Version,
			FixedVersion: f.FixedVersion, Severity: f.Severity.String()})
	}
	return out
}
