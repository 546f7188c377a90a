package lifecycle_test

import (
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/lifecycle"
)

const nginxRepo = "registry.corp/golden/library/nginx"

func utc(y int, m time.Month, d, h, min, s int) time.Time {
	return time.Date(y, m, d, h, min, s, 0, time.UTC)
}

func date(t testing.TB, s string) lifecycle.Date {
	t.Helper()
	d, err := lifecycle.ParseDate(s)
	require.NoError(t, err)
	return d
}

// testEntry is an nginx image on Debian 12 with a Go 1.22 binary.
func testEntry(tags ...string) *catalog.Entry {
	d := digest.FromString(strings.Join(tags, ","))
	return &catalog.Entry{Repository: nginxRepo, Digest: d, Tags: tags, Children: []catalog.Child{{
		Digest: d, Platform: "linux/amd64",
		Packages: []catalog.Package{
			{Name: "base-files", Version: "12.4+deb12u7", Ecosystem: "Debian:12", PURL: "pkg:deb/debian/base-files@12.4%2Bdeb12u7?distro=bookworm"},
			{Name: "nginx", Version: "1.26.3-1", Ecosystem: "Debian:12", PURL: "pkg:deb/debian/nginx@1.26.3-1?distro=bookworm"},
			{Name: "stdlib", Version: "1.22.5", Ecosystem: "Go", PURL: "pkg:golang/stdlib@1.22.5"},
		},
	}}}
}

func marker(t *testing.T, eol string, created time.Time) *attest.Lifecycle {
	t.Helper()
	d, err := attest.ParseDate(eol)
	require.NoError(t, err)
	return &attest.Lifecycle{EndOfLife: d, Created: created, Digest: digest.FromString("marker " + eol + created.String())}
}

func compile(t *testing.T, cfg lifecycle.Config) *lifecycle.Policy {
	t.Helper()
	p, err := lifecycle.Compile(cfg)
	require.NoError(t, err)
	return p
}

func TestResolveEarliestRoleWins(t *testing.T) {
	p := compile(t, lifecycle.Config{Releases: readReleases(t), Rules: []lifecycle.Rule{
		{Name: "nginx 1.26", Repository: "*/golden/library/nginx", Tag: "1.26*", EndOfLife: date(t, "2027-01-01"), Replacement: nginxRepo + ":1.28"},
	}})
	res, err := p.Resolve(lifecycle.Facts{Entry: testEntry("1.26.3")})
	require.NoError(t, err)
	// The image: rule 2027-01-01 and nginx 1.26 in the data file 2025-04-23
	// (the rule ranks first); base OS Debian 12: 2026-06-10; runtime Go
	// 1.22: 2026-07-31T22:00Z. The earliest role date is the base OS's.
	assert.Equal(t, utc(2026, 6, 10, 0, 0, 0), res.EndOfLife)
	assert.Equal(t, lifecycle.RoleBaseOS, res.Role)
	assert.Equal(t, lifecycle.SourceData, res.Source)
	assert.Equal(t, "debian 12", res.Detail)
	assert.Equal(t, utc(2026, 6, 10, 0, 0, 0), res.Support)
	assert.Equal(t, nginxRepo+":1.28", res.Replacement)
	assert.Contains(t, res.Reason, "from the base OS")
	assert.Contains(t, res.Reason, "rule nginx 1.26 2027-01-01T00:00:00Z preferred over image 2025-04-23T00:00:00Z (data-file nginx 1.26)", "the choice between the image's sources is recorded: %s", res.Reason)
	assert.Contains(t, res.Reason, "runtime 2026-07-31T22:00:00Z")
	want := []catalog.EndOfLifeSource{
		{Role: "base-os", Source: "data-file", Date: utc(2026, 6, 10, 0, 0, 0), Detail: "debian 12"},
		{Role: "image", Source: "data-file", Date: utc(2025, 4, 23, 0, 0, 0), Detail: "nginx 1.26"},
		{Role: "image", Source: "rule", Date: utc(2027, 1, 1, 0, 0, 0), Detail: "nginx 1.26"},
		{Role: "runtime", Source: "data-file", Date: utc(2026, 7, 31, 22, 0, 0), Detail: "go 1.22"},
	}
	assert.Equal(t, want, res.Sources, "every date considered is recorded with its role and source")
}

