package cosign

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
)

// keyOpts are options for key-only verification without a transparency
// log (cosign sign --key --tlog-upload=false).
func keyOpts(keys ...crypto.PublicKey) Options {
	return Options{PublicKeys: keys, IgnoreTransparencyLogUnsafe: true}
}

func mustNew(t testing.TB, o Options) *Verifier {
	t.Helper()
	v, err := New(o)
	require.NoError(t, err)
	return v
}

func verifyOne(t testing.TB, v *Verifier, repo registry.Repository, subject ocispec.Descriptor) sign.Signature {
	t.Helper()
	res, err := v.Verify(context.Background(), repo, subject)
	require.NoError(t, err)
	require.Len(t, res.Signatures, 1, "signatures: %+v", res.Signatures)
	return res.Signatures[0]
}

func TestLegacyKeySignatures(t *testing.T) {
	ec := newECDSA(t)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	other := newECDSA(t)

	for _, tc := range []struct {
		name   string
		signer crypto.Signer
		keys   []crypto.PublicKey
		// build returns the layers of the .sig manifest.
		build     func(t *testing.T, subject, elsewhere ocispec.Descriptor, signer crypto.Signer) []legacyLayer
		state     sign.State
		cause     string // substring of Cause
		wantKeyID crypto.PublicKey
	}{
		{name: "ecdsa", signer: ec, keys: []crypto.PublicKey{ec.Public()}, state: sign.StateVerified, wantKeyID: ec.Public()},
		{name: "rsa", signer: rsaKey, keys: []crypto.PublicKey{rsaKey.Public()}, state: sign.StateVerified, wantKeyID: rsaKey.Public()},
		{name: "ed25519", signer: edKey, keys: []crypto.PublicKey{edKey.Public()}, state: sign.StateVerified, wantKeyID: edKey.Public()},
		{name: "second of several keys", signer: ec, keys: []crypto.PublicKey{other.Public(), edKey.Public(), ec.Public()}, state: sign.StateVerified, wantKeyID: ec.Public()},
		{name: "wrong key", signer: ec, keys: []crypto.PublicKey{other.Public()}, state: sign.StateFailed, cause: "signature: signature does not verify"},
		{name: "wrong key type", signer: edKey, keys: []crypto.PublicKey{ec.Public()}, state: sign.StateFailed, cause: "does not verify"},
		{
			name: "signature over another digest", signer: ec, keys: []crypto.PublicKey{ec.Public()},
			build: func(t *testing.T, _, elsewhere ocispec.Descriptor, s crypto.Signer) []legacyLayer {
				return []legacyLayer{keyLayer(t, s, cosignPayload("registry.example/app", elsewhere.Digest))}
			},
			state: sign.StateFailed, cause: "subject: payload signs " + "sha256:",
		},
		{
			name: "tampered payload", signer: ec, keys: []crypto.PublicKey{ec.Public()},
			build: func(t *testing.T, subject, elsewhere ocispec.Descriptor, s crypto.Signer) []legacyLayer {
				l := keyLayer(t, s, cosignPayload("registry.example/app", elsewhere.Digest))
				l.payload = cosignPayload("registry.example/app", subject.Digest)
				return []legacyLayer{l}
			},
			state: sign.StateFailed, cause: "signature: signature does not verify",
		},
		{
			name: "garbage signature bytes", signer: ec, keys: []crypto.PublicKey{ec.Public()},
			build: func(t *testing.T, subject, _ ocispec.Descriptor, s crypto.Signer) []legacyLayer {
				l := keyLayer(t, s, cosignPayload("registry.example/app", subject.Digest))
				l.annotations[AnnotationSignature] = base64.StdEncoding.EncodeToString([]byte("garbage, not a signature"))
				return []legacyLayer{l}
			},
			state: sign.StateFailed, cause: "does not verify",
		},
		{
			name: "signature not base64", signer: ec, keys: []crypto.PublicKey{ec.Public()},
			build: func(t *testing.T, subject, _ ocispec.Descriptor, s crypto.Signer) []legacyLayer {
				l := keyLayer(t, s, cosignPayload("registry.example/app", subject.Digest))
				l.annotations[AnnotationSignature] = "%%%not base64%%%"
				return []legacyLayer{l}
			},
			state: sign.StateFailed, cause: "format:",
		},
		{
			name: "no signature annotation", signer: ec, keys: []crypto.PublicKey{ec.Public()},
			build: func(t *testing.T, subject, _ ocispec.Descriptor, s crypto.Signer) []legacyLayer {
				return []legacyLayer{{payload: cosignPayload("registry.example/app", subject.Digest)}}
			},
			state: sign.StateFailed, cause: "no dev.cosignproject.cosign/signature annotation",
		},
		{
			name: "signed payload that is not simple signing", signer: ec, keys: []crypto.PublicKey{ec.Public()},
			build: func(t *testing.T, subject, _ ocispec.Descriptor, s crypto.Signer) []legacyLayer {
				return []legacyLayer{keyLayer(t, s, []byte(`{"critical":{"type":"something else","image":{"docker-manifest-digest":"`+subject.Digest.String()+`"}}}`))}
			},
			state: sign.StateFailed, cause: "critical.type",
		},
		{
			name: "signed garbage payload", signer: ec, keys: []crypto.PublicKey{ec.Public()},
			build: func(t *testing.T, _, _ ocispec.Descriptor, s crypto.Signer) []legacyLayer {
				return []legacyLayer{keyLayer(t, s, []byte("\x00\x01 not json"))}
			},
			state: sign.StateFailed, cause: "subject: payload is not",
		},
		{
			name: "unknown layer media type", signer: ec, keys: []crypto.PublicKey{ec.Public()},
			build: func(t *testing.T, subject, _ ocispec.Descriptor, s crypto.Signer) []legacyLayer {
				l := keyLayer(t, s, cosignPayload("registry.example/app", subject.Digest))
				l.mediaType = "application/octet-stream"
				return []legacyLayer{l}
			},
			state: sign.StateInconclusive, cause: "unsupported media type",
		},
		{
			name: "no signature manifest layers", signer: ec, keys: []crypto.PublicKey{ec.Public()},
			build: func(*testing.T, ocispec.Descriptor, ocispec.Descriptor, crypto.Signer) []legacyLayer {
				return nil
			},
			state: sign.StateFailed, cause: "no layers",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := memRepo(t)
			subject := pushImage(t, repo, "app")
			elsewhere := pushImage(t, repo, "other")
			layers := []legacyLayer{keyLayer(t, tc.signer, cosignPayload("registry.example/app", subject.Digest))}
			if tc.build != nil {
				layers = tc.build(t, subject, elsewhere, tc.signer)
			}
			sigDesc := pushLegacy(t, repo, subject, layers...)
			got := verifyOne(t, mustNew(t, keyOpts(tc.keys...)), repo, subject)
			assert.Equal(t, tc.state, got.State, "cause: %s", got.Cause)
			assert.Equal(t, sign.FormatCosign, got.Format)
			assert.Equal(t, sigDesc.Digest, got.Digest)
			if tc.cause != "" {
				assert.Contains(t, got.Cause, tc.cause)
			}
			if tc.state == sign.StateVerified {
				id, err := KeyID(tc.wantKeyID)
				require.NoError(t, err)
				assert.Equal(t, id, got.Identity)
				assert.Empty(t, got.Cause)
				assert.Empty(t, got.Failed(), "no check may fail on a verified signature")
				assertCheck(t, got, checkSubject, sign.CheckPassed)
				assertCheck(t, got, checkTransparencyLog, sign.CheckSkipped)
			} else {
				last := got.Checks[len(got.Checks)-1]
				assert.Contains(t, []sign.CheckResult{sign.CheckFailed, sign.CheckInconclusive}, last.Result, "a %s signature ends with the check that decided it", got.State)
			}
		})
	}
}

