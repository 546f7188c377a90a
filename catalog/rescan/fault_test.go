package rescan_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/rescan"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
)

// faultyRegistry fails manifest PUTs while its mode says so: "all"
// fails every manifest, "signatures" only Notary signature manifests
// (the report is attached, its signature is not).
type faultyRegistry struct{ mode atomic.Value }

func (fr *faultyRegistry) middleware(next http.Handler) http.Handler {
	fr.mode.Store("")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode, _ := fr.mode.Load().(string)
		if mode != "" && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if mode == "all" || bytes.Contains(body, []byte(artifact.TypeNotarySignature)) {
				http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"injected fault"}]}`, http.StatusInternalServerError)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// TestFailureKeepsPreviousReport: a registry or signer failure leaves the
// previous signed report in force, no unsigned report behind, the entry
// saying the rescan failed, a failure event and sweep record; the next
// successful rescan clears the failure.
func TestFailureKeepsPreviousReport(t *testing.T) {
	for _, fault := range []string{"registry", "signature-push", "signer"} {
		t.Run(fault, func(t *testing.T) {
			ctx := context.Background()
			fr := &faultyRegistry{}
			f := newFixture(t, fixtureOptions{middleware: fr.middleware})
			var signerDown atomic.Bool
			real := f.signer
			f.signer = sign.SignerFunc(func(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor) (ocispec.Descriptor, error) {
				if signerDown.Load() {
					return ocispec.Descriptor{}, errors.New("injected: signing service unavailable")
				}
				return real.Sign(ctx, repo, subject)
			})
			f.seed(images()...)
			dir := t.TempDir()
			r := f.rescanner(t, func(o *rescan.Options) { o.MaxAttempts = 2 })
			_, err := r.SetDatabase(ctx, osvDB(t, filepath.Join(dir, "db1"), db1Records()))
			require.NoError(t, err)
			drain(t, r)
			before := f.reports(4, artifact.ReportKindVulnerability)
			require.Len(t, before, 1)
			require.True(t, before[0].signed)

			switch fault {
			case "registry":
				fr.mode.Store("all")
			case "signature-push":
				fr.mode.Store("signatures")
			case "signer":
				signerDown.Store(true)
			}
			recs := db1Records()
			recs["CVE-C"] = advisory("CVE-C", "2024-10-01T00:00:00Z", "curl", "7.88.1-10+deb12u8", "high")
			sw, err := r.SetDatabase(ctx, osvDB(t, filepath.Join(dir, "db2"), recs))
			require.NoError(t, err)
			drain(t, r)

			for _, i := range []int{4, 5} {
				after := f.reports(i, artifact.ReportKindVulnerability)
				require.Len(t, after, 1, "image %d: no report left behind by the failed rescan", i)
				assert.True(t, after[0].signed, "image %d: the report in force is signed", i)
				e := f.entry(i)
				require.Len(t, e.Reports, 1)
				assert.Equal(t, after[0].desc.Digest, e.Reports[0].Digest, "image %d: the previous report stays in force", i)
				assert.NotContains(t, entryFindingIDs(e), "CVE-C", "image %d: the entry keeps the previous findings", i)
				require.Len(t, e.Problems, 1, "image %d: the entry says the rescan failed", i)
				assert.Equal(t, catalog.ReasonRescanFailed, e.Problems[0].Reason)
				assert.Equal(t, catalog.EvidenceVulnReport, e.Problems[0].Evidence)
				assert.Contains(t, e.Problems[0].Detail, "failed")
				assert.False(t, e.Trusted(), "image %d: an entry whose rescan failed is not presented as clean", i)
			}
			rec, err := f.queue.Sweep(ctx, sw.ID)
			require.NoError(t, err)
			assert.Equal(t, catalog.SweepFinished, rec.State)
			assert.Equal(t, 2, rec.Outcomes["failed"], "the two curl images failed")
			assert.Len(t, rec.Failures, 2, "the sweep record names the failures")
			failed := f.events.ofType(event.TypeRescanFailed)
			require.NotEmpty(t, failed, "a rescan.failed event")
			var data event.RescanFailed
			require.NoError(t, failed[0].Decode(&data))
			assert.Equal(t, artifact.ReportKindVulnerability, data.Kind)

			// The fault goes away; an on-demand rescan succeeds and clears
			// the failure.
			fr.mode.Store("")
			signerDown.Store(false)
			e := f.entry(4)
			_, err = r.Request(ctx, e.Repository, e.Digest, false)
			require.NoError(t, err)
			drain(t, r)
			e = f.entry(4)
			assert.Empty(t, e.Problems, "a successful rescan clears the failure")
			assert.Equal(t, []string{"CVE-C"}, entryFindingIDs(e))
			after := f.reports(4, artifact.ReportKindVulnerability)
			require.Len(t, after, 2)
			assert.True(t, after[0].signed && after[1].signed)
		})
	}
}
