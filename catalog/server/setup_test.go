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
}

type envOptions struct {
	readOnly bool // no Authorizer
	store    catalog.Store
	tweak    func(*server.Options)
}

func sweepsOf(d *demodata.Demo) []server.Sweep {
	var out []server.Sweep
	for _, s := range d.Sweeps {
		sw := server.Sweep{ID: s.ID, Kind: s.Kind, Trigger: s.Trigger, Outcome: s.Outcome, Reason: s.Reason, Database: s.Database,
			PreviousDatabase: s.PreviousDatabase, Started: s.Started, Finished: s.Finished, Images: s.Images, Matched: s.Matched,
			Changed: s.Changed, Reports: s.Reports, Failed: s.Failed}
		for _, it := range s.Items {
			sw.Items = append(sw.Items, server.SweepItem{Repository: it.Repository, Digest: it.Digest, Action: it.Action, Detail: it.Detail})
		}
		out = append(out, sw)
	}
	return out
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{reg: registrytest.Start(t, registrytest.OCI), store: o.store}
	if e.store == nil {
		e.store = catalog.NewMemoryStore()
	}
	var err error
	e.demo, err = demodata.Seed(ctx, e.reg.Client, e.reg.Host+"/golden", e.store, demodata.Now)
	require.NoError(t, err, "seed the demo data")
	sweeps := sweepsOf(e.demo)
	opts := server.Options{
		Store:    e.store,
		Registry: e.reg.Client,
		Title:    "Contoso image catalog",
		Now:      func() time.Time { return demodata.Now },
		Sweeps: server.SweepListerFunc(func(ctx context.Context, limit int) ([]server.Sweep, error) {
			return sweeps[:min(limit, len(sweeps))], nil
		}),
		Rescanner: rescanner(func(ctx context.Context, repository string, d digest.Digest) error {
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
		Retirer: retirer(func(ctx context.Context, req server.RetireRequest) error {
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
	if !o.readOnly {
		opts.Authorizer = server.AuthorizerFunc(func(r *http.Request, a server.Action) error {
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
		})
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

type rescanner func(ctx context.Context, repository string, d digest.Digest) error

func (f rescanner) Rescan(ctx context.Context, repository string, d digest.Digest) error {
	return f(ctx, repository, d)
}

type retirer func(ctx context.Context, req server.RetireRequest) error

func (f retirer) Retire(ctx context.Context, req server.RetireRequest) error { return f(ctx, req) }

var errDenied = errors.New("not in the approvers group")
