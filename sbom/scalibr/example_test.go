package scalibr_test

import (
	"context"
	"fmt"

	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/sbom/scalibr"
)

func ExampleGenerate() {
	ctx := context.Background()
	client := registry.NewClient(registry.Options{})
	repo, err := client.Repository(ctx, "mem:quarantine/app")
	if err != nil {
		panic(err)
	}
	// An image with a Debian package database and one npm package.
	manifest, err := imagetest.Image{Layers: []imagetest.Blob{imagetest.Layer(
		imagetest.OSRelease("debian", "12", "bookworm"),
		imagetest.DpkgStatus(imagetest.Package{Name: "libssl3", Version: "3.0.13-1~deb12u1", Source: "openssl"}),
		imagetest.File{Path: "app/node_modules/left-pad/package.json", Data: []byte(`{"name":"left-pad","version":"1.3.0"}`)},
	)}}.Push(ctx, repo)
	if err != nil {
		panic(err)
	}

	doc, err := scalibr.Generate(ctx, repo, manifest, scalibr.Options{Name: "registry.example/app:1.0"})
	if err != nil {
		panic(err)
	}
	for _, p := range doc.Packages {
		fmt.Printf("%s %s %s source=%q\n", p.Ecosystem, p.Name, p.Version, p.SourceName)
	}
	spdx, err := sbom.EncodeSPDX(doc, sbom.SPDXOptions{Subject: manifest.Digest.String()})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(spdx) > 0)
	// Output:
	// Debian:12 libssl3 3.0.13-1~deb12u1 source="openssl"
	// npm left-pad 1.3.0 source=""
	// true
}
