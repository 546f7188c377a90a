package attest_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/scan"
)

// The required fields of every in-toto predicate cssc writes, checked on
// the JSON it writes, independently of the in-toto Go bindings (which do
// not check all of them, e.g. the VSA's verifiedLevels):
//
//   - in-toto Statement v1 (github.com/in-toto/attestation spec/v1/statement.md):
//     _type "https://in-toto.io/Statement/v1"; subject, non-empty, each with a
//     non-empty digest; predicateType; predicate an object.
//   - SLSA Provenance v1 (slsa.dev/spec/v1.0/provenance): buildDefinition with
//     buildType (a URI) and externalParameters (an object); runDetails with
//     builder.id (a URI); resolvedDependencies, when present, each with a uri
//     or digest; metadata timestamps in RFC 3339.
//   - SLSA Verification Summary v1 (slsa.dev/spec/v1.0/verification_summary):
//     verifier.id (a URI); timeVerified (RFC 3339); resourceUri; policy with a
//     uri; verificationResult PASSED or FAILED; verifiedLevels, a non-empty
//     array of SlsaResult (FAILED when the result is FAILED; at most one level
//     per track; custom values not starting with SLSA_); inputAttestations,
//     when present, each with a digest.

var slsaResult = regexp.MustCompile(`^SLSA_BUILD_LEVEL_[0-3]$`)

func checkStatementSpec(t *testing.T, data []byte, wantPredicate string) map[string]any {
	t.Helper()
	var st map[string]any
	require.NoError(t, json.Unmarshal(data, &st))
	assert.Equal(t, "https://in-toto.io/Statement/v1", st["_type"], "statement _type")
	subjects, _ := st["subject"].([]any)
	require.NotEmpty(t, subjects, "statement subject is required")
	for i, s := range subjects {
		d, _ := s.(map[string]any)["digest"].(map[string]any)
		assert.NotEmpty(t, d, "subject %d digest is required", i)
	}
	assert.Equal(t, wantPredicate, st["predicateType"])
	pred, ok := st["predicate"].(map[string]any)
	require.True(t, ok, "predicate is an object")
	return pred
}

func str(m map[string]any, path string) string {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = obj[k]
	}
	s, _ := cur.(string)
	return s
}

