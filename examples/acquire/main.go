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

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/examples/internal/pipeline"
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
	p, client, err := pipeline.Build(ctx, &cfg.Config, pipeline.Options{Logger: logger, OnEvent: display.event})
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
		timeout = pipeline.DefaultImageTimeout
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
