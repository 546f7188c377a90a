package catalogtest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
)

// NewStore returns a fresh, empty store for one subtest. The kit closes it
// when the subtest ends (closing twice must be harmless).
type NewStore func(t *testing.T) catalog.Store

// Run checks that stores made by newStore behave as catalog.Store says:
// entries round-trip byte for byte (one at a time and through
// catalog.GetMany), tag history, search by every query
// field against the reference semantics of catalog.Query.Matches, facet
// counts, pagination, reverse queries (package and version range,
// vulnerability, licence, end-of-life window), invalid input, concurrent
// use and Close. Every store passes the same kit.
func Run(t *testing.T, newStore NewStore) {
	open := func(t *testing.T) catalog.Store {
		s := newStore(t)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	t.Run("CRUD", func(t *testing.T) { testCRUD(t, open(t)) })
	t.Run("GetMany", func(t *testing.T) { testGetMany(t, open(t)) })
	t.Run("Invalid", func(t *testing.T) { testInvalid(t, open(t)) })
	t.Run("Tags", func(t *testing.T) { testTags(t, open(t)) })
	t.Run("Search", func(t *testing.T) { testSearch(t, open(t)) })
	t.Run("Reverse", func(t *testing.T) { testReverse(t, open(t)) })
	t.Run("Pagination", func(t *testing.T) { testPagination(t, open(t)) })
	t.Run("Replace", func(t *testing.T) { testReplace(t, open(t)) })
	t.Run("Access", func(t *testing.T) { testAccess(t, open(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, open(t)) })
	t.Run("RescanFailed", func(t *testing.T) { testRescanFailed(t, open(t)) })
	t.Run("Close", func(t *testing.T) { testClose(t, newStore(t)) })
}

func mustMarshal(t *testing.T, e *catalog.Entry) []byte {
	t.Helper()
	b, err := catalog.Marshal(e)
	require.NoError(t, err)
	return b
}

func putAll(t *testing.T, s catalog.Store, entries []*catalog.Entry) {
	t.Helper()
	ctx := context.Background()
	for _, e := range entries {
		require.NoError(t, s.Put(ctx, e), "put %s", e.Key())
	}
}

func testCRUD(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	entries := Corpus(CorpusOptions{Seed: 1, Entries: 12})
	putAll(t, s, entries)
	for _, e := range entries {
		got, err := s.Get(ctx, e.Repository, e.Digest)
		require.NoError(t, err, "get %s", e.Key())
		assert.Equal(t, string(mustMarshal(t, e)), string(mustMarshal(t, got)), "entry %s does not round-trip", e.Key())
		raw, err := json.Marshal(got)
		require.NoError(t, err)
		assert.Equal(t, string(mustMarshal(t, e)), string(raw), "entry %s comes back unnormalized", e.Key())
	}

	// Not found: unknown digest, unknown repository, a child's digest.
	_, err := s.Get(ctx, entries[0].Repository, Digest("nope"))
	assert.ErrorIs(t, err, catalog.ErrNotFound, "get of an unknown digest")
	_, err = s.Get(ctx, "registry.corp/golden/none", entries[0].Digest)
	assert.ErrorIs(t, err, catalog.ErrNotFound, "get of a digest in another repository")

	// Put stores a copy: changing the caller's entry later changes nothing.
	e := entries[1].Clone()
	require.NoError(t, s.Put(ctx, e))
	e.Owner = "mutated-after-put"
	e.Children[0].Packages = nil
	got, err := s.Get(ctx, entries[1].Repository, entries[1].Digest)
	require.NoError(t, err)
	assert.Equal(t, string(mustMarshal(t, entries[1])), string(mustMarshal(t, got)), "the store aliases the caller's entry")

	// Put normalizes: an unsorted entry comes back sorted.
	u := entries[2].Clone()
	slices.Reverse(u.Tags)
	slices.Reverse(u.Children)
	require.NoError(t, s.Put(ctx, u))
	got, err = s.Get(ctx, u.Repository, u.Digest)
	require.NoError(t, err)
	raw, _ := json.Marshal(got)
	assert.Equal(t, string(mustMarshal(t, entries[2])), string(raw), "Put does not normalize")

	// Delete, then Get and Delete again are not found; others stay.
	require.NoError(t, s.Delete(ctx, entries[3].Repository, entries[3].Digest))
	_, err = s.Get(ctx, entries[3].Repository, entries[3].Digest)
	assert.ErrorIs(t, err, catalog.ErrNotFound, "get after delete")
	assert.ErrorIs(t, s.Delete(ctx, entries[3].Repository, entries[3].Digest), catalog.ErrNotFound, "second delete")
	res, err := s.Search(ctx, catalog.Query{Limit: catalog.MaxLimit})
	require.NoError(t, err)
	assert.Equal(t, len(entries)-1, res.Total, "entries after one delete")
	for _, x := range res.Entries {
		assert.NotEqual(t, entries[3].Digest, x.Digest, "a deleted entry is still found")
	}
	res, err = s.Search(ctx, catalog.Query{Vulnerability: firstFinding(entries[3])})
	require.NoError(t, err)
	for _, x := range res.Entries {
		assert.NotEqual(t, entries[3].Digest, x.Digest, "a deleted entry is still indexed")
	}

	// The same digest in two repositories is two entries.
	twin := entries[4].Clone()
	twin.Repository = "registry.corp/golden/twin"
	require.NoError(t, s.Put(ctx, twin))
	a, err := s.Get(ctx, entries[4].Repository, entries[4].Digest)
	require.NoError(t, err)
	b, err := s.Get(ctx, twin.Repository, twin.Digest)
	require.NoError(t, err)
	assert.Equal(t, entries[4].Repository, a.Repository)
	assert.Equal(t, twin.Repository, b.Repository)

	repos, err := s.Repositories(ctx)
	require.NoError(t, err)
	want := []string{twin.Repository}
	for _, e := range entries {
		if e != entries[3] {
			want = append(want, e.Repository)
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)
	// entries[3]'s repository may still be listed if another entry is in it.
	for _, r := range want {
		assert.Contains(t, repos, r, "Repositories misses a repository with entries")
	}
	assert.True(t, slices.IsSorted(repos), "Repositories is not sorted: %v", repos)
}

func firstFinding(e *catalog.Entry) string {
	for _, c := range e.Children {
		for _, f := range c.Findings {
			return f.ID
		}
	}
	return "CVE-0000-0000"
}

func testInvalid(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	good := Corpus(CorpusOptions{Seed: 2, Entries: 1})[0]
	for name, mutate := range map[string]func(e *catalog.Entry){
		"no repository": func(e *catalog.Entry) { e.Repository = "" },
		"bad digest":    func(e *catalog.Entry) { e.Digest = "sha256:xyz" },
		"bad status":    func(e *catalog.Entry) { e.Status = "zombie" },
		"bad child":     func(e *catalog.Entry) { e.Children[0].Digest = "nope" },
		"bad problem": func(e *catalog.Entry) {
			e.Problems = []catalog.Problem{{Subject: e.Digest, Evidence: "sbom", Reason: "fine"}}
		},
		"undated eol": func(e *catalog.Entry) { e.EndOfLife = &catalog.EndOfLife{Source: "x"} },
		"eol source without role": func(e *catalog.Entry) {
			e.EndOfLife = &catalog.EndOfLife{Date: Now(), Source: "x", Sources: []catalog.EndOfLifeSource{{Source: "rule", Date: Now()}}}
		},
		"repository with": func(e *catalog.Entry) { e.Repository = "a@b" },
	} {
		e := good.Clone()
		mutate(e)
		assert.ErrorIs(t, s.Put(ctx, e), catalog.ErrInvalidEntry, "Put of an entry with %s", name)
	}
	assert.ErrorIs(t, s.Put(ctx, nil), catalog.ErrInvalidEntry, "Put(nil)")
	res, err := s.Search(ctx, catalog.Query{})
	require.NoError(t, err)
	assert.Zero(t, res.Total, "an invalid entry was stored")

	for name, q := range map[string]catalog.Query{
		"negative limit":   {Limit: -1},
		"huge limit":       {Limit: catalog.MaxLimit + 1},
		"bad severity":     {MaxSeverity: "apocalyptic"},
		"bad status":       {Status: "zombie"},
		"bad cursor":       {Cursor: "not-a-cursor"},
		"forged cursor":    {Cursor: "eyJyIjoiIiwiZCI6IiJ9"},
		"bad range":        {Package: &catalog.PackageQuery{Name: "x", Range: ">= 1, <"}},
		"nameless package": {Package: &catalog.PackageQuery{Range: ">= 1"}},
		"empty eol window": {EndOfLifeAfter: Now(), EndOfLifeBefore: Now()},
		"bad digest":       {Digest: "sha256:nope"},
		"long text":        {Text: strings.Repeat("a", catalog.MaxTextBytes+1)},
		"invalid utf8":     {Text: "\xff\xfe"},
	} {
		_, err := s.Search(ctx, q)
		assert.ErrorIs(t, err, catalog.ErrInvalidQuery, "Search with %s", name)
	}
	_, err = s.Get(ctx, "", "")
	assert.Error(t, err, "Get with an empty key")
}

func testTags(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	repo := "registry.corp/golden/library/nginx"
	d1, d2, d3 := Digest("one"), Digest("two"), Digest("three")
	t0 := Now()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

	tags, err := s.Tags(ctx, repo)
	require.NoError(t, err)
	assert.Empty(t, tags, "tags of an unknown repository")

	ev, err := s.RecordTags(ctx, repo, map[string]digest.Digest{"1.27": d1, "latest": d1}, at(0), true)
	require.NoError(t, err)
	assert.Equal(t, []catalog.TagEvent{
		{Type: catalog.TagAdded, Repository: repo, Tag: "1.27", To: d1, At: at(0)},
		{Type: catalog.TagAdded, Repository: repo, Tag: "latest", To: d1, At: at(0)},
	}, ev, "first observation")

	// Seen again unchanged: no events, LastSeen moves.
	ev, err = s.RecordTags(ctx, repo, map[string]digest.Digest{"1.27": d1, "latest": d1}, at(1), true)
	require.NoError(t, err)
	assert.Empty(t, ev, "unchanged tags gave events")

	// latest moves, 1.28 appears.
	ev, err = s.RecordTags(ctx, repo, map[string]digest.Digest{"1.27": d1, "1.28": d2, "latest": d2}, at(2), true)
	require.NoError(t, err)
	assert.Equal(t, []catalog.TagEvent{
		{Type: catalog.TagAdded, Repository: repo, Tag: "1.28", To: d2, At: at(2)},
		{Type: catalog.TagMoved, Repository: repo, Tag: "latest", From: d1, To: d2, At: at(2)},
	}, ev, "a moved tag is an event")

	// A partial observation touches only the tags it names.
	ev, err = s.RecordTags(ctx, repo, map[string]digest.Digest{"latest": d3}, at(3), false)
	require.NoError(t, err)
	assert.Equal(t, []catalog.TagEvent{{Type: catalog.TagMoved, Repository: repo, Tag: "latest", From: d2, To: d3, At: at(3)}}, ev)
	tags, err = s.Tags(ctx, repo)
	require.NoError(t, err)
	assert.Equal(t, map[string]digest.Digest{"1.27": d1, "1.28": d2, "latest": d3}, tags, "a partial observation removed tags")

	// A complete observation without 1.27 removes it.
	ev, err = s.RecordTags(ctx, repo, map[string]digest.Digest{"1.28": d2, "latest": d3}, at(4), true)
	require.NoError(t, err)
	assert.Equal(t, []catalog.TagEvent{{Type: catalog.TagRemoved, Repository: repo, Tag: "1.27", From: d1, At: at(4)}}, ev)
	// latest moves back to d1: a new record, not the old one revived.
	ev, err = s.RecordTags(ctx, repo, map[string]digest.Digest{"1.28": d2, "latest": d1}, at(5), true)
	require.NoError(t, err)
	assert.Equal(t, []catalog.TagEvent{{Type: catalog.TagMoved, Repository: repo, Tag: "latest", From: d3, To: d1, At: at(5)}}, ev)

	hist, err := s.TagHistory(ctx, repo, "latest")
	require.NoError(t, err)
	assert.Equal(t, []catalog.TagRecord{
		{Repository: repo, Tag: "latest", Digest: d1, FirstSeen: at(0), LastSeen: at(1)},
		{Repository: repo, Tag: "latest", Digest: d2, FirstSeen: at(2), LastSeen: at(2)},
		{Repository: repo, Tag: "latest", Digest: d3, FirstSeen: at(3), LastSeen: at(4)},
		{Repository: repo, Tag: "latest", Digest: d1, FirstSeen: at(5), LastSeen: at(5), Current: true},
	}, normTimes(hist), "history of latest")

	all, err := s.TagHistory(ctx, repo, "")
	require.NoError(t, err)
	all = normTimes(all)
	assert.Len(t, all, 6, "history of every tag: %v", all)
	assert.True(t, slices.IsSortedFunc(all, func(a, b catalog.TagRecord) int {
		return cmp.Or(strings.Compare(a.Tag, b.Tag), a.FirstSeen.Compare(b.FirstSeen), strings.Compare(string(a.Digest), string(b.Digest)))
	}), "history not sorted by tag, first seen, digest")
	assert.Contains(t, all, catalog.TagRecord{Repository: repo, Tag: "1.27", Digest: d1, FirstSeen: at(0), LastSeen: at(2)}, "1.27 ended when removed")

	// Removed and re-added: TagAdded again.
	ev, err = s.RecordTags(ctx, repo, map[string]digest.Digest{"1.27": d1}, at(6), false)
	require.NoError(t, err)
	assert.Equal(t, []catalog.TagEvent{{Type: catalog.TagAdded, Repository: repo, Tag: "1.27", To: d1, At: at(6)}}, ev)

	// Other repositories are separate.
	other := "registry.corp/golden/library/redis"
	_, err = s.RecordTags(ctx, other, map[string]digest.Digest{"7": d3}, at(0), true)
	require.NoError(t, err)
	tags, err = s.Tags(ctx, repo)
	require.NoError(t, err)
	assert.NotContains(t, tags, "7")
	repos, err := s.Repositories(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{repo, other}, repos, "repositories with tags")

	// Bad input.
	_, err = s.RecordTags(ctx, repo, map[string]digest.Digest{"x": "bad"}, at(7), false)
	assert.Error(t, err, "a bad digest is recorded")
	_, err = s.RecordTags(ctx, "", map[string]digest.Digest{"x": d1}, at(7), false)
	assert.Error(t, err, "an empty repository is recorded")
	// An empty complete observation removes every tag.
	ev, err = s.RecordTags(ctx, other, nil, at(8), true)
	require.NoError(t, err)
	assert.Equal(t, []catalog.TagEvent{{Type: catalog.TagRemoved, Repository: other, Tag: "7", From: d3, At: at(8)}}, ev)
}

func normTimes(rs []catalog.TagRecord) []catalog.TagRecord {
	for i := range rs {
		rs[i].FirstSeen = rs[i].FirstSeen.UTC()
		rs[i].LastSeen = rs[i].LastSeen.UTC()
	}
	return rs
}

// expect returns what a query must give over entries, by the reference
// semantics.
func expect(t *testing.T, entries []*catalog.Entry, q catalog.Query) ([]*catalog.Entry, *catalog.Facets) {
	t.Helper()
	q, err := q.Validate()
	require.NoError(t, err)
	var out []*catalog.Entry
	for _, e := range entries {
		if q.Matches(e) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *catalog.Entry) int {
		return cmp.Or(strings.Compare(a.Repository, b.Repository), strings.Compare(string(a.Digest), string(b.Digest)))
	})
	return out, catalog.CountFacets(out, q.Now, q.FacetLimit)
}

// searchAll pages through every result of q.
func searchAll(t *testing.T, s catalog.Store, q catalog.Query) ([]catalog.Summary, *catalog.Result) {
	t.Helper()
	ctx := context.Background()
	var all []catalog.Summary
	var first *catalog.Result
	for page := 0; ; page++ {
		res, err := s.Search(ctx, q)
		require.NoError(t, err, "search %+v", q)
		if first == nil {
			first = res
		}
		assert.Equal(t, first.Total, res.Total, "total changes between pages")
		all = append(all, res.Entries...)
		if res.Next == "" {
			break
		}
		require.Less(t, page, 10000, "pagination does not end")
		require.NotEmpty(t, res.Entries, "a page with a next cursor is empty")
		q.Cursor = res.Next
	}
	return all, first
}

func check(t *testing.T, s catalog.Store, entries []*catalog.Entry, name string, q catalog.Query) {
	t.Helper()
	q.Now = Now()
	q.Facets = true
	if q.Limit == 0 {
		q.Limit = 37
	}
	want, wantFacets := expect(t, entries, q)
	got, first := searchAll(t, s, q)
	assert.Equal(t, len(want), first.Total, "%s: total", name)
	require.Equal(t, keys(want), summaryKeys(got), "%s: entries", name)
	for i, e := range want {
		assert.Equal(t, e.Summary(), got[i], "%s: summary of %s", name, e.Key())
	}
	require.NotNil(t, first.Facets, "%s: facets requested but none returned", name)
	assert.Equal(t, wantFacets, first.Facets, "%s: facets", name)
	// Without Facets, none.
	q.Facets, q.Cursor = false, ""
	res, err := s.Search(context.Background(), q)
	require.NoError(t, err)
	assert.Nil(t, res.Facets, "%s: facets returned without being asked for", name)
}

func keys(es []*catalog.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Key()
	}
	return out
}

func summaryKeys(ss []catalog.Summary) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Repository + "@" + s.Digest.String()
	}
	return out
}

