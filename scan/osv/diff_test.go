package osv_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/sbom"
	"github.com/cssc-go/cssc/scan/osv"
)

// rec writes a minimal OSV record: eco/name affected from introduced to
// fixed ("" means no fix).
func rec(id, modified, eco, name, fixed string, extra ...string) []byte {
	events := `{"introduced":"0"}`
	if fixed != "" {
		events += `,{"fixed":"` + fixed + `"}`
	}
	aff := fmt.Sprintf(`{"package":{"ecosystem":%q,"name":%q},"ranges":[{"type":"ECOSYSTEM","events":[%s]}]}`, eco, name, events)
	for i := 0; i+1 < len(extra); i += 2 {
		aff += fmt.Sprintf(`,{"package":{"ecosystem":%q,"name":%q},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}`, extra[i], extra[i+1])
	}
	return fmt.Appendf(nil, `{"id":%q,"modified":%q,"affected":[%s]}`, id, modified, aff)
}

func loadMap(t testing.TB, files map[string][]byte) *osv.DB {
	t.Helper()
	m := fstest.MapFS{}
	for p, b := range files {
		m[p] = &fstest.MapFile{Data: b}
	}
	db, err := osv.LoadFS(context.Background(), m, osv.Options{Now: func() time.Time { return fixedTime }})
	require.NoError(t, err)
	return db
}

func TestDiff(t *testing.T) {
	old := loadMap(t, map[string][]byte{
		"same.json":      rec("SAME-1", "2024-01-01T00:00:00Z", "Debian:12", "openssl", "3.0.14-1"),
		"changed.json":   rec("CHG-1", "2024-01-01T00:00:00Z", "Debian:12", "zlib", "1:1.2.13-1", "Alpine:v3.20", "musl"),
		"withdraw.json":  rec("WD-1", "2024-01-01T00:00:00Z", "npm", "left-pad", "1.3.0"),
		"gone.json":      rec("GONE-1", "2024-01-01T00:00:00Z", "PyPI", "Django", "4.2.1"),
		"untouched.json": rec("KEEP-1", "2024-01-01T00:00:00Z", "Go", "golang.org/x/net", "0.23.0"),
	})
	newer := loadMap(t, map[string][]byte{
		"same.json":      rec("SAME-1", "2024-01-01T00:00:00Z", "Debian:12", "openssl", "3.0.14-1"),
		"changed.json":   rec("CHG-1", "2024-02-01T00:00:00Z", "Debian:12", "zlib", "1:1.2.13-2"),
		"withdraw.json":  []byte(`{"id":"WD-1","modified":"2024-02-01T00:00:00Z","withdrawn":"2024-02-01T00:00:00Z","affected":[]}`),
		"added.json":     rec("ADD-1", "2024-02-01T00:00:00Z", "Alpine:v3.20", "busybox", "1.36.1-r30"),
		"untouched.json": rec("KEEP-1", "2024-01-01T00:00:00Z", "Go", "golang.org/x/net", "0.23.0"),
	})
	d := newer.Diff(old)
	assert.Equal(t, old.Version(), d.From)
	assert.Equal(t, newer.Version(), d.To)
	assert.Equal(t, []string{"ADD-1"}, d.Added)
	assert.Equal(t, []string{"CHG-1"}, d.Changed)
	assert.Equal(t, []string{"GONE-1", "WD-1"}, d.Withdrawn, "withdrawn and removed records")
	assert.False(t, d.Empty())
	assert.Equal(t, []string{"Alpine:v3.20/busybox", "Alpine:v3.20/musl", "Debian:12/zlib", "PyPI/django", "npm/left-pad"}, d.PackageNames(),
		"packages named by either version of a changed record, PyPI names normalized")
	assert.Equal(t, 5, d.Packages())

	affected := []sbom.Package{
		{Name: "zlib1g", Version: "1:1.2.13-1", Ecosystem: "Debian:12", SourceName: "zlib"},
		{Name: "zlib1g", Version: "1:1.2.13-1", PURL: "pkg:deb/debian/zlib1g@1:1.2.13-1?distro=debian-12.7&source=zlib"},
		{Name: "musl", Version: "1.2.5-r1", Ecosystem: "Alpine:v3.20"},
		{Name: "busybox", Version: "1.36.1-r29", PURL: "pkg:apk/alpine/busybox@1.36.1-r29?distro=3.20.3"},
		{Name: "left-pad", Version: "1.0.0", Ecosystem: "npm"},
		{Name: "django", Version: "4.0", Ecosystem: "PyPI"},
	}
	for _, p := range affected {
		assert.True(t, d.Affects(&p), "%+v is affected", p)
	}
	unaffected := []sbom.Package{
		{Name: "libssl3", Version: "3.0.11-1", Ecosystem: "Debian:12", SourceName: "openssl"},
		{Name: "golang.org/x/net", Version: "0.1.0", Ecosystem: "Go"},
		{Name: "zlib1g", Version: "1:1.2.13-1", Ecosystem: "Debian:11", SourceName: "zlib"},
		{Name: "nameless"},
	}
	for _, p := range unaffected {
		assert.False(t, d.Affects(&p), "%+v is not affected", p)
	}

	assert.True(t, newer.Diff(newer).Empty(), "a database does not differ from itself")
	first := newer.Diff(nil)
	assert.Empty(t, first.From)
	assert.Len(t, first.Added, 4, "without a previous database every record is added")
}

