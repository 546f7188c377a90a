package attesttest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
)

// Options tune Run. The zero value checks any enricher against the
// built-in subject.
type Options struct {
	// Subject is the subject to enrich; its Descriptor must be an image
	// manifest. Nil means the built-in subject of Subject.
	Subject *attest.Subject
	// WantArtifacts fails the check when the enricher returns no artifact
	// for the subject. False accepts an empty result (nothing to add).
	WantArtifacts bool
	// Check, if not nil, is called with the artifacts for enricher-specific
	// checks.
	Check func(t *testing.T, arts []registry.Artifact)
}

// Time returns the run time of the built-in subject: 2026-03-01T12:00:00Z.
func Time() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }

// Subject returns the built-in subject: a small linux/amd64 image (pushed
// nowhere; Run pushes it to an in-memory repository for the attach check)
// imported from docker.io/library/example:1.0 into
// registry.corp/quarantine/library/example under policy "attesttest",
// with a generated SBOM, a passing decision and Time as run time.
func Subject(t testing.TB) *attest.Subject {
	t.Helper()
	img := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "etc/hostname", Data: []byte("attesttest\n")})}}
	m, _ := img.Build()
	return &attest.Subject{
		Repository:   "registry.corp/quarantine/library/example",
		Tag:          "1.0",
		Descriptor:   m.Desc,
		Platform:     m.Desc.Platform,
		Source:       "docker.io/library/example:1.0",
		SourceDigest: m.Desc.Digest,
		SBOM: &sbom.Document{Packages: []sbom.Package{
			{Name: "zlib", Version: "1.3.1-r0", PURL: "pkg:apk/alpine/zlib@1.3.1-r0", Ecosystem: "Alpine:v3.20", Licenses: []string{"Zlib"}},
		}},
		Policy: &attest.PolicyRef{Name: "attesttest", Digest: digest.FromString("attesttest policy")},
		Decision: &attest.Decision{Allowed: true, Mode: "enforce", Reason: "every rule passed",
			Checks: []attest.Check{{Name: "sources", Verdict: attest.VerdictPass, Reason: "allowed"}}},
		Time: Time(),
	}
}

// Run checks e against the contract of attest.Enricher (see the package
// documentation) in subtests of t.
func Run(t *testing.T, e attest.Enricher, opts Options) {
	t.Helper()
	s := opts.Subject
	if s == nil {
		s = Subject(t)
	}
	ctx := context.Background()
	enrich := recovering(e)

	t.Run("NilSubject", func(t *testing.T) {
		arts, err := enrich(ctx, nil)
		assert.Error(t, err, "Enrich(nil) must fail, got %d artifact(s)", len(arts))
		assert.NotContains(t, fmt.Sprint(err), "panicked", "Enrich(nil) must not panic")
	})
	t.Run("CancelledContext", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		arts, err := enrich(cctx, clone(s))
		assert.ErrorIs(t, err, context.Canceled, "a cancelled context must stop Enrich with context.Canceled, got %d artifact(s)", len(arts))
	})

	arts, err := enrich(ctx, clone(s))
	require.NoError(t, err, "enrich the subject")
	if opts.WantArtifacts {
		require.NotEmpty(t, arts, "the enricher must produce artifacts for this subject")
	}

	t.Run("Artifacts", func(t *testing.T) {
		for i, a := range arts {
			checkArtifact(t, i, a, s)
		}
	})
	t.Run("Deterministic", func(t *testing.T) {
		again, err := enrich(ctx, clone(s))
		require.NoError(t, err)
		assert.Equal(t, digests(t, arts, s.Descriptor), digests(t, again, s.Descriptor), "two runs with the same subject must give identical artifacts")
	})
	t.Run("FollowsSubjectTime", func(t *testing.T) {
		later := clone(s)
		later.Time = s.Time.Add(24 * time.Hour)
		arts2, err := enrich(ctx, later)
		require.NoError(t, err)
		for i, a := range arts2 {
			assert.True(t, a.Created.Equal(later.Time), "artifact %d (%s): Created %v must follow Subject.Time %v", i, a.ArtifactType, a.Created, later.Time)
		}
	})
	t.Run("AttachTwice", func(t *testing.T) { attachTwice(ctx, t, s, arts) })
	t.Run("Concurrent", func(t *testing.T) { concurrent(ctx, t, enrich, s, arts) })
	if opts.Check != nil {
		t.Run("Check", func(t *testing.T) { opts.Check(t, arts) })
	}
}

// enrichFunc is Enrich of the enricher under test.
type enrichFunc func(ctx context.Context, s *attest.Subject) ([]registry.Artifact, error)

// recovering returns e.Enrich with a panic turned into an error.
func recovering(e attest.Enricher) enrichFunc {
	return func(ctx context.Context, s *attest.Subject) (arts []registry.Artifact, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("attesttest: Enrich panicked: %v", r)
			}
		}()
		return e.Enrich(ctx, s)
	}
}

