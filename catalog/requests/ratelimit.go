package requests

import (
	"sync"
	"time"
)

// maxTracked caps the requesters a limiter remembers; past it, those
// whose window has passed are forgotten first.
const maxTracked = 100_000

// limiter allows n events per window per key (a sliding window over the
// times of the last n events).
type limiter struct {
	mu     sync.Mutex
	n      int
	window time.Duration
	seen   map[string][]time.Time
}

func newLimiter(n int, window time.Duration) *limiter {
	return &limiter{n: n, window: window, seen: map[string][]time.Time{}}
}

// take records an event of key at now and returns 0, or, when key had n
// events within the window already, records nothing and returns how long
// until the oldest leaves the window.
func (l *limiter) take(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.seen[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.window {
		i++
	}
	ts = ts[i:]
	if len(ts) >= l.n {
		l.seen[key] = ts
		return max(l.window-now.Sub(ts[0]), time.Second)
	}
	if len(l.seen) >= maxTracked {
		for k, v := range l.seen {
			if len(v) == 0 || now.Sub(v[len(v)-1]) >= l.window {
				delete(l.seen, k)
			}
		}
	}
	l.seen[key] = append(ts, now)
	return 0
}
