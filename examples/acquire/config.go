package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/Masterminds/semver/v3"
	"go.yaml.in/yaml/v3"

	"github.com/cssc-go/cssc/registry"
)

// Config is the CLI's configuration file (YAML or JSON). Relative paths are
// relative to the file. See README.md beside this file for a complete example.
type Config struct {
	// Quarantine and Golden are location prefixes: a registry with a path
	// ("registry.corp/quarantine") or an OCI layout directory ("oci:/var/q").
	Quarantine string `yaml:"quarantine"`
	Golden     string `yaml:"golden"`
	// PlainHTTP lists registry hosts reached over plain HTTP.
	PlainHTTP []string `yaml:"plainHTTP"`
	// DockerConfig is a docker config.json with credentials (and credential
	// helpers). Empty means anonymous access.
	DockerConfig string `yaml:"dockerConfig"`
	// Sources are the images to acquire.
	Sources []Source `yaml:"sources"`
	// Trust verifies the publishers' signatures. Empty means none are
	// verified (a policy that requires signatures then denies).
	Trust Trust `yaml:"trust"`
	// Signing is the enterprise key. Required.
	Signing Signing `yaml:"signing"`
	// OSV is the offline OSV database: a directory of records or of
	// per-ecosystem all.zip files. Required.
	OSV string `yaml:"osv"`
	// Clamd is clamd's address ("unix:///run/clamav/clamd.ctl",
	// "tcp://127.0.0.1:3310"). Empty means no malware scan.
	Clamd string `yaml:"clamd"`
	// Policy is the policy document. Required.
	Policy string `yaml:"policy"`
	// Lifecycle sets end-of-life dates.
	Lifecycle Lifecycle `yaml:"lifecycle"`
	// Concurrency is how many images are processed at once. Zero means 2.
	Concurrency int `yaml:"concurrency"`
	// BuilderID identifies this importer in provenance. Empty means the
	// CLI's URL.
	BuilderID string `yaml:"builderID"`
	// Limits bound what a slow or hostile upstream can cost.
	Limits Limits `yaml:"limits"`

	dir string
}

// Limits bound the time and the attempts spent on each image.
type Limits struct {
	// ImageTimeout is the deadline of one image's whole run ("30m"). Zero
	// means 30 minutes; negative means none.
	ImageTimeout time.Duration `yaml:"imageTimeout"`
	// StallTimeout abandons a registry request that receives no byte for
	// this long ("30s"); it is retried, then fails. Zero means
	// registry.DefaultStallTimeout; negative means none.
	StallTimeout time.Duration `yaml:"stallTimeout"`
	// Retries is how often the registry client retries a request (network
	// errors, 429, 5xx, stalls). Zero means 5; negative means none.
	Retries int `yaml:"retries"`
	// BlobAttempts is how often a blob download that breaks off is
	// attempted. Zero means acquire.DefaultBlobAttempts.
	BlobAttempts int `yaml:"blobAttempts"`
}

// defaultImageTimeout is the default of Limits.ImageTimeout.
const defaultImageTimeout = 30 * time.Minute

// Source is one external repository and which of its tags to acquire.
type Source struct {
	// Image is the repository, with or without a tag: "docker.io/library/nginx",
	// "nginx:1.27". A tag here is acquired in addition to the selectors.
	Image string `yaml:"image"`
	// Tags lists tags to acquire.
	Tags []string `yaml:"tags"`
	// TagRegex selects tags of the repository matching this regular
	// expression (anchored by you: "^1\\.27\\.[0-9]+$").
	TagRegex string `yaml:"tagRegex"`
	// Semver selects tags that are semantic versions within this range
	// (">= 1.26, < 1.28"). Tags that are not versions are ignored.
	Semver string `yaml:"semver"`
	// Platforms restricts a multi-arch image to these platforms.
	Platforms []string `yaml:"platforms"`
	// Latest keeps only the N highest versions selected by Semver (or the
	// last N tags in sorted order otherwise). Zero means all.
	Latest int `yaml:"latest"`
}

// Trust holds the verifiers of publisher signatures.
type Trust struct {
	// Notation is a notation configuration directory in the CLI's layout
	// (trustpolicy.oci.json, or trustpolicy.json, and
	// truststore/x509/<type>/<name>/*.pem). Its trust policy is written
	// for the source repositories ("registryScopes":
	// ["docker.io/library/nginx"]), as for `notation verify` upstream.
	Notation string `yaml:"notation"`
	// Revocation is "online", "offline" (default) or "skip".
	Revocation string `yaml:"revocation"`
	// CosignKeys are cosign public keys (PEM) of publishers that sign with
	// cosign keys.
	CosignKeys []string `yaml:"cosignKeys"`
}