func assertCheck(t testing.TB, s sign.Signature, name string, want sign.CheckResult) {
	t.Helper()
	for _, c := range s.Checks {
		if c.Name == name {
			assert.Equal(t, want, c.Result, "check %s: %s", name, c.Detail)
			return
		}
	}
	t.Errorf("no check %q in %+v", name, s.Checks)
}

func TestLegacySeveralLayers(t *testing.T) {
	repo := memRepo(t)
	subject := pushImage(t, repo, "app")
	good, bad := newECDSA(t), newECDSA(t)
	payload := cosignPayload("registry.example/app", subject.Digest)
	pushLegacy(t, repo, subject, keyLayer(t, bad, payload), keyLayer(t, good, payload))
	res, err := mustNew(t, keyOpts(good.Public())).Verify(context.Background(), repo, subject)
	require.NoError(t, err)
	require.Len(t, res.Signatures, 2)
	states := []sign.State{res.Signatures[0].State, res.Signatures[1].State}
	assert.ElementsMatch(t, []sign.State{sign.StateVerified, sign.StateFailed}, states)
	assert.True(t, res.Verified())
	id, _ := KeyID(good.Public())
	assert.True(t, res.VerifiedBy(id))
}

func TestNoSignatures(t *testing.T) {
	repo := memRepo(t)
	subject := pushImage(t, repo, "app")
	res, err := mustNew(t, keyOpts(newECDSA(t).Public())).Verify(context.Background(), repo, subject)
	require.NoError(t, err)
	assert.Empty(t, res.Signatures)
	assert.Equal(t, subject, res.Subject)
	assert.ErrorIs(t, res.Err(), sign.ErrNoSignature)
}

