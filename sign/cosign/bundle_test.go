package cosign

import (
	"context"
	"crypto"
	"fmt"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
)

func keylessOpts(vs *ca.VirtualSigstore) Options {
	return Options{TrustedRoot: vs, Identities: []Identity{{Issuer: testIssuer, SubjectAlternativeName: testIdentity}}}
}

func TestBundleSignatures(t *testing.T) {
	vs := newSigstore(t)
	key := newECDSA(t)
	for _, tc := range []struct {
		name string
		// attach attaches bundles to subject; elsewhere is another image.
		attach func(t *testing.T, repo registry.Repository, subject, elsewhere ocispec.Descriptor)
		opts   Options
		state  sign.State // empty: no signature expected
		cause  string
		ident  string
	}{
		{
			name: "keyless dsse", opts: keylessOpts(vs), state: sign.StateVerified, ident: testIdentity,
			attach: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) {
				attachBundle(t, repo, subject, keylessDSSEBundle(t, vs, testIdentity, testIssuer, statement(subject.Digest, PredicateCosignSign)), dsseAnnotations(PredicateCosignSign))
			},
		},
		{
			name: "keyless message signature over the manifest", opts: keylessOpts(vs), state: sign.StateVerified, ident: testIdentity,
			attach: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) {
				raw, err := manifest.Fetch(context.Background(), repo, subject, 0)
				require.NoError(t, err)
				attachBundle(t, repo, subject, keylessMessageBundle(t, vs, testIdentity, testIssuer, raw),
					map[string]string{artifact.AnnotationSigstoreBundleContent: BundleContentMessageSignature})
			},
		},
		{
			name: "message signature over another manifest", opts: keylessOpts(vs), state: sign.StateFailed, cause: "subject:",
			attach: func(t *testing.T, repo registry.Repository, subject, elsewhere ocispec.Descriptor) {
				raw, err := manifest.Fetch(context.Background(), repo, elsewhere, 0)
				require.NoError(t, err)
				attachBundle(t, repo, subject, keylessMessageBundle(t, vs, testIdentity, testIssuer, raw), nil)
			},
		},
		{
			name: "bundle for another artifact", opts: keylessOpts(vs), state: sign.StateFailed, cause: "subject:",
			attach: func(t *testing.T, repo registry.Repository, subject, elsewhere ocispec.Descriptor) {
				attachBundle(t, repo, subject, keylessDSSEBundle(t, vs, testIdentity, testIssuer, statement(elsewhere.Digest, PredicateCosignSign)), nil)
			},
		},
		{
			name: "identity mismatch", opts: keylessOpts(vs), state: sign.StateFailed, cause: "identity:",
			attach: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) {
				attachBundle(t, repo, subject, keylessDSSEBundle(t, vs, "mallory@example.org", testIssuer, statement(subject.Digest, PredicateCosignSign)), nil)
			},
		},
		{
			name: "untrusted root", opts: keylessOpts(newSigstore(t)), state: sign.StateFailed,
			attach: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) {
				attachBundle(t, repo, subject, keylessDSSEBundle(t, vs, testIdentity, testIssuer, statement(subject.Digest, PredicateCosignSign)), nil)
			},
		},
		{
			name: "keyless bundle without trusted root", opts: keyOpts(key.Public()), state: sign.StateInconclusive, cause: "no TrustedRoot",
			attach: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) {
				attachBundle(t, repo, subject, keylessDSSEBundle(t, vs, testIdentity, testIssuer, statement(subject.Digest, PredicateCosignSign)), nil)
			},
		},
		{
			name: "provenance attestation is not a signature", opts: keylessOpts(vs),
			attach: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) {
				attachBundle(t, repo, subject, keylessDSSEBundle(t, vs, testIdentity, testIssuer, statement(subject.Digest, artifact.PredicateSLSAProvenanceV1)), nil)
			},
		},
		{
			name: "provenance attestation skipped by annotation", opts: keylessOpts(vs),
			attach: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) {
				attachBundle(t, repo, subject, []byte("never fetched"), dsseAnnotations(artifact.PredicateSLSAProvenanceV1))
			},
		},
		{
			name: "provenance counted when asked", state: sign.StateVerified, ident: testIdentity,
			opts: func() Options {
				o := keylessOpts(vs)
				o.PredicateTypes = []string{artifact.PredicateSLSAProvenanceV1}
				return o
			}(),
			attach: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) {
				attachBundle(t, repo, subject, keylessDSSEBundle(t, vs, testIdentity, testIssuer, statement(subject.Digest, artifact.PredicateSLSAProvenanceV1)), nil)
			},
		},
		{
			name: "key dsse", opts: keyOpts(key.Public()), state: sign.StateVerified,
			attach: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) {
				attachBundle(t, repo, subject, keyDSSEBundle(t, key, statement(subject.Digest, PredicateCosignSign)), nil)
			},
		},
		{
			name: "key dsse wrong key", opts: keyOpts(newECDSA(t).Public()), state: sign.StateFailed, cause: "signature: signature does not verify",
			attach: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) {
				attachBundle(t, repo, subject, keyDSSEBundle(t, key, statement(subject.Digest, PredicateCosignSign)), nil)
			},
		},
		{
			name: "key dsse for another artifact", opts: keyOpts(key.Public()), state: sign.StateFailed, cause: "subject:",
			attach: func(t *testing.T, repo registry.Repository, subject, elsewhere ocispec.Descriptor) {
				attachBundle(t, repo, subject, keyDSSEBundle(t, key, statement(elsewhere.Digest, PredicateCosignSign)), nil)
			},
		},
		{
			name: "key dsse without tlog when tlog required", state: sign.StateFailed, cause: "transparencyLog:",
			opts: Options{PublicKeys: []crypto.PublicKey{key.Public()}, TrustedRoot: vs, AnyIdentityUnsafe: true},
			attach: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) {
				attachBundle(t, repo, subject, keyDSSEBundle(t, key, statement(subject.Digest, PredicateCosignSign)), nil)
			},
		},
		{
			name: "key bundle without keys", opts: keylessOpts(vs), state: sign.StateInconclusive, cause: "no PublicKeys",
			attach: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) {
				attachBundle(t, repo, subject, keyDSSEBundle(t, key, statement(subject.Digest, PredicateCosignSign)), nil)
			},
		},
		{
			name: "malformed bundle json", opts: keylessOpts(vs), state: sign.StateFailed, cause: "format: malformed bundle",
			attach: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) {
				attachBundle(t, repo, subject, []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":`), nil)
			},
		},
		{
			name: "garbage bundle bytes", opts: keylessOpts(vs), state: sign.StateFailed, cause: "format:",
			attach: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) {
				attachBundle(t, repo, subject, []byte("\x89PNG\r\n\x1a\n garbage"), nil)
			},
		},
		{
			name: "unsupported bundle version", opts: keylessOpts(vs), state: sign.StateInconclusive, cause: "unsupported",
			attach: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) {
				attachBundle(t, repo, subject, []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.9+json"}`), nil)
			},
		},
		{
			name: "garbage signature in bundle", opts: keylessOpts(vs), state: sign.StateFailed,
			attach: func(t *testing.T, repo registry.Repository, subject, _ ocispec.Descriptor) {
				b := keylessDSSEBundle(t, vs, testIdentity, testIssuer, statement(subject.Digest, PredicateCosignSign))
				attachBundle(t, repo, subject, replaceJSONField(t, b, "sig", "Z2FyYmFnZQ=="), nil)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := memRepo(t)
			subject := pushImage(t, repo, "app")
			elsewhere := pushImage(t, repo, "other")
			tc.attach(t, repo, subject, elsewhere)
			res, err := mustNew(t, tc.opts).Verify(context.Background(), repo, subject)
			require.NoError(t, err)
			if tc.state == "" {
				assert.Empty(t, res.Signatures, "an attestation is not a signature")
				return
			}
			require.Len(t, res.Signatures, 1)
			got := res.Signatures[0]
			assert.Equal(t, tc.state, got.State, "cause: %s", got.Cause)
			assert.Equal(t, sign.FormatSigstoreBundle, got.Format)
			if tc.cause != "" {
				assert.Contains(t, got.Cause, tc.cause)
			}
			if tc.state == sign.StateVerified {
				assert.Empty(t, got.Failed())
				if tc.ident != "" {
					assert.Equal(t, tc.ident, got.Identity)
					assert.Equal(t, testIssuer, got.Issuer)
					assert.True(t, got.Timestamped)
				} else {
					id, _ := KeyID(key.Public())
					assert.Equal(t, id, got.Identity)
				}
				assertCheck(t, got, checkSubject, sign.CheckPassed)
			}
		})
	}
}

// replaceJSONField replaces the first string value of field in a JSON
// document (a crude tamper).
func replaceJSONField(t testing.TB, doc []byte, field, value string) []byte {
	t.Helper()
	s := string(doc)
	key := fmt.Sprintf("%q:", field)
	i := indexOf(s, key)
	require.GreaterOrEqual(t, i, 0, "field %s in %s", field, s)
	start := i + len(key)
	for s[start] != '"' {
		start++
	}
	end := start + 1
	for s[end] != '"' {
		end++
	}
	return []byte(s[:start+1] + value + s[end:])
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
