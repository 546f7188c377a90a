package notation_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"oras.land/oras-go/v2/content"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"
)

// craftJWS builds a Notary Project JWS envelope by hand, so that tests can
// make signatures notation-go's signer refuses to make (expired or
// not-yet-valid certificates, wrong key usage).
func craftJWS(t testing.TB, key *ecdsa.PrivateKey, chain []*x509.Certificate, signingTime time.Time, target ocispec.Descriptor) []byte {
	t.Helper()
	return craftJWSWith(t, key, chain, signingTime, target, nil)
}

// craftJWSWith is craftJWS with extra critical protected headers.
func craftJWSWith(t testing.TB, key *ecdsa.PrivateKey, chain []*x509.Certificate, signingTime time.Time, target ocispec.Descriptor, extra map[string]string) []byte {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	payload, err := json.Marshal(map[string]any{"targetArtifact": map[string]any{
		"mediaType": target.MediaType, "digest": target.Digest, "size": target.Size}})
	require.NoError(t, err)
	hdr := map[string]any{
		"alg":                          "ES256",
		"cty":                          "application/vnd.cncf.notary.payload.v1+json",
		"io.cncf.notary.signingScheme": "notary.x509",
		"io.cncf.notary.signingTime":   signingTime.UTC().Format(time.RFC3339),
	}
	crit := []string{"io.cncf.notary.signingScheme"}
	for k, v := range extra {
		hdr[k] = v
		crit = append(crit, k)
	}
	hdr["crit"] = crit
	protected, err := json.Marshal(hdr)
	require.NoError(t, err)
	signingInput := b64(protected) + "." + b64(payload)
	h := sha256.Sum256([]byte(signingInput))
	r, s, err := ecdsa.Sign(rand.Reader, key, h[:])
	require.NoError(t, err)
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	var x5c [][]byte
	for _, c := range chain {
		x5c = append(x5c, c.Raw)
	}
	env, err := json.Marshal(map[string]any{
		"payload":   b64(payload),
		"protected": b64(protected),
		"header":    map[string]any{"x5c": x5c, "io.cncf.notary.signingAgent": "signtest"},
		"signature": b64(sig),
	})
	require.NoError(t, err)
	return env
}

// attachEnvelope stores env as a Notary signature of subject.
func attachEnvelope(t testing.TB, repo registry.Repository, subject ocispec.Descriptor, mediaType string, env []byte, created time.Time) ocispec.Descriptor {
	t.Helper()
	d, err := registry.Attach(context.Background(), repo, subject, registry.Artifact{
		ArtifactType: artifact.TypeNotarySignature,
		Blobs:        []registry.Blob{{MediaType: mediaType, Data: env}},
		Created:      created,
	})
	require.NoError(t, err)
	return d
}

// envelopeOf returns the envelope of the signature manifest sig.
func envelopeOf(t testing.TB, repo registry.Repository, sig ocispec.Descriptor) []byte {
	t.Helper()
	raw, err := manifest.Fetch(context.Background(), repo, sig, 1<<20)
	require.NoError(t, err)
	var m ocispec.Manifest
	require.NoError(t, json.Unmarshal(raw, &m))
	require.Len(t, m.Layers, 1)
	b, err := content.FetchAll(context.Background(), repo, m.Layers[0])
	require.NoError(t, err)
	return b
}

func verifyOne(t testing.TB, v sign.Verifier, repo registry.Repository, subject ocispec.Descriptor) sign.Signature {
	t.Helper()
	res, err := v.Verify(context.Background(), repo, subject)
	require.NoError(t, err)
	require.Len(t, res.Signatures, 1, "signatures: %+v", res.Signatures)
	s := res.Signatures[0]
	if s.State == sign.StateVerified {
		assert.False(t, true, "signature unexpectedly verified")
	}
	assert.False(t, res.Verified(), "Verification.Verified")
	assert.NotEmpty(t, s.Cause, "a cause is given")
	assert.Error(t, res.Err())
	return s
}

func check(s sign.Signature, name string) sign.Check {
	for _, c := range s.Checks {
		if c.Name == name {
			return c
		}
	}
	return sign.Check{}
}

