package attest_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	provv1 "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/sbom"
)

var policyDigest = digest.FromString("policy: golden-default")

func testSubject(img ocispec.Descriptor) *attest.Subject {
	return &attest.Subject{
		Repository: "registry.corp/quarantine/library/nginx",
		Tag:        "1.27",
		Descriptor: img,
		Platform:   &ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Source:     "docker.io/library/nginx:1.27",
		SBOM:       testDoc(""),
		Policy:     &attest.PolicyRef{Name: "golden-default", URI: "https://policies.corp/golden-default.yaml", Digest: policyDigest},
		Decision: &attest.Decision{
			Allowed: true, Mode: "enforce", Reason: "all rules passed", VerifiedLevels: []string{"SLSA_BUILD_LEVEL_1"},
			Checks: []attest.Check{
				{Name: "signature", Verdict: attest.VerdictPass, Reason: "notation signature by CN=Publisher verified"},
				{Name: "max-severity", Verdict: attest.VerdictWarn, Reason: "CVE-2024-0001 excepted until 2026-12-31"},
			},
		},
		Time: runTime,
	}
}

func defaultEnrichers() attest.Enrichers {
	return attest.Enrichers{
		&attest.SBOMEnricher{},
		&attest.ProvenanceEnricher{BuilderID: "https://registry.corp/importer", BuilderVersion: "1.2.3"},
		&attest.LifecycleEnricher{Rules: []attest.LifecycleRule{
			{Repository: "registry.corp/quarantine/library/nginx", Tag: "1.26*", EndOfLife: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)},
			{Repository: "registry.corp/quarantine/library/*", EndOfLife: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		}},
		&attest.VSAEnricher{VerifierID: "https://registry.corp/gate", VerifierVersion: "1.2.3"},
	}
}

// TestEnrichAttachIdempotent runs the default enrichers twice and attaches
// their artifacts twice on every storage kind: one referrer each, same
// digests, and discovery reads them back.
func TestEnrichAttachIdempotent(t *testing.T) {
	ctx := context.Background()
	for _, store := range registrytest.Stores(t) {
		t.Run(store.Name, func(t *testing.T) {
			repo := store.Repository(t, "quarantine/library/nginx")
			img := pushImage(ctx, t, repo, "amd64")
			var first []ocispec.Descriptor
			for run := range 2 {
				arts, err := defaultEnrichers().Enrich(ctx, testSubject(img))
				require.NoError(t, err)
				require.Len(t, arts, 4, "sbom, provenance, lifecycle, vsa")
				var got []ocispec.Descriptor
				for _, a := range arts {
					d, err := registry.Attach(ctx, repo, img, a)
					require.NoError(t, err)
					got = append(got, d)
				}
				if run == 0 {
					first = got
					continue
				}
				for i := range got {
					assert.Equal(t, first[i].Digest, got[i].Digest, "artifact %d digest is stable", i)
				}
			}
			refs, err := registry.Referrers(ctx, repo, img, "")
			require.NoError(t, err)
			assert.Len(t, refs, 4, "attaching twice leaves one referrer per artifact")

			md, err := attest.Discover(ctx, repo, img, nil)
			require.NoError(t, err)
			require.NoError(t, md.Err())
			require.True(t, md.HasSBOM(img.Digest))
			provs := md.Provenances(img.Digest)
			require.Len(t, provs, 1)
			assert.Equal(t, "https://registry.corp/importer", provs[0].BuilderID)
			assert.Equal(t, attest.BuildTypeAcquire, provs[0].BuildType)
			require.NotNil(t, provs[0].Source)
			assert.Equal(t, "docker.io/library/nginx:1.27", provs[0].Source.URI)
			assert.Equal(t, img.Digest.Encoded(), provs[0].Source.Digest["sha256"])
			cur := md.CurrentLifecycle(img.Digest)
			require.NotNil(t, cur)
			assert.Equal(t, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), cur.EndOfLife)
			assert.Equal(t, attest.DefaultGenerator, cur.GeneratedBy)

			// A rerun with the discovered metadata adds nothing new but the
			// provenance and VSA (same digests as before).
			s := testSubject(img)
			s.Metadata = md
			arts, err := defaultEnrichers().Enrich(ctx, s)
			require.NoError(t, err)
			assert.Len(t, arts, 2, "SBOM and lifecycle exist already")
		})
	}
}

