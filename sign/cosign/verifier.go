package cosign

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
)

// Verifier verifies the cosign signatures of a subject: legacy
// "sha256-<hex>.sig" tags and sigstore bundles stored as referrers. Create
// it with New; it is safe for concurrent use and holds no per-call state.
type Verifier struct {
	opts Options
	ids  []verify.CertificateIdentity
	// keyless verifies certificate signatures; nil without TrustedRoot.
	keyless *verify.Verifier
	keys    []keyVerifier
}

// keyVerifier is one configured public key with its sigstore-go verifier.
type keyVerifier struct {
	pub crypto.PublicKey
	id  string
	sv  signature.Verifier
	v   *verify.Verifier
}

var _ sign.Verifier = (*Verifier)(nil)

// New returns a Verifier configured by opts. It fails with an error wrapping
// sign.ErrInvalidConfig when opts names no trust material, when keyless
// verification has no identity rules, when transparency log entries are
// required without a trusted root to check them, or when an option is
// invalid (see Options).
func New(opts Options) (*Verifier, error) {
	o, ids, err := opts.validate()
	if err != nil {
		return nil, err
	}
	v := &Verifier{opts: o, ids: ids}
	if o.TrustedRoot != nil {
		v.keyless, err = verify.NewVerifier(o.TrustedRoot, o.keylessOptions()...)
		if err != nil {
			return nil, fmt.Errorf("%w: cosign: keyless verifier: %v", sign.ErrInvalidConfig, err)
		}
	}
	for i, pub := range o.PublicKeys {
		sv, err := signature.LoadVerifier(pub, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("%w: cosign: PublicKeys[%d]: %v", sign.ErrInvalidConfig, i, err)
		}
		id, err := KeyID(pub)
		if err != nil {
			return nil, err
		}
		key := root.NewExpiringKey(sv, time.Time{}, time.Time{})
		var material root.TrustedMaterial = root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) {
			return key, nil
		})
		if o.TrustedRoot != nil {
			material = root.TrustedMaterialCollection{material, o.TrustedRoot}
		}
		kv, err := verify.NewVerifier(material, o.keyOptions()...)
		if err != nil {
			return nil, fmt.Errorf("%w: cosign: key verifier: %v", sign.ErrInvalidConfig, err)
		}
		v.keys = append(v.keys, keyVerifier{pub: pub, id: id, sv: sv, v: kv})
	}
	return v, nil
}

// Verify finds the cosign signatures of subject in repo (the legacy
// signature tag and the sigstore bundle referrers) and verifies each one.
// A subject without signatures gives an empty list and no error. Verify
// returns an error only when subject is invalid (sign.ErrInvalidSubject),
// the context ends, or the repository cannot be listed (resolving the
// signature tag or listing referrers failed, or more than
// registry.MaxReferrers referrers exist); a signature that cannot be fetched
// or parsed is a result in StateInconclusive or StateFailed.
func (v *Verifier) Verify(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor) (*sign.Verification, error) {
	if err := sign.CheckSubject(subject); err != nil {
		return nil, err
	}
	out := &sign.Verification{Subject: subject}
	budget := v.opts.MaxSignatures
	if err := v.verifyLegacy(ctx, repo, subject, &budget, out); err != nil {
		return nil, err
	}
	if err := v.verifyBundles(ctx, repo, subject, &budget, out); err != nil {
		return nil, err
	}
	out.Sort()
	return out, nil
}

// Check names (sign.Check.Name); see the package documentation.
const (
	checkFormat          = "format"
	checkTransparencyLog = "transparencyLog"
	checkTimestamp       = "timestamp"
	checkCertificate     = "certificate"
	checkSignature       = "signature"
	checkSubject         = "subject"
	checkIdentity        = "identity"
)

// record accumulates the checks of one signature.
type record struct {
	s sign.Signature
}

func newRecord(format string, m ocispec.Descriptor) *record {
	return &record{s: sign.Signature{Format: format, Digest: m.Digest}}
}

