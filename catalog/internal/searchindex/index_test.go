package searchindex

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
)

// memFeed is a change feed over entries kept in memory, as a store keeps
// them: ids given in insertion order, a change per write.
type memFeed struct {
	nextID  int64
	ids     map[string]int64
	entries map[int64]*catalog.Entry
	changes []struct{ seq, id int64 }
	seq     int64
	pruned  int64 // changes up to this number are forgotten
}

func newMemFeed() *memFeed {
	return &memFeed{ids: map[string]int64{}, entries: map[int64]*catalog.Entry{}}
}

func (f *memFeed) put(e *catalog.Entry) {
	id, ok := f.ids[e.Key()]
	if !ok {
		f.nextID++
		id = f.nextID
		f.ids[e.Key()] = id
	}
	f.entries[id] = e
	f.change(id)
}

func (f *memFeed) delete(e *catalog.Entry) {
	id := f.ids[e.Key()]
	delete(f.ids, e.Key())
	delete(f.entries, id)
	f.change(id)
}

func (f *memFeed) change(id int64) {
	f.seq++
	f.changes = append(f.changes, struct{ seq, id int64 }{f.seq, id})
}

func (f *memFeed) Head(ctx context.Context) (int64, int64, error) {
	for _, c := range f.changes {
		if c.seq > f.pruned {
			return c.seq, f.seq, nil
		}
	}
	return 0, f.seq, nil
}

func (f *memFeed) Changes(ctx context.Context, after int64, fn func(seq, id int64, rec []byte) error) error {
	for _, c := range f.changes {
		if c.seq <= after || c.seq <= f.pruned {
			continue
		}
		var rec []byte
		if e, ok := f.entries[c.id]; ok {
			rec = Encode(e)
		}
		if err := fn(c.seq, c.id, rec); err != nil {
			return err
		}
	}
	return nil
}

func (f *memFeed) Snapshot(ctx context.Context, fn func(id int64, rec []byte) error) (int64, error) {
	for id, e := range f.entries {
		if err := fn(id, Encode(e)); err != nil {
			return 0, err
		}
	}
	return f.seq, nil
}

func (f *memFeed) all() []*catalog.Entry {
	out := make([]*catalog.Entry, 0, len(f.entries))
	for _, e := range f.entries {
		out = append(out, e)
	}
	return out
}

// check compares every page of q with the reference semantics.
func check(t *testing.T, ix *Index, f *memFeed, name string, q catalog.Query) {
	t.Helper()
	q.Now = catalogtest.Now()
	q.Facets = true
	q, err := q.Validate()
	require.NoError(t, err)
	var want []*catalog.Entry
	for _, e := range f.all() {
		if q.Matches(e) {
			want = append(want, e)
		}
	}
	slices.SortFunc(want, func(a, b *catalog.Entry) int {
		return cmp.Or(strings.Compare(a.Repository, b.Repository), strings.Compare(string(a.Digest), string(b.Digest)))
	})
	got := []int64{}
	for page := 0; ; page++ {
		res, err := ix.Search(q)
		require.NoError(t, err)
		require.Equal(t, len(want), res.Total, "%s: total", name)
		if page == 0 {
			require.Equal(t, catalog.CountFacets(want, q.Now, q.FacetLimit), res.Facets, "%s: facets", name)
		}
		got = append(got, res.IDs...)
		if res.Next == "" {
			break
		}
		require.NotEmpty(t, res.IDs)
		q.Cursor = res.Next
	}
	wantIDs := make([]int64, len(want))
	for i, e := range want {
		wantIDs[i] = f.ids[e.Key()]
	}
	require.Equal(t, wantIDs, got, "%s: entries", name)

	// Without facets (other paths), the same pages.
	q.Facets, q.Cursor = false, ""
	got = []int64{}
	for {
		res, err := ix.Search(q)
		require.NoError(t, err)
		require.Nil(t, res.Facets)
		require.Equal(t, len(want), res.Total, "%s: total without facets", name)
		got = append(got, res.IDs...)
		if res.Next == "" {
			break
		}
		require.NotEmpty(t, res.IDs)
		q.Cursor = res.Next
	}
	require.Equal(t, wantIDs, got, "%s: entries without facets", name)
}

