package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/lifecycle"
	"github.com/cssc-go/cssc/catalog/requests"
	"github.com/cssc-go/cssc/catalog/rescan"
	"github.com/cssc-go/cssc/catalog/server"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/scan/osv"
	"github.com/cssc-go/cssc/sign"
)

// advisory is what the newer bundled OSV database reveals (DSA-5770-1,
// Expat), in the multi-arch sample image only.
const advisory = "CVE-2024-45490"

// catalogConfig is what the Catalog stage needs from the Acquire stage.
type catalogConfig struct {
	client   *registry.Client
	golden   string  // the golden location prefix ("oci:/tmp/.../golden")
	dir      string  // where the updated OSV database is written
	db       *osv.DB // the database the images were acquired with
	signer   sign.Signer
	verifier sign.Verifier
	identity string
	logger   *slog.Logger
	// For upstream tracking: the pipeline that acquired the images, the
	// upstream registry's host, its request counts, and how to make
	// acquisitions match against a newer database.
	pipeline  *acquire.Pipeline
	upstream  string
	requests  *requestCounter
	installDB func(*osv.DB)
}

// catalogStage is the Catalog stage over the demo's golden images: an
// in-memory store and job queue, the cataloger, the rescanner and the
// lifecycle.
type catalogStage struct {
	cfg    catalogConfig
	store  *catalog.MemoryStore
	queue  *catalog.MemoryQueue
	syncer *catalog.Syncer
	rescan *rescan.Rescanner
	// requests takes the teams' requests (set by requestDemo).
	requests *requests.Service
}

// catalogOutcome is what the Catalog stage did.
type catalogOutcome struct {
	entries  []*catalog.Entry // catalogued, before the rescan
	delta    *catalog.Sweep   // the sweep of the newer database
	affected []*catalog.Entry // entries with the new advisory after it
	retired  []*lifecycle.Change
	upstream *upstreamOutcome
}

func newCatalogStage(cfg catalogConfig) (*catalogStage, error) {
	cs := &catalogStage{cfg: cfg, store: catalog.NewMemoryStore(), queue: catalog.NewMemoryQueue()}
	cataloger, err := catalog.NewCataloger(catalog.CatalogerOptions{Verifier: cfg.verifier, Identities: []string{cfg.identity}, Logger: cfg.logger})
	if err != nil {
		return nil, err
	}
	if cs.syncer, err = catalog.NewSyncer(cfg.client, cataloger, cs.store, catalog.SyncOptions{Logger: cfg.logger}); err != nil {
		return nil, err
	}
	cs.rescan, err = rescan.New(rescan.Options{Store: cs.store, Queue: cs.queue, Coordinator: cs.queue, Sweeps: cs.queue,
		Open: cfg.client.Repository, Signer: cfg.signer, Verifier: cfg.verifier,
		Interval: -1, Poll: 20 * time.Millisecond, Logger: cfg.logger})
	if err != nil {
		return nil, err
	}
	return cs, nil
}

func (cs *catalogStage) close() { cs.store.Close() }

