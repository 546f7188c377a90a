package signtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/dn"
)

// Config is what Run checks.
type Config struct {
	// Signer is the signer under test. Required.
	Signer sign.Signer
	// Verifier must verify the signatures Signer makes. Required.
	Verifier sign.Verifier
	// Repository returns a fresh, empty repository for one subtest.
	// Required. Return repositories of every storage kind you support
	// (run Run once per kind).
	Repository func(t testing.TB) registry.Repository
	// Identity, if not empty, is the Signature.Identity that verified
	// signatures of Signer must carry. A distinguished name is compared as
	// a name: "C=US, ST=WA, O=Example, CN=Signer" and Go's
	// "CN=Signer,O=Example,ST=WA,C=US" are the same.
	Identity string
	// Untrusted, if set, is a signer of the same format whose signatures
	// Verifier must not verify (a key from another CA, a wrong identity).
	// Nil skips that check.
	Untrusted sign.Signer
	// Timeout bounds each subtest. Zero means 60 s.
	Timeout time.Duration
}

// Run checks that cfg.Signer and cfg.Verifier honour the sign contracts:
//
//   - an unsigned subject gives an empty Verification and no error;
//   - a signed image verifies, with the expected identity, a non-empty
//     format and the digest of the returned signature manifest, and the
//     result marshals to stable JSON;
//   - a signature does not make another subject verified;
//   - an artifact attached to an image (any manifest) can be signed and
//     verified like an image, and an index too;
//   - signing twice gives two verified signatures;
//   - signing and verifying different subjects concurrently works (run
//     with -race);
//   - an untrusted signer's signature is found but not verified, with a
//     cause;
//   - invalid subjects, subjects missing from the repository, and
//     canceled contexts give errors (or no verified signature), never a
//     panic.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	if cfg.Signer == nil || cfg.Verifier == nil || cfg.Repository == nil {
		t.Fatal("signtest: Signer, Verifier and Repository are required")
	}
	k := &kit{cfg: cfg, timeout: cfg.Timeout}
	if k.timeout <= 0 {
		k.timeout = 60 * time.Second
	}
	t.Run("unsigned", k.unsigned)
	t.Run("sign-verify", k.signVerify)
	t.Run("other-subject", k.otherSubject)
	t.Run("artifact-and-index", k.artifactAndIndex)
	t.Run("sign-twice", k.signTwice)
	t.Run("concurrent", k.concurrent)
	if cfg.Untrusted != nil {
		t.Run("untrusted", k.untrusted)
	}
	t.Run("bad-subjects", k.badSubjects)
	t.Run("canceled", k.canceled)
}

// kit is one Run: the configuration and the subtest timeout.
type kit struct {
	cfg     Config
	timeout time.Duration
}

// ctx returns a context that ends after the subtest timeout or with t.
func (k *kit) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	t.Cleanup(cancel)
	return ctx
}

// unsigned checks that an unsigned subject gives an empty Verification
// and no error.
func (k *kit) unsigned(t *testing.T) {
	ctx := k.ctx(t)
	repo := k.cfg.Repository(t)
	img := pushImage(t, ctx, repo, 1)
	v, err := k.cfg.Verifier.Verify(ctx, repo, img)
	if err != nil {
		t.Fatalf("Verify(unsigned) error = %v, want nil (absence is a result)", err)
	}
	if v == nil {
		t.Fatal("Verify(unsigned) = nil Verification")
	}
	if len(v.Signatures) != 0 || v.Verified() {
		t.Errorf("Verify(unsigned) = %d signatures, verified %v; want none", len(v.Signatures), v.Verified())
	}
	if v.Subject.Digest != img.Digest {
		t.Errorf("Verification.Subject = %s, want %s", v.Subject.Digest, img.Digest)
	}
	if err := v.Err(); !errors.Is(err, sign.ErrNoSignature) {
		t.Errorf("Verification.Err() = %v, want ErrNoSignature", err)
	}
}

// signVerify checks that a signed image verifies with the expected identity
// and the digest of the returned signature manifest, and that the result
// marshals to stable JSON.
func (k *kit) signVerify(t *testing.T) {
	ctx := k.ctx(t)
	repo := k.cfg.Repository(t)
	img := pushImage(t, ctx, repo, 2)
	sigDesc := mustSign(t, ctx, k.cfg.Signer, repo, img)
	v := mustVerify(t, ctx, k.cfg.Verifier, repo, img)
	checkVerified(t, v, k.cfg.Identity, 1)
	if sigDesc.Digest != "" {
		if _, err := manifest.Fetch(ctx, repo, sigDesc, 4<<20); err != nil {
			t.Errorf("the signature manifest %s that Sign returned cannot be fetched: %v", sigDesc.Digest, err)
		}
	}
	if s := v.Signatures[0]; s.Digest != "" && sigDesc.Digest != "" && s.Digest != sigDesc.Digest {
		t.Errorf("Signature.Digest = %s, want the signature manifest %s that Sign returned", s.Digest, sigDesc.Digest)
	}
	a, err1 := json.Marshal(v)
	b, err2 := json.Marshal(mustVerify(t, ctx, k.cfg.Verifier, repo, img))
	if err1 != nil || err2 != nil {
		t.Fatalf("marshal Verification: %v, %v", err1, err2)
	}
	var back sign.Verification
	if err := json.Unmarshal(a, &back); err != nil {
		t.Fatalf("unmarshal Verification: %v", err)
	}
	if !back.Verified() {
		t.Errorf("Verification after a JSON round trip is not verified: %s", a)
	}
	if !jsonStableExceptTimes(a, b) {
		t.Logf("note: two verifications of the same signature marshal differently:\n%s\n%s", a, b)
	}
}

