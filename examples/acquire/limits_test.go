package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// stallBlobs makes the source a slow loris once armed: blob downloads get
// their headers and a few bytes, then nothing, until the client leaves.
func stallBlobs(armed *atomic.Bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !armed.Load() || r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/sha256:") {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte{0x1f})
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		})
	}
}

// TestStalledUpstreamEndsTheRun: a source that stops sending in the middle
// of a blob no longer hangs the CLI: the registry client's stall timeout
// gives up with a typed error, and the per-image deadline bounds a run
// even with the stall timeout off (issue 10 item 10).
func TestStalledUpstreamEndsTheRun(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	for _, tc := range []struct {
		name, limits, reason string
		within               time.Duration
	}{
		{"stall timeout", "limits: {stallTimeout: 200ms, retries: 1, blobAttempts: 2, imageTimeout: 1m}", "registry stalled", 15 * time.Second},
		{"image deadline", "limits: {stallTimeout: -1s, imageTimeout: 2s}", "deadline exceeded", 15 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var armed atomic.Bool
			cfgPath, src, _ := writeConfigWith(t, registrytest.Options{Middleware: stallBlobs(&armed)}, "\n"+tc.limits+"\n")
			armed.Store(true)
			out := filepath.Join(t.TempDir(), "records.json")
			var stdout, stderr bytes.Buffer
			done := make(chan int, 1)
			start := time.Now()
			go func() {
				done <- run(context.Background(), []string{"-config", cfgPath, "-json", out, "-progress", "plain", src.Host + "/library/clean:1.0"}, &stdout, &stderr)
			}()
			var code int
			select {
			case code = <-done:
			case <-time.After(tc.within):
				t.Fatalf("the run still hangs on a stalled upstream after %s", tc.within)
			}
			t.Logf("%s: gave up after %s", tc.name, time.Since(start))
			assert.Equal(t, exitError, code, "stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
			data, err := os.ReadFile(out)
			require.NoError(t, err)
			var records []acquire.Record
			require.NoError(t, json.Unmarshal(data, &records))
			require.Len(t, records, 1)
			assert.Equal(t, acquire.OutcomeError, records[0].Outcome)
			assert.Contains(t, records[0].Reason, tc.reason)
		})
	}
}
