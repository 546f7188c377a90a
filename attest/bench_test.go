package attest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// BenchmarkDiscoverMemory discovers the every-form fixture (an index with
// two platforms and 12 items) in memory: the cost of parsing.
func BenchmarkDiscoverMemory(b *testing.B) {
	ctx := context.Background()
	repo, err := registry.NewClient(registry.Options{}).Repository(ctx, "mem:bench")
	require.NoError(b, err)
	f := buildFixture(ctx, b, repo)
	b.ReportAllocs()
	for b.Loop() {
		md, err := attest.Discover(ctx, repo, f.index, nil)
		if err != nil || len(md.Items) != 12 {
			b.Fatal(err, len(md.Items))
		}
	}
}

// BenchmarkDiscoverRegistry discovers the same fixture over HTTP on a
// loopback registry with the referrers API: the cost of the requests.
func BenchmarkDiscoverRegistry(b *testing.B) {
	ctx := context.Background()
	repo := registrytest.Start(b, registrytest.OCI).Repository(b, "bench")
	f := buildFixture(ctx, b, repo)
	b.ReportAllocs()
	for b.Loop() {
		md, err := attest.Discover(ctx, repo, f.index, nil)
		if err != nil || len(md.Items) != 12 {
			b.Fatal(err, len(md.Items))
		}
	}
}

func BenchmarkParseStatement(b *testing.B) {
	data := provV1(b, subj)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		st, err := attest.ParseStatement(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := attest.ParseProvenance(st); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEnrich runs the four default enrichers for one image.
func BenchmarkEnrich(b *testing.B) {
	ctx := context.Background()
	s := testSubject(subj)
	e := defaultEnrichers()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Enrich(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}
