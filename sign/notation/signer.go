package notation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"strings"
	"time"

	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/dir"
	"github.com/notaryproject/notation-go/plugin"
	"github.com/notaryproject/notation-go/signer"
	"github.com/notaryproject/tspclient-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
)

// Envelope formats of a Notary Project signature.
const (
	// EnvelopeJWS is the JSON Web Signature envelope (the notation default).
	EnvelopeJWS = "application/jose+json"
	// EnvelopeCOSE is the CBOR Object Signing and Encryption envelope.
	EnvelopeCOSE = "application/cose"
)

// Timestamping configures RFC 3161 timestamping of signatures.
type Timestamping struct {
	// URL is the timestamp authority's endpoint. Required.
	URL string
	// RootCAs holds the TSA's root certificate(s), against which the
	// timestamp response is verified while signing. Required.
	RootCAs *x509.CertPool
	// HTTPClient sends the timestamp request. Nil means a client with a
	// 10 s timeout.
	HTTPClient *http.Client
}

// SignerOptions configure a Signer. The zero value signs with a JWS
// envelope, no expiry, no timestamp, silently.
type SignerOptions struct {
	// Envelope is EnvelopeJWS or EnvelopeCOSE. Empty means EnvelopeJWS.
	Envelope string
	// Expiry, if positive, makes signatures expire that long after signing
	// (whole seconds). Zero means signatures do not expire.
	Expiry time.Duration
	// Timestamp, if set, countersigns every signature with an RFC 3161
	// timestamp from the given authority. Nil means no timestamp.
	Timestamp *Timestamping
	// UserMetadata is added to the signed payload (annotations of the
	// target artifact); keys must not start with "io.cncf.notary". Nil
	// means none.
	UserMetadata map[string]string
	// PluginConfig is passed to a notation plugin on every call. Nil means
	// none. Ignored by key signers.
	PluginConfig map[string]string
	// Logger receives debug logs (including notation-go's). Nil means
	// silent.
	Logger *slog.Logger
}

// Signer signs artifacts with Notary Project signatures and stores them as
// referrers of the signed artifact, exactly as the notation CLI does: an
// OCI image manifest whose config media type (and so its artifact type) is
// application/vnd.cncf.notary.signature, one layer holding the envelope,
// the subject, and the annotations io.cncf.notary.x509chain.thumbprint#S256
// and org.opencontainers.image.created (the signing time).
//
// A Signer is safe for concurrent use.
type Signer struct {
	ns   notationgo.Signer
	opts SignerOptions
	ts   tspclient.Timestamper
}

var (
	_ sign.Signer         = (*Signer)(nil)
	_ sign.EnvelopeSigner = (*Signer)(nil)
)

// NewSigner returns a Signer that signs with key, whose certificate chain
// (leaf first, ending with the root) is chain.
//
// key may be an *rsa.PrivateKey or *ecdsa.PrivateKey held in memory, or
// any other crypto.Signer (a cloud KMS or HSM client, for example). The
// latter is adapted to what notation expects: a SHA-2 digest of the
// payload signed with RSASSA-PSS for RSA keys, and the ASN.1 ECDSA
// signature converted to the raw r||s form for ECDSA keys. The key must
// match the leaf certificate; this is checked here for in-memory keys and
// at the first signature (which notation-go verifies after signing) for
// others.
func NewSigner(key crypto.Signer, chain []*x509.Certificate, opts SignerOptions) (*Signer, error) {
	if key == nil || len(chain) == 0 {
		return nil, fmt.Errorf("%w: key and certificate chain are required", sign.ErrInvalidConfig)
	}
	var ns notationgo.Signer
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
		gs, err := signer.NewGenericSigner(key, chain)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", sign.ErrInvalidConfig, err)
		}
		ns = gs
	default:
		p, err := newKeyPlugin(key, chain)
		if err != nil {
			return nil, err
		}
		ps, err := signer.NewPluginSigner(p, keyPluginKeyID, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", sign.ErrInvalidConfig, err)
		}
		ns = ps
	}
	return newSigner(ns, opts)
}

