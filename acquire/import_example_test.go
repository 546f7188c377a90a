package acquire_test

import (
	"context"
	"fmt"
	"log"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
)

// Import an image with its publisher artifacts into a quarantine
// repository, leaving out lifecycle markers. Memory repositories stand in
// for "docker.io/library/nginx" and "registry.corp/quarantine/library/nginx".
func ExampleORASImporter_Import() {
	ctx := context.Background()
	client := registry.NewClient(registry.Options{})

	// Publish an image with a signature and a lifecycle marker.
	upstream, _ := client.Repository(ctx, "mem:library/nginx")
	img := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(imagetest.File{Path: "etc/nginx/nginx.conf", Data: []byte("events {}\n")})}}
	desc, _ := img.Push(ctx, upstream)
	_ = upstream.Tag(ctx, desc, "1.27")
	_, _ = registry.Attach(ctx, upstream, desc, registry.Artifact{ArtifactType: artifact.TypeNotarySignature,
		Blobs: []registry.Blob{{MediaType: "application/jose+json", Data: []byte("signature")}}})
	_, _ = registry.Attach(ctx, upstream, desc, registry.Artifact{ArtifactType: artifact.TypeLifecycle,
		Annotations: map[string]string{artifact.AnnotationEndOfLife: "2020-01-01"}})

	quarantine, _ := client.Repository(ctx, "mem:quarantine/library/nginx")
	im := acquire.NewImporter(client, acquire.ImporterOptions{})
	res, err := im.Import(ctx, "mem:library/nginx:1.27", quarantine, acquire.ImportOptions{
		Artifacts: acquire.ArtifactFilter{Deny: []acquire.ArtifactRule{{ArtifactType: artifact.TypeLifecycle}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("same digest:", res.Descriptor.Digest == desc.Digest)
	fmt.Println("tags:", res.Tags)
	for _, a := range res.Artifacts {
		fmt.Println(a.Descriptor.ArtifactType, a.Status)
	}

	again, _ := im.Import(ctx, "mem:library/nginx:1.27", quarantine, acquire.ImportOptions{})
	fmt.Println("unchanged:", again.Unchanged)
	// Unordered output:
	// same digest: true
	// tags: [1.27]
	// application/vnd.cncf.notary.signature copied
	// application/vnd.microsoft.artifact.lifecycle filtered
	// unchanged: true
}
