package attest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
)

var subj = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("subject"), Size: 7}

func TestParseStatement(t *testing.T) {
	good := provV1(t, subj)
	for _, tc := range []struct {
		name string
		in   []byte
		err  error
	}{
		{name: "v1", in: good},
		{name: "v0.1", in: provV02(subj.Digest)},
		{name: "unknown fields ignored", in: []byte(`{"_type":"https://in-toto.io/Statement/v1","extra":1,"subject":[{"digest":{"sha256":"` + subj.Digest.Encoded() + `"}}],"predicateType":"x","predicate":{}}`)},
		{name: "empty", in: nil, err: attest.ErrMalformed},
		{name: "not json", in: []byte("{"), err: attest.ErrMalformed},
		{name: "array", in: []byte("[]"), err: attest.ErrMalformed},
		{name: "wrong type", in: []byte(`{"_type":"https://example.com/v9","subject":[{"digest":{"sha256":"ab"}}],"predicateType":"x","predicate":{}}`), err: attest.ErrMalformed},
		{name: "no subject", in: []byte(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"x","predicate":{}}`), err: attest.ErrMalformed},
		{name: "subject without digest", in: []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a"}],"predicateType":"x","predicate":{}}`), err: attest.ErrMalformed},
		{name: "bad digest length", in: []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"ab"}}],"predicateType":"x","predicate":{}}`), err: attest.ErrMalformed},
		{name: "no predicate type", in: []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + subj.Digest.Encoded() + `"}}],"predicate":{}}`), err: attest.ErrMalformed},
		{name: "predicate not object", in: []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + subj.Digest.Encoded() + `"}}],"predicateType":"x","predicate":[1]}`), err: attest.ErrMalformed},
		{name: "oversized", in: append(good, bytes.Repeat([]byte(" "), attest.MaxStatementBytes)...), err: attest.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := attest.ParseStatement(tc.in)
			if tc.err != nil {
				assert.ErrorIs(t, err, tc.err)
				assert.Nil(t, st)
				return
			}
			require.NoError(t, err)
			assert.NotEmpty(t, st.PredicateType())
			pred, err := st.Predicate()
			require.NoError(t, err)
			assert.True(t, bytes.HasPrefix(pred, []byte("{")))
		})
	}
}

