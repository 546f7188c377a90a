package cosign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/cssc-go/cssc/sign"
)

// PredicateCosignSign is the in-toto predicate type of an image signature
// made by cosign v3 and stored as a sigstore bundle.
const PredicateCosignSign = "https://sigstore.dev/cosign/sign/v1"

// Default caps (see Options).
const (
	// DefaultMaxSignatures is the default of Options.MaxSignatures.
	DefaultMaxSignatures = 100
	// DefaultMaxPayloadBytes is the default of Options.MaxPayloadBytes.
	DefaultMaxPayloadBytes = 256 << 10
	// DefaultMaxBundleBytes is the default of Options.MaxBundleBytes.
	DefaultMaxBundleBytes = 4 << 20
	// MaxTrustedRootBytes caps the trusted root TrustedRootFromJSON reads.
	MaxTrustedRootBytes = 8 << 20
)

// Timestamps says at which time a signing certificate is checked, and so
// which proof of the signing time a keyless signature must carry.
type Timestamps int

const (
	// TimestampsObserved (the zero value) requires a signing time proven by
	// a transparency log entry's integrated time or by an RFC 3161
	// timestamp (at least Options.TimestampThreshold of them, counted
	// together), as cosign does.
	TimestampsObserved Timestamps = iota
	// TimestampsSigned requires RFC 3161 timestamps from a timestamping
	// authority of the trusted root.
	TimestampsSigned
	// TimestampsIntegrated requires transparency log integrated times; it
	// cannot be combined with IgnoreTransparencyLogUnsafe.
	TimestampsIntegrated
	// TimestampsCurrentTimeUnsafe checks certificates at the current time
	// instead of a proven signing time. It suits long-lived certificates of
	// a private PKI; a short-lived Fulcio certificate will have expired.
	TimestampsCurrentTimeUnsafe
)

// String returns the name of the choice.
func (t Timestamps) String() string {
	switch t {
	case TimestampsObserved:
		return "observed"
	case TimestampsSigned:
		return "signed"
	case TimestampsIntegrated:
		return "integrated"
	case TimestampsCurrentTimeUnsafe:
		return "current-time-unsafe"
	}
	return fmt.Sprintf("Timestamps(%d)", int(t))
}

// Identity is a rule that a keyless signature's certificate must satisfy:
// its OIDC issuer (the Fulcio issuer extension) and its subject alternative
// name (an e-mail address, a URI such as a GitHub workflow, ...). Exactly
// one of Issuer and IssuerRegexp, and exactly one of
// SubjectAlternativeName and SubjectAlternativeNameRegexp, must be set.
type Identity struct {
	// Issuer is the exact OIDC issuer, e.g.
	// "https://token.actions.githubusercontent.com".
	Issuer string
	// IssuerRegexp is a regular expression (RE2 syntax) the whole issuer
	// must match; it is anchored at both ends.
	IssuerRegexp string
	// SubjectAlternativeName is the exact certificate SAN, e.g.
	// "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main".
	SubjectAlternativeName string
	// SubjectAlternativeNameRegexp is a regular expression (RE2 syntax) the
	// whole SAN must match; it is anchored at both ends.
	SubjectAlternativeNameRegexp string
}

// String describes the rule, e.g. "issuer=https://... san~^.*@corp$".
func (id Identity) String() string {
	s := "issuer=" + id.Issuer
	if id.IssuerRegexp != "" {
		s = "issuer~" + id.IssuerRegexp
	}
	if id.SubjectAlternativeNameRegexp != "" {
		return s + " san~" + id.SubjectAlternativeNameRegexp
	}
	return s + " san=" + id.SubjectAlternativeName
}

