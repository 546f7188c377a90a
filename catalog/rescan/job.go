package rescan

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/osv"
	"github.com/cssc-go/cssc/sign"
)

// Outcomes of rescan jobs, as sweep records count them.
const (
	OutcomeWritten   = "written"   // a new signed report was attached
	OutcomeUnchanged = "unchanged" // the findings did not change and the report in force is recent
	OutcomeGone      = "gone"      // the entry is no longer in the catalog
	OutcomeNoSBOM    = "no-sbom"   // no platform has a trusted SBOM to match
)

// plan is what a rescan does for one platform image of an entry.
type plan struct {
	child    catalog.Child
	findings []scan.Finding // the new findings (vulnerability) or detections (malware)
	newF     []catalog.Finding
	tool     scan.Tool
	cur      *catalog.Report // the report in force, nil if none
	write    bool
	// set when written
	report  ocispec.Descriptor
	t       time.Time
	deleted []digest.Digest
}

// vulnerabilityJob rescans one image's platforms against the database.
func (r *Rescanner) vulnerabilityJob(ctx context.Context, j catalog.Job) (string, error) {
	var p payload
	if err := json.Unmarshal(j.Payload, &p); err != nil {
		return "", fmt.Errorf("job payload: %w", err)
	}
	db, m := r.database()
	if db == nil || db.Version() != p.Version {
		return "", fmt.Errorf("this instance does not hold database %s", p.Version)
	}
	e, err := r.opts.Store.Get(ctx, p.Repository, p.Digest)
	if errors.Is(err, catalog.ErrNotFound) {
		return OutcomeGone, nil
	}
	if err != nil {
		return "", err
	}
	var plans []*plan
	for _, c := range e.Children {
		if c.SBOM == nil {
			continue
		}
		fs, err := m.match(ctx, c.Packages)
		if err != nil {
			return "", err
		}
		pl := &plan{child: c, findings: fs, newF: normalizeFindings(catalogFindings(fs)),
			tool: scan.Tool{Name: osv.ToolName, DatabaseVersion: db.Version()},
			cur:  inForce(e, c.Digest, artifact.ReportKindVulnerability, osv.ToolName)}
		changed := !c.Vulnerabilities.Scanned || !sameFindings(c.Findings, pl.newF)
		pl.write = changed || r.due(pl.cur, p)
		plans = append(plans, pl)
	}
	if len(plans) == 0 {
		return OutcomeNoSBOM, nil
	}
	return r.apply(ctx, j, p, e, artifact.ReportKindVulnerability, catalog.EvidenceVulnReport, plans)
}

// due reports whether a report must be written although nothing changed.
func (r *Rescanner) due(cur *catalog.Report, p payload) bool {
	return cur == nil || p.Force || cur.Time.Before(p.At.Add(-r.opts.MaxAge))
}

// apply writes the reports the plans call for, emits the events, and
// moves the entry; on failure, it marks the entry.
func (r *Rescanner) apply(ctx context.Context, j catalog.Job, p payload, e *catalog.Entry, kind, evidence string, plans []*plan) (string, error) {
	writes := slices.ContainsFunc(plans, func(pl *plan) bool { return pl.write })
	if writes {
		if err := r.writeReports(ctx, p, e, kind, plans); err != nil {
			r.markFailed(ctx, j, p, e, kind, evidence, plans, err)
			return "", err
		}
		if err := r.emitFindings(ctx, p, e, kind, plans); err != nil {
			// The reports are signed and attached; events are at least
			// once, so failing here retries them (same ids).
			return "", fmt.Errorf("emit events: %w", err)
		}
	}
	if !writes && !slices.ContainsFunc(e.Problems, func(pr catalog.Problem) bool {
		return pr.Evidence == evidence && pr.Reason == catalog.ReasonRescanFailed
	}) {
		return OutcomeUnchanged, nil // nothing to move, nothing to clear
	}
	if err := r.moveEntry(ctx, p, kind, evidence, plans); err != nil {
		return "", err
	}
	if writes {
		return OutcomeWritten, nil
	}
	return OutcomeUnchanged, nil
}

