package server_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/requests"
	"github.com/cssc-go/cssc/catalog/server"
	"github.com/cssc-go/cssc/catalog/server/internal/demodata"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// env is a portal over the demo data: a real registry on loopback holding
// the golden images with their SBOMs and reports, a store with their
// entries, and the handler served by httptest.
type env struct {
	reg   *registrytest.Registry
	store catalog.Store
	demo  *demodata.Demo
	h     *server.Handler
	srv   *httptest.Server

	mu       sync.Mutex
	rescans  []string
	retired  []server.RetireRequest
	actions  []server.Action
	deny     error // what the Authorizer answers
	rescanFn func(repository string, d digest.Digest) error

	requests *requests.Service // takes requests (no worker runs them)
}

type envOptions struct {
	readOnly bool // no Authorizer
	store    catalog.Store
	tweak    func(*server.Options)
	reg      *registrytest.Registry // nil: a new one
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{reg: o.reg, store: o.store}
	if e.reg == nil {
		e.reg = registrytest.Start(t, registrytest.OCI)
	}
	if e.store == nil {
		e.store = catalog.NewMemoryStore()
	}
	var err error
	e.demo, err = demodata.Seed(ctx, e.reg.Client, e.reg.Host+"/golden", e.store, demodata.Now)
	require.NoError(t, err, "seed the demo data")
	sweeps := e.demo.Sweeps
	opts := server.Options{
		Store:    e.store,
		Registry: e.reg.Client,
		Title:    "Contoso image catalog",
		Now:      func() time.Time { return demodata.Now },
		Sweeps: server.SweepListerFunc(func(ctx context.Context, limit int) ([]*catalog.Sweep, error) {
			return sweeps[:min(limit, len(sweeps))], nil
		}),
		Rescanner: server.RescannerFunc(func(ctx context.Context, repository string, d digest.Digest) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.rescanFn != nil {
				if err := e.rescanFn(repository, d); err != nil {
					return err
				}
			}
			e.rescans = append(e.rescans, repository+"@"+d.String())
			return nil
		}),
		Retirer: server.RetirerFunc(func(ctx context.Context, req server.RetireRequest) error {
			e.mu.Lock()
			e.retired = append(e.retired, req)
			e.mu.Unlock()
			ent, err := e.store.Get(ctx, req.Repository, req.Digest)
			if err != nil {
				return err
			}
			ent.Status, ent.Replacement = catalog.StatusRetired, req.Replacement
			return e.store.Put(ctx, ent)
		}),
		Owners: server.StoreOwners{Store: e.store},
	}
	reqStore, ok := e.store.(catalog.RequestStore)
	if !ok {
		reqStore = catalog.NewMemoryStore()
	}
	e.requests, err = requests.New(requests.Options{Requests: reqStore, Queue: catalog.NewMemoryQueue(), Store: e.store,
		Golden: e.reg.Host + "/golden", Now: func() time.Time { return demodata.Now }, RateLimit: -1,
		Rules: requests.Rules{AutoApprove: []requests.Rule{{Name: "official", Match: []string{"docker.io/library/*"}}}}})
	require.NoError(t, err)
	opts.Requests = e.requests
	if !o.readOnly {
		opts.Authorizer = identifyingAuthorizer{server.AuthorizerFunc(func(r *http.Request, a server.Action) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.deny != nil {
				return e.deny
			}
			if r.Header.Get("X-User") == "" && r.Header.Get("Sec-Fetch-Site") == "" {
				return server.ErrUnauthenticated
			}
			e.actions = append(e.actions, a)
			return nil
		})}
	}
	if o.tweak != nil {
		o.tweak(&opts)
	}
	e.h, err = server.New(opts)
	require.NoError(t, err)
	e.srv = httptest.NewServer(e.h)
	t.Cleanup(e.srv.Close)
	return e
}

var errDenied = errors.New("not in the approvers group")

// identifyingAuthorizer names the caller by the X-User header.
type identifyingAuthorizer struct{ server.AuthorizerFunc }

func (identifyingAuthorizer) Identify(r *http.Request) string { return r.Header.Get("X-User") }