// TestBadInput runs every hostile or broken signature against every
// storage kind: each must be failed or inconclusive with a cause.
func TestBadInput(t *testing.T) {
	p := newPKI(t, devpki.ECDSAP256, "")
	other := newPKI(t, devpki.ECDSAP256, "")
	ecKey := p.leaf.Key.(*ecdsa.PrivateKey)
	good := newSigner(t, p.leaf.Key, p.leaf.Chain, notation.SignerOptions{})
	strict := newVerifier(t, notation.VerifierOptions{TrustPolicy: policy(t, "strict", identity), TrustStore: store(t, p.ca.Certificate)})

	issue := func(o devpki.LeafOptions) *devpki.Leaf {
		l, err := p.ca.Issue(o)
		require.NoError(t, err)
		return l
	}
	now := time.Now()
	expired := issue(devpki.LeafOptions{NotBefore: now.Add(-72 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	future := issue(devpki.LeafOptions{NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(72 * time.Hour)})
	serverAuth := issue(devpki.LeafOptions{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	certSign := issue(devpki.LeafOptions{KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign})

	type tc struct {
		name string
		// make stores a signature of subject in repo (other is a second
		// image) and returns the verifier to use (nil = strict).
		make  func(t *testing.T, repo registry.Repository, subject, other ocispec.Descriptor) sign.Verifier
		state sign.State
		check string // the check that must not pass ("" = any)
	}
	cases := []tc{
		{name: "wrong-identity", state: sign.StateFailed, check: "authenticity",
			make: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) sign.Verifier {
				_, err := good.Sign(context.Background(), repo, subject)
				require.NoError(t, err)
				return newVerifier(t, notation.VerifierOptions{TrustPolicy: policy(t, "strict", "x509.subject: C=US, ST=WA, O=someone else"), TrustStore: store(t, p.ca.Certificate)})
			}},
		{name: "untrusted-root", state: sign.StateFailed, check: "authenticity",
			make: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) sign.Verifier {
				_, err := newSigner(t, other.leaf.Key, other.leaf.Chain, notation.SignerOptions{}).Sign(context.Background(), repo, subject)
				require.NoError(t, err)
				return nil
			}},
		{name: "expired-certificate", state: sign.StateFailed, check: "authenticTimestamp",
			make: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) sign.Verifier {
				env := craftJWS(t, expired.Key.(*ecdsa.PrivateKey), expired.Chain, now.Add(-48*time.Hour), subject)
				attachEnvelope(t, repo, subject, notation.EnvelopeJWS, env, time.Time{})
				return nil
			}},
		{name: "not-yet-valid-certificate", state: sign.StateFailed, check: "authenticTimestamp",
			make: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) sign.Verifier {
				env := craftJWS(t, future.Key.(*ecdsa.PrivateKey), future.Chain, now.Add(48*time.Hour), subject)
				attachEnvelope(t, repo, subject, notation.EnvelopeJWS, env, time.Time{})
				return nil
			}},
		{name: "wrong-eku", state: sign.StateFailed, check: "integrity",
			make: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) sign.Verifier {
				env := craftJWS(t, serverAuth.Key.(*ecdsa.PrivateKey), serverAuth.Chain, now, subject)
				attachEnvelope(t, repo, subject, notation.EnvelopeJWS, env, time.Time{})
				return nil
			}},
		{name: "wrong-key-usage", state: sign.StateFailed, check: "integrity",
			make: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) sign.Verifier {
				env := craftJWS(t, certSign.Key.(*ecdsa.PrivateKey), certSign.Chain, now, subject)
				attachEnvelope(t, repo, subject, notation.EnvelopeJWS, env, time.Time{})
				return nil
			}},
		{name: "tampered-payload", state: sign.StateFailed, check: "integrity",
			make: func(t *testing.T, repo registry.Repository, subject, other ocispec.Descriptor) sign.Verifier {
				env := craftJWS(t, ecKey, p.leaf.Chain, now, other)
				var m map[string]any
				require.NoError(t, json.Unmarshal(env, &m))
				pl, _ := json.Marshal(map[string]any{"targetArtifact": map[string]any{"mediaType": subject.MediaType, "digest": subject.Digest, "size": subject.Size}})
				m["payload"] = base64.RawURLEncoding.EncodeToString(pl)
				env, _ = json.Marshal(m)
				attachEnvelope(t, repo, subject, notation.EnvelopeJWS, env, time.Time{})
				return nil
			}},
		{name: "tampered-signature-bytes", state: sign.StateFailed, check: "integrity",
			make: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) sign.Verifier {
				env := craftJWS(t, ecKey, p.leaf.Chain, now, subject)
				var m map[string]any
				require.NoError(t, json.Unmarshal(env, &m))
				sig, _ := base64.RawURLEncoding.DecodeString(m["signature"].(string))
				sig[10] ^= 0xff
				m["signature"] = base64.RawURLEncoding.EncodeToString(sig)
				env, _ = json.Marshal(m)
				attachEnvelope(t, repo, subject, notation.EnvelopeJWS, env, time.Time{})
				return nil
			}},
		{name: "tampered-cose", state: sign.StateFailed, check: "integrity",
			make: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) sign.Verifier {
				scratch := newMemRepo(t)
				require.NoError(t, copyImage(scratch, repo, subject))
				s := newSigner(t, p.leaf.Key, p.leaf.Chain, notation.SignerOptions{Envelope: notation.EnvelopeCOSE})
				d, err := s.Sign(context.Background(), scratch, subject)
				require.NoError(t, err)
				env := envelopeOf(t, scratch, d)
				env[len(env)-5] ^= 0xff // inside the signature
				attachEnvelope(t, repo, subject, notation.EnvelopeCOSE, env, time.Time{})
				return nil
			}},
		{name: "signature-over-another-digest", state: sign.StateFailed, check: "subject",
			make: func(t *testing.T, repo registry.Repository, subject, other ocispec.Descriptor) sign.Verifier {
				d, err := good.Sign(context.Background(), repo, other)
				require.NoError(t, err)
				attachEnvelope(t, repo, subject, notation.EnvelopeJWS, envelopeOf(t, repo, d), time.Time{})
				return nil
			}},
		{name: "garbage-jws", state: sign.StateFailed, check: "integrity",
			make: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) sign.Verifier {
				attachEnvelope(t, repo, subject, notation.EnvelopeJWS, []byte("\x00\x01garbage{{{"), time.Time{})
				return nil
			}},
		{name: "garbage-cose", state: sign.StateFailed, check: "integrity",
			make: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) sign.Verifier {
				attachEnvelope(t, repo, subject, notation.EnvelopeCOSE, bytes.Repeat([]byte{0xd2, 0x84}, 100), time.Time{})
				return nil
			}},
		{name: "unknown-envelope-type", state: sign.StateFailed, check: "envelope",
			make: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) sign.Verifier {
				attachEnvelope(t, repo, subject, "text/plain", []byte("hello"), time.Time{})
				return nil
			}},
		{name: "manifest-without-layers", state: sign.StateFailed, check: "envelope",
			make: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) sign.Verifier {
				pushRawSignatureManifest(t, repo, subject, []ocispec.Descriptor{})
				return nil
			}},
		{name: "manifest-with-two-layers", state: sign.StateFailed, check: "envelope",
			make: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) sign.Verifier {
				env := craftJWS(t, ecKey, p.leaf.Chain, now, subject)
				l := ocispec.Descriptor{MediaType: notation.EnvelopeJWS, Digest: digestOf(env), Size: int64(len(env))}
				require.NoError(t, repo.Push(context.Background(), l, bytes.NewReader(env)))
				pushRawSignatureManifest(t, repo, subject, []ocispec.Descriptor{l, l})
				return nil
			}},
		{name: "missing-envelope-blob", state: sign.StateInconclusive, check: "envelope",
			make: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) sign.Verifier {
				env := []byte("never pushed")
				if !strings.HasPrefix(repo.Location(), "mem:") && !strings.HasPrefix(repo.Location(), "oci:") {
					t.Skip("registries refuse manifests whose blobs are missing")
				}
				pushRawSignatureManifest(t, repo, subject, []ocispec.Descriptor{{MediaType: notation.EnvelopeJWS, Digest: digestOf(env), Size: int64(len(env))}})
				return nil
			}},
		{name: "oversized-envelope", state: sign.StateFailed, check: "envelope",
			make: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) sign.Verifier {
				attachEnvelope(t, repo, subject, notation.EnvelopeJWS, bytes.Repeat([]byte("A"), 4096), time.Time{})
				return newVerifier(t, notation.VerifierOptions{TrustPolicy: policy(t, "strict"), TrustStore: store(t, p.ca.Certificate), MaxEnvelopeBytes: 1024})
			}},
		{name: "requires-verification-plugin", state: sign.StateInconclusive,
			make: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) sign.Verifier {
				env := craftJWSWith(t, ecKey, p.leaf.Chain, now, subject, map[string]string{"io.cncf.notary.verificationPlugin": "absent-plugin"})
				attachEnvelope(t, repo, subject, notation.EnvelopeJWS, env, time.Time{})
				return nil
			}},
		{name: "no-applicable-policy", state: sign.StateInconclusive,
			make: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) sign.Verifier {
				_, err := good.Sign(context.Background(), repo, subject)
				require.NoError(t, err)
				doc, err := notation.ParseTrustPolicy([]byte(`{"version":"1.0","trustPolicies":[{"name":"elsewhere","registryScopes":["registry.example.com/other"],
					"signatureVerification":{"level":"strict"},"trustStores":["ca:test"],"trustedIdentities":["*"]}]}`))
				require.NoError(t, err)
				return newVerifier(t, notation.VerifierOptions{TrustPolicy: doc, TrustStore: store(t, p.ca.Certificate), LocalScope: "local/nothing"})
			}},
	}
	for _, st := range registrytest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			for i, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					repo := st.Repository(t, fmt.Sprintf("bad/%d", i))
					subject := pushImage(t, repo, uint64(100+i))
					otherImg := pushImage(t, repo, uint64(200+i))
					v := c.make(t, repo, subject, otherImg)
					if v == nil {
						v = strict
					}
					s := verifyOne(t, v, repo, subject)
					assert.Equal(t, c.state, s.State, "state; cause %q", s.Cause)
					t.Logf("cause: %s", s.Cause)
					switch c.check {
					case "authenticity", "authenticTimestamp", "subject":
						assert.Equal(t, sign.CheckPassed, check(s, "integrity").Result, "integrity must pass so that %s is really checked: %+v", c.check, s.Checks)
						assert.Equal(t, sign.CheckFailed, check(s, c.check).Result, "checks: %+v", s.Checks)
					}
					if c.check != "" {
						ch := check(s, c.check)
						assert.NotEqual(t, sign.CheckPassed, ch.Result, "check %s must not pass: %+v", c.check, s.Checks)
						assert.NotEmpty(t, ch.Result, "check %s is reported: %+v", c.check, s.Checks)
					}
				})
			}
		})
	}
}

