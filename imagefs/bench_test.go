package imagefs_test

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/cssc-go/cssc/imagefs"
	"github.com/cssc-go/cssc/imagefs/imagetest"
)

// BenchmarkWalk walks a 2,000-file, ~64 MiB image from an in-memory
// repository, reading every file, per layer compression.
func BenchmarkWalk(b *testing.B) {
	var files []imagetest.File
	var total int64
	for i := range 2000 {
		// Half compressible text, half random bytes.
		size := 1024 + (i*7919)%(64<<10)
		data := imagetest.Random(uint64(i), size)
		if i%2 == 0 {
			for j := range data {
				data[j] = 'a' + data[j]%8
			}
		}
		files = append(files, imagetest.File{Path: fmt.Sprintf("d%02d/f%d", i%50, i), Data: data})
		total += int64(size)
	}
	for _, c := range []struct {
		name string
		comp imagetest.Compression
	}{{"gzip", imagetest.Gzip}, {"zstd", imagetest.Zstd}, {"uncompressed", imagetest.Uncompressed}} {
		b.Run(c.name, func(b *testing.B) {
			repo := memRepo(b)
			desc := push(b, repo, imagetest.LayerWith(c.comp, files[:1000]...), imagetest.LayerWith(c.comp, files[1000:]...))
			b.SetBytes(total)
			b.ReportAllocs()
			for b.Loop() {
				n := 0
				err := imagefs.Walk(context.Background(), repo, desc, imagefs.WalkOptions{}, func(_ context.Context, f *imagefs.File, r io.Reader) error {
					n++
					_, err := io.Copy(io.Discard, r)
					return err
				})
				if err != nil || n != len(files) {
					b.Fatalf("walk: %v, %d files", err, n)
				}
			}
		})
	}
}