func TestParseProvenanceErrors(t *testing.T) {
	st, err := attest.ParseStatement([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + subj.Digest.Encoded() + `"}}],"predicateType":"https://example.com/other","predicate":{}}`))
	require.NoError(t, err)
	_, err = attest.ParseProvenance(st)
	assert.ErrorIs(t, err, attest.ErrUnsupportedFormat)
	for _, pred := range []string{
		`{"runDetails":{"builder":{"id":7}}}`,
		`{"buildDefinition":{"resolvedDependencies":"x"}}`,
		`{"runDetails":{"metadata":{"startedOn":"yesterday"}}}`,
	} {
		st, err := attest.ParseStatement([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + subj.Digest.Encoded() + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":` + pred + `}`))
		require.NoError(t, err)
		_, err = attest.ParseProvenance(st)
		assert.ErrorIs(t, err, attest.ErrMalformed, pred)
	}
	// An empty v1 predicate is readable (every field optional in the view).
	st, err = attest.ParseStatement([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"` + subj.Digest.Encoded() + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`))
	require.NoError(t, err)
	p, err := attest.ParseProvenance(st)
	require.NoError(t, err)
	assert.Nil(t, p.Source)
}

func TestParseDSSE(t *testing.T) {
	payload := provV1(t, subj)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		env, err := attest.ParseDSSE([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"` + enc.EncodeToString(payload) + `","signatures":[{"sig":"a"},{"keyid":"k","sig":"b"}]}`))
		require.NoError(t, err)
		assert.Equal(t, payload, env.Payload)
		assert.Len(t, env.Signatures, 2)
		st, err := env.Statement()
		require.NoError(t, err)
		assert.Equal(t, artifact.PredicateSLSAProvenanceV1, st.PredicateType())
	}
	for _, tc := range []struct {
		in  string
		err error
	}{
		{in: ``, err: attest.ErrMalformed},
		{in: `{}`, err: attest.ErrMalformed},
		{in: `{"payloadType":"application/vnd.in-toto+json"}`, err: attest.ErrMalformed},
		{in: `{"payloadType":"application/vnd.in-toto+json","payload":"%%%"}`, err: attest.ErrMalformed},
		{in: `{"payloadType":"application/vnd.in-toto+json","payload":5}`, err: attest.ErrMalformed},
		{in: `{"payloadType":"application/vnd.in-toto+json","payload":"` + strings.Repeat("A", attest.MaxStatementBytes) + `"}`, err: attest.ErrTooLarge},
	} {
		_, err := attest.ParseDSSE([]byte(tc.in))
		assert.ErrorIs(t, err, tc.err, "input %.60q", tc.in)
	}
	env, err := attest.ParseDSSE([]byte(`{"payloadType":"text/plain","payload":"aGk="}`))
	require.NoError(t, err)
	_, err = env.Statement()
	assert.ErrorIs(t, err, attest.ErrUnsupportedFormat)
	env, err = attest.ParseDSSE([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"aGk="}`))
	require.NoError(t, err)
	_, err = env.Statement()
	assert.ErrorIs(t, err, attest.ErrMalformed)
}

func TestParseBundle(t *testing.T) {
	b, err := attest.ParseBundle(bundle(dsse(provV1(t, subj))))
	require.NoError(t, err)
	require.NotNil(t, b.Envelope)
	st, err := b.Envelope.Statement()
	require.NoError(t, err)
	assert.Equal(t, artifact.PredicateSLSAProvenanceV1, st.PredicateType())

	b, err = attest.ParseBundle([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.2","messageSignature":{"signature":"x"}}`))
	require.NoError(t, err)
	assert.Nil(t, b.Envelope)

	for _, in := range []string{
		``, `[]`, `{}`,
		`{"mediaType":"application/json","dsseEnvelope":{}}`,
		`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`,
		`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":null,"messageSignature":null}`,
		`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"x"}}`,
	} {
		_, err := attest.ParseBundle([]byte(in))
		assert.ErrorIs(t, err, attest.ErrMalformed, "input %q", in)
	}
	_, err = attest.ParseBundle(make([]byte, attest.MaxStatementBytes+1))
	assert.ErrorIs(t, err, attest.ErrTooLarge)
}

// The fuzz targets check that no input panics and that every error wraps
// a sentinel of the package.

func sentinel(err error) bool {
	return errors.Is(err, attest.ErrMalformed) || errors.Is(err, attest.ErrTooLarge) || errors.Is(err, attest.ErrUnsupportedFormat)
}

func FuzzParseStatement(f *testing.F) {
	f.Add(provV1(f, subj))
	f.Add(provV02(subj.Digest))
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"digest":{"sha256":"ab"}}]}`))
	f.Add([]byte(`{"predicate":{"a":[1,2,{"b":null}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := attest.ParseStatement(data)
		if err != nil {
			if !sentinel(err) {
				t.Fatalf("error without sentinel: %v", err)
			}
			return
		}
		if _, err := st.Predicate(); err != nil {
			t.Fatalf("predicate of a parsed statement: %v", err)
		}
		out, err := attest.MarshalStatement(st.Proto)
		if err != nil {
			t.Fatalf("marshal a parsed statement: %v", err)
		}
		if _, err := attest.ParseStatement(out); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if _, err := attest.ParseProvenance(st); err != nil && !sentinel(err) {
			t.Fatalf("provenance error without sentinel: %v", err)
		}
		if _, _, err := attest.ParseVerificationSummary(st); err != nil && !sentinel(err) {
			t.Fatalf("vsa error without sentinel: %v", err)
		}
	})
}

func FuzzParseDSSE(f *testing.F) {
	f.Add(dsse(provV1(f, subj)))
	f.Add(bundle(dsse(provV02(subj.Digest))))
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30="}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","messageSignature":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if env, err := attest.ParseDSSE(data); err != nil {
			if !sentinel(err) {
				t.Fatalf("dsse error without sentinel: %v", err)
			}
		} else if _, err := env.Statement(); err != nil && !sentinel(err) {
			t.Fatalf("statement error without sentinel: %v", err)
		}
		if b, err := attest.ParseBundle(data); err != nil {
			if !sentinel(err) {
				t.Fatalf("bundle error without sentinel: %v", err)
			}
		} else if b.Envelope != nil {
			if _, err := b.Envelope.Statement(); err != nil && !sentinel(err) {
				t.Fatalf("statement error without sentinel: %v", err)
			}
		}
	})
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2026-01-01", "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.5+05:30", "x", "9999-12-31T23:59:59-23:59", "0000-01-01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := attest.ParseDate(s)
		if err != nil {
			if !errors.Is(err, attest.ErrMalformed) {
				t.Fatalf("error without sentinel: %v", err)
			}
			return
		}
		// What was read is written in RFC 3339 and reads back equal (to the second).
		back, err := attest.ParseDate(attest.FormatDate(d))
		if err != nil {
			t.Fatalf("re-read %q (from %q): %v", attest.FormatDate(d), s, err)
		}
		if !back.Equal(d.Truncate(1e9)) {
			t.Fatalf("round trip %q: %v != %v", s, back, d)
		}
		if _, err := attest.ParseLifecycle("sha256:x", map[string]string{artifact.AnnotationEndOfLife: s, ocispec.AnnotationCreated: s}); err != nil {
			t.Fatalf("lifecycle with a valid date: %v", err)
		}
	})
}