// TestSBOMEnricher: SPDX output validates with tools-golang; nothing is
// written when the publisher gave an SBOM; Generate is used when the
// subject has no SBOM; its error is returned.
func TestSBOMEnricher(t *testing.T) {
	ctx := context.Background()
	img := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("img"), Size: 3}
	s := testSubject(img)
	arts, err := (&attest.SBOMEnricher{Generator: "cssc-test"}).Enrich(ctx, s)
	require.NoError(t, err)
	require.Len(t, arts, 1)
	a := arts[0]
	assert.Equal(t, artifact.TypeSPDX, a.ArtifactType)
	assert.Equal(t, "cssc-test", a.Annotations[artifact.AnnotationGeneratedBy])
	assert.Equal(t, runTime, a.Created)
	require.Len(t, a.Blobs, 1)
	assert.Equal(t, artifact.MediaTypeSPDX, a.Blobs[0].MediaType)

	sd, err := spdxjson.Read(bytes.NewReader(a.Blobs[0].Data))
	require.NoError(t, err)
	require.NoError(t, spdxlib.ValidateDocument(sd), "generated SPDX validates with tools-golang")
	assert.Equal(t, "SPDX-2.3", sd.SPDXVersion)
	assert.Equal(t, "registry.corp/quarantine/library/nginx@"+img.Digest.String(), sd.DocumentName)
	assert.Equal(t, runTime.Format(time.RFC3339), sd.CreationInfo.Created)
	back, err := sbom.Decode(a.Blobs[0].Data, artifact.MediaTypeSPDX)
	require.NoError(t, err)
	assert.Len(t, back.Packages, 2)

	// Publisher SBOM present: nothing.
	s.Metadata = &attest.Metadata{Items: []attest.Item{{Form: attest.FormReferrer, Kind: attest.KindSBOM, Subject: img.Digest, SBOM: testDoc("p")}}}
	arts, err = (&attest.SBOMEnricher{}).Enrich(ctx, s)
	require.NoError(t, err)
	assert.Empty(t, arts)
	arts, err = (&attest.SBOMEnricher{Always: true}).Enrich(ctx, s)
	require.NoError(t, err)
	assert.Len(t, arts, 1, "Always writes anyway")

	// A corrupt publisher SBOM does not count.
	s.Metadata.Items[0].Err = attest.ErrMalformed
	arts, err = (&attest.SBOMEnricher{}).Enrich(ctx, s)
	require.NoError(t, err)
	assert.Len(t, arts, 1)

	// Generator func.
	s = testSubject(img)
	s.SBOM = nil
	calls := 0
	gen := &attest.SBOMEnricher{Generate: func(_ context.Context, got *attest.Subject) (*sbom.Document, error) {
		calls++
		return testDoc("generated"), nil
	}}
	arts, err = gen.Enrich(ctx, s)
	require.NoError(t, err)
	assert.Len(t, arts, 1)
	assert.Equal(t, 1, calls)
	boom := errors.New("boom")
	_, err = (&attest.SBOMEnricher{Generate: func(context.Context, *attest.Subject) (*sbom.Document, error) { return nil, boom }}).Enrich(ctx, s)
	assert.ErrorIs(t, err, boom)
	arts, err = (&attest.SBOMEnricher{}).Enrich(ctx, s)
	require.NoError(t, err)
	assert.Empty(t, arts, "no SBOM and no generator: nothing")
}

