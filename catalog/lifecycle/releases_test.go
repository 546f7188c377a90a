package lifecycle_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog/lifecycle"
)

// releasesJSON is a data file in endoflife.date's shape, with the fields
// its API really answers (numbers as cycles, booleans as dates, null
// links).
const releasesJSON = `{
  "products": {
    "debian": [
      {"cycle": "12", "codename": "Bookworm", "releaseDate": "2023-06-10", "eol": "2026-06-10", "extendedSupport": "2028-06-30", "link": "https://www.debian.org/News/2023/20230610", "latest": "12.7", "latestReleaseDate": "2024-08-31", "lts": false, "support": "2026-06-10"},
      {"cycle": "11", "codename": "Bullseye", "releaseDate": "2021-08-14", "eol": "2024-08-14", "extendedSupport": "2026-08-31", "link": null, "latest": "11.11", "latestReleaseDate": "2024-08-31", "lts": false},
      {"cycle": "10", "codename": "Buster", "releaseDate": "2019-07-06", "eol": true, "latest": "10.13", "lts": false}
    ],
    "go": [
      {"cycle": "1.22", "releaseDate": "2024-02-06", "eol": "2026-08-01T00:00:00+02:00", "support": true, "latest": "1.22.12", "latestReleaseDate": "2025-02-04"},
      {"cycle": "1.2", "releaseDate": "2013-12-01", "eol": "2014-06-18", "latest": "1.2.2"},
      {"cycle": 1.23, "releaseDate": "2024-08-13", "eol": false, "latest": "1.23.6"}
    ],
    "nginx": [
      {"cycle": "1.26", "releaseDate": "2024-04-23", "eol": "2025-04-23", "latest": "1.26.3"},
      {"cycle": "1.27", "releaseDate": "2024-05-29", "eol": false, "latest": "1.27.4"}
    ]
  },
  "images": [
    {"product": "nginx", "repository": "*/golden/library/nginx"}
  ]
}`

func readReleases(t testing.TB) *lifecycle.Releases {
	t.Helper()
	rel, err := lifecycle.ReadReleases(strings.NewReader(releasesJSON))
	require.NoError(t, err)
	return rel
}

func TestReadReleases(t *testing.T) {
	rel := readReleases(t)
	require.Len(t, rel.Products["debian"], 3)
	d12 := rel.Products["debian"][0]
	assert.Equal(t, "12", d12.Cycle)
	assert.Equal(t, time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC), d12.EOL.Date)
	assert.Equal(t, time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC), d12.Support.Date)
	assert.False(t, d12.LTS.True)
	buster := rel.Products["debian"][2]
	assert.True(t, buster.EOL.True && buster.EOL.Date.IsZero(), "eol true: ended, date unknown")
	goCycles := rel.Products["go"]
	assert.Equal(t, time.Date(2026, 7, 31, 22, 0, 0, 0, time.UTC), goCycles[0].EOL.Date, "a timestamp with an offset is kept as its instant, in UTC")
	assert.Equal(t, "1.23", goCycles[2].Cycle, "a numeric cycle is read as its literal")
	assert.True(t, goCycles[2].EOL.Set && !goCycles[2].EOL.True)

	for _, tc := range []struct{ product, version, want string }{
		{"go", "1.22.5", "1.22"},
		{"go", "go1.22.5", "1.22"},
		{"go", "1.2.2", "1.2"},
		{"go", "1.20.1", ""}, // not "1.2"
		{"go", "1.23", "1.23"},
		{"nginx", "1.27.3-alpine", "1.27"},
		{"nginx", "latest", ""},
		{"debian", "12", "12"},
		{"debian", "v12", "12"},
		{"debian", "1:12", "12"},
		{"debian", "120", ""},
		{"unknown", "1", ""},
	} {
		c := rel.CycleOf(tc.product, tc.version)
		got := ""
		if c != nil {
			got = c.Cycle
		}
		assert.Equal(t, tc.want, got, "%s %s", tc.product, tc.version)
	}
}

