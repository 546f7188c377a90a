// Command demo runs the whole Acquire stage offline, on a fresh machine, with
// nothing else running:
//
//	go run ./examples/demo
//
// It starts an in-process "external" registry on loopback seeded with sample
// images (a clean one, one with a critical vulnerability, one signed by its
// publisher with a publisher SBOM, a multi-arch index, and one carrying the
// EICAR test file when clamd is installed), uses OCI layout directories for
// quarantine and golden, signs with a generated development key, matches
// against a bundled OSV database, scans for malware with clamd when it is
// installed, and prints for each image the decision, why, and where its
// artifacts are. It then runs the Catalog stage over the golden images:
// it indexes them, installs a newer bundled OSV database and rescans only
// the image it affects, and retires an image past its end of life. Last,
// the publisher of the multi-arch image moves its tag to a patched
// rebuild: a tracking sweep sees the move with HEAD requests only, the new
// digest goes through the whole pipeline, the golden tag follows and the
// image it replaced is deprecated with a pointer to its replacement. With
// -serve it keeps the catalog portal running on loopback until interrupted.
package main

import (
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/sbom/scalibr"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/clamav"
	"github.com/cssc-go/cssc/scan/clamav/clamdtest"
	"github.com/cssc-go/cssc/scan/osv"
	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"
)

const demoPolicy = `
apiVersion: cssc.dev/policy/v1
name: demo-golden
version: "1"
description: What the demo's golden registry accepts.
mode: enforce
sources:
  allowed: ["127.0.0.1:*/**"]
vulnerabilities:
  maxSeverity: high        # critical findings are denied
  unfixed: report          # findings without a fix are reported, judged by severity
licenses:
  denied: ["GPL-3.0-only", "GPL-3.0-or-later", "AGPL-3.0-only", "AGPL-3.0-or-later"]
  unknown: warn
sbom: {required: true}
provenance: {required: true}
malware: {required: %t}
lifecycle: {minDaysBeforeEndOfLife: 30}
`

// options configure run.
type options struct {
	// dir holds the quarantine and golden OCI layouts and the updated
	// OSV database; empty means a new temporary directory.
	dir string
	// jsonOut, if set, receives the run records as JSON.
	jsonOut string
	// verbose logs what the pipeline does to stderr.
	verbose bool
	// serve keeps the catalog portal running on listen until ctx ends.
	serve  bool
	listen string
	// ready, if set, is called with the portal's URL once it listens.
	ready func(url string)
}

// enterpriseIdentity is the subject of the demo's golden signing
// certificate: the identity the catalog trusts.
const enterpriseIdentity = "C=US, ST=WA, O=cssc demo, CN=cssc demo golden signing"

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", "", "directory for the quarantine and golden OCI layouts (default: a new temporary directory)")
	flag.StringVar(&o.jsonOut, "json", "", "write the run records as JSON to this file")
	flag.BoolVar(&o.verbose, "v", false, "log what the pipeline does")
	flag.BoolVar(&o.serve, "serve", false, "after the run, serve the catalog portal until interrupted")
	flag.StringVar(&o.listen, "listen", "127.0.0.1:0", "address of the portal with -serve")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// outcome is what a run did, for its test.
type outcome struct {
	records  []*acquire.Record
	catalog  *catalogOutcome
	requests *requestOutcome
}

