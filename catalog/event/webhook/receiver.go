package webhook

import (
	"bytes"
	"container/list"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cssc-go/cssc/catalog/event"
)

// HandlerOptions configure a Handler. Secrets is required.
type HandlerOptions struct {
	// Secrets are the accepted HMAC keys (several during a rotation),
	// each at least MinSecretBytes. Required.
	Secrets [][]byte
	// Tolerance is how far a request's timestamp may be from now, either
	// way, against replays. Zero means 5 minutes.
	Tolerance time.Duration
	// Remember is how many handled event ids are remembered to drop
	// redeliveries. Zero means 10,000.
	Remember int
	// MaxBodyBytes caps a request body. Zero means 2 MiB.
	MaxBodyBytes int64
	// Logger receives a line per refused request. Nil means silent.
	Logger *slog.Logger
	// Now is the clock timestamps are checked against. Nil means time.Now.
	Now func() time.Time
}

// Handler is the receiving end of a webhook: an http.Handler that checks
// each request's Standard Webhooks signature and timestamp, decodes the
// CloudEvent, drops events whose id it has already handled, and hands the
// others to a Sink. It answers 204 when the sink took the event (or the
// event is a duplicate), 401 for a bad signature, 400 for a bad event,
// 413 for a body over the cap, and 500 when the sink failed (so that the
// sender retries).
type Handler struct {
	opts  HandlerOptions
	sink  event.Sink
	mu    sync.Mutex
	seen  map[string]*list.Element
	order *list.List
}

// NewHandler returns a Handler that hands verified events to sink.
func NewHandler(opts HandlerOptions, sink event.Sink) (*Handler, error) {
	if len(opts.Secrets) == 0 {
		return nil, fmt.Errorf("%w: no secret", ErrInvalidConfig)
	}
	for i, s := range opts.Secrets {
		if len(s) < MinSecretBytes {
			return nil, fmt.Errorf("%w: secret %d shorter than %d bytes", ErrInvalidConfig, i, MinSecretBytes)
		}
	}
	if sink == nil {
		return nil, fmt.Errorf("%w: no sink", ErrInvalidConfig)
	}
	if opts.Tolerance <= 0 {
		opts.Tolerance = 5 * time.Minute
	}
	if opts.Remember <= 0 {
		opts.Remember = 10_000
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 2 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Handler{opts: opts, sink: sink, seen: map[string]*list.Element{}, order: list.New()}, nil
}

// Verify checks a request's signature headers against body with any of
// secrets, and that its timestamp is within tolerance of now. Errors wrap
// ErrSignature.
func Verify(secrets [][]byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("%w: missing %s, %s or %s", ErrSignature, HeaderID, HeaderTimestamp, HeaderSignature)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q", ErrSignature, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp %s is %v away from now", ErrSignature, ts, d.Round(time.Second))
	}
	for _, secret := range secrets {
		want := []byte(Sign(secret, id, ts, body))
		for _, s := range strings.Fields(sigs) {
			v, sig, ok := strings.Cut(s, ",")
			if ok && v == "v1" && hmac.Equal([]byte(sig), want) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: no v1 signature verifies", ErrSignature)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.opts.MaxBodyBytes+1))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if int64(len(body)) > h.opts.MaxBodyBytes {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err := Verify(h.opts.Secrets, r.Header, body, h.opts.Now(), h.opts.Tolerance); err != nil {
		h.opts.Logger.Warn("webhook: refused", "remote", r.RemoteAddr, "error", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var e event.Event
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&e); err != nil || dec.More() {
		http.Error(w, "not a CloudEvent", http.StatusBadRequest)
		return
	}
	if err := e.Validate(); err != nil || e.ID != r.Header.Get(HeaderID) {
		http.Error(w, "invalid CloudEvent, or its id is not the webhook-id", http.StatusBadRequest)
		return
	}
	// Claim the id before handing the event over, so that a redelivery
	// arriving meanwhile is dropped; give it back if the sink fails.
	h.mu.Lock()
	if _, dup := h.seen[e.ID]; dup {
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	el := h.order.PushBack(e.ID)
	h.seen[e.ID] = el
	for h.order.Len() > h.opts.Remember {
		delete(h.seen, h.order.Remove(h.order.Front()).(string))
	}
	h.mu.Unlock()
	if err := h.sink.Emit(r.Context(), e); err != nil {
		h.mu.Lock()
		if h.seen[e.ID] == el {
			delete(h.seen, e.ID)
			h.order.Remove(el)
		}
		h.mu.Unlock()
		h.opts.Logger.Warn("webhook: sink failed", "id", e.ID, "error", err)
		http.Error(w, "not handled", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
