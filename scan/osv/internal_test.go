package osv

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/scan"
)

func TestCVSS3BaseScore(t *testing.T) {
	tests := []struct {
		vector string
		want   float64
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10.0},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1},
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L", 5.3},
		{"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6},
		{"CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9},
		{"CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H", 7.2},
		{"CVSS:3.1/AV:A/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 6.5},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N", 6.1},
		{"CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:C/C:L/I:L/A:L", 4.7},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0},
		{"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8},
		{"CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O/RC:C", 9.8},
		{"CVSS:3.1/C:H/I:H/A:H/AV:N/AC:L/PR:N/UI:N/S:U", 9.8}, // any order
	}
	for _, tt := range tests {
		t.Run(tt.vector, func(t *testing.T) {
			got, err := cvss3BaseScore(tt.vector)
			require.NoError(t, err)
			assert.InDelta(t, tt.want, got, 1e-9, "score of %s", tt.vector)
		})
	}
	bad := []string{
		"", "CVSS:3.1/", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
		"AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",          // A missing
		"CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",      // bad value
		"CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", // repeated
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:1", // unknown metric
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/",     // empty metric
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:Q/C:H/I:H/A:H",      // bad scope
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" + strings.Repeat("/E:P", 200),
	}
	for _, v := range bad {
		_, err := cvss3BaseScore(v)
		assert.ErrorIs(t, err, errCVSS, "vector %q", v)
	}
}

