package catalog_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
)

func TestAccessPatterns(t *testing.T) {
	for _, tc := range []struct {
		pattern, repo string
		want          bool
	}{
		{"**/licensed/*", "registry.corp/golden/licensed/oracle", true},
		{"**/licensed/*", "registry.corp/licensed/oracle", true},
		{"**/licensed/*", "registry.corp/golden/licensed/oracle/jdk", false},
		{"**/licensed/**", "registry.corp/golden/licensed/oracle/jdk", true},
		{"**/licensed/*", "registry.corp/golden/unlicensed/oracle", false},
		{"registry.corp/golden/licensed/*", "registry.corp/golden/licensed/oracle", true},
		{"registry.corp/golden/licensed/*", "mirror.corp/golden/licensed/oracle", false},
		{"registry.corp/golden/**", "registry.corp/golden", true},
		{"registry.corp/golden/**", "registry.corp/golden/a/b/c", true},
		{"*.corp/golden/app?", "mirror.corp/golden/app1", true},
		{"*.corp/golden/app?", "mirror.corp/golden/app12", false},
		{"localhost:5000/x/*", "localhost:5000/x/y", true},
		{"oci:/var/golden/data/**", "oci:/var/golden/data/x", true},
		{"oci:/var/golden/data/**", "oci:/var/golden/datax", false},
		{"**", "anything/at/all", true},
		{"registry.corp/[a-c]*/x", "registry.corp/beta/x", true},
	} {
		p, err := catalog.NewAccessPolicy([]catalog.AccessRule{{Name: "r", Repositories: []string{tc.pattern}, Level: "l", Groups: []string{"g"}}})
		require.NoError(t, err, tc.pattern)
		got := p.Access(tc.repo, "").Restricted()
		assert.Equal(t, tc.want, got, "pattern %q, repository %q", tc.pattern, tc.repo)
		assert.Equal(t, !tc.want, p.For().Visible(tc.repo), "an outsider sees %q under %q", tc.repo, tc.pattern)
		assert.True(t, p.For("g").Visible(tc.repo), "a member sees everything")
	}
}

func TestAccessPolicyRefusesBadRules(t *testing.T) {
	for name, rules := range map[string][]catalog.AccessRule{
		"no name":           {{Repositories: []string{"**/x"}, Level: "l"}},
		"duplicate name":    {{Name: "a", Repositories: []string{"**/x"}, Level: "l"}, {Name: "a", Repositories: []string{"**/y"}, Level: "l"}},
		"no pattern":        {{Name: "a", Level: "l"}},
		"no host":           {{Name: "a", Repositories: []string{"licensed/*"}, Level: "l"}},
		"bad glob":          {{Name: "a", Repositories: []string{"registry.corp/[x"}, Level: "l"}},
		"partial **":        {{Name: "a", Repositories: []string{"registry.corp/x**"}, Level: "l"}},
		"digest in pattern": {{Name: "a", Repositories: []string{"registry.corp/x@sha256:aa"}, Level: "l"}},
		"empty group":       {{Name: "a", Repositories: []string{"**/x"}, Level: "l", Groups: []string{""}}},
		"level newline":     {{Name: "a", Repositories: []string{"**/x"}, Level: "l\n"}},
	} {
		_, err := catalog.NewAccessPolicy(rules)
		assert.ErrorIs(t, err, catalog.ErrInvalidAccess, name)
	}
	p, err := catalog.NewAccessPolicy(nil)
	require.NoError(t, err, "no rules: everything public")
	assert.False(t, p.For().Restricts())
}

func TestAccessPolicy(t *testing.T) {
	p, err := catalog.NewAccessPolicy(catalogtest.AccessRules())
	require.NoError(t, err)
	// First match wins: the public exception before the team rule.
	a := p.Access("registry.corp/golden/payments/app01", "x")
	assert.Equal(t, &catalog.Access{Level: catalog.AccessPublic, Rule: "payments-app01-public"}, a)
	ref := "registry.corp/golden/payments/app02@sha256:aa"
	a = p.Access("registry.corp/golden/payments/app02", ref)
	assert.Equal(t, &catalog.Access{Level: "licensed", Rule: "payments", Groups: []string{"pay"}, HowToAsk: "Ask the payments team",
		RequestURL: "/requests/new?ref=" + url.QueryEscape(ref)}, a)
	assert.Equal(t, &catalog.Access{Level: catalog.AccessPublic}, p.Access("registry.corp/golden/web/app02", ""), "no rule: public")

	e := &catalog.Entry{Repository: "registry.corp/golden/payments/app02", Digest: "sha256:aa"}
	p.Apply(e)
	assert.Equal(t, "licensed", e.AccessLevel)
	assert.Equal(t, "payments", e.Access.Rule)
	c := e.Clone()
	c.Access.Groups[0] = "changed"
	assert.Equal(t, "pay", e.Access.Groups[0], "Clone copies the access")

	// Visibility keys: the same allowed rules share a key.
	assert.Equal(t, p.For().Key(), p.For("nobody").Key())
	assert.NotEqual(t, p.For().Key(), p.For("pay").Key())
	assert.Equal(t, "", p.For("pay", "data").Key(), "sees everything")
	assert.Equal(t, p.For("data").Key(), p.For("sre").Key(), "data and sre see the same")
	var nilPolicy *catalog.AccessPolicy
	assert.True(t, nilPolicy.For().Visible("anything"))
	var nilVis *catalog.Visibility
	assert.True(t, nilVis.Visible("anything"))

	// The resolve hook says how to ask.
	ok, why := p.For().Allows(context.Background(), e)
	assert.False(t, ok)
	assert.Contains(t, why, "restricted (access level licensed): members of pay may use it; Ask the payments team /requests/new?ref=")
	ok, _ = p.For("pay").Allows(context.Background(), e)
	assert.True(t, ok)
}