// writeReports attaches, signs and prunes the reports of the plans that
// write one.
func (r *Rescanner) writeReports(ctx context.Context, p payload, e *catalog.Entry, kind string, plans []*plan) error {
	repo, err := r.opts.Open(ctx, e.Repository)
	if err != nil {
		return fmt.Errorf("open %s: %w", e.Repository, err)
	}
	for _, pl := range plans {
		if !pl.write {
			continue
		}
		subject, err := repo.Resolve(ctx, pl.child.Digest.String())
		if err != nil {
			return fmt.Errorf("resolve %s: %w", pl.child.Digest, err)
		}
		// The report's time is the sweep's, after the report in force:
		// a retried job writes the same bytes.
		pl.t = p.At.Truncate(time.Second)
		if pl.cur != nil && !pl.t.After(pl.cur.Time) {
			pl.t = pl.cur.Time.Truncate(time.Second).Add(time.Second)
		}
		rep := &scan.Report{Kind: kind, Tool: pl.tool, Subject: pl.child.Digest, Time: pl.t, Findings: pl.findings}
		if kind == artifact.ReportKindMalware {
			// Options.Malware is the malware scanner by configuration.
			rep.Declared = scan.Declaration{Malware: true}
		}
		pl.report, err = r.publish(ctx, repo, subject, rep)
		if err != nil {
			return err
		}
		pl.deleted, err = r.prune(ctx, repo, subject, kind, pl.report)
		if err != nil {
			// The new report is signed and in force; older ones stay
			// until the next rescan prunes them.
			r.log.Warn("rescan: pruning old reports", "subject", pl.child.Digest, "error", err)
		}
	}
	return nil
}

// publish attaches the report to subject (attest.Attach, as the pipeline
// attaches its reports) and signs it with sign.SignTree, reusing a
// verified enterprise signature that an attempt that died after signing
// left. If signing fails, the report is deleted again, so that no unsigned
// report is the newest.
func (r *Rescanner) publish(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor, rep *scan.Report) (ocispec.Descriptor, error) {
	art, err := attest.ReportArtifact(rep, rep.Time, attest.DefaultGenerator)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	descs, err := attest.Attach(ctx, repo, subject, rep.Time, art)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := descs[0]
	desc.Annotations = nil
	if _, err := sign.SignTree(ctx, r.opts.Signer, repo, desc, sign.TreeOptions{MaxDepth: -1, Reuse: r.opts.Verifier}); err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := repo.Delete(dctx, desc); derr != nil {
			r.log.Warn("rescan: deleting the unsigned report", "report", desc.Digest, "error", derr)
		}
		return ocispec.Descriptor{}, fmt.Errorf("sign report %s: %w", desc.Digest, err)
	}
	return desc, nil
}

// prune deletes, with their signatures, cssc's reports of kind about
// subject beyond the newest Keep, and those without a signature (other
// than keep, just signed).
func (r *Rescanner) prune(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor, kind string, keep ocispec.Descriptor) ([]digest.Digest, error) {
	refs, err := registry.Referrers(ctx, repo, subject, artifact.TypeSARIF)
	if err != nil {
		return nil, err
	}
	var mine []ocispec.Descriptor
	for _, d := range refs {
		if d.Annotations[artifact.AnnotationReportKind] == kind && d.Annotations[artifact.AnnotationGeneratedBy] != "" {
			mine = append(mine, d)
		}
	}
	slices.SortFunc(mine, func(a, b ocispec.Descriptor) int {
		if a.Digest == keep.Digest {
			return -1
		}
		if b.Digest == keep.Digest {
			return 1
		}
		return cmp.Or(strings.Compare(b.Annotations[ocispec.AnnotationCreated], a.Annotations[ocispec.AnnotationCreated]),
			strings.Compare(string(b.Digest), string(a.Digest)))
	})
	var deleted []digest.Digest
	kept := 0
	for _, d := range mine {
		d.Annotations = nil
		sigs, err := registry.Referrers(ctx, repo, d, "")
		if err != nil {
			return deleted, err
		}
		signed := slices.ContainsFunc(sigs, func(s ocispec.Descriptor) bool {
			return s.ArtifactType == artifact.TypeNotarySignature || s.ArtifactType == artifact.TypeSigstoreBundle
		})
		if d.Digest == keep.Digest || (signed && kept < r.opts.Keep) {
			kept++
			continue
		}
		for _, s := range sigs {
			s.Annotations = nil
			if err := repo.Delete(ctx, s); err != nil && !errors.Is(err, registry.ErrNotFound) {
				return deleted, fmt.Errorf("delete signature %s of report %s: %w", s.Digest, d.Digest, err)
			}
		}
		if err := repo.Delete(ctx, d); err != nil && !errors.Is(err, registry.ErrNotFound) {
			return deleted, fmt.Errorf("delete report %s: %w", d.Digest, err)
		}
		deleted = append(deleted, d.Digest)
	}
	return deleted, nil
}