// run acquires the sample images, catalogs the golden ones, rescans and
// retires, and with o.serve serves the portal until ctx ends. It writes
// its account to out.
func run(ctx context.Context, o options, out io.Writer) (*outcome, error) {
	serveCtx := ctx
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	start := time.Now()
	logger := slog.New(slog.DiscardHandler)
	if o.verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "cssc-demo-")
		if err != nil {
			return nil, err
		}
		dir = d
	}

	// The "external" registry: a real OCI registry on loopback.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	handler, err := registrytest.NewHandler(registrytest.OCI)
	if err != nil {
		return nil, err
	}
	requests := &requestCounter{next: handler}
	srv := &http.Server{Handler: requests, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	upstream := ln.Addr().String()
	client := registry.NewClient(registry.Options{PlainHTTP: []string{upstream}, Logger: logger})

	// Malware scanning, when clamd is installed.
	scanners := []scan.Scanner{}
	db, err := osv.LoadFS(ctx, sample.OSV(), osv.Options{Logger: logger})
	if err != nil {
		return nil, err
	}
	// Acquisitions match against the newest database the demo installed
	// (the catalog stage installs a newer one before the upstream move).
	var vulnDB atomic.Pointer[osv.DB]
	vulnDB.Store(db)
	scanners = append(scanners, scan.ScannerFunc(func(ctx context.Context, img *scan.Image) (*scan.Report, error) {
		return osv.NewScanner(vulnDB.Load()).Scan(ctx, img)
	}))
	var eicar []byte
	malware := "clamd is not installed: no malware scan (apt-get install clamav-daemon to add it)"
	clamdDir, err := os.MkdirTemp("", "clamd")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(clamdDir)
	if clamd, err := clamdtest.Launch(clamdDir, clamdtest.Options{}); err == nil {
		defer clamd.Stop()
		cl, err := clamav.New(clamav.Options{Address: clamd.Address, Logger: logger})
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		scanners = append(scanners, cl)
		eicar = clamdtest.EICAR()
		malware = "clamd " + clamd.Address + " with a test signature database (EICAR)"
	} else if !errors.Is(err, clamdtest.ErrNotInstalled) {
		malware = "clamd did not start (" + err.Error() + "): no malware scan"
	}

	world, err := sample.Seed(ctx, client, upstream, sample.Options{EICAR: eicar})
	if err != nil {
		return nil, fmt.Errorf("seed the upstream registry: %w", err)
	}

	// The enterprise signing key: a development CA, NOT for production.
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{})
	if err != nil {
		return nil, err
	}
	leaf, err := ca.Issue(devpki.LeafOptions{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"cssc demo"}, CommonName: "cssc demo golden signing"}})
	if err != nil {
		return nil, err
	}
	signer, err := notation.NewSigner(leaf.Key, leaf.Chain, notation.SignerOptions{})
	if err != nil {
		return nil, err
	}
	// Trust policies as notation users write them: the publisher's names
	// the repository it publishes (what `notation verify` needs upstream);
	// golden is an OCI layout directory, whose scope is notation's local
	// scope (notation.DefaultLocalScope).
	enterprise, err := sample.Verifier("enterprise", ca, enterpriseIdentity, notation.DefaultLocalScope)
	if err != nil {
		return nil, err
	}
	publisher, err := sample.Verifier("publisher", world.PublisherCA, world.PublisherIdentity, registry.Join(upstream, sample.Signed))
	if err != nil {
		return nil, err
	}

	doc, err := policy.Parse(fmt.Appendf(nil, demoPolicy, eicar != nil))
	if err != nil {
		return nil, err
	}
	pol, err := policy.Compile(doc)
	if err != nil {
		return nil, err
	}

	quarantine, golden := "oci:"+filepath.Join(dir, "quarantine"), "oci:"+filepath.Join(dir, "golden")
	p, err := acquire.NewPipeline(acquire.Config{
		Client:            client,
		Quarantine:        quarantine,
		Golden:            golden,
		PublisherVerifier: publisher,
		Scanners:          scanners,
		SBOM: &attest.SBOMEnricher{
			Generate: func(ctx context.Context, s *attest.Subject) (*sbom.Document, error) {
				return scalibr.Generate(ctx, s.Content, s.Descriptor, scalibr.Options{Logger: logger})
			},
			// One walk per platform feeds SBOM generation and clamd.
			Start: func(ctx context.Context, s *attest.Subject) (attest.SBOMFiles, error) {
				return scalibr.Start(s.Descriptor, scalibr.Options{Logger: logger})
			},
		},
		Provenance:                &attest.ProvenanceEnricher{BuilderID: "https://github.com/cssc-go/cssc/examples/demo", BuilderVersion: "demo"},
		Lifecycle:                 &attest.LifecycleEnricher{EndOfLife: time.Now().AddDate(1, 0, 0).UTC().Truncate(24 * time.Hour)},
		Signer:                    signer,
		EnterpriseVerifier:        enterprise,
		Policy:                    pol,
		PolicyRef:                 &attest.PolicyRef{Name: pol.Name(), Digest: digest.Digest(pol.Digest())},
		PromotePublisherArtifacts: true,
		Logger:                    logger,
	})
	if err != nil {
		return nil, err
	}

	fmt.Fprintf(out, "cssc demo: acquiring %d images from the upstream registry %s\n", len(world.Images), upstream)
	fmt.Fprintf(out, "  quarantine: %s\n  golden:     %s\n  malware:    %s\n  signing:    development CA (not for production)\n\n", quarantine, golden, malware)

	var sources []string
	for _, img := range world.Images {
		sources = append(sources, img.Location)
	}
	records, _ := p.RunAll(ctx, sources, acquire.RunOptions{})

	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for i, rec := range records {
		fmt.Fprintf(w, "%s\t%s\t%s\n", world.Images[i].Name+":"+sample.Tag, strings.ToUpper(string(rec.Outcome)), world.Images[i].Description)
	}
	w.Flush()
	fmt.Fprintln(out)
	for i, rec := range records {
		fmt.Fprintf(out, "== %s:%s  %s\n", world.Images[i].Name, sample.Tag, strings.ToUpper(string(rec.Outcome)))
		fmt.Fprintf(out, "   digest %s", rec.Digest)
		if len(rec.Platforms) > 0 {
			fmt.Fprintf(out, "  platforms %s", strings.Join(rec.Platforms, ", "))
		}
		fmt.Fprintln(out)
		for _, s := range rec.Steps {
			fmt.Fprintf(out, "   %-18s %-8s %s\n", s.Name, s.Verdict, s.Reason)
		}
		if rec.Decision != nil {
			for _, r := range rec.Decision.Rules {
				if r.Verdict != policy.Pass {
					fmt.Fprintf(out, "   policy rule %-14s %-5s %s\n", r.Rule, r.Verdict, r.Reason)
				}
			}
		}
		switch rec.Outcome {
		case acquire.OutcomePromoted, acquire.OutcomeAudited:
			fmt.Fprintf(out, "   golden: %s:%s with %d artifact(s) and signatures\n", rec.Golden, sample.Tag, len(rec.Promoted)-1)
		default:
			fmt.Fprintf(out, "   kept in quarantine: %s@%s (%d artifact(s) attached)\n", rec.Quarantine, rec.Digest, len(rec.Artifacts))
		}
		fmt.Fprintln(out)
	}
	if o.jsonOut != "" {
		data, err := json.MarshalIndent(records, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(o.jsonOut, data, 0o644); err != nil {
			return nil, err
		}
		fmt.Fprintln(out, "run records written to", o.jsonOut)
	}

	cs, err := newCatalogStage(catalogConfig{client: client, golden: golden, dir: dir, db: db, signer: signer,
		verifier: enterprise, identity: enterpriseIdentity, logger: logger,
		pipeline: p, upstream: upstream, requests: requests, installDB: vulnDB.Store})
	if err != nil {
		return nil, err
	}
	defer cs.close()
	co, err := cs.run(ctx, out)
	if err != nil {
		return nil, err
	}
	ro, err := cs.requestDemo(ctx, out, p, upstream)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "done in %s; the OCI layouts are in %s\n", time.Since(start).Round(time.Millisecond), dir)
	if o.serve {
		if err := cs.serve(serveCtx, o.listen, out, o.ready); err != nil {
			return nil, err
		}
	}
	return &outcome{records: records, catalog: co, requests: ro}, nil
}