// queries returns queries of every kind over entries, some drawn at random.
func queries(rng *rand.Rand, entries []*catalog.Entry) map[string]catalog.Query {
	yes, no := true, false
	qs := map[string]catalog.Query{
		"everything":          {},
		"text":                {Text: "payments"},
		"text case":           {Text: "PayMents APP0"},
		"text short":          {Text: "ap"},
		"text letter":         {Text: "q"},
		"text none":           {Text: "no-such-thing"},
		"text unicode":        {Text: "päyments ✓"},
		"text across terms":   {Text: "payments/app01"},
		"text package":        {Text: "-zlib"},
		"text source":         {Text: "src01"},
		"text alias":          {Text: "ghsa-01"},
		"text label":          {Text: "silver pci"},
		"repository":          {Repository: entries[0].Repository},
		"repository prefix":   {Repository: "mirror.corp:5000/golden/"},
		"repository none":     {Repository: "nowhere/"},
		"digest":              {Digest: entries[1].Digest},
		"child digest":        {Digest: entries[1].Children[len(entries[1].Children)-1].Digest},
		"tag":                 {Tag: "latest"},
		"platform":            {Platform: "linux/arm64"},
		"status":              {Status: catalog.StatusDeprecated},
		"ceiling":             {MaxSeverity: catalog.SeverityHigh},
		"ceiling unscanned":   {MaxSeverity: catalog.SeverityUnscanned},
		"fixable":             {Fixable: true},
		"license":             {License: "MIT"},
		"signer unsigned":     {Signer: "C=US, ST=WA, O=Corp, CN=Corp Legacy Signing", Trusted: &no},
		"owner":               {Owner: "sre"},
		"label key":           {Label: "pci"},
		"label pair":          {Label: "tier=gold"},
		"label wrong":         {Label: "tier=platinum"},
		"trusted":             {Trusted: &yes},
		"vulnerability":       {Vulnerability: "cve-2024-0042"},
		"alias":               {Vulnerability: "GHSA-0042-XXXX"},
		"package":             {Package: &catalog.PackageQuery{Name: catalogtest.PackageName(5)}},
		"package range":       {Package: &catalog.PackageQuery{Name: catalogtest.PackageName(6), Range: ">= 1.2.0, < 2.5.0"}},
		"package eco":         {Package: &catalog.PackageQuery{Name: catalogtest.PackageName(9), Ecosystem: "Debian"}},
		"source package":      {Package: &catalog.PackageQuery{Name: "src002"}},
		"eol window":          {EndOfLifeAfter: catalogtest.Now(), EndOfLifeBefore: catalogtest.Now().Add(90 * 24 * time.Hour)},
		"eol before, nanos":   {EndOfLifeBefore: catalogtest.Now().Add(30*24*time.Hour + time.Nanosecond)},
		"combined":            {Text: "app", Platform: "linux/amd64", Status: catalog.StatusActive, MaxSeverity: catalog.SeverityHigh},
		"combined reverse":    {Vulnerability: "CVE-2024-0001", Platform: "linux/arm64", Text: "golden"},
		"facet limit, paging": {FacetLimit: 2, Limit: 7},
	}
	for i := range 30 {
		e := entries[rng.IntN(len(entries))]
		terms := e.Terms()
		term := terms[rng.IntN(len(terms))]
		a := rng.IntN(len(term))
		b := a + 1 + rng.IntN(len(term)-a)
		q := catalog.Query{Text: strings.ToUpper(term[a:b]), Limit: 1 + rng.IntN(60)}
		switch i % 5 {
		case 1:
			q.Platform = e.Platforms[0]
		case 2:
			q.MaxSeverity = catalog.SeverityCritical
		case 3:
			if len(e.Children[0].Packages) > 0 {
				p := e.Children[0].Packages[0]
				q.Package = &catalog.PackageQuery{Name: p.Name, Range: "<= " + p.Version}
			}
		case 4:
			q.Repository = e.Repository
		}
		qs[fmt.Sprintf("random %d %q", i, q.Text)] = q
	}
	return qs
}

