package registry

import "github.com/cssc-go/cssc/internal/manifest"

// Manifest media types cssc understands (OCI and Docker v2 schema 2).
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

func isManifestType(mt string) bool { return manifest.Supported(mt) }
