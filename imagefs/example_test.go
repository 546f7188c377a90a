package imagefs_test

import (
	"context"
	"fmt"
	"io"

	"github.com/cssc-go/cssc/imagefs"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
)

// Walk the merged filesystem of a two-layer image: the second layer
// replaces one file and deletes another.
func ExampleWalk() {
	ctx := context.Background()
	repo, _ := registry.NewClient(registry.Options{}).Repository(ctx, "mem:example")
	desc, _ := imagetest.Image{Layers: []imagetest.Blob{
		imagetest.Layer(
			imagetest.File{Path: "etc/motd", Data: []byte("hello\n")},
			imagetest.File{Path: "etc/secret", Data: []byte("s3cret\n")},
		),
		imagetest.LayerWith(imagetest.Zstd,
			imagetest.File{Path: "etc/motd", Data: []byte("welcome\n")},
			imagetest.Whiteout("etc/secret"),
		),
	}}.Push(ctx, repo)

	err := imagefs.Walk(ctx, repo, desc, imagefs.WalkOptions{}, func(ctx context.Context, f *imagefs.File, r io.Reader) error {
		b, err := io.ReadAll(r)
		fmt.Printf("%s (layer %d): %q\n", f.Path, f.Layer, b)
		return err
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// etc/motd (layer 1): "welcome\n"
}