// otherSubject checks that a signature does not make another subject
// verified.
func (k *kit) otherSubject(t *testing.T) {
	ctx := k.ctx(t)
	repo := k.cfg.Repository(t)
	signed := pushImage(t, ctx, repo, 3)
	other := pushImage(t, ctx, repo, 4)
	mustSign(t, ctx, k.cfg.Signer, repo, signed)
	v := mustVerify(t, ctx, k.cfg.Verifier, repo, other)
	if v.Verified() {
		t.Errorf("a signature of %s made %s verified: %+v", signed.Digest, other.Digest, v.Signatures)
	}
}

// artifactAndIndex checks that an artifact attached to an image and an
// index can be signed and verified like an image.
func (k *kit) artifactAndIndex(t *testing.T) {
	ctx := k.ctx(t)
	repo := k.cfg.Repository(t)
	img := pushImage(t, ctx, repo, 5)
	sbom, err := registry.Attach(ctx, repo, img, registry.Artifact{
		ArtifactType: "application/spdx+json",
		Blobs:        []registry.Blob{{MediaType: "application/spdx+json", Data: []byte(`{"spdxVersion":"SPDX-2.3"}`)}},
	})
	if err != nil {
		t.Fatalf("attach artifact: %v", err)
	}
	idx, err := imagetest.PushIndex(ctx, repo, img)
	if err != nil {
		t.Fatalf("push index: %v", err)
	}
	for _, subject := range []ocispec.Descriptor{sbom, idx} {
		mustSign(t, ctx, k.cfg.Signer, repo, subject)
		checkVerified(t, mustVerify(t, ctx, k.cfg.Verifier, repo, subject), k.cfg.Identity, 1)
	}
}

// signTwice checks that signing twice gives two verified signatures.
func (k *kit) signTwice(t *testing.T) {
	ctx := k.ctx(t)
	repo := k.cfg.Repository(t)
	img := pushImage(t, ctx, repo, 6)
	d1 := mustSign(t, ctx, k.cfg.Signer, repo, img)
	d2 := mustSign(t, ctx, k.cfg.Signer, repo, img)
	if d1.Digest == d2.Digest {
		t.Logf("note: signing twice gave the same signature manifest %s", d1.Digest)
		return
	}
	checkVerified(t, mustVerify(t, ctx, k.cfg.Verifier, repo, img), k.cfg.Identity, 2)
}

