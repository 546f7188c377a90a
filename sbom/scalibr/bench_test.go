package scalibr_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/osv-scalibr/extractor/filesystem"
	scalibrfs "github.com/google/osv-scalibr/fs"
	"github.com/google/osv-scalibr/stats"
	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/sbom/scalibr"
)

// realisticFiles returns the layers of a generated image shaped like a
// typical application image: a Debian base with ~400 dpkg packages (a
// copyright file and a shared library each), ~20 Go binaries, a Node.js
// application with ~1,000 npm packages (package.json, index.js, README.md
// each), a few Python packages and jars, and shell scripts.
func realisticFiles(t testing.TB) [][]imagetest.File {
	const (
		nDpkg = 400
		nGo   = 20
		nNpm  = 1000
	)
	var status strings.Builder
	base := []imagetest.File{
		imagetest.OSRelease("debian", "12", "bookworm"),
	}
	for i := range nDpkg {
		name := fmt.Sprintf("libpkg%03d", i)
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: %d\nMaintainer: Debian <debian@example.org>\nArchitecture: amd64\nMulti-Arch: same\nSource: src%03d (1.%d-1)\nVersion: 1.%d-1+b1\nDepends: libc6 (>= 2.34)\nDescription: package %d\n generated for the benchmark\n\n", name, 100+i, i/3, i, i, i)
		base = append(base,
			imagetest.File{Path: "usr/share/doc/" + name + "/copyright", Data: []byte(strings.Repeat("Copyright notice line.\n", 40))},
			imagetest.File{Path: "usr/lib/x86_64-linux-gnu/" + name + ".so.1", Data: imagetest.Random(uint64(i), 16<<10), Mode: 0o644},
		)
		if i%4 == 0 {
			base = append(base, imagetest.File{Path: "usr/bin/" + name + "-tool", Data: []byte("#!/bin/sh\nexec true\n"), Mode: 0o755})
		}
	}
	base = append(base, imagetest.File{Path: "var/lib/dpkg/status", Data: []byte(status.String())})

	bin := tinyGoBinary(t)
	var app []imagetest.File
	for i := range nGo {
		app = append(app, imagetest.File{Path: fmt.Sprintf("usr/local/bin/svc%02d", i), Data: bin, Mode: 0o755})
	}
	for i := range 5 {
		app = append(app, imagetest.File{Path: fmt.Sprintf("opt/java/lib/lib%d-1.%d.jar", i, i), Data: jar(t, "org.example", fmt.Sprintf("lib%d", i), fmt.Sprintf("1.%d", i))})
		app = append(app, imagetest.File{Path: fmt.Sprintf("usr/lib/python3/dist-packages/pkg%d-1.%d.dist-info/METADATA", i, i),
			Data: []byte(fmt.Sprintf("Metadata-Version: 2.1\nName: pkg%d\nVersion: 1.%d\nLicense: MIT\n", i, i))})
	}

	var node []imagetest.File
	for i := range nNpm {
		dir := fmt.Sprintf("srv/app/node_modules/npm-pkg-%04d/", i)
		node = append(node,
			imagetest.File{Path: dir + "package.json", Data: []byte(fmt.Sprintf(`{"name":"npm-pkg-%04d","version":"%d.%d.0","license":"MIT","main":"index.js","dependencies":{"left-pad":"^1.3.0"}}`, i, i/100, i%100))},
			imagetest.File{Path: dir + "index.js", Data: []byte(strings.Repeat("module.exports = function () { return 42 }\n", 20))},
			imagetest.File{Path: dir + "README.md", Data: []byte(strings.Repeat("# readme\n", 30))},
		)
	}
	return [][]imagetest.File{base, app, node}
}