// Signing is the enterprise signing key.
type Signing struct {
	// Key and Certificate are PEM files: the private key and the
	// certificate chain, leaf first.
	Key         string `yaml:"key"`
	Certificate string `yaml:"certificate"`
	// Plugin signs through an installed notation plugin instead.
	Plugin *Plugin `yaml:"plugin"`
	// Verify is a notation configuration directory that trusts the
	// enterprise key: signatures are then reused on reruns and golden is
	// checked before its tag moves. Its trust policy is written for the
	// golden repositories ("registryScopes":
	// ["registry.corp/golden/library/nginx"]). Empty means neither.
	Verify string `yaml:"verify"`
}

// Plugin names a notation plugin and key.
type Plugin struct {
	Dir   string `yaml:"dir"`
	Name  string `yaml:"name"`
	KeyID string `yaml:"keyID"`
}

// Lifecycle sets end-of-life dates.
type Lifecycle struct {
	// EndOfLife is a date for every image ("2027-01-01" or RFC 3339).
	EndOfLife string `yaml:"endOfLife"`
	// Rules set dates by repository and tag pattern; first match wins.
	Rules []LifecycleRule `yaml:"rules"`
}

// LifecycleRule is one lifecycle rule.
type LifecycleRule struct {
	Repository string `yaml:"repository"`
	Tag        string `yaml:"tag"`
	EndOfLife  string `yaml:"endOfLife"`
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
	var missing []string
	for name, v := range map[string]string{"quarantine": c.Quarantine, "golden": c.Golden, "osv": c.OSV, "policy": c.Policy} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if c.Signing.Plugin == nil && (c.Signing.Key == "" || c.Signing.Certificate == "") {
		missing = append(missing, "signing.key and signing.certificate (or signing.plugin)")
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("config %s: missing %v", path, missing)
	}
	for i, s := range c.Sources {
		if s.Image == "" {
			return nil, fmt.Errorf("config %s: sources[%d]: missing image", path, i)
		}
		if s.TagRegex != "" {
			if _, err := regexp.Compile(s.TagRegex); err != nil {
				return nil, fmt.Errorf("config %s: sources[%d].tagRegex: %w", path, i, err)
			}
		}
		if s.Semver != "" {
			if _, err := semver.NewConstraint(s.Semver); err != nil {
				return nil, fmt.Errorf("config %s: sources[%d].semver: %w", path, i, err)
			}
		}
	}
	return &c, nil
}

// path resolves a path relative to the config file.
func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// expand returns the references to acquire for a source: its explicit tag
// and tags, plus the tags of the repository selected by regex or semver.
func (s Source) expand(ctx context.Context, client *registry.Client) ([]string, error) {
	loc, err := registry.ParseLocation(s.Image)
	if err != nil {
		return nil, err
	}
	var refs []string
	seen := map[string]bool{}
	add := func(tag string) {
		if !seen[tag] {
			seen[tag] = true
			refs = append(refs, loc.Repository+":"+tag)
		}
	}
	if loc.Digest != "" {
		refs = append(refs, loc.String())
	} else if loc.Tag != "" {
		add(loc.Tag)
	}
	for _, t := range s.Tags {
		add(t)
	}
	if s.TagRegex == "" && s.Semver == "" {
		if len(refs) == 0 {
			add("latest")
		}
		return refs, nil
	}
	repo, err := client.Repository(ctx, loc.Repository)
	if err != nil {
		return nil, err
	}
	var all []string
	if err := repo.Tags(ctx, "", func(tags []string) error {
		all = append(all, tags...)
		if len(all) > 100000 {
			return fmt.Errorf("%s: more than 100000 tags", loc.Repository)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	selected, err := selectTags(all, s.TagRegex, s.Semver, s.Latest)
	if err != nil {
		return nil, err
	}
	for _, t := range selected {
		add(t)
	}
	return refs, nil
}

// selectTags filters tags by a regular expression and/or a semver range,
// keeping the latest n (by version when a range is given) if n > 0.
func selectTags(tags []string, re, rng string, n int) ([]string, error) {
	var rx *regexp.Regexp
	if re != "" {
		var err error
		if rx, err = regexp.Compile(re); err != nil {
			return nil, err
		}
	}
	var cons *semver.Constraints
	if rng != "" {
		var err error
		if cons, err = semver.NewConstraint(rng); err != nil {
			return nil, err
		}
	}
	type tv struct {
		tag string
		v   *semver.Version
	}
	var out []tv
	for _, t := range tags {
		if rx != nil && !rx.MatchString(t) {
			continue
		}
		var v *semver.Version
		if cons != nil {
			var err error
			if v, err = semver.NewVersion(t); err != nil || !cons.Check(v) {
				continue
			}
		}
		out = append(out, tv{t, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].v != nil && out[j].v != nil && !out[i].v.Equal(out[j].v) {
			return out[i].v.LessThan(out[j].v)
		}
		return out[i].tag < out[j].tag
	})
	if n > 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	res := make([]string, len(out))
	for i, x := range out {
		res[i] = x.tag
	}
	return res, nil
}
