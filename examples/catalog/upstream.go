package main

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/lifecycle"
	"github.com/cssc-go/cssc/catalog/upstream"
	"github.com/cssc-go/cssc/examples/internal/pipeline"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
)

// Upstream tunes upstream tracking (catalog/upstream), which runs when
// the service has an Acquire pipeline (Config.Acquire): the source tag of
// every golden tag acquired from a tag is watched with HEAD requests only,
// and a tag the publisher moved is acquired through the pipeline; the
// golden tag follows only if the new image passes.
type Upstream struct {
	// Interval is how often every tracked tag is checked (one HEAD each).
	// Zero means one hour; negative means this instance starts no sweep
	// (it still works on the checks and acquisitions of other instances'
	// sweeps).
	Interval time.Duration `yaml:"interval"`
	// Budgets are request budgets per source registry host ("docker.io",
	// "ghcr.io"), per instance: a check over budget waits for the next
	// sweep. A host's Retry-After and rate-limit headers are honoured
	// whatever its budget.
	Budgets map[string]Budget `yaml:"budgets"`
	// DefaultBudget applies to the hosts Budgets does not name. Zero
	// means unlimited.
	DefaultBudget Budget `yaml:"defaultBudget"`
	// MaxAcquisitionsPerDay bounds the acquisitions of one tag in any 24
	// hours (a tag that flaps, a registry whose HEAD and GET disagree).
	// Zero means 3.
	MaxAcquisitionsPerDay int `yaml:"maxAcquisitionsPerDay"`
	// RetryFailed is how long after a failed acquisition the same digest
	// is tried again (doubling each time). Zero means one hour.
	RetryFailed time.Duration `yaml:"retryFailed"`
	// Poll is how often an idle instance looks for tracking work and for
	// a due sweep. Zero means one second.
	Poll time.Duration `yaml:"poll"`
}

// Budget is a number of requests per period.
type Budget struct {
	Requests int           `yaml:"requests"`
	Per      time.Duration `yaml:"per"`
}

func (b Budget) upstream() upstream.Budget { return upstream.Budget{Requests: b.Requests, Per: b.Per} }

// check validates the tracking settings; acquire is Config.Acquire.
func (u *Upstream) check(acquire string) error {
	if u.MaxAcquisitionsPerDay < 0 || u.RetryFailed < 0 || u.Poll < 0 {
		return fmt.Errorf("upstream: negative maxAcquisitionsPerDay, retryFailed or poll")
	}
	for h, b := range u.Budgets {
		if b.Requests < 0 || b.Per < 0 || (b.Requests > 0) != (b.Per > 0) {
			return fmt.Errorf("upstream.budgets[%s]: want requests and per, both positive", h)
		}
	}
	if b := u.DefaultBudget; b.Requests < 0 || b.Per < 0 || (b.Requests > 0) != (b.Per > 0) {
		return fmt.Errorf("upstream.defaultBudget: want requests and per, both positive")
	}
	if acquire == "" && !reflect.DeepEqual(*u, Upstream{}) {
		return fmt.Errorf("upstream: tracking settings without acquire (no pipeline, no tracking)")
	}
	return nil
}

// newAcquisition returns what the service acquires with, or nils when it
// has no pipeline (Config.Acquire): the pipeline as an upstream.Acquirer
// (for the tracker and for approved requests) and the upstream tracker.
// The pipeline reports promotions to syncer (the new entry and the golden
// tag's history) and to the tracker (the track follows); the image a
// promotion replaced is superseded by the lifecycle (lc, or one with the
// default window when lifecycle is off).
func newAcquisition(ctx context.Context, cfg *Config, golden string, st store, client *registry.Client, syncer *catalog.Syncer,
	lc *lifecycleRunner, signer sign.Signer, verifier sign.Verifier, events event.Sink, logger *slog.Logger) (upstream.Acquirer, *upstream.Tracker, error) {
	if cfg.Acquire == "" {
		return nil, nil, nil
	}
	u := cfg.Upstream
	pcfg, err := pipeline.Load(cfg.path(cfg.Acquire))
	if err != nil {
		return nil, nil, fmt.Errorf("acquire: %w", err)
	}
	if strings.TrimSuffix(pcfg.Golden, "/") != strings.TrimSuffix(golden, "/") {
		return nil, nil, fmt.Errorf("acquire: the pipeline's golden %s is not golden.location %s", pcfg.Golden, golden)
	}
	var tracker *upstream.Tracker
	p, _, err := pipeline.Build(ctx, pcfg, pipeline.Options{Logger: logger,
		BuilderID: "https://github.com/cssc-go/cssc/examples/catalog",
		OnPromoted: func(ctx context.Context, rec *acquire.Record) {
			syncer.Promoted(ctx, rec)
			tracker.Promoted(ctx, rec)
		}})
	if err != nil {
		return nil, nil, fmt.Errorf("acquire: %w", err)
	}
	acquirer := upstream.PipelineAcquirer{Pipeline: p, Golden: pcfg.Golden}
	var superseder upstream.Superseder
	if lc != nil {
		superseder = lc.r
	} else {
		pol, err := lifecycle.Compile(lifecycle.Config{})
		if err != nil {
			return nil, nil, err
		}
		r, err := lifecycle.New(lifecycle.Options{Store: st, Policy: pol, Open: client.Repository, Signer: signer, Verifier: verifier,
			Identities: cfg.Signing.Identities, Events: events, Sweeps: st, Coordinator: st, Logger: logger})
		if err != nil {
			return nil, nil, err
		}
		superseder = r
	}
	ro := registry.Options{PlainHTTP: pcfg.PlainHTTP, Logger: logger}
	if pcfg.DockerConfig != "" {
		creds, err := registry.DockerCredentials(pcfg.Path(pcfg.DockerConfig))
		if err != nil {
			return nil, nil, fmt.Errorf("acquire: dockerConfig: %w", err)
		}
		ro.Credentials = creds
	}
	budgets := map[string]upstream.Budget{}
	for h, b := range u.Budgets {
		budgets[h] = b.upstream()
	}
	tracker, err = upstream.New(upstream.Options{
		Tracks: st, Queue: st, Coordinator: st, Sweeps: st, Store: st,
		Registry:              ro,
		Acquirer:              acquirer,
		Syncer:                syncer,
		Lifecycle:             superseder,
		Events:                events,
		Interval:              u.Interval,
		Budgets:               budgets,
		DefaultBudget:         u.DefaultBudget.upstream(),
		MaxAcquisitionsPerDay: u.MaxAcquisitionsPerDay,
		RetryFailed:           u.RetryFailed,
		Poll:                  u.Poll,
		Logger:                logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("upstream: %w", err)
	}
	return acquirer, tracker, nil
}
