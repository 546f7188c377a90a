package attest_test

import (
	"context"
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
	"github.com/cssc-go/cssc/registry/registrytest"
)

func TestParseDate(t *testing.T) {
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "2026-01-01", want: day},
		{in: " 2026-01-01\n", want: day},
		{in: "2026-01-01T00:00:00Z", want: day},
		{in: "2026-01-01T01:00:00+01:00", want: day},
		{in: "2025-12-31T19:00:00-05:00", want: day},
		{in: "2026-01-01T00:00:00.000000001Z", want: day.Add(time.Nanosecond)},
		{in: "1999-12-31", want: time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)}, // past dates parse; the policy judges them
		{in: "", bad: true},
		{in: "next tuesday", bad: true},
		{in: "2026-13-01", bad: true},
		{in: "2026-02-30", bad: true},
		{in: "01/01/2026", bad: true},
		{in: "2026-01-01T00:00:00", bad: true},
		{in: "2026-01-01 00:00:00Z", bad: true},
		{in: "20260101", bad: true},
		{in: "2026-01-01" + strings.Repeat(" ", 100), bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := attest.ParseDate(tc.in)
			if tc.bad {
				assert.ErrorIs(t, err, attest.ErrMalformed, "got %v", got)
				return
			}
			require.NoError(t, err)
			assert.True(t, tc.want.Equal(got), "got %v want %v", got, tc.want)
			assert.Equal(t, time.UTC, got.Location())
		})
	}
}

func TestFormatDate(t *testing.T) {
	loc := time.FixedZone("X", 2*3600)
	assert.Equal(t, "2026-01-01T00:00:00Z", attest.FormatDate(time.Date(2026, 1, 1, 2, 0, 0, 999, loc)))
	// Round trip through both read forms.
	for _, s := range []string{"2026-01-01", "2026-01-01T00:00:00Z"} {
		d, err := attest.ParseDate(s)
		require.NoError(t, err)
		assert.Equal(t, "2026-01-01T00:00:00Z", attest.FormatDate(d))
	}
}

func TestCurrentLifecycle(t *testing.T) {
	d := func(s string) digest.Digest { return digest.FromString(s) }
	old := attest.Lifecycle{EndOfLife: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Created: runTime.Add(-time.Hour), Digest: d("old")}
	newer := attest.Lifecycle{EndOfLife: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), Created: runTime, Digest: d("new")}
	undated := attest.Lifecycle{EndOfLife: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Digest: d("undated")}
	assert.Nil(t, attest.CurrentLifecycle(nil))
	for _, order := range [][]attest.Lifecycle{{old, newer, undated}, {undated, newer, old}, {newer, undated, old}} {
		got := attest.CurrentLifecycle(order)
		require.NotNil(t, got)
		assert.Equal(t, newer.Digest, got.Digest, "newest created wins whatever the order")
	}
	tieA := attest.Lifecycle{Created: runTime, Digest: "sha256:aaaa"}
	tieB := attest.Lifecycle{Created: runTime, Digest: "sha256:bbbb"}
	assert.Equal(t, tieB.Digest, attest.CurrentLifecycle([]attest.Lifecycle{tieA, tieB}).Digest)
	assert.Equal(t, tieB.Digest, attest.CurrentLifecycle([]attest.Lifecycle{tieB, tieA}).Digest)
}

func TestParseLifecycle(t *testing.T) {
	l, err := attest.ParseLifecycle("sha256:x", map[string]string{
		artifact.AnnotationEndOfLife: "2026-01-01", ocispec.AnnotationCreated: "2025-01-01T00:00:00Z", artifact.AnnotationGeneratedBy: "cssc"})
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), l.EndOfLife)
	assert.Equal(t, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), l.Created)
	assert.Equal(t, "cssc", l.GeneratedBy)

	l, err = attest.ParseLifecycle("sha256:x", map[string]string{artifact.AnnotationEndOfLife: "2026-01-01", ocispec.AnnotationCreated: "yesterday"})
	require.NoError(t, err, "a bad created time makes the marker lose, not fail")
	assert.True(t, l.Created.IsZero())

	_, err = attest.ParseLifecycle("sha256:x", nil)
	assert.ErrorIs(t, err, attest.ErrMalformed)
	_, err = attest.ParseLifecycle("sha256:x", map[string]string{artifact.AnnotationEndOfLife: "soon"})
	assert.ErrorIs(t, err, attest.ErrMalformed)
}