func newMemRepo(t testing.TB) registry.Repository {
	t.Helper()
	repo, err := registry.NewClient(registry.Options{}).Repository(context.Background(), "mem:scratch")
	require.NoError(t, err)
	return repo
}

// copyImage copies the manifest d (and what it refers to) from src to dst.
func copyImage(dst, src registry.Repository, d ocispec.Descriptor) error {
	ctx := context.Background()
	raw, err := content.FetchAll(ctx, src, d)
	if err != nil {
		return err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	for _, b := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		data, err := content.FetchAll(ctx, src, b)
		if err != nil {
			return err
		}
		if err := dst.Push(ctx, b, bytes.NewReader(data)); err != nil && !strings.Contains(err.Error(), "exists") {
			return err
		}
	}
	return dst.Push(ctx, d, bytes.NewReader(raw))
}

func digestOf(b []byte) digest.Digest { return digest.FromBytes(b) }

// pushRawSignatureManifest pushes a notation-typed manifest with the given
// layers (which may be empty or point at missing blobs).
func pushRawSignatureManifest(t testing.TB, repo registry.Repository, subject ocispec.Descriptor, layers []ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	cfg := ocispec.Descriptor{MediaType: artifact.TypeNotarySignature, Digest: ocispec.DescriptorEmptyJSON.Digest, Size: 2}
	if err := repo.Push(ctx, cfg, bytes.NewReader([]byte("{}"))); err != nil && !strings.Contains(err.Error(), "exists") {
		require.NoError(t, err)
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: layers, Subject: &subject,
		Annotations: map[string]string{ocispec.AnnotationCreated: "1970-01-01T00:00:00Z"}}
	m.SchemaVersion = 2
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digestOf(raw), Size: int64(len(raw))}
	require.NoError(t, repo.Push(ctx, d, bytes.NewReader(raw)))
	return d
}

