package registry

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"7", 7 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"99999999999999999", 1<<63 - 1, true},
	} {
		got, ok := ParseRetryAfter(tc.in, now)
		assert.Equal(t, tc.ok, ok, "retryAfter(%q) ok", tc.in)
		assert.Equal(t, tc.want, got, "retryAfter(%q)", tc.in)
	}
}

func TestRetryPolicy(t *testing.T) {
	p := newRetryPolicy(Options{MaxRetryAfter: 5 * time.Second})
	resp := func(code int, after string) *http.Response {
		r := &http.Response{StatusCode: code, Header: http.Header{}}
		if after != "" {
			r.Header.Set("Retry-After", after)
		}
		return r
	}
	wait, _ := p.Retry(0, resp(429, "120"), nil)
	assert.Equal(t, 5*time.Second, wait, "Retry-After is capped at MaxRetryAfter")
	wait, _ = p.Retry(0, resp(503, "2"), nil)
	assert.Equal(t, 2*time.Second, wait, "Retry-After below the cap is honoured (oras-go would cap it at 3 s)")
	wait, _ = p.Retry(0, resp(404, ""), nil)
	assert.Negative(t, wait, "404 is not retried")
	wait, _ = p.Retry(0, resp(501, ""), nil)
	assert.Negative(t, wait, "501 is not retried")
	wait, _ = p.Retry(5, resp(500, ""), nil)
	assert.Negative(t, wait, "no retry after MaxRetries (default 5)")
	wait, _ = p.Retry(2, resp(500, ""), nil)
	assert.InDelta(t, float64(time.Second), float64(wait), float64(100*time.Millisecond), "exponential backoff: 250ms * 2^2 ± 10%%")
	wait, _ = p.Retry(0, nil, errors.New("connection reset"))
	assert.Positive(t, wait, "network errors are retried")
	none := newRetryPolicy(Options{MaxRetries: -1})
	wait, _ = none.Retry(0, resp(500, ""), nil)
	assert.Negative(t, wait, "MaxRetries < 0 disables retries")
}