func TestInvalidSubject(t *testing.T) {
	repo := memRepo(t)
	_, err := mustNew(t, keyOpts(newECDSA(t).Public())).Verify(context.Background(), repo, ocispec.Descriptor{Digest: "sha256:nothex", MediaType: ocispec.MediaTypeImageManifest})
	assert.ErrorIs(t, err, sign.ErrInvalidSubject)
}

func TestLegacyKeylessSignatures(t *testing.T) {
	vs := newSigstore(t)
	for _, tc := range []struct {
		name     string
		opts     func(o *Options)
		identity string
		state    sign.State
		cause    string
		layer    func(legacyLayer) legacyLayer // tampers with the layer
		at       time.Time                     // log integration time; zero means now
	}{
		{name: "exact identity", identity: testIdentity, state: sign.StateVerified},
		{name: "identity regexp", identity: testIdentity, state: sign.StateVerified, opts: func(o *Options) {
			o.Identities = []Identity{{Issuer: testIssuer, SubjectAlternativeNameRegexp: `.*@example\.com`}}
		}},
		{name: "identity mismatch", identity: "mallory@example.org", state: sign.StateFailed, cause: "identity:"},
		{name: "regexp anchored", identity: "release@example.com.evil.org", state: sign.StateFailed, cause: "identity:", opts: func(o *Options) {
			o.Identities = []Identity{{Issuer: testIssuer, SubjectAlternativeNameRegexp: `.*@example\.com`}}
		}},
		{name: "issuer mismatch", identity: testIdentity, state: sign.StateFailed, cause: "identity:", opts: func(o *Options) {
			o.Identities = []Identity{{Issuer: "https://accounts.google.com", SubjectAlternativeName: testIdentity}}
		}},
		{name: "untrusted root", identity: testIdentity, state: sign.StateFailed, opts: func(o *Options) {
			o.TrustedRoot = newSigstore(t)
		}},
		{name: "no trusted root configured", identity: testIdentity, state: sign.StateInconclusive, cause: "no TrustedRoot", opts: func(o *Options) {
			*o = keyOpts(newECDSA(t).Public())
		}},
		{name: "signed timestamps required", identity: testIdentity, state: sign.StateVerified, opts: func(o *Options) {
			o.Timestamps = TimestampsSigned
		}},
		{name: "integrated timestamps required", identity: testIdentity, state: sign.StateVerified, opts: func(o *Options) {
			o.Timestamps = TimestampsIntegrated
		}},
		{name: "timestamp authority only", identity: testIdentity, state: sign.StateVerified, layer: func(l legacyLayer) legacyLayer {
			delete(l.annotations, AnnotationBundle)
			return l
		}, opts: func(o *Options) {
			o.IgnoreTransparencyLogUnsafe = true
			o.Timestamps = TimestampsSigned
		}},
		{name: "no log entry", identity: testIdentity, state: sign.StateFailed, cause: "transparencyLog:", layer: func(l legacyLayer) legacyLayer {
			delete(l.annotations, AnnotationBundle)
			return l
		}},
		{name: "no timestamp when signed timestamps required", identity: testIdentity, state: sign.StateFailed, cause: "timestamp:", layer: func(l legacyLayer) legacyLayer {
			delete(l.annotations, AnnotationRFC3161Timestamp)
			return l
		}, opts: func(o *Options) {
			o.Timestamps = TimestampsSigned
		}},
		{name: "certificate expired at signing time", identity: testIdentity, state: sign.StateFailed, cause: "outside certificate validity", at: time.Now().Add(30 * time.Minute)},
		{name: "certificate not yet valid at signing time", identity: testIdentity, state: sign.StateFailed, at: time.Now().Add(-30 * time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := memRepo(t)
			subject := pushImage(t, repo, "app")
			l := keylessLayer(t, vs, tc.identity, testIssuer, cosignPayload("registry.example/app", subject.Digest))
			if !tc.at.IsZero() {
				l = keylessLayerAt(t, vs, tc.identity, testIssuer, cosignPayload("registry.example/app", subject.Digest), tc.at)
			}
			if tc.layer != nil {
				l = tc.layer(l)
			}
			pushLegacy(t, repo, subject, l)
			o := Options{TrustedRoot: vs, Identities: []Identity{{Issuer: testIssuer, SubjectAlternativeName: testIdentity}}}
			if tc.opts != nil {
				tc.opts(&o)
			}
			got := verifyOne(t, mustNew(t, o), repo, subject)
			assert.Equal(t, tc.state, got.State, "cause: %s", got.Cause)
			if tc.cause != "" {
				assert.Contains(t, got.Cause, tc.cause)
			}
			if tc.state == sign.StateVerified {
				assert.Equal(t, tc.identity, got.Identity)
				assert.Equal(t, testIssuer, got.Issuer)
				assert.True(t, got.Timestamped, "signing time proven by the log or TSA")
				assert.False(t, got.Timestamp.IsZero())
				for _, name := range []string{checkTransparencyLog, checkTimestamp, checkCertificate, checkSignature, checkSubject, checkIdentity} {
					want := sign.CheckPassed
					if name == checkTransparencyLog && o.IgnoreTransparencyLogUnsafe {
						want = sign.CheckSkipped
					}
					assertCheck(t, got, name, want)
				}
			}
		})
	}
}