// FuzzDiscoverLayer stores arbitrary bytes as a metadata layer of every
// media type discovery reads, in every form, and runs Discover: it must
// not fail (bad metadata is recorded per item), panic, or record an error
// without one of the package's or registry's sentinels.
func FuzzDiscoverLayer(f *testing.F) {
	f.Add(byte(0), provV1(f, subj))
	f.Add(byte(1), dsse(provV02(subj.Digest)))
	f.Add(byte(2), bundle(dsse(provV1(f, subj))))
	f.Add(byte(3), spdxBytes(f, "x"))
	f.Add(byte(4), cdxBytes(f, "x"))
	f.Add(byte(5), spdxStatement(f, subj.Digest))
	mediaTypes := []string{artifact.MediaTypeInToto, artifact.MediaTypeDSSE, artifact.TypeSigstoreBundle,
		artifact.MediaTypeSPDX, artifact.MediaTypeCycloneDX, artifact.MediaTypeCosignSPDX}
	image := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "etc/hostname", Data: []byte("fuzz")})}}
	manifest, config := image.Build()
	f.Fuzz(func(t *testing.T, which byte, data []byte) {
		ctx := context.Background()
		repo, err := registry.NewClient(registry.Options{}).Repository(ctx, "mem:fuzz")
		require.NoError(t, err)
		for _, b := range []imagetest.Blob{image.Layers[0], config, manifest} {
			require.NoError(t, imagetest.PushBlob(ctx, repo, b))
		}
		img := manifest.Desc
		mt := mediaTypes[int(which)%len(mediaTypes)]
		_, err = registry.Attach(ctx, repo, img, registry.Artifact{ArtifactType: mt, Blobs: []registry.Blob{{MediaType: mt, Data: data}}})
		require.NoError(t, err)
		att := pushManifest(ctx, t, repo, "", nil, layer(mt, data, nil))
		require.NoError(t, repo.Tag(ctx, att, cosignTag(img.Digest, ".att")))
		require.NoError(t, repo.Tag(ctx, att, cosignTag(img.Digest, ".sbom")))
		md, err := attest.Discover(ctx, repo, img, &attest.Options{MaxBlobBytes: 1 << 20})
		require.NoError(t, err)
		require.Len(t, md.Items, 3)
		for _, it := range md.Items {
			if it.Err != nil && !sentinel(it.Err) {
				t.Fatalf("item error without sentinel: %v", it.Err)
			}
			if _, err := json.Marshal(it); err != nil {
				t.Fatalf("marshal item: %v", err)
			}
		}
	})
}