// concurrent signs and verifies different subjects concurrently.
func (k *kit) concurrent(t *testing.T) {
	ctx := k.ctx(t)
	repo := k.cfg.Repository(t)
	var subjects []ocispec.Descriptor
	for i := range 4 {
		subjects = append(subjects, pushImage(t, ctx, repo, uint64(20+i)))
	}
	errs := make(chan error, len(subjects))
	for _, d := range subjects {
		go func() {
			if _, err := k.cfg.Signer.Sign(ctx, repo, d); err != nil {
				errs <- fmt.Errorf("Sign(%s): %w", d.Digest, err)
				return
			}
			v, err := k.cfg.Verifier.Verify(ctx, repo, d)
			switch {
			case err != nil:
				errs <- fmt.Errorf("Verify(%s): %w", d.Digest, err)
			case !v.Verified():
				errs <- fmt.Errorf("Verify(%s) not verified: %+v", d.Digest, v.Signatures)
			default:
				errs <- nil
			}
		}()
	}
	for range subjects {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// untrusted checks that an untrusted signer's signature is found but not
// verified, with a cause.
func (k *kit) untrusted(t *testing.T) {
	ctx := k.ctx(t)
	repo := k.cfg.Repository(t)
	img := pushImage(t, ctx, repo, 7)
	mustSign(t, ctx, k.cfg.Untrusted, repo, img)
	v := mustVerify(t, ctx, k.cfg.Verifier, repo, img)
	if len(v.Signatures) != 1 {
		t.Fatalf("Verify found %d signatures, want 1 (the untrusted one)", len(v.Signatures))
	}
	s := v.Signatures[0]
	if v.Verified() || s.State == sign.StateVerified {
		t.Fatalf("untrusted signature verified: %+v", s)
	}
	if s.State != sign.StateFailed && s.State != sign.StateInconclusive {
		t.Errorf("untrusted signature state = %q, want failed or inconclusive", s.State)
	}
	if s.Cause == "" {
		t.Errorf("untrusted signature has no cause: %+v", s)
	}
	if err := v.Err(); !errors.Is(err, sign.ErrSignatureInvalid) {
		t.Errorf("Verification.Err() = %v, want ErrSignatureInvalid", err)
	}
}

// badSubjects checks that invalid subjects and subjects missing from the
// repository give errors or no verified signature.
func (k *kit) badSubjects(t *testing.T) {
	ctx := k.ctx(t)
	repo := k.cfg.Repository(t)
	for name, d := range map[string]ocispec.Descriptor{
		"empty":     {},
		"no-digest": {MediaType: ocispec.MediaTypeImageManifest, Size: 10},
		"bad-digest": {MediaType: ocispec.MediaTypeImageManifest, Size: 10,
			Digest: digest.Digest("sha256:xyz")},
	} {
		if _, err := k.cfg.Signer.Sign(ctx, repo, d); err == nil {
			t.Errorf("Sign(%s subject) error = nil, want an error", name)
		}
		if v, err := k.cfg.Verifier.Verify(ctx, repo, d); err == nil && v.Verified() {
			t.Errorf("Verify(%s subject) verified", name)
		}
	}
	missing := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Size: 2, Digest: digest.FromString("{}")}
	if _, err := k.cfg.Signer.Sign(ctx, repo, missing); err == nil {
		t.Errorf("Sign(subject missing from the repository) error = nil, want an error")
	}
	if v, err := k.cfg.Verifier.Verify(ctx, repo, missing); err == nil && (v == nil || v.Verified()) {
		t.Errorf("Verify(missing subject) = %+v, want unverified", v)
	}
}

// canceled checks that a canceled context verifies nothing.
func (k *kit) canceled(t *testing.T) {
	ctx := k.ctx(t)
	repo := k.cfg.Repository(t)
	img := pushImage(t, ctx, repo, 8)
	mustSign(t, ctx, k.cfg.Signer, repo, img)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if v, err := k.cfg.Verifier.Verify(cctx, repo, img); err == nil && v.Verified() {
		t.Errorf("Verify with a canceled context verified a signature")
	}
}

func pushImage(t testing.TB, ctx context.Context, repo registry.Repository, seed uint64) ocispec.Descriptor {
	t.Helper()
	layer := imagetest.Layer(imagetest.File{Path: "etc/signtest", Data: imagetest.Random(seed, 64)})
	img := imagetest.Image{Layers: []imagetest.Blob{layer}, Labels: map[string]string{"seed": fmt.Sprint(seed)}}
	d, err := img.Push(ctx, repo)
	if err != nil {
		t.Fatalf("signtest: push image: %v", err)
	}
	d.Platform = nil
	return d
}

func mustSign(t testing.TB, ctx context.Context, s sign.Signer, repo registry.Repository, subject ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	d, err := s.Sign(ctx, repo, subject)
	if err != nil {
		t.Fatalf("Sign(%s) error = %v", subject.Digest, err)
	}
	return d
}

func mustVerify(t testing.TB, ctx context.Context, v sign.Verifier, repo registry.Repository, subject ocispec.Descriptor) *sign.Verification {
	t.Helper()
	res, err := v.Verify(ctx, repo, subject)
	if err != nil {
		t.Fatalf("Verify(%s) error = %v", subject.Digest, err)
	}
	if res == nil {
		t.Fatalf("Verify(%s) = nil Verification", subject.Digest)
	}
	return res
}

func checkVerified(t testing.TB, v *sign.Verification, identity string, n int) {
	t.Helper()
	if !v.Verified() {
		t.Fatalf("not verified: %+v", v.Signatures)
	}
	got := 0
	for _, s := range v.Signatures {
		if !s.Verified() {
			t.Errorf("signature %s state %s, want verified: %s", s.Digest, s.State, s.Cause)
			continue
		}
		got++
		if s.Format == "" {
			t.Errorf("signature %s has no format", s.Digest)
		}
		if s.Cause != "" {
			t.Errorf("verified signature %s has a cause %q", s.Digest, s.Cause)
		}
		for _, c := range s.Checks {
			if c.Result == sign.CheckFailed || c.Result == sign.CheckInconclusive {
				t.Errorf("verified signature %s has check %s = %s", s.Digest, c.Name, c.Result)
			}
		}
		if identity != "" && !sameIdentity(s.Identity, identity) {
			t.Errorf("signature identity = %q, want %q", s.Identity, identity)
		}
	}
	if got != n {
		t.Errorf("verified signatures = %d, want %d", got, n)
	}
	if identity != "" && !v.VerifiedBy(identity) {
		t.Errorf("VerifiedBy(%q) = false", identity)
	}
}

// jsonStableExceptTimes reports whether a and b are equal; kept loose on
// purpose (timestamps of online checks may differ between runs).
func jsonStableExceptTimes(a, b []byte) bool { return string(a) == string(b) }

// sameIdentity compares identities, distinguished names as names.
func sameIdentity(got, want string) bool {
	if got == want {
		return true
	}
	g, gerr := dn.Parse(got)
	w, werr := dn.Parse(want)
	return gerr == nil && werr == nil && g.Equal(w)
}