// run catalogs the golden images, rescans them against the newer
// database, and retires one past its end of life.
func (cs *catalogStage) run(ctx context.Context, out io.Writer) (*catalogOutcome, error) {
	var co catalogOutcome
	fmt.Fprintf(out, "== catalog %s\n", cs.cfg.golden)
	rep, err := cs.syncer.Reconcile(ctx, cs.cfg.golden)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	if err := rep.Err(); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	if co.entries, err = cs.entries(ctx); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "   %d images catalogued (the denied ones never reached golden)\n", rep.Catalogued)
	for _, e := range co.entries {
		trusted := "trusted"
		if !e.Trusted() {
			trusted = "UNTRUSTED"
		}
		fmt.Fprintf(out, "   %-16s %s  %-9s  %s\n", cs.name(e.Repository), short(e), trusted, severities(e.Vulnerabilities))
		for _, p := range e.Problems {
			fmt.Fprintf(out, "   %-16s %s %s: %s\n", "", p.Evidence, p.Reason, p.Detail)
		}
	}
	fmt.Fprintln(out)

	// Rescans: the database the images were acquired with (a full sweep
	// that finds nothing new), then the newer one (a delta sweep of the
	// images its new advisories name).
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cs.rescan.Run(rctx) }()
	defer func() { stop(); <-done }()
	full, err := cs.sweep(ctx, cs.cfg.db)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "== rescan: OSV database %s (the acquisition's)\n", cs.cfg.db.Version())
	fmt.Fprintf(out, "   %s sweep: %d of %d images rescanned: %s\n\n", full.Kind, full.Images, len(co.entries), outcomes(full.Outcomes))
	dbDir := filepath.Join(cs.cfg.dir, "osv")
	if err := os.RemoveAll(dbDir); err != nil {
		return nil, err
	}
	if err := os.CopyFS(dbDir, sample.OSV()); err != nil {
		return nil, err
	}
	if err := os.CopyFS(dbDir, sample.OSVUpdate()); err != nil {
		return nil, err
	}
	newer, err := osv.Load(ctx, dbDir, osv.Options{Logger: cs.cfg.logger})
	if err != nil {
		return nil, err
	}
	cs.cfg.installDB(newer)
	fmt.Fprintf(out, "== rescan: newer OSV database %s installed\n", newer.Version())
	if co.delta, err = cs.sweep(ctx, newer); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "   %s sweep: %d of %d images rescanned: %s", co.delta.Kind, co.delta.Images, len(co.entries), outcomes(co.delta.Outcomes))
	if d := co.delta.Diff; d != nil {
		fmt.Fprintf(out, " (%d advisory added, %d changed, %d withdrawn)", d.Added, d.Changed, d.Withdrawn)
	}
	fmt.Fprintln(out)
	all, err := cs.entries(ctx)
	if err != nil {
		return nil, err
	}
	for _, e := range all {
		if !e.HasVulnerability(advisory) {
			continue
		}
		co.affected = append(co.affected, e)
		rep := newestReport(e)
		fmt.Fprintf(out, "   %-16s %s  new signed report %s  now %s\n", cs.name(e.Repository), short(e), shortDigest(rep.Digest.Encoded()), severities(e.Vulnerabilities))
		for _, f := range findings(e, advisory) {
			fmt.Fprintf(out, "   %-16s %s %s (%s) in %s %s, fixed in %s\n", "", f.Severity, f.ID, strings.Join(f.Aliases, ", "), f.Package, f.Version, orNone(f.FixedVersion))
		}
	}
	fmt.Fprintln(out)

	// Lifecycle: the platform team declares library/clean superseded, with
	// an end of life already past.
	if co.retired, err = cs.retire(ctx, out); err != nil {
		return nil, err
	}
	fmt.Fprintln(out)

	// Upstream: the publisher moves a tag; golden follows.
	if co.upstream, err = cs.followUpstream(ctx, out); err != nil {
		return nil, err
	}
	fmt.Fprintln(out)
	return &co, nil
}

