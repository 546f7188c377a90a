package sign

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign/dn"
)

// Signer signs a subject (an image, an index or any artifact manifest) in a
// repository and stores the signature there, usually as a referrer of the
// subject. It returns the descriptor of the stored signature manifest.
//
// Implementations sign by digest: subject must carry its digest, media type
// and size; tags are never signed.
type Signer interface {
	Sign(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor) (ocispec.Descriptor, error)
}

// Verifier finds the signatures of a subject in a repository and verifies
// each one. The returned Verification lists every signature found with its
// outcome; a subject without signatures gives a Verification with no
// Signatures and a nil error. An error means the verifier could not look
// (the repository failed, the context ended), never that a signature is bad:
// bad signatures are results.
type Verifier interface {
	Verify(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor) (*Verification, error)
}

// SignerFunc adapts a function to the Signer interface.
type SignerFunc func(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor) (ocispec.Descriptor, error)

// Sign calls f.
func (f SignerFunc) Sign(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor) (ocispec.Descriptor, error) {
	return f(ctx, repo, subject)
}

// VerifierFunc adapts a function to the Verifier interface.
type VerifierFunc func(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor) (*Verification, error)

// Verify calls f.
func (f VerifierFunc) Verify(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor) (*Verification, error) {
	return f(ctx, repo, subject)
}

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrInvalidConfig: a signer or verifier was configured with missing,
	// contradictory or unknown settings (no trust policy, unknown level,
	// unreadable key). Returned by constructors: fail closed.
	ErrInvalidConfig = errors.New("invalid signing configuration")
	// ErrInvalidSubject: the subject descriptor has no valid digest, size or
	// media type.
	ErrInvalidSubject = errors.New("invalid subject")
	// ErrNoSignature: the subject has no signature. Verify never returns it
	// (absence is a result); Verification.Err does.
	ErrNoSignature = errors.New("no signature")
	// ErrSignatureInvalid: no signature of the subject verified. Returned by
	// Verification.Err.
	ErrSignatureInvalid = errors.New("signature not verified")
	// ErrSigningFailed: a signer could not produce or store a signature.
	ErrSigningFailed = errors.New("signing failed")
)

// Signature formats (Signature.Format).
const (
	// FormatNotationJWS is a Notary Project signature in a JWS envelope.
	FormatNotationJWS = "notation-jws"
	// FormatNotationCOSE is a Notary Project signature in a COSE envelope.
	FormatNotationCOSE = "notation-cose"
	// FormatNotation is a Notary Project signature manifest whose envelope
	// could not be read or has an unknown media type.
	FormatNotation = "notation"
	// FormatCosign is a legacy cosign signature (the sha256-<hex>.sig tag).
	FormatCosign = "cosign"
	// FormatSigstoreBundle is a sigstore bundle stored as a referrer.
	FormatSigstoreBundle = "sigstore-bundle"
)

// State is the outcome of verifying one signature.
type State string

// States of a Signature.
const (
	// StateVerified: every check that was performed passed, and the checks
	// the verifier's configuration requires were performed. Skipped checks
	// (for example revocation skipped by an explicit choice) are listed in
	// Signature.Checks.
	StateVerified State = "verified"
	// StateFailed: a check failed: the signature is invalid, the signer is
	// not trusted, the certificate has expired or was revoked, the signature
	// covers another digest, and so on. A check that the verification level
	// only logs (notation's "audit" and "permissive") still makes the
	// signature failed; Check.Enforced tells that the level would accept it.
	StateFailed State = "failed"
	// StateInconclusive: the signature could not be checked: its envelope
	// could not be fetched, its format is unknown, no trust policy applies,
	// verification was skipped by policy, or a revocation status could not
	// be determined.
	StateInconclusive State = "inconclusive"
)

// CheckResult is the result of one check on one signature.
type CheckResult string

// Results of a Check.
const (
	// CheckPassed: the check was performed and passed.
	CheckPassed CheckResult = "passed"
	// CheckFailed: the check was performed and failed.
	CheckFailed CheckResult = "failed"
	// CheckSkipped: the check was not performed (by configuration or
	// verification level).
	CheckSkipped CheckResult = "skipped"
	// CheckInconclusive: the check was attempted but gave no answer (for
	// example a revocation status that could not be determined).
	CheckInconclusive CheckResult = "inconclusive"
)