// TestProvenanceRoundTrip: the statement marshals to canonical JSON, reads
// back with protojson into an equal proto, validates as SLSA provenance v1
// and records the source, policy, importer and time.
func TestProvenanceRoundTrip(t *testing.T) {
	ctx := context.Background()
	img := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("img"), Size: 3}
	s := testSubject(img)
	s.SourceDigest = digest.FromString("upstream")
	arts, err := (&attest.ProvenanceEnricher{BuilderID: "https://registry.corp/importer", BuilderVersion: "1.2.3"}).Enrich(ctx, s)
	require.NoError(t, err)
	require.Len(t, arts, 1)
	a := arts[0]
	assert.Equal(t, artifact.TypeInToto, a.ArtifactType)
	assert.Equal(t, artifact.PredicateSLSAProvenanceV1, a.Annotations[artifact.AnnotationPredicateType])
	data := a.Blobs[0].Data

	var st intoto.Statement
	require.NoError(t, protojson.Unmarshal(data, &st), "strict protojson reads it")
	require.NoError(t, st.Validate())
	want, err := attest.AcquisitionProvenance{
		Subject: img, Name: s.Repository, Source: s.Source, SourceDigest: s.SourceDigest, Platform: s.Platform,
		Policy: s.Policy, BuilderID: "https://registry.corp/importer", BuilderVersion: "1.2.3", Started: runTime,
	}.Statement()
	require.NoError(t, err)
	assert.True(t, proto.Equal(want, &st), "round trip: got %v want %v", &st, want)
	again, err := attest.MarshalStatement(&st)
	require.NoError(t, err)
	assert.Equal(t, string(data), string(again), "canonical JSON is stable")

	var pred provv1.Provenance
	raw, err := protojson.Marshal(st.GetPredicate())
	require.NoError(t, err)
	require.NoError(t, protojson.Unmarshal(raw, &pred), "predicate is strict SLSA provenance v1")
	require.NoError(t, pred.Validate())
	assert.Equal(t, "https://registry.corp/importer", pred.GetRunDetails().GetBuilder().GetId())
	assert.Equal(t, "1.2.3", pred.GetRunDetails().GetBuilder().GetVersion()["cssc"])
	assert.Equal(t, runTime, pred.GetRunDetails().GetMetadata().GetStartedOn().AsTime())
	ext := pred.GetBuildDefinition().GetExternalParameters().AsMap()
	assert.Equal(t, "docker.io/library/nginx:1.27", ext["source"])
	assert.Equal(t, map[string]any{"name": "golden-default", "uri": "https://policies.corp/golden-default.yaml",
		"digest": map[string]any{"sha256": policyDigest.Encoded()}}, ext["policy"])
	deps := pred.GetBuildDefinition().GetResolvedDependencies()
	require.Len(t, deps, 1)
	assert.Equal(t, s.SourceDigest.Encoded(), deps[0].GetDigest()["sha256"])
	assert.Equal(t, "linux/amd64", pred.GetBuildDefinition().GetInternalParameters().AsMap()["platform"])
	assert.Equal(t, img.Digest.Encoded(), st.GetSubject()[0].GetDigest()["sha256"])

	// Through ParseStatement and the common view.
	parsed, err := attest.ParseStatement(data)
	require.NoError(t, err)
	p, err := attest.ParseProvenance(parsed)
	require.NoError(t, err)
	assert.Equal(t, "docker.io/library/nginx:1.27", p.Source.URI)

	// Missing inputs fail.
	_, err = (&attest.ProvenanceEnricher{}).Enrich(ctx, s)
	assert.ErrorContains(t, err, "builder id")
	s.Source = ""
	_, err = (&attest.ProvenanceEnricher{BuilderID: "x"}).Enrich(ctx, s)
	assert.ErrorContains(t, err, "source")
}

