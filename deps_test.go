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
		"github.com/sigstore/",                          // only sign/cosign
		"modernc.org/sqlite",                            // only sbom/scalibr (rpm databases) and catalog/sqlite
		"github.com/jackc/pgx",                          // only catalog/postgres
		"github.com/google/osv-scalibr/extractor",       // only sbom/scalibr
		"github.com/google/licenseclassifier",           // only sbom/scalibr (free-text Debian copyright files)
		"github.com/distribution/distribution",          // tests only
		"cuelabs.dev/go/oci",                            // tests only
		"github.com/cssc-go/cssc/registry/registrytest", // test kit
		"github.com/cssc-go/cssc/imagefs/imagetest",     // test kit
	}
	for _, pkg := range []string{"./registry", "./artifact", "./imagefs", "./sign", "./sign/notation", "./scan", "./scan/osv", "./scan/clamav", "./sbom", "./policy", "./attest", "./acquire", "./catalog", "./catalog/catalogtest", "./catalog/event", "./catalog/event/webhook", "./catalog/rescan", "./catalog/lifecycle", "./catalog/upstream", "./catalog/resolve", "./catalog/requests"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
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

// TestDependencyBudgetSees checks that the budget test can see a heavy
// dependency where one is expected, so that it cannot pass vacuously.
func TestDependencyBudgetSees(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	out, err := exec.Command("go", "list", "-deps", "./sign/cosign").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "github.com/sigstore/sigstore-go/") {
		t.Fatal("go list -deps ./sign/cosign does not list sigstore-go: the budget check is blind")
	}
}

// TestLayering keeps the capability packages apart: none imports a stage
// package (acquire, catalog), and the SBOM generator reads the image through
// imagefs without depending on the scanner API.
func TestLayering(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	forbidden := map[string][]string{
		"./sbom/scalibr": {"github.com/cssc-go/cssc/scan", "github.com/cssc-go/cssc/acquire", "github.com/cssc-go/cssc/catalog"},
		"./imagefs":      {"github.com/cssc-go/cssc/scan", "github.com/cssc-go/cssc/sbom", "github.com/cssc-go/cssc/acquire"},
	}
	for _, pkg := range []string{"./registry", "./artifact", "./sign", "./sign/notation", "./sign/cosign", "./scan", "./scan/osv", "./scan/clamav", "./sbom", "./policy", "./attest"} {
		forbidden[pkg] = append(forbidden[pkg], "github.com/cssc-go/cssc/acquire", "github.com/cssc-go/cssc/catalog")
	}
	for pkg, deny := range forbidden {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		for _, d := range deny {
			for _, dep := range deps {
				if dep == d || strings.HasPrefix(dep, d+"/") {
					t.Errorf("%s depends on %s, want no such dependency", pkg, dep)
				}
			}
		}
	}
}

// TestDatabaseDriversStayInStores keeps pgx (and its pool) in
// catalog/postgres and internal/pgtest: the catalog stage, its test kit and
// the acquire stage build without a PostgreSQL driver. It also checks that
// the store does use pgx, so that the check cannot pass vacuously.
func TestDatabaseDriversStayInStores(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	deps := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		return strings.Fields(string(out))
	}
	for _, pkg := range []string{"./acquire", "./catalog", "./catalog/catalogtest", "./catalog/event", "./catalog/event/webhook", "./catalog/rescan", "./catalog/lifecycle", "./catalog/upstream", "./catalog/resolve", "./catalog/requests"} {
		for _, dep := range deps(pkg) {
			if strings.HasPrefix(dep, "github.com/jackc/") {
				t.Errorf("%s depends on %s: the PostgreSQL driver belongs in catalog/postgres only", pkg, dep)
			}
		}
	}
	found := false
	for _, dep := range deps("./catalog/postgres") {
		found = found || strings.HasPrefix(dep, "github.com/jackc/pgx/v5")
	}
	if !found {
		t.Error("go list -deps ./catalog/postgres does not list pgx: the check is blind")
	}
}
