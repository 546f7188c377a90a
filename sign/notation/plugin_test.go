package notation_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"
)

// TestPluginSigner builds a stdlib-only notation plugin (testdata/plugin),
// installs it in a plugin directory the way the notation CLI does, and
// signs through it.
func TestPluginSigner(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin binary")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go toolchain to build the test plugin")
	}
	dir := t.TempDir()
	pluginDir := filepath.Join(dir, "plugins")
	require.NoError(t, os.MkdirAll(filepath.Join(pluginDir, "cssc-test"), 0o755))
	cmd := exec.Command(gobin, "build", "-o", filepath.Join(pluginDir, "cssc-test", "notation-cssc-test"), "./testdata/plugin")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "build plugin: %s", out)

	p := newPKI(t, devpki.ECDSAP256, "")
	keyPath, certPath, err := p.leaf.WriteFiles(dir, "plugin")
	require.NoError(t, err)
	ctx := context.Background()
	s, err := notation.NewPluginSigner(ctx, pluginDir, "cssc-test", "key-1", notation.SignerOptions{
		PluginConfig: map[string]string{"key": keyPath, "chain": certPath},
	})
	require.NoError(t, err)
	repo := newMemRepo(t)
	img := pushImage(t, repo, 1)
	_, err = s.Sign(ctx, repo, img)
	require.NoError(t, err)
	v := newVerifier(t, notation.VerifierOptions{TrustPolicy: policy(t, "strict", identity), TrustStore: store(t, p.ca.Certificate)})
	res, err := v.Verify(ctx, repo, img)
	require.NoError(t, err)
	assert.True(t, res.Verified(), "%+v", res.Signatures)

	// A plugin whose key does not match its certificate fails at signing.
	other := newPKI(t, devpki.ECDSAP256, "")
	otherKey, _, err := other.leaf.WriteFiles(dir, "other")
	require.NoError(t, err)
	bad, err := notation.NewPluginSigner(ctx, pluginDir, "cssc-test", "key-1", notation.SignerOptions{
		PluginConfig: map[string]string{"key": otherKey, "chain": certPath},
	})
	require.NoError(t, err)
	_, err = bad.Sign(ctx, repo, pushImage(t, repo, 2))
	assert.Error(t, err)
}
