package lifecycle_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/lifecycle"
)

// ExamplePolicy_Resolve finds the end of life of an image from a rule and
// an endoflife.date-shaped data file: its base OS ends first.
func ExamplePolicy_Resolve() {
	rel, err := lifecycle.ReadReleases(strings.NewReader(`{
	  "products": {
	    "debian": [{"cycle": "12", "releaseDate": "2023-06-10", "eol": "2026-06-10", "support": "2026-06-10"}]
	  }
	}`))
	if err != nil {
		panic(err)
	}
	eol, _ := lifecycle.ParseDate("2027-01-01")
	p, err := lifecycle.Compile(lifecycle.Config{
		Releases: rel,
		Rules: []lifecycle.Rule{{Name: "nginx 1.26", Repository: "registry.corp/golden/library/nginx", Tag: "1.26*",
			EndOfLife: eol, Replacement: "registry.corp/golden/library/nginx:1.28"}},
	})
	if err != nil {
		panic(err)
	}
	e := &catalog.Entry{Repository: "registry.corp/golden/library/nginx", Digest: digest.FromString("nginx 1.26.3"), Tags: []string{"1.26.3"},
		Children: []catalog.Child{{Packages: []catalog.Package{{Name: "base-files", Version: "12.7", Ecosystem: "Debian:12"}}}}}
	res, err := p.Resolve(lifecycle.Facts{Entry: e})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.EndOfLife.Format(time.DateOnly), res.Role, res.Source, res.Detail)
	fmt.Println("replacement:", res.Replacement)
	for _, s := range res.Sources {
		fmt.Println(" ", s.Role, s.Source, s.Date.Format(time.DateOnly), s.Detail)
	}
	for _, now := range []string{"2026-01-01", "2026-03-12", "2026-06-10"} {
		t, _ := time.Parse(time.DateOnly, now)
		fmt.Println(now, p.StatusAt(res, t))
	}
	// Output:
	// 2026-06-10 base-os data-file debian 12
	// replacement: registry.corp/golden/library/nginx:1.28
	//   base-os data-file 2026-06-10 debian 12
	//   image rule 2027-01-01 nginx 1.26
	// 2026-01-01 active
	// 2026-03-12 deprecated
	// 2026-06-10 retired
}
