package upstream

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestObserveLimits(t *testing.T) {
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		status int
		header map[string]string
		host   string
		want   time.Duration // 0: not blocked
	}{
		"429 with seconds":           {429, map[string]string{"Retry-After": "30"}, "r.example", 30 * time.Second},
		"429 with a date":            {429, map[string]string{"Retry-After": now.Add(time.Hour).Format(http.TimeFormat)}, "r.example", time.Hour},
		"429 without Retry-After":    {429, nil, "r.example", DefaultBackoff},
		"429 capped":                 {429, map[string]string{"Retry-After": "999999999"}, "r.example", MaxBackoff},
		"503 with Retry-After":       {503, map[string]string{"Retry-After": "5"}, "r.example", 5 * time.Second},
		"503 alone is an outage":     {503, nil, "r.example", 0},
		"docker hub exhausted":       {200, map[string]string{"ratelimit-remaining": "0;w=21600"}, "registry-1.docker.io", 6 * time.Hour},
		"docker hub left":            {200, map[string]string{"ratelimit-remaining": "76;w=21600"}, "registry-1.docker.io", 0},
		"ietf reset":                 {200, map[string]string{"RateLimit-Remaining": "0", "RateLimit-Reset": "42"}, "r.example", 42 * time.Second},
		"x- unix reset":              {200, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1777892400"}, "r.example", time.Unix(1777892400, 0).Sub(now)},
		"remaining without reset":    {200, map[string]string{"X-RateLimit-Remaining": "0"}, "r.example", DefaultBackoff},
		"garbage is ignored":         {200, map[string]string{"RateLimit-Remaining": "lots"}, "r.example", 0},
		"negative Retry-After":       {429, map[string]string{"Retry-After": "-5"}, "r.example", DefaultBackoff},
		"remaining list, first wins": {200, map[string]string{"RateLimit-Remaining": "0, 100;w=60"}, "r.example", time.Minute},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHosts(nil, Budget{}, func() time.Time { return now })
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
			for k, v := range tc.header {
				resp.Header.Set(k, v)
			}
			h.observe(tc.host, resp)
			key := hostKey(tc.host)
			until, _ := h.blockedUntil(key)
			if tc.want == 0 {
				assert.True(t, until.IsZero(), "not blocked: got until %v", until)
				return
			}
			assert.Equal(t, now.Add(tc.want), until, "blocked until")
		})
	}
}

func TestChallengeError(t *testing.T) {
	for c, want := range map[string]string{
		`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nope:pull",error="insufficient_scope"`: "insufficient_scope",
		`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"`:                           "",
		`Bearer error=invalid_token, realm="x"`:              "invalid_token",
		`bearer realm="a,b", error="insufficient_scope"`:     "insufficient_scope",
		`Basic realm="registry", error="insufficient_scope"`: "",
		`Bearer realm="unterminated`:                         "",
		``:                                                   "",
	} {
		assert.Equal(t, want, challengeError(c), "challenge %q", c)
	}
}
