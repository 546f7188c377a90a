package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/lifecycle"
	"github.com/cssc-go/cssc/catalog/server"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
)

// lifecycleRunner runs the lifecycle periodically.
type lifecycleRunner struct {
	r      *lifecycle.Runner
	logger *slog.Logger
}

// run plans and applies the lifecycle once, and logs what changed.
func (l *lifecycleRunner) run(ctx context.Context) {
	plan, sw, err := l.r.Run(ctx)
	if err != nil {
		l.logger.Warn("lifecycle run", "err", err)
		return
	}
	l.logger.Info("lifecycle run", "sweep", sw.ID, "entries", plan.Entries, "unchanged", plan.Unchanged, "changes", len(plan.Changes))
	for _, c := range plan.Changes {
		if c.Error != "" {
			l.logger.Warn("lifecycle change failed", "repository", c.Repository, "digest", c.Digest, "kind", c.Kind, "err", c.Error)
			continue
		}
		l.logger.Info("lifecycle change", "repository", c.Repository, "digest", c.Digest, "kind", c.Kind,
			"from", c.From, "to", c.To, "endOfLife", c.EndOfLife, "reason", c.Reason)
	}
}

// retire retires one image by hand (the portal's and API's Retire).
func (l *lifecycleRunner) retire(ctx context.Context, req server.RetireRequest) error {
	c, err := l.r.Retire(ctx, lifecycle.RetireRequest{Repository: req.Repository, Digest: req.Digest,
		Replacement: req.Replacement, Reason: req.Reason, Author: req.Author})
	if err != nil {
		return err
	}
	l.logger.Info("retired by hand", "repository", c.Repository, "digest", c.Digest, "author", req.Author, "reason", req.Reason)
	return nil
}

// newLifecycle returns the lifecycle runner the configuration asks for, or
// nil when lifecycle is off.
func newLifecycle(cfg *Config, st store, client *registry.Client, signer sign.Signer, verifier sign.Verifier, events event.Sink, logger *slog.Logger) (*lifecycleRunner, error) {
	if cfg.Lifecycle.Config == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(cfg.path(cfg.Lifecycle.Config))
	if err != nil {
		return nil, fmt.Errorf("lifecycle.config: %w", err)
	}
	lc, err := lifecycle.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("lifecycle.config: %w", err)
	}
	if cfg.Lifecycle.Releases != "" {
		f, err := os.Open(cfg.path(cfg.Lifecycle.Releases))
		if err != nil {
			return nil, fmt.Errorf("lifecycle.releases: %w", err)
		}
		rel, err := lifecycle.ReadReleases(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("lifecycle.releases: %w", err)
		}
		lc.Releases = rel
	}
	pol, err := lifecycle.Compile(*lc)
	if err != nil {
		return nil, fmt.Errorf("lifecycle.config: %w", err)
	}
	r, err := lifecycle.New(lifecycle.Options{Store: st, Policy: pol, Open: client.Repository, Signer: signer, Verifier: verifier,
		Identities: cfg.Signing.Identities, Events: events, Sweeps: st, Coordinator: st, Logger: logger})
	if err != nil {
		return nil, err
	}
	return &lifecycleRunner{r: r, logger: logger}, nil
}