func TestResolveMarkerAndConflicts(t *testing.T) {
	rules := []lifecycle.Rule{{Repository: nginxRepo, EndOfLife: date(t, "2027-01-01")}}
	f := lifecycle.Facts{Entry: testEntry("1.26.3"), Marker: marker(t, "2026-01-01", utc(2025, 1, 1, 0, 0, 0))}

	p := compile(t, lifecycle.Config{Rules: rules})
	res, err := p.Resolve(f)
	require.NoError(t, err)
	assert.Equal(t, utc(2026, 1, 1, 0, 0, 0), res.EndOfLife, "the signed marker ranks before a rule")
	assert.Equal(t, lifecycle.SourceMarker, res.Source)
	assert.Contains(t, res.Reason, "lifecycle-marker")
	assert.Contains(t, res.Reason, "preferred over image 2027-01-01T00:00:00Z (rule rule 0)")

	strict := compile(t, lifecycle.Config{Rules: rules, Conflicts: lifecycle.ConflictFail})
	_, err = strict.Resolve(f)
	var ce *lifecycle.ConflictError
	require.ErrorAs(t, err, &ce)
	assert.ErrorIs(t, err, lifecycle.ErrConflict)
	assert.Equal(t, []string{"lifecycle-marker 2026-01-01T00:00:00Z", "rule 2027-01-01T00:00:00Z"}, ce.Dates)
	c := strict.Evaluate(f, utc(2026, 6, 1, 0, 0, 0))
	assert.Equal(t, lifecycle.KindError, c.Kind, "a conflict changes nothing, even past both dates")
	assert.Empty(t, c.Steps)
	assert.ErrorIs(t, c.Err(), lifecycle.ErrConflict)

	// An override settles the conflict, and may move the date later than
	// every other source.
	strict = compile(t, lifecycle.Config{Rules: rules, Conflicts: lifecycle.ConflictFail, Releases: readReleases(t), Overrides: []lifecycle.Override{
		{Repository: nginxRepo, EndOfLife: date(t, "2028-03-01T12:00:00+01:00"), Reason: "extended support contract", Author: "platform team"}}})
	res, err = strict.Resolve(f)
	require.NoError(t, err)
	assert.True(t, res.Override)
	assert.Equal(t, utc(2028, 3, 1, 11, 0, 0), res.EndOfLife)
	assert.Contains(t, res.Reason, "set by override (platform team: extended support contract)")
	assert.Contains(t, res.Reason, "supersedes base OS 2026-06-10")
}

func TestResolveUndatedAndRecorded(t *testing.T) {
	rel := readReleases(t)
	p := compile(t, lifecycle.Config{Releases: rel, Overrides: []lifecycle.Override{
		{Repository: "*/golden/library/*", Replacement: "registry.corp/golden/library/debian:12", Reason: "move to bookworm"}}})
	e := testEntry("10")
	e.Repository = "registry.corp/golden/library/debian"
	e.Children[0].Packages = []catalog.Package{{Name: "base-files", Version: "10.3", Ecosystem: "Debian:10"}}
	res, err := p.Resolve(lifecycle.Facts{Entry: e})
	require.NoError(t, err)
	assert.True(t, res.EndOfLife.IsZero(), "eol true without a date never retires")
	assert.Contains(t, res.Reason, "says ended but gives no date")
	assert.Equal(t, "registry.corp/golden/library/debian:12", res.Replacement, "an override may set only the replacement")
	c := p.Evaluate(lifecycle.Facts{Entry: e}, utc(2030, 1, 1, 0, 0, 0))
	assert.Equal(t, catalog.StatusActive, c.To)

	// Once a date was recorded, sources that stop naming one do not make
	// the image supported again.
	rec := marker(t, "2026-01-01", utc(2025, 12, 1, 0, 0, 0))
	rec.State = &attest.LifecycleState{Status: "deprecated", Source: "rule"}
	res, err = p.Resolve(lifecycle.Facts{Entry: e, State: rec})
	require.NoError(t, err)
	assert.Equal(t, utc(2026, 1, 1, 0, 0, 0), res.EndOfLife)
	assert.Equal(t, "rule", res.Source)
	assert.Contains(t, res.Reason, "recorded end of life stays")
}

