package sbombench_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/cssc-go/cssc/imagefs/imagetest"
)

// The image: shaped like a Debian 12 application image, built at run time
// from data in this repository and the local Go toolchain (nothing is
// downloaded):
//
//   - base layer: os-release, 130 dpkg packages with status entries of real
//     size (~1-2 KB: dependencies, conffiles, long descriptions), their
//     var/lib/dpkg/info file lists and md5sums, a copyright file each (27
//     free-text ones copied from Debian 12 by sbom/scalibr's fixtures, the
//     rest machine-readable, 6 doc directories as symbolic links like
//     libncursesw6 -> libtinfo6), and 1-2 shared libraries each: the
//     machine's own ELF libraries of 64 KiB to 1 MiB (see hostLibs; ~62 MB
//     on Debian 12 with the packages .ci/run installs);
//   - Go layer: the toolchain's own binaries, with build info (cmd/compile,
//     link, vet, asm, cgo, cover, fix, and bin/go and gofmt: ~80 MB);
//   - node layer: an npm tree of 85 packages (package.json of real size,
//     index.js, lib files, README, LICENSE).
const (
	nDpkg     = 130
	nFreeText = 27
	nDocLinks = 6
	nNpm      = 85
)

var freeTextFixtures = []string{"libc6", "gcc-12-base", "libgnutls30", "libkrb5-3", "libselinux1"}

func copyrightFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "sbom", "scalibr", "testdata", "copyright", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// dpkgEntry writes a status entry of real size and shape.
func dpkgEntry(r *rand.Rand, name, source, version string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: %d\n", name, 40+r.IntN(4000))
	fmt.Fprintf(&b, "Maintainer: Debian %s Maintainers <pkg-%s@lists.alioth.debian.org>\nArchitecture: amd64\nMulti-Arch: same\n", source, source)
	if source != name {
		fmt.Fprintf(&b, "Source: %s\n", source)
	}
	fmt.Fprintf(&b, "Version: %s\n", version)
	fmt.Fprintf(&b, "Replaces: %s-dev (<< %s)\n", name, version)
	b.WriteString("Depends: libc6 (>= 2.34), libgcc-s1 (>= 3.0), zlib1g (>= 1:1.2.0)")
	for i := range r.IntN(6) {
		fmt.Fprintf(&b, ", libdep%02d (>= 1.%d)", r.IntN(90), i)
	}
	b.WriteString("\nPre-Depends: libc6 (>= 2.17)\nBreaks: " + name + "-old (<< 1.0)\n")
	if r.IntN(3) == 0 {
		fmt.Fprintf(&b, "Conffiles:\n /etc/%s/%s.conf %032x\n /etc/default/%s %032x\n", name, name, r.Uint64(), name, r.Uint64())
	}
	fmt.Fprintf(&b, "Description: %s library - runtime files\n", name)
	for range 6 + r.IntN(8) {
		b.WriteString(" This package provides the shared library and the runtime support files\n")
	}
	b.WriteString(" .\n This is a generated description of real size.\n")
	fmt.Fprintf(&b, "Homepage: https://example.org/%s\n\n", source)
	return b.String()
}

// dep5 writes a machine-readable copyright file.
func dep5(r *rand.Rand, name string) []byte {
	lics := []string{"GPL-2+", "LGPL-2.1+", "BSD-3-clause", "Expat", "GPL-3+", "Apache-2.0", "ISC", "Zlib"}
	var b strings.Builder
	fmt.Fprintf(&b, "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: %s\nSource: https://example.org/%s\n\n", name, name)
	for i := range 3 + r.IntN(10) {
		fmt.Fprintf(&b, "Files: src/part%d/*\nCopyright: 1998-2023 Contributor %d <c%d@example.org>\nLicense: %s\n\n", i, i, i, lics[r.IntN(len(lics))])
	}
	for _, l := range lics[:4] {
		fmt.Fprintf(&b, "License: %s\n", l)
		for range 12 {
			b.WriteString(" Permission is granted under the terms of this licence; see the full text.\n")
		}
		b.WriteString("\n")
	}
	return []byte(b.String())
}

// goBinaries returns the local toolchain's binaries (they carry build info).
func goBinaries(tb testing.TB) []imagetest.File {
	tb.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		tb.Fatal(err)
	}
	root := strings.TrimSpace(string(out))
	tools := filepath.Join(root, "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH)
	var files []imagetest.File
	for _, p := range []string{
		filepath.Join(tools, "compile"), filepath.Join(tools, "link"), filepath.Join(tools, "vet"),
		filepath.Join(tools, "asm"), filepath.Join(tools, "cgo"), filepath.Join(tools, "cover"), filepath.Join(tools, "fix"),
		filepath.Join(root, "bin", "go"), filepath.Join(root, "bin", "gofmt"),
	} {
		data, err := os.ReadFile(p)
		if err != nil {
			tb.Fatalf("Go toolchain binary: %v", err)
		}
		files = append(files, imagetest.File{Path: "usr/local/go/" + filepath.Base(filepath.Dir(p)) + "/" + filepath.Base(p), Data: data, Mode: 0o755})
	}
	return files
}

