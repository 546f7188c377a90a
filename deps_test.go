package cssc_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyBudget keeps heavy dependencies in the leaf packages that
// need them: importing a core package must not pull a database driver, the
// sigstore stack or osv-scalibr's extractors into the caller's build.
func TestDependencyBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	heavy := []string{
		"github.com/sigstore/",                    // only sign/cosign
		"modernc.org/sqlite",                      // only catalog/sqlite
		"github.com/jackc/pgx",                    // only catalog/postgres
		"github.com/google/osv-scalibr/extractor", // only sbom/scalibr
		"github.com/distribution/distribution",    // tests only
		"cuelabs.dev/go/oci",                      // tests only
	}
	for _, pkg := range []string{"./registry", "./artifact", "./sign", "./scan", "./sbom", "./policy", "./attest", "./acquire"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "no Go files") || strings.Contains(string(out), "cannot find") || strings.Contains(string(out), "is not in std") {
				t.Logf("%s: not present yet", pkg)
				continue
			}
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, h := range heavy {
				if strings.HasPrefix(dep, h) {
					t.Errorf("%s depends on %s (heavy dependencies belong in leaf packages)", pkg, dep)
				}
			}
		}
	}
}
