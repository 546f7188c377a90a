// Command acquire is the reference CLI of the Acquire stage: it runs the cssc
// pipeline for the images named in a configuration file (or on the command
// line) and reports, per image, the decision and why.
//
//	go run ./examples/acquire -config acquire.yaml [-json records.json] [IMAGE...]
//
// Exit status: 0 when every image was promoted (or was already), 3 when at
// least one was denied by the policy and none failed, 1 on errors. The
// configuration file is documented in README.md beside this file.
package main

import (
	"context"
	"crypto"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/sbom/scalibr"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/clamav"
	"github.com/cssc-go/cssc/scan/osv"
	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/cosign"
	"github.com/cssc-go/cssc/sign/notation"
)

// Exit statuses.
const (
	exitOK     = 0
	exitError  = 1
	exitDenied = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("acquire", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (required)")
	jsonPath := fs.String("json", "", "write the run records as JSON to this file")
	verbose := fs.Bool("v", false, "debug logs on stderr")
	progress := fs.String("progress", "auto", "progress display: auto, bars (terminal) or plain")
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	if *configPath == "" {
		fmt.Fprintln(stderr, "acquire: -config is required")
		fs.Usage()
		return exitError
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintln(stderr, "acquire:", err)
		return exitError
	}
	bars := *progress == "bars" || (*progress == "auto" && isTerminal(stdout))
	display := newDisplay(stdout, bars)
	p, client, err := build(ctx, cfg, logger, display.event)
	if err != nil {
		fmt.Fprintln(stderr, "acquire:", err)
		return exitError
	}

	var sources []acquireSource
	images := fs.Args()
	if len(images) > 0 {
		for _, img := range images {
			sources = append(sources, acquireSource{ref: img})
		}
	} else {
		for _, s := range cfg.Sources {
			refs, err := s.expand(ctx, client)
			if err != nil {
				fmt.Fprintf(stderr, "acquire: %s: %v\n", s.Image, err)
				return exitError
			}
			for _, r := range refs {
				sources = append(sources, acquireSource{ref: r, platforms: s.Platforms})
			}
		}
	}
	if len(sources) == 0 {
		fmt.Fprintln(stderr, "acquire: no images: name them on the command line or under sources in the configuration")
		return exitError
	}

	records := make([]*acquire.Record, len(sources))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(cfg.Concurrency, 1))
	for i, s := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ictx, cancel := imageContext(ctx, cfg.Limits.ImageTimeout)
			defer cancel()
			records[i], _ = p.Run(ictx, s.ref, acquire.RunOptions{Platforms: s.platforms})
		}()
	}
	wg.Wait()
	display.done()

	status := exitOK
	for _, rec := range records {
		fmt.Fprintf(stdout, "%-9s %s", strings.ToUpper(string(rec.Outcome)), rec.Source)
		if rec.Digest != "" {
			fmt.Fprintf(stdout, "@%s", rec.Digest)
		}
		fmt.Fprintf(stdout, "\n          %s\n", rec.Reason)
		switch rec.Outcome {
		case acquire.OutcomeDenied:
			if status == exitOK {
				status = exitDenied
			}
		case acquire.OutcomeError:
			status = exitError
		}
	}
	if *jsonPath != "" {
		data, err := json.MarshalIndent(records, "", "  ")
		if err == nil {
			err = os.WriteFile(*jsonPath, data, 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "acquire: write records:", err)
			return exitError
		}
	}
	return status
}

// imageContext is the context of one image's run: ctx with the image
// deadline (default 30 minutes, none when negative), so that an upstream
// that trickles bytes forever cannot hold a run.
func imageContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout == 0 {
		timeout = defaultImageTimeout
	}
	if timeout < 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, timeout)
}

type acquireSource struct {
	ref       string
	platforms []string
}