// realisticImage returns the three layers' files.
func realisticImage(tb testing.TB) [][]imagetest.File {
	tb.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	var status strings.Builder
	base := []imagetest.File{
		imagetest.OSRelease("debian", "12", "bookworm"),
		imagetest.Dir("etc"), imagetest.Dir("usr"), imagetest.Dir("var/lib/dpkg/info"),
	}
	libs := hostLibs(tb)
	var free [][]byte
	for _, n := range freeTextFixtures {
		free = append(free, copyrightFile(tb, n))
	}
	for i := range nDpkg {
		name := fmt.Sprintf("lib%s%d", []string{"ssl", "xml", "curl", "png", "krb", "gnu", "sql", "zstd"}[i%8], i)
		source := fmt.Sprintf("src%d", i/2)
		version := fmt.Sprintf("%d.%d.%d-%d+deb12u%d", 1+i%5, i%13, i%7, 1+i%3, i%4)
		status.WriteString(dpkgEntry(r, name, source, version))
		var list, sums strings.Builder
		for j := range 10 + r.IntN(60) {
			fmt.Fprintf(&list, "/usr/share/doc/%s/file%d\n", name, j)
			fmt.Fprintf(&sums, "%032x  usr/share/doc/%s/file%d\n", r.Uint64(), name, j)
		}
		base = append(base,
			imagetest.File{Path: "var/lib/dpkg/info/" + name + ":amd64.list", Data: []byte(list.String())},
			imagetest.File{Path: "var/lib/dpkg/info/" + name + ":amd64.md5sums", Data: []byte(sums.String())},
		)
		switch {
		case i < nDocLinks:
			// Doc directory linked to the one of the package built with it.
			base = append(base, imagetest.Symlink("usr/share/doc/"+name, fmt.Sprintf("lib%s%d", []string{"ssl", "xml", "curl", "png", "krb", "gnu", "sql", "zstd"}[(i+nDocLinks)%8], i+nDocLinks)))
		case i < nDocLinks+nFreeText:
			base = append(base, imagetest.File{Path: "usr/share/doc/" + name + "/copyright", Data: free[i%len(free)]})
		default:
			base = append(base, imagetest.File{Path: "usr/share/doc/" + name + "/copyright", Data: dep5(r, name)})
		}
		for j := range 1 + r.IntN(2) {
			size := 64<<10 + r.IntN(800<<10)
			var data []byte
			if len(libs) > 0 {
				data = libs[(i*2+j)%len(libs)]
			} else {
				data = imagetest.Random(uint64(i*10+j), size)
			}
			base = append(base, imagetest.File{Path: fmt.Sprintf("usr/lib/x86_64-linux-gnu/%s.so.%d", name, j), Data: data})
		}
	}
	base = append(base, imagetest.File{Path: "var/lib/dpkg/status", Data: []byte(status.String())})

	var node []imagetest.File
	for i := range nNpm {
		name := fmt.Sprintf("pkg-%02d", i)
		if i%9 == 0 {
			name = fmt.Sprintf("@scope%d/pkg-%02d", i%3, i)
		}
		dir := "srv/app/node_modules/" + name + "/"
		pj := fmt.Sprintf(`{"name":%q,"version":"%d.%d.%d","description":"A package of the generated tree, with the fields npm writes","main":"index.js","license":"MIT","author":"Someone <someone@example.org>","repository":{"type":"git","url":"git+https://github.com/example/%s.git"},"bugs":{"url":"https://github.com/example/issues"},"homepage":"https://github.com/example#readme","keywords":["a","b","c","d"],"engines":{"node":">=14"},"files":["index.js","lib/"],"dependencies":{"dep-a":"^1.2.0","dep-b":"~2.0.1"},"devDependencies":{"mocha":"^10.0.0","eslint":"^8.0.0"},"scripts":{"test":"mocha","lint":"eslint ."}}`,
			name, i/10, i%10, i%3, strings.ReplaceAll(name, "/", "-"))
		node = append(node,
			imagetest.File{Path: dir + "package.json", Data: []byte(pj)},
			imagetest.File{Path: dir + "index.js", Data: []byte(strings.Repeat("module.exports = require('./lib/impl');\n// comment line of generated code\n", 20+r.IntN(200)))},
			imagetest.File{Path: dir + "lib/impl.js", Data: []byte(strings.Repeat("function f(a, b) { return a + b }\n", 50+r.IntN(500)))},
			imagetest.File{Path: dir + "README.md", Data: []byte(strings.Repeat("# readme\nUsage notes of the package.\n", 30+r.IntN(100)))},
			imagetest.File{Path: dir + "LICENSE", Data: []byte("MIT License\n\nPermission is hereby granted, free of charge, to any person obtaining a copy...\n")},
		)
	}
	return [][]imagetest.File{base, goBinaries(tb), node}
}

// hostLibs returns the machine's own ELF shared libraries of 64 KiB to 1
// MiB (/usr/lib/<multiarch triplet>, sorted by name): the image's
// libraries are real machine code, which compresses and scans as a real
// Debian image's do (random bytes would neither compress nor cost the walk
// any decompression). Nil if there are none; the image then uses random
// bytes of the same sizes.
func hostLibs(tb testing.TB) [][]byte {
	tb.Helper()
	triplet := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}[runtime.GOARCH]
	if triplet == "" {
		return nil
	}
	paths, _ := filepath.Glob(filepath.Join("/usr/lib", triplet, "*.so*"))
	slices.Sort(paths)
	var libs [][]byte
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() < 64<<10 || fi.Size() > 1<<20 {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.HasPrefix(b, []byte("\x7fELF")) {
			continue
		}
		libs = append(libs, b)
	}
	if len(libs) == 0 {
		tb.Logf("no shared libraries in /usr/lib/%s: the image's libraries are random bytes", triplet)
	}
	return libs
}
