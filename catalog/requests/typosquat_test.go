package requests

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTyposquat(t *testing.T) {
	c, err := compile(Rules{KnownImages: append(append([]string(nil), DefaultKnownImages...), "ghcr.io/acme/payments-api")})
	require.NoError(t, err)
	for _, tc := range []struct {
		name      string
		resembles string
		kind      string
	}{
		{"docker.io/library/ngnix", "docker.io/library/nginx", TyposquatDistance},
		{"docker.io/library/nginxx", "docker.io/library/nginx", TyposquatDistance},
		{"docker.io/library/ubunt", "docker.io/library/ubuntu", TyposquatDistance},
		{"docker.io/library/a1pine", "docker.io/library/alpine", TyposquatConfusable},
		{"docker.io/library/rnysql", "docker.io/library/mysql", TyposquatConfusable},
		{"docker.io/library/postgre5", "docker.io/library/postgres", TyposquatConfusable},
		{"docker.io/library/eclipse_temurin", "docker.io/library/eclipse-temurin", TyposquatConfusable},
		{"docker.io/nginxofficial/nginx", "docker.io/library/nginx", TyposquatNamespace},
		{"ghcr.io/evil/alpine", "docker.io/library/alpine", TyposquatNamespace},
		{"dockerr.io/library/redis", "docker.io/library/redis", TyposquatDistance},
		{"ghcr.io/acme/payment-api", "ghcr.io/acme/payments-api", TyposquatDistance},
		{"ghcr.io/acrne/payments-api", "ghcr.io/acme/payments-api", TyposquatConfusable},
		// Not look-alikes.
		{"docker.io/library/nginx", "", ""},
		{"ghcr.io/acme/payments-api", "", ""},
		{"ghcr.io/acme/billing", "", ""},
		{"docker.io/library/haskell", "", ""},
		{"quay.io/keycloak/keycloak", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := checkTyposquat(tc.name, c.known, 0)
			if tc.resembles == "" {
				assert.Nil(t, got, "%s is not a look-alike; got %+v", tc.name, got)
				return
			}
			require.NotNil(t, got, "%s resembles %s", tc.name, tc.resembles)
			assert.Equal(t, tc.resembles, got.Resembles, "resembles: got %+v", got)
			assert.Equal(t, tc.kind, got.Kind, "kind: got %+v", got)
			assert.Contains(t, got.Detail, tc.resembles, "the detail names the known image")
		})
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"nginx", "nginx", 0}, {"nginx", "ngnix", 1}, {"nginx", "nginxx", 1}, {"nginx", "ngin", 1},
		{"nginx", "nkinx", 1}, {"redis", "rides", 2}, {"abc", "xyz", 3}, {"", "ab", 2},
	} {
		assert.Equal(t, tc.want, distance(tc.a, tc.b, 5), "distance(%q, %q)", tc.a, tc.b)
	}
	assert.Equal(t, 2, distance("abcdef", "uvwxyz", 1), "the distance stops past the limit")
}

func TestRulesCompile(t *testing.T) {
	c, err := compile(Rules{
		Sources:     []string{"docker.io/library/*", "ghcr.io/acme/**", "127.0.0.1:*/**"},
		AutoApprove: []Rule{{Name: "official", Match: []string{"docker.io/library/*"}}},
	})
	require.NoError(t, err)
	assert.True(t, c.allowed("docker.io/library/nginx"))
	assert.False(t, c.allowed("docker.io/library/team/nginx"), "* stays within a segment")
	assert.True(t, c.allowed("ghcr.io/acme/team/app"), "** crosses segments")
	assert.True(t, c.allowed("127.0.0.1:5000/library/clean"))
	assert.False(t, c.allowed("docker.io/evil/nginx"))
	assert.Equal(t, "official", c.approver("docker.io/library/nginx"))
	assert.Equal(t, "", c.approver("ghcr.io/acme/app"))

	for name, r := range map[string]Rules{
		"empty pattern":  {Sources: []string{""}},
		"digest":         {Sources: []string{"docker.io/library/nginx@sha256:x"}},
		"triple star":    {Sources: []string{"docker.io/***"}},
		"unnamed rule":   {AutoApprove: []Rule{{Match: []string{"a/b"}}}},
		"rule no match":  {AutoApprove: []Rule{{Name: "x"}}},
		"duplicate rule": {AutoApprove: []Rule{{Name: "x", Match: []string{"a/b"}}, {Name: "x", Match: []string{"a/c"}}}},
		"known with tag": {KnownImages: []string{"docker.io/library/nginx:1.27"}},
		"known garbage":  {KnownImages: []string{"Not A Name"}},
	} {
		_, err := compile(r)
		assert.ErrorIs(t, err, ErrInvalidRules, name)
	}
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"nginx", "docker.io/library/nginx:1.27", "ghcr.io/a/b@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"nginх", "https://x/y", "UPPER/case", "a:b:c", " x", ""} {
		f.Add(s)
	}
	c, err := compile(Rules{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := parseReference(s)
		if err != nil {
			return
		}
		_ = checkTyposquat(ref.Name(), c.known, 0)
		_ = c.allowed(ref.Name())
	})
}
