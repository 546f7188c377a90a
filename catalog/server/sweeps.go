package server

import (
	"context"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
)

// SweepLister lists the most recent sweeps (rescans, and later lifecycle
// runs), the most recently started first, at most limit of them. Every
// catalog.SweepLog implements it (catalog.MemoryQueue, catalog/sqlite,
// catalog/postgres), so the sweeps page reads the records the rescan
// scheduler writes.
type SweepLister interface {
	Sweeps(ctx context.Context, limit int) ([]*catalog.Sweep, error)
}

// SweepListerFunc adapts a function to SweepLister.
type SweepListerFunc func(ctx context.Context, limit int) ([]*catalog.Sweep, error)

// Sweeps calls f.
func (f SweepListerFunc) Sweeps(ctx context.Context, limit int) ([]*catalog.Sweep, error) {
	return f(ctx, limit)
}

var _ SweepLister = (*catalog.MemoryQueue)(nil)

// maxSweeps caps the sweeps one page or API call lists.
const maxSweeps = 200

// sweepRow is a sweep as the sweeps page shows it.
type sweepRow struct {
	*catalog.Sweep
	Outcomes []outcomeCount
	Failures []sweepFailure
}

type outcomeCount struct {
	Outcome string
	Count   int
}

type sweepFailure struct {
	Job    string
	Error  string
	Digest digest.Digest // the image's digest when the job key names one
}

// outcomeOrder is the order outcomes are shown in; others follow by name.
var outcomeOrder = []string{"written", "unchanged", "no-sbom", "gone", "failed", "cancelled"}

func sweepRows(sweeps []*catalog.Sweep) []sweepRow {
	rows := make([]sweepRow, 0, len(sweeps))
	for _, s := range sweeps {
		row := sweepRow{Sweep: s}
		for _, o := range outcomeOrder {
			if n := s.Outcomes[o]; n > 0 {
				row.Outcomes = append(row.Outcomes, outcomeCount{o, n})
			}
		}
		for _, o := range sortedKeys(s.Outcomes) {
			if !contains(outcomeOrder, o) && s.Outcomes[o] > 0 {
				row.Outcomes = append(row.Outcomes, outcomeCount{o, s.Outcomes[o]})
			}
		}
		for _, f := range s.Failures {
			sf := sweepFailure{Job: f.Job, Error: f.Error}
			if i := strings.LastIndex(f.Job, "@"); i >= 0 {
				if d, err := digest.Parse(f.Job[i+1:]); err == nil {
					sf.Digest = d
				}
			}
			row.Failures = append(row.Failures, sf)
		}
		rows = append(rows, row)
	}
	return rows
}
