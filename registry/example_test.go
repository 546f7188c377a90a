package registry_test

import (
	"context"
	"fmt"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
)

func ExampleParseRef() {
	ref, _ := registry.ParseRef("nginx:1.27")
	fmt.Println(ref.Registry, ref.Repository, ref.Tag)
	fmt.Println(ref)
	// Output:
	// docker.io library/nginx 1.27
	// docker.io/library/nginx:1.27
}

func ExampleAttach() {
	ctx := context.Background()
	client := registry.NewClient(registry.Options{})
	repo, _ := client.Repository(ctx, "mem:quarantine/library/app")
	image, _ := imagetest.Image{}.Push(ctx, repo)

	lifecycle := registry.Artifact{
		ArtifactType: artifact.TypeLifecycle,
		Annotations:  map[string]string{artifact.AnnotationEndOfLife: "2027-06-30T00:00:00Z"},
	}
	first, _ := registry.Attach(ctx, repo, image, lifecycle)
	second, _ := registry.Attach(ctx, repo, image, lifecycle) // same content, same digest
	refs, _ := registry.Referrers(ctx, repo, image, artifact.TypeLifecycle)
	fmt.Println(first.Digest == second.Digest, len(refs), refs[0].Annotations[artifact.AnnotationEndOfLife])
	// Output: true 1 2027-06-30T00:00:00Z
}