func FuzzAccessPattern(f *testing.F) {
	f.Add("**/licensed/*", "registry.corp/golden/licensed/oracle")
	f.Add("registry.corp/**/x/**", "registry.corp/a/x/b/x")
	f.Add("*:*/[", "a:b/c")
	f.Fuzz(func(t *testing.T, pattern, repo string) {
		p, err := catalog.NewAccessPolicy([]catalog.AccessRule{{Name: "r", Repositories: []string{pattern}, Level: "l", Groups: []string{"g"}}})
		if err != nil {
			return
		}
		v := p.For()
		_ = v.Visible(repo)
		_ = p.Access(repo, repo)
		assert.True(t, p.For("g").Visible(repo))
	})
}

// TestViewReplacement: an entry's replacement that names an image the
// caller may not see is left out of the entry the caller gets.
func TestViewReplacement(t *testing.T) {
	ctx := context.Background()
	p, err := catalog.NewAccessPolicy(catalogtest.AccessRules())
	require.NoError(t, err)
	s := catalog.NewMemoryStore()
	e := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 1, Entries: 2})[1] // search/app00: public
	require.True(t, p.For().Visible(e.Repository))
	for _, tc := range []struct {
		replacement string
		outsider    string
	}{
		{"registry.corp/golden/payments/app09:2.0", ""},
		{"registry.corp/golden/payments/app09@sha256:aa", ""},
		{"registry.corp/golden/search/app01:2.0", "registry.corp/golden/search/app01:2.0"},
		{"registry.corp/golden/payments/app01:2.0", "registry.corp/golden/payments/app01:2.0"}, // the public exception
	} {
		e.Replacement = tc.replacement
		require.NoError(t, s.Put(ctx, e))
		got, err := catalog.NewView(s, p.For()).Get(ctx, e.Repository, e.Digest)
		require.NoError(t, err)
		assert.Equal(t, tc.outsider, got.Replacement, "outsider, replacement %s", tc.replacement)
		got, err = catalog.NewView(s, p.For("pay")).Get(ctx, e.Repository, e.Digest)
		require.NoError(t, err)
		assert.Equal(t, tc.replacement, got.Replacement, "member")
		many, err := catalog.GetMany(ctx, catalog.NewView(s, p.For()), []catalog.EntryRef{{Repository: e.Repository, Digest: e.Digest}})
		require.NoError(t, err)
		assert.Equal(t, tc.outsider, many[0].Replacement, "GetMany")
	}
	assert.Equal(t, "registry.corp:5000/x", catalog.ReferenceRepository("registry.corp:5000/x"))
	assert.Equal(t, "registry.corp:5000/x", catalog.ReferenceRepository("registry.corp:5000/x:1"))
}

// TestRedact: references to images the caller may not see are replaced in
// free text, whatever surrounds them; other text is left alone.
func TestRedact(t *testing.T) {
	p, err := catalog.NewAccessPolicy(catalogtest.AccessRules())
	require.NoError(t, err)
	out := p.For()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"the base OS (debian 12) ends first", "the base OS (debian 12) ends first"},
		{"use registry.corp/golden/payments/app09:2.0.", "use " + catalog.Redacted + "."},
		{"superseded by registry.corp/golden/payments/app09@sha256:aa, see (registry.corp/golden/payments/app08)",
			"superseded by " + catalog.Redacted + ", see (" + catalog.Redacted + ")"},
		{"\"registry.corp/golden/payments/app09\"", "\"" + catalog.Redacted + "\""},
		{"registry.corp/golden/search/app01:2.0 and registry.corp/golden/payments/app01:2.0", "registry.corp/golden/search/app01:2.0 and registry.corp/golden/payments/app01:2.0"},
		{"https://endoflife.date/nginx sha256:aa", "https://endoflife.date/nginx sha256:aa"},
	} {
		got, changed := out.Redact(tc.in)
		assert.Equal(t, tc.want, got, "outsider: %q", tc.in)
		assert.Equal(t, tc.in != tc.want, changed, "changed: %q", tc.in)
		got, changed = p.For("pay").Redact(tc.in)
		assert.Equal(t, tc.in, got, "member: %q", tc.in)
		assert.False(t, changed)
	}
	var nilV *catalog.Visibility
	got, _ := nilV.Redact("registry.corp/golden/payments/app09")
	assert.Equal(t, "registry.corp/golden/payments/app09", got, "nil visibility sees everything")
}

