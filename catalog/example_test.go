package catalog_test

import (
	"context"
	"fmt"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
)

func catalogtestCorpus() []*catalog.Entry {
	return catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 42, Entries: 8})
}

// A reverse query: which images carry a package in a vulnerable version
// range, with facet counts over the matches.
func ExampleQuery() {
	ctx := context.Background()
	store := catalog.NewMemoryStore()
	defer store.Close()
	for _, e := range []*catalog.Entry{
		{Repository: "registry.corp/golden/library/nginx", Digest: catalogtest.Digest("nginx"), Children: []catalog.Child{{
			Digest: catalogtest.Digest("nginx"), Platform: "linux/amd64",
			Packages: []catalog.Package{{Name: "libssl3", SourceName: "openssl", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12"}},
		}}},
		{Repository: "registry.corp/golden/library/redis", Digest: catalogtest.Digest("redis"), Children: []catalog.Child{{
			Digest: catalogtest.Digest("redis"), Platform: "linux/arm64",
			Packages: []catalog.Package{{Name: "libssl3", SourceName: "openssl", Version: "3.0.14-1~deb12u1", Ecosystem: "Debian:12"}},
		}}},
	} {
		if err := store.Put(ctx, e); err != nil {
			fmt.Println(err)
			return
		}
	}
	res, err := store.Search(ctx, catalog.Query{
		Package: &catalog.PackageQuery{Name: "openssl", Ecosystem: "Debian", Range: "< 3.0.13-1~deb12u1"},
		Facets:  true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range res.Entries {
		fmt.Println(s.Repository, s.Platforms)
	}
	fmt.Println("total", res.Total, "platforms", res.Facets.Platform)
	// Output:
	// registry.corp/golden/library/nginx [linux/amd64]
	// total 1 platforms [{linux/amd64 1}]
}
