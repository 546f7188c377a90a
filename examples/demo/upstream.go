package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/lifecycle"
	"github.com/cssc-go/cssc/catalog/upstream"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/registry"
)

// requestCounter counts the manifest requests the upstream registry
// serves, by method: tracking must cost HEADs only (a GET is a pull on
// Docker Hub).
type requestCounter struct {
	next      http.Handler
	head, get atomic.Int64
}

func (c *requestCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.Path, "/manifests/") {
		switch r.Method {
		case http.MethodHead:
			c.head.Add(1)
		case http.MethodGet:
			c.get.Add(1)
		}
	}
	c.next.ServeHTTP(w, r)
}

// upstreamOutcome is what the upstream step did.
type upstreamOutcome struct {
	tracks      int            // golden tags tracked
	rebuild     digest.Digest  // the publisher's new source digest
	sweep       *catalog.Sweep // the tracking sweep that saw the move
	heads, gets int64          // manifest requests of the sweep's checks
	track       *catalog.Track // the moved tag's track after the sweep
	before      digest.Digest  // golden's digest for the tag before
	after       *catalog.Entry // golden's entry for the tag after
	replaced    *catalog.Entry // the image it replaced, after
	events      []string       // upstream and lifecycle event types
}

// followUpstream tracks the golden tags' sources, has the publisher of
// the multi-arch image move its tag to a patched rebuild, and runs one
// tracking sweep: HEAD requests see the move, the new digest goes through
// the whole pipeline, the golden tag follows, and the image it replaced is
// deprecated with a pointer to its replacement.
func (cs *catalogStage) followUpstream(ctx context.Context, out io.Writer) (*upstreamOutcome, error) {
	var uo upstreamOutcome
	var heads, gets int64
	var mu sync.Mutex
	events := event.Func(func(ctx context.Context, e event.Event) error {
		mu.Lock()
		uo.events = append(uo.events, e.Type)
		mu.Unlock()
		return nil
	})
	pol, err := lifecycle.Compile(lifecycle.Config{})
	if err != nil {
		return nil, err
	}
	lc, err := lifecycle.New(lifecycle.Options{Store: cs.store, Policy: pol, Open: cs.cfg.client.Repository, Signer: cs.cfg.signer,
		Verifier: cs.cfg.verifier, Identities: []string{cs.cfg.identity}, Events: events, Sweeps: cs.queue, Coordinator: cs.queue, Logger: cs.cfg.logger})
	if err != nil {
		return nil, err
	}
	tracker, err := upstream.New(upstream.Options{
		Tracks: cs.store, Queue: cs.queue, Coordinator: cs.queue, Sweeps: cs.queue, Store: cs.store,
		Registry: registry.Options{PlainHTTP: []string{cs.cfg.upstream}},
		Acquirer: upstream.AcquirerFunc(func(ctx context.Context, req upstream.Request) (*upstream.Result, error) {
			// What the checks cost, before the acquisition pulls.
			uo.heads, uo.gets = cs.cfg.requests.head.Load()-heads, cs.cfg.requests.get.Load()-gets
			return upstream.PipelineAcquirer{Pipeline: cs.cfg.pipeline, Golden: cs.cfg.golden}.Acquire(ctx, req)
		}),
		Syncer:    cs.syncer,
		Lifecycle: lc,
		Events:    events,
		Interval:  -1, // one sweep, below
		Poll:      20 * time.Millisecond,
		Logger:    cs.cfg.logger,
	})
	if err != nil {
		return nil, err
	}
	if uo.tracks, err = tracker.Discover(ctx); err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	repo := registry.Join(cs.cfg.golden, sample.Multi)
	tags, err := cs.store.Tags(ctx, repo)
	if err != nil {
		return nil, err
	}
	uo.before = tags[sample.Tag]

	rebuild, err := sample.RebuildMulti(ctx, cs.cfg.client, cs.cfg.upstream)
	if err != nil {
		return nil, fmt.Errorf("upstream: publish the rebuild: %w", err)
	}
	uo.rebuild = rebuild.Digest
	fmt.Fprintf(out, "== upstream: %d golden tags tracked; the publisher moves %s:%s to a patched rebuild %s (Expat fixed)\n",
		uo.tracks, sample.Multi, sample.Tag, shortDigest(rebuild.Digest.Encoded()))

	heads, gets = cs.cfg.requests.head.Load(), cs.cfg.requests.get.Load()
	sw, err := tracker.Sweep(ctx)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	if err := tracker.Drain(ctx); err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	if uo.sweep, err = cs.queue.Sweep(ctx, sw.ID); err != nil {
		return nil, err
	}
	if uo.track, err = tracker.Track(ctx, repo, sample.Tag); err != nil {
		return nil, err
	}
	if tags, err = cs.store.Tags(ctx, repo); err != nil {
		return nil, err
	}
	if uo.after, err = cs.store.Get(ctx, repo, tags[sample.Tag]); err != nil {
		return nil, fmt.Errorf("upstream: golden %s:%s: %w", repo, sample.Tag, err)
	}
	if uo.replaced, err = cs.store.Get(ctx, repo, uo.before); err != nil {
		return nil, err
	}

	outcome := "none"
	if n := len(uo.track.Attempts); n > 0 {
		outcome = uo.track.Attempts[n-1].Outcome
	}
	fmt.Fprintf(out, "   tracking sweep: %d tags checked with %d manifest HEADs and %d GETs: %s\n",
		uo.sweep.Images, uo.heads, uo.gets, outcomes(uo.sweep.Outcomes))
	fmt.Fprintf(out, "   %-16s %s -> %s  acquired through the whole pipeline: %s; golden tag %s follows\n", cs.name(repo),
		shortDigest(uo.before.Encoded()), short(uo.after), outcome, sample.Tag)
	fmt.Fprintf(out, "   %-16s %s  enterprise-signed, %s\n", "", short(uo.after), severities(uo.after.Vulnerabilities))
	fmt.Fprintf(out, "   %-16s %s  %s, replaced by %s\n", "", shortDigest(uo.before.Encoded()), orActive(uo.replaced.Status), uo.replaced.Replacement)
	slices.Sort(uo.events)
	fmt.Fprintf(out, "   events: %s\n", strings.Join(slices.Compact(uo.events), ", "))
	return &uo, nil
}
