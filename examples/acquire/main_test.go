package main

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
	"github.com/cssc-go/cssc/sign/devpki"
)

// notationDir writes a notation configuration directory (the CLI's layout,
// trustpolicy.oci.json) that trusts ca for identity in the repositories
// scopes, as notation users write them.
func notationDir(t *testing.T, name string, ca *devpki.CA, identity string, scopes ...string) string {
	t.Helper()
	dir := t.TempDir()
	store := filepath.Join(dir, "truststore", "x509", "ca", name)
	require.NoError(t, os.MkdirAll(store, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(store, "root.pem"), ca.CertificatePEM(), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "trustpolicy.oci.json"), sample.TrustPolicy(name, identity, scopes...), 0o644))
	return dir
}

func writeConfig(t *testing.T) (cfgPath string, src, dst *registrytest.Registry) {
	t.Helper()
	return writeConfigWith(t, registrytest.Options{}, "")
}

// writeConfigWith is writeConfig with options for the source registry and
// extra configuration appended to the file.
func writeConfigWith(t *testing.T, srcOpts registrytest.Options, extra string) (cfgPath string, src, dst *registrytest.Registry) {
	t.Helper()
	ctx := context.Background()
	src = registrytest.Start(t, registrytest.OCI, srcOpts)
	dst = registrytest.Start(t, registrytest.Distribution)
	world, err := sample.Seed(ctx, src.Client, src.Host, sample.Options{})
	require.NoError(t, err)
	dir := t.TempDir()

	ca, err := devpki.NewInsecureDevelopmentCA(devpki.CAOptions{})
	require.NoError(t, err)
	leaf, err := ca.Issue(devpki.LeafOptions{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Corp"}, CommonName: "Corp Signing"}})
	require.NoError(t, err)
	keyPath, certPath, err := leaf.WriteFiles(dir, "corp")
	require.NoError(t, err)
	// The publisher's trust policy is scoped to its repositories at the
	// source, the enterprise's to golden.
	var sources, golden []string
	for _, img := range world.Images {
		sources = append(sources, registry.Join(src.Host, img.Name))
		golden = append(golden, registry.Join(dst.Host, "golden/"+img.Name))
	}
	publisher := notationDir(t, "publisher", world.PublisherCA, world.PublisherIdentity, sources...)
	enterprise := notationDir(t, "corp", ca, "C=US, ST=WA, O=Corp, CN=Corp Signing", golden...)

	osvDir := filepath.Join(dir, "osv")
	require.NoError(t, os.CopyFS(osvDir, sample.OSV()))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(`
apiVersion: cssc.dev/policy/v1
name: cli-test
sources: {allowed: ["127.0.0.1:*/**"]}
vulnerabilities: {maxSeverity: high, unfixed: report}
sbom: {required: true}
provenance: {required: true}
`), 0o644))
	cfg := fmt.Sprintf(`
quarantine: %[1]s/quarantine
golden: %[1]s/golden
plainHTTP: [%[1]q, %[2]q]
sources:
  - image: %[2]s/library/clean
    tags: ["1.0"]
  - image: %[2]s/library/vulnerable
    semver: ">= 1.0, < 2"
  - image: %[2]s/library/multi
    tagRegex: "^1\\.0$"
    platforms: [linux/arm64]
trust:
  notation: %[3]s
signing:
  key: %[4]s
  certificate: %[5]s
  verify: %[6]s
osv: osv
policy: policy.yaml
lifecycle:
  endOfLife: "2099-01-01"
  rules:
    - repository: "*/library/multi"
      endOfLife: "2098-06-30T00:00:00Z"
`, dst.Host, src.Host, publisher, keyPath, certPath, enterprise) + extra
	cfgPath = filepath.Join(dir, "acquire.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o644))
	return cfgPath, src, dst
}

func TestCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx := context.Background()
	cfgPath, src, dst := writeConfig(t)
	out := filepath.Join(t.TempDir(), "records.json")

	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"-config", cfgPath, "-json", out, "-progress", "plain"}, &stdout, &stderr)
	assert.Equal(t, exitDenied, code, "one image is denied: exit 3\nstdout:\n%s\nstderr:\n%s", &stdout, &stderr)
	assert.Contains(t, stdout.String(), "DENIED")
	assert.Contains(t, stdout.String(), "PROMOTED")

	data, err := os.ReadFile(out)
	require.NoError(t, err)
	var records []acquire.Record
	require.NoError(t, json.Unmarshal(data, &records))
	require.Len(t, records, 3)
	outcomes := map[string]acquire.Outcome{}
	for _, r := range records {
		outcomes[r.Source[strings.LastIndex(r.Source, "/")+1:]] = r.Outcome
	}
	assert.Equal(t, map[string]acquire.Outcome{"clean:1.0": acquire.OutcomePromoted, "vulnerable:1.0": acquire.OutcomeDenied, "multi:1.0": acquire.OutcomePromoted}, outcomes)
	for _, r := range records {
		if strings.Contains(r.Source, "multi") {
			assert.Equal(t, []string{"linux/arm64"}, r.Platforms, "platform subset from the config")
		}
	}

	// Named on the command line: only that image; it is already promoted.
	stdout.Reset()
	code = run(ctx, []string{"-config", cfgPath, "-progress", "bars", src.Host + "/library/clean:1.0"}, &stdout, &stderr)
	assert.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
	assert.Contains(t, stdout.String(), "UNCHANGED")
	_ = dst
}

func TestCLIErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	assert.Equal(t, exitError, run(ctx, nil, &stdout, &stderr), "no -config")
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("quarantine: oci:/q\nunknownField: 1\n"), 0o644))
	assert.Equal(t, exitError, run(ctx, []string{"-config", bad}, &stdout, &stderr), "unknown field")
	assert.Contains(t, stderr.String(), "unknownField")
	incomplete := filepath.Join(dir, "incomplete.yaml")
	require.NoError(t, os.WriteFile(incomplete, []byte("quarantine: oci:/q\n"), 0o644))
	stderr.Reset()
	assert.Equal(t, exitError, run(ctx, []string{"-config", incomplete}, &stdout, &stderr))
	assert.Contains(t, stderr.String(), "missing")
}

func TestSelectTags(t *testing.T) {
	tags := []string{"1.25.0", "1.26.1", "1.26.2", "1.27.0", "1.27.1", "latest", "1.28.0-rc1", "mainline"}
	for _, tc := range []struct {
		re, rng string
		n       int
		want    []string
	}{
		{"", ">= 1.26, < 1.28", 0, []string{"1.26.1", "1.26.2", "1.27.0", "1.27.1"}},
		{"", ">= 1.26, < 1.28", 2, []string{"1.27.0", "1.27.1"}},
		{`^1\.27\.`, "", 0, []string{"1.27.0", "1.27.1"}},
		{`^1\.26\.`, "~1.26", 1, []string{"1.26.2"}},
		{`^main`, "", 0, []string{"mainline"}},
	} {
		got, err := selectTags(tags, tc.re, tc.rng, tc.n)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "re %q range %q n %d", tc.re, tc.rng, tc.n)
	}
	_, err := selectTags(tags, "(", "", 0)
	assert.Error(t, err)
}