func TestLegacyKeylessTamperedPayload(t *testing.T) {
	vs := newSigstore(t)
	repo := memRepo(t)
	subject := pushImage(t, repo, "app")
	elsewhere := pushImage(t, repo, "other")
	l := keylessLayer(t, vs, testIdentity, testIssuer, cosignPayload("registry.example/app", elsewhere.Digest))
	l.payload = cosignPayload("registry.example/app", subject.Digest)
	pushLegacy(t, repo, subject, l)
	got := verifyOne(t, mustNew(t, Options{TrustedRoot: vs, Identities: []Identity{{Issuer: testIssuer, SubjectAlternativeName: testIdentity}}}), repo, subject)
	assert.Equal(t, sign.StateFailed, got.State, "cause: %s", got.Cause)
}

func TestLegacyMalformedAnnotations(t *testing.T) {
	vs := newSigstore(t)
	for _, ann := range []string{AnnotationBundle, AnnotationRFC3161Timestamp, AnnotationCertificate, AnnotationChain} {
		t.Run(ann, func(t *testing.T) {
			repo := memRepo(t)
			subject := pushImage(t, repo, "app")
			l := keylessLayer(t, vs, testIdentity, testIssuer, cosignPayload("registry.example/app", subject.Digest))
			l.annotations[ann] = "{not json or pem"
			pushLegacy(t, repo, subject, l)
			got := verifyOne(t, mustNew(t, Options{TrustedRoot: vs, AnyIdentityUnsafe: true}), repo, subject)
			assert.Equal(t, sign.StateFailed, got.State, "cause: %s", got.Cause)
			assert.True(t, strings.HasPrefix(got.Cause, "format:"), "cause %q", got.Cause)
		})
	}
}

func TestSignatureTag(t *testing.T) {
	d := digest.FromString("x")
	assert.Equal(t, "sha256-"+d.Encoded()+".sig", SignatureTag(d))
}

