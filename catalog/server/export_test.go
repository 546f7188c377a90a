package server_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/csv"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
	"github.com/cssc-go/cssc/catalog/server"
)

// TestFindingsExportWalksPages exports the findings of a catalog larger
// than one search page of the export (500) and than many of its reads
// (catalog.GetMany, 50 at a time): every image comes once, in search
// order (repository, digest), with each of its distinct findings (ID,
// package, version), in JSON and in CSV. On every store.
func TestFindingsExportWalksPages(t *testing.T) {
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 16, Entries: 560, Packages: 4})
	type image struct{ repo, digest string }
	var want []image
	wantRows := map[image]int{}
	slices.SortFunc(entries, func(a, b *catalog.Entry) int {
		return cmp.Or(strings.Compare(a.Repository, b.Repository), strings.Compare(string(a.Digest), string(b.Digest)))
	})
	for _, e := range entries {
		keys := map[[3]string]bool{}
		for _, c := range e.Children {
			for _, f := range c.Findings {
				keys[[3]string{f.ID, f.Package, f.Version}] = true
			}
		}
		if len(keys) > 0 {
			im := image{e.Repository, e.Digest.String()}
			want = append(want, im)
			wantRows[im] = len(keys)
		}
	}
	require.Greater(t, len(want), 110, "the corpus has images with findings over several reads")
	for _, name := range []string{"memory", "sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			store := accessStores[name](t)
			for _, e := range entries {
				require.NoError(t, store.Put(context.Background(), e))
			}
			h, err := server.New(server.Options{Store: store, MaxExportEntries: 1000})
			require.NoError(t, err)
			e := &env{srv: httptestServer(t, h)}

			r := e.get(t, "/api/v1/findings")
			require.Equal(t, 200, r.status, "%s", r.body)
			var rows []server.ExportRow
			r.json(t, &rows)
			var got []image
			gotRows := map[image]int{}
			for _, row := range rows {
				im := image{row.Repository, row.Digest}
				if len(got) == 0 || got[len(got)-1] != im {
					got = append(got, im)
				}
				gotRows[im]++
			}
			assert.Equal(t, want, got, "the images with findings, each once, in search order")
			assert.Equal(t, wantRows, gotRows, "each image's distinct findings")

			c := e.get(t, "/api/v1/findings?format=csv")
			require.Equal(t, 200, c.status)
			recs, err := csv.NewReader(bytes.NewReader(c.body)).ReadAll()
			require.NoError(t, err)
			assert.Len(t, recs, 1+len(rows), "the CSV export has the JSON export's rows")
		})
	}
}