func TestSearchMatchesReference(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 21, Entries: 300})
	f := newMemFeed()
	ix := New()
	_, err := ix.Search(catalog.Query{})
	require.ErrorIs(t, err, ErrNotLoaded)
	for _, e := range entries[:200] {
		f.put(e)
	}
	require.NoError(t, ix.Refresh(ctx, f))
	for name, q := range queries(rng, entries[:200]) {
		check(t, ix, f, "loaded: "+name, q)
	}

	// Changes, a few at a time (the order kept change by change) and in
	// bulk (sorted once).
	for round, n := range []int{5, 400} {
		for range n {
			switch k := rng.IntN(10); {
			case k < 4:
				f.put(entries[rng.IntN(len(entries))])
			case k < 7 && len(f.entries) > 0:
				all := f.all()
				f.delete(all[rng.IntN(len(all))])
			default:
				e := entries[rng.IntN(len(entries))].Clone()
				e.Owner = fmt.Sprintf("owner-%d", rng.IntN(3))
				e.Tags = append(e.Tags, fmt.Sprintf("Moved-%d", rng.IntN(5)))
				e.Labels = map[string]string{"k=x": "v", "tier": "gold"}
				if len(e.Children[0].Packages) > 0 {
					e.Children[0].Packages = e.Children[0].Packages[1:]
				}
				e.Normalize()
				f.put(e)
			}
		}
		require.NoError(t, ix.Refresh(ctx, f))
		qs := queries(rng, f.all())
		qs["moved tag"] = catalog.Query{Tag: "Moved-1", Text: "moved-1"}
		qs["label with ="] = catalog.Query{Label: "k=x=v"}
		qs["label key with ="] = catalog.Query{Label: "k"}
		for name, q := range qs {
			check(t, ix, f, fmt.Sprintf("round %d: %s", round, name), q)
		}
	}

	// The same image in two repositories.
	twin := entries[5].Clone()
	twin.Repository = "registry.corp/golden/twin"
	f.put(twin)
	f.put(entries[5])
	require.NoError(t, ix.Refresh(ctx, f))
	check(t, ix, f, "digest in two repositories", catalog.Query{Digest: twin.Digest})
	check(t, ix, f, "child digest in two repositories", catalog.Query{Digest: twin.Children[len(twin.Children)-1].Digest})
	f.delete(entries[5])
	require.NoError(t, ix.Refresh(ctx, f))
	check(t, ix, f, "digest of one repository left", catalog.Query{Digest: twin.Digest})

	// Compacted in place: the same answers.
	ix.st.compact()
	for name, q := range queries(rng, f.all()) {
		check(t, ix, f, "compacted: "+name, q)
	}

	// Behind the first change kept: reload.
	f.pruned = f.seq
	f.put(entries[0])
	f.delete(entries[0])
	f.put(entries[1].Clone())
	require.NoError(t, ix.Refresh(ctx, f))
	check(t, ix, f, "after a reload", catalog.Query{Text: "app"})
	assert.Equal(t, f.seq, ix.Stats().Seq)
}

// TestReleasedValues: values no entry has any more leave the
// dictionaries, and their ids are reused.
func TestReleasedValues(t *testing.T) {
	ctx := context.Background()
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 22, Entries: 50})
	f := newMemFeed()
	ix := New()
	for _, e := range entries {
		f.put(e)
	}
	require.NoError(t, ix.Refresh(ctx, f))
	full := ix.Stats()
	for _, e := range entries {
		f.delete(e)
	}
	require.NoError(t, ix.Refresh(ctx, f))
	empty := ix.Stats()
	assert.Zero(t, empty.Entries)
	assert.Zero(t, empty.Terms)
	assert.Zero(t, empty.PackageVersions)
	assert.Zero(t, empty.Vulnerabilities)
	assert.Zero(t, empty.Postings-2*empty.Entries)
	st := ix.st
	assert.Empty(t, st.trigrams)
	assert.Empty(t, st.digests.one)
	assert.Empty(t, st.digests.more)
	assert.Zero(t, st.packages.names.live())
	assert.Empty(t, st.packages.versions)
	for _, e := range entries {
		f.put(e)
	}
	require.NoError(t, ix.Refresh(ctx, f))
	again := ix.Stats()
	assert.Equal(t, full.Terms, again.Terms)
	assert.Equal(t, len(st.dicts[secTerm].keys), full.Terms, "term ids reused")
	check(t, ix, f, "after reuse", catalog.Query{Text: "pkg0"})
}