// Check is one check performed (or skipped) on a signature.
type Check struct {
	// Name names the check, e.g. "integrity", "authenticity",
	// "authenticTimestamp", "expiry", "revocation", "identity", "subject".
	Name string `json:"name"`
	// Result is the outcome.
	Result CheckResult `json:"result"`
	// Enforced is true when a failure of this check makes the verifier's
	// configuration reject the signature; false when a failure is only
	// logged (notation "audit" and "permissive" levels) or the check is
	// skipped.
	Enforced bool `json:"enforced"`
	// Detail explains the result, usually the error text on failure.
	Detail string `json:"detail,omitempty"`
}

// Signature is the outcome of verifying one signature of a subject.
type Signature struct {
	// Format is one of the Format constants.
	Format string `json:"format"`
	// Digest is the digest of the signature manifest (for referrers) or of
	// the signature's storage object. Verifiers must set it: reusing a
	// verified signature instead of signing again (TreeOptions.Reuse, the
	// pipeline's enterprise-signature verifier) and leaving cssc's own
	// signatures out of the publisher's both need it; a verified signature
	// without Digest is never reused.
	Digest digest.Digest `json:"digest,omitempty"`
	// State is the outcome.
	State State `json:"state"`
	// Identity is the signer: the subject distinguished name of the signing
	// certificate (Notary Project; in the notation trust policy's spelling,
	// "C=US, ST=WA, O=Example, CN=Signer", see package sign/dn), the
	// certificate SAN of a keyless
	// signature, or the key identifier of a key-based signature. Empty when
	// the signature could not be parsed.
	Identity string `json:"identity,omitempty"`
	// Issuer is the issuer distinguished name of the signing certificate
	// (spelt like Identity), or the OIDC issuer of a keyless signature.
	// Empty when unknown.
	Issuer string `json:"issuer,omitempty"`
	// TrustPolicy names the trust policy (or rule) that applied, if any.
	TrustPolicy string `json:"trustPolicy,omitempty"`
	// Level is the verification level applied ("strict", "permissive",
	// "audit", "skip" for notation); empty when the format has no levels.
	Level string `json:"level,omitempty"`
	// Timestamp is when the signature was made, as claimed by the signer
	// or asserted by a timestamp authority (see Timestamped). Zero if
	// unknown.
	Timestamp time.Time `json:"timestamp,omitzero"`
	// Timestamped is true when Timestamp comes from a verified RFC 3161
	// timestamp countersignature or a transparency log entry.
	Timestamped bool `json:"timestamped,omitempty"`
	// Cause explains why the state is not verified: the first failed
	// check, or why the signature could not be checked. Empty when verified.
	Cause string `json:"cause,omitempty"`
	// Checks lists every check in the order performed.
	Checks []Check `json:"checks,omitempty"`
}

// Verified reports whether the signature is in StateVerified.
func (s Signature) Verified() bool { return s.State == StateVerified }

// Failed returns the checks that failed, enforced or not.
func (s Signature) Failed() []Check {
	var out []Check
	for _, c := range s.Checks {
		if c.Result == CheckFailed {
			out = append(out, c)
		}
	}
	return out
}

// Verification is the result of verifying a subject's signatures.
type Verification struct {
	// Subject is the signed artifact.
	Subject ocispec.Descriptor `json:"subject"`
	// Signatures lists every signature found, sorted by format then digest.
	// Empty (nil) when the subject has none.
	Signatures []Signature `json:"signatures"`
	// Unexamined counts signatures that were found but not examined
	// because a cap was reached (see the verifier's options). Non-zero
	// means the list is incomplete.
	Unexamined int `json:"unexamined,omitempty"`
}

// Verified reports whether at least one signature is verified.
func (v *Verification) Verified() bool {
	if v == nil {
		return false
	}
	return slices.ContainsFunc(v.Signatures, func(s Signature) bool { return s.Verified() })
}

// VerifiedBy reports whether a signature of identity is verified. An
// identity that is a distinguished name is compared as a name (attribute
// order, spacing and escaping do not matter: "C=US, ST=WA, O=Example,
// CN=Signer" and "CN=Signer,O=Example,ST=WA,C=US" are the same signer);
// any other identity is compared exactly.
func (v *Verification) VerifiedBy(identity string) bool {
	if v == nil {
		return false
	}
	want, err := dn.Parse(identity)
	return slices.ContainsFunc(v.Signatures, func(s Signature) bool {
		if !s.Verified() {
			return false
		}
		if s.Identity == identity {
			return true
		}
		if err != nil {
			return false
		}
		got, gerr := dn.Parse(s.Identity)
		return gerr == nil && got.Equal(want)
	})
}

