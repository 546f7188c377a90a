package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/requests"
)

// requestsYAML is the requests section of the README's example.
const requestsYAML = `
requests:
  rules:
    sources: ["docker.io/library/*", "ghcr.io/acme/**", "mcr.microsoft.com/**"]
    autoApprove:
      - name: docker-official-images
        match: ["docker.io/library/*"]
      - name: microsoft
        match: ["mcr.microsoft.com/**"]
    knownImages: ["docker.io/library/nginx", "docker.io/library/redis", "ghcr.io/acme/payments"]
  requesters: [developers]
  approvers: [catalog-admins]
  rateLimit: 10
  rateWindow: 1h
`

func TestRequestsConfig(t *testing.T) {
	dir := t.TempDir()
	base := "store: {sqlite: a.db}\ngolden: {location: registry.corp/golden}\nsigning: {key: k, certificate: c, verify: v}\nosv: {path: o}\n"
	p := filepath.Join(dir, "catalog.yaml")
	require.NoError(t, os.WriteFile(p, []byte(base+"access: {proxies: [127.0.0.1], writers: [catalog-admins]}\n"+requestsYAML), 0o644))
	cfg, err := loadConfig(p)
	require.NoError(t, err)
	require.NotNil(t, cfg.Requests)
	assert.Equal(t, "docker-official-images", cfg.Requests.Rules.AutoApprove[0].Name)
	assert.Equal(t, 10, cfg.Requests.RateLimit)

	for name, body := range map[string]string{
		"no approvers": "access: {proxies: [127.0.0.1], writers: [w]}\nrequests: {rules: {sources: [docker.io/library/*]}}\n",
		"no proxies":   "requests: {approvers: [a]}\n",
		"bad pattern":  "access: {proxies: [127.0.0.1], writers: [w]}\nrequests: {approvers: [a], rules: {sources: [\"docker.io/***\"]}}\n",
		"bad rule":     "access: {proxies: [127.0.0.1], writers: [w]}\nrequests: {approvers: [a], rules: {autoApprove: [{name: x}]}}\n",
		"unknown key":  "access: {proxies: [127.0.0.1], writers: [w]}\nrequests: {approvers: [a], autoapprove: true}\n",
		"known tag":    "access: {proxies: [127.0.0.1], writers: [w]}\nrequests: {approvers: [a], rules: {knownImages: [\"nginx:1\"]}}\n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		require.NoError(t, os.WriteFile(p, []byte(base+body), 0o644))
		_, err := loadConfig(p)
		assert.Error(t, err, name)
	}
}

// TestServiceRequests runs the service with the README's requests section
// and asks for images through the authenticating proxy's headers: a
// developer's request for an official image is approved by its rule, a
// look-alike waits flagged, only approvers decide, others are refused, and
// a source the rules do not take is a 422.
func TestServiceRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: acquires the sample images first")
	}
	g := acquireGolden(t)
	dir := t.TempDir()
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
osv:
  path: %[5]s
access:
  proxies: [127.0.0.1]
  writers: [catalog-admins]
%[6]s`, g.reg.Host, g.key, g.cert, g.trust, g.osvDir, requestsYAML), 0o644))
	cfg, err := loadConfig(cfgPath)
	require.NoError(t, err)
	base := startService(t, cfg).base

	call := func(path, body, user, groups string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		if user != "" {
			req.Header.Set("X-Forwarded-User", user)
			req.Header.Set("X-Forwarded-Groups", groups)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	var a requests.Answer
	status, body := call("/api/v1/requests", `{"reference":"redis:7.4","reason":"cache","owner":"team-web"}`, "dana", "developers")
	require.Equal(t, http.StatusCreated, status, "%s", body)
	require.NoError(t, json.Unmarshal(body, &a))
	assert.Equal(t, catalog.RequestApproved, a.Request.State, "approved by docker-official-images")
	assert.Equal(t, "dana", a.Request.Requester)

	status, body = call("/api/v1/requests", `{"reference":"docker.io/library/ngnix:1.27","reason":"web","owner":"team-web"}`, "dana", "developers")
	require.Equal(t, http.StatusCreated, status, "%s", body)
	a = requests.Answer{}
	require.NoError(t, json.Unmarshal(body, &a))
	assert.Equal(t, catalog.RequestPending, a.Request.State, "a typosquat waits")
	require.NotNil(t, a.Request.Typosquat)
	assert.Equal(t, "docker.io/library/nginx", a.Request.Typosquat.Resembles)
	squat := a.Request.ID

	status, _ = call("/api/v1/requests", `{"reference":"quay.io/evil/miner:1","reason":"x","owner":"y"}`, "dana", "developers")
	assert.Equal(t, http.StatusUnprocessableEntity, status, "a source the rules do not take")
	status, _ = call("/api/v1/requests", `{"reference":"ghcr.io/acme/payments:2","reason":"x","owner":"y"}`, "eve", "contractors")
	assert.Equal(t, http.StatusForbidden, status, "not a requester group")
	status, _ = call("/api/v1/requests", `{"reference":"ghcr.io/acme/payments:2","reason":"x","owner":"y"}`, "", "")
	assert.Equal(t, http.StatusUnauthorized, status, "no identity")

	status, _ = call("/api/v1/requests/"+squat+"/deny", `{"reason":"typosquat"}`, "dana", "developers")
	assert.Equal(t, http.StatusForbidden, status, "a developer does not decide")
	status, body = call("/api/v1/requests/"+squat+"/deny", `{"reason":"typosquat of nginx"}`, "sam", "catalog-admins")
	require.Equal(t, http.StatusOK, status, "%s", body)
	var r catalog.Request
	require.NoError(t, json.Unmarshal(body, &r))
	assert.Equal(t, catalog.RequestDenied, r.State)
	assert.Equal(t, "sam", r.Decider)
}
