package attest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
)

func TestLifecycleStateRoundTrip(t *testing.T) {
	eol := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := attest.LifecycleState{
		Status: artifact.LifecycleRetired, Replacement: "registry.corp/golden/library/nginx:1.28",
		Source: "data-file", Reason: "base OS debian 11 ended on 2026-01-01", Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Sources: []attest.LifecycleSource{
			{Role: "image", Source: "rule", Date: time.Date(2027, 1, 1, 1, 0, 0, 5, time.FixedZone("X", 3600)), Detail: "rule nginx"},
			{Role: "base-os", Source: "data-file", Date: eol, Detail: "debian 11"},
			{Role: "runtime", Source: "data-file", Detail: "go 1.22: ended, no date"},
		},
	}
	a := attest.LifecycleStateArtifact(eol, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), "cssc-lifecycle", st)
	assert.Equal(t, artifact.TypeLifecycle, a.ArtifactType)
	assert.Equal(t, "2026-01-01T00:00:00Z", a.Annotations[artifact.AnnotationEndOfLife])

	ctx := context.Background()
	repo, err := registry.NewClient(registry.Options{}).Repository(ctx, "mem:golden/state")
	require.NoError(t, err)
	img, err := imagetest.Image{}.Push(ctx, repo)
	require.NoError(t, err)
	img.Platform = nil
	d, err := registry.Attach(ctx, repo, img, a)
	require.NoError(t, err)

	ls, bad, err := attest.Lifecycles(ctx, repo, img)
	require.NoError(t, err)
	require.Empty(t, bad)
	require.Len(t, ls, 1)
	got := ls[0]
	assert.Equal(t, d.Digest, got.Digest)
	assert.Equal(t, "cssc-lifecycle", got.GeneratedBy)
	require.NotNil(t, got.State, "the state annotations are read back")
	assert.Equal(t, st.Status, got.State.Status)
	assert.Equal(t, st.Replacement, got.State.Replacement)
	assert.Equal(t, st.Source, got.State.Source)
	assert.Equal(t, st.Reason, got.State.Reason)
	assert.Equal(t, st.Since, got.State.Since)
	require.Len(t, got.State.Sources, 3)
	assert.Equal(t, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), got.State.Sources[0].Date, "dates are written in UTC, whole seconds")
	assert.True(t, got.State.Sources[2].Date.IsZero())

	plain, err := attest.ParseLifecycle("sha256:x", map[string]string{artifact.AnnotationEndOfLife: "2026-01-01"})
	require.NoError(t, err)
	assert.Nil(t, plain.State, "a marker with a date only has no state")
}

func TestLifecycleStateMalformed(t *testing.T) {
	base := func(kv ...string) map[string]string {
		m := map[string]string{artifact.AnnotationEndOfLife: "2026-01-01", artifact.AnnotationLifecycleStatus: "retired"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for name, ann := range map[string]map[string]string{
		"unknown status":       base(artifact.AnnotationLifecycleStatus, "gone"),
		"empty status":         base(artifact.AnnotationLifecycleStatus, ""),
		"bad since":            base(artifact.AnnotationLifecycleSince, "yesterday"),
		"sources not json":     base(artifact.AnnotationLifecycleSources, "[{"),
		"sources not an array": base(artifact.AnnotationLifecycleSources, `{"role":"image"}`),
		"sources unknown field": base(artifact.AnnotationLifecycleSources,
			`[{"role":"image","source":"rule","date":"2026-01-01T00:00:00Z","extra":1}]`),
		"source without role":   base(artifact.AnnotationLifecycleSources, `[{"source":"rule"}]`),
		"source bad date":       base(artifact.AnnotationLifecycleSources, `[{"role":"image","source":"rule","date":"2026-02-30T00:00:00Z"}]`),
		"sources trailing data": base(artifact.AnnotationLifecycleSources, `[] []`),
		"reason too long":       base(artifact.AnnotationLifecycleReason, strings.Repeat("x", attest.MaxLifecycleText+1)),
		"replacement not utf8":  base(artifact.AnnotationLifecycleReplacement, "\xff"),
		"too many sources":      base(artifact.AnnotationLifecycleSources, "["+strings.Repeat(`{"role":"a","source":"b"},`, attest.MaxLifecycleSources)+`{"role":"a","source":"b"}]`),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := attest.ParseLifecycle("sha256:x", ann)
			assert.ErrorIs(t, err, attest.ErrMalformed)
		})
	}
}

func FuzzParseLifecycleState(f *testing.F) {
	f.Add("retired", "x", `[{"role":"image","source":"rule","date":"2026-01-01T00:00:00Z"}]`)
	f.Add("active", "", `[]`)
	f.Add("bogus", "\xff", `[{`)
	f.Fuzz(func(t *testing.T, status, reason, sources string) {
		s, err := attest.ParseLifecycleState(map[string]string{
			artifact.AnnotationLifecycleStatus: status, artifact.AnnotationLifecycleReason: reason, artifact.AnnotationLifecycleSources: sources})
		if err != nil {
			return
		}
		// What parses writes back and parses to the same state.
		again, err := attest.ParseLifecycleState(s.Annotations())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if again.Status != s.Status || again.Reason != s.Reason || len(again.Sources) != len(s.Sources) {
			t.Fatalf("round trip changed the state: %+v vs %+v", s, again)
		}
	})
}
