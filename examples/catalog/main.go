// Command catalog runs the Catalog stage as a service:
//
//	go run ./examples/catalog -config catalog.yaml
//
// It indexes a golden registry (or OCI layout) into a catalog store
// (SQLite for one instance, PostgreSQL for several sharing the work),
// reconciles it periodically with HEAD requests, rescans the images against
// an offline OSV database (a new database put in place is diffed and only
// the affected images are rescanned) and, when clamd is configured, for
// malware, runs the lifecycle (deprecation and retirement past end of life)
// when configured, takes requests for images and, with an Acquire pipeline
// configured, acquires the approved ones and follows the tags publishers
// move upstream, sends events to webhooks, and serves the catalog's API and
// web portal. See README.md for the configuration.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/event/webhook"
	"github.com/cssc-go/cssc/catalog/postgres"
	"github.com/cssc-go/cssc/catalog/rescan"
	"github.com/cssc-go/cssc/catalog/server"
	"github.com/cssc-go/cssc/catalog/sqlite"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/scan/clamav"
	"github.com/cssc-go/cssc/scan/osv"
	"github.com/cssc-go/cssc/sign/notation"
)

func main() {
	cfgPath := flag.String("config", "", "configuration file (YAML; see README.md)")
	verbose := flag.Bool("v", false, "debug logs")
	flag.Parse()
	if *cfgPath == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: catalog -config FILE [-v]")
		os.Exit(2)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		logger.Error("configuration", "err", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, logger, func(addr string) {
		logger.Info("serving the catalog API and portal", "url", "http://"+addr+"/")
	}); err != nil {
		logger.Error("catalog service", "err", err)
		os.Exit(1)
	}
}

// store is what the service needs from a catalog store: entries, the job
// queue, cluster locks, sweep records, requests and upstream tracks.
// catalog/sqlite and catalog/postgres are all six.
type store interface {
	catalog.Store
	catalog.Queue
	catalog.Coordinator
	catalog.SweepLog
	catalog.RequestStore
	catalog.TrackStore
}

var (
	_ store = (*sqlite.Store)(nil)
	_ store = (*postgres.Store)(nil)
)

func openStore(ctx context.Context, cfg *Config, logger *slog.Logger) (store, error) {
	if cfg.Store.SQLite != "" {
		return sqlite.Open(ctx, cfg.path(cfg.Store.SQLite), sqlite.Options{Logger: logger})
	}
	dsn, err := secret(cfg.Store.Postgres)
	if err != nil {
		return nil, fmt.Errorf("store.postgres: %w", err)
	}
	return postgres.Open(ctx, dsn, postgres.Options{Logger: logger})
}

