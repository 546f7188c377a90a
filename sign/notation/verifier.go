package notation

import (
	"cmp"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/notaryproject/notation-core-go/revocation"
	"github.com/notaryproject/notation-core-go/revocation/crl"
	"github.com/notaryproject/notation-core-go/revocation/purpose"
	"github.com/notaryproject/notation-core-go/revocation/result"
	"github.com/notaryproject/notation-core-go/signature"
	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/dir"
	"github.com/notaryproject/notation-go/plugin"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"github.com/notaryproject/tspclient-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/dn"
)

// Revocation chooses how certificate revocation is checked. There is no
// default: a Verifier will not build until one is chosen.
type Revocation int

// Revocation modes.
const (
	// RevocationUnset is the zero value; NewVerifier rejects it.
	RevocationUnset Revocation = iota
	// RevocationOnline checks OCSP responders and CRL distribution points
	// named in the certificates, over HTTP (VerifierOptions.HTTPClient).
	RevocationOnline
	// RevocationOffline checks only the CRLs supplied in
	// VerifierOptions.CRLs; OCSP and network fetches are disabled. A
	// certificate that names a CRL not supplied has an unknown revocation
	// status: the revocation check is inconclusive, and so is the
	// signature (at every level: an unknown status is never reported as
	// verified). Certificates that name no CRL and no OCSP responder are
	// non-revokable, as for notation: the check passes and says so.
	RevocationOffline
	// RevocationSkipUnsafe does not check revocation at all. The check is
	// reported as skipped on every signature.
	RevocationSkipUnsafe
)

// String returns "online", "offline", "skip" or "unset".
func (r Revocation) String() string {
	switch r {
	case RevocationOnline:
		return "online"
	case RevocationOffline:
		return "offline"
	case RevocationSkipUnsafe:
		return "skip"
	}
	return "unset"
}

// Defaults of VerifierOptions.
const (
	// DefaultMaxSignatures is the default cap on signatures examined per
	// subject.
	DefaultMaxSignatures = 50
	// DefaultMaxEnvelopeBytes is the default cap on a signature envelope.
	DefaultMaxEnvelopeBytes = 4 << 20
	// DefaultLocalScope is the registry scope used for OCI layout and
	// memory repositories when VerifierOptions.LocalScope is empty.
	DefaultLocalScope = "local/cssc"
	// maxListed caps how many signature descriptors are listed (and
	// counted) per subject, whatever MaxSignatures says.
	maxListed = 100000
)

// VerifierOptions configure a Verifier. TrustPolicy, TrustStore and
// Revocation are required; the other zero values are documented per field.
type VerifierOptions struct {
	// TrustPolicy is the notation trust policy document. Required; it is
	// validated by NewVerifier.
	TrustPolicy *TrustPolicy
	// TrustStore holds the trusted roots the policy names. Required. Use
	// a *TrustStore (Go values, LoadTrustStore from an fs.FS) or
	// truststore.NewX509TrustStore of notation-go.
	TrustStore truststore.X509TrustStore
	// Revocation chooses online, offline or no revocation checking.
	// Required: RevocationUnset is an error.
	Revocation Revocation
	// CRLs are the certificate revocation lists for RevocationOffline,
	// keyed by the distribution point URL that certificates name, each DER
	// or PEM encoded. Nil means none. Ignored in other modes.
	CRLs map[string][]byte
	// HTTPClient fetches CRLs and OCSP responses for RevocationOnline. Nil
	// means a client with a 5 s timeout. Ignored in other modes.
	HTTPClient *http.Client
	// PluginDir is the directory of installed notation verification
	// plugins (<PluginDir>/<name>/notation-<name>). Empty means no plugins:
	// a signature that requires one is inconclusive.
	PluginDir string
	// PluginConfig is passed to verification plugins. Nil means none.
	PluginConfig map[string]string
	// LocalScope is the registry scope ("local/name") that selects the
	// trust policy statement for OCI layout and memory repositories. Empty
	// means DefaultLocalScope. Remote repositories use their name
	// ("registry.example.com/team/app"), as the notation CLI does.
	LocalScope string
	// UserMetadata lists key/value pairs that every signature must carry
	// in its signed payload. Nil means no requirement.
	UserMetadata map[string]string
	// MaxSignatures caps the signatures examined per subject (newest
	// first by their creation annotation); the rest are counted in
	// Verification.Unexamined. Zero means DefaultMaxSignatures.
	MaxSignatures int
	// MaxEnvelopeBytes caps one signature envelope; a larger one fails.
	// Zero means DefaultMaxEnvelopeBytes.
	MaxEnvelopeBytes int64
	// MaxManifestBytes caps one signature manifest. Zero means 4 MiB.
	MaxManifestBytes int64
	// Logger receives debug logs (including notation-go's). Nil means
	// silent.
	Logger *slog.Logger
}