// build turns the configuration into a pipeline.
func build(ctx context.Context, cfg *Config, logger *slog.Logger, onEvent func(acquire.Event)) (*acquire.Pipeline, *registry.Client, error) {
	opts := registry.Options{PlainHTTP: cfg.PlainHTTP, Logger: logger,
		StallTimeout: cfg.Limits.StallTimeout, MaxRetries: cfg.Limits.Retries}
	if cfg.DockerConfig != "" {
		creds, err := registry.DockerCredentials(cfg.path(cfg.DockerConfig))
		if err != nil {
			return nil, nil, err
		}
		opts.Credentials = creds
	}
	client := registry.NewClient(opts)

	// Publisher verifiers.
	var verifiers sign.Multi
	if cfg.Trust.Notation != "" {
		v, err := notationVerifier(cfg.path(cfg.Trust.Notation), cfg.Trust.Revocation, logger)
		if err != nil {
			return nil, nil, fmt.Errorf("trust.notation: %w", err)
		}
		verifiers = append(verifiers, v)
	}
	if len(cfg.Trust.CosignKeys) > 0 {
		var keys []crypto.PublicKey
		for _, k := range cfg.Trust.CosignKeys {
			data, err := os.ReadFile(cfg.path(k))
			if err != nil {
				return nil, nil, fmt.Errorf("trust.cosignKeys: %w", err)
			}
			key, err := cosign.ParsePublicKey(data)
			if err != nil {
				return nil, nil, fmt.Errorf("trust.cosignKeys: %s: %w", k, err)
			}
			keys = append(keys, key)
		}
		v, err := cosign.New(cosign.Options{PublicKeys: keys, IgnoreTransparencyLogUnsafe: true, Logger: logger})
		if err != nil {
			return nil, nil, fmt.Errorf("trust.cosignKeys: %w", err)
		}
		verifiers = append(verifiers, v)
	}

	// The enterprise signer.
	var signer sign.Signer
	var err error
	if pl := cfg.Signing.Plugin; pl != nil {
		signer, err = notation.NewPluginSigner(ctx, cfg.path(pl.Dir), pl.Name, pl.KeyID, notation.SignerOptions{Logger: logger})
	} else {
		signer, err = notation.NewSignerFromFiles(cfg.path(cfg.Signing.Key), cfg.path(cfg.Signing.Certificate), notation.SignerOptions{Logger: logger})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("signing: %w", err)
	}
	var self sign.Verifier
	if cfg.Signing.Verify != "" {
		v, err := notationVerifier(cfg.path(cfg.Signing.Verify), cfg.Trust.Revocation, logger)
		if err != nil {
			return nil, nil, fmt.Errorf("signing.verify: %w", err)
		}
		self = v
	}

	// Scanners.
	db, err := osv.Load(ctx, cfg.path(cfg.OSV), osv.Options{Logger: logger})
	if err != nil {
		return nil, nil, fmt.Errorf("osv: %w", err)
	}
	scanners := []scan.Scanner{osv.NewScanner(db)}
	if cfg.Clamd != "" {
		cl, err := clamav.New(clamav.Options{Address: cfg.Clamd, Logger: logger})
		if err != nil {
			return nil, nil, fmt.Errorf("clamd: %w", err)
		}
		scanners = append(scanners, cl)
	}

	// Policy and lifecycle.
	raw, err := os.ReadFile(cfg.path(cfg.Policy))
	if err != nil {
		return nil, nil, err
	}
	doc, err := policy.Parse(raw)
	if err != nil {
		return nil, nil, err
	}
	pol, err := policy.Compile(doc)
	if err != nil {
		return nil, nil, err
	}
	lc, err := lifecycle(cfg.Lifecycle)
	if err != nil {
		return nil, nil, err
	}
	builder := cfg.BuilderID
	if builder == "" {
		builder = "https://github.com/cssc-go/cssc/examples/acquire"
	}
	pc := acquire.Config{
		Client:     client,
		Importer:   acquire.NewImporter(client, acquire.ImporterOptions{BlobAttempts: cfg.Limits.BlobAttempts, Logger: logger}),
		Quarantine: cfg.Quarantine,
		Golden:     cfg.Golden,
		Scanners:   scanners,
		SBOM: &attest.SBOMEnricher{
			Generate: func(ctx context.Context, s *attest.Subject) (*sbom.Document, error) {
				return scalibr.Generate(ctx, s.Content, s.Descriptor, scalibr.Options{Logger: logger})
			},
			// One walk per platform feeds SBOM generation and clamd.
			Start: func(ctx context.Context, s *attest.Subject) (attest.SBOMFiles, error) {
				return scalibr.Start(s.Descriptor, scalibr.Options{Logger: logger})
			},
		},
		Provenance:                &attest.ProvenanceEnricher{BuilderID: builder},
		Lifecycle:                 lc,
		Signer:                    signer,
		EnterpriseVerifier:        self,
		Policy:                    pol,
		PolicyRef:                 &attest.PolicyRef{Name: pol.Name(), URI: cfg.Policy, Digest: digest.Digest(pol.Digest())},
		PromotePublisherArtifacts: true,
		Concurrency:               cfg.Concurrency,
		OnEvent:                   onEvent,
		Logger:                    logger,
	}
	if len(verifiers) > 0 {
		pc.PublisherVerifier = verifiers
	}
	p, err := acquire.NewPipeline(pc)
	return p, client, err
}

