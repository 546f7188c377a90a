package importbench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/registry"
)

// BenchmarkImport imports images of random layers from one loopback
// registry to another with acquire.ORASImporter and, in the same run, with
// crane copy (if crane is on PATH or in $CRANE): "big" is 1 GiB in four
// 256 MiB layers, "one" is a single 1 GiB layer. It reports throughput
// (MB/s), CPU time per import (cpu-ms/op: user + system, of this process
// for cssc, of the child for crane) and, for cssc, peak RSS (peak-RSS-MiB:
// the VmHWM of this process; bench/import.sh measures both tools with
// /usr/bin/time -v).
//
// With CSSC_BENCH_SRC and CSSC_BENCH_DST set (hosts of registries seeded by
// cmd/benchregistry, as bench/import.sh does) the registries run in their
// own process and the RSS figure is the importer's alone. Without them,
// registries (distribution, filesystem driver) start in this process and
// are seeded first, and the RSS figure includes them.
func BenchmarkImport(b *testing.B) {
	src, dst := os.Getenv("CSSC_BENCH_SRC"), os.Getenv("CSSC_BENCH_DST")
	if src == "" || dst == "" {
		src, dst = startInProcess(b)
	}
	crane := os.Getenv("CRANE")
	if crane == "" {
		crane, _ = exec.LookPath("crane")
	}
	images := map[string]int64{"big": 1 << 30, "one": 1 << 30}
	tools := strings.Split(envOr("CSSC_BENCH_TOOLS", "cssc,crane"), ",")
	for _, image := range strings.Split(envOr("CSSC_BENCH_IMAGES", "big,one"), ",") {
		for _, tool := range tools {
			b.Run(tool+"/"+image, func(b *testing.B) {
				b.SetBytes(images[image])
				var maxRSS int64
				var cpu time.Duration
				for i := 0; b.Loop(); i++ {
					repo := fmt.Sprintf("bench/%s-%s-%d-%d", tool, image, time.Now().UnixNano(), i)
					switch tool {
					case "cssc":
						before := selfCPU()
						importCSSC(b, src, dst, repo, image)
						cpu += selfCPU() - before
						maxRSS = vmHWM()
					case "crane":
						if crane == "" {
							b.Skip("crane not found: set CRANE or put it on PATH")
						}
						cpu += runCrane(b, crane, src+"/bench/app:"+image, dst+"/"+repo+":"+image)
					default:
						b.Fatalf("unknown tool %q", tool)
					}
				}
				if tool == "cssc" {
					b.ReportMetric(float64(maxRSS)/(1<<20), "peak-RSS-MiB")
				}
				b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func importCSSC(b *testing.B, src, dst, repo, tag string) {
	ctx := context.Background()
	client := registry.NewClient(registry.Options{PlainHTTP: []string{src, dst}})
	d, err := client.Repository(ctx, registry.Join(dst, repo))
	if err != nil {
		b.Fatal(err)
	}
	conc, _ := strconv.Atoi(os.Getenv("CSSC_BENCH_CONCURRENCY")) // zero: the default
	res, err := acquire.NewImporter(client, acquire.ImporterOptions{Concurrency: conc}).Import(ctx, src+"/bench/app:"+tag, d, acquire.ImportOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if res.Blobs.Copied == 0 {
		b.Fatalf("nothing copied: %+v", res.Blobs)
	}
}

// runCrane runs crane copy and returns its CPU time (user + system). Its
// peak RSS is not taken from rusage: the child's ru_maxrss counts this
// process's pages shared before exec; bench/import.sh measures it with
// /usr/bin/time -v instead.
func runCrane(b *testing.B, crane, src, dst string) time.Duration {
	cmd := exec.Command(crane, "copy", "--insecure", src, dst)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		b.Fatalf("crane copy: %v\n%s", err, out.String())
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// selfCPU returns the user + system CPU time of this process.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// vmHWM returns the peak resident set size of this process in bytes.
func vmHWM() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// startInProcess starts a source and a destination registry in this
// process and seeds the source.
func startInProcess(b *testing.B) (string, string) {
	var hosts []string
	var cleanup []func()
	b.Cleanup(func() {
		for _, f := range cleanup {
			f()
		}
	})
	for _, name := range []string{"src", "dst"} {
		h, err := Handler("distribution-fs", b.TempDir(), name, &cleanup)
		if err != nil {
			b.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: h}
		go srv.Serve(ln)
		b.Cleanup(func() { srv.Close() })
		hosts = append(hosts, ln.Addr().String())
	}
	ctx := context.Background()
	client := registry.NewClient(registry.Options{PlainHTTP: hosts})
	repo, err := client.Repository(ctx, registry.Join(hosts[0], "bench/app"))
	if err != nil {
		b.Fatal(err)
	}
	if err := Seed(ctx, repo, "big", 0, []int64{256 << 20, 256 << 20, 256 << 20, 256 << 20}); err != nil {
		b.Fatal(err)
	}
	if err := Seed(ctx, repo, "one", 1, []int64{1 << 30}); err != nil {
		b.Fatal(err)
	}
	return hosts[0], hosts[1]
}
