package upstream

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/cssc-go/cssc/registry"
)

// Budget is a request budget for one registry host: at most Requests
// requests per Per, spread evenly (a token bucket that starts full).
type Budget struct {
	// Requests is how many requests the budget allows per Per. Zero means
	// no budget (unlimited).
	Requests int
	// Per is the period of the budget. Zero means one hour.
	Per time.Duration
}

// Defaults of host limits.
const (
	// DefaultBackoff is how long a host is left alone after a 429 without
	// Retry-After, or after it said it has no requests left without
	// saying when that ends.
	DefaultBackoff = time.Minute
	// MaxBackoff caps how long any answer keeps a host alone: 24 hours.
	MaxBackoff = 24 * time.Hour
)

// hosts is the state of every registry host this instance talks to: its
// budget (a token bucket) and the time until which it asked to be left
// alone (Retry-After, rate-limit headers). It is fed by observe, which the
// tracker's HTTP transport calls with every response.
type hosts struct {
	budgets map[string]Budget
	def     Budget
	now     func() time.Time

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	blocked  map[string]blockedHost
}

type blockedHost struct {
	until time.Time
	why   string
}

func newHosts(budgets map[string]Budget, def Budget, now func() time.Time) *hosts {
	return &hosts{budgets: budgets, def: def, now: now, limiters: map[string]*rate.Limiter{}, blocked: map[string]blockedHost{}}
}

