package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// DefaultStallTimeout is the stall timeout of a Client whose
// Options.StallTimeout is zero.
const DefaultStallTimeout = 30 * time.Second

// StallError is the error of a request to which the registry sent no byte
// (response headers or body) for the stall timeout. It matches ErrStalled
// with errors.Is and is a net.Error whose Timeout is true, so that callers
// that attempt broken transfers again do so.
type StallError struct {
	// Method and URL name the request.
	Method, URL string
	// After is the stall timeout that expired.
	After time.Duration
	// Body is true when the response had begun (the stall was in the
	// body), false when no response header arrived.
	Body bool
}

func (e *StallError) Error() string {
	what := "no response"
	if e.Body {
		what = "no byte of the response body"
	}
	return fmt.Sprintf("%s %s: registry stalled: %s for %s", e.Method, e.URL, what, e.After)
}

// Is reports whether target is ErrStalled.
func (e *StallError) Is(target error) bool { return target == ErrStalled }

// Timeout is true: a stall is a timeout.
func (e *StallError) Timeout() bool { return true }

// Temporary is true: the registry may answer another attempt.
func (e *StallError) Temporary() bool { return true }

// stallTransport abandons a request when no byte moves for timeout in
// either direction: the request body (being sent), the response headers
// (unless a request body was sent in full: committing a large upload may
// take a registry long) or the response body. The retry transport above it retries a request
// abandoned before its response; a stall in a response body surfaces as a
// *StallError from Read, for the caller to attempt again (a body cannot be
// replayed underneath it).
type stallTransport struct {
	base    http.RoundTripper
	timeout time.Duration
}

var errStallCause = errors.New("stall timeout")

func (t *stallTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	w := &watchdog{timeout: t.timeout, cancel: cancel}
	w.timer = time.AfterFunc(t.timeout, w.fire)
	r := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		r.Body = &progressBody{rc: req.Body, w: w}
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		w.stop()
		if w.fired() && req.Context().Err() == nil {
			return nil, &StallError{Method: req.Method, URL: req.URL.Redacted(), After: t.timeout}
		}
		return nil, err
	}
	w.disarm()
	resp.Body = &stallBody{rc: resp.Body, w: w, req: req, timeout: t.timeout}
	return resp, nil
}

// watchdog cancels a request when its timer fires. The timer runs only
// while cssc waits on the network: for the response headers, inside a read
// of the response body, and while the transport sends the request body
// (not while it waits for the next piece of it). A reader that is slow to
// read (backpressure from the destination of a copy) is not a stall.
type watchdog struct {
	timeout time.Duration
	cancel  context.CancelCauseFunc
	timer   *time.Timer

	mu      sync.Mutex
	expired bool
	stopped bool
}

func (w *watchdog) fire() {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	w.expired = true
	w.mu.Unlock()
	w.cancel(errStallCause)
}

// arm (re)starts the timer.
func (w *watchdog) arm() {
	w.mu.Lock()
	if !w.stopped && !w.expired {
		w.timer.Reset(w.timeout)
	}
	w.mu.Unlock()
}

// disarm stops the timer until the next arm.
func (w *watchdog) disarm() {
	w.mu.Lock()
	if !w.stopped && !w.expired {
		w.timer.Stop()
	}
	w.mu.Unlock()
}

func (w *watchdog) fired() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.expired
}

func (w *watchdog) stop() {
	w.mu.Lock()
	w.stopped = true
	w.timer.Stop()
	w.mu.Unlock()
	w.cancel(context.Canceled)
}

// progressBody is a request body: the transport reading it is not waiting
// on the network, the transport writing what it read is.
type progressBody struct {
	rc io.ReadCloser
	w  *watchdog
}

func (b *progressBody) Read(p []byte) (int, error) {
	b.w.disarm()
	n, err := b.rc.Read(p)
	if err == nil {
		b.w.arm()
	}
	// At the end (or on a read error) the timer stays off: the registry
	// may take long to commit a large upload before it answers.
	return n, err
}

func (b *progressBody) Close() error { return b.rc.Close() }

// stallBody is a response body whose reads are watched; the cancellation
// of a stalled read becomes a *StallError.
type stallBody struct {
	rc      io.ReadCloser
	w       *watchdog
	req     *http.Request
	timeout time.Duration
}

func (b *stallBody) Read(p []byte) (int, error) {
	b.w.arm()
	n, err := b.rc.Read(p)
	b.w.disarm()
	if err != nil && err != io.EOF && b.w.fired() && b.req.Context().Err() == nil {
		err = &StallError{Method: b.req.Method, URL: b.req.URL.Redacted(), After: b.timeout, Body: true}
	}
	return n, err
}

func (b *stallBody) Close() error {
	err := b.rc.Close()
	b.w.stop()
	return err
}
