// Package pipeline builds the Acquire pipeline of the example programs from
// their configuration: the registry client, publisher verifiers (notation,
// cosign keys), the enterprise signer, OSV and clamd scanners, SBOM
// generation, provenance, lifecycle dates and the policy. examples/acquire
// runs it over a list of images; examples/catalog runs it for the tags that
// move upstream.
package pipeline

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/opencontainers/go-digest"
	"go.yaml.in/yaml/v3"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/sbom/scalibr"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/clamav"
	"github.com/cssc-go/cssc/scan/osv"
	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/cosign"
	"github.com/cssc-go/cssc/sign/notation"
)

// Config configures an Acquire pipeline (YAML or JSON). Relative paths are
// relative to the directory SetDir names (the configuration file's).
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

// DefaultImageTimeout is the default of Limits.ImageTimeout.
const DefaultImageTimeout = 30 * time.Minute

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

// MaxConfigBytes caps a configuration file Load reads: 1 MiB.
const MaxConfigBytes = 1 << 20

// Load reads and checks the pipeline settings of a configuration file in
// examples/acquire's format; its sources, if any, are ignored. Relative
// paths are relative to the file. Unknown keys are errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("config %s: larger than 1 MiB", path)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var file struct {
		Config  `yaml:",inline"`
		Sources yaml.Node `yaml:"sources"`
	}
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c := file.Config
	c.SetDir(filepath.Dir(path))
	if err := c.Check(); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return &c, nil
}

// SetDir sets the directory relative paths are relative to.
func (c *Config) SetDir(dir string) { c.dir = dir }

// Path resolves a path relative to the configuration's directory.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// Check reports the required settings that are missing.
func (c *Config) Check() error {
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
		return fmt.Errorf("missing %v", missing)
	}
	return nil
}

// Options configure Build. The zero value is ready to use.
type Options struct {
	// Logger receives what the pipeline does. Nil means silent.
	Logger *slog.Logger
	// OnEvent receives the pipeline's progress events. Nil means none.
	OnEvent func(acquire.Event)
	// OnPromoted is the pipeline's promotion hook
	// (acquire.Config.OnPromoted). Nil means none.
	OnPromoted func(ctx context.Context, rec *acquire.Record)
	// BuilderID identifies the program in provenance when
	// Config.BuilderID is empty. Empty means the acquire example's URL.
	BuilderID string
}

