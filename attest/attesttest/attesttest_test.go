package attesttest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/attest/attesttest"
	"github.com/cssc-go/cssc/registry"
)

func TestRunDefaultEnrichers(t *testing.T) {
	for name, e := range map[string]attest.Enricher{
		"sbom":       &attest.SBOMEnricher{},
		"provenance": &attest.ProvenanceEnricher{BuilderID: "https://registry.corp/importer", BuilderVersion: "1"},
		"lifecycle":  &attest.LifecycleEnricher{Rules: []attest.LifecycleRule{{Repository: "registry.corp/quarantine/library/*", EndOfLife: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}}},
		"vsa":        &attest.VSAEnricher{VerifierID: "https://registry.corp/gate"},
		"all": attest.Enrichers{&attest.SBOMEnricher{}, &attest.ProvenanceEnricher{BuilderID: "x"},
			&attest.LifecycleEnricher{EndOfLife: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}, &attest.VSAEnricher{VerifierID: "y"}},
	} {
		t.Run(name, func(t *testing.T) { attesttest.Run(t, e, attesttest.Options{WantArtifacts: true}) })
	}
}

var counter atomic.Int64

func guard(ctx context.Context, s *attest.Subject) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s == nil {
		return errors.New("nil subject")
	}
	return nil
}

var badEnrichers = map[string]attest.Enricher{
	"stamps now": attest.EnricherFunc(func(ctx context.Context, s *attest.Subject) ([]registry.Artifact, error) {
		if err := guard(ctx, s); err != nil {
			return nil, err
		}
		return []registry.Artifact{attest.LifecycleArtifact(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Now(), "")}, nil
	}),
	"not deterministic": attest.EnricherFunc(func(ctx context.Context, s *attest.Subject) ([]registry.Artifact, error) {
		if err := guard(ctx, s); err != nil {
			return nil, err
		}
		return []registry.Artifact{{ArtifactType: "application/x-test", Created: s.Time,
			Annotations: map[string]string{"n": strconv.FormatInt(counter.Add(1), 10)}}}, nil
	}),
	"panics on nil": attest.EnricherFunc(func(ctx context.Context, s *attest.Subject) ([]registry.Artifact, error) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return []registry.Artifact{attest.LifecycleArtifact(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), s.Time, "")}, nil
	}),
	"wrong predicate annotation": attest.EnricherFunc(func(ctx context.Context, s *attest.Subject) ([]registry.Artifact, error) {
		if err := guard(ctx, s); err != nil {
			return nil, err
		}
		arts, err := (&attest.ProvenanceEnricher{BuilderID: "x"}).Enrich(ctx, s)
		if err == nil {
			arts[0].Annotations[artifact.AnnotationPredicateType] = artifact.PredicateVerificationSummaryV1
		}
		return arts, err
	}),
}

// TestRunFailsBadEnrichers runs the kit on broken enrichers in a child
// process (a failing *testing.T cannot be captured in-process) and expects
// each to fail.
func TestRunFailsBadEnrichers(t *testing.T) {
	if name := os.Getenv("ATTESTTEST_BAD"); name != "" {
		attesttest.Run(t, badEnrichers[name], attesttest.Options{})
		return
	}
	if testing.Short() {
		t.Skip("spawns child test processes")
	}
	for name := range badEnrichers {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestRunFailsBadEnrichers$")
			cmd.Env = append(os.Environ(), "ATTESTTEST_BAD="+name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Errorf("attesttest.Run passed an enricher that %s (err %v):\n%s", name, err, out)
			}
		})
	}
}

func ExampleRun() {
	// In a _test.go file of your enricher's package:
	//
	//	func TestConformance(t *testing.T) {
	//		attesttest.Run(t, &myenricher.Enricher{}, attesttest.Options{WantArtifacts: true})
	//	}
}

// TestRunZeroTime: a subject without a run time gives artifacts created at
// the Unix epoch, consistently in the field and the annotation.
func TestRunZeroTime(t *testing.T) {
	s := attesttest.Subject(t)
	s.Time = time.Time{}
	attesttest.Run(t, attest.Enrichers{&attest.SBOMEnricher{}, &attest.ProvenanceEnricher{BuilderID: "x"},
		&attest.LifecycleEnricher{EndOfLife: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}, &attest.VSAEnricher{VerifierID: "y"}},
		attesttest.Options{Subject: s, WantArtifacts: true, Check: func(t *testing.T, arts []registry.Artifact) {
			for _, a := range arts {
				if a.Annotations[artifact.AnnotationCreated] != "1970-01-01T00:00:00Z" {
					t.Errorf("%s: created %q, want the Unix epoch", a.ArtifactType, a.Annotations[artifact.AnnotationCreated])
				}
			}
		}})
}
