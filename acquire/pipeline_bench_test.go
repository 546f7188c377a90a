package acquire_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/imagefs/imagetest"
)

// BenchmarkPipeline200MB runs the whole pipeline (import, verify, SBOM,
// OSV and clamd scans, attach, sign, decide, promote) on a 200 MB image
// between two loopback registries: the figure the acquire issue asks for.
//
//	go test -run '^$' -bench Pipeline200MB -benchtime 3x ./acquire
func BenchmarkPipeline200MB(b *testing.B) {
	ctx := context.Background()
	f := newPipeFixture(b, pipeOptions{})
	repo := f.src.Repository(b, "bench/big")
	var layers []imagetest.Blob
	layers = append(layers, imagetest.Layer(imagetest.OSRelease("debian", "12", "bookworm"), imagetest.DpkgStatus(imagetest.Package{Name: "base-files", Version: "12.4+deb12u7"})))
	// 4 layers of 5 files of 10 MiB: below clamd's default StreamMaxLength.
	for i := range 4 {
		var files []imagetest.File
		for j := range 5 {
			files = append(files, imagetest.File{Path: fmt.Sprintf("data/%d/blob%d.bin", i, j), Data: imagetest.Random(uint64(10*i+j), 10<<20)})
		}
		layers = append(layers, imagetest.LayerWith(imagetest.Uncompressed, files...))
	}
	desc, err := imagetest.Image{Layers: layers}.Push(ctx, repo)
	require.NoError(b, err)
	require.NoError(b, repo.Tag(ctx, desc, "1.0"))
	var size int64
	for _, l := range layers {
		size += l.Desc.Size
	}
	p := f.pipeline(b)
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		rec, err := p.Run(ctx, f.src.Location("bench/big")+":1.0", acquire.RunOptions{Repository: fmt.Sprintf("bench/run%d", i)})
		require.NoError(b, err)
		require.Equal(b, acquire.OutcomePromoted, rec.Outcome, rec.Reason)
	}
}
