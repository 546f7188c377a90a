package sbombench_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cssc-go/cssc/sbom/scalibr"
	"github.com/cssc-go/cssc/scan/clamav/clamdtest"
)

// BenchmarkOnePassOverSBOM measures the one-pass goal (SBOM and malware
// report in one walk at most 1.2x the SBOM alone) on a noisy machine:
// each iteration runs the SBOM alone and the one pass back to back, in
// alternating order, so that both see the same load. It reports the
// median of each and the median of the per-iteration ratios
// (one-pass/sbom); ns/op is the pair's wall time.
func BenchmarkOnePassOverSBOM(b *testing.B) {
	if clamdtest.Binary() == "" {
		b.Skip("clamd is not installed (apt-get install clamav-daemon)")
	}
	f := prepare(b)
	srv := clamdtest.Start(b, clamdtest.Options{StreamMaxLength: 256 << 20, MaxThreads: 4, TemporaryDirectory: os.Getenv("CLAMD_TMPDIR"), Nice: clamdNice()})
	ctx := context.Background()
	sbom := csscSBOM(scalibr.Options{})
	// Warm both up (clamd's first scans, the page cache): untimed.
	if _, err := onePass(ctx, f, srv.Address); err != nil {
		b.Fatal(err)
	}
	if _, err := sbom(ctx, f, ""); err != nil {
		b.Fatal(err)
	}
	var alone, both, ratios []float64
	timed := func(run func() (int, error)) float64 {
		start := time.Now()
		if _, err := run(); err != nil {
			b.Fatal(err)
		}
		return float64(time.Since(start).Milliseconds())
	}
	runSBOM := func() (int, error) { return sbom(ctx, f, "") }
	runOne := func() (int, error) { return onePass(ctx, f, srv.Address) }
	for b.Loop() {
		var a, o float64
		if len(ratios)%2 == 0 {
			a, o = timed(runSBOM), timed(runOne)
		} else {
			o, a = timed(runOne), timed(runSBOM)
		}
		alone, both, ratios = append(alone, a), append(both, o), append(ratios, o/a)
	}
	b.ReportMetric(median(alone), "sbom-ms")
	b.ReportMetric(median(both), "one-pass-ms")
	b.ReportMetric(median(ratios), "one-pass/sbom")
	b.ReportMetric(slices.Min(ratios), "min-ratio")
	b.ReportMetric(slices.Max(ratios), "max-ratio")
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// clamdNice is clamd's nice value: CLAMD_NICE, or 0 (this process's).
func clamdNice() int {
	n, _ := strconv.Atoi(os.Getenv("CLAMD_NICE"))
	return n
}
