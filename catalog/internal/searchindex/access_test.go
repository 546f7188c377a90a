package searchindex

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
)

// TestSearchAccessMatchesReference: every kind of query, seen by callers
// who see different parts of the catalog, gives what the reference
// semantics select (catalog.Query.Matches with the visibility), through
// loads, changes one by one and in bulk (the order kept or sorted once,
// slots in and out of result order), a compaction and a reload.
func TestSearchAccessMatchesReference(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	policy, err := catalog.NewAccessPolicy(catalogtest.AccessRules())
	require.NoError(t, err)
	viewers := map[string]*catalog.Visibility{"outsider": policy.For(), "pay": policy.For("pay"), "data": policy.For("data"), "all": policy.For("pay", "data")}
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 23, Entries: 400})
	f := newMemFeed()
	ix := New()
	for _, e := range entries[:250] {
		f.put(e)
	}
	require.NoError(t, ix.Refresh(ctx, f))
	checkAll := func(stage string) {
		t.Helper()
		qs := queries(rng, f.all())
		qs["small pages"] = catalog.Query{Limit: 3}
		for name, q := range qs {
			for vn, v := range viewers {
				q.Visibility = v
				check(t, ix, f, fmt.Sprintf("%s: %s: %s", stage, vn, name), q)
			}
		}
	}
	checkAll("loaded")
	for round, n := range []int{3, 40, 400} {
		for range n {
			switch k := rng.IntN(10); {
			case k < 5:
				e := entries[rng.IntN(len(entries))].Clone()
				if rng.IntN(4) == 0 { // a new repository, hidden or not
					e.Repository = fmt.Sprintf("registry.corp/golden/%s/new%02d", []string{"payments", "web"}[rng.IntN(2)], rng.IntN(20))
				}
				f.put(e)
			case k < 8 && len(f.entries) > 0:
				all := f.all()
				f.delete(all[rng.IntN(len(all))])
			default:
				e := entries[rng.IntN(len(entries))].Clone()
				e.Owner = fmt.Sprintf("owner-%d", rng.IntN(3))
				e.Normalize()
				f.put(e)
			}
		}
		require.NoError(t, ix.Refresh(ctx, f))
		t.Logf("round %d: monotone %v, %d entries", round, ix.st.monotone, len(f.entries))
		checkAll(fmt.Sprintf("round %d (monotone %v)", round, ix.st.monotone))
	}
	ix.st.compact()
	checkAll("compacted")
}