func BenchmarkGenerate(b *testing.B) {
	for _, c := range []struct {
		name string
		comp imagetest.Compression
	}{{"gzip", imagetest.Gzip}, {"uncompressed", imagetest.Uncompressed}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			repo := memRepo(b, "bench")
			var layers []imagetest.Blob
			var size int64
			for _, files := range realisticFiles(b) {
				l := imagetest.LayerWith(c.comp, files...)
				layers = append(layers, l)
				size += l.Desc.Size
			}
			desc, err := imagetest.Image{Layers: layers}.Push(ctx, repo)
			require.NoError(b, err)
			b.SetBytes(size)
			b.ResetTimer()
			var n int
			cpu := startCPU()
			for b.Loop() {
				doc, err := scalibr.Generate(ctx, repo, desc, scalibr.Options{})
				if err != nil {
					b.Fatal(err)
				}
				n = len(doc.Packages)
			}
			cpu.report(b)
			b.ReportMetric(float64(n), "packages")
		})
	}
}

// BenchmarkScalibrOnDisk is the baseline: osv-scalibr's own filesystem walk
// (filesystem.Run) with the same extractors over the same files already
// extracted to a directory (extraction not timed).
func BenchmarkScalibrOnDisk(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	for _, layer := range realisticFiles(b) {
		for _, f := range layer {
			p := filepath.Join(dir, f.Path)
			require.NoError(b, os.MkdirAll(filepath.Dir(p), 0o755))
			mode := os.FileMode(0o644)
			if f.Mode != 0 {
				mode = os.FileMode(f.Mode)
			}
			require.NoError(b, os.WriteFile(p, f.Data, mode))
		}
	}
	b.ResetTimer()
	var n int
	cpu := startCPU()
	for b.Loop() {
		exs, err := scalibr.DefaultExtractors()
		if err != nil {
			b.Fatal(err)
		}
		inv, _, err := filesystem.Run(ctx, &filesystem.Config{
			Extractors: exs,
			ScanRoots:  scalibrfs.RealFSScanRoots(dir),
			Stats:      stats.NoopCollector{},
		})
		if err != nil {
			b.Fatal(err)
		}
		n = len(inv.Packages)
	}
	cpu.report(b)
	b.ReportMetric(float64(n), "packages")
}

// BenchmarkScalibrExtractAndScan is what a caller of osv-scalibr has to do
// with an image: decompress and untar every layer to a directory, then run
// filesystem.Run over it. Both steps are timed (the directory is removed
// between iterations, untimed).
func BenchmarkScalibrExtractAndScan(b *testing.B) {
	ctx := context.Background()
	var layers []imagetest.Blob
	for _, files := range realisticFiles(b) {
		layers = append(layers, imagetest.Layer(files...))
	}
	b.ResetTimer()
	var n int
	cpu := startCPU()
	for b.Loop() {
		dir, err := os.MkdirTemp("", "cssc-bench")
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range layers {
			if err := untar(dir, l.Data); err != nil {
				b.Fatal(err)
			}
		}
		exs, err := scalibr.DefaultExtractors()
		if err != nil {
			b.Fatal(err)
		}
		inv, _, err := filesystem.Run(ctx, &filesystem.Config{
			Extractors: exs,
			ScanRoots:  scalibrfs.RealFSScanRoots(dir),
			Stats:      stats.NoopCollector{},
		})
		if err != nil {
			b.Fatal(err)
		}
		n = len(inv.Packages)
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
	cpu.report(b)
	b.ReportMetric(float64(n), "packages")
}

// untar extracts a gzip tar layer (trusted benchmark input) into dir.
func untar(dir string, layer []byte) error {
	zr, err := gzip.NewReader(bytes.NewReader(layer))
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode).Perm())
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			_ = os.MkdirAll(filepath.Dir(p), 0o755)
			_ = os.Symlink(h.Linkname, p)
		}
	}
}

// cpuClock measures the process's user+system CPU time, a figure that stays
// meaningful when the machine is shared and wall-clock time is not.
type cpuClock time.Duration

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuClock { return cpuClock(cpuNow()) }

// report adds the CPU milliseconds per operation as "cpu-ms/op".
func (c cpuClock) report(b *testing.B) {
	used := cpuNow() - time.Duration(c)
	b.ReportMetric(float64(used.Milliseconds())/float64(b.N), "cpu-ms/op")
}