// TestDiffAffectsIsSound checks the property rescans rely on: a package
// the delta does not affect matches the same before and after.
func TestDiffAffectsIsSound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	ecos := []string{"Debian:12", "npm", "Go"}
	gen := func(mod string) map[string][]byte {
		files := map[string][]byte{}
		for i := range 40 {
			if rng.IntN(5) == 0 {
				continue
			}
			fixed := fmt.Sprintf("1.%d.0", rng.IntN(6))
			files[fmt.Sprintf("r%d.json", i)] = rec(fmt.Sprintf("R-%d", i), mod, ecos[i%3], names[rng.IntN(len(names))], fixed)
		}
		return files
	}
	ctx := context.Background()
	for round := range 10 {
		old := loadMap(t, gen("2024-01-01T00:00:00Z"))
		newer := loadMap(t, gen("2024-02-01T00:00:00Z"))
		d := newer.Diff(old)
		var pkgs []sbom.Package
		for _, eco := range ecos {
			for _, n := range names {
				for v := range 7 {
					pkgs = append(pkgs, sbom.Package{Name: n, Version: fmt.Sprintf("1.%d.0", v), Ecosystem: eco})
				}
			}
		}
		before, err := old.MatchEach(ctx, pkgs)
		require.NoError(t, err)
		after, err := newer.MatchEach(ctx, pkgs)
		require.NoError(t, err)
		changed := 0
		for i, p := range pkgs {
			if !d.Affects(&p) {
				assert.Equal(t, before[i], after[i], "round %d: %+v not affected, yet its findings changed", round, p)
			} else if fmt.Sprint(before[i]) != fmt.Sprint(after[i]) {
				changed++
			}
		}
		assert.NotZero(t, changed, "round %d: the generator must change some findings for the check to mean anything", round)
	}
}

func TestMatchEachAgreesWithMatch(t *testing.T) {
	db := loadTestDB(t, osv.Options{})
	pkgs := []sbom.Package{
		{Name: "libssl3", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12", SourceName: "openssl"},
		{Name: "openssl", Version: "1.1.1w-0+deb11u1", Ecosystem: "Debian:11"},
		{Name: "libssl3", Version: "3.0.14-1~deb12u2", Ecosystem: "Debian:12", SourceName: "openssl"},
		{Name: "nothing", Version: "1"},
	}
	ctx := context.Background()
	each, err := db.MatchEach(ctx, pkgs)
	require.NoError(t, err)
	require.Len(t, each, len(pkgs))
	for i := range pkgs {
		rep, err := db.Match(ctx, pkgs[i:i+1])
		require.NoError(t, err)
		if len(rep.Findings) == 0 {
			assert.Nil(t, each[i], "package %d has no findings", i)
			continue
		}
		assert.Equal(t, rep.Findings, each[i], "package %d", i)
	}
	assert.NotNil(t, each[0], "the fixture matches")
}
