package sign_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
)

var subject = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("x"), Size: 1}

func TestVerificationHelpers(t *testing.T) {
	var nilV *sign.Verification
	assert.False(t, nilV.Verified())
	assert.False(t, nilV.VerifiedBy("a"))
	assert.Nil(t, nilV.VerifiedIdentities())
	assert.ErrorIs(t, nilV.Err(), sign.ErrNoSignature)

	v := &sign.Verification{Subject: subject}
	assert.False(t, v.Verified())
	assert.ErrorIs(t, v.Err(), sign.ErrNoSignature)

	v.Signatures = []sign.Signature{
		{Format: sign.FormatNotationJWS, Digest: "sha256:b", State: sign.StateFailed, Identity: "CN=b", Cause: "authenticity: untrusted",
			Checks: []sign.Check{{Name: "integrity", Result: sign.CheckPassed, Enforced: true}, {Name: "authenticity", Result: sign.CheckFailed, Detail: "untrusted"}}},
		{Format: sign.FormatCosign, Digest: "sha256:a", State: sign.StateInconclusive, Cause: "fetch failed"},
	}
	assert.False(t, v.Verified())
	assert.False(t, v.VerifiedBy("CN=b"), "a failed signature does not count")
	err := v.Err()
	assert.ErrorIs(t, err, sign.ErrSignatureInvalid)
	assert.Contains(t, err.Error(), "authenticity: untrusted")
	assert.Len(t, v.Signatures[0].Failed(), 1)

	v.Signatures = append(v.Signatures,
		sign.Signature{Format: sign.FormatNotationJWS, Digest: "sha256:c", State: sign.StateVerified, Identity: "CN=c"},
		sign.Signature{Format: sign.FormatNotationCOSE, Digest: "sha256:d", State: sign.StateVerified, Identity: "CN=c"})
	assert.True(t, v.Verified())
	assert.True(t, v.VerifiedBy("CN=c"))
	assert.False(t, v.VerifiedBy("CN=b"))
	assert.Equal(t, []string{"CN=c"}, v.VerifiedIdentities())
	assert.NoError(t, v.Err())

	v.Sort()
	var order []string
	for _, s := range v.Signatures {
		order = append(order, s.Format+" "+string(s.Digest))
	}
	assert.Equal(t, []string{"cosign sha256:a", "notation-cose sha256:d", "notation-jws sha256:b", "notation-jws sha256:c"}, order)
}

func TestJSON(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := sign.Verification{Subject: subject, Signatures: []sign.Signature{{
		Format: sign.FormatNotationJWS, Digest: "sha256:a", State: sign.StateVerified, Identity: "CN=a", Issuer: "CN=root",
		TrustPolicy: "p", Level: "strict", Timestamp: ts,
		Checks: []sign.Check{{Name: "integrity", Result: sign.CheckPassed, Enforced: true}},
	}, {Format: sign.FormatCosign, State: sign.StateInconclusive, Cause: "x"}}}
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{
	  "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "`+string(subject.Digest)+`", "size": 1},
	  "signatures": [
	    {"format": "notation-jws", "digest": "sha256:a", "state": "verified", "identity": "CN=a", "issuer": "CN=root",
	     "trustPolicy": "p", "level": "strict", "timestamp": "2026-01-02T03:04:05Z",
	     "checks": [{"name": "integrity", "result": "passed", "enforced": true}]},
	    {"format": "cosign", "state": "inconclusive", "cause": "x"}
	  ]
	}`, string(raw))
	var back sign.Verification
	require.NoError(t, json.Unmarshal(raw, &back))
	assert.Equal(t, v, back)
}

func TestCheckSubject(t *testing.T) {
	assert.NoError(t, sign.CheckSubject(subject))
	for name, d := range map[string]ocispec.Descriptor{
		"empty":      {},
		"bad-digest": {MediaType: "x", Digest: "sha256:zz"},
		"no-type":    {Digest: subject.Digest},
		"negative":   {MediaType: "x", Digest: subject.Digest, Size: -1},
	} {
		assert.ErrorIs(t, sign.CheckSubject(d), sign.ErrInvalidSubject, name)
	}
}

func TestMulti(t *testing.T) {
	ctx := context.Background()
	a := sign.VerifierFunc(func(_ context.Context, _ registry.Repository, s ocispec.Descriptor) (*sign.Verification, error) {
		return &sign.Verification{Subject: s, Signatures: []sign.Signature{{Format: sign.FormatNotationJWS, Digest: "sha256:2", State: sign.StateFailed}}, Unexamined: 1}, nil
	})
	b := sign.VerifierFunc(func(_ context.Context, _ registry.Repository, s ocispec.Descriptor) (*sign.Verification, error) {
		return &sign.Verification{Subject: s, Signatures: []sign.Signature{{Format: sign.FormatCosign, Digest: "sha256:1", State: sign.StateVerified}}}, nil
	})
	res, err := sign.Multi{a, b}.Verify(ctx, nil, subject)
	require.NoError(t, err)
	assert.True(t, res.Verified())
	assert.Equal(t, 1, res.Unexamined)
	assert.Equal(t, sign.FormatCosign, res.Signatures[0].Format)
	boom := errors.New("boom")
	_, err = sign.Multi{a, sign.VerifierFunc(func(context.Context, registry.Repository, ocispec.Descriptor) (*sign.Verification, error) {
		return nil, boom
	})}.Verify(ctx, nil, subject)
	assert.ErrorIs(t, err, boom)

	called := false
	s := sign.SignerFunc(func(context.Context, registry.Repository, ocispec.Descriptor) (ocispec.Descriptor, error) {
		called = true
		return ocispec.Descriptor{}, nil
	})
	_, _ = s.Sign(ctx, nil, subject)
	assert.True(t, called)
}