// NewSignerFromFiles returns a Signer for a PEM private key file (PKCS #1,
// PKCS #8 or SEC 1) and a PEM certificate chain file (leaf first, ending
// with the root), the files `notation cert generate-test` and
// `notation key add` use.
func NewSignerFromFiles(keyPath, chainPath string, opts SignerOptions) (*Signer, error) {
	if keyPath == "" || chainPath == "" {
		return nil, fmt.Errorf("%w: key and certificate chain paths are required", sign.ErrInvalidConfig)
	}
	kp, err := tls.LoadX509KeyPair(chainPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", sign.ErrInvalidConfig, err)
	}
	chain := make([]*x509.Certificate, 0, len(kp.Certificate))
	for _, der := range kp.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", sign.ErrInvalidConfig, chainPath, err)
		}
		chain = append(chain, c)
	}
	key, ok := kp.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %s: unsupported key type %T", sign.ErrInvalidConfig, keyPath, kp.PrivateKey)
	}
	return NewSigner(key, chain, opts)
}

// NewPluginSigner returns a Signer that signs through an installed notation
// plugin: the executable pluginDir/<name>/notation-<name>, the layout the
// notation CLI installs plugins in. keyID names the key in the plugin's
// key store (the --id of `notation key add --plugin`). pluginDir is given
// explicitly; no default location is read.
func NewPluginSigner(ctx context.Context, pluginDir, name, keyID string, opts SignerOptions) (*Signer, error) {
	if pluginDir == "" || name == "" || keyID == "" {
		return nil, fmt.Errorf("%w: plugin directory, plugin name and key id are required", sign.ErrInvalidConfig)
	}
	if st, err := os.Stat(pluginDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%w: plugin directory %q is not a directory", sign.ErrInvalidConfig, pluginDir)
	}
	mgr := plugin.NewCLIManager(dir.NewSysFS(pluginDir))
	p, err := mgr.Get(withLogger(ctx, opts.Logger), name)
	if err != nil {
		return nil, fmt.Errorf("%w: plugin %q: %w", sign.ErrInvalidConfig, name, err)
	}
	ps, err := signer.NewPluginSigner(p, keyID, opts.PluginConfig)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", sign.ErrInvalidConfig, err)
	}
	return newSigner(ps, opts)
}

func newSigner(ns notationgo.Signer, opts SignerOptions) (*Signer, error) {
	switch opts.Envelope {
	case "":
		opts.Envelope = EnvelopeJWS
	case EnvelopeJWS, EnvelopeCOSE:
	default:
		return nil, fmt.Errorf("%w: unknown envelope %q", sign.ErrInvalidConfig, opts.Envelope)
	}
	if opts.Expiry < 0 || opts.Expiry%time.Second != 0 {
		return nil, fmt.Errorf("%w: expiry %v must be a non-negative number of whole seconds", sign.ErrInvalidConfig, opts.Expiry)
	}
	for k := range opts.UserMetadata {
		if strings.HasPrefix(k, "io.cncf.notary") {
			return nil, fmt.Errorf("%w: user metadata key %q has the reserved prefix io.cncf.notary", sign.ErrInvalidConfig, k)
		}
	}
	s := &Signer{ns: ns, opts: opts}
	if t := opts.Timestamp; t != nil {
		if t.URL == "" || t.RootCAs == nil {
			return nil, fmt.Errorf("%w: timestamping needs a URL and root CAs", sign.ErrInvalidConfig)
		}
		hc := t.HTTPClient
		if hc == nil {
			hc = &http.Client{Timeout: 10 * time.Second}
		}
		ts, err := tspclient.NewHTTPTimestamper(hc, t.URL)
		if err != nil {
			return nil, fmt.Errorf("%w: timestamp authority: %w", sign.ErrInvalidConfig, err)
		}
		s.ts = ts
	}
	return s, nil
}