// keyLoggedLayer signs payload with key and logs it in the virtual Rekor as
// cosign sign --key does by default: a hashedrekord entry with the public
// key, carried in the dev.sigstore.cosign/bundle annotation.
func keyLoggedLayer(t testing.TB, vs *ca.VirtualSigstore, key crypto.Signer, payload []byte) legacyLayer {
	t.Helper()
	l := keyLayer(t, key, payload)
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	require.NoError(t, err)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	sum := sha256.Sum256(payload)
	body, err := json.Marshal(map[string]any{
		"apiVersion": "0.0.1", "kind": "hashedrekord",
		"spec": map[string]any{
			"data": map[string]any{"hash": map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(sum[:])}},
			"signature": map[string]any{
				"content":   l.annotations[AnnotationSignature],
				"publicKey": map[string]any{"content": base64.StdEncoding.EncodeToString(pubPEM)},
			},
		},
	})
	require.NoError(t, err)
	var logID string
	for id := range vs.RekorLogs() {
		logID = id
	}
	integrated := time.Now().Unix()
	set, err := vs.RekorSignPayload(tlog.RekorPayload{Body: base64.StdEncoding.EncodeToString(body), IntegratedTime: integrated, LogIndex: 7, LogID: logID})
	require.NoError(t, err)
	rb, err := json.Marshal(map[string]any{
		"SignedEntryTimestamp": set,
		"Payload":              map[string]any{"body": base64.StdEncoding.EncodeToString(body), "integratedTime": integrated, "logIndex": 7, "logID": logID},
	})
	require.NoError(t, err)
	l.annotations[AnnotationBundle] = string(rb)
	return l
}

func TestLegacyKeyWithTransparencyLog(t *testing.T) {
	vs := newSigstore(t)
	key := newECDSA(t)
	opts := Options{PublicKeys: []crypto.PublicKey{key.Public()}, TrustedRoot: vs, AnyIdentityUnsafe: true}
	t.Run("logged", func(t *testing.T) {
		repo := memRepo(t)
		subject := pushImage(t, repo, "app")
		pushLegacy(t, repo, subject, keyLoggedLayer(t, vs, key, cosignPayload("registry.example/app", subject.Digest)))
		got := verifyOne(t, mustNew(t, opts), repo, subject)
		assert.Equal(t, sign.StateVerified, got.State, "cause: %s", got.Cause)
		assertCheck(t, got, checkTransparencyLog, sign.CheckPassed)
		assert.True(t, got.Timestamped, "integrated time of the log entry")
		assert.WithinDuration(t, time.Now(), got.Timestamp, time.Minute)
	})
	t.Run("not logged", func(t *testing.T) {
		repo := memRepo(t)
		subject := pushImage(t, repo, "app")
		pushLegacy(t, repo, subject, keyLayer(t, key, cosignPayload("registry.example/app", subject.Digest)))
		got := verifyOne(t, mustNew(t, opts), repo, subject)
		assert.Equal(t, sign.StateFailed, got.State)
		assert.Contains(t, got.Cause, "transparencyLog:")
	})
	t.Run("logged by an untrusted log", func(t *testing.T) {
		repo := memRepo(t)
		subject := pushImage(t, repo, "app")
		pushLegacy(t, repo, subject, keyLoggedLayer(t, newSigstore(t), key, cosignPayload("registry.example/app", subject.Digest)))
		got := verifyOne(t, mustNew(t, opts), repo, subject)
		assert.Equal(t, sign.StateFailed, got.State)
		assert.Contains(t, got.Cause, "transparencyLog:")
	})
	t.Run("log entry of another signature", func(t *testing.T) {
		repo := memRepo(t)
		subject := pushImage(t, repo, "app")
		good := keyLayer(t, key, cosignPayload("registry.example/app", subject.Digest))
		other := keyLoggedLayer(t, vs, key, cosignPayload("registry.example/other", subject.Digest))
		good.annotations[AnnotationBundle] = other.annotations[AnnotationBundle]
		pushLegacy(t, repo, subject, good)
		got := verifyOne(t, mustNew(t, opts), repo, subject)
		assert.Equal(t, sign.StateFailed, got.State)
		assert.Contains(t, got.Cause, "transparencyLog:")
	})
}

