package sbom_test

import (
	"fmt"

	"github.com/cssc-go/cssc/sbom"
)

func ExampleEncodeSPDX() {
	doc := &sbom.Document{
		Name: "registry.example/app:1.0",
		Packages: []sbom.Package{{
			Name: "libssl3", Version: "3.0.11-1~deb12u2",
			PURL:       "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
			Ecosystem:  "Debian:12",
			SourceName: "openssl",
			Layer:      "sha256:5d0aeceef7eeb8a2e0f5cb2b0ec0c3c7c0e0d0f0a0b0c0d0e0f0a0b0c0d0e0f0",
		}},
	}
	out, err := sbom.EncodeSPDX(doc, sbom.SPDXOptions{})
	if err != nil {
		panic(err)
	}
	back, err := sbom.Decode(out, sbom.MediaTypeSPDX)
	if err != nil {
		panic(err)
	}
	p := back.Packages[0]
	fmt.Println(p.Name, p.Ecosystem, p.SourceName)
	fmt.Println(p.PURL)
	// Output:
	// libssl3 Debian:12 openssl
	// pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl
}

func ExampleEcosystem() {
	fmt.Println(sbom.Ecosystem("pkg:deb/debian/libc6@2.36-9?distro=bookworm"))
	fmt.Println(sbom.Ecosystem("pkg:apk/alpine/musl@1.2.5-r0?distro=alpine-3.20.3"))
	fmt.Println(sbom.Ecosystem("pkg:golang/stdlib@1.22.1"))
	// Output:
	// Debian:12
	// Alpine:v3.20
	// Go
}
