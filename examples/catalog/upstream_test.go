package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/server"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/registry"
)

// TestUpstreamTracking: with an Acquire pipeline configured, the service
// tracks the source tags of the golden images; when the publisher moves
// one to a patched rebuild, a sweep acquires it through the pipeline, the
// golden tag follows, and the image it replaced is deprecated with a
// pointer to its replacement. An approved request goes through the same
// pipeline (and is denied by its policy).
func TestUpstreamTracking(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: acquires the sample images first")
	}
	g := acquireGolden(t)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(`
apiVersion: cssc.dev/policy/v1
name: catalog-upstream-test
mode: enforce
sources: {allowed: ["127.0.0.1:*/**"]}
vulnerabilities: {maxSeverity: high, unfixed: report}
sbom: {required: true}
provenance: {required: true}
`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "acquire.yaml"), fmt.Appendf(nil, `
quarantine: oci:%[1]s
golden: %[2]s/golden
plainHTTP: [%[2]q, %[3]q]
trust:
  notation: %[4]s
signing:
  key: %[5]s
  certificate: %[6]s
  verify: %[7]s
osv: %[8]s
policy: policy.yaml
lifecycle:
  endOfLife: "2099-01-01"
sources:
  - image: ignored/by/the/catalog:1.0
`, filepath.Join(dir, "quarantine"), g.reg.Host, g.up.Host, g.publisherTrust, g.key, g.cert, g.trust, g.osvDir), 0o644))
	cfgPath := filepath.Join(dir, "catalog.yaml")
	require.NoError(t, os.WriteFile(cfgPath, fmt.Appendf(nil, `
listen: 127.0.0.1:0
store:
  sqlite: catalog.db
golden:
  location: %[1]s/golden
  plainHTTP: [%[1]q]
  reconcile: 1h
signing:
  key: %[2]s
  certificate: %[3]s
  verify: %[4]s
  identities: [%[5]q]
osv:
  path: %[6]s
rescan:
  poll: 50ms
access:
  proxies: [127.0.0.1]
  writers: [catalog-admins]
requests:
  rules:
    sources: ["127.0.0.1:*/**"]
    autoApprove: [{name: test-upstream, match: ["127.0.0.1:*/**"]}]
  approvers: [catalog-admins]
acquire: acquire.yaml
upstream:
  interval: 200ms
  poll: 50ms
  budgets:
    %[7]q: {requests: 1000, per: 1m}
  maxAcquisitionsPerDay: 2
`, g.reg.Host, g.key, g.cert, g.trust, identity, g.osvDir, g.up.Host), 0o644))
	cfg, err := loadConfig(cfgPath)
	require.NoError(t, err)

	ctx := t.Context()
	svc := startService(t, cfg)
	base, logger := svc.base, svc.logger
	var res catalog.Result
	require.Eventually(t, func() bool {
		return getJSON(t, base+"/api/v1/search?repository="+url.QueryEscape(g.multiRepo), &res) == http.StatusOK && res.Total == 1
	}, time.Minute, 100*time.Millisecond, "the reconcile indexes the multi image")
	before := res.Entries[0].Digest

	// The tracker discovers the golden tags (its first sweep) and checks
	// them; then the publisher moves library/multi:1.0.
	st, err := openStore(ctx, cfg, logger) // a second handle, as a second instance
	require.NoError(t, err)
	defer st.Close()
	require.Eventually(t, func() bool {
		tr, err := st.Track(ctx, g.multiRepo, sample.Tag)
		return err == nil && !tr.Checked.IsZero()
	}, time.Minute, 50*time.Millisecond, "the multi tag is tracked and checked")
	client := registry.NewClient(registry.Options{PlainHTTP: []string{g.up.Host, g.reg.Host}, MaxRetries: -1})
	rebuild, err := sample.RebuildMulti(ctx, client, g.up.Host)
	require.NoError(t, err)

	golden, err := client.Repository(ctx, g.multiRepo)
	require.NoError(t, err)
	var after catalog.Entry
	require.Eventually(t, func() bool {
		d, err := golden.Resolve(ctx, sample.Tag)
		if err != nil || d.Digest == before {
			return false
		}
		return getJSON(t, base+"/api/v1/images/"+g.multiRepo+"@"+d.Digest.String(), &after) == http.StatusOK
	}, 2*time.Minute, 100*time.Millisecond, "the golden tag follows the rebuild, and the new image is catalogued")
	assert.Equal(t, rebuild.Digest, after.Source.Digest, "golden's new image is the rebuild")
	assert.True(t, after.Trusted(), "enterprise-signed")
	// The tracker records the rebuild on the track once the pipeline has
	// returned, which is after golden moved and the syncer indexed it.
	require.Eventually(t, func() bool {
		tr, err := st.Track(ctx, g.multiRepo, sample.Tag)
		return err == nil && tr.SourceDigest == rebuild.Digest
	}, time.Minute, 50*time.Millisecond, "the track follows the rebuild")
	// The service shows the tracking state on the image's answer.
	var shown struct{ Upstream []server.UpstreamTag }
	require.Eventually(t, func() bool {
		return getJSON(t, base+"/api/v1/images/"+g.multiRepo+"@"+after.Digest.String(), &shown) == http.StatusOK &&
			len(shown.Upstream) == 1 && shown.Upstream[0].Followed == rebuild.Digest
	}, time.Minute, 100*time.Millisecond, "the image answer lists its tracked tag")
	assert.Equal(t, sample.Tag, shown.Upstream[0].Tag)
	assert.Equal(t, catalog.TrackCurrent, shown.Upstream[0].State)
	var old catalog.Entry
	require.Eventually(t, func() bool {
		return getJSON(t, base+"/api/v1/images/"+g.multiRepo+"@"+before.String(), &old) == http.StatusOK &&
			old.Status == catalog.StatusDeprecated
	}, time.Minute, 100*time.Millisecond, "the replaced image is deprecated")
	assert.Equal(t, g.multiRepo+":"+sample.Tag+"@"+after.Digest.String(), old.Replacement, "replacement pointer")

	// An approved request is acquired through the same pipeline: the
	// vulnerable sample is denied by its policy, with the reasons.
	body := fmt.Sprintf(`{"reference":%q,"reason":"test","owner":"team-test"}`, g.up.Host+"/"+sample.Vulnerable+":"+sample.Tag)
	req, err := http.NewRequest(http.MethodPost, base+"/api/v1/requests", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-User", "dana")
	req.Header.Set("X-Forwarded-Groups", "developers")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, "%s", answer)
	var a struct{ Request catalog.Request }
	require.NoError(t, json.Unmarshal(answer, &a))
	require.Equal(t, catalog.RequestApproved, a.Request.State, "auto-approved")
	var got catalog.Request
	require.Eventually(t, func() bool {
		return getJSON(t, base+"/api/v1/requests/"+a.Request.ID, &got) == http.StatusOK && got.State == catalog.RequestDenied
	}, time.Minute, 100*time.Millisecond, "the request's acquisition runs and the policy denies it")
	assert.NotEmpty(t, got.Reasons, "the policy's reasons")

	svc.stop(t)
}
