// Package sbombench_test compares cssc's SBOM generation, alone and in one
// walk with clamd, with osv-scalibr (in process, on an extracted copy of the
// same image), the osv-scalibr CLI and syft (when their binaries are
// given), on a realistic image built at run time. See the "sbom" section of
// bench/README.md and bench/sbom.sh.
package sbombench_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/osv-scalibr/extractor/filesystem"
	scalibrfs "github.com/google/osv-scalibr/fs"
	"github.com/google/osv-scalibr/stats"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/imagefs"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom/scalibr"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/clamav"
	"github.com/cssc-go/cssc/scan/clamav/clamdtest"
)

// fixture is the image, prepared once per process: an OCI layout on disk
// (what cssc and syft read, layers compressed) and the same files extracted
// (what osv-scalibr reads).
type fixture struct {
	dir      string // holds layout/ and rootfs/
	layout   string // "oci:<dir>/layout"
	rootfs   string
	desc     ocispec.Descriptor
	size     int64 // uncompressed bytes of the files
	gzipSize int64
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
)

// prepare builds the image (or, in a child process, reopens the one the
// parent built: SBOMBENCH_DIR).
func prepare(tb testing.TB) *fixture {
	tb.Helper()
	fixOnce.Do(func() {
		if dir := os.Getenv("SBOMBENCH_DIR"); dir != "" {
			fix = fixture{dir: dir, layout: "oci:" + filepath.Join(dir, "layout"), rootfs: filepath.Join(dir, "rootfs")}
			fixErr = fix.resolve()
			return
		}
		fixErr = build(tb)
	})
	if fixErr != nil {
		tb.Fatal(fixErr)
	}
	return &fix
}

func (f *fixture) repo(ctx context.Context) (registry.Repository, error) {
	return registry.NewClient(registry.Options{}).Repository(ctx, f.layout)
}

func (f *fixture) resolve() error {
	ctx := context.Background()
	repo, err := f.repo(ctx)
	if err != nil {
		return err
	}
	f.desc, err = repo.Resolve(ctx, "bench")
	return err
}

func build(tb testing.TB) error {
	dir, err := os.MkdirTemp("", "cssc-sbombench-")
	if err != nil {
		return err
	}
	fix = fixture{dir: dir, layout: "oci:" + filepath.Join(dir, "layout"), rootfs: filepath.Join(dir, "rootfs")}
	ctx := context.Background()
	repo, err := fix.repo(ctx)
	if err != nil {
		return err
	}
	var layers []imagetest.Blob
	for _, files := range realisticImage(tb) {
		l := imagetest.Layer(files...)
		layers = append(layers, l)
		fix.gzipSize += l.Desc.Size
		for _, f := range files {
			if err := writeFile(fix.rootfs, f); err != nil {
				return err
			}
			fix.size += int64(len(f.Data))
		}
	}
	desc, err := imagetest.Image{Layers: layers}.Push(ctx, repo)
	if err != nil {
		return err
	}
	if err := repo.Tag(ctx, desc, "bench"); err != nil {
		return err
	}
	fix.desc = desc
	return nil
}