// TestLevels checks that permissive and audit never look verified when a
// check failed, and that skip is inconclusive.
func TestLevels(t *testing.T) {
	ctx := context.Background()
	p := newPKI(t, devpki.ECDSAP256, "")
	other := newPKI(t, devpki.ECDSAP256, "")
	now := time.Now()
	expired, err := p.ca.Issue(devpki.LeafOptions{NotBefore: now.Add(-72 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	require.NoError(t, err)
	repo := newMemRepo(t)

	expiredImg := pushImage(t, repo, 1)
	attachEnvelope(t, repo, expiredImg, notation.EnvelopeJWS, craftJWS(t, expired.Key.(*ecdsa.PrivateKey), expired.Chain, now.Add(-48*time.Hour), expiredImg), time.Time{})
	untrustedImg := pushImage(t, repo, 2)
	_, err = newSigner(t, other.leaf.Key, other.leaf.Chain, notation.SignerOptions{}).Sign(ctx, repo, untrustedImg)
	require.NoError(t, err)
	goodImg := pushImage(t, repo, 3)
	_, err = newSigner(t, p.leaf.Key, p.leaf.Chain, notation.SignerOptions{}).Sign(ctx, repo, goodImg)
	require.NoError(t, err)

	for _, c := range []struct {
		level    string
		img      ocispec.Descriptor
		state    sign.State
		check    string
		enforced bool
	}{
		{"strict", expiredImg, sign.StateFailed, "authenticTimestamp", true},
		{"permissive", expiredImg, sign.StateFailed, "authenticTimestamp", false},
		{"audit", expiredImg, sign.StateFailed, "authenticTimestamp", false},
		{"strict", untrustedImg, sign.StateFailed, "authenticity", true},
		{"permissive", untrustedImg, sign.StateFailed, "authenticity", true},
		{"audit", untrustedImg, sign.StateFailed, "authenticity", false},
		{"skip", goodImg, sign.StateInconclusive, "integrity", false},
		{"strict", goodImg, sign.StateVerified, "", false},
		{"permissive", goodImg, sign.StateVerified, "", false},
		{"audit", goodImg, sign.StateVerified, "", false},
	} {
		t.Run(c.level+"/"+c.check, func(t *testing.T) {
			var doc *notation.TrustPolicy
			if c.level != "skip" {
				doc = policy(t, c.level, identity)
			} else {
				var err error
				doc, err = notation.ParseTrustPolicy([]byte(`{"version":"1.0","trustPolicies":[{"name":"test","registryScopes":["*"],"signatureVerification":{"level":"skip"}}]}`))
				require.NoError(t, err)
			}
			v := newVerifier(t, notation.VerifierOptions{TrustPolicy: doc, TrustStore: store(t, p.ca.Certificate)})
			res, err := v.Verify(ctx, repo, c.img)
			require.NoError(t, err)
			require.Len(t, res.Signatures, 1)
			s := res.Signatures[0]
			assert.Equal(t, c.state, s.State, "cause %q checks %+v", s.Cause, s.Checks)
			assert.Equal(t, c.level, s.Level)
			if c.state == sign.StateVerified {
				assert.True(t, res.Verified())
				// The notation trust policy's spelling, not Go's reverse one.
				assert.Equal(t, "C=US, ST=WA, L=Seattle, O=cssc development, CN=cssc INSECURE development signer", s.Identity)
				assert.Equal(t, "C=US, ST=WA, L=Seattle, O=cssc development, CN=cssc INSECURE development root CA", s.Issuer)
				assert.WithinDuration(t, time.Now(), s.Timestamp, time.Minute)
				return
			}
			assert.False(t, res.Verified())
			ch := check(s, c.check)
			if c.level == "skip" {
				assert.Equal(t, sign.CheckSkipped, ch.Result)
				return
			}
			assert.Equal(t, sign.CheckFailed, ch.Result, "checks %+v", s.Checks)
			assert.Equal(t, c.enforced, ch.Enforced, "enforced")
			if !c.enforced {
				assert.Contains(t, s.Cause, "only logged at level "+c.level)
			}
		})
	}
}

// TestRevocation covers CRL revocation offline (supplied CRLs), online
// (CRL served over loopback HTTP) and skipped.
func TestRevocation(t *testing.T) {
	ctx := context.Background()
	var ca *devpki.CA
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { ca.CRLHandler().ServeHTTP(w, r) }))
	defer srv.Close()
	crlURL := srv.URL + "/root.crl"
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{CRLURL: crlURL})
	require.NoError(t, err)
	goodLeaf, err := ca.Issue(devpki.LeafOptions{})
	require.NoError(t, err)
	revokedLeaf, err := ca.Issue(devpki.LeafOptions{})
	require.NoError(t, err)
	ca.Revoke(revokedLeaf.Certificate, time.Now().Add(-time.Hour))
	crlDER, err := ca.CRL()
	require.NoError(t, err)

	repo := newMemRepo(t)
	goodImg, revokedImg := pushImage(t, repo, 1), pushImage(t, repo, 2)
	_, err = newSigner(t, goodLeaf.Key, goodLeaf.Chain, notation.SignerOptions{}).Sign(ctx, repo, goodImg)
	require.NoError(t, err)
	_, err = newSigner(t, revokedLeaf.Key, revokedLeaf.Chain, notation.SignerOptions{}).Sign(ctx, repo, revokedImg)
	require.NoError(t, err)

	for _, c := range []struct {
		name     string
		opts     notation.VerifierOptions
		img      ocispec.Descriptor
		state    sign.State
		revCheck sign.CheckResult
	}{
		{"offline/good", notation.VerifierOptions{Revocation: notation.RevocationOffline, CRLs: map[string][]byte{crlURL: crlDER}}, goodImg, sign.StateVerified, sign.CheckPassed},
		{"offline/revoked", notation.VerifierOptions{Revocation: notation.RevocationOffline, CRLs: map[string][]byte{crlURL: crlDER}}, revokedImg, sign.StateFailed, sign.CheckFailed},
		{"offline/no-crl", notation.VerifierOptions{Revocation: notation.RevocationOffline}, goodImg, sign.StateInconclusive, sign.CheckInconclusive},
		{"online/good", notation.VerifierOptions{Revocation: notation.RevocationOnline}, goodImg, sign.StateVerified, sign.CheckPassed},
		{"online/revoked", notation.VerifierOptions{Revocation: notation.RevocationOnline}, revokedImg, sign.StateFailed, sign.CheckFailed},
		{"skip/revoked", notation.VerifierOptions{Revocation: notation.RevocationSkipUnsafe}, revokedImg, sign.StateVerified, sign.CheckSkipped},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.opts.TrustPolicy = policy(t, "strict")
			c.opts.TrustStore = store(t, ca.Certificate)
			v := newVerifier(t, c.opts)
			res, err := v.Verify(ctx, repo, c.img)
			require.NoError(t, err)
			require.Len(t, res.Signatures, 1)
			s := res.Signatures[0]
			assert.Equal(t, c.state, s.State, "cause %q", s.Cause)
			assert.Equal(t, c.revCheck, check(s, "revocation").Result, "revocation check: %+v", s.Checks)
			if c.state != sign.StateVerified {
				assert.Contains(t, s.Cause, "revocation")
			}
		})
	}
}