func testSearch(t *testing.T, s catalog.Store) {
	entries := Corpus(CorpusOptions{Seed: 3, Entries: 240})
	putAll(t, s, entries)
	e0 := entries[0]
	yes, no := true, false
	queries := []struct {
		name string
		q    catalog.Query
	}{
		{"everything", catalog.Query{}},
		{"text repository word", catalog.Query{Text: "payments"}},
		{"text repository case", catalog.Query{Text: "PayMents"}},
		{"text two words", catalog.Query{Text: "search app03"}},
		{"text tag", catalog.Query{Text: "latest"}},
		{"text package", catalog.Query{Text: PackageName(17)}},
		{"text package fragment", catalog.Query{Text: "-zlib"}},
		{"text source package", catalog.Query{Text: "src012"}},
		{"text cve", catalog.Query{Text: firstFinding(e0)}},
		{"text cve lower", catalog.Query{Text: strings.ToLower(firstFinding(e0))}},
		{"text alias", catalog.Query{Text: "ghsa-01"}},
		{"text label value", catalog.Query{Text: "silver"}},
		{"text label key", catalog.Query{Text: "pci"}},
		{"text short word", catalog.Query{Text: "ap"}},
		{"text one letter", catalog.Query{Text: "q"}},
		{"text nothing", catalog.Query{Text: "no-such-thing-anywhere"}},
		{"text sql wildcards", catalog.Query{Text: "%_"}},
		{"text quotes", catalog.Query{Text: `"payments" app'0`}},
		{"text fts syntax", catalog.Query{Text: "payments OR search NEAR(x) *"}},
		{"text unicode", catalog.Query{Text: "päyments ✓"}},
		{"text spans terms", catalog.Query{Text: "payments/app01"}},
		{"repository exact", catalog.Query{Repository: e0.Repository}},
		{"repository prefix", catalog.Query{Repository: "mirror.corp:5000/golden/"}},
		{"digest", catalog.Query{Digest: e0.Digest}},
		{"child digest", catalog.Query{Digest: entries[1].Children[1].Digest}},
		{"tag", catalog.Query{Tag: "1.3"}},
		{"platform", catalog.Query{Platform: "linux/arm64"}},
		{"status", catalog.Query{Status: catalog.StatusDeprecated}},
		{"status active", catalog.Query{Status: catalog.StatusActive}},
		{"ceiling none", catalog.Query{MaxSeverity: catalog.SeverityNone}},
		{"ceiling high", catalog.Query{MaxSeverity: catalog.SeverityHigh}},
		{"ceiling unknown", catalog.Query{MaxSeverity: catalog.SeverityUnknown}},
		{"ceiling unscanned", catalog.Query{MaxSeverity: catalog.SeverityUnscanned}},
		{"fixable", catalog.Query{Fixable: true}},
		{"license", catalog.Query{License: "Apache-2.0"}},
		{"signer", catalog.Query{Signer: signers[1]}},
		{"owner", catalog.Query{Owner: "sre"}},
		{"label key", catalog.Query{Label: "pci"}},
		{"label pair", catalog.Query{Label: "tier=gold"}},
		{"label wrong value", catalog.Query{Label: "tier=platinum"}},
		{"trusted", catalog.Query{Trusted: &yes}},
		{"untrusted", catalog.Query{Trusted: &no}},
		{"combined", catalog.Query{Text: "app", Platform: "linux/amd64", Status: catalog.StatusActive, MaxSeverity: catalog.SeverityHigh, Signer: signers[0]}},
		{"combined text facets", catalog.Query{Text: "core", License: "MIT", Fixable: true}},
		{"facet limit", catalog.Query{FacetLimit: 2}},
	}
	for _, tc := range queries {
		t.Run(tc.name, func(t *testing.T) { check(t, s, entries, tc.name, tc.q) })
	}
}

