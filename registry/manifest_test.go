package registry_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/cssc-go/cssc/internal/manifest"
	"github.com/cssc-go/cssc/registry"
)

// TestDockerMediaTypesAgree keeps the exported Docker media types equal to
// the ones the manifest reader accepts.
func TestDockerMediaTypesAgree(t *testing.T) {
	assert.Equal(t, registry.MediaTypeDockerManifest, manifest.MediaTypeDockerManifest)
	assert.Equal(t, registry.MediaTypeDockerManifestList, manifest.MediaTypeDockerManifestList)
}
