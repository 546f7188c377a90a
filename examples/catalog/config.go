package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cssc-go/cssc/catalog"
)

// Config is the service's configuration file (YAML or JSON). Relative paths
// are relative to the file. README.md beside this file has a complete
// example.
type Config struct {
	// Listen is the address the API and portal are served on. Empty means
	// "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// Title names the portal. Empty means "Image catalog".
	Title string `yaml:"title"`
	// Store is where the catalog is kept. Required.
	Store Store `yaml:"store"`
	// Golden is the golden registry the catalog indexes. Required.
	Golden Golden `yaml:"golden"`
	// Signing is the enterprise key: it signs new reports and markers, and
	// its trust material decides what evidence is trusted. Required.
	Signing Signing `yaml:"signing"`
	// OSV is the offline vulnerability database. Required.
	OSV OSV `yaml:"osv"`
	// Clamd is clamd's address ("tcp://127.0.0.1:3310",
	// "unix:///run/clamav/clamd.ctl"). Empty means no malware rescans.
	Clamd string `yaml:"clamd"`
	// Rescan tunes the rescans.
	Rescan Rescan `yaml:"rescan"`
	// Lifecycle configures end-of-life monitoring and retirement. Empty
	// means none.
	Lifecycle Lifecycle `yaml:"lifecycle"`
	// Webhooks receive the catalog's events (CloudEvents, HMAC-signed).
	Webhooks []Webhook `yaml:"webhooks"`
	// Access says who callers are (headers from an authenticating proxy),
	// who may see which images (access rules) and who may use the write
	// actions (rescan now, set owner). Empty means read-only, every image
	// public.
	Access Access `yaml:"access"`
	// Requests lets teams ask for images the catalog does not have.
	// Absent means no requests.
	Requests *Requests `yaml:"requests"`
	// Acquire is the service's Acquire pipeline: a configuration file in
	// examples/acquire's format (its sources are ignored; its golden must
	// be golden.location; its plainHTTP and dockerConfig also reach the
	// source registries). Tags moved upstream and approved requests go
	// through it. Empty means this instance acquires nothing: no upstream
	// tracking, and approved requests wait for an instance that has a
	// pipeline.
	Acquire string `yaml:"acquire"`
	// Upstream tunes upstream tracking (on with Acquire): golden follows
	// the tags its publishers move.
	Upstream Upstream `yaml:"upstream"`

	dir string
}

// Store names the database: exactly one of SQLite (one instance) and
// Postgres (several instances share the work).
type Store struct {
	// SQLite is the database file.
	SQLite string `yaml:"sqlite"`
	// Postgres is a PostgreSQL URL or key=value DSN. A value "env:NAME"
	// reads it from the environment variable NAME.
	Postgres string `yaml:"postgres"`
}

// Golden is the golden registry.
type Golden struct {
	// Location is a location prefix: a registry with a path
	// ("registry.corp/golden") or an OCI layout directory
	// ("oci:/var/lib/cssc/golden"). Required.
	Location string `yaml:"location"`
	// PlainHTTP lists registry hosts reached over plain HTTP.
	PlainHTTP []string `yaml:"plainHTTP"`
	// DockerConfig is a docker config.json with credentials (and credential
	// helpers). Empty means anonymous access.
	DockerConfig string `yaml:"dockerConfig"`
	// Reconcile is how often the whole registry is reconciled (HEAD
	// requests only for unchanged tags). Zero means 10 minutes.
	Reconcile time.Duration `yaml:"reconcile"`
}

// Signing is the enterprise key and its trust material.
type Signing struct {
	// Key and Certificate are PEM files: the private key and the
	// certificate chain, leaf first.
	Key         string `yaml:"key"`
	Certificate string `yaml:"certificate"`
	// Verify is a notation configuration directory that trusts the
	// enterprise key (trustpolicy.json and truststore/x509/...), written
	// for the golden repositories. Required.
	Verify string `yaml:"verify"`
	// Identities are the enterprise signer identities accepted
	// (distinguished names). Empty means every identity Verify trusts.
	Identities []string `yaml:"identities"`
}

// OSV is the offline OSV database.
type OSV struct {
	// Path is a directory of records or of per-ecosystem all.zip files,
	// or one zip. Replacing its content in place installs a new database:
	// the service notices, diffs it against the previous one and rescans
	// the affected images. Required.
	Path string `yaml:"path"`
	// Check is how often the path is looked at for a new database. Zero
	// means one minute.
	Check time.Duration `yaml:"check"`
}

// Rescan tunes catalog/rescan.
type Rescan struct {
	// Interval is the period of the full sweep (skipped while the database
	// is unchanged). Zero means 24 h; negative means none.
	Interval time.Duration `yaml:"interval"`
	// Keep is how many reports of one kind are kept per platform. Zero
	// means 3.
	Keep int `yaml:"keep"`
	// MaxAge writes a report again after this long even without changes.
	// Zero means 7 days.
	MaxAge time.Duration `yaml:"maxAge"`
	// Rate caps the images rescanned per second by this instance. Zero
	// means no cap.
	Rate float64 `yaml:"rate"`
	// Concurrency is how many images this instance rescans at once. Zero
	// means 4.
	Concurrency int `yaml:"concurrency"`
	// Poll is how often an idle instance looks for work. Zero means 1 s.
	Poll time.Duration `yaml:"poll"`
}