func TestLifecycleEnricherRules(t *testing.T) {
	ctx := context.Background()
	d := func(y int) time.Time { return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC) }
	e := &attest.LifecycleEnricher{Rules: []attest.LifecycleRule{
		{Repository: "registry.corp/golden/library/nginx", Tag: "1.26*", EndOfLife: d(2026)},
		{Repository: "registry.corp/golden/library/*", Tag: "1.*", EndOfLife: d(2027)},
		{Repository: "registry.corp/golden/*", EndOfLife: d(2028)},
		{Tag: "legacy-*", EndOfLife: d(2020)}, // past dates are written as configured
	}}
	require.NoError(t, e.Validate())
	for _, tc := range []struct {
		repo, tag string
		want      time.Time
		none      bool
	}{
		{repo: "registry.corp/golden/library/nginx", tag: "1.26.3", want: d(2026)},
		{repo: "registry.corp/golden/library/nginx", tag: "1.27", want: d(2027), none: false},
		{repo: "registry.corp/golden/library/alpine", tag: "1.0", want: d(2027)},
		{repo: "registry.corp/golden/library/alpine", tag: "latest", none: true},
		{repo: "registry.corp/golden/tools", tag: "", want: d(2028)},
		{repo: "registry.corp/golden/library/nginx", tag: "", none: true}, // "*" does not cross "/", tag "" misses "1.*"
		{repo: "elsewhere/app", tag: "legacy-1", want: d(2020)},
		{repo: "elsewhere/app", tag: "2", none: true},
	} {
		t.Run(tc.repo+":"+tc.tag, func(t *testing.T) {
			got, ok := e.EndOfLifeFor(tc.repo, tc.tag)
			arts, err := e.Enrich(ctx, &attest.Subject{Repository: tc.repo, Tag: tc.tag, Descriptor: ocispec.Descriptor{Digest: digest.FromString(tc.repo)}, Time: runTime})
			require.NoError(t, err)
			if tc.none {
				assert.False(t, ok, "got %v", got)
				assert.Empty(t, arts)
				return
			}
			require.True(t, ok)
			assert.Equal(t, tc.want, got, "first matching rule wins")
			require.Len(t, arts, 1)
			assert.Equal(t, artifact.TypeLifecycle, arts[0].ArtifactType)
			assert.Equal(t, attest.FormatDate(tc.want), arts[0].Annotations[artifact.AnnotationEndOfLife], "written in RFC 3339")
			assert.Equal(t, runTime, arts[0].Created)
			assert.Empty(t, arts[0].Blobs)
		})
	}

	// Explicit date overrides rules.
	got, ok := (&attest.LifecycleEnricher{EndOfLife: d(2030), Rules: e.Rules}).EndOfLifeFor("registry.corp/golden/library/nginx", "1.26")
	assert.True(t, ok)
	assert.Equal(t, d(2030), got)

	// Bad configuration fails closed.
	for _, bad := range []attest.LifecycleEnricher{
		{Rules: []attest.LifecycleRule{{Repository: "[", EndOfLife: d(2030)}}},
		{Rules: []attest.LifecycleRule{{Tag: "a[", EndOfLife: d(2030)}}},
		{Rules: []attest.LifecycleRule{{Repository: "x"}}},
	} {
		assert.Error(t, bad.Validate())
		_, err := bad.Enrich(ctx, &attest.Subject{Repository: "x"})
		assert.Error(t, err)
	}
}

// TestLifecycleSupersede attaches a marker, then a new one with a later
// creation time and another date: Lifecycles lists both, the new one is in
// force. A publisher's marker with the same date does not stop cssc from
// writing its own.
func TestLifecycleSupersede(t *testing.T) {
	ctx := context.Background()
	for _, kind := range registrytest.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			repo := registrytest.Start(t, kind).Repository(t, "golden/app")
			img := pushImage(ctx, t, repo, "amd64")
			d2026 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			d2027 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

			// Publisher marker in the plain-date form.
			_, err := registry.Attach(ctx, repo, img, registry.Artifact{ArtifactType: artifact.TypeLifecycle,
				Annotations: map[string]string{artifact.AnnotationEndOfLife: "2026-01-01"}, Created: runTime.Add(-48 * time.Hour)})
			require.NoError(t, err)

			run := func(eol time.Time, at time.Time) []registry.Artifact {
				md, err := attest.Discover(ctx, repo, img, nil)
				require.NoError(t, err)
				arts, err := (&attest.LifecycleEnricher{EndOfLife: eol}).Enrich(ctx, &attest.Subject{Descriptor: img, Metadata: md, Time: at})
				require.NoError(t, err)
				for _, a := range arts {
					_, err := registry.Attach(ctx, repo, img, a)
					require.NoError(t, err)
				}
				return arts
			}
			assert.Len(t, run(d2026, runTime.Add(-24*time.Hour)), 1, "the publisher's marker is not ours")
			assert.Len(t, run(d2026, runTime), 0, "our marker says the same already")
			assert.Len(t, run(d2027, runTime), 1, "a new date supersedes")

			ls, bad, err := attest.Lifecycles(ctx, repo, img)
			require.NoError(t, err)
			assert.Empty(t, bad)
			require.Len(t, ls, 3)
			cur := attest.CurrentLifecycle(ls)
			assert.Equal(t, d2027, cur.EndOfLife)
			assert.Equal(t, runTime, cur.Created)
		})
	}
}