// writeFile writes one image file into the extracted copy.
func writeFile(root string, f imagetest.File) error {
	p := filepath.Join(root, filepath.FromSlash(f.Path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	switch f.Type {
	case 0, '0':
		mode := os.FileMode(0o644)
		if f.Mode != 0 {
			mode = os.FileMode(f.Mode)
		}
		return os.WriteFile(p, f.Data, mode)
	case '5': // directory
		return os.MkdirAll(p, 0o755)
	case '2': // symbolic link
		return os.Symlink(f.Linkname, p)
	}
	return fmt.Errorf("unexpected entry type %q", f.Type)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fix.dir != "" && os.Getenv("SBOMBENCH_DIR") == "" {
		if os.Getenv("SBOMBENCH_KEEP") != "" {
			fmt.Fprintf(os.Stderr, "image kept in %s (SBOMBENCH_DIR=%s reuses it)\n", fix.dir, fix.dir)
		} else {
			os.RemoveAll(fix.dir)
		}
	}
	os.Exit(code)
}

// cpuNow is the process's user+system CPU time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU is the CPU time of the finished child processes.
func childCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// mode is one way of producing the SBOM (and malware report).
type mode struct {
	name string
	run  func(ctx context.Context, f *fixture, clamd string) (packages int, err error)
}

func csscSBOM(opts scalibr.Options) func(ctx context.Context, f *fixture, _ string) (int, error) {
	return func(ctx context.Context, f *fixture, _ string) (int, error) {
		repo, err := f.repo(ctx)
		if err != nil {
			return 0, err
		}
		doc, err := scalibr.Generate(ctx, repo, f.desc, opts)
		if err != nil {
			return 0, err
		}
		return len(doc.Packages), nil
	}
}

func clamdScanner(addr string) (*clamav.Scanner, error) {
	return clamav.New(clamav.Options{Address: addr, StreamMaxLength: 256 << 20})
}

// onePass: one walk feeds the SBOM generator and clamd.
func onePass(ctx context.Context, f *fixture, addr string) (int, error) {
	repo, err := f.repo(ctx)
	if err != nil {
		return 0, err
	}
	cl, err := clamdScanner(addr)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	s, err := scalibr.Start(f.desc, scalibr.Options{})
	if err != nil {
		return 0, err
	}
	fs, err := cl.StartFiles(ctx, &scan.Image{Repository: repo, Manifest: f.desc})
	if err != nil {
		return 0, err
	}
	errs, walkErr := imagefs.WalkAll(ctx, repo, f.desc, imagefs.WalkOptions{}, imagefs.ShareOptions{MaxSharedMemory: shareMem()}, s, fs)
	rep, err := fs.Finish(ctx, firstErr(walkErr, errs[1]))
	if err != nil {
		return 0, err
	}
	doc, err := s.Finish(ctx, firstErr(walkErr, errs[0]))
	if err != nil {
		return 0, err
	}
	if len(rep.Findings) != 0 {
		return 0, fmt.Errorf("unexpected detections: %v", rep.Findings)
	}
	return len(doc.Packages), nil
}

// twoPass: the SBOM generator and clamd each walk the image.
func twoPass(ctx context.Context, f *fixture, addr string) (int, error) {
	n, err := csscSBOM(scalibr.Options{})(ctx, f, addr)
	if err != nil {
		return 0, err
	}
	_, err = malware(ctx, f, addr)
	return n, err
}

func malware(ctx context.Context, f *fixture, addr string) (int, error) {
	repo, err := f.repo(ctx)
	if err != nil {
		return 0, err
	}
	cl, err := clamdScanner(addr)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	_, err = cl.Scan(ctx, &scan.Image{Repository: repo, Manifest: f.desc})
	return 0, err
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// osvScalibr: osv-scalibr's own filesystem walk with the same extractors
// over the extracted copy (the baseline; extraction not timed).
func osvScalibr(ctx context.Context, f *fixture, _ string) (int, error) {
	exs, err := scalibr.DefaultExtractors()
	if err != nil {
		return 0, err
	}
	inv, _, err := filesystem.Run(ctx, &filesystem.Config{
		Extractors: exs,
		ScanRoots:  scalibrfs.RealFSScanRoots(f.rootfs),
		Stats:      stats.NoopCollector{},
	})
	if err != nil {
		return 0, err
	}
	return len(inv.Packages), nil
}

var modes = []mode{
	{"cssc-sbom", csscSBOM(scalibr.Options{})},
	{"cssc-sbom-no-classifier", csscSBOM(scalibr.Options{NoLicenseClassifier: true})},
	{"cssc-sbom+clamd-one-pass", onePass},
	{"cssc-sbom+clamd-two-passes", twoPass},
	{"cssc-clamd-only", malware},
	{"osv-scalibr-in-process", osvScalibr},
}

func needsClamd(name string) bool { return strings.Contains(name, "clamd") }

// BenchmarkSBOM runs every mode in this process. cpu-ms/op is this
// process's CPU (clamd's own CPU is in clamd-cpu-ms/op).
func BenchmarkSBOM(b *testing.B) {
	f := prepare(b)
	b.Logf("image: %d MB of files, %d MB of gzip layers", f.size>>20, f.gzipSize>>20)
	var srv *clamdtest.Server
	if clamdtest.Binary() != "" {
		srv = clamdtest.Start(b, clamdtest.Options{StreamMaxLength: 256 << 20, MaxThreads: 4, TemporaryDirectory: os.Getenv("CLAMD_TMPDIR"), Nice: clamdNice()})
		// Warm clamd up (its first scans cost more): untimed.
		if _, err := malware(context.Background(), f, srv.Address); err != nil {
			b.Fatal(err)
		}
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			addr := ""
			if needsClamd(m.name) {
				if srv == nil {
					b.Skip("clamd is not installed (apt-get install clamav-daemon)")
				}
				addr = srv.Address
			}
			ctx := context.Background()
			var n int
			var clamdStart time.Duration
			if srv != nil {
				clamdStart = srv.CPUTime()
			}
			cpu := cpuNow()
			b.ResetTimer()
			for b.Loop() {
				var err error
				if n, err = m.run(ctx, f, addr); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuNow()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
			if srv != nil && addr != "" {
				b.ReportMetric(float64((srv.CPUTime()-clamdStart).Milliseconds())/float64(b.N), "clamd-cpu-ms/op")
			}
			b.ReportMetric(float64(n), "packages")
		})
	}
	for _, tool := range externalTools(f) {
		b.Run(tool.name, func(b *testing.B) {
			cpu := childCPU()
			b.ResetTimer()
			for b.Loop() {
				if out, err := exec.Command(tool.argv[0], tool.argv[1:]...).CombinedOutput(); err != nil {
					b.Fatalf("%s: %v\n%s", tool.name, err, lastLines(out))
				}
			}
			b.ReportMetric(float64((childCPU()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

// tool is an external SBOM generator run on the same image.
type tool struct {
	name string
	argv []string
}

// externalTools lists the peers given by path: OSV_SCALIBR (the
// osv-scalibr CLI, on the extracted copy) and SYFT (syft, on the OCI
// layout: it decompresses the layers as cssc does). Neither can be
// downloaded here; bench/sbom.sh builds osv-scalibr's CLI from the module
// proxy when asked.
func externalTools(f *fixture) []tool {
	var out []tool
	if p := os.Getenv("OSV_SCALIBR"); p != "" {
		res := filepath.Join(f.dir, "scalibr.spdx.json")
		out = append(out, tool{"osv-scalibr-cli", []string{p, "--root", f.rootfs, "--offline",
			"--plugins=os/dpkg,os/apk,os/rpm,go/binary,java/archive,javascript/packagejson,python/wheelegg",
			"-o", "spdx23-json=" + res}})
	}
	if p := os.Getenv("SYFT"); p != "" {
		layout := strings.TrimPrefix(f.layout, "oci:")
		out = append(out, tool{"syft", []string{p, "scan", "oci-dir:" + layout, "-q", "-o", "spdx-json=" + filepath.Join(f.dir, "syft.spdx.json")}})
	}
	return out
}

func lastLines(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}

// TestPeakRSS runs each mode once in a child process and logs its peak
// resident memory (getrusage ru_maxrss), wall and CPU time: the memory
// figures of bench/README.md. It runs only when SBOMBENCH_RSS=1; with
// SBOMBENCH_MEMCLASSES=1 each child also logs the Go runtime's memory
// classes at its peak (see sampleMemClasses).
func TestPeakRSS(t *testing.T) {
	if os.Getenv("SBOMBENCH_RSS") == "" {
		t.Skip("set SBOMBENCH_RSS=1 (bench/sbom.sh does)")
	}
	f := prepare(t)
	srv := clamdtest.Start(t, clamdtest.Options{StreamMaxLength: 256 << 20, MaxThreads: 4, TemporaryDirectory: os.Getenv("CLAMD_TMPDIR"), Nice: clamdNice()})
	if _, err := malware(context.Background(), f, srv.Address); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A child's ru_maxrss counts the memory of the process it was forked
	// from (this one holds the image): children are started through GNU
	// time, a small process, which reports the child's own peak.
	timeBin, err := exec.LookPath("/usr/bin/time")
	if err != nil {
		t.Skip("needs GNU time (/usr/bin/time; Debian package time) to measure peak RSS")
	}
	rounds := 3
	measure := func(name string, argv []string, env ...string) {
		var rss []int64
		var wall, cpu []time.Duration
		for range rounds {
			cmd := exec.Command(timeBin, append([]string{"-f", "MAXRSS %M"}, argv...)...)
			cmd.Env = append(os.Environ(), env...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s: %v\n%s", name, err, lastLines(out.Bytes()))
			}
			wall = append(wall, time.Since(start))
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			cpu = append(cpu, time.Duration(ru.Utime.Nano()+ru.Stime.Nano()))
			i := bytes.LastIndex(out.Bytes(), []byte("MAXRSS "))
			var kib int64
			if i < 0 {
				t.Fatalf("%s: no MAXRSS line in\n%s", name, lastLines(out.Bytes()))
			}
			fmt.Sscanf(string(out.Bytes()[i:]), "MAXRSS %d", &kib)
			rss = append(rss, kib)
			if j := bytes.Index(out.Bytes(), []byte("memory classes at the peak")); j >= 0 {
				line, _, _ := bytes.Cut(out.Bytes()[j:], []byte("\n"))
				t.Logf("%-28s %s", name, line)
			}
		}
		t.Logf("%-28s peak RSS %s MiB, wall %s, cpu %s", name, fmtKiB(rss), fmtDur(wall), fmtDur(cpu))
	}
	only := os.Getenv("SBOMBENCH_MODES") // comma-separated; empty means all
	selected := func(name string) bool { return only == "" || slices.Contains(strings.Split(only, ","), name) }
	for _, m := range modes {
		if selected(m.name) {
			measure(m.name, []string{exe, "-test.run=^TestChild$"},
				"SBOMBENCH_DIR="+f.dir, "SBOMBENCH_MODE="+m.name, "SBOMBENCH_CLAMD="+srv.Address, "SBOMBENCH_RSS=")
		}
	}
	for _, tl := range externalTools(f) {
		if selected(tl.name) {
			measure(tl.name, tl.argv)
		}
	}
}

func fmtKiB(v []int64) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprintf("%.0f", float64(x)/1024))
	}
	return strings.Join(s, "/")
}

func fmtDur(v []time.Duration) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprintf("%.2fs", x.Seconds()))
	}
	return strings.Join(s, "/")
}

// TestChild runs one mode once (in the child process TestPeakRSS starts).
func TestChild(t *testing.T) {
	name := os.Getenv("SBOMBENCH_MODE")
	if name == "" {
		t.Skip("child of TestPeakRSS")
	}
	f := prepare(t)
	for _, m := range modes {
		if m.name == name {
			if os.Getenv("SBOMBENCH_MEMCLASSES") != "" {
				stop := sampleMemClasses(t)
				defer stop()
			}
			if _, err := m.run(context.Background(), f, os.Getenv("SBOMBENCH_CLAMD")); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("unknown mode %q", name)
}

// TestSameFindings checks that the modes agree (the benchmark compares the
// same work): cssc finds at least the packages osv-scalibr finds.
func TestSameFindings(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 170 MB image")
	}
	f := prepare(t)
	ctx := context.Background()
	cssc, err := csscSBOM(scalibr.Options{})(ctx, f, "")
	if err != nil {
		t.Fatal(err)
	}
	osvN, err := osvScalibr(ctx, f, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("packages: cssc %d, osv-scalibr %d", cssc, osvN)
	if cssc < osvN {
		t.Errorf("cssc found %d packages, osv-scalibr %d", cssc, osvN)
	}
	_ = io.Discard
}

// shareMem is imagefs.ShareOptions.MaxSharedMemory for the one-pass mode:
// SBOMBENCH_SHARE_MEM bytes, or the default.
func shareMem() int64 {
	var n int64
	fmt.Sscan(os.Getenv("SBOMBENCH_SHARE_MEM"), &n)
	return n
}
