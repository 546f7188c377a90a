package acquire_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/scan/clamav/clamdtest"
)

// blobGets counts GET requests for blobs of the quarantine repositories.
type blobGets struct {
	mu sync.Mutex
	n  map[string]int // digest -> GETs
}

func (b *blobGets) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/quarantine/") && strings.Contains(r.URL.Path, "/blobs/sha256:") {
			b.mu.Lock()
			b.n[r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]]++
			b.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (b *blobGets) total() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := 0
	for _, n := range b.n {
		t += n
	}
	return t
}

// TestPipelineOnePass: with an SBOM generator that can be fed from a
// shared walk, SBOM generation and clamd read each platform's layers once
// (one download, one decompression, one digest check), and the run records
// the same SBOM, findings and decision as with two walks.
func TestPipelineOnePass(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	if clamdtest.Binary() == "" {
		t.Skip("clamd is not installed (apt-get install clamav-daemon); .ci/run installs it")
	}
	ctx := context.Background()
	type result struct {
		rec   *acquire.Record
		gets  int
		layer int
	}
	run := func(onePass bool, image string) result {
		counter := &blobGets{n: map[string]int{}}
		f := newPipeFixture(t, pipeOptions{onePass: onePass, dstMiddle: counter.middleware})
		rec, _ := f.pipeline(t).Run(ctx, f.location(image), acquire.RunOptions{})
		require.NotNil(t, rec)
		return result{rec: rec, gets: counter.total(), layer: len(counter.n)}
	}
	for _, image := range []string{sample.Clean, sample.Malware, sample.Multi} {
		t.Run(image, func(t *testing.T) {
			two, one := run(false, image), run(true, image)
			assert.Equal(t, two.rec.Outcome, one.rec.Outcome, "same outcome: %s / %s", two.rec.Reason, one.rec.Reason)
			sbomStep := func(r *acquire.Record) map[string]any {
				for _, s := range r.Steps {
					if s.Name == acquire.StepSBOM {
						return s.Outputs
					}
				}
				return nil
			}
			assert.Nil(t, sbomStep(two.rec)["sharedWalks"])
			platforms := max(1, len(one.rec.Platforms))
			assert.Equal(t, platforms, sbomStep(one.rec)["sharedWalks"], "every platform walked once for SBOM and clamd")
			// Same reports: kinds and findings per platform.
			summary := func(r *acquire.Record) any {
				for _, s := range r.Steps {
					if s.Name == acquire.StepScan {
						return s.Outputs["reports"]
					}
				}
				return nil
			}
			assert.Equal(t, summary(two.rec), summary(one.rec), "same findings")
			assert.Equal(t, two.rec.Decision.Allowed, one.rec.Decision.Allowed)
			kinds := func(r *acquire.Record) map[string]int {
				out := map[string]int{}
				for _, a := range r.Artifacts {
					out[a.Kind]++
				}
				return out
			}
			assert.Equal(t, kinds(two.rec), kinds(one.rec))
			// Each image layer is fetched from quarantine once less: the
			// second walk is gone.
			t.Logf("quarantine blob GETs: two walks %d, one walk %d (distinct blobs %d)", two.gets, one.gets, one.layer)
			assert.Equal(t, two.gets, 2*one.gets, "each layer read once per platform instead of twice")
		})
	}
}