func (id Identity) compile() (verify.CertificateIdentity, error) {
	if (id.Issuer == "") == (id.IssuerRegexp == "") {
		return verify.CertificateIdentity{}, fmt.Errorf("identity %s: set exactly one of Issuer and IssuerRegexp", id)
	}
	if (id.SubjectAlternativeName == "") == (id.SubjectAlternativeNameRegexp == "") {
		return verify.CertificateIdentity{}, fmt.Errorf("identity %s: set exactly one of SubjectAlternativeName and SubjectAlternativeNameRegexp", id)
	}
	anchor := func(expr string) (string, error) {
		if expr == "" {
			return "", nil
		}
		a := "^(?:" + expr + ")$"
		if _, err := regexp.Compile(a); err != nil {
			return "", fmt.Errorf("identity %s: %w", id, err)
		}
		return a, nil
	}
	issRe, err := anchor(id.IssuerRegexp)
	if err != nil {
		return verify.CertificateIdentity{}, err
	}
	sanRe, err := anchor(id.SubjectAlternativeNameRegexp)
	if err != nil {
		return verify.CertificateIdentity{}, err
	}
	return verify.NewShortCertificateIdentity(id.Issuer, issRe, id.SubjectAlternativeName, sanRe)
}

// Options configure a Verifier. The zero value is not usable: New requires
// PublicKeys, or TrustedRoot with Identities, and a decision about the
// transparency log (a TrustedRoot that holds its keys, or
// IgnoreTransparencyLogUnsafe).
type Options struct {
	// PublicKeys verify signatures made with a key (cosign sign --key):
	// *ecdsa.PublicKey (any curve, SHA-256 as cosign uses), *rsa.PublicKey
	// (PKCS #1 v1.5, SHA-256) or ed25519.PublicKey. A signature verifies if
	// one key verifies it; the signature's Identity is KeyID of that key.
	// See ParsePublicKey for cosign.pub files. Empty means key signatures
	// are inconclusive.
	PublicKeys []crypto.PublicKey

	// TrustedRoot holds the trust material of a sigstore deployment:
	// Fulcio certificate authorities (for keyless signatures), Rekor
	// transparency log keys, timestamping authorities and CT log keys.
	// Load it with TrustedRootFromJSON, or build one (root.NewTrustedRoot);
	// it is never fetched. Nil means keyless signatures are inconclusive and
	// transparency log entries cannot be checked.
	TrustedRoot root.TrustedMaterial

	// Identities are the accepted signers of keyless signatures; a
	// certificate must match at least one. Required with TrustedRoot
	// unless AnyIdentityUnsafe is set.
	Identities []Identity

	// AnyIdentityUnsafe accepts a keyless signature from any identity the
	// trusted root's CA certified (anyone with an OIDC account, for the
	// public Sigstore instance). It has no effect when Identities is set.
	// False means Identities are required with TrustedRoot.
	AnyIdentityUnsafe bool

	// TransparencyLogThreshold is how many transparency log entries each
	// signature must carry, each verified offline (inclusion proof or
	// signed entry timestamp) against TrustedRoot's Rekor keys. Zero means
	// 1. Ignored with IgnoreTransparencyLogUnsafe.
	TransparencyLogThreshold int

	// IgnoreTransparencyLogUnsafe accepts signatures without transparency
	// log entries (cosign's --insecure-ignore-tlog), e.g. for keys used
	// with --tlog-upload=false. False means entries are required, and then
	// TrustedRoot must be set even for key signatures.
	IgnoreTransparencyLogUnsafe bool

	// Timestamps chooses how a certificate's validity is checked; the zero
	// value is TimestampsObserved. Key signatures need no signing time
	// except under TimestampsSigned, which requires RFC 3161 timestamps of
	// them as well.
	Timestamps Timestamps

	// TimestampThreshold is how many verified timestamps Timestamps needs.
	// Zero means 1.
	TimestampThreshold int

	// SignedCertificateTimestamps is how many verified certificate
	// transparency SCTs a keyless certificate must embed, checked against
	// TrustedRoot's CT log keys. Zero means none are required; cosign
	// requires 1 for the public Sigstore instance, whose Fulcio embeds
	// them, so set 1 there.
	SignedCertificateTimestamps int

	// PredicateTypes lists the in-toto predicate types of DSSE bundles that
	// count as signatures of the subject. Bundles of other predicate types
	// (provenance, SBOM attestations) are attestations, not signatures, and
	// are skipped. Nil means only PredicateCosignSign. Message-signature
	// bundles always count.
	PredicateTypes []string

	// MaxSignatures caps how many signatures (legacy layers and bundles
	// together) one Verify examines; the rest are counted in
	// sign.Verification.Unexamined. Zero means DefaultMaxSignatures (100).
	MaxSignatures int

	// MaxPayloadBytes caps a legacy simple-signing payload read into
	// memory. Zero means DefaultMaxPayloadBytes (256 KiB).
	MaxPayloadBytes int64

	// MaxBundleBytes caps a sigstore bundle read into memory. Zero means
	// DefaultMaxBundleBytes (4 MiB).
	MaxBundleBytes int64

	// MaxManifestBytes caps signature manifests read into memory. Zero
	// means 4 MiB, as for registry.Options.MaxManifestBytes.
	MaxManifestBytes int64

	// Logger receives debug logs of what was found and skipped. Nil means
	// silent.
	Logger *slog.Logger
}

