package registry

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cssc-go/cssc/internal/manifest"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	orasregistry "oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/retry"
)

// Repository is one repository in OCI storage: a remote registry, an OCI
// image layout directory or memory. All kinds behave the same for callers.
// It satisfies oras.Target, so it can be handed to oras.Copy and friends.
//
// Errors wrap the sentinels of this package (ErrNotFound, ErrUnauthorized,
// ErrDigestMismatch, ...) in an *Error.
type Repository interface {
	content.Storage // Fetch, Push, Exists
	content.Resolver
	content.Tagger
	content.Deleter
	orasregistry.TagLister
	orasregistry.ReferrerLister
	// Location returns the location string of the repository (see Location).
	Location() string
}

// Credential is a username/password, or a refresh or access token.
type Credential = auth.Credential

// CredentialFunc returns the credential for a registry host ("host:port").
// It returns the zero Credential, nil for anonymous access.
type CredentialFunc = auth.CredentialFunc

// Options configure a Client. The zero value is usable: anonymous access,
// HTTPS only, retries with the documented defaults, silent.
type Options struct {
	// Credentials returns credentials per registry host. Nil means anonymous.
	// See DockerCredentials and StaticCredentials.
	Credentials CredentialFunc
	// PlainHTTP lists the registry hosts ("host:port") reached over plain
	// HTTP. Every other host is reached over HTTPS. Empty means none.
	PlainHTTP []string
	// Transport is the base HTTP transport. Nil means a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
	// MaxRetries is how often a request that failed with a network error, 429
	// or 5xx, or that stalled before its response (see StallTimeout), is
	// retried. Zero means 5; negative means no retries.
	MaxRetries int
	// StallTimeout is how long a request may go without a byte moving
	// (request body sent, response headers or body received) before it is
	// abandoned. The wait for the response to a request whose body was
	// sent in full is not limited (committing a large upload may take a
	// registry long; uploads go to your own registries). A request abandoned before its response is retried like a
	// network error; after the last retry, or when the response body
	// stalls, the error is a *StallError (errors.Is ErrStalled). Zero means
	// DefaultStallTimeout (30 s); negative means no stall timeout (only
	// the caller's context bounds a request).
	StallTimeout time.Duration
	// MaxRetryAfter caps how long a Retry-After header may make a retry
	// wait. Zero means 60 s. Backoff without Retry-After starts at 250 ms and
	// doubles, with 10% jitter, up to this same ceiling.
	MaxRetryAfter time.Duration
	// UserAgent is sent with every request. Empty means "cssc".
	UserAgent string
	// MaxManifestBytes caps manifests, indexes and referrers responses read
	// into memory. Zero means 4 MiB.
	MaxManifestBytes int64
	// Logger receives debug logs of retries. Nil means silent.
	Logger *slog.Logger
}

// Client opens repositories. It holds the HTTP client, the credential
// source and one token cache shared by every repository it opens, and the
// in-memory repositories of "mem:" locations. A Client is safe for
// concurrent use; create one and share it.
type Client struct {
	opts   Options
	client *auth.Client

	mu  sync.Mutex
	mem map[string]*memoryRepository
}

// NewClient returns a Client configured by opts.
func NewClient(opts Options) *Client {
	if opts.MaxManifestBytes <= 0 {
		opts.MaxManifestBytes = defaultMaxManifestBytes
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "cssc"
	}
	base := opts.Transport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	if opts.StallTimeout == 0 {
		opts.StallTimeout = DefaultStallTimeout
	}
	if opts.StallTimeout > 0 {
		base = &stallTransport{base: base, timeout: opts.StallTimeout}
	}
	rt := &retry.Transport{Base: base, Policy: func() retry.Policy { return newRetryPolicy(opts) }}
	ac := &auth.Client{
		Client:     &http.Client{Transport: rt},
		Cache:      auth.NewCache(),
		Credential: opts.Credentials,
		Header:     http.Header{"User-Agent": {opts.UserAgent}},
	}
	return &Client{opts: opts, client: ac, mem: map[string]*memoryRepository{}}
}

const defaultMaxManifestBytes = manifest.DefaultMaxBytes

// MaxManifestBytes returns the cap on manifests read into memory.
func (c *Client) MaxManifestBytes() int64 { return c.opts.MaxManifestBytes }

// Repository opens the repository at location (see Location); a tag or
// digest in the location is ignored. Opening does no I/O for remote and
// memory repositories; an OCI layout directory is created if missing.
func (c *Client) Repository(ctx context.Context, location string) (Repository, error) {
	l, err := ParseLocation(location)
	if err != nil {
		return nil, err
	}
	switch l.Kind {
	case KindLayout:
		dir := strings.TrimPrefix(l.Repository, KindLayout+":")
		store, err := oci.NewWithContext(ctx, filepath.Clean(dir))
		if err != nil {
			return nil, opError("open", l.Repository, "", err)
		}
		return &layoutRepository{store: store, location: l.Repository, maxManifest: c.opts.MaxManifestBytes}, nil
	case KindMemory:
		c.mu.Lock()
		defer c.mu.Unlock()
		r, ok := c.mem[l.Repository]
		if !ok {
			r = newMemoryRepository(l.Repository, c.opts.MaxManifestBytes)
			c.mem[l.Repository] = r
		}
		return r, nil
	default:
		rr := &remote.Repository{
			Client: c.client,
			Reference: orasregistry.Reference{
				Registry:   l.Ref.Registry,
				Repository: l.Ref.Repository,
			},
			PlainHTTP:        slices.Contains(c.opts.PlainHTTP, l.Ref.Registry),
			MaxMetadataBytes: c.opts.MaxManifestBytes,
			SkipReferrersGC:  true,
		}
		return &remoteRepository{Repository: rr, location: l.Repository, maxManifest: c.opts.MaxManifestBytes}, nil
	}
}

// DockerCredentials returns credentials read from a docker config.json at
// path, with its credential helpers and credsStore. Library code never reads
// the docker default location by itself: pass the path explicitly (examples
// may use DefaultDockerConfig).
func DockerCredentials(path string) (CredentialFunc, error) {
	if path == "" {
		return nil, fmt.Errorf("registry: docker config path is empty")
	}
	store, err := credentials.NewStore(path, credentials.StoreOptions{})
	if err != nil {
		return nil, fmt.Errorf("registry: docker config %s: %w", path, err)
	}
	return credentials.Credential(store), nil
}

// StaticCredentials returns credentials from a map of registry host to
// credential. Hosts not in the map are accessed anonymously.
func StaticCredentials(m map[string]Credential) CredentialFunc {
	m = maps.Clone(m)
	return func(_ context.Context, host string) (Credential, error) {
		return m[host], nil
	}
}