func (r *record) pass(name, detail string) {
	r.s.Checks = append(r.s.Checks, sign.Check{Name: name, Result: sign.CheckPassed, Enforced: true, Detail: detail})
}

func (r *record) skip(name, detail string) {
	r.s.Checks = append(r.s.Checks, sign.Check{Name: name, Result: sign.CheckSkipped, Detail: detail})
}

// fail records a failed check and makes the signature failed.
func (r *record) fail(name, cause string) sign.Signature {
	r.s.Checks = append(r.s.Checks, sign.Check{Name: name, Result: sign.CheckFailed, Enforced: true, Detail: cause})
	r.s.State = sign.StateFailed
	r.s.Cause = name + ": " + cause
	return r.s
}

// inconclusive records a check that could not be made.
func (r *record) inconclusive(name, cause string) sign.Signature {
	r.s.Checks = append(r.s.Checks, sign.Check{Name: name, Result: sign.CheckInconclusive, Enforced: true, Detail: cause})
	r.s.State = sign.StateInconclusive
	r.s.Cause = name + ": " + cause
	return r.s
}

func (r *record) verified() sign.Signature {
	r.s.State = sign.StateVerified
	r.s.Cause = ""
	return r.s
}

// entityKind says what trust a sigstore-go verification used.
type entityKind int

const (
	kindKey entityKind = iota
	kindCertificate
)

// sigstoreStages maps sigstore-go error prefixes to check names, in the
// order sigstore-go's Verify performs them.
var sigstoreStages = []struct{ name, prefix string }{
	{checkTransparencyLog, "failed to verify log inclusion"},
	{checkTimestamp, "failed to verify timestamps"},
	{checkCertificate, "failed to verify leaf certificate"},
	{checkCertificate, "failed to verify signed certificate timestamp"},
	{checkCertificate, "must provide timestamp to verify certificate"},
	{checkCertificate, "expected key signature"},
	{checkCertificate, "signature time outside of public key validity window"},
	{checkSignature, "failed to verify signature"},
	{checkIdentity, "failed to verify certificate identity"},
	{checkIdentity, "can't verify certificate identities"},
}

// runSigstore verifies entity with sv and records the outcome in r. It
// returns the sigstore-go result (nil on failure) and, on failure, the final
// signature. A panic inside sigstore-go (malformed input it did not
// expect) becomes an inconclusive result.
func (v *Verifier) runSigstore(sv *verify.Verifier, entity verify.SignedEntity, policy verify.PolicyBuilder, kind entityKind, withSubject bool, r *record) (res *verify.VerificationResult, failed *sign.Signature) {
	defer func() {
		if p := recover(); p != nil {
			v.opts.Logger.Error("cosign: sigstore-go panicked", "panic", p, "stack", string(debug.Stack()))
			s := r.inconclusive(checkSignature, fmt.Sprintf("verification panicked: %v", p))
			res, failed = nil, &s
		}
	}()
	res, err := sv.Verify(entity, policy)
	if err == nil {
		v.recordStages(r, kind, withSubject, "", nil)
		return res, nil
	}
	msg := err.Error()
	stage := checkSignature
	for _, st := range sigstoreStages {
		if strings.HasPrefix(msg, st.prefix) || strings.Contains(msg, ": "+st.prefix) {
			stage = st.name
			break
		}
	}
	if stage == checkSignature && (strings.Contains(msg, "does not match") || strings.Contains(msg, "do not match")) {
		stage = checkSubject
	}
	if stage == checkSubject && !withSubject {
		stage = checkSignature
	}
	v.recordStages(r, kind, withSubject, stage, err)
	s := r.s
	return nil, &s
}