func TestLegacyOddManifests(t *testing.T) {
	key := newECDSA(t)
	ctx := context.Background()
	t.Run("signature tag on an index", func(t *testing.T) {
		repo := memRepo(t)
		subject := pushImage(t, repo, "app")
		idx, err := imagetest.PushIndex(ctx, repo, subject)
		require.NoError(t, err)
		require.NoError(t, repo.Tag(ctx, idx, SignatureTag(subject.Digest)))
		got := verifyOne(t, mustNew(t, keyOpts(key.Public())), repo, subject)
		assert.Equal(t, sign.StateFailed, got.State)
		assert.Contains(t, got.Cause, "not an image manifest")
	})
	t.Run("payload over the cap", func(t *testing.T) {
		repo := memRepo(t)
		subject := pushImage(t, repo, "app")
		pushLegacy(t, repo, subject, keyLayer(t, key, cosignPayload("registry.example/app", subject.Digest)))
		o := keyOpts(key.Public())
		o.MaxPayloadBytes = 16
		got := verifyOne(t, mustNew(t, o), repo, subject)
		assert.Equal(t, sign.StateFailed, got.State)
		assert.Contains(t, got.Cause, "cap")
	})
	t.Run("signature manifest over the cap", func(t *testing.T) {
		repo := memRepo(t)
		subject := pushImage(t, repo, "app")
		pushLegacy(t, repo, subject, keyLayer(t, key, cosignPayload("registry.example/app", subject.Digest)))
		o := keyOpts(key.Public())
		o.MaxManifestBytes = 64
		got := verifyOne(t, mustNew(t, o), repo, subject)
		assert.Equal(t, sign.StateInconclusive, got.State)
		assert.Contains(t, got.Cause, "cannot fetch signature manifest")
	})
	t.Run("signed index subject", func(t *testing.T) {
		vs := newSigstore(t)
		repo := memRepo(t)
		img := pushImage(t, repo, "app")
		subject, err := imagetest.PushIndex(ctx, repo, img)
		require.NoError(t, err)
		pushLegacy(t, repo, subject, keyLayer(t, key, cosignPayload("registry.example/app", subject.Digest)))
		attachBundle(t, repo, subject, keylessDSSEBundle(t, vs, testIdentity, testIssuer, statement(subject.Digest, PredicateCosignSign)), nil)
		res, err := mustNew(t, Options{PublicKeys: []crypto.PublicKey{key.Public()}, TrustedRoot: vs, Identities: []Identity{{Issuer: testIssuer, SubjectAlternativeName: testIdentity}}, IgnoreTransparencyLogUnsafe: true}).Verify(ctx, repo, subject)
		require.NoError(t, err)
		require.Len(t, res.Signatures, 2)
		for _, s := range res.Signatures {
			assert.Equal(t, sign.StateVerified, s.State, "%s: %s", s.Format, s.Cause)
		}
		// The platform image itself is not signed.
		res, err = mustNew(t, keyOpts(key.Public())).Verify(ctx, repo, img)
		require.NoError(t, err)
		assert.Empty(t, res.Signatures)
	})
}

func TestLegacyManyLayers(t *testing.T) {
	key := newECDSA(t)
	repo := memRepo(t)
	subject := pushImage(t, repo, "app")
	const n = 500
	layers := make([]legacyLayer, n)
	for i := range layers {
		// Distinct payloads signed by the key, all over another digest.
		layers[i] = keyLayer(t, key, cosignPayload(fmt.Sprintf("registry.example/app%d", i), digest.FromString("elsewhere")))
	}
	pushLegacy(t, repo, subject, layers...)
	o := keyOpts(key.Public())
	o.MaxSignatures = 20
	res, err := mustNew(t, o).Verify(context.Background(), repo, subject)
	require.NoError(t, err)
	assert.Len(t, res.Signatures, 20)
	assert.Equal(t, n-20, res.Unexamined)
	assert.False(t, res.Verified())
}

func TestVerifyConcurrently(t *testing.T) {
	vs := newSigstore(t)
	key := newECDSA(t)
	repo := memRepo(t)
	subject := pushImage(t, repo, "app")
	pushLegacy(t, repo, subject, keyLayer(t, key, cosignPayload("registry.example/app", subject.Digest)))
	attachBundle(t, repo, subject, keylessDSSEBundle(t, vs, testIdentity, testIssuer, statement(subject.Digest, PredicateCosignSign)), nil)
	v := mustNew(t, Options{PublicKeys: []crypto.PublicKey{key.Public()}, TrustedRoot: vs, Identities: []Identity{{Issuer: testIssuer, SubjectAlternativeName: testIdentity}}, IgnoreTransparencyLogUnsafe: true})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			res, err := v.Verify(context.Background(), repo, subject)
			if err == nil && len(res.VerifiedIdentities()) != 2 {
				err = fmt.Errorf("verified identities %v", res.VerifiedIdentities())
			}
			errs <- err
		}()
	}
	for range 8 {
		assert.NoError(t, <-errs)
	}
}