// TestVSARoundTrip: the VSA reads back with the bindings and carries the
// decision with every check.
func TestVSARoundTrip(t *testing.T) {
	ctx := context.Background()
	img := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("img"), Size: 3}
	for _, allowed := range []bool{true, false} {
		s := testSubject(img)
		s.Decision.Allowed = allowed
		s.Metadata = &attest.Metadata{Items: []attest.Item{
			{Subject: img.Digest, Manifest: ocispec.Descriptor{Digest: digest.FromString("sig")}, Kind: attest.KindSignature},
			{Subject: img.Digest, Manifest: ocispec.Descriptor{Digest: digest.FromString("bad")}, Err: attest.ErrMalformed},
		}}
		arts, err := (&attest.VSAEnricher{VerifierID: "https://registry.corp/gate", VerifierVersion: "1.2.3"}).Enrich(ctx, s)
		require.NoError(t, err)
		require.Len(t, arts, 1)
		data := arts[0].Blobs[0].Data
		assert.Equal(t, artifact.PredicateVerificationSummaryV1, arts[0].Annotations[artifact.AnnotationPredicateType])

		var st intoto.Statement
		require.NoError(t, protojson.Unmarshal(data, &st))
		require.NoError(t, st.Validate())
		again, err := attest.MarshalStatement(&st)
		require.NoError(t, err)
		assert.Equal(t, string(data), string(again))

		parsed, err := attest.ParseStatement(data)
		require.NoError(t, err)
		vsa, dec, err := attest.ParseVerificationSummary(parsed)
		require.NoError(t, err)
		want := attest.ResultFailed
		if allowed {
			want = attest.ResultPassed
		}
		assert.Equal(t, want, vsa.GetVerificationResult())
		assert.Equal(t, "https://registry.corp/gate", vsa.GetVerifier().GetId())
		assert.Equal(t, "registry.corp/quarantine/library/nginx@"+img.Digest.String(), vsa.GetResourceUri())
		assert.Equal(t, "https://policies.corp/golden-default.yaml", vsa.GetPolicy().GetUri())
		assert.Equal(t, policyDigest.Encoded(), vsa.GetPolicy().GetDigest()["sha256"])
		wantLevels := []string{"FAILED"} // SLSA VSA v1: "FAILED" if policy verification failed
		if allowed {
			wantLevels = []string{"SLSA_BUILD_LEVEL_1"}
		}
		assert.Equal(t, wantLevels, vsa.GetVerifiedLevels())
		assert.Equal(t, "1.0", vsa.GetSlsaVersion())
		assert.Equal(t, runTime, vsa.GetTimeVerified().AsTime())
		require.Len(t, vsa.GetInputAttestations(), 1, "only readable items are inputs")
		assert.Equal(t, digest.FromString("sig").Encoded(), vsa.GetInputAttestations()[0].GetDigest()["sha256"])
		require.NotNil(t, dec)
		assert.Equal(t, allowed, dec.Allowed)
		assert.Equal(t, s.Decision.Checks, dec.Checks)
		assert.Equal(t, "enforce", dec.Mode)
		ver := st.GetPredicate().GetFields()["verifier"].GetStructValue().AsMap()
		assert.Equal(t, map[string]any{"cssc": "1.2.3"}, ver["version"])
	}

	// No decision: nothing. Decision without policy: error.
	s := testSubject(img)
	s.Decision = nil
	arts, err := (&attest.VSAEnricher{VerifierID: "x"}).Enrich(ctx, s)
	require.NoError(t, err)
	assert.Empty(t, arts)
	s = testSubject(img)
	s.Policy = nil
	_, err = (&attest.VSAEnricher{VerifierID: "x"}).Enrich(ctx, s)
	assert.Error(t, err)
	_, err = (&attest.VSAEnricher{}).Enrich(ctx, testSubject(img))
	assert.ErrorContains(t, err, "verifier id")
}

func TestEnrichersStopOnError(t *testing.T) {
	boom := errors.New("boom")
	var ran []int
	e := attest.Enrichers{
		attest.EnricherFunc(func(context.Context, *attest.Subject) ([]registry.Artifact, error) {
			ran = append(ran, 0)
			return []registry.Artifact{{ArtifactType: "a"}}, nil
		}),
		attest.EnricherFunc(func(context.Context, *attest.Subject) ([]registry.Artifact, error) {
			ran = append(ran, 1)
			return nil, boom
		}),
		attest.EnricherFunc(func(context.Context, *attest.Subject) ([]registry.Artifact, error) {
			ran = append(ran, 2)
			return nil, nil
		}),
	}
	_, err := e.Enrich(context.Background(), &attest.Subject{})
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, []int{0, 1}, ran)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = defaultEnrichers().Enrich(ctx, &attest.Subject{})
	assert.ErrorIs(t, err, context.Canceled)
	for _, e := range defaultEnrichers() {
		_, err := e.Enrich(context.Background(), nil)
		assert.Error(t, err, "%T with a nil subject", e)
	}
	_, err = attest.ParseProvenance(nil)
	assert.ErrorIs(t, err, attest.ErrMalformed)
	_, _, err = attest.ParseVerificationSummary(nil)
	assert.ErrorIs(t, err, attest.ErrMalformed)
}
