package acquire_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/sbom/scalibr"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/clamav"
	"github.com/cssc-go/cssc/scan/osv"
	"github.com/cssc-go/cssc/sign/notation"
)

// ExampleNewPipeline wires the default implementations into a pipeline
// (the README's quick start). It is compiled, not run: it needs a
// registry, keys, an OSV database and clamd.
func ExampleNewPipeline() {
	ctx := context.Background()
	creds, err := registry.DockerCredentials(os.ExpandEnv("$HOME/.docker/config.json"))
	if err != nil {
		log.Fatal(err)
	}
	client := registry.NewClient(registry.Options{Credentials: creds}) // auth, retries, token cache

	raw, _ := os.ReadFile("policy.yaml")
	doc, err := policy.Parse(raw)
	if err != nil {
		log.Fatal(err)
	}
	pol, err := policy.Compile(doc)
	if err != nil {
		log.Fatal(err)
	}
	signer, err := notation.NewSignerFromFiles("golden.key", "golden.crt", notation.SignerOptions{})
	if err != nil {
		log.Fatal(err)
	}
	db, err := osv.Load(ctx, "/var/lib/osv", osv.Options{}) // offline OSV database
	if err != nil {
		log.Fatal(err)
	}
	clamd, err := clamav.New(clamav.Options{Address: "unix:///run/clamav/clamd.ctl"})
	if err != nil {
		log.Fatal(err)
	}
	defer clamd.Close()

	p, err := acquire.NewPipeline(acquire.Config{
		Client:     client,
		Quarantine: "registry.corp/quarantine",
		Golden:     "registry.corp/golden",
		Scanners:   []scan.Scanner{osv.NewScanner(db), clamd},
		SBOM: &attest.SBOMEnricher{Generate: func(ctx context.Context, s *attest.Subject) (*sbom.Document, error) {
			return scalibr.Generate(ctx, s.Content, s.Descriptor, scalibr.Options{})
		}},
		Provenance: &attest.ProvenanceEnricher{BuilderID: "https://registry.corp/acquire"},
		Lifecycle:  &attest.LifecycleEnricher{EndOfLife: time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)},
		Signer:     signer,
		Policy:     pol,
		PolicyRef:  &attest.PolicyRef{Name: pol.Name(), Digest: digest.Digest(pol.Digest())},
	})
	if err != nil {
		log.Fatal(err)
	}
	rec, err := p.Run(ctx, "docker.io/library/nginx:1.27", acquire.RunOptions{})
	switch {
	case errors.Is(err, acquire.ErrPolicyDenied):
		fmt.Println("denied, stays in quarantine:", rec.Reason)
	case err != nil:
		fmt.Println("failed at step", rec.FailedStep, ":", err)
	default:
		fmt.Println(rec.Outcome, rec.Golden+"@"+rec.Digest.String())
	}
}