func TestReadReleasesStrict(t *testing.T) {
	for name, tc := range map[string]struct {
		doc  string
		path string
		is   error
	}{
		"unknown top field":   {doc: `{"products":{},"extra":1}`, path: "extra", is: lifecycle.ErrUnknownField},
		"unknown cycle field": {doc: `{"products":{"go":[{"cycle":"1.22","eol":false,"eolDate":"2026-01-01"}]}}`, path: "products.go[0].eolDate", is: lifecycle.ErrUnknownField},
		"unknown mapping field": {doc: `{"products":{"go":[{"cycle":"1","eol":false}]},"images":[{"product":"go","purl":"pkg:golang/stdlib","weight":2}]}`,
			path: "images[0]", is: lifecycle.ErrUnknownField},
		"impossible date":         {doc: `{"products":{"go":[{"cycle":"1.22","eol":"2026-02-30"}]}}`, path: "products.go[0].eol", is: lifecycle.ErrImpossibleDate},
		"month 13":                {doc: `{"products":{"go":[{"cycle":"1.22","eol":false,"releaseDate":"2024-13-01"}]}}`, path: "products.go[0].releaseDate", is: lifecycle.ErrImpossibleDate},
		"eol before release":      {doc: `{"products":{"go":[{"cycle":"1.22","releaseDate":"2024-02-06","eol":"2023-01-01"}]}}`, path: "products.go[0]", is: lifecycle.ErrImpossibleDate},
		"support after eol":       {doc: `{"products":{"go":[{"cycle":"1.22","support":"2027-01-01","eol":"2026-01-01"}]}}`, path: "products.go[0]", is: lifecycle.ErrImpossibleDate},
		"date as number":          {doc: `{"products":{"go":[{"cycle":"1.22","eol":20260101}]}}`, path: "products.go[0].eol", is: lifecycle.ErrImpossibleDate},
		"no eol":                  {doc: `{"products":{"go":[{"cycle":"1.22"}]}}`, path: "products.go[0]"},
		"no cycle":                {doc: `{"products":{"go":[{"eol":false}]}}`, path: "products.go[0]"},
		"duplicate cycle":         {doc: `{"products":{"go":[{"cycle":"1.22","eol":false},{"cycle":"1.22","eol":true}]}}`, path: "products.go[1].cycle"},
		"mapping unknown product": {doc: `{"products":{},"images":[{"product":"go","purl":"pkg:golang/stdlib"}]}`, path: "images[0].product"},
		"mapping two selectors": {doc: `{"products":{"go":[{"cycle":"1","eol":false}]},"images":[{"product":"go","purl":"pkg:golang/stdlib","distribution":"Debian"}]}`,
			path: "images[0]"},
		"mapping bad purl":    {doc: `{"products":{"go":[{"cycle":"1","eol":false}]},"images":[{"product":"go","purl":"golang/stdlib"}]}`, path: "images[0].purl"},
		"mapping bad pattern": {doc: `{"products":{"go":[{"cycle":"1","eol":false}]},"images":[{"product":"go","repository":"["}]}`, path: "images[0].repository"},
		"not json":            {doc: `{"products":`},
		"trailing data":       {doc: `{"products":{}} {}`},
		"trailing garbage":    {doc: `{"products":{}} ]`},
		"products not object": {doc: `{"products":[]}`, path: "products"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := lifecycle.ReadReleases(strings.NewReader(tc.doc))
			require.Error(t, err)
			assert.ErrorIs(t, err, lifecycle.ErrInvalidData)
			var de *lifecycle.DataError
			require.True(t, errors.As(err, &de), "a *DataError, got %T %v", err, err)
			assert.Equal(t, tc.path, de.Path, "got %v", err)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
		})
	}
}

func TestParseProductAPIResponse(t *testing.T) {
	// What https://endoflife.date/api/alpine.json answers, trimmed.
	cycles, err := lifecycle.ParseProduct("alpine", []byte(`[
	  {"cycle":"3.20","releaseDate":"2024-05-22","eol":"2026-04-01","latest":"3.20.3","latestReleaseDate":"2024-09-06","lts":false},
	  {"cycle":"3.19","releaseDate":"2023-12-07","eol":"2025-11-01","latest":"3.19.4","latestReleaseDate":"2024-09-06","lts":false}
	]`))
	require.NoError(t, err)
	require.Len(t, cycles, 2)
	assert.Equal(t, time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), cycles[0].EOL.Date)
}

func FuzzReadReleases(f *testing.F) {
	f.Add(releasesJSON)
	f.Add(`{"products":{"go":[{"cycle":1.5,"eol":true,"support":"2020-01-01"}]}}`)
	f.Add(`{"products":{"x":[{"cycle":"1","eol":"2026-01-01T00:00:00+14:00","releaseDate":"2025-12-31T23:00:00-12:00"}]}}`)
	f.Fuzz(func(t *testing.T, doc string) {
		rel, err := lifecycle.ReadReleases(strings.NewReader(doc))
		if err != nil {
			if !errors.Is(err, lifecycle.ErrInvalidData) {
				t.Fatalf("error %v is not ErrInvalidData", err)
			}
			return
		}
		for name, cs := range rel.Products {
			for _, c := range cs {
				if c.Cycle == "" || !c.EOL.Set {
					t.Fatalf("%s: accepted a cycle without name or eol: %+v", name, c)
				}
				if !c.EOL.Date.IsZero() && !c.ReleaseDate.IsZero() && c.EOL.Date.Before(c.ReleaseDate.Time) {
					t.Fatalf("%s %s: accepted an eol before the release", name, c.Cycle)
				}
				_ = rel.CycleOf(name, c.Cycle+".1")
			}
		}
	})
}