func TestCVSS2BaseScore(t *testing.T) {
	tests := []struct {
		vector string
		want   float64
	}{
		{"AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5},
		{"AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3},
		{"AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0},
		{"AV:L/AC:L/Au:N/C:C/I:C/A:C", 7.2},
		{"(AV:N/AC:L/Au:N/C:N/I:N/A:P)", 5.0},
		{"AV:N/AC:L/Au:N/C:N/I:N/A:N", 0},
	}
	for _, tt := range tests {
		got, err := cvss2BaseScore(tt.vector)
		require.NoError(t, err, tt.vector)
		assert.InDelta(t, tt.want, got, 1e-9, "score of %s", tt.vector)
	}
	for _, v := range []string{"", "AV:N", "AV:N/AC:L/Au:N/C:P/I:P/A:Q", "AV:N/AC:L/Au:N/C:P/I:P/A:P/XX:Y"} {
		_, err := cvss2BaseScore(v)
		assert.ErrorIs(t, err, errCVSS, "vector %q", v)
	}
}

func TestRecordSeverity(t *testing.T) {
	tests := []struct {
		name string
		sevs []severity
		text string
		want scan.Severity
		cvss float64
	}{
		{"v3.1 vector", []severity{{"CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}, "", scan.SeverityCritical, 9.8},
		{"v3.1 preferred over v2", []severity{{"CVSS_V2", "AV:N/AC:L/Au:N/C:C/I:C/A:C"}, {"CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"}}, "", scan.SeverityMedium, 5.3},
		{"v2 only", []severity{{"CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P"}}, "", scan.SeverityHigh, 7.5},
		{"v4 not scored, text used", []severity{{"CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}}, "HIGH", scan.SeverityHigh, 0},
		{"bad vector ignored, text used", []severity{{"CVSS_V3", "CVSS:3.1/garbage"}}, "moderate", scan.SeverityMedium, 0},
		{"ubuntu priority", []severity{{"Ubuntu", "medium"}}, "", scan.SeverityMedium, 0},
		{"zero score", []severity{{"CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"}}, "", scan.SeverityLow, 0},
		{"nothing", nil, "", scan.SeverityUnknown, 0},
		{"unknown text", nil, "whatever", scan.SeverityUnknown, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := recordSeverity(tt.sevs, tt.text)
			assert.Equal(t, tt.want, s)
			assert.InDelta(t, tt.cvss, c, 1e-9)
		})
	}
}

func TestTextSeverity(t *testing.T) {
	assert.Equal(t, "HIGH", textSeverity([]byte(`{"severity": "HIGH", "cwe_ids": []}`)))
	assert.Equal(t, "low", textSeverity([]byte(`{"urgency": "low"}`)))
	assert.Empty(t, textSeverity([]byte(`{"severity": 3}`)))
	assert.Empty(t, textSeverity([]byte(`["severity"]`)))
	assert.Empty(t, textSeverity([]byte(`{"severity": `)))
	assert.Empty(t, textSeverity(nil))
}

func ev(kind uint8, v string) rawEvent { return rawEvent{kind, v} }

func TestRangeEvaluation(t *testing.T) {
	type check struct {
		version  string
		affected bool
		fixed    string
	}
	tests := []struct {
		name   string
		base   string
		semver bool
		events []rawEvent
		checks []check
	}{
		{"introduced 0, fixed", "npm", true,
			[]rawEvent{ev(evIntroduced, "0"), ev(evFixed, "1.0.0")},
			[]check{{"0.0.1", true, "1.0.0"}, {"0.9.9", true, "1.0.0"}, {"1.0.0", false, ""}, {"2.0.0", false, ""}, {"1.0.0-rc.1", true, "1.0.0"}}},
		{"several intervals, out of order in the record", "PyPI", false,
			[]rawEvent{ev(evFixed, "2.0"), ev(evIntroduced, "1.0"), ev(evFixed, "4.0"), ev(evIntroduced, "3.0")},
			[]check{{"0.9", false, ""}, {"1.0", true, "2.0"}, {"1.5", true, "2.0"}, {"2.0", false, ""}, {"2.5", false, ""}, {"3.0", true, "4.0"}, {"3.9", true, "4.0"}, {"4.0", false, ""}, {"9", false, ""}}},
		{"last_affected is inclusive, no fix named", "Maven", false,
			[]rawEvent{ev(evIntroduced, "1.0"), ev(evLastAffected, "1.5")},
			[]check{{"0.9", false, ""}, {"1.0", true, ""}, {"1.5", true, ""}, {"1.5.1", false, ""}, {"1.6", false, ""}}},
		{"introduced only: unfixed", "Debian", false,
			[]rawEvent{ev(evIntroduced, "0")},
			[]check{{"1:0.1-1", true, ""}, {"99", true, ""}}},
		{"introduced equals fixed: empty range", "npm", true,
			[]rawEvent{ev(evIntroduced, "1.0.0"), ev(evFixed, "1.0.0")},
			[]check{{"1.0.0", false, ""}, {"0.5.0", false, ""}}},
		{"limit bounds the range", "Go", true,
			[]rawEvent{ev(evIntroduced, "0"), ev(evLimit, "2.0.0")},
			[]check{{"1.9.9", true, ""}, {"2.0.0", false, ""}, {"3.0.0", false, ""}}},
		{"limit star is no limit", "Go", true,
			[]rawEvent{ev(evIntroduced, "0"), ev(evLimit, "*")},
			[]check{{"3.0.0", true, ""}}},
		{"debian epochs and tildes", "Debian", false,
			[]rawEvent{ev(evIntroduced, "0"), ev(evFixed, "1:2.0-1~deb12u1")},
			[]check{{"2.0-9", true, "1:2.0-1~deb12u1"}, {"1:2.0-1~deb12u0", true, "1:2.0-1~deb12u1"}, {"1:2.0-1", false, ""}, {"1:2.0-1~deb12u1", false, ""}, {"2:0.1", false, ""}}},
		{"alpine revisions and suffixes", "Alpine", false,
			[]rawEvent{ev(evIntroduced, "0"), ev(evFixed, "1.36.1-r29")},
			[]check{{"1.36.1-r28", true, "1.36.1-r29"}, {"1.36.1_rc1-r30", true, "1.36.1-r29"}, {"1.36.1-r29", false, ""}, {"1.36.10-r0", false, ""}}},
		{"pypi pre and post releases", "PyPI", false,
			[]rawEvent{ev(evIntroduced, "1.0"), ev(evFixed, "2.0")},
			[]check{{"1.0rc1", false, ""}, {"1.0.post1", true, "2.0"}, {"2.0b1", true, "2.0"}, {"2.0", false, ""}, {"1!0.5", false, ""}}},
		{"maven qualifiers", "Maven", false,
			[]rawEvent{ev(evIntroduced, "2.0-beta9"), ev(evFixed, "2.15.0")},
			[]check{{"2.0-alpha1", false, ""}, {"2.0-beta9", true, "2.15.0"}, {"2.0", true, "2.15.0"}, {"2.15.0-rc1", true, "2.15.0"}, {"2.15.0", false, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := compileRange(tt.base, rawRange{semver: tt.semver, events: tt.events}, &versionCache{})
			require.NoError(t, err)
			for _, c := range tt.checks {
				v, err := parseVersion(tt.base, c.version, tt.semver)
				require.NoError(t, err, c.version)
				affected, fixed, err := r.affects(v)
				require.NoError(t, err)
				assert.Equal(t, c.affected, affected, "%s affected", c.version)
				assert.Equal(t, c.fixed, fixed, "%s fixed", c.version)
			}
		})
	}
}

func TestGoTagToSemver(t *testing.T) {
	for in, want := range map[string]string{
		"go1.22.1": "1.22.1", "go1.21": "1.21.0", "go1": "1.0.0", "go1.23rc2": "1.23.0-rc.2",
		"go1.19beta1": "1.19.0-beta.1", "1.22.3": "1.22.3", "v1.22.3": "1.22.3",
		"go1.22.1 X:boringcrypto": "1.22.1",
	} {
		got, ok := goTagToSemver(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "devel", "go", "goX.1", "go1..2"} {
		_, ok := goTagToSemver(in)
		assert.False(t, ok, in)
	}
	assert.Equal(t, "1.2.3", canonicalVersion("Go", "example.com/m", "v1.2.3"))
	assert.Equal(t, "v1.2.3", canonicalVersion("npm", "x", "v1.2.3"))
}

func TestNormalize(t *testing.T) {
	assert.Equal(t, "zope-interface", normalizeName("PyPI", "Zope.Interface"))
	assert.Equal(t, "a-b-c", normalizeName("PyPI", "A__b-.-C"))
	assert.Equal(t, "Foo", normalizeName("npm", "Foo"))
	assert.Equal(t, "Debian:12", normalizeEcosystem("Debian:12.5"))
	assert.Equal(t, "Debian:12", normalizeEcosystem("Debian:bookworm"))
	assert.Equal(t, "Alpine:v3.20", normalizeEcosystem("Alpine:3.20.3"))
	assert.Equal(t, "Alpine:v3.20", normalizeEcosystem("Alpine:v3.20"))
	assert.Equal(t, "Ubuntu:22.04:LTS", normalizeEcosystem("Ubuntu:22.04:LTS"))
	assert.Equal(t, "Go", normalizeEcosystem("Go"))
	assert.True(t, supportedEcosystem("Debian"))
	assert.False(t, supportedEcosystem("FooOS"))
	assert.False(t, supportedEcosystem(""))
}

func TestRoundup(t *testing.T) {
	// The v3.1 Roundup avoids float surprises: 4.000000001 is 4.1 only in
	// v3.0's naive ceiling when the float error is upward.
	assert.InDelta(t, 4.0, roundup31(4.000000000000001), 1e-12)
	assert.InDelta(t, 4.1, roundup31(4.02), 1e-12)
	assert.InDelta(t, 4.1, roundup30(4.02), 1e-12)
	assert.False(t, math.IsNaN(roundup31(0)))
}