// ParsePublicKey parses a PEM "PUBLIC KEY" block (a cosign.pub file) or a
// DER PKIX public key and returns an ECDSA, RSA or Ed25519 public key.
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	der := data
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("%w: PEM block %q is not a PUBLIC KEY", sign.ErrInvalidConfig, block.Type)
		}
		der = block.Bytes
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", sign.ErrInvalidConfig, err)
	}
	if err := checkKeyType(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

func checkKeyType(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return fmt.Errorf("%w: nil ECDSA key", sign.ErrInvalidConfig)
		}
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return fmt.Errorf("%w: nil RSA key", sign.ErrInvalidConfig)
		}
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("%w: RSA key of %d bits (at least 2048 required)", sign.ErrInvalidConfig, k.N.BitLen())
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: Ed25519 key of %d bytes", sign.ErrInvalidConfig, len(k))
		}
	default:
		return fmt.Errorf("%w: unsupported public key type %T", sign.ErrInvalidConfig, pub)
	}
	return nil
}

// KeyID returns the identity cssc gives signatures made with pub:
// "sha256:" followed by the hex SHA-256 of the key's PKIX DER encoding.
// Policies that require a key signature name this identity.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("%w: %v", sign.ErrInvalidConfig, err)
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// TrustedRootFromJSON parses a sigstore trusted root document (the
// trusted_root.json that `cosign trusted-root create` writes or that TUF
// distributes, media type application/vnd.dev.sigstore.trustedroot+json)
// of at most MaxTrustedRootBytes. Nothing is fetched.
func TrustedRootFromJSON(data []byte) (*root.TrustedRoot, error) {
	if len(data) > MaxTrustedRootBytes {
		return nil, fmt.Errorf("%w: trusted root of %d bytes exceeds %d", sign.ErrInvalidConfig, len(data), MaxTrustedRootBytes)
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		return nil, fmt.Errorf("%w: trusted root: %v", sign.ErrInvalidConfig, err)
	}
	return tr, nil
}