// VerifiedIdentities returns the identities of the verified signatures,
// sorted and without duplicates.
func (v *Verification) VerifiedIdentities() []string {
	if v == nil {
		return nil
	}
	var out []string
	for _, s := range v.Signatures {
		if s.Verified() && s.Identity != "" {
			out = append(out, s.Identity)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Err returns nil if at least one signature is verified; otherwise an error
// wrapping ErrNoSignature (no signature found) or ErrSignatureInvalid
// (signatures found, none verified), naming the causes.
func (v *Verification) Err() error {
	if v.Verified() {
		return nil
	}
	if v == nil || len(v.Signatures) == 0 {
		sub := ""
		if v != nil {
			sub = " of " + string(v.Subject.Digest)
		}
		return fmt.Errorf("%w%s", ErrNoSignature, sub)
	}
	causes := make([]string, 0, len(v.Signatures))
	for _, s := range v.Signatures {
		causes = append(causes, fmt.Sprintf("%s %s: %s: %s", s.Format, s.Digest, s.State, s.Cause))
	}
	return fmt.Errorf("%w of %s: %s", ErrSignatureInvalid, v.Subject.Digest, strings.Join(causes, "; "))
}

// Sort orders Signatures by format then digest, so that results marshal to
// stable JSON.
func (v *Verification) Sort() {
	slices.SortStableFunc(v.Signatures, func(a, b Signature) int {
		if c := strings.Compare(a.Format, b.Format); c != 0 {
			return c
		}
		return strings.Compare(string(a.Digest), string(b.Digest))
	})
}

// CheckSubject returns an error wrapping ErrInvalidSubject unless subject
// has a valid digest, a media type and a non-negative size. Signers and
// verifiers call it before any I/O.
func CheckSubject(subject ocispec.Descriptor) error {
	if err := subject.Digest.Validate(); err != nil {
		return fmt.Errorf("%w: digest %q: %v", ErrInvalidSubject, subject.Digest, err)
	}
	if subject.MediaType == "" {
		return fmt.Errorf("%w: %s has no media type", ErrInvalidSubject, subject.Digest)
	}
	if subject.Size < 0 {
		return fmt.Errorf("%w: %s has negative size", ErrInvalidSubject, subject.Digest)
	}
	return nil
}

// ScopedVerifier is a Verifier whose trust decisions depend on the name of
// the repository a subject belongs to, as the notation trust policy's
// registryScopes do. VerifyAs verifies the signatures of subject that are
// stored in repo as if subject were in the repository name (a location
// such as "docker.io/library/nginx").
//
// The Acquire stage needs it because signatures are verified where the
// image waits, not where it was published or where it goes: publisher
// signatures found in quarantine are judged under the source repository's
// name (the scope `notation verify` would use upstream), and enterprise
// signatures under the golden repository's.
type ScopedVerifier interface {
	Verifier
	VerifyAs(ctx context.Context, repo registry.Repository, name string, subject ocispec.Descriptor) (*Verification, error)
}

// VerifyAs verifies subject in repo under the repository name: with
// v.VerifyAs when v is a ScopedVerifier, otherwise with v.Verify (a
// verifier whose decisions do not depend on the repository's name, such
// as sign/cosign). An empty name means repo's own location.
func VerifyAs(ctx context.Context, v Verifier, repo registry.Repository, name string, subject ocispec.Descriptor) (*Verification, error) {
	if sv, ok := v.(ScopedVerifier); ok && name != "" {
		return sv.VerifyAs(ctx, repo, name, subject)
	}
	return v.Verify(ctx, repo, subject)
}

// Multi is a Verifier that runs several verifiers and merges their
// results. A verifier that returns an error makes Verify fail. It is a
// ScopedVerifier: VerifyAs passes the name on to the verifiers that take
// one.
type Multi []Verifier

// Verify runs every verifier in order and concatenates their signatures.
func (m Multi) Verify(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor) (*Verification, error) {
	return m.VerifyAs(ctx, repo, "", subject)
}

// VerifyAs runs every verifier in order with VerifyAs and concatenates
// their signatures.
func (m Multi) VerifyAs(ctx context.Context, repo registry.Repository, name string, subject ocispec.Descriptor) (*Verification, error) {
	out := &Verification{Subject: subject}
	for _, v := range m {
		r, err := VerifyAs(ctx, v, repo, name, subject)
		if err != nil {
			return nil, err
		}
		if r != nil {
			out.Signatures = append(out.Signatures, r.Signatures...)
			out.Unexamined += r.Unexamined
		}
	}
	out.Sort()
	return out, nil
}

var _ ScopedVerifier = Multi(nil)
