package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/requests"
	"github.com/cssc-go/cssc/catalog/upstream"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
)

// ledger is the image a team asks for: published upstream after the
// first acquisitions, so the catalog does not have it.
const ledger = "acme/ledger"

// requestOutcome is what the requests part of the demo did.
type requestOutcome struct {
	request   *catalog.Request // the ledger team's request, at its end
	typosquat *catalog.Request // the look-alike request, pending
	events    []string         // the request events, in order
}

// requestDemo shows one request from submission to promotion: the ledger
// team asks for an image the catalog does not have, the rules leave it to
// an approver, the approver approves, a worker runs it through the full
// pipeline (with the same leases as the rescans), and the image is golden
// and catalogued. A look-alike of a catalogued name is flagged and waits.
func (cs *catalogStage) requestDemo(ctx context.Context, out io.Writer, p *acquire.Pipeline, upstreamHost string) (*requestOutcome, error) {
	fmt.Fprintf(out, "== requests: a team asks for an image the catalog does not have\n")
	// The publisher pushes the image the team needs.
	repo, err := cs.cfg.client.Repository(ctx, registry.Join(upstreamHost, ledger))
	if err != nil {
		return nil, err
	}
	desc, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(
		imagetest.OSRelease("debian", "12", "bookworm"),
		imagetest.DpkgStatus(
			imagetest.Package{Name: "base-files", Version: "12.4+deb12u7"},
			imagetest.Package{Name: "libc6", Version: "2.36-9+deb12u8", Source: "glibc"},
			imagetest.Package{Name: "ca-certificates", Version: "20230311"}),
		imagetest.File{Path: "etc/debian_version", Data: []byte("12.7\n")},
		imagetest.File{Path: "srv/ledger/README", Data: []byte("the ledger service\n")},
	)}}.Push(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("publish %s: %w", ledger, err)
	}
	if err := repo.Tag(ctx, desc, "2.0"); err != nil {
		return nil, err
	}

	var mu sync.Mutex
	var ro requestOutcome
	svc, err := requests.New(requests.Options{
		Requests: cs.store, Queue: cs.queue, Store: cs.store, Golden: cs.cfg.golden,
		Acquirer: upstream.PipelineAcquirer{Pipeline: p, Golden: cs.cfg.golden},
		Syncer:   cs.syncer,
		Rules: requests.Rules{
			Sources:     []string{upstreamHost + "/**"},
			AutoApprove: []requests.Rule{{Name: "official-images", Match: []string{upstreamHost + "/library/*"}}},
		},
		Events: event.Func(func(_ context.Context, e event.Event) error {
			mu.Lock()
			defer mu.Unlock()
			ro.events = append(ro.events, strings.TrimPrefix(e.Type, "dev.cssc.catalog.request."))
			return nil
		}),
		Poll: 20 * time.Millisecond, Logger: cs.cfg.logger,
	})
	if err != nil {
		return nil, err
	}
	cs.requests = svc
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(wctx) }()
	defer func() { stop(); <-done }()

	ref := registry.Join(upstreamHost, ledger) + ":2.0"
	a, err := svc.Submit(ctx, requests.Submission{Reference: ref, Reason: "the ledger service moves to the golden base", Owner: "team-ledger", Requester: "dana@ledger"})
	if err != nil {
		return nil, err
	}
	r := a.Request
	fmt.Fprintf(out, "   dana@ledger asks for %s: %s (%s)\n", ref, r.State, r.Rule)
	if r, err = svc.Approve(ctx, r.ID, "sam@platform", "publisher checked"); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "   sam@platform approves: %s, its acquisition is a job in the catalog's queue\n", r.State)
	for !r.State.Final() {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if r, err = svc.Request(ctx, r.ID); err != nil {
			return nil, err
		}
	}
	ro.request = r
	var path []string
	for _, h := range r.History {
		path = append(path, string(h.State))
	}
	fmt.Fprintf(out, "   %s\n", strings.Join(path, " -> "))
	if r.State != catalog.RequestPromoted {
		return nil, fmt.Errorf("request for %s ended %s: %v", ref, r.State, r.Reasons)
	}
	e, err := cs.store.Get(ctx, r.Golden, r.Digest)
	if err != nil {
		return nil, fmt.Errorf("the promoted image is not in the catalog: %w", err)
	}
	fmt.Fprintf(out, "   golden %s:%s  %s  %s, catalogued\n", cs.name(e.Repository), r.Tag, short(e), severities(e.Vulnerabilities))
	again, err := svc.Submit(ctx, requests.Submission{Reference: ref, Reason: "we need it too", Owner: "team-billing", Requester: "lee@billing"})
	if err != nil {
		return nil, err
	}
	if again.Golden != nil {
		fmt.Fprintf(out, "   lee@billing asks for it too: already golden, pull %s\n", again.Golden.Pull)
	}

	// A look-alike of a catalogued image is flagged and never approved
	// automatically, although the official-images rule matches it.
	squat := registry.Join(upstreamHost, "library/mu1ti") + ":1.0"
	b, err := svc.Submit(ctx, requests.Submission{Reference: squat, Reason: "multi-arch base", Owner: "team-web", Requester: "kim@web"})
	if err != nil {
		return nil, err
	}
	ro.typosquat = b.Request
	if t := b.Request.Typosquat; t != nil {
		fmt.Fprintf(out, "   kim@web asks for %s: %s, possible typosquat of %s (%s)\n", squat, b.Request.State, t.Resembles, t.Kind)
	}
	mu.Lock()
	fmt.Fprintf(out, "   events for the requesters: %s\n\n", strings.Join(ro.events, ", "))
	mu.Unlock()
	return &ro, nil
}
