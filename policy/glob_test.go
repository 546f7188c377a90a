package policy

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSourcePatterns(t *testing.T) {
	cases := []struct {
		pattern string
		src     string
		match   bool
	}{
		{"docker.io/library/nginx", "docker.io/library/nginx", true},
		{"docker.io/library/nginx", "docker.io/library/nginx-unprivileged", false},
		{"docker.io/library/nginx", "docker.io/library/ngnix", false},
		{"docker.io/library/*", "docker.io/library/nginx", true},
		{"docker.io/library/*", "docker.io/library/a/b", false},
		{"docker.io/library/*", "docker.io/library", false},
		{"docker.io/library/nginx*", "docker.io/library/nginx-unprivileged", true},
		{"mcr.microsoft.com/**", "mcr.microsoft.com/dotnet/runtime", true},
		{"mcr.microsoft.com/**", "mcr.microsoft.com/a", true},
		{"mcr.microsoft.com/**", "mcr.microsoft.com.evil.io/a", false},
		{"a.io/x/**/y", "a.io/x/y", true},
		{"a.io/x/**/y", "a.io/x/p/q/y", true},
		{"a.io/x/**/y", "a.io/x/p/q/z", false},
		{"*.azurecr.io/**", "corp.azurecr.io/base/alpine", true},
		{"*.azurecr.io/**", "corp.azurecr.io.evil.com/base/alpine", false},
		{"localhost:5000/*", "localhost:5000/x", true},
		{"127.0.0.1:*/**", "127.0.0.1:41234/quarantine/nginx", true},
		{"**", "anything.io/at/all", true},
		{"oci/**", "oci/tmp/layouts/nginx", true},
		{"mem/*", "mem/nginx", true},
		{"docker.io/lib.ary/x", "docker.io/libXary/x", false}, // dots are literal
	}
	for _, tc := range cases {
		p, err := compileSourcePattern(tc.pattern)
		require.NoError(t, err, tc.pattern)
		assert.Equal(t, tc.match, p.match(tc.src), "%s vs %s", tc.pattern, tc.src)
	}
}

func TestIdentityPatterns(t *testing.T) {
	cases := []struct {
		pattern, s string
		match      bool
	}{
		{"https://github.com/cssc-go/**", "https://github.com/cssc-go/cssc/.github/workflows/r.yml@refs/heads/main", true},
		{"https://github.com/cssc-go/*", "https://github.com/cssc-go/cssc/.github/workflows/r.yml", false},
		{"https://github.com/cssc-go/**", "https://github.com/cssc-go-evil/x", false},
		{"CN=Docker*", "CN=Docker Official Images", true},
		{"CN=Docker*", "cn=docker official images", false},
		{"**", "", true},
		{"x", "x", true},
		{"a.b", "aXb", false},
		{"(a|b)+", "(a|b)+", true}, // regexp metacharacters are literal
	}
	for _, tc := range cases {
		p, err := compileGlob(tc.pattern, false)
		require.NoError(t, err, tc.pattern)
		assert.Equal(t, tc.match, p.match(tc.s), "%s vs %q", tc.pattern, tc.s)
	}
}

func TestNormaliseSource(t *testing.T) {
	cases := map[Reference]string{
		{Registry: "docker.io", Repository: "nginx"}:                    "docker.io/library/nginx",
		{Registry: "index.docker.io", Repository: "library/nginx"}:      "docker.io/library/nginx",
		{Registry: "registry-1.docker.io", Repository: "bitnami/nginx"}: "docker.io/bitnami/nginx",
		{Registry: "Quay.IO", Repository: "/Org/Repo/"}:                 "quay.io/org/repo",
		{Registry: "ghcr.io", Repository: "nginx"}:                      "ghcr.io/nginx",
	}
	for ref, want := range cases {
		assert.Equal(t, want, normaliseSource(ref), "%+v", ref)
	}
}

func TestEditDistance(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"nginx", "nginx", 0},
		{"nginx", "ngnix", 1},
		{"nginx", "nginxx", 1},
		{"nginx", "ngin", 1},
		{"nginx", "nqinx", 1},
		{"nginx", "xnginxx", 2},
		{"nginx", "apache", 3}, // over the limit
		{"", "abc", 3},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, editDistance(tc.a, tc.b, 2), "%s/%s", tc.a, tc.b)
	}
}

func TestResembles(t *testing.T) {
	assert.Equal(t, "docker.io/library/nginx", resembles("docker.io/library/ngnix", "docker.io/library/nginx"))
	assert.Equal(t, "", resembles("docker.io/library/nginx", "docker.io/library/nginx"))
	assert.Equal(t, "docker.io/library/*", resembles("docker.io/libary/nginx", "docker.io/library/*"))
	assert.Equal(t, "", resembles("docker.io/library/nginx", "docker.io/library/*"))
	assert.Equal(t, "", resembles("quay.io/x", "docker.io/library/*"))
	assert.Equal(t, "mcr.microsoft.com/**", resembles("mcr.microsoft.co/dotnet/runtime", "mcr.microsoft.com/**"))
	assert.Equal(t, "", resembles("x", "**"))
}