// sweep installs db in the rescanner and waits until its sweep ends.
func (cs *catalogStage) sweep(ctx context.Context, db *osv.DB) (*catalog.Sweep, error) {
	sw, err := cs.rescan.SetDatabase(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("rescan: %w", err)
	}
	if sw == nil {
		return nil, fmt.Errorf("rescan: database %s started no sweep", db.Version())
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		got, err := cs.queue.Sweep(ctx, sw.ID)
		if err != nil {
			return nil, fmt.Errorf("rescan: %w", err)
		}
		if got.State != catalog.SweepRunning {
			if len(got.Failures) > 0 {
				return nil, fmt.Errorf("rescan: %s: %s", got.Failures[0].Job, got.Failures[0].Error)
			}
			return got, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// retire runs the lifecycle with an override that puts library/clean past
// its end of life, and prints the changes.
func (cs *catalogStage) retire(ctx context.Context, out io.Writer) ([]*lifecycle.Change, error) {
	eol := time.Now().UTC().AddDate(0, 0, -1).Truncate(24 * time.Hour)
	pol, err := lifecycle.Compile(lifecycle.Config{Overrides: []lifecycle.Override{{
		Repository:  matchExactly(cs.cfg.golden + "/" + sample.Clean),
		EndOfLife:   lifecycle.Date{Time: eol},
		Replacement: "registry.corp/golden/" + sample.Clean + ":2.0",
		Reason:      "superseded by clean 2.0",
		Author:      "platform team",
	}}})
	if err != nil {
		return nil, err
	}
	r, err := lifecycle.New(lifecycle.Options{Store: cs.store, Policy: pol, Open: cs.cfg.client.Repository, Signer: cs.cfg.signer,
		Verifier: cs.cfg.verifier, Identities: []string{cs.cfg.identity}, Sweeps: cs.queue, Coordinator: cs.queue, Logger: cs.cfg.logger})
	if err != nil {
		return nil, err
	}
	plan, _, err := r.Run(ctx)
	if err != nil {
		return nil, fmt.Errorf("lifecycle: %w", err)
	}
	fmt.Fprintf(out, "== lifecycle: %d images examined\n", plan.Entries)
	var retired []*lifecycle.Change
	marked := 0
	for _, c := range plan.Changes {
		if err := c.Err(); err != nil {
			return nil, fmt.Errorf("lifecycle: %s: %w", c.Repository, err)
		}
		if c.From == c.To {
			marked++ // a first signed marker that records the status
			continue
		}
		fmt.Fprintf(out, "   %-16s %s  %s -> %s  end of life %s (%s), signed marker %s\n", cs.name(c.Repository), shortDigest(c.Digest.Encoded()),
			orActive(c.From), c.To, c.EndOfLife.Format(time.DateOnly), c.Source, shortDigest(c.Marker.Encoded()))
		if c.Replacement != "" {
			fmt.Fprintf(out, "   %-16s replaced by %s\n", "", c.Replacement)
		}
		if c.To == catalog.StatusRetired {
			retired = append(retired, c)
		}
	}
	fmt.Fprintf(out, "   %d unchanged, %d more with a first signed lifecycle marker\n", plan.Unchanged, marked)
	return retired, nil
}

// serve serves the catalog portal on listen until ctx ends.
func (cs *catalogStage) serve(ctx context.Context, listen string, out io.Writer, ready func(url string)) error {
	opts := server.Options{Store: cs.store, Registry: cs.cfg.client, Sweeps: cs.queue, Tracks: cs.store, Title: "cssc demo catalog", Logger: cs.cfg.logger}
	if cs.requests != nil {
		opts.Requests = cs.requests // listed; the portal is read-only
	}
	h, err := server.New(opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	url := "http://" + ln.Addr().String() + "/"
	fmt.Fprintf(out, "catalog portal: %s (read-only; Ctrl-C to stop)\n", url)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready(url)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// entries returns every catalog entry, by repository.
func (cs *catalogStage) entries(ctx context.Context) ([]*catalog.Entry, error) {
	res, err := cs.store.Search(ctx, catalog.Query{Limit: catalog.MaxLimit})
	if err != nil {
		return nil, err
	}
	var out []*catalog.Entry
	for _, s := range res.Entries {
		e, err := cs.store.Get(ctx, s.Repository, s.Digest)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// name is a repository without the golden prefix ("library/clean").
func (cs *catalogStage) name(repository string) string {
	return strings.TrimPrefix(repository, cs.cfg.golden+"/")
}

func short(e *catalog.Entry) string { return shortDigest(e.Digest.Encoded()) }

func shortDigest(hex string) string {
	if len(hex) > 12 {
		return hex[:12]
	}
	return hex
}

// severities says "critical 1, high 0, ..." or why there are no counts.
func severities(v catalog.VulnerabilitySummary) string {
	if !v.Scanned {
		return "not scanned"
	}
	return fmt.Sprintf("critical %d, high %d, medium %d, low %d, unknown %d", v.Critical, v.High, v.Medium, v.Low, v.Unknown)
}

// outcomes says "1 written, 2 unchanged", in key order.
func outcomes(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// newestReport is the entry's newest trusted vulnerability report.
func newestReport(e *catalog.Entry) catalog.Report {
	var newest catalog.Report
	for _, r := range e.Reports {
		if r.Trusted && r.Kind == "vulnerability" && !r.Time.Before(newest.Time) {
			newest = r
		}
	}
	return newest
}

// findings are the entry's findings named id (or aliased so), once each.
func findings(e *catalog.Entry, id string) []catalog.Finding {
	seen := map[string]bool{}
	var out []catalog.Finding
	for _, c := range e.Children {
		for _, f := range c.Findings {
			if (f.ID == id || slices.Contains(f.Aliases, id)) && !seen[f.ID+f.Package] {
				seen[f.ID+f.Package] = true
				out = append(out, f)
			}
		}
	}
	return out
}

func orActive(s catalog.Status) catalog.Status {
	if s == "" {
		return catalog.StatusActive
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// matchExactly escapes s so that path.Match matches s alone (a temporary
// directory may hold pattern characters).
func matchExactly(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