// serve runs the service until ctx ends; ready, if set, is called with the
// address once the listener is open.
func serve(ctx context.Context, cfg *Config, logger *slog.Logger, ready func(addr string)) error {
	ropts := registry.Options{PlainHTTP: cfg.Golden.PlainHTTP, Logger: logger}
	if cfg.Golden.DockerConfig != "" {
		creds, err := registry.DockerCredentials(cfg.path(cfg.Golden.DockerConfig))
		if err != nil {
			return fmt.Errorf("golden.dockerConfig: %w", err)
		}
		ropts.Credentials = creds
	}
	client := registry.NewClient(ropts)
	golden := cfg.location(cfg.Golden.Location)

	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer st.Close()

	tp, ts, err := notation.LoadConfigDir(cfg.path(cfg.Signing.Verify))
	if err != nil {
		return fmt.Errorf("signing.verify: %w", err)
	}
	verifier, err := notation.NewVerifier(notation.VerifierOptions{TrustPolicy: tp, TrustStore: ts, Revocation: notation.RevocationOffline, Logger: logger})
	if err != nil {
		return fmt.Errorf("signing.verify: %w", err)
	}
	signer, err := notation.NewSignerFromFiles(cfg.path(cfg.Signing.Key), cfg.path(cfg.Signing.Certificate), notation.SignerOptions{Logger: logger})
	if err != nil {
		return fmt.Errorf("signing: %w", err)
	}

	events, err := sinks(cfg, logger)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = events.Close(cctx)
	}()

	cataloger, err := catalog.NewCataloger(catalog.CatalogerOptions{Verifier: verifier, Identities: cfg.Signing.Identities, Logger: logger})
	if err != nil {
		return err
	}
	syncer, err := catalog.NewSyncer(client, cataloger, st, catalog.SyncOptions{Logger: logger, OnTagEvent: func(te catalog.TagEvent) {
		if ev, err := event.TagMoved("/catalog/sync", te); err == nil && ev != nil {
			_ = events.Emit(context.WithoutCancel(ctx), *ev)
		}
	}})
	if err != nil {
		return err
	}

	db, err := osv.Load(ctx, cfg.path(cfg.OSV.Path), osv.Options{Logger: logger})
	if err != nil {
		return fmt.Errorf("osv: %w", err)
	}
	ro := rescan.Options{Store: st, Queue: st, Coordinator: st, Sweeps: st, Open: client.Repository, Signer: signer, Verifier: verifier,
		Events: events, Keep: cfg.Rescan.Keep, MaxAge: cfg.Rescan.MaxAge, Interval: cfg.Rescan.Interval, Rate: cfg.Rescan.Rate,
		Concurrency: cfg.Rescan.Concurrency, Poll: cfg.Rescan.Poll, Logger: logger}
	if cfg.Clamd != "" {
		cl, err := clamav.New(clamav.Options{Address: cfg.Clamd, Logger: logger})
		if err != nil {
			return fmt.Errorf("clamd: %w", err)
		}
		defer cl.Close()
		ro.Malware = cl
		ro.MalwareVersion = func(ctx context.Context) (string, error) {
			v, err := cl.Version(ctx)
			return v.String(), err
		}
	}
	rescanner, err := rescan.New(ro)
	if err != nil {
		return err
	}

	lc, err := newLifecycle(cfg, st, client, signer, verifier, events, logger)
	if err != nil {
		return err
	}
	acquirer, tracker, err := newAcquisition(ctx, cfg, golden, st, client, syncer, lc, signer, verifier, events, logger)
	if err != nil {
		return err
	}

	so := server.Options{Store: st, Registry: client, Sweeps: st, Tracks: st, Title: cfg.Title, Logger: logger,
		Rescanner: server.RescannerFunc(func(ctx context.Context, repository string, d digest.Digest) error {
			_, err := rescanner.Request(ctx, repository, d, false)
			return err
		}),
		Owners: server.StoreOwners{Store: st},
	}
	if len(cfg.Access.proxies) > 0 {
		so.Authorizer = proxyAuthorizer{a: cfg.Access, r: cfg.Requests}
		so.Identifier = proxyAuthorizer{a: cfg.Access, r: cfg.Requests}
	}
	so.Access = cfg.Access.policy
	if lc != nil {
		so.Retirer = server.RetirerFunc(lc.retire)
	}
	reqs, err := newRequests(cfg, st, acquirer, syncer, events, logger)
	if err != nil {
		return err
	}
	if reqs != nil {
		so.Requests = reqs
	}
	h, err := server.New(so)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	if ready != nil {
		ready(ln.Addr().String())
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	reconcile := func(ctx context.Context) {
		rep, err := syncer.Reconcile(ctx, golden)
		if err != nil {
			logger.Warn("reconcile", "golden", golden, "err", err)
			return
		}
		logger.Info("reconciled", "golden", golden, "repositories", rep.Repositories, "tags", rep.Tags,
			"catalogued", rep.Catalogued, "retagged", rep.Retagged, "unchanged", rep.Unchanged, "failures", len(rep.Failures))
		for _, f := range rep.Failures {
			logger.Warn("reconcile failure", "failure", fmt.Sprint(f))
		}
	}
	install := func(ctx context.Context, db *osv.DB) {
		sw, err := rescanner.SetDatabase(ctx, db)
		switch {
		case err != nil:
			logger.Warn("vulnerability database", "version", db.Version(), "err", err)
		case sw != nil:
			logger.Info("vulnerability database installed", "version", db.Version(), "sweep", sw.ID, "kind", sw.Kind, "images", sw.Images)
		default:
			logger.Info("vulnerability database installed", "version", db.Version())
		}
	}
	// Start: index the registry, install the database (its sweep covers
	// what was indexed), run the lifecycle; then each on its own period.
	g.Go(func() error {
		current := fingerprint(cfg.path(cfg.OSV.Path))
		reconcile(gctx)
		install(gctx, db)
		if lc != nil {
			lc.run(gctx)
		}
		loops, lctx := errgroup.WithContext(gctx)
		loops.Go(func() error { return after(lctx, cfg.Golden.Reconcile, reconcile) })
		// A new database put in place: load it, and install it when it
		// loads (a broken one leaves the current one in force).
		loops.Go(func() error {
			return after(lctx, cfg.OSV.Check, func(ctx context.Context) {
				fp := fingerprint(cfg.path(cfg.OSV.Path))
				if fp == current || fp == "" {
					return
				}
				next, err := osv.Load(ctx, cfg.path(cfg.OSV.Path), osv.Options{Logger: logger})
				if err != nil {
					logger.Warn("new vulnerability database not loaded; keeping the current one", "err", err)
					return
				}
				current = fp
				install(ctx, next)
			})
		})
		if lc != nil {
			loops.Go(func() error { return after(lctx, cfg.Lifecycle.Interval, lc.run) })
		}
		return loops.Wait()
	})
	g.Go(func() error {
		if err := rescanner.Run(gctx); err != nil && gctx.Err() == nil {
			return fmt.Errorf("rescans: %w", err)
		}
		return nil
	})
	if tracker != nil {
		// Sweeps every upstream.interval (the first at once: it also
		// discovers the golden tags to track), checks and acquisitions.
		g.Go(func() error {
			if err := tracker.Run(gctx); err != nil && gctx.Err() == nil {
				return fmt.Errorf("upstream tracking: %w", err)
			}
			return nil
		})
	}
	if reqs != nil && acquirer != nil {
		// The acquisitions of approved requests, through the pipeline.
		g.Go(func() error {
			if err := reqs.Run(gctx); err != nil && gctx.Err() == nil {
				return fmt.Errorf("requests: %w", err)
			}
			return nil
		})
	}
	err = g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// after runs f every interval, starting one interval from now, until ctx
// ends.
func after(ctx context.Context, interval time.Duration, f func(ctx context.Context)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			f(ctx)
		}
	}
}