func isURI(s string) bool { return regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`).MatchString(s) }

func isTimestamp(s string) bool { _, err := time.Parse(time.RFC3339, s); return err == nil }

func checkProvenanceSpec(t *testing.T, pred map[string]any) {
	t.Helper()
	assert.True(t, isURI(str(pred, "buildDefinition.buildType")), "buildDefinition.buildType is a required URI, got %q", str(pred, "buildDefinition.buildType"))
	def, _ := pred["buildDefinition"].(map[string]any)
	_, ok := def["externalParameters"].(map[string]any)
	assert.True(t, ok, "buildDefinition.externalParameters is a required object")
	assert.True(t, isURI(str(pred, "runDetails.builder.id")), "runDetails.builder.id is a required URI, got %q", str(pred, "runDetails.builder.id"))
	deps, _ := def["resolvedDependencies"].([]any)
	for i, d := range deps {
		m := d.(map[string]any)
		assert.True(t, m["uri"] != nil || m["digest"] != nil, "resolvedDependencies[%d] has a uri or a digest", i)
	}
	for _, k := range []string{"runDetails.metadata.startedOn", "runDetails.metadata.finishedOn"} {
		if v := str(pred, k); v != "" {
			assert.True(t, isTimestamp(v), "%s is RFC 3339, got %q", k, v)
		}
	}
}

func checkVSASpec(t *testing.T, pred map[string]any) {
	t.Helper()
	assert.True(t, isURI(str(pred, "verifier.id")), "verifier.id is a required URI, got %q", str(pred, "verifier.id"))
	assert.True(t, isTimestamp(str(pred, "timeVerified")), "timeVerified is a required timestamp, got %q", str(pred, "timeVerified"))
	assert.NotEmpty(t, str(pred, "resourceUri"), "resourceUri is required")
	assert.NotEmpty(t, str(pred, "policy.uri"), "policy.uri is required")
	result := str(pred, "verificationResult")
	assert.Contains(t, []string{"PASSED", "FAILED"}, result, "verificationResult")
	levels, _ := pred["verifiedLevels"].([]any)
	require.NotEmpty(t, levels, "verifiedLevels is required and not empty")
	tracks := map[string]int{}
	for _, l := range levels {
		s, _ := l.(string)
		switch {
		case s == "FAILED":
			assert.Equal(t, "FAILED", result, "FAILED level only on a failed verification")
		case strings.HasPrefix(s, "SLSA_"):
			assert.Regexp(t, slsaResult, s)
			tracks["BUILD"]++
		default:
			assert.NotEmpty(t, s, "custom level")
		}
	}
	for track, n := range tracks {
		assert.LessOrEqual(t, n, 1, "at most one level for track %s", track)
	}
	if result == "FAILED" {
		assert.Equal(t, []any{"FAILED"}, levels, "verifiedLevels of a failed verification")
	}
	ins, _ := pred["inputAttestations"].([]any)
	for i, in := range ins {
		d, _ := in.(map[string]any)["digest"].(map[string]any)
		assert.NotEmpty(t, d, "inputAttestations[%d].digest is required", i)
	}
}

// TestWrittenPredicatesMeetTheirSpecifications writes every in-toto
// predicate cssc produces, in each of its shapes, and checks the JSON
// against the required fields of its specification.
func TestWrittenPredicatesMeetTheirSpecifications(t *testing.T) {
	ctx := context.Background()
	img := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("image"), Size: 5}

	statementOf := func(t *testing.T, arts []registry.Artifact) []byte {
		t.Helper()
		require.Len(t, arts, 1)
		require.Len(t, arts[0].Blobs, 1)
		return arts[0].Blobs[0].Data
	}

	t.Run("provenance", func(t *testing.T) {
		for name, s := range map[string]*attest.Subject{
			"full":    testSubject(img),
			"minimal": {Descriptor: img, Source: "docker.io/library/nginx:1.27"},
		} {
			arts, err := (&attest.ProvenanceEnricher{BuilderID: "https://registry.corp/importer"}).Enrich(ctx, s)
			require.NoError(t, err, name)
			pred := checkStatementSpec(t, statementOf(t, arts), artifact.PredicateSLSAProvenanceV1)
			checkProvenanceSpec(t, pred)
		}
	})

	vsaCases := map[string]struct {
		allowed, wouldDeny bool
		levels             []string
		want               []any
	}{
		"passed, no level verified": {allowed: true, want: []any{"SLSA_BUILD_LEVEL_0"}},
		"passed, build level 2":     {allowed: true, levels: []string{"SLSA_BUILD_LEVEL_2"}, want: []any{"SLSA_BUILD_LEVEL_2"}},
		"passed, custom property":   {allowed: true, levels: []string{"SLSA_BUILD_LEVEL_1", "CORP_SCANNED"}, want: []any{"SLSA_BUILD_LEVEL_1", "CORP_SCANNED"}},
		"denied":                    {allowed: false, levels: []string{"SLSA_BUILD_LEVEL_2"}, want: []any{"FAILED"}},
		"audit, would deny":         {allowed: true, wouldDeny: true, want: []any{"FAILED"}},
	}
	for name, tc := range vsaCases {
		t.Run("vsa/"+name, func(t *testing.T) {
			s := testSubject(img)
			s.Decision.Allowed, s.Decision.WouldDeny, s.Decision.VerifiedLevels = tc.allowed, tc.wouldDeny, tc.levels
			arts, err := (&attest.VSAEnricher{VerifierID: "https://registry.corp/gate"}).Enrich(ctx, s)
			require.NoError(t, err)
			pred := checkStatementSpec(t, statementOf(t, arts), artifact.PredicateVerificationSummaryV1)
			checkVSASpec(t, pred)
			assert.Equal(t, tc.want, pred["verifiedLevels"])
		})
	}

	// Levels that the specification forbids are refused when the summary
	// is built, not written.
	for name, levels := range map[string][]string{
		"two build levels":     {"SLSA_BUILD_LEVEL_1", "SLSA_BUILD_LEVEL_3"},
		"unknown SLSA value":   {"SLSA_SOURCE_LEVEL_9"},
		"FAILED on a pass":     {"FAILED"},
		"empty":                {""},
		"build level 4 (v0.1)": {"SLSA_BUILD_LEVEL_4"},
	} {
		t.Run("vsa/refused/"+name, func(t *testing.T) {
			s := testSubject(img)
			s.Decision.Allowed, s.Decision.VerifiedLevels = true, levels
			_, err := (&attest.VSAEnricher{VerifierID: "https://registry.corp/gate"}).Enrich(ctx, s)
			assert.Error(t, err)
		})
	}
}

// TestArtifactTitles: every artifact layer cssc writes is named, so that
// "oras pull" writes a file.
func TestArtifactTitles(t *testing.T) {
	ctx := context.Background()
	img := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("image"), Size: 5}
	s := testSubject(img)
	want := map[string]string{
		artifact.TypeSPDX:                       "sbom.spdx.json",
		artifact.PredicateSLSAProvenanceV1:      "provenance.intoto.json",
		artifact.PredicateVerificationSummaryV1: "verification-summary.intoto.json",
	}
	got := map[string]string{}
	for _, e := range defaultEnrichers() {
		arts, err := e.Enrich(ctx, s)
		require.NoError(t, err)
		for _, a := range arts {
			key := a.ArtifactType
			if pt := a.Annotations[artifact.AnnotationPredicateType]; pt != "" {
				key = pt
			}
			for _, b := range a.Blobs {
				got[key] = b.Annotations[ocispec.AnnotationTitle]
			}
		}
	}
	assert.Equal(t, want, got)
}

// TestReportArtifactTitles: SARIF reports are named by kind.
func TestReportArtifactTitles(t *testing.T) {
	for kind, title := range map[string]string{
		artifact.ReportKindVulnerability: "vulnerabilities.sarif",
		artifact.ReportKindMalware:       "malware.sarif",
		"secrets":                        "secrets.sarif",
		"../x":                           "report.sarif",
	} {
		rep := &scan.Report{Kind: kind, Tool: scan.Tool{Name: "osv", DatabaseVersion: "db1"}}
		a, err := attest.ReportArtifact(rep, time.Time{}, "")
		require.NoError(t, err)
		require.Len(t, a.Blobs, 1)
		assert.Equal(t, title, a.Blobs[0].Annotations[ocispec.AnnotationTitle], kind)
	}
}
