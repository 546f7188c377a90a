package policy

import (
	"go/build"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestImports keeps the package a leaf: policy decisions are made from
// evidence alone, so policy imports no other cssc package but artifact and
// sign/dn (a standard-library-only leaf that compares signer names), and
// only the two third-party modules it needs.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	require.NoError(t, err)
	allowed := map[string]bool{
		"github.com/cssc-go/cssc/artifact":                  true,
		"github.com/cssc-go/cssc/sign/dn":                   true,
		"github.com/github/go-spdx/v2/spdxexp":              true,
		"github.com/github/go-spdx/v2/spdxexp/spdxlicenses": true,
		"go.yaml.in/yaml/v3":                                true,
	}
	for _, imp := range pkg.Imports {
		if !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
			continue // standard library
		}
		assert.True(t, allowed[imp], "policy must not import %s", imp)
	}
}