// Verifier verifies Notary Project signatures against a trust policy and
// trust store. Each signature of a subject is verified on its own and
// reported with every check notation performed (integrity, authenticity
// with trusted identity, authenticTimestamp, expiry, revocation) plus the
// subject and user metadata checks. A Verifier is safe for concurrent use.
type Verifier struct {
	opts VerifierOptions
	nv   notationgo.Verifier
}

var _ sign.ScopedVerifier = (*Verifier)(nil)

// NewVerifier returns a Verifier configured by opts. It fails (with
// sign.ErrInvalidConfig) on a missing or invalid trust policy, a missing
// trust store, an unset revocation mode or unparsable CRLs.
func NewVerifier(opts VerifierOptions) (*Verifier, error) {
	if opts.TrustPolicy == nil {
		return nil, fmt.Errorf("%w: a trust policy is required", sign.ErrInvalidConfig)
	}
	if opts.TrustStore == nil {
		return nil, fmt.Errorf("%w: a trust store is required", sign.ErrInvalidConfig)
	}
	if err := opts.TrustPolicy.Validate(); err != nil {
		return nil, fmt.Errorf("%w: trust policy: %w", sign.ErrInvalidConfig, err)
	}
	if opts.MaxSignatures <= 0 {
		opts.MaxSignatures = DefaultMaxSignatures
	}
	if opts.MaxEnvelopeBytes <= 0 {
		opts.MaxEnvelopeBytes = DefaultMaxEnvelopeBytes
	}
	if opts.MaxManifestBytes <= 0 {
		opts.MaxManifestBytes = 4 << 20
	}
	if opts.LocalScope == "" {
		opts.LocalScope = DefaultLocalScope
	}
	var codeSigning, timestamping revocation.Validator
	var err error
	switch opts.Revocation {
	case RevocationOnline:
		hc := opts.HTTPClient
		if hc == nil {
			hc = &http.Client{Timeout: 5 * time.Second}
		}
		codeSigning, timestamping, err = validators(hc, nil)
	case RevocationOffline:
		f, ferr := newOfflineFetcher(opts.CRLs)
		if ferr != nil {
			return nil, ferr
		}
		codeSigning, timestamping, err = validators(&http.Client{Transport: offlineTransport{}}, f)
	case RevocationSkipUnsafe:
		codeSigning, timestamping = skipValidator{}, skipValidator{}
	default:
		return nil, fmt.Errorf("%w: choose a revocation mode (online, offline with CRLs, or skip)", sign.ErrInvalidConfig)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: revocation: %w", sign.ErrInvalidConfig, err)
	}
	var pm plugin.Manager
	if opts.PluginDir != "" {
		pm = plugin.NewCLIManager(dir.NewSysFS(opts.PluginDir))
	}
	nv, err := verifier.NewWithOptions(opts.TrustPolicy, opts.TrustStore, pm, verifier.VerifierOptions{
		RevocationCodeSigningValidator:  codeSigning,
		RevocationTimestampingValidator: timestamping,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", sign.ErrInvalidConfig, err)
	}
	return &Verifier{opts: opts, nv: nv}, nil
}

func validators(hc *http.Client, f crl.Fetcher) (cs, ts revocation.Validator, err error) {
	if f == nil {
		f, err = crl.NewHTTPFetcher(hc)
		if err != nil {
			return nil, nil, err
		}
	}
	cs, err = revocation.NewWithOptions(revocation.Options{OCSPHTTPClient: hc, CRLFetcher: f, CertChainPurpose: purpose.CodeSigning})
	if err != nil {
		return nil, nil, err
	}
	ts, err = revocation.NewWithOptions(revocation.Options{OCSPHTTPClient: hc, CRLFetcher: f, CertChainPurpose: purpose.Timestamping})
	return cs, ts, err
}

// Verify lists the Notary Project signatures of subject in repo and
// verifies each one, selecting the trust policy statement by repo's name
// (see VerifyAs). See sign.Verifier.
func (v *Verifier) Verify(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor) (*sign.Verification, error) {
	if repo == nil {
		return nil, errors.New("notation: nil repository")
	}
	return v.VerifyAs(ctx, repo, repo.Location(), subject)
}

// VerifyAs verifies the signatures of subject stored in repo as the
// notation CLI would verify them in the repository name: the trust policy
// statement is the one whose registryScopes hold name's registry and
// repository ("docker.io/library/nginx"), or the "*" statement. A name
// that is not a remote registry location (an OCI layout directory, a
// memory repository) selects VerifierOptions.LocalScope. Docker Hub names
// are written in full, as notation writes them: "docker.io/nginx" is
// "docker.io/library/nginx".
func (v *Verifier) VerifyAs(ctx context.Context, repo registry.Repository, name string, subject ocispec.Descriptor) (*sign.Verification, error) {
	if err := sign.CheckSubject(subject); err != nil {
		return nil, err
	}
	if repo == nil {
		return nil, errors.New("notation: nil repository")
	}
	ctx = withLogger(ctx, v.opts.Logger)
	out := &sign.Verification{Subject: subject, Signatures: []sign.Signature{}}
	descs, unexamined, err := v.list(ctx, repo, subject)
	if err != nil {
		return nil, fmt.Errorf("notation: list signatures of %s in %s: %w", subject.Digest, repo.Location(), err)
	}
	out.Unexamined = unexamined
	if len(descs) == 0 {
		return out, nil
	}
	ref := v.scope(name) + "@" + subject.Digest.String()
	tp, perr := v.opts.TrustPolicy.GetApplicableTrustPolicy(ref)
	for _, d := range descs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var s sign.Signature
		if perr != nil {
			s = sign.Signature{Format: formatOf(""), Digest: d.Digest, State: sign.StateInconclusive,
				Cause: "no applicable trust policy: " + perr.Error()}
		} else {
			s = v.verifyOne(ctx, repo, subject, d, ref, tp)
		}
		if l := v.opts.Logger; l != nil {
			l.DebugContext(ctx, "notation signature", "subject", subject.Digest, "signature", d.Digest, "state", s.State, "identity", s.Identity, "cause", s.Cause)
		}
		out.Signatures = append(out.Signatures, s)
	}
	out.Sort()
	return out, nil
}