// recordStages appends the checks sigstore-go performed: every stage before
// failedStage as passed, failedStage as failed (err), none after it. An
// empty failedStage means all passed. The subject stage is sigstore-go's
// only for bundles (artifact digest); legacy payloads are checked after.
func (v *Verifier) recordStages(r *record, kind entityKind, withSubject bool, failedStage string, err error) {
	order := []string{checkTransparencyLog, checkTimestamp, checkCertificate, checkSignature, checkSubject, checkIdentity}
	for _, name := range order {
		if name == failedStage {
			r.fail(name, err.Error())
			return
		}
		switch {
		case name == checkSubject && !withSubject:
			// checked by the caller
		case (name == checkCertificate || name == checkIdentity) && kind == kindKey:
			// not applicable to key signatures
		case name == checkTransparencyLog && v.opts.IgnoreTransparencyLogUnsafe:
			r.skip(name, "not required (IgnoreTransparencyLogUnsafe)")
		case name == checkTimestamp && kind == kindKey && v.opts.IgnoreTransparencyLogUnsafe && v.opts.Timestamps != TimestampsSigned:
			r.skip(name, "not required for key signatures")
		case name == checkTimestamp && kind == kindCertificate && v.opts.Timestamps == TimestampsCurrentTimeUnsafe:
			r.skip(name, "certificate checked at the current time (TimestampsCurrentTimeUnsafe)")
		case name == checkIdentity && v.opts.AnyIdentityUnsafe && len(v.ids) == 0:
			r.skip(name, "any identity accepted (AnyIdentityUnsafe)")
		default:
			r.pass(name, "")
		}
	}
}

// finish fills identity and timestamp from a successful sigstore-go result.
func (v *Verifier) finish(r *record, res *verify.VerificationResult, kind entityKind, key *keyVerifier) {
	if kind == kindKey && key != nil {
		r.s.Identity = key.id
		r.s.TrustPolicy = "key " + key.id
	} else if res != nil && res.Signature != nil && res.Signature.Certificate != nil {
		r.s.Identity = res.Signature.Certificate.SubjectAlternativeName
		r.s.Issuer = res.Signature.Certificate.Extensions.Issuer
		if res.VerifiedIdentity != nil {
			r.s.TrustPolicy = describeIdentity(*res.VerifiedIdentity)
		} else if v.opts.AnyIdentityUnsafe {
			r.s.TrustPolicy = "any identity (unsafe)"
		}
	}
	if res == nil {
		return
	}
	var ts time.Time
	for _, t := range res.VerifiedTimestamps {
		if t.Type == "CurrentTime" {
			continue
		}
		if ts.IsZero() || t.Timestamp.Before(ts) {
			ts = t.Timestamp
		}
	}
	if !ts.IsZero() {
		r.s.Timestamp = ts.UTC()
		r.s.Timestamped = true
	}
}

func describeIdentity(id verify.CertificateIdentity) string {
	var b strings.Builder
	if id.Issuer.Issuer != "" {
		b.WriteString("issuer=" + id.Issuer.Issuer)
	} else {
		b.WriteString("issuer~" + id.Issuer.Regexp.String())
	}
	if id.SubjectAlternativeName.SubjectAlternativeName != "" {
		b.WriteString(" san=" + id.SubjectAlternativeName.SubjectAlternativeName)
	} else {
		b.WriteString(" san~" + id.SubjectAlternativeName.Regexp.String())
	}
	return b.String()
}

// identityPolicy returns the policy options of keyless verification.
func (v *Verifier) identityPolicy() []verify.PolicyOption {
	if v.opts.AnyIdentityUnsafe && len(v.ids) == 0 {
		return []verify.PolicyOption{verify.WithoutIdentitiesUnsafe()}
	}
	opts := make([]verify.PolicyOption, 0, len(v.ids))
	for _, id := range v.ids {
		opts = append(opts, verify.WithCertificateIdentity(id))
	}
	return opts
}

// matchKey returns the first configured key for which ok reports true.
func (v *Verifier) matchKey(ok func(k *keyVerifier) bool) *keyVerifier {
	for i := range v.keys {
		if ok(&v.keys[i]) {
			return &v.keys[i]
		}
	}
	return nil
}

// ctxErr returns the context's error if it ended, so that a cancelled
// Verify fails instead of reporting signatures inconclusive.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

func (v *Verifier) log() *slog.Logger { return v.opts.Logger }

func (v *Verifier) acceptsPredicate(pt string) bool {
	return slices.Contains(v.opts.PredicateTypes, pt)
}