// Build turns the configuration into a pipeline and the registry client
// it uses.
func Build(ctx context.Context, cfg *Config, o Options) (*acquire.Pipeline, *registry.Client, error) {
	logger, onEvent := o.Logger, o.OnEvent
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := registry.Options{PlainHTTP: cfg.PlainHTTP, Logger: logger,
		StallTimeout: cfg.Limits.StallTimeout, MaxRetries: cfg.Limits.Retries}
	if cfg.DockerConfig != "" {
		creds, err := registry.DockerCredentials(cfg.Path(cfg.DockerConfig))
		if err != nil {
			return nil, nil, err
		}
		opts.Credentials = creds
	}
	client := registry.NewClient(opts)

	// Publisher verifiers.
	var verifiers sign.Multi
	if cfg.Trust.Notation != "" {
		v, err := notationVerifier(cfg.Path(cfg.Trust.Notation), cfg.Trust.Revocation, logger)
		if err != nil {
			return nil, nil, fmt.Errorf("trust.notation: %w", err)
		}
		verifiers = append(verifiers, v)
	}
	if len(cfg.Trust.CosignKeys) > 0 {
		var keys []crypto.PublicKey
		for _, k := range cfg.Trust.CosignKeys {
			data, err := os.ReadFile(cfg.Path(k))
			if err != nil {
				return nil, nil, fmt.Errorf("trust.cosignKeys: %w", err)
			}
			key, err := cosign.ParsePublicKey(data)
			if err != nil {
				return nil, nil, fmt.Errorf("trust.cosignKeys: %s: %w", k, err)
			}
			keys = append(keys, key)
		}
		v, err := cosign.New(cosign.Options{PublicKeys: keys, IgnoreTransparencyLogUnsafe: true, Logger: logger})
		if err != nil {
			return nil, nil, fmt.Errorf("trust.cosignKeys: %w", err)
		}
		verifiers = append(verifiers, v)
	}

	// The enterprise signer.
	var signer sign.Signer
	var err error
	if pl := cfg.Signing.Plugin; pl != nil {
		signer, err = notation.NewPluginSigner(ctx, cfg.Path(pl.Dir), pl.Name, pl.KeyID, notation.SignerOptions{Logger: logger})
	} else {
		signer, err = notation.NewSignerFromFiles(cfg.Path(cfg.Signing.Key), cfg.Path(cfg.Signing.Certificate), notation.SignerOptions{Logger: logger})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("signing: %w", err)
	}
	var self sign.Verifier
	if cfg.Signing.Verify != "" {
		v, err := notationVerifier(cfg.Path(cfg.Signing.Verify), cfg.Trust.Revocation, logger)
		if err != nil {
			return nil, nil, fmt.Errorf("signing.verify: %w", err)
		}
		self = v
	}

	// Scanners.
	db, err := osv.Load(ctx, cfg.Path(cfg.OSV), osv.Options{Logger: logger})
	if err != nil {
		return nil, nil, fmt.Errorf("osv: %w", err)
	}
	scanners := []scan.Scanner{osv.NewScanner(db)}
	if cfg.Clamd != "" {
		cl, err := clamav.New(clamav.Options{Address: cfg.Clamd, Logger: logger})
		if err != nil {
			return nil, nil, fmt.Errorf("clamd: %w", err)
		}
		scanners = append(scanners, cl)
	}

	// Policy and lifecycle.
	raw, err := os.ReadFile(cfg.Path(cfg.Policy))
	if err != nil {
		return nil, nil, err
	}
	doc, err := policy.Parse(raw)
	if err != nil {
		return nil, nil, err
	}
	pol, err := policy.Compile(doc)
	if err != nil {
		return nil, nil, err
	}
	lc, err := lifecycle(cfg.Lifecycle)
	if err != nil {
		return nil, nil, err
	}
	builder := cmp.Or(cfg.BuilderID, o.BuilderID, "https://github.com/cssc-go/cssc/examples/acquire")
	pc := acquire.Config{
		Client:     client,
		Importer:   acquire.NewImporter(client, acquire.ImporterOptions{BlobAttempts: cfg.Limits.BlobAttempts, Logger: logger}),
		Quarantine: cfg.Quarantine,
		Golden:     cfg.Golden,
		Scanners:   scanners,
		SBOM: &attest.SBOMEnricher{
			Generate: func(ctx context.Context, s *attest.Subject) (*sbom.Document, error) {
				return scalibr.Generate(ctx, s.Content, s.Descriptor, scalibr.Options{Logger: logger})
			},
			// One walk per platform feeds SBOM generation and clamd.
			Start: func(ctx context.Context, s *attest.Subject) (attest.SBOMFiles, error) {
				return scalibr.Start(s.Descriptor, scalibr.Options{Logger: logger})
			},
		},
		Provenance:                &attest.ProvenanceEnricher{BuilderID: builder},
		Lifecycle:                 lc,
		Signer:                    signer,
		EnterpriseVerifier:        self,
		Policy:                    pol,
		PolicyRef:                 &attest.PolicyRef{Name: pol.Name(), URI: cfg.Policy, Digest: digest.Digest(pol.Digest())},
		PromotePublisherArtifacts: true,
		Concurrency:               cfg.Concurrency,
		OnEvent:                   onEvent,
		OnPromoted:                o.OnPromoted,
		Logger:                    logger,
	}
	if len(verifiers) > 0 {
		pc.PublisherVerifier = verifiers
	}
	p, err := acquire.NewPipeline(pc)
	return p, client, err
}

// notationVerifier loads a notation configuration directory.
func notationVerifier(dir, revocation string, logger *slog.Logger) (*notation.Verifier, error) {
	tp, ts, err := notation.LoadConfigDir(dir)
	if err != nil {
		return nil, err
	}
	rev := notation.RevocationOffline
	switch revocation {
	case "", "offline":
	case "online":
		rev = notation.RevocationOnline
	case "skip":
		rev = notation.RevocationSkipUnsafe
	default:
		return nil, fmt.Errorf("revocation %q: want online, offline or skip", revocation)
	}
	return notation.NewVerifier(notation.VerifierOptions{TrustPolicy: tp, TrustStore: ts, Revocation: rev, Logger: logger})
}

// lifecycle returns the enricher that sets end-of-life dates, nil when
// none is configured.
func lifecycle(l Lifecycle) (attest.Enricher, error) {
	if l.EndOfLife == "" && len(l.Rules) == 0 {
		return nil, nil
	}
	e := &attest.LifecycleEnricher{}
	if l.EndOfLife != "" {
		d, err := attest.ParseDate(l.EndOfLife)
		if err != nil {
			return nil, fmt.Errorf("lifecycle.endOfLife: %w", err)
		}
		e.EndOfLife = d
	}
	for i, r := range l.Rules {
		d, err := attest.ParseDate(r.EndOfLife)
		if err != nil {
			return nil, fmt.Errorf("lifecycle.rules[%d].endOfLife: %w", i, err)
		}
		e.Rules = append(e.Rules, attest.LifecycleRule{Repository: r.Repository, Tag: r.Tag, EndOfLife: d})
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}
