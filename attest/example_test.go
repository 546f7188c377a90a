package attest_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
)

// Example shows the enrich-attach-discover cycle the acquire pipeline runs:
// build cssc's artifacts for an imported image, attach them, and read them
// back as metadata.
func Example() {
	ctx := context.Background()
	repo, err := registry.NewClient(registry.Options{}).Repository(ctx, "mem:quarantine/library/nginx")
	if err != nil {
		log.Fatal(err)
	}
	// A stand-in image manifest (any manifest works as a subject).
	cfg := ocispec.DescriptorEmptyJSON
	_ = pushBytes(ctx, repo, cfg, cfg.Data)
	raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"` + cfg.Digest.String() + `","size":2},"layers":[]}`)
	img := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(raw), Size: int64(len(raw))}
	if err := pushBytes(ctx, repo, img, raw); err != nil {
		log.Fatal(err)
	}

	subject := &attest.Subject{
		Repository: "registry.corp/quarantine/library/nginx",
		Tag:        "1.27",
		Descriptor: img,
		Source:     "docker.io/library/nginx:1.27",
		SBOM:       &sbom.Document{Packages: []sbom.Package{{Name: "openssl", Version: "3.0.15", PURL: "pkg:deb/debian/openssl@3.0.15"}}},
		Policy:     &attest.PolicyRef{Name: "golden-default", Digest: digest.FromString("policy")},
		Time:       time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), // the run's time, never now()
	}
	enrichers := attest.Enrichers{
		&attest.SBOMEnricher{},
		&attest.ProvenanceEnricher{BuilderID: "https://registry.corp/importer", BuilderVersion: "1.0.0"},
		&attest.LifecycleEnricher{Rules: []attest.LifecycleRule{
			{Repository: "registry.corp/quarantine/library/*", Tag: "1.27*", EndOfLife: time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)},
		}},
	}
	arts, err := enrichers.Enrich(ctx, subject)
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range arts {
		if _, err := registry.Attach(ctx, repo, img, a); err != nil {
			log.Fatal(err)
		}
	}

	md, err := attest.Discover(ctx, repo, img, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, it := range md.Items {
		fmt.Println(strings.TrimSpace(fmt.Sprint(it.Form, " ", it.Kind, " ", it.ArtifactType, " ", it.PredicateType)))
	}
	fmt.Println("has SBOM:", md.HasSBOM(img.Digest))
	fmt.Println("builder:", md.Provenances(img.Digest)[0].BuilderID)
	fmt.Println("end of life:", attest.FormatDate(md.CurrentLifecycle(img.Digest).EndOfLife))
	// Unordered output:
	// referrer sbom application/spdx+json
	// referrer provenance application/vnd.in-toto+json https://slsa.dev/provenance/v1
	// referrer lifecycle application/vnd.microsoft.artifact.lifecycle
	// has SBOM: true
	// builder: https://registry.corp/importer
	// end of life: 2027-06-30T00:00:00Z
}

// ExampleParseDate reads both end-of-life forms found in the wild; cssc
// writes RFC 3339.
func ExampleParseDate() {
	for _, s := range []string{"2026-01-01", "2026-01-01T02:00:00+02:00", "next year"} {
		d, err := attest.ParseDate(s)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println(attest.FormatDate(d))
	}
	// Output:
	// 2026-01-01T00:00:00Z
	// 2026-01-01T00:00:00Z
	// error: date: malformed document: "next year" is neither YYYY-MM-DD nor RFC 3339
}

// ExampleLifecycleArtifact builds a lifecycle marker by hand.
func ExampleLifecycleArtifact() {
	a := attest.LifecycleArtifact(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), "cssc")
	fmt.Println(a.ArtifactType)
	fmt.Println(a.Annotations[artifact.AnnotationEndOfLife])
	// Output:
	// application/vnd.microsoft.artifact.lifecycle
	// 2027-01-01T00:00:00Z
}

func pushBytes(ctx context.Context, repo registry.Repository, d ocispec.Descriptor, data []byte) error {
	if ok, _ := repo.Exists(ctx, d); ok {
		return nil
	}
	return repo.Push(ctx, d, bytesReader(data))
}
