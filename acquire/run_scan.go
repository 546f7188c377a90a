package acquire

import (
	"context"
	"fmt"

	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/scan"
)

// scan runs every scanner on every platform. A scanner error fails the
// run: an incomplete scan is never a clean one. Every report, whatever its
// kind, goes to the evidence; each carries what its scanner declares
// (scan.DeclarationOf), so that only a malware scanner's report makes the
// image malware-scanned.
func (r *run) scan(ctx context.Context) (Verdict, string, map[string]any, error) {
	summary := map[string]any{}
	total := 0
	for _, pi := range r.images {
		img := r.scanImage(pi)
		for i, s := range r.p.cfg.Scanners {
			var rep *scan.Report
			var err error
			if res, ok := pi.fileScans[i]; ok {
				// Scanned in the SBOM step's shared walk.
				rep, err = res.report, res.err
			} else {
				rep, err = s.Scan(ctx, img)
			}
			if err != nil {
				return "", "", nil, fmt.Errorf("scan %s: %w", pi.desc.Digest, err)
			}
			if rep == nil {
				return "", "", nil, fmt.Errorf("scan %s: scanner returned no report", pi.desc.Digest)
			}
			rep.Subject = pi.desc.Digest
			rep.Declared = scan.DeclarationOf(s) // the scanner's word, not the report's
			rep.Time = r.t                       // reports are stamped with the run time, so reruns give the same digests
			rep.Sort()
			r.reports = append(r.reports, rep)
			key := rep.Kind + "/" + rep.Tool.Name
			if pi.name() != "" {
				key += "/" + pi.name()
			}
			summary[key] = rep.Count()
			total += len(rep.Findings)
		}
	}
	return VerdictOK, fmt.Sprintf("%d report(s), %d finding(s)", len(r.reports), total), map[string]any{"reports": summary}, nil
}

// attachReports attaches every report as SARIF to its platform manifest.
func (r *run) attachReports(ctx context.Context) (Verdict, string, map[string]any, error) {
	var recs []ArtifactRecord
	for _, rep := range r.reports {
		a, err := attest.ReportArtifact(rep, r.t, attest.DefaultGenerator)
		if err != nil {
			return "", "", nil, err
		}
		platform := ""
		for _, pi := range r.images {
			if pi.desc.Digest == rep.Subject {
				platform = pi.name()
			}
		}
		rs, err := r.attach(ctx, rep.Subject, platform, "report", []registry.Artifact{a})
		if err != nil {
			return "", "", nil, err
		}
		recs = append(recs, rs...)
	}
	return VerdictOK, fmt.Sprintf("%d report(s) attached", len(recs)), map[string]any{"artifacts": recs}, nil
}

// scanImage is what the scanners get for one platform.
func (r *run) scanImage(pi platformImage) *scan.Image {
	return &scan.Image{
		Repository: r.qrepo,
		Reference:  r.rec.Quarantine + "@" + pi.desc.Digest.String(),
		Manifest:   pi.desc,
		Platform:   pi.platform,
		SBOM:       pi.sbom,
	}
}