// fingerprint identifies the files under path by name, size and
// modification time, so that a database replaced in place is noticed
// without reading it. It returns "" when path cannot be read.
func fingerprint(path string) string {
	h := sha256.New()
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\n", p, info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sinks returns where events go: every webhook (filtered by type) and the
// log, in the background.
func sinks(cfg *Config, logger *slog.Logger) (*event.AsyncSink, error) {
	all := []event.Sink{event.Func(func(ctx context.Context, e event.Event) error {
		logger.Info("event", "type", e.Type, "subject", e.Subject, "id", e.ID)
		return nil
	})}
	for i, w := range cfg.Webhooks {
		s, err := secret(w.Secret)
		if err != nil {
			return nil, fmt.Errorf("webhooks[%d].secret: %w", i, err)
		}
		sender, err := webhook.New(webhook.Options{URL: w.URL, Secret: []byte(s), Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("webhooks[%d]: %w", i, err)
		}
		// Only the events about images the receiver's groups may see.
		var sink event.Sink = event.Restrict(sender, cfg.Access.policy.For(w.Groups...))
		if len(w.Types) > 0 {
			restricted := sink
			types := w.Types
			sink = event.Func(func(ctx context.Context, e event.Event) error {
				if !slices.Contains(types, e.Type) {
					return nil
				}
				return restricted.Emit(ctx, e)
			})
		}
		all = append(all, sink)
	}
	return event.Async(event.Multi(all...), event.AsyncOptions{Logger: logger}), nil
}

var _ server.GroupIdentifier = proxyAuthorizer{}

// proxyAuthorizer trusts the identity headers of requests that come from
// an authenticating proxy, and allows writes to members of the writer
// groups. Requests from elsewhere are unauthenticated, whatever headers
// they carry.
type proxyAuthorizer struct {
	a Access
	r *Requests // nil: no requests
}

// Identify names the caller: the user header of a request from a proxy,
// "" otherwise.
func (p proxyAuthorizer) Identify(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !slices.ContainsFunc(p.a.proxies, func(pr netip.Prefix) bool { return pr.Contains(addr.Unmap()) }) {
		return ""
	}
	return strings.TrimSpace(r.Header.Get(p.a.UserHeader))
}

// Groups names the caller's groups: the groups header (comma-separated)
// of a request from a proxy that names a user, none otherwise (an
// outsider, who sees public images only).
func (p proxyAuthorizer) Groups(r *http.Request) []string {
	if p.Identify(r) == "" {
		return nil
	}
	var out []string
	for g := range strings.SplitSeq(r.Header.Get(p.a.GroupsHeader), ",") {
		if g = strings.TrimSpace(g); g != "" {
			out = append(out, g)
		}
	}
	return out
}

// Authorize allows writes to members of the writer groups.
func (p proxyAuthorizer) Authorize(r *http.Request, a server.Action) error {
	user := p.Identify(r)
	if user == "" {
		return fmt.Errorf("%w: no user from an authenticating proxy", server.ErrUnauthenticated)
	}
	groups := p.Groups(r)
	if handled, err := p.authorizeRequest(user, groups, a); handled {
		return err
	}
	for _, g := range groups {
		if slices.Contains(p.a.Writers, g) {
			return nil
		}
	}
	return fmt.Errorf("%s is not in a writer group", user)
}
