package webhook

import (
	"bytes"
	"container/list"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/cssc-go/cssc/catalog/event"
)

// Header names of the Standard Webhooks signature scheme.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// ContentType is the media type of a CloudEvent in structured mode.
const ContentType = "application/cloudevents+json; charset=utf-8"

// MinSecretBytes is the shortest secret New and Handler accept: 16 bytes.
const MinSecretBytes = 16

// Errors of this package.
var (
	// ErrInvalidConfig: options that New or NewHandler refuse (no URL, a
	// short secret).
	ErrInvalidConfig = errors.New("webhook: invalid configuration")
	// ErrDelivery: an event was not delivered after every attempt, or the
	// receiver refused it for good.
	ErrDelivery = errors.New("webhook: delivery failed")
	// ErrSignature: a request's signature is missing, malformed, stale or
	// does not verify.
	ErrSignature = errors.New("webhook: bad signature")
)

// Options configure a Sender. URL and Secret are required.
type Options struct {
	// URL is the receiver's endpoint (http or https). Required.
	URL string
	// Secret is the shared HMAC-SHA256 key, at least MinSecretBytes.
	// Required.
	Secret []byte
	// Client sends the requests. Nil means a client with a 10 s timeout.
	Client *http.Client
	// MaxAttempts caps the deliveries of one event. Zero means 6.
	MaxAttempts int
	// Backoff is the wait before the second attempt; each later wait
	// doubles, with up to 25% random jitter added, capped at MaxBackoff.
	// A Retry-After header (in seconds) from the receiver is honoured up
	// to MaxBackoff. Zero means 500 ms.
	Backoff time.Duration
	// MaxBackoff caps one wait. Zero means 30 s.
	MaxBackoff time.Duration
	// Remember is how many delivered event ids are remembered, so that an
	// event emitted again is not sent again. Zero means 10,000.
	Remember int
	// Logger receives a line per failed attempt. Nil means silent.
	Logger *slog.Logger
	// Now returns the time signed into requests. Nil means time.Now.
	Now func() time.Time
}

// Sender delivers events to one webhook endpoint: each event is one POST
// of its CloudEvents JSON, signed with HMAC-SHA256 as Standard Webhooks
// says (headers webhook-id, webhook-timestamp, webhook-signature "v1,<b64>"
// over "id.timestamp.body"), retried on network errors, 408, 429 and 5xx
// with exponential backoff, and never sent again once delivered (the ids
// of the last Options.Remember deliveries are kept; the same id emitted
// concurrently is sent once). Any other response is a permanent failure.
// It implements event.Sink: Emit returns when every event is delivered or
// has failed. It is safe for concurrent use.
type Sender struct {
	opts Options
	url  string

	mu       sync.Mutex
	done     map[string]*list.Element
	order    *list.List
	inflight map[string]*call
}

type call struct {
	wait chan struct{}
	err  error
}

var _ event.Sink = (*Sender)(nil)

// New returns a Sender. It fails (ErrInvalidConfig) without a URL or with
// a secret shorter than MinSecretBytes.
func New(opts Options) (*Sender, error) {
	u, err := url.Parse(opts.URL)
	if opts.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: url %q", ErrInvalidConfig, opts.URL)
	}
	if len(opts.Secret) < MinSecretBytes {
		return nil, fmt.Errorf("%w: secret shorter than %d bytes", ErrInvalidConfig, MinSecretBytes)
	}
	opts.Secret = bytes.Clone(opts.Secret)
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 6
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 500 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.Remember <= 0 {
		opts.Remember = 10_000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Sender{opts: opts, url: u.String(), done: map[string]*list.Element{}, order: list.New(), inflight: map[string]*call{}}, nil
}

// Emit implements event.Sink: it delivers the events one after the
// other and returns the joined errors of those that failed (each wrapping
// ErrDelivery, or the context's error).
func (s *Sender) Emit(ctx context.Context, events ...event.Event) error {
	var errs []error
	for _, e := range events {
		if err := s.deliverOnce(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Delivered reports whether the event id was delivered (and is still
// remembered).
func (s *Sender) Delivered(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.done[id]
	return ok
}

func (s *Sender) deliverOnce(ctx context.Context, e event.Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	for {
		s.mu.Lock()
		if _, ok := s.done[e.ID]; ok {
			s.mu.Unlock()
			return nil
		}
		c, busy := s.inflight[e.ID]
		if !busy {
			c = &call{wait: make(chan struct{})}
			s.inflight[e.ID] = c
			s.mu.Unlock()
			break
		}
		s.mu.Unlock()
		// The same event is on its way: its outcome is ours, unless it
		// failed, in which case try again ourselves.
		select {
		case <-c.wait:
			if c.err == nil {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := s.deliver(ctx, e)
	s.mu.Lock()
	c := s.inflight[e.ID]
	delete(s.inflight, e.ID)
	c.err = err
	if err == nil {
		s.done[e.ID] = s.order.PushBack(e.ID)
		for s.order.Len() > s.opts.Remember {
			old := s.order.Remove(s.order.Front()).(string)
			delete(s.done, old)
		}
	}
	s.mu.Unlock()
	close(c.wait)
	return err
}

// retryable is a response status worth trying again.
func retryable(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

func (s *Sender) deliver(ctx context.Context, e event.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrDelivery, e.ID, err)
	}
	wait := s.opts.Backoff
	var last error
	for attempt := 1; attempt <= s.opts.MaxAttempts; attempt++ {
		retryAfter, err := s.post(ctx, e.ID, body)
		if err == nil {
			return nil
		}
		last = err
		var perm *permanentError
		if errors.As(err, &perm) {
			return fmt.Errorf("%w: event %s: %v", ErrDelivery, e.ID, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.opts.Logger.Warn("webhook: attempt failed", "url", s.url, "id", e.ID, "type", e.Type, "attempt", attempt, "error", err)
		if attempt == s.opts.MaxAttempts {
			break
		}
		d := wait + time.Duration(rand.Int64N(int64(wait)/4+1))
		if retryAfter > 0 {
			d = max(d, retryAfter)
		}
		d = min(d, s.opts.MaxBackoff)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		wait = min(2*wait, s.opts.MaxBackoff)
	}
	return fmt.Errorf("%w: event %s after %d attempts: %v", ErrDelivery, e.ID, s.opts.MaxAttempts, last)
}

type permanentError struct{ status int }

func (p *permanentError) Error() string { return "receiver answered " + strconv.Itoa(p.status) }

// post sends one attempt and returns the receiver's Retry-After, if any.
func (s *Sender) post(ctx context.Context, id string, body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, &permanentError{}
	}
	ts := strconv.FormatInt(s.opts.Now().Unix(), 10)
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, "v1,"+Sign(s.opts.Secret, id, ts, body))
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	if !retryable(resp.StatusCode) {
		return 0, &permanentError{status: resp.StatusCode}
	}
	var ra time.Duration
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n > 0 {
		ra = time.Duration(n) * time.Second
	}
	return ra, fmt.Errorf("receiver answered %d", resp.StatusCode)
}

// Sign returns the base64 HMAC-SHA256 of "id.timestamp.body" under secret:
// the signature of a Standard Webhooks request (without its "v1," prefix).
func Sign(secret []byte, id, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