// validate checks o and fills in defaults; it returns a copy.
func (o Options) validate() (Options, []verify.CertificateIdentity, error) {
	var errs []error
	if len(o.PublicKeys) == 0 && o.TrustedRoot == nil {
		errs = append(errs, errors.New("no trust material: set PublicKeys or TrustedRoot"))
	}
	for i, k := range o.PublicKeys {
		if err := checkKeyType(k); err != nil {
			errs = append(errs, fmt.Errorf("PublicKeys[%d]: %w", i, err))
		}
	}
	var ids []verify.CertificateIdentity
	for _, id := range o.Identities {
		c, err := id.compile()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ids = append(ids, c)
	}
	if o.TrustedRoot != nil && len(o.Identities) == 0 && !o.AnyIdentityUnsafe {
		errs = append(errs, errors.New("TrustedRoot without Identities: name the accepted signers or set AnyIdentityUnsafe"))
	}
	if o.TrustedRoot == nil && len(o.Identities) > 0 {
		errs = append(errs, errors.New("Identities without TrustedRoot: keyless signatures need a trusted root"))
	}
	if !o.IgnoreTransparencyLogUnsafe && o.TrustedRoot == nil {
		errs = append(errs, errors.New("transparency log entries are required but there is no TrustedRoot holding the log keys: set TrustedRoot or IgnoreTransparencyLogUnsafe"))
	}
	if o.IgnoreTransparencyLogUnsafe && o.Timestamps == TimestampsIntegrated {
		errs = append(errs, errors.New("TimestampsIntegrated needs the transparency log, which IgnoreTransparencyLogUnsafe turns off"))
	}
	if o.Timestamps < TimestampsObserved || o.Timestamps > TimestampsCurrentTimeUnsafe {
		errs = append(errs, fmt.Errorf("unknown Timestamps %d", int(o.Timestamps)))
	}
	for name, v := range map[string]int64{
		"TransparencyLogThreshold": int64(o.TransparencyLogThreshold), "TimestampThreshold": int64(o.TimestampThreshold),
		"SignedCertificateTimestamps": int64(o.SignedCertificateTimestamps), "MaxSignatures": int64(o.MaxSignatures),
		"MaxPayloadBytes": o.MaxPayloadBytes, "MaxBundleBytes": o.MaxBundleBytes, "MaxManifestBytes": o.MaxManifestBytes,
	} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s is negative", name))
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b error) int { return compareStrings(a.Error(), b.Error()) })
		return o, nil, fmt.Errorf("%w: cosign: %w", sign.ErrInvalidConfig, errors.Join(errs...))
	}
	if o.TransparencyLogThreshold == 0 {
		o.TransparencyLogThreshold = 1
	}
	if o.TimestampThreshold == 0 {
		o.TimestampThreshold = 1
	}
	if o.PredicateTypes == nil {
		o.PredicateTypes = []string{PredicateCosignSign}
	}
	if o.MaxSignatures == 0 {
		o.MaxSignatures = DefaultMaxSignatures
	}
	if o.MaxPayloadBytes == 0 {
		o.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if o.MaxBundleBytes == 0 {
		o.MaxBundleBytes = DefaultMaxBundleBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.PublicKeys = slices.Clone(o.PublicKeys)
	o.PredicateTypes = slices.Clone(o.PredicateTypes)
	return o, ids, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// timestampOptions returns the sigstore-go options for t.
func (o Options) timestampOptions() []verify.VerifierOption {
	switch o.Timestamps {
	case TimestampsSigned:
		return []verify.VerifierOption{verify.WithSignedTimestamps(o.TimestampThreshold)}
	case TimestampsIntegrated:
		return []verify.VerifierOption{verify.WithIntegratedTimestamps(o.TimestampThreshold)}
	case TimestampsCurrentTimeUnsafe:
		return []verify.VerifierOption{verify.WithCurrentTime()}
	}
	return []verify.VerifierOption{verify.WithObserverTimestamps(o.TimestampThreshold)}
}

// keylessOptions returns the sigstore-go options for certificate signatures.
func (o Options) keylessOptions() []verify.VerifierOption {
	var opts []verify.VerifierOption
	if !o.IgnoreTransparencyLogUnsafe {
		opts = append(opts, verify.WithTransparencyLog(o.TransparencyLogThreshold))
	}
	opts = append(opts, o.timestampOptions()...)
	if o.SignedCertificateTimestamps > 0 {
		opts = append(opts, verify.WithSignedCertificateTimestamps(o.SignedCertificateTimestamps))
	}
	return opts
}

// keyOptions returns the sigstore-go options for key signatures.
func (o Options) keyOptions() []verify.VerifierOption {
	if !o.IgnoreTransparencyLogUnsafe {
		opts := []verify.VerifierOption{verify.WithTransparencyLog(o.TransparencyLogThreshold)}
		if o.Timestamps == TimestampsSigned {
			return append(opts, verify.WithSignedTimestamps(o.TimestampThreshold))
		}
		// The log entry's integrated time (or an RFC 3161 timestamp)
		// proves when the key signed.
		return append(opts, verify.WithObserverTimestamps(o.TimestampThreshold))
	}
	if o.Timestamps == TimestampsSigned {
		return []verify.VerifierOption{verify.WithSignedTimestamps(o.TimestampThreshold)}
	}
	return []verify.VerifierOption{verify.WithNoObserverTimestamps()}
}
