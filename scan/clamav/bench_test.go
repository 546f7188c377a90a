package clamav_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/clamav"
	"github.com/cssc-go/cssc/scan/clamav/clamdtest"
)

// benchFiles returns a realistic mix of files (about 96 MiB): many small
// text files (configuration, scripts, docs), binaries of 4 KiB to 512 KiB,
// and a few large blobs; one EICAR file.
func benchFiles() ([]imagetest.File, int64) {
	var files []imagetest.File
	var total int64
	words := strings.Fields("the quick brown fox jumps over lazy dog config value path usr lib share doc package version license copyright")
	add := func(p string, data []byte) {
		files = append(files, imagetest.File{Path: p, Data: data})
		total += int64(len(data))
	}
	for i := range 1200 {
		var b strings.Builder
		n := 200 + (i*7919)%16000
		for j := 0; b.Len() < n; j++ {
			b.WriteString(words[(i+j*31)%len(words)])
			if j%12 == 11 {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		}
		add(fmt.Sprintf("usr/share/doc/pkg%03d/file%d.txt", i/10, i), []byte(b.String()))
	}
	for i := range 300 {
		size := 4<<10 + (i*104729)%(508<<10)
		add(fmt.Sprintf("usr/lib/x86_64-linux-gnu/lib%03d.so", i), imagetest.Random(uint64(i), size))
	}
	for i := range 4 {
		add(fmt.Sprintf("opt/data/blob%d.bin", i), imagetest.Random(uint64(1000+i), 6<<20))
	}
	add("tmp/eicar.com", clamdtest.EICAR())
	return files, total
}

func benchImage(b *testing.B) (*scan.Image, []imagetest.File, int64) {
	files, total := benchFiles()
	// Three layers, like a base image, packages and an application.
	third := len(files) / 3
	img := pushImage(b,
		imagetest.Layer(files[:third]...),
		imagetest.Layer(files[third:2*third]...),
		imagetest.LayerWith(imagetest.Zstd, files[2*third:]...))
	return img, files, total
}

// BenchmarkClamdImage scans a ~96 MiB, 1,505-file image straight from the
// registry (walk, decompression, INSTREAM to clamd, default concurrency).
func BenchmarkClamdImage(b *testing.B) {
	srv := clamdtest.Start(b, clamdtest.Options{})
	img, _, total := benchImage(b)
	for _, conc := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			s, err := clamav.New(clamav.Options{Address: srv.Address, Concurrency: conc})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.SetBytes(total)
			clamd0, self0 := srv.CPUTime(), selfCPU()
			for b.Loop() {
				r, err := s.Scan(context.Background(), img)
				if err != nil {
					b.Fatal(err)
				}
				if len(r.Findings) != 1 {
					b.Fatalf("findings %v", r.Findings)
				}
			}
			reportCPU(b, total, srv.CPUTime()-clamd0+selfCPU()-self0)
		})
	}
}

// extract writes files under dir, the way a runtime would extract the
// image, for the clamscan baselines.
func extract(b *testing.B, files []imagetest.File) string {
	dir := b.TempDir()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkClamscanExtracted is the baseline: clamscan (single process,
// same tiny database) on the same files already extracted to disk
// (extraction not timed).
func BenchmarkClamscanExtracted(b *testing.B) {
	bin, err := exec.LookPath("clamscan")
	if err != nil {
		b.Skip("clamscan is not installed (Debian: clamav)")
	}
	files, total := benchFiles()
	dir := extract(b, files)
	db := b.TempDir()
	if err := clamdtest.WriteDatabase(db); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(total)
	var cpu time.Duration
	for b.Loop() {
		cmd := exec.Command(bin, "--database="+db, "--recursive", "--infected", "--no-summary", dir)
		out, err := cmd.CombinedOutput()
		if cmd.ProcessState != nil {
			cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
		// clamscan exits 1 when it finds something: the EICAR file.
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			b.Fatalf("clamscan: %v\n%s", err, out)
		}
	}
	reportCPU(b, total, cpu)
}

// BenchmarkClamdscanExtracted is the second baseline: clamdscan asking the
// same running clamd to scan the extracted files in parallel (--multiscan
// --fdpass), the fastest way ClamAV's own tools scan a directory.
func BenchmarkClamdscanExtracted(b *testing.B) {
	bin, err := exec.LookPath("clamdscan")
	if err != nil {
		b.Skip("clamdscan is not installed (Debian: clamdscan)")
	}
	srv := clamdtest.Start(b, clamdtest.Options{})
	files, total := benchFiles()
	dir := extract(b, files)
	conf := filepath.Join(srv.Dir, "clamd.conf")
	b.SetBytes(total)
	clamd0 := srv.CPUTime()
	for b.Loop() {
		out, err := exec.Command(bin, "--config-file="+conf, "--multiscan", "--fdpass", "--infected", "--no-summary", dir).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			b.Fatalf("clamdscan: %v\n%s", err, out)
		}
	}
	reportCPU(b, total, srv.CPUTime()-clamd0)
}

// reportCPU reports CPU time per operation (this process plus clamd, or
// clamscan) and throughput per CPU-second, which machine load does not
// distort the way it distorts wall-clock MB/s.
func reportCPU(b *testing.B, total int64, cpu time.Duration) {
	if b.N == 0 || cpu <= 0 {
		return
	}
	per := cpu / time.Duration(b.N)
	b.ReportMetric(float64(per.Milliseconds()), "cpu-ms/op")
	b.ReportMetric(float64(total)/1e6/per.Seconds(), "MB/cpu-s")
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