// TestManyReferrers floods a subject with broken signatures: nothing
// verifies, the cap holds, the rest are counted, and a fresh valid
// signature among them is still found first.
func TestManyReferrers(t *testing.T) {
	ctx := context.Background()
	p := newPKI(t, devpki.ECDSAP256, "")
	v := newVerifier(t, notation.VerifierOptions{TrustPolicy: policy(t, "strict"), TrustStore: store(t, p.ca.Certificate), MaxSignatures: 20})
	reg := registrytest.Start(t, registrytest.OCI)
	noRef := registrytest.Start(t, registrytest.OCINoReferrers)
	for _, c := range []struct {
		name string
		repo registry.Repository
		n    int
	}{
		{"memory", newMemRepo(t), 2000},
		{"ociregistry", reg.Repository(t, "flood/app"), 1000},
		// Without the referrers API every push rewrites the referrers
		// index: fewer, to keep the test quick.
		{"ociregistry-noreferrers", noRef.Repository(t, "flood/app"), 300},
	} {
		t.Run(c.name, func(t *testing.T) {
			subject := pushImage(t, c.repo, 7)
			for i := range c.n {
				attachEnvelope(t, c.repo, subject, notation.EnvelopeJWS, []byte(fmt.Sprintf("garbage %d", i)), time.Unix(int64(i), 0))
			}
			res, err := v.Verify(ctx, c.repo, subject)
			require.NoError(t, err)
			assert.Len(t, res.Signatures, 20)
			assert.Equal(t, c.n-20, res.Unexamined)
			assert.False(t, res.Verified())
			for _, s := range res.Signatures {
				assert.Equal(t, sign.StateFailed, s.State)
				assert.NotEmpty(t, s.Cause)
			}
			_, err = newSigner(t, p.leaf.Key, p.leaf.Chain, notation.SignerOptions{}).Sign(ctx, c.repo, subject)
			require.NoError(t, err)
			res, err = v.Verify(ctx, c.repo, subject)
			require.NoError(t, err)
			assert.True(t, res.Verified(), "the newest (valid) signature is examined first")
			assert.Equal(t, c.n+1-20, res.Unexamined)
		})
	}
}