// attachTwice attaches arts to the built-in subject s twice in a memory
// repository and checks that each gives one referrer.
func attachTwice(ctx context.Context, t *testing.T, s *attest.Subject, arts []registry.Artifact) {
	repo, err := registry.NewClient(registry.Options{}).Repository(ctx, "mem:attesttest")
	require.NoError(t, err)
	img := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "etc/hostname", Data: []byte("attesttest\n")})}}
	desc := s.Descriptor
	if m, _ := img.Build(); m.Desc.Digest == desc.Digest {
		_, err := img.Push(ctx, repo)
		require.NoError(t, err)
	} else {
		t.Skip("custom subject: not in a repository this kit can attach to")
	}
	want := map[digest.Digest]bool{}
	for range 2 {
		for _, a := range arts {
			d, err := registry.Attach(ctx, repo, desc, a)
			require.NoError(t, err, "attach %s", a.ArtifactType)
			want[d.Digest] = true
		}
	}
	refs, err := registry.Referrers(ctx, repo, desc, "")
	require.NoError(t, err)
	assert.Len(t, refs, len(want), "attaching the same artifacts twice must leave one referrer each")
}

// concurrent runs enrich on s from several goroutines and checks that each
// run gives the artifacts arts.
func concurrent(ctx context.Context, t *testing.T, enrich enrichFunc, s *attest.Subject, arts []registry.Artifact) {
	want := digests(t, arts, s.Descriptor)
	var wg sync.WaitGroup
	results := make([][]digest.Digest, 4)
	errs := make([]error, 4)
	for i := range results {
		wg.Go(func() {
			got, err := enrich(ctx, clone(s))
			errs[i] = err
			for _, a := range got {
				_, d, err := a.Manifest(s.Descriptor)
				if err == nil {
					results[i] = append(results[i], d.Digest)
				}
			}
		})
	}
	wg.Wait()
	for i := range results {
		require.NoError(t, errs[i])
		assert.Equal(t, want, results[i], "concurrent run %d", i)
	}
}

// runTime is Subject.Time, or the Unix epoch for a zero time (as
// registry.Artifact and package attest read it).
func runTime(s *attest.Subject) time.Time {
	if s.Time.IsZero() {
		return time.Unix(0, 0)
	}
	return s.Time
}

func checkArtifact(t *testing.T, i int, a registry.Artifact, s *attest.Subject) {
	t.Helper()
	want := runTime(s)
	assert.NotEmpty(t, a.ArtifactType, "artifact %d has no artifact type", i)
	created := a.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	assert.True(t, created.Equal(want), "artifact %d (%s): Created %v must be Subject.Time %v", i, a.ArtifactType, a.Created, want)
	if c, ok := a.Annotations[ocispec.AnnotationCreated]; ok {
		ct, err := attest.ParseDate(c)
		if assert.NoError(t, err, "artifact %d: created annotation %q", i, c) {
			assert.True(t, ct.Equal(want.Truncate(time.Second)), "artifact %d: created annotation %q must be Subject.Time", i, c)
		}
	}
	_, _, err := a.Manifest(s.Descriptor)
	assert.NoError(t, err, "artifact %d (%s) must build a manifest", i, a.ArtifactType)
	if a.ArtifactType == artifact.TypeLifecycle {
		_, err := attest.ParseLifecycle("", a.Annotations)
		assert.NoError(t, err, "artifact %d: lifecycle marker must carry a readable end-of-life date", i)
	}
	for j, b := range a.Blobs {
		switch b.MediaType {
		case artifact.MediaTypeInToto:
			st, err := attest.ParseStatement(b.Data)
			if assert.NoError(t, err, "artifact %d blob %d: in-toto statement", i, j) {
				assert.Equal(t, st.PredicateType(), a.Annotations[artifact.AnnotationPredicateType],
					"artifact %d: the %s annotation must name the statement's predicate type", i, artifact.AnnotationPredicateType)
				found := false
				for _, sub := range st.Proto.GetSubject() {
					if sub.GetDigest()[s.Descriptor.Digest.Algorithm().String()] == s.Descriptor.Digest.Encoded() {
						found = true
					}
				}
				assert.True(t, found, "artifact %d: the statement must name the subject's digest", i)
			}
		case artifact.MediaTypeSPDX, artifact.MediaTypeCycloneDX:
			_, err := sbom.Decode(b.Data, b.MediaType)
			assert.NoError(t, err, "artifact %d blob %d: SBOM must decode", i, j)
		}
	}
}

func digests(t *testing.T, arts []registry.Artifact, subject ocispec.Descriptor) []digest.Digest {
	t.Helper()
	var out []digest.Digest
	for _, a := range arts {
		_, d, err := a.Manifest(subject)
		require.NoError(t, err)
		out = append(out, d.Digest)
	}
	return out
}

// clone returns a shallow copy of s, so that an enricher that modifies
// its subject does not change the next run's input.
func clone(s *attest.Subject) *attest.Subject {
	c := *s
	return &c
}
