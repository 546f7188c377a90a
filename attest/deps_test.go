package attest

import (
	"go/build"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestImports keeps attest a capability package with a small dependency
// footprint: it never imports the stage packages (acquire, catalog) or the
// heavy leaf packages (signing stacks, scanner implementations, databases):
// of sign and scan it uses only the result types, to build policy evidence
// and report artifacts, and of imagefs the Visitor interface. Its third-party imports are the in-toto bindings,
// protobuf, image-spec, go-digest and oras-go.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	require.NoError(t, err)
	allowedPrefixes := []string{
		"github.com/cssc-go/cssc/artifact",
		"github.com/cssc-go/cssc/registry",
		"github.com/cssc-go/cssc/internal/manifest", // manifest reading, registry's own (was registry.FetchManifest)
		"github.com/cssc-go/cssc/sbom",
		"github.com/cssc-go/cssc/policy",
		"github.com/cssc-go/cssc/sign",
		"github.com/cssc-go/cssc/scan",
		"github.com/cssc-go/cssc/imagefs", // the Visitor type of SBOMFiles (already a dependency through scan)
		"github.com/in-toto/attestation/go/",
		"google.golang.org/protobuf/",
		"github.com/opencontainers/image-spec/",
		"github.com/opencontainers/go-digest",
		"oras.land/oras-go/v2/",
	}
	for _, imp := range pkg.Imports {
		if !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
			continue // standard library
		}
		ok := false
		for _, p := range allowedPrefixes {
			if imp == p || strings.HasPrefix(imp, p) && strings.HasSuffix(p, "/") {
				ok = true
			}
		}
		assert.True(t, ok, "attest must not import %s", imp)
	}
}