// TestRevocationNonRevokable: a chain that names no CRL or OCSP responder
// passes revocation, and the check says why.
func TestRevocationNonRevokable(t *testing.T) {
	ctx := context.Background()
	p := newPKI(t, devpki.ECDSAP256, "")
	repo := newMemRepo(t)
	img := pushImage(t, repo, 1)
	_, err := newSigner(t, p.leaf.Key, p.leaf.Chain, notation.SignerOptions{}).Sign(ctx, repo, img)
	require.NoError(t, err)
	v := newVerifier(t, notation.VerifierOptions{TrustPolicy: policy(t, "strict"), TrustStore: store(t, p.ca.Certificate), Revocation: notation.RevocationOnline})
	res, err := v.Verify(ctx, repo, img)
	require.NoError(t, err)
	require.True(t, res.Verified())
	c := check(res.Signatures[0], "revocation")
	assert.Equal(t, sign.CheckPassed, c.Result)
	assert.Contains(t, c.Detail, "non-revokable")
}

// TestRevocationUnknownPermissive: at level permissive notation accepts a
// signature whose revocation status is unknown; cssc reports it
// inconclusive, never verified.
func TestRevocationUnknownPermissive(t *testing.T) {
	ctx := context.Background()
	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{CRLURL: "http://crl.invalid/root.crl"})
	require.NoError(t, err)
	leaf, err := ca.Issue(devpki.LeafOptions{})
	require.NoError(t, err)
	repo := newMemRepo(t)
	img := pushImage(t, repo, 1)
	_, err = newSigner(t, leaf.Key, leaf.Chain, notation.SignerOptions{}).Sign(ctx, repo, img)
	require.NoError(t, err)
	v := newVerifier(t, notation.VerifierOptions{TrustPolicy: policy(t, "permissive"), TrustStore: store(t, ca.Certificate), Revocation: notation.RevocationOffline})
	res, err := v.Verify(ctx, repo, img)
	require.NoError(t, err)
	require.Len(t, res.Signatures, 1)
	s := res.Signatures[0]
	assert.Equal(t, sign.StateInconclusive, s.State, "cause %q", s.Cause)
	c := check(s, "revocation")
	assert.Equal(t, sign.CheckInconclusive, c.Result)
	assert.False(t, c.Enforced, "permissive only logs revocation")
	assert.False(t, res.Verified())
}