func testReverse(t *testing.T, s catalog.Store) {
	entries := Corpus(CorpusOptions{Seed: 4, Entries: 200})
	// Hand-made packages to test version semantics per ecosystem.
	extra := []*catalog.Entry{
		handEntry("registry.corp/golden/deb/openssl", "openssl-a", catalog.Package{Name: "libssl3", SourceName: "openssl", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12"}),
		handEntry("registry.corp/golden/deb/openssl", "openssl-b", catalog.Package{Name: "libssl3", SourceName: "openssl", Version: "3.0.14-1~deb12u1", Ecosystem: "Debian:12"}),
		handEntry("registry.corp/golden/deb/openssl", "openssl-c", catalog.Package{Name: "libssl3", SourceName: "openssl", Version: "3.0.9-1", Ecosystem: "Debian:12"}),
		handEntry("registry.corp/golden/apk/musl", "musl-a", catalog.Package{Name: "musl", Version: "1.2.5-r1", Ecosystem: "Alpine:v3.20"}),
		handEntry("registry.corp/golden/apk/musl", "musl-b", catalog.Package{Name: "musl", Version: "1.2.4_git20230717-r4", Ecosystem: "Alpine:v3.19"}),
		handEntry("registry.corp/golden/npm/lodash", "lodash-a", catalog.Package{Name: "lodash", Version: "4.17.20", Ecosystem: "npm"}),
		handEntry("registry.corp/golden/npm/lodash", "lodash-b", catalog.Package{Name: "lodash", Version: "4.17.21", Ecosystem: "npm"}),
		handEntry("registry.corp/golden/py/django", "django-a", catalog.Package{Name: "django", Version: "4.2.10", Ecosystem: "PyPI"}),
		handEntry("registry.corp/golden/py/django", "django-b", catalog.Package{Name: "django", Version: "4.2rc1", Ecosystem: "PyPI"}),
	}
	all := append(slices.Clone(entries), extra...)
	putAll(t, s, all)
	for _, tc := range []struct {
		name string
		q    catalog.Query
		want int // -1: do not check the count by hand
	}{
		{"package any version", catalog.Query{Package: &catalog.PackageQuery{Name: PackageName(5)}}, -1},
		{"package range", catalog.Query{Package: &catalog.PackageQuery{Name: PackageName(6), Range: ">= 1.2.0, < 1.5.0"}}, -1},
		{"package exact", catalog.Query{Package: &catalog.PackageQuery{Name: PackageName(7), Range: PackageVersion(7, 12)}}, -1},
		{"package not equal", catalog.Query{Package: &catalog.PackageQuery{Name: PackageName(8), Range: "!= " + PackageVersion(8, 3)}}, -1},
		{"package ecosystem", catalog.Query{Package: &catalog.PackageQuery{Name: PackageName(9), Ecosystem: "npm"}}, -1},
		{"debian source range", catalog.Query{Package: &catalog.PackageQuery{Name: "openssl", Range: "< 3.0.14-1~deb12u1"}}, 2},
		{"debian binary range", catalog.Query{Package: &catalog.PackageQuery{Name: "libssl3", Ecosystem: "Debian", Range: ">= 3.0.11-1~deb12u2"}}, 2},
		{"debian tilde", catalog.Query{Package: &catalog.PackageQuery{Name: "libssl3", Range: "< 3.0.11-1"}}, 2},
		{"alpine", catalog.Query{Package: &catalog.PackageQuery{Name: "musl", Range: "< 1.2.5-r0"}}, 1},
		{"npm", catalog.Query{Package: &catalog.PackageQuery{Name: "lodash", Range: "< 4.17.21"}}, 1},
		{"npm all", catalog.Query{Package: &catalog.PackageQuery{Name: "lodash", Range: ">= 0.0.0"}}, 2},
		{"pypi prerelease", catalog.Query{Package: &catalog.PackageQuery{Name: "django", Range: "< 4.2"}}, 1},
		{"package and text", catalog.Query{Text: "lodash", Package: &catalog.PackageQuery{Name: "lodash"}}, 2},
		{"vulnerability", catalog.Query{Vulnerability: firstFinding(entries[0])}, -1},
		{"vulnerability lower case", catalog.Query{Vulnerability: strings.ToLower(firstFinding(entries[0]))}, -1},
		{"vulnerability alias", catalog.Query{Vulnerability: "GHSA-0042-xxxx"}, -1},
		{"vulnerability unknown", catalog.Query{Vulnerability: "CVE-1999-0001"}, 0},
		{"license", catalog.Query{License: "GPL-2.0-only"}, -1},
		{"license unknown", catalog.Query{License: "WTFPL"}, 0},
		{"eol within 30 days", catalog.Query{EndOfLifeBefore: Now().Add(30 * 24 * time.Hour)}, -1},
		{"eol window", catalog.Query{EndOfLifeAfter: Now(), EndOfLifeBefore: Now().Add(90 * 24 * time.Hour)}, -1},
		{"eol after", catalog.Query{EndOfLifeAfter: Now().Add(365 * 24 * time.Hour)}, -1},
		{"cve and platform", catalog.Query{Vulnerability: firstFinding(entries[1]), Platform: "linux/arm64"}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.want >= 0 {
				q, err := tc.q.Validate()
				require.NoError(t, err)
				n := 0
				for _, e := range all {
					if q.Matches(e) {
						n++
					}
				}
				require.Equal(t, tc.want, n, "the reference semantics changed: %s", tc.name)
			}
			check(t, s, all, tc.name, tc.q)
		})
	}
}

func handEntry(repo, name string, p catalog.Package) *catalog.Entry {
	d := Digest(name)
	e := &catalog.Entry{
		Repository: repo, Digest: d, MediaType: "application/vnd.oci.image.manifest.v1+json", Tags: []string{name},
		Children: []catalog.Child{{Digest: d, MediaType: "application/vnd.oci.image.manifest.v1+json", Platform: "linux/amd64",
			SBOM: &catalog.SBOM{Digest: Digest("sbom-" + name), Packages: 1}, Packages: []catalog.Package{p},
			Vulnerabilities: catalog.VulnerabilitySummary{Scanned: true}, Malware: catalog.MalwareSummary{Scanned: true}}},
	}
	e.Normalize()
	return e
}

func testPagination(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	entries := Corpus(CorpusOptions{Seed: 5, Entries: 120})
	putAll(t, s, entries)
	for _, limit := range []int{1, 7, 50, 120, 1000} {
		got, first := searchAll(t, s, catalog.Query{Limit: limit})
		want, _ := expect(t, entries, catalog.Query{})
		assert.Equal(t, keys(want), summaryKeys(got), "pages of %d", limit)
		assert.Equal(t, len(entries), first.Total)
		if limit >= len(entries) {
			assert.Empty(t, first.Next, "a single page has a next cursor")
		}
	}
	// Default limit is 50.
	res, err := s.Search(ctx, catalog.Query{})
	require.NoError(t, err)
	assert.Len(t, res.Entries, 50, "default page size")

	// A cursor stays valid when its entry is deleted or entries are added
	// before it.
	res, err = s.Search(ctx, catalog.Query{Limit: 10})
	require.NoError(t, err)
	last := res.Entries[len(res.Entries)-1]
	require.NoError(t, s.Delete(ctx, last.Repository, last.Digest))
	res2, err := s.Search(ctx, catalog.Query{Limit: 10, Cursor: res.Next})
	require.NoError(t, err)
	want, _ := expect(t, entries, catalog.Query{})
	assert.Equal(t, keys(want[10:20]), summaryKeys(res2.Entries), "the page after a deleted cursor entry")
	assert.Equal(t, len(entries)-1, res2.Total)
}

func testReplace(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	entries := Corpus(CorpusOptions{Seed: 6, Entries: 30})
	putAll(t, s, entries)
	// Replace an entry with different facts; every index follows.
	e := entries[7].Clone()
	oldVuln := firstFinding(e)
	e.Tags = []string{"replaced"}
	e.Owner = "new-owner"
	e.Labels = map[string]string{"fresh": "label"}
	e.Status = catalog.StatusRetired
	e.Children = e.Children[:1]
	e.Children[0].Packages = []catalog.Package{{Name: "brand-new-package", Version: "1.0.0", Ecosystem: "Go", Licenses: []string{"Unlicense"}}}
	e.Children[0].Findings = []catalog.Finding{{ID: "CVE-2099-0001", Package: "brand-new-package", Version: "1.0.0", Severity: catalog.SeverityCritical}}
	e.Platforms = nil
	e.Normalize()
	require.NoError(t, s.Put(ctx, e))
	entries[7] = e
	got, err := s.Get(ctx, e.Repository, e.Digest)
	require.NoError(t, err)
	assert.Equal(t, string(mustMarshal(t, e)), string(mustMarshal(t, got)))
	for name, q := range map[string]catalog.Query{
		"new tag":       {Tag: "replaced"},
		"new text":      {Text: "brand-new"},
		"new package":   {Package: &catalog.PackageQuery{Name: "brand-new-package", Range: ">= 1.0.0"}},
		"new cve":       {Vulnerability: "CVE-2099-0001"},
		"old cve":       {Vulnerability: oldVuln},
		"new license":   {License: "Unlicense"},
		"new owner":     {Owner: "new-owner"},
		"new label":     {Label: "fresh=label"},
		"new status":    {Status: catalog.StatusRetired},
		"old platforms": {Platform: entries[6].Platforms[0]},
	} {
		check(t, s, entries, name, q)
	}
}

func testConcurrent(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	entries := Corpus(CorpusOptions{Seed: 7, Entries: 80})
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := w; i < len(entries); i += 4 {
				if err := s.Put(ctx, entries[i]); err != nil {
					errs <- fmt.Errorf("put: %w", err)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 10 {
				if _, err := s.Search(ctx, catalog.Query{Text: "app", Facets: i%2 == 0}); err != nil {
					errs <- fmt.Errorf("search: %w", err)
				}
				if _, err := s.RecordTags(ctx, fmt.Sprintf("registry.corp/golden/c%d", w), map[string]digest.Digest{"t": Digest(fmt.Sprint(i))}, Now().Add(time.Duration(i)*time.Second), true); err != nil {
					errs <- fmt.Errorf("record tags: %w", err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	check(t, s, entries, "after concurrent puts", catalog.Query{})
	for w := range 4 {
		h, err := s.TagHistory(ctx, fmt.Sprintf("registry.corp/golden/c%d", w), "t")
		require.NoError(t, err)
		assert.Len(t, h, 10, "tag history of concurrent observations")
	}
}

func testClose(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	e := Corpus(CorpusOptions{Seed: 8, Entries: 1})[0]
	require.NoError(t, s.Put(ctx, e))
	require.NoError(t, s.Close())
	assert.NoError(t, s.Close(), "second Close")
	closed := func(name string, err error) {
		assert.True(t, errors.Is(err, catalog.ErrClosed), "%s after Close: got %v, want ErrClosed", name, err)
	}
	closed("Put", s.Put(ctx, e))
	_, err := s.Get(ctx, e.Repository, e.Digest)
	closed("Get", err)
	closed("Delete", s.Delete(ctx, e.Repository, e.Digest))
	_, err = s.Search(ctx, catalog.Query{})
	closed("Search", err)
	_, err = s.RecordTags(ctx, e.Repository, nil, Now(), true)
	closed("RecordTags", err)
	_, err = s.Tags(ctx, e.Repository)
	closed("Tags", err)
	_, err = s.TagHistory(ctx, e.Repository, "")
	closed("TagHistory", err)
	_, err = s.Repositories(ctx)
	closed("Repositories", err)
}

// AccessRules are the access rules testAccess checks stores with: one
// public exception, a level for a team under any registry, a level for an
// OCI layout prefix. They hide about a third of a Corpus.
func AccessRules() []catalog.AccessRule {
	return []catalog.AccessRule{
		{Name: "payments-app01-public", Repositories: []string{"registry.corp/golden/payments/app01"}, Level: catalog.AccessPublic},
		{Name: "payments", Repositories: []string{"**/payments/*"}, Level: "licensed", Groups: []string{"pay"},
			HowToAsk: "Ask the payments team", RequestURL: "/requests/new?ref={ref}"},
		{Name: "oci-data", Repositories: []string{"oci:/var/golden/data/**"}, Level: "internal", Groups: []string{"data", "sre"}},
	}
}

func testAccess(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	entries := Corpus(CorpusOptions{Seed: 5, Entries: 240})
	putAll(t, s, entries)
	policy, err := catalog.NewAccessPolicy(AccessRules())
	require.NoError(t, err)
	e0 := entries[0]
	var hiddenEntry *catalog.Entry
	for _, e := range entries[1:] { // entries[0] is deleted below
		if !policy.For().Visible(e.Repository) {
			hiddenEntry = e
			break
		}
	}
	require.NotNil(t, hiddenEntry, "the corpus has entries the rules hide")
	viewers := map[string]*catalog.Visibility{
		"outsider": policy.For(), "pay": policy.For("pay"), "data": policy.For("other", "data"),
		"both": policy.For("pay", "sre"), "inside": nil,
	}
	queries := []struct {
		name string
		q    catalog.Query
	}{
		{"everything", catalog.Query{}},
		{"small pages", catalog.Query{Limit: 7}},
		{"text payments", catalog.Query{Text: "payments"}},
		{"text app", catalog.Query{Text: "app0"}},
		{"repository prefix", catalog.Query{Repository: "oci:/var/golden/"}},
		{"hidden repository", catalog.Query{Repository: hiddenEntry.Repository}},
		{"hidden digest", catalog.Query{Digest: hiddenEntry.Digest}},
		{"cve", catalog.Query{Vulnerability: firstFinding(e0)}},
		{"text cve", catalog.Query{Text: firstFinding(hiddenEntry)}},
		{"package", catalog.Query{Package: &catalog.PackageQuery{Name: e0.Children[0].Packages[0].Name}}},
		{"platform", catalog.Query{Platform: "linux/arm64"}},
		{"status and owner", catalog.Query{Status: catalog.StatusActive, Owner: "sre"}},
		{"license", catalog.Query{License: "MIT"}},
	}
	run := func(t *testing.T, entries []*catalog.Entry) {
		for vn, v := range viewers {
			for _, tc := range queries {
				q := tc.q
				q.Visibility = v
				check(t, s, entries, vn+": "+tc.name, q)
			}
		}
	}
	t.Run("search", func(t *testing.T) { run(t, entries) })

	// Changes reach what each caller sees: a new entry in a hidden
	// repository, a deleted visible one.
	extra := Corpus(CorpusOptions{Seed: 6, Entries: 3})
	for _, e := range extra {
		e.Repository = "registry.corp/golden/payments/app77"
	}
	putAll(t, s, extra)
	require.NoError(t, s.Delete(ctx, e0.Repository, e0.Digest))
	all := append(slices.Clone(entries[1:]), extra...)
	t.Run("after changes", func(t *testing.T) { run(t, all) })

	// Searches of several callers at once while entries change (for the
	// race detector: what each visibility hides is kept per index state).
	var wg sync.WaitGroup
	more := Corpus(CorpusOptions{Seed: 7, Entries: 30})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, e := range more {
			assert.NoError(t, s.Put(ctx, e))
		}
	}()
	for _, v := range []*catalog.Visibility{policy.For(), policy.For("pay"), policy.For("data"), nil} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				q := catalog.Query{Visibility: v, Facets: i%2 == 0, Limit: 5}
				if i%3 == 0 {
					q.Text = "app"
				}
				res, err := s.Search(ctx, q)
				if !assert.NoError(t, err) {
					return
				}
				for _, sm := range res.Entries {
					assert.True(t, v.Visible(sm.Repository), "%s seen by %q", sm.Repository, v.Key())
				}
			}
		}()
	}
	wg.Wait()

	// A view answers for a hidden entry as for an unknown one.
	out := catalog.NewView(s, policy.For())
	_, err = out.Get(ctx, hiddenEntry.Repository, hiddenEntry.Digest)
	require.ErrorIs(t, err, catalog.ErrNotFound, "a hidden entry is not found")
	_, err = s.RecordTags(ctx, hiddenEntry.Repository, map[string]digest.Digest{"1.0": hiddenEntry.Digest}, Now(), false)
	require.NoError(t, err)
	tags, err := out.Tags(ctx, hiddenEntry.Repository)
	require.NoError(t, err)
	assert.Empty(t, tags, "tags of a hidden repository")
	hist, err := out.TagHistory(ctx, hiddenEntry.Repository, "")
	require.NoError(t, err)
	assert.Empty(t, hist, "tag history of a hidden repository")
	repos, err := out.Repositories(ctx)
	require.NoError(t, err)
	assert.NotContains(t, repos, hiddenEntry.Repository, "repositories of an outsider")
	member := catalog.NewView(s, policy.For("pay", "data"))
	got, err := member.Get(ctx, hiddenEntry.Repository, hiddenEntry.Digest)
	require.NoError(t, err, "a member sees the entry")
	require.NotNil(t, got.Access)
	assert.True(t, got.Access.Restricted(), "access of %s: %+v", got.Key(), got.Access)
	assert.NotEmpty(t, got.AccessLevel)
	res, err := member.Search(ctx, catalog.Query{Digest: hiddenEntry.Digest})
	require.NoError(t, err)
	require.Len(t, res.Entries, 1)
	assert.Equal(t, got.AccessLevel, res.Entries[0].AccessLevel, "summary access level")
}