// scope returns the registry scope of a repository name for trust policy
// selection.
func (v *Verifier) scope(name string) string {
	if l, err := registry.ParseLocation(name); err == nil && l.Kind == registry.KindRemote {
		return l.Repository
	}
	return v.opts.LocalScope
}

// list returns the signature manifests to examine (newest first, at most
// MaxSignatures) and how many more were found.
func (v *Verifier) list(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor) ([]ocispec.Descriptor, int, error) {
	var all []ocispec.Descriptor
	errStop := errors.New("stop")
	err := repo.Referrers(ctx, subject, artifact.TypeNotarySignature, func(page []ocispec.Descriptor) error {
		for _, d := range page {
			if d.ArtifactType != artifact.TypeNotarySignature {
				continue
			}
			all = append(all, d)
			if len(all) >= maxListed {
				return errStop
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		if errors.Is(err, registry.ErrNotFound) {
			return nil, 0, nil
		}
		return nil, 0, err
	}
	slices.SortFunc(all, func(a, b ocispec.Descriptor) int {
		if c := cmp.Compare(b.Annotations[ocispec.AnnotationCreated], a.Annotations[ocispec.AnnotationCreated]); c != 0 {
			return c
		}
		return cmp.Compare(a.Digest, b.Digest)
	})
	all = slices.CompactFunc(all, func(a, b ocispec.Descriptor) bool { return a.Digest == b.Digest })
	if len(all) > v.opts.MaxSignatures {
		return all[:v.opts.MaxSignatures], len(all) - v.opts.MaxSignatures, nil
	}
	return all, 0, nil
}

// fetchEnvelope fetches the signature manifest d and its envelope. A
// non-nil *sign.Signature result is the final (failed or inconclusive)
// outcome.
func (v *Verifier) fetchEnvelope(ctx context.Context, repo registry.Repository, subject, d ocispec.Descriptor) ([]byte, ocispec.Descriptor, *sign.Signature) {
	envelopeType := ""
	fail := func(state sign.State, check, format string, args ...any) *sign.Signature {
		msg := fmt.Sprintf(format, args...)
		return &sign.Signature{Format: formatOf(envelopeType), Digest: d.Digest, State: state, Cause: check + ": " + msg,
			Checks: []sign.Check{{Name: check, Result: checkResult(state), Enforced: true, Detail: msg}}}
	}
	if !manifest.IsManifest(d.MediaType) || manifest.IsIndex(d.MediaType) {
		return nil, ocispec.Descriptor{}, fail(sign.StateFailed, "envelope", "signature manifest has media type %q, want an image manifest", d.MediaType)
	}
	raw, err := manifest.Fetch(ctx, repo, d, v.opts.MaxManifestBytes)
	if err != nil {
		return nil, ocispec.Descriptor{}, fail(fetchState(err), "envelope", "fetch signature manifest: %v", err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, ocispec.Descriptor{}, fail(sign.StateFailed, "envelope", "malformed signature manifest: %v", err)
	}
	if m.Subject == nil || m.Subject.Digest != subject.Digest {
		return nil, ocispec.Descriptor{}, fail(sign.StateFailed, "subject", "signature manifest does not refer to %s", subject.Digest)
	}
	if at := cmp.Or(m.ArtifactType, m.Config.MediaType); at != artifact.TypeNotarySignature {
		return nil, ocispec.Descriptor{}, fail(sign.StateFailed, "envelope", "signature manifest has artifact type %q, want %q", at, artifact.TypeNotarySignature)
	}
	if len(m.Layers) != 1 {
		return nil, ocispec.Descriptor{}, fail(sign.StateFailed, "envelope", "signature manifest has %d layers, want exactly 1", len(m.Layers))
	}
	layer := m.Layers[0]
	envelopeType = layer.MediaType
	if layer.MediaType != EnvelopeJWS && layer.MediaType != EnvelopeCOSE {
		return nil, ocispec.Descriptor{}, fail(sign.StateFailed, "envelope", "unsupported signature envelope media type %q", layer.MediaType)
	}
	if layer.Size < 0 || layer.Size > v.opts.MaxEnvelopeBytes {
		return nil, ocispec.Descriptor{}, fail(sign.StateFailed, "envelope", "signature envelope of %d bytes exceeds the cap of %d", layer.Size, v.opts.MaxEnvelopeBytes)
	}
	if err := layer.Digest.Validate(); err != nil {
		return nil, ocispec.Descriptor{}, fail(sign.StateFailed, "envelope", "signature envelope digest: %v", err)
	}
	blob, err := content.FetchAll(ctx, repo, layer)
	if err != nil {
		return nil, ocispec.Descriptor{}, fail(fetchState(err), "envelope", "fetch signature envelope: %v", err)
	}
	return blob, layer, nil
}

func (v *Verifier) verifyOne(ctx context.Context, repo registry.Repository, subject, d ocispec.Descriptor, ref string, tp *trustpolicy.TrustPolicy) sign.Signature {
	level, _ := tp.SignatureVerification.GetVerificationLevel()
	blob, layer, early := v.fetchEnvelope(ctx, repo, subject, d)
	if early != nil {
		early.TrustPolicy, early.Level = tp.Name, level.Name
		return *early
	}
	s := sign.Signature{Format: formatOf(layer.MediaType), Digest: d.Digest, TrustPolicy: tp.Name, Level: level.Name}
	if level.Name == trustpolicy.LevelSkip.Name {
		s.State = sign.StateInconclusive
		s.Cause = fmt.Sprintf("verification skipped: trust policy %q has level skip", tp.Name)
		for _, t := range trustpolicy.ValidationTypes {
			s.Checks = append(s.Checks, sign.Check{Name: string(t), Result: sign.CheckSkipped, Detail: "skipped by verification level skip"})
		}
		return s
	}
	target := ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	outcome, verr := v.nv.Verify(ctx, target, blob, notationgo.VerifierVerifyOptions{
		ArtifactReference:  ref,
		SignatureMediaType: layer.MediaType,
		PluginConfig:       v.opts.PluginConfig,
		UserMetadata:       v.opts.UserMetadata,
	})
	return v.report(s, outcome, verr)
}

// report turns notation-go's outcome into a sign.Signature that says
// exactly what was checked.
func (v *Verifier) report(s sign.Signature, outcome *notationgo.VerificationOutcome, verr error) sign.Signature {
	if outcome == nil {
		s.State = sign.StateInconclusive
		if verr != nil {
			s.Cause = verr.Error()
		} else {
			s.Cause = "notation returned no outcome"
		}
		return s
	}
	level := outcome.VerificationLevel
	if level != nil {
		s.Level = level.Name
	}
	var signer *signature.SignerInfo
	if outcome.EnvelopeContent != nil {
		signer = &outcome.EnvelopeContent.SignerInfo
		if len(signer.CertificateChain) > 0 {
			// The spelling of the notation trust policy's x509.subject
			// identities ("C=US, ST=WA, O=..., CN=..."), not Go's reverse.
			s.Identity = dn.FromPKIX(signer.CertificateChain[0].Subject).String()
			s.Issuer = dn.FromPKIX(signer.CertificateChain[0].Issuer).String()
		}
		s.Timestamp = signer.SignedAttributes.SigningTime.UTC()
	}
	s.Checks = append(s.Checks, v.policyChecks(outcome.VerificationResults, level, s.Level, signer)...)
	integrityOK := hasPassed(s.Checks, string(trustpolicy.TypeIntegrity))
	s.Checks = append(s.Checks, v.laterChecks(verr, integrityOK)...)
	// Timestamp countersignature.
	if signer != nil && len(signer.UnsignedAttributes.TimestampSignature) > 0 && hasPassed(s.Checks, string(trustpolicy.TypeAuthenticTimestamp)) {
		if tok, err := tspclient.ParseSignedToken(signer.UnsignedAttributes.TimestampSignature); err == nil {
			if info, err := tok.Info(); err == nil {
				s.Timestamp, s.Timestamped = info.GenTime.UTC(), true
			}
		}
	}
	settle(&s, verr, integrityOK)
	return s
}

// policyChecks lists the trust policy checks of the results, one per
// validation type: each result as notation reported it at the level named
// levelName (revocation skipped when the verifier disables it), then, as
// skipped, the checks that notation did not reach or that the level skips.
func (v *Verifier) policyChecks(results []*notationgo.ValidationResult, level *trustpolicy.VerificationLevel, levelName string, signer *signature.SignerInfo) []sign.Check {
	var checks []sign.Check
	seen := map[string]bool{}
	for _, r := range results {
		if r == nil {
			continue
		}
		c := sign.Check{Name: string(r.Type), Enforced: r.Action == trustpolicy.ActionEnforce}
		switch {
		case r.Action == trustpolicy.ActionSkip:
			c.Result = sign.CheckSkipped
			c.Detail = "skipped by verification level " + levelName
			if r.Error != nil {
				c.Detail += "; it would have failed: " + r.Error.Error()
			}
		case r.Error == nil:
			c.Result = sign.CheckPassed
		case isInconclusive(r):
			c.Result, c.Detail = sign.CheckInconclusive, r.Error.Error()
		default:
			c.Result, c.Detail = sign.CheckFailed, r.Error.Error()
		}
		if r.Type == trustpolicy.TypeRevocation && c.Result == sign.CheckPassed && signer != nil && !revocable(signer.CertificateChain) {
			c.Detail = "non-revokable: no certificate in the chain names a CRL distribution point or OCSP responder"
		}
		if r.Type == trustpolicy.TypeRevocation && v.opts.Revocation == RevocationSkipUnsafe {
			c = sign.Check{Name: c.Name, Result: sign.CheckSkipped, Detail: "revocation checking disabled by the verifier (RevocationSkipUnsafe)"}
		}
		if seen[c.Name] {
			continue
		}
		seen[c.Name] = true
		checks = append(checks, c)
	}
	// Checks that notation did not reach, or that the level skips.
	for _, t := range trustpolicy.ValidationTypes {
		if seen[string(t)] {
			continue
		}
		c := sign.Check{Name: string(t), Result: sign.CheckSkipped}
		switch {
		case t == trustpolicy.TypeRevocation && v.opts.Revocation == RevocationSkipUnsafe:
			c.Detail = "revocation checking disabled by the verifier (RevocationSkipUnsafe)"
		case level != nil && level.Enforcement[t] == trustpolicy.ActionSkip:
			c.Detail = "skipped by verification level " + levelName
		default:
			c.Detail = "not performed: an earlier check failed"
		}
		checks = append(checks, c)
	}
	return checks
}

// laterChecks lists the checks notation performs after the trust policy
// checks: that the signature covers the subject, and the user metadata
// when the verifier asks for some.
func (v *Verifier) laterChecks(verr error, integrityOK bool) []sign.Check {
	var mismatch, metadata bool
	if verr != nil {
		var um notationgo.ErrorUserMetadataVerificationFailed
		mismatch = strings.Contains(verr.Error(), "content descriptor mismatch")
		metadata = errors.As(verr, &um)
	}
	var checks []sign.Check
	switch {
	case mismatch:
		checks = append(checks, sign.Check{Name: "subject", Result: sign.CheckFailed, Enforced: true, Detail: "the signature covers another artifact (content descriptor mismatch)"})
	case integrityOK && (verr == nil || metadata):
		checks = append(checks, sign.Check{Name: "subject", Result: sign.CheckPassed, Enforced: true})
	}
	if len(v.opts.UserMetadata) > 0 {
		switch {
		case metadata:
			checks = append(checks, sign.Check{Name: "userMetadata", Result: sign.CheckFailed, Enforced: true, Detail: verr.Error()})
		case verr == nil:
			checks = append(checks, sign.Check{Name: "userMetadata", Result: sign.CheckPassed, Enforced: true})
		}
	}
	return checks
}

// settle sets the state and cause of s from its checks: verified only if
// nothing failed, nothing was inconclusive, notation accepted the
// signature (verr is nil), and integrity and authenticity were checked and
// passed.
func settle(s *sign.Signature, verr error, integrityOK bool) {
	failed := firstCheck(s.Checks, sign.CheckFailed)
	inconclusive := firstCheck(s.Checks, sign.CheckInconclusive)
	switch {
	case failed != nil:
		s.State = sign.StateFailed
		s.Cause = failed.Name + ": " + failed.Detail
		if !failed.Enforced {
			s.Cause += fmt.Sprintf(" (only logged at level %s)", s.Level)
		}
	case inconclusive != nil:
		s.State = sign.StateInconclusive
		s.Cause = inconclusive.Name + ": " + inconclusive.Detail
	case verr != nil:
		// notation rejected the signature without a failed check (plugin
		// errors, for example): never verified.
		var inc notationgo.ErrorVerificationInconclusive
		s.State, s.Cause = sign.StateFailed, verr.Error()
		res := sign.CheckFailed
		if errors.As(verr, &inc) {
			s.State, res = sign.StateInconclusive, sign.CheckInconclusive
		}
		s.Checks = append(s.Checks, sign.Check{Name: "verification", Result: res, Enforced: true, Detail: verr.Error()})
	case !integrityOK || !hasPassed(s.Checks, string(trustpolicy.TypeAuthenticity)):
		s.State = sign.StateInconclusive
		s.Cause = "integrity or authenticity was not checked"
	default:
		s.State = sign.StateVerified
	}
}

func isInconclusive(r *notationgo.ValidationResult) bool {
	var inc notationgo.ErrorVerificationInconclusive
	if errors.As(r.Error, &inc) {
		return true
	}
	if r.Type == trustpolicy.TypeRevocation {
		msg := r.Error.Error()
		return strings.Contains(msg, "revocation status is unknown") || strings.Contains(msg, "unable to check revocation status")
	}
	return false
}

// revocable reports whether any certificate below the root names a CRL
// or OCSP responder.
func revocable(chain []*x509.Certificate) bool {
	for i, c := range chain {
		if i == len(chain)-1 {
			break
		}
		if len(c.CRLDistributionPoints) > 0 || len(c.OCSPServer) > 0 {
			return true
		}
	}
	return false
}

func hasPassed(checks []sign.Check, name string) bool {
	return slices.ContainsFunc(checks, func(c sign.Check) bool { return c.Name == name && c.Result == sign.CheckPassed })
}

// firstCheck returns the first check with result r, preferring enforced
// ones.
func firstCheck(checks []sign.Check, r sign.CheckResult) *sign.Check {
	var first *sign.Check
	for i := range checks {
		c := &checks[i]
		if c.Result != r {
			continue
		}
		if c.Enforced {
			return c
		}
		if first == nil {
			first = c
		}
	}
	return first
}

func formatOf(envelopeMediaType string) string {
	switch envelopeMediaType {
	case EnvelopeCOSE:
		return sign.FormatNotationCOSE
	case EnvelopeJWS:
		return sign.FormatNotationJWS
	}
	return sign.FormatNotation
}

func checkResult(s sign.State) sign.CheckResult {
	if s == sign.StateInconclusive {
		return sign.CheckInconclusive
	}
	return sign.CheckFailed
}

// fetchState: content that does not match its digest or exceeds a cap is
// a failed signature; anything else (network, missing blob) is
// inconclusive.
func fetchState(err error) sign.State {
	if errors.Is(err, registry.ErrDigestMismatch) || errors.Is(err, registry.ErrSizeExceeded) || errors.Is(err, registry.ErrSizeMismatch) ||
		errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) {
		return sign.StateFailed
	}
	return sign.StateInconclusive
}

// offlineFetcher serves supplied CRLs by distribution point URL.
type offlineFetcher map[string]*crl.Bundle

func newOfflineFetcher(crls map[string][]byte) (offlineFetcher, error) {
	f := offlineFetcher{}
	for url, data := range crls {
		der := data
		if b, _ := pem.Decode(data); b != nil {
			der = b.Bytes
		}
		l, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, fmt.Errorf("%w: CRL for %s: %w", sign.ErrInvalidConfig, url, err)
		}
		f[url] = &crl.Bundle{BaseCRL: l}
	}
	return f, nil
}

// Fetch returns the CRL supplied for url.
func (f offlineFetcher) Fetch(_ context.Context, url string) (*crl.Bundle, error) {
	if b, ok := f[url]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("offline revocation: no CRL supplied for %s", url)
}

// offlineTransport refuses every request: OCSP is not used offline.
type offlineTransport struct{}

func (offlineTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return nil, fmt.Errorf("offline revocation: network access to %s refused", r.URL.Host)
}

// skipValidator reports every certificate as non-revokable; the verifier
// reports the revocation check as skipped.
type skipValidator struct{}

func (skipValidator) ValidateContext(_ context.Context, opts revocation.ValidateContextOptions) ([]*result.CertRevocationResult, error) {
	out := make([]*result.CertRevocationResult, len(opts.CertChain))
	for i := range out {
		out[i] = &result.CertRevocationResult{Result: result.ResultNonRevokable, RevocationMethod: result.RevocationMethodUnknown,
			ServerResults: []*result.ServerResult{{Result: result.ResultNonRevokable, RevocationMethod: result.RevocationMethodUnknown}}}
	}
	return out, nil
}
