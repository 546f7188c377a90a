package cosign

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDependencyBudget checks that the sigstore stack stays in this package:
// no other package under sign/ (nor registry or artifact) may depend on
// sigstore-go, so that programs that do not verify cosign signatures do not
// build it.
func TestDependencyBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goBin, "list", "-e", "-deps=false", "-f", `{{.ImportPath}} {{join .Deps " "}}`,
		"github.com/cssc-go/cssc/sign/...", "github.com/cssc-go/cssc/registry/...", "github.com/cssc-go/cssc/artifact/...").Output()
	require.NoError(t, err, "go list: %s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.NotEmpty(t, lines)
	checked := 0
	for _, line := range lines {
		pkg, deps, _ := strings.Cut(line, " ")
		if pkg == "github.com/cssc-go/cssc/sign/cosign" || strings.HasPrefix(pkg, "github.com/cssc-go/cssc/sign/cosign/") {
			assert.Contains(t, deps, "github.com/sigstore/sigstore-go/pkg/verify", "sanity: %s uses sigstore-go", pkg)
			continue
		}
		checked++
		for _, d := range strings.Fields(deps) {
			if strings.HasPrefix(d, "github.com/sigstore/") || strings.HasPrefix(d, "github.com/theupdateframework/") {
				t.Errorf("%s depends on %s: the sigstore stack must stay in sign/cosign", pkg, d)
				break
			}
		}
	}
	assert.Positive(t, checked, "no package besides sign/cosign was checked")
}
