package main

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/requests"
	"github.com/cssc-go/cssc/catalog/server"
	"github.com/cssc-go/cssc/catalog/upstream"
)

// Requests configures the teams' requests for images (catalog/requests):
// which sources may be requested, which are approved without an approver,
// which well-known names a typosquat is compared with, who may approve,
// and the per-requester rate limit. Absent means the service takes no
// requests.
type Requests struct {
	// Rules are requests.Rules: sources (patterns of registry/repository a
	// reference must match), autoApprove (named rules whose patterns are
	// approved without an approver, typosquats never), knownImages (nil
	// means requests.DefaultKnownImages) and maxDistance.
	Rules requests.Rules `yaml:"rules"`
	// Requesters are the groups allowed to request images. Empty means
	// every user the proxy names.
	Requesters []string `yaml:"requesters"`
	// Approvers are the groups allowed to approve and deny requests.
	// Required.
	Approvers []string `yaml:"approvers"`
	// RateLimit is how many requests one user may make per RateWindow.
	// Zero means 20 per hour.
	RateLimit  int           `yaml:"rateLimit"`
	RateWindow time.Duration `yaml:"rateWindow"`
}

func (r *Requests) check(access *Access) error {
	if r == nil {
		return nil
	}
	if len(r.Approvers) == 0 {
		return fmt.Errorf("requests.approvers: required")
	}
	if len(access.Proxies) == 0 {
		return fmt.Errorf("requests: needs access.proxies (requesters and approvers are named by an authenticating proxy)")
	}
	if r.RateLimit < 0 || r.RateWindow < 0 {
		return fmt.Errorf("requests: negative rate limit")
	}
	// Compile the rules now, to fail at start on a bad pattern.
	_, err := requests.New(requests.Options{Requests: catalog.NewMemoryStore(), Queue: catalog.NewMemoryQueue(), Golden: "check", Rules: r.Rules})
	if err != nil {
		return fmt.Errorf("requests.rules: %w", err)
	}
	return nil
}

// newRequests returns the request service on the store. acquirer, when
// not nil, runs the acquisitions of approved requests (the caller runs
// Service.Run); without one, approved requests wait in the store's queue
// for an instance that has the acquire pipeline.
func newRequests(cfg *Config, st store, acquirer upstream.Acquirer, syncer upstream.Syncer, events event.Sink, logger *slog.Logger) (*requests.Service, error) {
	r := cfg.Requests
	if r == nil {
		return nil, nil
	}
	return requests.New(requests.Options{Requests: st, Queue: st, Store: st, Golden: cfg.Golden.Location, Acquirer: acquirer,
		Syncer: syncer, Rules: r.Rules, Events: events, RateLimit: r.RateLimit, RateWindow: r.RateWindow, Logger: logger})
}

// authorizeRequest decides the request actions: requesters may request,
// approvers may approve and deny.
func (p proxyAuthorizer) authorizeRequest(user string, groups []string, a server.Action) (bool, error) {
	r := p.r
	switch a.Name {
	case server.ActionRequest:
		if r == nil {
			return true, fmt.Errorf("this catalog takes no requests")
		}
		if len(r.Requesters) == 0 || slices.ContainsFunc(groups, func(g string) bool { return slices.Contains(r.Requesters, g) }) {
			return true, nil
		}
		return true, fmt.Errorf("%s is not in a requester group", user)
	case server.ActionApproveRequest, server.ActionDenyRequest:
		if r != nil && slices.ContainsFunc(groups, func(g string) bool { return slices.Contains(r.Approvers, g) }) {
			return true, nil
		}
		return true, fmt.Errorf("%s is not in an approver group", user)
	}
	return false, nil
}
