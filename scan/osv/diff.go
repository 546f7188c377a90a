package osv

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan"
)

// Delta is what changed between two versions of a database: the
// advisories added, changed (another record document under the same id)
// and withdrawn (withdrawn, or gone), and the packages they name. A
// package that no advisory of the delta names matches the same in both
// versions, so a rescan after an update needs to re-match only the images
// that hold a package the delta [Delta.Affects].
type Delta struct {
	// From and To are the versions compared ([DB.Version]); From is empty
	// when there was no previous database.
	From, To string
	// Added, Changed and Withdrawn are advisory ids, sorted.
	Added, Changed, Withdrawn []string
	keys                      map[key]struct{}
}

// Diff compares db with prev, an earlier version of the same database
// (nil means none: every advisory is added). Advisories are compared by id
// and by the SHA-256 of their record document; the packages named are
// those of the advisory's affected entries in either version.
func (db *DB) Diff(prev *DB) *Delta {
	d := &Delta{To: db.Version(), keys: map[key]struct{}{}}
	cur := db.vulns()
	var old map[string]*vuln
	if prev != nil {
		d.From = prev.Version()
		old = prev.vulns()
	}
	for id, v := range cur {
		o, ok := old[id]
		switch {
		case !ok:
			d.Added = append(d.Added, id)
		case o.sum != v.sum:
			d.Changed = append(d.Changed, id)
			d.addKeys(o)
		default:
			continue
		}
		d.addKeys(v)
	}
	for id, o := range old {
		if _, ok := cur[id]; !ok {
			d.Withdrawn = append(d.Withdrawn, id)
			d.addKeys(o)
		}
	}
	slices.Sort(d.Added)
	slices.Sort(d.Changed)
	slices.Sort(d.Withdrawn)
	return d
}

func (d *Delta) addKeys(v *vuln) {
	for _, e := range v.entries {
		d.keys[key{e.eco, normalizeName(e.base, e.name)}] = struct{}{}
	}
}

// vulns returns the indexed records by id.
func (db *DB) vulns() map[string]*vuln {
	out := make(map[string]*vuln, db.stats.Records)
	for _, es := range db.index {
		for _, e := range es {
			out[e.vuln.id] = e.vuln
		}
	}
	return out
}

// Empty reports whether nothing changed.
func (d *Delta) Empty() bool { return len(d.Added)+len(d.Changed)+len(d.Withdrawn) == 0 }

// Packages returns how many distinct (ecosystem, package) pairs the
// changed advisories name.
func (d *Delta) Packages() int { return len(d.keys) }

// PackageNames returns the (ecosystem, package) pairs the changed
// advisories name, as "ecosystem/name", sorted.
func (d *Delta) PackageNames() []string {
	out := make([]string, 0, len(d.keys))
	for k := range d.keys {
		out = append(out, k.eco+"/"+k.name)
	}
	slices.Sort(out)
	return out
}

// Affects reports whether matching p may give another result after the
// update than before: whether a changed advisory names the package p is
// looked up as (see [DB.Match] for how a package's ecosystem and name are
// derived). A package that cannot be matched is never affected.
func (d *Delta) Affects(p *sbom.Package) bool {
	if len(d.keys) == 0 {
		return false
	}
	q, ok := prepare(p)
	if !ok {
		return false
	}
	if _, ok := d.keys[key{q.eco, q.name}]; ok {
		return true
	}
	if q.base != q.eco {
		if _, ok := d.keys[key{q.base, q.name}]; ok {
			return true
		}
		if q.base == "Ubuntu" && strings.Count(q.eco, ":") == 1 {
			if _, ok := d.keys[key{q.eco + ":LTS", q.name}]; ok {
				return true
			}
		}
	}
	return false
}

// MatchEach matches each package on its own and returns, for each, its
// findings (nil when none), merged and sorted as [DB.Match] merges them
// for one package. Unlike Match it does not deduplicate packages listed
// twice: a caller that matches the distinct packages of many images once
// and shares the results uses it.
func (db *DB) MatchEach(ctx context.Context, pkgs []sbom.Package) ([][]scan.Finding, error) {
	if db == nil {
		return nil, fmt.Errorf("osv: %w: no database", scan.ErrScanFailed)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([][]scan.Finding, len(pkgs))
	workers := min(runtime.GOMAXPROCS(0), 1+len(pkgs)/256)
	chunk := (len(pkgs) + workers - 1) / max(workers, 1)
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
				_, hits = db.matchPackage(&pkgs[i], hits[:0])
				if len(hits) > 0 {
					fs := mergeHits(hits)
					r := scan.Report{Findings: fs}
					r.Sort()
					out[i] = r.Findings
				}
			}
		}()
	}
	wg.Wait()
	if ctxErr != nil {
		return nil, ctxErr
	}
	return out, nil
}