func TestStatusAtBoundariesAndTimeZones(t *testing.T) {
	p := compile(t, lifecycle.Config{Window: lifecycle.Duration{Duration: 30 * 24 * time.Hour}})
	// "2026-01-01T00:00:00+05:00" is 2025-12-31T19:00:00Z.
	res, err := p.Resolve(lifecycle.Facts{Entry: testEntry("x"), Marker: marker(t, "2026-01-01T00:00:00+05:00", time.Time{})})
	require.NoError(t, err)
	eol := utc(2025, 12, 31, 19, 0, 0)
	require.Equal(t, eol, res.EndOfLife)
	for _, tc := range []struct {
		now  time.Time
		want catalog.Status
	}{
		{eol.Add(-30*24*time.Hour - time.Second), catalog.StatusActive},
		{eol.Add(-30 * 24 * time.Hour), catalog.StatusDeprecated},
		{eol.Add(-time.Second), catalog.StatusDeprecated},
		{time.Date(2025, 12, 31, 19, 59, 59, 0, time.FixedZone("CET", 3600)), catalog.StatusDeprecated}, // 18:59:59Z
		{eol, catalog.StatusRetired},
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("PKT", 5*3600)), catalog.StatusRetired}, // the same instant
	} {
		assert.Equal(t, tc.want, p.StatusAt(res, tc.now), "at %s", tc.now)
	}
}

func TestNextStickyRetiredAndNotice(t *testing.T) {
	p := compile(t, lifecycle.Config{Notice: lifecycle.Duration{Duration: 14 * 24 * time.Hour}})
	now := utc(2026, 3, 1, 0, 0, 0)
	later := &lifecycle.Resolution{EndOfLife: utc(2027, 1, 1, 0, 0, 0)}
	past := &lifecycle.Resolution{EndOfLife: utc(2026, 1, 1, 0, 0, 0)}

	to, note := p.Next(catalog.StatusRetired, time.Time{}, later, now)
	assert.Equal(t, catalog.StatusRetired, to, "a later date alone does not bring a retired image back")
	assert.Contains(t, note, "only an override")
	overridden := *later
	overridden.Override = true
	to, note = p.Next(catalog.StatusRetired, time.Time{}, &overridden, now)
	assert.Equal(t, catalog.StatusActive, to)
	assert.Contains(t, note, "reinstated")

	to, note = p.Next(catalog.StatusActive, time.Time{}, past, now)
	assert.Equal(t, catalog.StatusDeprecated, to, "never retired without a deprecation first when a notice is configured")
	assert.Contains(t, note, "notice")
	to, _ = p.Next(catalog.StatusDeprecated, now.Add(-13*24*time.Hour), past, now)
	assert.Equal(t, catalog.StatusDeprecated, to, "the notice runs 14 days")
	to, note = p.Next(catalog.StatusDeprecated, now.Add(-14*24*time.Hour), past, now)
	assert.Equal(t, catalog.StatusRetired, to)
	assert.Empty(t, note)
}

func TestCompileRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]lifecycle.Config{
		"rule without date":      {Rules: []lifecycle.Rule{{Repository: "x"}}},
		"bad rule pattern":       {Rules: []lifecycle.Rule{{Repository: "[", EndOfLife: lifecycle.Date{Time: time.Now()}}}},
		"override without why":   {Overrides: []lifecycle.Override{{Repository: "x", Replacement: "y"}}},
		"override doing nothing": {Overrides: []lifecycle.Override{{Repository: "x", Reason: "because"}}},
		"override without repo":  {Overrides: []lifecycle.Override{{Reason: "r", Replacement: "y"}}},
		"unknown conflict mode":  {Conflicts: "vote"},
		"unknown action":         {Retirement: lifecycle.Retirement{Action: "shred"}},
		"archive without target": {Retirement: lifecycle.Retirement{Action: lifecycle.ActionArchive}},
		"grace without untag":    {Retirement: lifecycle.Retirement{GracePeriod: lifecycle.Duration{Duration: time.Hour}}},
	} {
		_, err := lifecycle.Compile(cfg)
		assert.ErrorIs(t, err, lifecycle.ErrInvalidConfig, name)
	}
	_, err := lifecycle.ParseConfig([]byte(`{"window":"90d","rules":[{"repository":"x","endOfLife":"2026-02-29"}]}`))
	assert.ErrorIs(t, err, lifecycle.ErrInvalidConfig, "2026 is not a leap year")
	assert.ErrorIs(t, err, lifecycle.ErrImpossibleDate)
	_, err = lifecycle.ParseConfig([]byte(`{"window":"90d","rule":[]}`))
	assert.ErrorIs(t, err, lifecycle.ErrUnknownField)
	cfg, err := lifecycle.ParseConfig([]byte(`{"window":"30d","notice":"336h","rules":[{"repository":"x","endOfLife":"2026-01-01"}],
		"retirement":{"action":"untag","gracePeriod":"90d"}}`))
	require.NoError(t, err)
	p := compile(t, *cfg)
	assert.Equal(t, 30*24*time.Hour, p.Window())
}