// Lifecycle configures catalog/lifecycle.
type Lifecycle struct {
	// Config is the lifecycle configuration (JSON: rules, overrides,
	// window, notice, retirement). Empty means lifecycle is off.
	Config string `yaml:"config"`
	// Releases is an endoflife.date-shaped product-release data file.
	// Empty means none.
	Releases string `yaml:"releases"`
	// Interval is how often the lifecycle runs. Zero means one hour.
	Interval time.Duration `yaml:"interval"`
}

// Webhook is one receiver of events.
type Webhook struct {
	// URL is the receiver's endpoint. Required.
	URL string `yaml:"url"`
	// Secret is the shared HMAC key (at least 16 bytes); "env:NAME"
	// reads it from the environment variable NAME. Required.
	Secret string `yaml:"secret"`
	// Types, if not empty, are the event types sent (the others are not).
	Types []string `yaml:"types"`
	// Groups are the groups the receiver serves: it gets the events about
	// images of restricted access levels (access.rules) granted to one of
	// them. Empty means events about public images only.
	Groups []string `yaml:"groups"`
}

// Access configures who callers are, what they may see and what they may
// change. Requests carry the caller's identity and groups in headers that
// an authenticating proxy sets; they are trusted only from the proxies'
// addresses, and a request from anywhere else is an anonymous outsider
// whatever headers it carries.
type Access struct {
	// Proxies are the addresses (CIDR prefixes) of the authenticating
	// proxies. Empty means no write action is allowed.
	Proxies []string `yaml:"proxies"`
	// UserHeader and GroupsHeader name the headers the proxy sets (groups
	// comma-separated). Empty means "X-Forwarded-User" and
	// "X-Forwarded-Groups".
	UserHeader   string `yaml:"userHeader"`
	GroupsHeader string `yaml:"groupsHeader"`
	// Writers are the groups allowed to rescan and set owners. Required
	// with Proxies.
	Writers []string `yaml:"writers"`
	// Rules give images access levels by repository pattern (the first
	// matching rule decides; see catalog.AccessRule): an image of a
	// restricted level is invisible, in the portal, the API and the
	// webhooks, to everybody outside the rule's groups. Empty means every
	// image is public.
	Rules []catalog.AccessRule `yaml:"rules"`

	proxies []netip.Prefix
	policy  *catalog.AccessPolicy
}

// loadConfig reads and checks a configuration file.
func loadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) > 1<<20 {
		return nil, fmt.Errorf("config %s: larger than 1 MiB", path)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.dir = filepath.Dir(path)
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &c, nil
}

func (c *Config) check() error {
	var missing []string
	for name, v := range map[string]string{"golden.location": c.Golden.Location, "osv.path": c.OSV.Path,
		"signing.key": c.Signing.Key, "signing.certificate": c.Signing.Certificate, "signing.verify": c.Signing.Verify} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if (c.Store.SQLite == "") == (c.Store.Postgres == "") {
		missing = append(missing, "exactly one of store.sqlite and store.postgres")
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("missing %s", strings.Join(missing, ", "))
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Golden.Reconcile == 0 {
		c.Golden.Reconcile = 10 * time.Minute
	}
	if c.OSV.Check == 0 {
		c.OSV.Check = time.Minute
	}
	if c.Lifecycle.Interval == 0 {
		c.Lifecycle.Interval = time.Hour
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"golden.reconcile", c.Golden.Reconcile}, {"osv.check", c.OSV.Check}, {"lifecycle.interval", c.Lifecycle.Interval}} {
		if d.v < 0 {
			return fmt.Errorf("%s: negative", d.name)
		}
	}
	if err := c.Upstream.check(c.Acquire); err != nil {
		return err
	}
	if c.Lifecycle.Releases != "" && c.Lifecycle.Config == "" {
		return fmt.Errorf("lifecycle.releases without lifecycle.config")
	}
	for i, w := range c.Webhooks {
		if w.URL == "" || w.Secret == "" {
			return fmt.Errorf("webhooks[%d]: url and secret are required", i)
		}
	}
	a := &c.Access
	if a.UserHeader == "" {
		a.UserHeader = "X-Forwarded-User"
	}
	if a.GroupsHeader == "" {
		a.GroupsHeader = "X-Forwarded-Groups"
	}
	for _, p := range a.Proxies {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return fmt.Errorf("access.proxies: %q is not an address or CIDR prefix", p)
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		a.proxies = append(a.proxies, prefix)
	}
	if len(a.Proxies) > 0 && len(a.Writers) == 0 {
		return fmt.Errorf("access.writers: required with access.proxies")
	}
	if len(a.Rules) > 0 {
		p, err := catalog.NewAccessPolicy(a.Rules)
		if err != nil {
			return fmt.Errorf("access.rules: %w", err)
		}
		a.policy = p
	}
	if err := c.Requests.check(a); err != nil {
		return err
	}
	for i, w := range c.Webhooks {
		if len(w.Groups) > 0 && a.policy == nil {
			return fmt.Errorf("webhooks[%d].groups: without access.rules every image is public", i)
		}
	}
	return nil
}

// path resolves a path relative to the config file.
func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// location resolves a location: an OCI layout path is relative to the
// config file, like other paths.
func (c *Config) location(loc string) string {
	if dir, ok := strings.CutPrefix(loc, "oci:"); ok {
		return "oci:" + c.path(dir)
	}
	return loc
}

// secret reads "env:NAME" from the environment, or returns s.
func secret(s string) (string, error) {
	name, ok := strings.CutPrefix(s, "env:")
	if !ok {
		return s, nil
	}
	v := os.Getenv(name)
	if v == "" {
		return "", fmt.Errorf("environment variable %s is empty", name)
	}
	return v, nil
}