// TestViewRedactsFreeText: a public entry's free text that names an image
// the caller may not see (end-of-life reason and sources, source
// reference, labels, problems) reaches the caller redacted, through Get,
// GetMany and Search, and the store's entry is untouched; a member reads
// it whole.
func TestViewRedactsFreeText(t *testing.T) {
	ctx := context.Background()
	p, err := catalog.NewAccessPolicy(catalogtest.AccessRules())
	require.NoError(t, err)
	s := catalog.NewMemoryStore()
	e := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 1, Entries: 2})[1] // search/app00: public
	require.True(t, p.For().Visible(e.Repository))
	hidden := "registry.corp/golden/payments/app09"
	e.Source.Reference = hidden + ":2.0"
	e.EndOfLife = &catalog.EndOfLife{Date: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), Source: "override",
		Reason: "moved to " + hidden + "@sha256:aa.", Sources: []catalog.EndOfLifeSource{{Role: "image", Source: "override", Detail: "see " + hidden}}}
	e.Labels = map[string]string{"successor": hidden, "tier": "gold"}
	e.Problems = []catalog.Problem{{Subject: e.Digest, Evidence: catalog.EvidenceSBOM, Reason: catalog.ReasonUnreadable, Detail: "copied from " + hidden}}
	require.NoError(t, s.Put(ctx, e))

	check := func(name string, got *catalog.Entry) {
		t.Helper()
		assert.Equal(t, catalog.Redacted, got.Source.Reference, "%s: source", name)
		assert.Equal(t, "moved to "+catalog.Redacted+".", got.EndOfLife.Reason, "%s: end-of-life reason", name)
		assert.Equal(t, "see "+catalog.Redacted, got.EndOfLife.Sources[0].Detail, "%s: end-of-life source", name)
		assert.Equal(t, map[string]string{"successor": catalog.Redacted, "tier": "gold"}, got.Labels, "%s: labels", name)
		assert.Equal(t, "copied from "+catalog.Redacted, got.Problems[0].Detail, "%s: problem", name)
	}
	view := catalog.NewView(s, p.For())
	got, err := view.Get(ctx, e.Repository, e.Digest)
	require.NoError(t, err)
	check("Get", got)
	many, err := catalog.GetMany(ctx, view, []catalog.EntryRef{{Repository: e.Repository, Digest: e.Digest}})
	require.NoError(t, err)
	check("GetMany", many[0])
	res, err := view.Search(ctx, catalog.Query{Repository: e.Repository})
	require.NoError(t, err)
	require.Len(t, res.Entries, 1)
	assert.Equal(t, "moved to "+catalog.Redacted+".", res.Entries[0].EndOfLife.Reason, "search: end-of-life reason")
	assert.Equal(t, catalog.Redacted, res.Entries[0].Labels["successor"], "search: label")

	stored, err := s.Get(ctx, e.Repository, e.Digest)
	require.NoError(t, err)
	assert.Equal(t, e.EndOfLife.Reason, stored.EndOfLife.Reason, "the store's entry is untouched")
	res, err = s.Search(ctx, catalog.Query{Repository: e.Repository})
	require.NoError(t, err)
	assert.Equal(t, e.EndOfLife.Reason, res.Entries[0].EndOfLife.Reason, "the store's summary is untouched")
	member, err := catalog.NewView(s, p.For("pay")).Get(ctx, e.Repository, e.Digest)
	require.NoError(t, err)
	assert.Equal(t, e.EndOfLife.Reason, member.EndOfLife.Reason, "a member reads the names")
	assert.Equal(t, e.Labels, member.Labels)
}

// BenchmarkRedact: what redaction costs a View per text field an outsider
// reads: a typical end-of-life reason (no reference), one naming a public
// image, and one naming a hidden image.
func BenchmarkRedact(b *testing.B) {
	p, err := catalog.NewAccessPolicy(catalogtest.AccessRules())
	require.NoError(b, err)
	out := p.For()
	for _, bc := range []struct{ name, text string }{
		{"plain", "the base OS (debian 12) ends first"},
		{"public", "superseded by registry.corp/golden/search/app01:2.0 (the image's own date)"},
		{"hidden", "superseded by registry.corp/golden/payments/app09@sha256:aa (the image's own date)"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out.Redact(bc.text)
			}
		})
	}
}