// hostKey maps the hosts a client talks to onto the registry names of
// references: Docker Hub's API host is docker.io's.
func hostKey(h string) string {
	switch h = strings.ToLower(h); h {
	case "registry-1.docker.io", "index.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return h
}

// blockedUntil returns the time until which host asked to be left alone,
// and why, or a zero time.
func (h *hosts) blockedUntil(host string) (time.Time, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.blocked[hostKey(host)]
	if !ok || !b.until.After(h.now()) {
		return time.Time{}, ""
	}
	return b.until, b.why
}

// block leaves host alone until until (capped at MaxBackoff from now),
// unless it is already left alone for longer.
func (h *hosts) block(host string, until time.Time, why string) {
	now := h.now()
	until = minTime(until, now.Add(MaxBackoff))
	h.mu.Lock()
	defer h.mu.Unlock()
	k := hostKey(host)
	if b, ok := h.blocked[k]; ok && b.until.After(until) {
		return
	}
	h.blocked[k] = blockedHost{until: until, why: why}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// take takes one request from host's budget, waiting at most maxWait for
// it. It returns false (taking nothing) when the budget cannot give one
// in time, or when the host is blocked.
func (h *hosts) take(ctx context.Context, host string, maxWait time.Duration) bool {
	if until, _ := h.blockedUntil(host); !until.IsZero() {
		return false
	}
	l := h.limiter(host)
	if l == nil {
		return true
	}
	r := l.Reserve()
	d := r.Delay()
	if d > maxWait {
		r.Cancel()
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		r.Cancel()
		return false
	}
}

func (h *hosts) limiter(host string) *rate.Limiter {
	k := hostKey(host)
	b, ok := h.budgets[k]
	if !ok {
		b = h.def
	}
	if b.Requests <= 0 {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.limiters[k]
	if !ok {
		per := b.Per
		if per <= 0 {
			per = time.Hour
		}
		l = rate.NewLimiter(rate.Limit(float64(b.Requests)/per.Seconds()), b.Requests)
		h.limiters[k] = l
	}
	return l
}

// observe reads what a response says about the host's limits: a 429 (or
// a 503 with Retry-After) leaves the host alone until Retry-After says,
// or DefaultBackoff; a rate-limit header that says no request is left
// (RateLimit-Remaining, X-RateLimit-Remaining, Docker Hub's
// "ratelimit-remaining: 0;w=21600") leaves it alone until the reset it
// names (RateLimit-Reset, X-RateLimit-Reset, or the window w).
func (h *hosts) observe(host string, resp *http.Response) {
	now := h.now()
	ra, hasRA := registry.ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	ra = min(ra, MaxBackoff)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		if !hasRA {
			ra = DefaultBackoff
		}
		h.block(host, now.Add(ra), "429 Too Many Requests")
		return
	case resp.StatusCode == http.StatusServiceUnavailable && hasRA:
		h.block(host, now.Add(ra), "503 Service Unavailable with Retry-After")
		return
	}
	for _, name := range []string{"RateLimit-Remaining", "X-RateLimit-Remaining"} {
		v := resp.Header.Get(name)
		if v == "" {
			continue
		}
		n, window, ok := parseRemaining(v)
		if !ok || n > 0 {
			return
		}
		reset, ok := resetAfter(resp.Header, now)
		switch {
		case ok:
		case window > 0:
			reset = window
		default:
			reset = DefaultBackoff
		}
		h.block(host, now.Add(reset), name+": 0")
		return
	}
}

// parseRemaining reads "76", "76;w=21600" or "76, 100;w=60": the first
// number, and the window of the first "w=" parameter (seconds).
func parseRemaining(v string) (int64, time.Duration, bool) {
	first, rest, _ := strings.Cut(v, ";")
	first, _, _ = strings.Cut(first, ",")
	n, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	if err != nil {
		return 0, 0, false
	}
	var window time.Duration
	for _, p := range strings.Split(rest, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(k, "w") {
			if s, err := strconv.ParseInt(strings.TrimSpace(strings.Split(val, ",")[0]), 10, 64); err == nil && s > 0 {
				window = seconds(s)
			}
			break
		}
	}
	return n, window, true
}

// resetAfter reads RateLimit-Reset (seconds from now) or
// X-RateLimit-Reset (seconds from now, or a Unix time when it is that
// large).
func resetAfter(hdr http.Header, now time.Time) (time.Duration, bool) {
	for _, name := range []string{"RateLimit-Reset", "X-RateLimit-Reset"} {
		v := strings.TrimSpace(hdr.Get(name))
		if v == "" {
			continue
		}
		v, _, _ = strings.Cut(v, ";")
		s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || s < 0 {
			continue
		}
		if s > 1_000_000_000 {
			return max(time.Unix(s, 0).Sub(now), 0), true
		}
		return seconds(s), true
	}
	return 0, false
}

// seconds is s seconds, at most MaxBackoff when a Duration cannot hold it.
func seconds(s int64) time.Duration {
	if s > math.MaxInt64/int64(time.Second) {
		return MaxBackoff
	}
	return time.Duration(s) * time.Second
}

// observer is the HTTP transport of the tracker's registry client: it
// hands every response (retries and token requests included) to hosts,
// and each manifest request of a check to the check's authProbe.
type observer struct {
	base  http.RoundTripper
	hosts *hosts
}

func (o *observer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := o.base.RoundTrip(req)
	if resp != nil {
		o.hosts.observe(req.URL.Host, resp)
		if p, ok := req.Context().Value(probeKey{}).(*authProbe); ok {
			p.see(req, resp)
		}
	}
	return resp, err
}

// authProbe records, for one check, the last manifest request the
// tracker's transport saw: whether it carried a bearer token (so the
// token exchange had succeeded), its status, and the error code of its
// Bearer challenge (RFC 6750: "insufficient_scope", "invalid_token").
type authProbe struct {
	mu     sync.Mutex
	bearer bool
	status int
	code   string
}

type probeKey struct{}

// withProbe returns ctx carrying p for the transport to fill.
func withProbe(ctx context.Context, p *authProbe) context.Context {
	return context.WithValue(ctx, probeKey{}, p)
}

// see records a manifest request and its response.
func (p *authProbe) see(req *http.Request, resp *http.Response) {
	if !strings.Contains(req.URL.Path, "/manifests/") {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bearer = strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ")
	p.status = resp.StatusCode
	p.code = ""
	for _, c := range resp.Header.Values("WWW-Authenticate") {
		if code := challengeError(c); code != "" {
			p.code = code
		}
	}
}

// refusedWithToken reports whether the last manifest request carried a
// token (the token exchange succeeded: our credentials, or anonymous
// access, were accepted) and the registry still refused it with 401 or
// 403 and the error code "insufficient_scope": what Docker Hub answers
// for a repository that does not exist or is private. A refusal without
// a token, or with "invalid_token", is our credentials' problem and is
// not reported. It returns the status and code, for the record.
func (p *authProbe) refusedWithToken() (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.bearer || (p.status != http.StatusUnauthorized && p.status != http.StatusForbidden) || !strings.EqualFold(p.code, "insufficient_scope") {
		return "", false
	}
	return fmt.Sprintf("%d %s", p.status, p.code), true
}

// challengeError returns the error parameter of a Bearer challenge
// (`Bearer realm="...",scope="...",error="insufficient_scope"`), or "".
func challengeError(c string) string {
	scheme, params, ok := strings.Cut(strings.TrimSpace(c), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	for params != "" {
		params = strings.TrimLeft(params, " ,")
		k, rest, ok := strings.Cut(params, "=")
		if !ok {
			return ""
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return ""
			}
			v, params = rest[1:1+end], rest[2+end:]
		} else {
			v, params, _ = strings.Cut(rest, ",")
		}
		if strings.EqualFold(strings.TrimSpace(k), "error") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