func notationVerifier(dir, revocation string, logger *slog.Logger) (*notation.Verifier, error) {
	tp, ts, err := notation.LoadConfigDir(dir)
	if err != nil {
		return nil, err
	}
	rev := notation.RevocationOffline
	switch revocation {
	case "", "offline":
	case "online":
		rev = notation.RevocationOnline
	case "skip":
		rev = notation.RevocationSkipUnsafe
	default:
		return nil, fmt.Errorf("revocation %q: want online, offline or skip", revocation)
	}
	return notation.NewVerifier(notation.VerifierOptions{TrustPolicy: tp, TrustStore: ts, Revocation: rev, Logger: logger})
}

func lifecycle(l Lifecycle) (attest.Enricher, error) {
	if l.EndOfLife == "" && len(l.Rules) == 0 {
		return nil, nil
	}
	e := &attest.LifecycleEnricher{}
	if l.EndOfLife != "" {
		d, err := attest.ParseDate(l.EndOfLife)
		if err != nil {
			return nil, fmt.Errorf("lifecycle.endOfLife: %w", err)
		}
		e.EndOfLife = d
	}
	for i, r := range l.Rules {
		d, err := attest.ParseDate(r.EndOfLife)
		if err != nil {
			return nil, fmt.Errorf("lifecycle.rules[%d].endOfLife: %w", i, err)
		}
		e.Rules = append(e.Rules, attest.LifecycleRule{Repository: r.Repository, Tag: r.Tag, EndOfLife: d})
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// display shows progress: a redrawn status line per image on a terminal,
// one line per step otherwise.
type display struct {
	mu     sync.Mutex
	w      io.Writer
	bars   bool
	lines  map[string]string
	order  []string
	drawn  int
	last   time.Time
	closed bool
}

func newDisplay(w io.Writer, bars bool) *display {
	return &display{w: w, bars: bars, lines: map[string]string{}}
}

func (d *display) event(e acquire.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	if !d.bars {
		if e.Blob == nil && e.Verdict != "" {
			fmt.Fprintf(d.w, "%s: %s %s: %s\n", e.Source, e.Step, e.Verdict, e.Message)
		}
		return
	}
	if _, ok := d.lines[e.Source]; !ok {
		d.order = append(d.order, e.Source)
	}
	line := fmt.Sprintf("%-8s", e.Step)
	if e.Blob != nil && e.Blob.Total > 0 {
		line += " " + bar(e.Blob.Done, e.Blob.Total, 30) + fmt.Sprintf(" %s %s", e.Blob.Descriptor.Digest.Encoded()[:12], humanBytes(e.Blob.Total))
	} else if e.Verdict != "" {
		line += " " + string(e.Verdict)
	} else {
		line += " ..."
	}
	d.lines[e.Source] = line
	if e.Blob != nil && time.Since(d.last) < 100*time.Millisecond {
		return
	}
	d.redraw()
}

func (d *display) redraw() {
	d.last = time.Now()
	if d.drawn > 0 {
		fmt.Fprintf(d.w, "\x1b[%dA", d.drawn)
	}
	for _, src := range d.order {
		fmt.Fprintf(d.w, "\x1b[2K%s  %s\n", src, d.lines[src])
	}
	d.drawn = len(d.order)
}

func (d *display) done() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bars && d.drawn > 0 {
		d.redraw()
	}
	d.closed = true
}

func bar(done, total int64, width int) string {
	n := int(int64(width) * done / max(total, 1))
	return "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "]"
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
