package registry

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"oras.land/oras-go/v2/registry/remote/retry"
)

// retryPolicy retries network errors, 429 and 5xx (but not 501) with
// exponential backoff, honouring Retry-After up to Options.MaxRetryAfter.
type retryPolicy struct {
	maxRetries int
	ceiling    time.Duration
	opts       *Options
}

func newRetryPolicy(opts Options) retry.Policy {
	p := &retryPolicy{maxRetries: opts.MaxRetries, ceiling: opts.MaxRetryAfter, opts: &opts}
	if p.maxRetries == 0 {
		p.maxRetries = 5
	}
	if p.ceiling <= 0 {
		p.ceiling = 60 * time.Second
	}
	return p
}

func (p *retryPolicy) Retry(attempt int, resp *http.Response, err error) (time.Duration, error) {
	if attempt >= p.maxRetries || !retryable(resp, err) {
		return -1, nil
	}
	wait := backoff(attempt)
	if resp != nil {
		if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			wait = d
		}
	}
	wait = min(wait, p.ceiling)
	if l := p.opts.Logger; l != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		l.Debug("registry: retrying request", "attempt", attempt+1, "status", status, "error", err, "wait", wait)
	}
	return wait, nil
}

func retryable(resp *http.Response, err error) bool {
	if err != nil {
		// Cancellation is final; any other transport error is worth a retry.
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests,
		resp.StatusCode == http.StatusRequestTimeout,
		resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented:
		return true
	}
	return false
}

func backoff(attempt int) time.Duration {
	base := float64(250*time.Millisecond) * math.Pow(2, float64(attempt))
	jitter := 0.1 * base
	return time.Duration(base - jitter + rand.Float64()*2*jitter)
}

// ParseRetryAfter parses the value of a Retry-After header (RFC 9110):
// delay-seconds or an HTTP date, as a delay from now (zero for a date in
// the past; the largest Duration for more seconds than it holds). ok is
// false for an empty, negative or malformed value.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		if s > math.MaxInt64/int64(time.Second) {
			return math.MaxInt64, true
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
