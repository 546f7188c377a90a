package cosign

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"testing"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/sign"
)

func TestNewFailsClosed(t *testing.T) {
	vs := newSigstore(t)
	key := newECDSA(t).Public()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	id := []Identity{{Issuer: testIssuer, SubjectAlternativeName: testIdentity}}
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{name: "zero value", opts: Options{}, want: "no trust material"},
		{name: "key without tlog decision", opts: Options{PublicKeys: []crypto.PublicKey{key}}, want: "IgnoreTransparencyLogUnsafe"},
		{name: "trusted root without identities", opts: Options{TrustedRoot: vs}, want: "AnyIdentityUnsafe"},
		{name: "identities without trusted root", opts: Options{PublicKeys: []crypto.PublicKey{key}, IgnoreTransparencyLogUnsafe: true, Identities: id}, want: "without TrustedRoot"},
		{name: "identity without issuer", opts: Options{TrustedRoot: vs, Identities: []Identity{{SubjectAlternativeName: testIdentity}}}, want: "Issuer"},
		{name: "identity with both san forms", opts: Options{TrustedRoot: vs, Identities: []Identity{{Issuer: testIssuer, SubjectAlternativeName: "a", SubjectAlternativeNameRegexp: "b"}}}, want: "SubjectAlternativeName"},
		{name: "bad regexp", opts: Options{TrustedRoot: vs, Identities: []Identity{{Issuer: testIssuer, SubjectAlternativeNameRegexp: "("}}}, want: "missing closing"},
		{name: "integrated timestamps without tlog", opts: Options{TrustedRoot: vs, Identities: id, IgnoreTransparencyLogUnsafe: true, Timestamps: TimestampsIntegrated}, want: "TimestampsIntegrated"},
		{name: "unknown timestamps", opts: Options{TrustedRoot: vs, Identities: id, Timestamps: 42}, want: "unknown Timestamps"},
		{name: "negative cap", opts: Options{TrustedRoot: vs, Identities: id, MaxSignatures: -1}, want: "MaxSignatures"},
		{name: "weak rsa key", opts: Options{PublicKeys: []crypto.PublicKey{small.Public()}, IgnoreTransparencyLogUnsafe: true}, want: "2048"},
		{name: "unsupported key type", opts: Options{PublicKeys: []crypto.PublicKey{"not a key"}, IgnoreTransparencyLogUnsafe: true}, want: "unsupported public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := New(tc.opts)
			assert.Nil(t, v)
			require.ErrorIs(t, err, sign.ErrInvalidConfig)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestNewAcceptsExplicitChoices(t *testing.T) {
	vs := newSigstore(t)
	id := []Identity{{IssuerRegexp: `https://.*`, SubjectAlternativeNameRegexp: `.*`}}
	for _, o := range []Options{
		{PublicKeys: []crypto.PublicKey{newECDSA(t).Public()}, IgnoreTransparencyLogUnsafe: true},
		{PublicKeys: []crypto.PublicKey{newECDSA(t).Public()}, TrustedRoot: vs, AnyIdentityUnsafe: true},
		{TrustedRoot: vs, Identities: id},
		{TrustedRoot: vs, Identities: id, Timestamps: TimestampsSigned, TimestampThreshold: 1, SignedCertificateTimestamps: 1},
		{TrustedRoot: vs, Identities: id, Timestamps: TimestampsIntegrated},
		{TrustedRoot: vs, Identities: id, Timestamps: TimestampsCurrentTimeUnsafe, IgnoreTransparencyLogUnsafe: true},
	} {
		_, err := New(o)
		assert.NoError(t, err, "options %+v", o)
	}
}

func TestTimestampsString(t *testing.T) {
	assert.Equal(t, "observed", TimestampsObserved.String())
	assert.Equal(t, "current-time-unsafe", TimestampsCurrentTimeUnsafe.String())
	assert.Equal(t, "Timestamps(9)", Timestamps(9).String())
}

func TestParsePublicKey(t *testing.T) {
	ec := newECDSA(t)
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	for _, pub := range []crypto.PublicKey{ec.Public(), edPub} {
		der, err := x509.MarshalPKIXPublicKey(pub)
		require.NoError(t, err)
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		for _, in := range [][]byte{pemBytes, der} {
			got, err := ParsePublicKey(in)
			require.NoError(t, err)
			assert.True(t, got.(interface{ Equal(crypto.PublicKey) bool }).Equal(pub))
		}
	}
	_, err = ParsePublicKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}}))
	assert.ErrorIs(t, err, sign.ErrInvalidConfig)
	_, err = ParsePublicKey([]byte("garbage"))
	assert.ErrorIs(t, err, sign.ErrInvalidConfig)
}

// TestTrustedRootFromJSON verifies a keyless signature against a trusted
// root read from its JSON form (as `cosign trusted-root create` writes it).
func TestTrustedRootFromJSON(t *testing.T) {
	vs := newSigstore(t)
	// VirtualSigstore's logs carry their hex ID as ID bytes; a real trusted
	// root carries the raw key ID.
	rawIDs := func(logs map[string]*root.TransparencyLog) map[string]*root.TransparencyLog {
		out := map[string]*root.TransparencyLog{}
		for k, l := range logs {
			c := *l
			var err error
			c.ID, err = hex.DecodeString(k)
			require.NoError(t, err)
			out[k] = &c
		}
		return out
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, vs.FulcioCertificateAuthorities(), rawIDs(vs.CTLogs()), vs.TimestampingAuthorities(), rawIDs(vs.RekorLogs()))
	require.NoError(t, err)
	data, err := tr.MarshalJSON()
	require.NoError(t, err)
	parsed, err := TrustedRootFromJSON(data)
	require.NoError(t, err)

	repo := memRepo(t)
	subject := pushImage(t, repo, "app")
	attachBundle(t, repo, subject, keylessDSSEBundle(t, vs, testIdentity, testIssuer, statement(subject.Digest, PredicateCosignSign)), nil)
	pushLegacy(t, repo, subject, keylessLayer(t, vs, testIdentity, testIssuer, cosignPayload("registry.example/app", subject.Digest)))
	v := mustNew(t, Options{TrustedRoot: parsed, Identities: []Identity{{Issuer: testIssuer, SubjectAlternativeName: testIdentity}}})
	res, err := v.Verify(context.Background(), repo, subject)
	require.NoError(t, err)
	require.Len(t, res.Signatures, 2)
	for _, s := range res.Signatures {
		assert.Equal(t, sign.StateVerified, s.State, "%s: %s", s.Format, s.Cause)
	}

	_, err = TrustedRootFromJSON([]byte(`{"mediaType":"nope"}`))
	assert.ErrorIs(t, err, sign.ErrInvalidConfig)
	_, err = TrustedRootFromJSON(make([]byte, MaxTrustedRootBytes+1))
	assert.ErrorIs(t, err, sign.ErrInvalidConfig)
}
