package registrytest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"cuelabs.dev/go/oci/ociregistry/ocimem"
	"cuelabs.dev/go/oci/ociregistry/ociserver"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/sirupsen/logrus"

	"github.com/cssc-go/cssc/registry"
)

// Kind names a registry implementation.
type Kind string

// Registry kinds.
const (
	// OCI is cuelabs ociregistry (ocimem + ociserver) with the referrers API.
	OCI Kind = "ociregistry"
	// OCINoReferrers is cuelabs ociregistry with DisableReferrersAPI: clients
	// must use the referrers tag schema.
	OCINoReferrers Kind = "ociregistry-noreferrers"
	// Distribution is distribution/distribution v3 with the in-memory
	// driver: the CNCF registry, without a referrers API.
	Distribution Kind = "distribution"
)

// Kinds returns every registry kind.
func Kinds() []Kind { return []Kind{OCI, OCINoReferrers, Distribution} }

// Options configure Start. The zero value starts a plain registry.
type Options struct {
	// Middleware wraps the registry's handler, e.g. to inject faults or count
	// requests. Nil means none.
	Middleware func(http.Handler) http.Handler
}

// Registry is a running test registry.
type Registry struct {
	Kind   Kind
	Host   string // "127.0.0.1:port"
	URL    string // "http://127.0.0.1:port"
	Client *registry.Client
	Server *httptest.Server
}

// NewHandler returns the HTTP handler of a fresh, empty registry of kind.
// Programs (benchmarks, the demo) can serve it themselves. An unknown kind
// is an error.
func NewHandler(kind Kind) (http.Handler, error) {
	switch kind {
	case OCI:
		return ociserver.New(ocimem.New(), nil), nil
	case OCINoReferrers:
		return ociserver.New(ocimem.New(), &ociserver.Options{DisableReferrersAPI: true}), nil
	case Distribution:
		logrus.SetOutput(io.Discard) // distribution logs every request through logrus
		cfg := &configuration.Configuration{
			Storage: configuration.Storage{
				"inmemory":    configuration.Parameters{},
				"delete":      configuration.Parameters{"enabled": true},
				"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
			},
		}
		cfg.Log.Level = "error"
		cfg.Catalog.MaxEntries = 1000 // the default when read from YAML; zero serves an empty catalog
		return handlers.NewApp(context.Background(), cfg), nil
	}
	return nil, fmt.Errorf("registrytest: unknown registry kind %q", kind)
}

// Start starts a registry of kind on loopback and stops it when the test
// ends.
func Start(t testing.TB, kind Kind, opts ...Options) *Registry {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	h, err := NewHandler(kind)
	if err != nil {
		t.Fatal(err)
	}
	if o.Middleware != nil {
		h = o.Middleware(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	return &Registry{
		Kind:   kind,
		Host:   host,
		URL:    srv.URL,
		Client: registry.NewClient(registry.Options{PlainHTTP: []string{host}, MaxRetries: -1}),
		Server: srv,
	}
}

// Location returns the location string of repository name in r.
func (r *Registry) Location(name string) string { return registry.Join(r.Host, name) }

// Repository opens repository name in r.
func (r *Registry) Repository(t testing.TB, name string) registry.Repository {
	t.Helper()
	repo, err := r.Client.Repository(context.Background(), r.Location(name))
	if err != nil {
		t.Fatalf("registrytest: open %s: %v", name, err)
	}
	return repo
}

// Store is one storage kind with a prefix under which repositories open.
type Store struct {
	Name   string // "ociregistry", "ociregistry-noreferrers", "distribution", "oci-layout", "memory"
	Prefix string // location prefix: "127.0.0.1:port", "oci:/tmp/...", "mem:"
	Client *registry.Client
	// Remote is the running registry, nil for local stores.
	Remote *Registry
}

// Repository opens repository name in s.
func (s Store) Repository(t testing.TB, name string) registry.Repository {
	t.Helper()
	loc := registry.Join(s.Prefix, name)
	if s.Prefix == "mem:" {
		loc = "mem:" + name
	}
	repo, err := s.Client.Repository(context.Background(), loc)
	if err != nil {
		t.Fatalf("registrytest: open %s: %v", loc, err)
	}
	return repo
}

// Stores starts one registry of every kind and returns them with an OCI
// layout directory and an in-memory store: every storage kind cssc supports.
func Stores(t testing.TB) []Store {
	t.Helper()
	var out []Store
	for _, k := range Kinds() {
		r := Start(t, k)
		out = append(out, Store{Name: string(k), Prefix: r.Host, Client: r.Client, Remote: r})
	}
	local := registry.NewClient(registry.Options{})
	out = append(out,
		Store{Name: "oci-layout", Prefix: "oci:" + t.TempDir(), Client: local},
		Store{Name: "memory", Prefix: "mem:", Client: local},
	)
	return out
}
