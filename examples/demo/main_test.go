package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/examples/sample"
)

// get returns the status and body of a GET of u.
func get(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: acquires the sample images, then catalogs them")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	golden := "oci:" + dir + "/golden/"

	// With -serve, the portal answers once the run is done, until ctx ends.
	var portal struct {
		page, search int
		retired      catalog.Result
	}
	serveCtx, stop := context.WithCancel(ctx)
	defer stop()
	ready := func(url string) {
		defer stop()
		portal.page, _ = get(t, url)
		var body []byte
		portal.search, body = get(t, url+"api/v1/search?status=retired")
		if portal.search == http.StatusOK {
			assert.NoError(t, json.Unmarshal(body, &portal.retired), "%s", body)
		}
	}
	var out bytes.Buffer
	res, err := run(serveCtx, options{dir: dir, serve: true, listen: "127.0.0.1:0", ready: ready}, &out)
	require.NoError(t, err, "%s", out.String())
	t.Log(out.String())

	// Acquire: clean, signed and multi are promoted.
	promoted := 0
	for _, rec := range res.records {
		if rec.Outcome == acquire.OutcomePromoted {
			promoted++
		}
	}
	require.Equal(t, 3, promoted, "clean, signed and multi are promoted")

	// 1. The golden images are catalogued; the ones whose SBOM cssc made
	// are trusted, and none has the advisory yet.
	co := res.catalog
	require.Len(t, co.entries, 3, "every promoted image is catalogued")
	trusted := map[string]bool{}
	for _, e := range co.entries {
		trusted[strings.TrimPrefix(e.Repository, golden)] = e.Trusted()
		assert.True(t, e.Vulnerabilities.Scanned, "%s is scanned", e.Repository)
		assert.False(t, e.HasVulnerability(advisory), "%s: no %s before the newer database", e.Repository, advisory)
	}
	assert.Equal(t, map[string]bool{sample.Clean: true, sample.Multi: true, sample.Signed: true}, trusted,
		"every image has an SBOM signed by the enterprise key (the publisher's image too, beside the publisher's)")

	// 2. The newer database: a delta sweep rescans the multi image alone
	// and signs one new report with the advisory.
	require.NotNil(t, co.delta)
	assert.Equal(t, catalog.SweepDelta, co.delta.Kind)
	assert.Equal(t, catalog.SweepFinished, co.delta.State)
	assert.Equal(t, 1, co.delta.Images, "only the image with Expat is rescanned")
	assert.Equal(t, map[string]int{"written": 1}, co.delta.Outcomes, "one new signed report")
	require.Len(t, co.affected, 1, "one image has %s", advisory)
	multi := co.affected[0]
	assert.Equal(t, golden+sample.Multi, multi.Repository)
	assert.Equal(t, 1, multi.Vulnerabilities.Critical, "DSA-5770-1 is critical")
	rep := newestReport(multi)
	assert.True(t, rep.Trusted, "the new report is enterprise-signed")
	assert.NotEqual(t, co.delta.PreviousVersion, rep.DatabaseVersion, "the report is made with the newer database")
	assert.Equal(t, co.delta.DatabaseVersion, rep.DatabaseVersion)

	// 3. The lifecycle retires library/clean, past its end of life.
	require.Len(t, co.retired, 1, "one image is retired")
	c := co.retired[0]
	assert.Equal(t, golden+sample.Clean, c.Repository)
	assert.Equal(t, catalog.StatusRetired, c.To)
	assert.True(t, c.Applied, "the retirement is applied")
	assert.True(t, c.EndOfLife.Before(time.Now()), "end of life %s is past", c.EndOfLife)
	assert.NotEmpty(t, c.Marker, "a signed lifecycle marker records it")

	// 4. Upstream: the publisher's patched rebuild of the multi image is
	// seen with HEADs only, acquired through the pipeline, and golden
	// follows; the image it replaced points at its replacement.
	uo := co.upstream
	require.NotNil(t, uo)
	assert.Equal(t, 3, uo.tracks, "every golden tag acquired from a source tag is tracked")
	assert.Equal(t, int64(3), uo.heads, "one HEAD per tracked tag")
	assert.Zero(t, uo.gets, "no manifest GET before the acquisition")
	assert.Equal(t, catalog.SweepFinished, uo.sweep.State)
	assert.Equal(t, 1, uo.sweep.Outcomes["acquisition-promoted"], "outcomes %v", uo.sweep.Outcomes)
	assert.Equal(t, catalog.TrackCurrent, uo.track.State, uo.track.Reason)
	assert.Equal(t, uo.rebuild, uo.track.SourceDigest, "golden follows the rebuild")
	assert.Equal(t, uo.rebuild, uo.after.Source.Digest, "the new golden entry comes from the rebuild")
	assert.NotEqual(t, uo.before, uo.after.Digest, "the golden tag moved")
	assert.True(t, uo.after.Trusted(), "the new golden image is enterprise-signed")
	assert.False(t, uo.after.HasVulnerability(advisory), "the rebuild fixes %s", advisory)
	assert.Equal(t, catalog.StatusDeprecated, uo.replaced.Status, "the replaced image is deprecated")
	assert.Equal(t, golden+sample.Multi+":"+sample.Tag+"@"+uo.after.Digest.String(), uo.replaced.Replacement, "replacement pointer")
	assert.Contains(t, uo.events, "dev.cssc.catalog.upstream.promoted")

	// 5. A team's request goes from submission to promotion, through an
	// approver and the full pipeline; a look-alike name waits, flagged.
	ro := res.requests
	require.NotNil(t, ro)
	require.Equal(t, catalog.RequestPromoted, ro.request.State, "reasons %v", ro.request.Reasons)
	var path []string
	for _, h := range ro.request.History {
		path = append(path, string(h.State))
	}
	assert.Equal(t, "pending approved acquiring promoted", strings.Join(path, " "))
	assert.Equal(t, []string{"submitted", "approved", "acquiring", "promoted", "submitted"}, ro.events)
	require.NotNil(t, ro.typosquat.Typosquat, "library/mu1ti is flagged")
	assert.Equal(t, catalog.RequestPending, ro.typosquat.State)
	assert.True(t, strings.HasSuffix(ro.typosquat.Typosquat.Resembles, "/"+sample.Multi), "resembles %s", ro.typosquat.Typosquat.Resembles)

	// 6. -serve: the portal serves the catalog, retirement included.
	assert.Equal(t, http.StatusOK, portal.page, "the portal's home page")
	assert.Equal(t, http.StatusOK, portal.search)
	require.Equal(t, 1, portal.retired.Total, "the portal shows the retired image")
	assert.Equal(t, golden+sample.Clean, portal.retired.Entries[0].Repository)

	// The account says each step.
	for _, want := range []string{
		"3 images catalogued",
		"delta sweep: 1 of 3 images rescanned: 1 written",
		"critical DSA-5770-1 (" + advisory,
		"active -> retired",
		"tracking sweep: 3 tags checked with 3 manifest HEADs and 0 GETs",
		"acquired through the whole pipeline: promoted; golden tag 1.0 follows",
		"pending -> approved -> acquiring -> promoted",
		"already golden, pull oci:",
		"catalog portal: http://127.0.0.1:",
	} {
		assert.Contains(t, out.String(), want)
	}
}