// emitFindings emits the new and resolved findings of the reports
// written (malware detections count as findings too).
func (r *Rescanner) emitFindings(ctx context.Context, p payload, e *catalog.Entry, kind string, plans []*plan) error {
	if r.opts.Events == nil {
		return nil
	}
	var evs []event.Event
	for _, pl := range plans {
		if !pl.write {
			continue
		}
		old := pl.child.Findings
		if kind == artifact.ReportKindMalware {
			old = malwareFindings(pl.child)
		}
		added, resolved := diffFindings(old, pl.newF)
		img := event.Image{Repository: e.Repository, Digest: e.Digest, Subject: pl.child.Digest, Platform: pl.child.Platform, Tags: e.Tags}
		for _, x := range []struct {
			typ string
			fs  []catalog.Finding
		}{{event.TypeFindingsNew, added}, {event.TypeFindingsResolved, resolved}} {
			if len(x.fs) == 0 {
				continue
			}
			ev, err := event.New(x.typ, r.opts.Source, img.Ref(), pl.t, event.Findings{Image: img, Findings: x.fs,
				Scanner: pl.tool.Name, DatabaseVersion: pl.tool.DatabaseVersion, Report: pl.report.Digest})
			if err != nil {
				return err
			}
			evs = append(evs, ev)
		}
	}
	if len(evs) == 0 {
		return nil
	}
	return r.opts.Events.Emit(ctx, evs...)
}

// moveEntry puts the entry on its new reports, and clears the rescan
// failures of the platforms rescanned. It reads the entry afresh, so that
// changes made meanwhile (tags) are kept.
func (r *Rescanner) moveEntry(ctx context.Context, p payload, kind, evidence string, plans []*plan) error {
	e, err := r.opts.Store.Get(ctx, p.Repository, p.Digest)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	changed := false
	for _, pl := range plans {
		before := len(e.Problems)
		e.Problems = slices.DeleteFunc(e.Problems, func(pr catalog.Problem) bool {
			return pr.Subject == pl.child.Digest && pr.Evidence == evidence &&
				(pr.Reason == catalog.ReasonRescanFailed || (pl.write && pr.Reason == catalog.ReasonMissing))
		})
		changed = changed || len(e.Problems) != before
		if !pl.write {
			continue
		}
		changed = true
		i := slices.IndexFunc(e.Children, func(c catalog.Child) bool { return c.Digest == pl.child.Digest })
		if i < 0 {
			continue
		}
		c := &e.Children[i]
		if kind == artifact.ReportKindMalware {
			c.Malware = catalog.MalwareSummary{Scanned: true, Detections: len(pl.findings), DatabaseVersions: []string{pl.tool.DatabaseVersion}}
			for _, f := range pl.findings {
				c.Malware.Names = append(c.Malware.Names, f.ID)
			}
		} else {
			c.Findings = pl.newF
			c.Vulnerabilities = catalog.VulnerabilitySummary{Scanned: true, DatabaseVersions: []string{pl.tool.DatabaseVersion}}
		}
		e.Reports = slices.DeleteFunc(e.Reports, func(rep catalog.Report) bool {
			return slices.Contains(pl.deleted, rep.Digest) || rep.Digest == pl.report.Digest
		})
		e.Reports = append(e.Reports, catalog.Report{Subject: pl.child.Digest, Digest: pl.report.Digest, Kind: kind,
			Scanner: pl.tool.Name, ScannerVersion: pl.tool.Version, DatabaseVersion: pl.tool.DatabaseVersion,
			Time: pl.t, Findings: len(pl.findings), Trusted: true})
		supersede(e, pl.child.Digest, kind, pl.tool.Name)
	}
	if !changed {
		return nil
	}
	return r.opts.Store.Put(ctx, e)
}