// TestTerms: the terms the index derives from a record are the entry's.
func TestTerms(t *testing.T) {
	for _, e := range catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 23, Entries: 100}) {
		e.Labels = map[string]string{"Ünïcode": "VALUE"}
		e.Children[0].Findings = append(e.Children[0].Findings, catalog.Finding{ID: "CVE-2024-\u212a", Aliases: []string{"ALIAS-1"}})
		e.Normalize()
		st := newState()
		require.NoError(t, st.decoded.decode(Encode(e)))
		st.put(1, &st.decoded)
		var got []string
		vals, ends := st.unpack(&st.recs[0], nil)
		for _, id := range section(vals, &ends, secTerm) {
			got = append(got, st.dicts[secTerm].keys[id])
		}
		slices.Sort(got)
		assert.Equal(t, e.Terms(), got, "terms of %s", e.Key())
	}
}

func TestFold(t *testing.T) {
	for _, pair := range [][2]string{
		{"CVE-2024-K", "cve-2024-\u212a"}, {"s", "\u017f"}, {"ǅ", "ǆ"}, {"Σ", "ς"}, {"\xff\xff", "\ufffd"}, {"İ", "i"}, {"a\x00", "A\x00"},
		{"\xff", "\ufffd"}, {"ß", "ss"},
	} {
		want := strings.EqualFold(pair[0], pair[1])
		got := string(fold(nil, []byte(pair[0]))) == string(fold(nil, []byte(pair[1])))
		assert.Equal(t, want, got, "fold(%q) == fold(%q)", pair[0], pair[1])
	}
}

func FuzzRecord(f *testing.F) {
	for _, e := range catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 24, Entries: 3}) {
		f.Add(Encode(e))
	}
	f.Fuzz(func(t *testing.T, rec []byte) {
		st := newState()
		if err := st.decoded.decode(rec); err != nil {
			return
		}
		st.put(1, &st.decoded)
		st.sortOrder()
		_, _ = (&Index{st: st}).Search(catalog.Query{Text: "a", Limit: 10, Facets: true, FacetLimit: 5})
		if err := st.apply(1, nil, true); err != nil {
			t.Fatal(err)
		}
		assert.Zero(t, st.dicts[secTerm].live())
	})
}

// TestRangeCache: a range's verdict on a version is remembered across
// package names and queries, and forgotten when the version's id is given
// to another version.
func TestRangeCache(t *testing.T) {
	ctx := context.Background()
	entry := func(name, pkg, version string) *catalog.Entry {
		e := &catalog.Entry{Repository: "registry.corp/golden/" + name, Digest: catalogtest.Digest(name),
			Children: []catalog.Child{{Digest: catalogtest.Digest(name), Packages: []catalog.Package{{Name: pkg, Version: version, Ecosystem: "npm"}}}}}
		e.Normalize()
		return e
	}
	f := newMemFeed()
	ix := New()
	a, b := entry("a", "x", "1.0.0"), entry("b", "y", "1.0.0")
	f.put(a)
	f.put(b)
	require.NoError(t, ix.Refresh(ctx, f))
	for _, name := range []string{"x", "y", "x"} {
		check(t, ix, f, "shared version "+name, catalog.Query{Package: &catalog.PackageQuery{Name: name, Range: "< 2"}})
	}
	f.delete(a)
	f.delete(b)
	require.NoError(t, ix.Refresh(ctx, f))
	f.put(entry("c", "z", "3.0.0")) // takes the released version id
	require.NoError(t, ix.Refresh(ctx, f))
	check(t, ix, f, "reused version id", catalog.Query{Package: &catalog.PackageQuery{Name: "z", Range: "< 2"}})
	check(t, ix, f, "reused version id, other range", catalog.Query{Package: &catalog.PackageQuery{Name: "z", Range: ">= 2"}})
}