// Sign signs subject by digest and pushes the signature to repo as a
// referrer of subject (through the referrers API, or the referrers tag
// schema on registries without it, or the predecessor graph of an OCI
// layout or memory repository). It returns the signature manifest's
// descriptor.
//
// The subject is resolved by its digest in repo first, and what the
// repository returns is what is signed: tags are never involved. A subject
// whose media type or size differs from what the repository says is
// refused with sign.ErrInvalidSubject before anything is pushed.
func (s *Signer) Sign(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor) (ocispec.Descriptor, error) {
	if err := sign.CheckSubject(subject); err != nil {
		return ocispec.Descriptor{}, err
	}
	if repo == nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w: nil repository", sign.ErrSigningFailed)
	}
	ctx = withLogger(ctx, s.opts.Logger)
	// What notation signs is what the repository resolves the digest to;
	// refuse early (before anything is pushed) if that is not the
	// descriptor the caller means, since verifying against the caller's
	// descriptor would then fail.
	resolved, err := repo.Resolve(ctx, subject.Digest.String())
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w: resolve %s in %s: %w", sign.ErrSigningFailed, subject.Digest, repo.Location(), err)
	}
	if resolved.Digest != subject.Digest || resolved.Size != subject.Size || resolved.MediaType != subject.MediaType {
		return ocispec.Descriptor{}, fmt.Errorf("%w: %s resolves to %s %s (%d bytes), not %s (%d bytes)", sign.ErrInvalidSubject,
			subject.Digest, resolved.MediaType, resolved.Digest, resolved.Size, subject.MediaType, subject.Size)
	}
	rec := &recordingRepository{Repository: newNotationRepository(repo)}
	opts := notationgo.SignOptions{
		SignerSignOptions: notationgo.SignerSignOptions{
			SignatureMediaType: s.opts.Envelope,
			ExpiryDuration:     s.opts.Expiry,
			PluginConfig:       s.opts.PluginConfig,
			SigningAgent:       signingAgent,
		},
		ArtifactReference: subject.Digest.String(),
		UserMetadata:      s.opts.UserMetadata,
	}
	if s.ts != nil {
		opts.Timestamper = s.ts
		opts.TSARootCAs = s.opts.Timestamp.RootCAs
	}
	target, err := notationgo.Sign(ctx, s.ns, rec, opts)
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return ocispec.Descriptor{}, fmt.Errorf("%w: subject %s not found in %s: %w", sign.ErrSigningFailed, subject.Digest, repo.Location(), err)
		}
		return ocispec.Descriptor{}, fmt.Errorf("%w: %s in %s: %w", sign.ErrSigningFailed, subject.Digest, repo.Location(), err)
	}
	if target.Digest != subject.Digest {
		return ocispec.Descriptor{}, fmt.Errorf("%w: signed %s, want %s", sign.ErrSigningFailed, target.Digest, subject.Digest)
	}
	if rec.manifest.Digest == "" {
		return ocispec.Descriptor{}, fmt.Errorf("%w: no signature manifest was pushed", sign.ErrSigningFailed)
	}
	if l := s.opts.Logger; l != nil {
		l.DebugContext(ctx, "signed", "subject", subject.Digest, "signature", rec.manifest.Digest, "repository", repo.Location())
	}
	return rec.manifest, nil
}

// SignEnvelope signs subject (by digest, media type and size; the
// UserMetadata of the options become the payload's annotations) and returns
// the envelope with the annotations the notation CLI writes on the
// signature manifest, without reading or writing any repository: store it
// with sign.StoreSignature, or use sign.AsReferrer(s). Sign does both in
// one call, through notation-go.
func (s *Signer) SignEnvelope(ctx context.Context, subject ocispec.Descriptor) (*sign.Envelope, error) {
	if err := sign.CheckSubject(subject); err != nil {
		return nil, err
	}
	ctx = withLogger(ctx, s.opts.Logger)
	target := ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size, Annotations: maps.Clone(s.opts.UserMetadata)}
	opts := notationgo.SignerSignOptions{
		SignatureMediaType: s.opts.Envelope,
		ExpiryDuration:     s.opts.Expiry,
		PluginConfig:       s.opts.PluginConfig,
		SigningAgent:       signingAgent,
	}
	if s.ts != nil {
		opts.Timestamper = s.ts
		opts.TSARootCAs = s.opts.Timestamp.RootCAs
	}
	env, info, err := s.ns.Sign(ctx, target, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", sign.ErrSigningFailed, subject.Digest, err)
	}
	if info == nil || len(info.CertificateChain) == 0 {
		return nil, fmt.Errorf("%w: %s: the signer returned no certificate chain", sign.ErrSigningFailed, subject.Digest)
	}
	thumbprints := make([]string, len(info.CertificateChain))
	for i, c := range info.CertificateChain {
		sum := sha256.Sum256(c.Raw)
		thumbprints[i] = hex.EncodeToString(sum[:])
	}
	tp, err := json.Marshal(thumbprints)
	if err != nil {
		return nil, err
	}
	created := info.SignedAttributes.SigningTime.UTC()
	return &sign.Envelope{
		ArtifactType: artifact.TypeNotarySignature,
		MediaType:    s.opts.Envelope,
		Data:         env,
		Annotations:  map[string]string{annotationThumbprints: string(tp)},
		Created:      created,
	}, nil
}

// annotationThumbprints is the signature manifest annotation that lists the
// SHA-256 thumbprints of the certificate chain (notation-go's
// envelope.AnnotationX509ChainThumbprint, in an internal package).
const annotationThumbprints = "io.cncf.notary.x509chain.thumbprint#S256"

// signingAgent is the signing agent recorded in the envelope's unprotected
// header, next to notation-go's own.
const signingAgent = "cssc notation-go/1.3.2"