// markFailed records on the entry that the rescan of the platforms to
// write failed (their reports in force stay), and emits the failure.
func (r *Rescanner) markFailed(ctx context.Context, j catalog.Job, p payload, e *catalog.Entry, kind, evidence string, plans []*plan, cause error) {
	ctx = context.WithoutCancel(ctx)
	detail := fmt.Sprintf("rescan against %s failed: %v", p.Version, cause)
	if len(detail) > 1024 {
		detail = catalog.CutCause(detail[:1024])
	}
	fresh, err := r.opts.Store.Get(ctx, p.Repository, p.Digest)
	if err == nil {
		for _, pl := range plans {
			if !pl.write {
				continue
			}
			fresh.Problems = slices.DeleteFunc(fresh.Problems, func(pr catalog.Problem) bool {
				return pr.Subject == pl.child.Digest && pr.Evidence == evidence && pr.Reason == catalog.ReasonRescanFailed
			})
			fresh.Problems = append(fresh.Problems, catalog.Problem{Subject: pl.child.Digest, Evidence: evidence,
				Reason: catalog.ReasonRescanFailed, Detail: detail})
		}
		err = r.opts.Store.Put(ctx, fresh)
	}
	if err != nil {
		r.log.Warn("rescan: recording the failure on the entry", "entry", p.Repository+"@"+p.Digest.String(), "error", err)
	}
	if r.opts.Events == nil {
		return
	}
	var evs []event.Event
	for _, pl := range plans {
		if !pl.write {
			continue
		}
		img := event.Image{Repository: e.Repository, Digest: e.Digest, Subject: pl.child.Digest, Platform: pl.child.Platform, Tags: e.Tags}
		ev, err := event.New(event.TypeRescanFailed, r.opts.Source, img.Ref(), r.now(), event.RescanFailed{Image: img, Kind: kind,
			DatabaseVersion: p.Version, Error: cause.Error(), Job: j.Key, Retry: j.Attempts < r.opts.MaxAttempts})
		if err == nil {
			evs = append(evs, ev)
		}
	}
	if err := r.opts.Events.Emit(ctx, evs...); err != nil {
		r.log.Warn("rescan: emitting the failure", "error", err)
	}
}

// supersede marks the trusted reports of subject, kind and scanner other
// than the one in force as superseded, and the one in force as not, as
// the Cataloger does when it reads the reports from the registry.
func supersede(e *catalog.Entry, subject digest.Digest, kind, scanner string) {
	cur := inForce(e, subject, kind, scanner)
	for i := range e.Reports {
		rep := &e.Reports[i]
		if rep.Subject == subject && rep.Kind == kind && rep.Trusted && rep.Scanner == scanner {
			rep.Superseded = rep != cur
		}
	}
}

// inForce returns the report in force for subject, kind and scanner: the
// newest trusted one.
func inForce(e *catalog.Entry, subject digest.Digest, kind, scanner string) *catalog.Report {
	var best *catalog.Report
	for i := range e.Reports {
		rep := &e.Reports[i]
		if rep.Subject != subject || rep.Kind != kind || !rep.Trusted || (scanner != "" && rep.Scanner != scanner) {
			continue
		}
		if best == nil || rep.Time.After(best.Time) || (rep.Time.Equal(best.Time) && rep.Digest > best.Digest) {
			best = rep
		}
	}
	return best
}

// normalizeFindings sorts findings and drops duplicates as
// catalog.Entry.Normalize does.
func normalizeFindings(fs []catalog.Finding) []catalog.Finding {
	e := catalog.Entry{Children: []catalog.Child{{Findings: fs}}}
	e.Normalize()
	return e.Children[0].Findings
}

// sameFindings compares two normalized finding lists.
func sameFindings(a, b []catalog.Finding) bool {
	return slices.EqualFunc(a, b, func(x, y catalog.Finding) bool {
		return x.ID == y.ID && x.Package == y.Package && x.Version == y.Version && x.FixedVersion == y.FixedVersion &&
			x.Severity == y.Severity && slices.Equal(x.Aliases, y.Aliases)
	})
}

// diffFindings returns the findings of b not in a (by id, package and
// version), and those of a not in b.
func diffFindings(a, b []catalog.Finding) (added, resolved []catalog.Finding) {
	key := func(f catalog.Finding) string { return f.ID + "\x00" + f.Package + "\x00" + f.Version }
	in := func(fs []catalog.Finding) map[string]bool {
		m := make(map[string]bool, len(fs))
		for _, f := range fs {
			m[key(f)] = true
		}
		return m
	}
	ina, inb := in(a), in(b)
	for _, f := range b {
		if !ina[key(f)] {
			added = append(added, f)
		}
	}
	for _, f := range a {
		if !inb[key(f)] {
			resolved = append(resolved, f)
		}
	}
	return added, resolved
}
