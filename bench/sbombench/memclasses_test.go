package sbombench_test

import (
	"fmt"
	"os"
	"runtime/metrics"
	"strings"
	"testing"
	"time"
)

// memClasses are the runtime/metrics memory classes logged at the peak:
// together with the binary's mapped text and data (outside the Go runtime's
// accounting) they make up the resident memory.
var memClasses = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/os-stacks:bytes",
	"/memory/classes/metadata/other:bytes",
	"/memory/classes/metadata/mspan/inuse:bytes",
	"/memory/classes/metadata/mcache/inuse:bytes",
	"/memory/classes/profiling/buckets:bytes",
	"/memory/classes/other:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/total:bytes",
}

// sampleMemClasses samples the runtime's memory classes every millisecond
// until the returned function is called, then prints them (to stderr) at
// the sample where the memory the runtime holds from the OS (total minus
// released) was highest, with the process's VmHWM and VmRSS. It runs only
// with SBOMBENCH_MEMCLASSES=1, in a TestPeakRSS child, to tell the heap's
// share of the peak from the rest.
func sampleMemClasses(tb testing.TB) (stop func()) {
	samples := make([]metrics.Sample, len(memClasses))
	for i, n := range memClasses {
		samples[i].Name = n
	}
	best := make([]uint64, len(memClasses))
	var bestAt time.Duration
	start := time.Now()
	done, finished := make(chan struct{}), make(chan struct{})
	read := func() {
		metrics.Read(samples)
		held := samples[len(samples)-1].Value.Uint64() - samples[len(samples)-2].Value.Uint64()
		if held > best[len(best)-1]-best[len(best)-2] || best[len(best)-1] == 0 {
			for i := range samples {
				best[i] = samples[i].Value.Uint64()
			}
			bestAt = time.Since(start)
		}
	}
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				read()
				return
			case <-tick.C:
				read()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		var b strings.Builder
		fmt.Fprintf(&b, "memory classes at the peak (%.2fs):", bestAt.Seconds())
		for i, n := range memClasses {
			fmt.Fprintf(&b, " %s=%.1f", strings.TrimSuffix(strings.TrimPrefix(n, "/memory/classes/"), ":bytes"), float64(best[i])/(1<<20))
		}
		st, _ := os.ReadFile("/proc/self/status")
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "VmHWM") || strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "RssAnon") || strings.HasPrefix(l, "RssFile") {
				b.WriteString(" " + strings.Join(strings.Fields(l), ""))
			}
		}
		fmt.Fprintln(os.Stderr, b.String())
	}
}
