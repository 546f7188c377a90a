package event

import (
	"context"
	"errors"
	"log/slog"
	"sync"
)

// ErrClosed is returned by AsyncSink.Emit after Close.
var ErrClosed = errors.New("event: sink closed")

// AsyncOptions configure Async. The zero value is ready to use.
type AsyncOptions struct {
	// Queue caps the events waiting for the sink; Emit blocks (until its
	// context ends) while the queue is full. Zero means 1024.
	Queue int
	// Workers is how many events are handed to the sink at once. Zero
	// means 4.
	Workers int
	// Logger receives the errors of the sink, which Emit can no longer
	// return. Nil means silent.
	Logger *slog.Logger
}

// AsyncSink hands events to another sink in the background, so that a
// producer does not wait for slow deliveries (webhook retries). Events
// queued when the process dies are lost: put it in front of a sink only
// when that is acceptable, or emit synchronously.
type AsyncSink struct {
	sink   Sink
	queue  chan Event
	log    *slog.Logger
	wg     sync.WaitGroup
	mu     sync.RWMutex
	closed bool
	ctx    context.Context
	cancel context.CancelFunc
}

// Async starts the workers of an AsyncSink in front of sink. Close it to
// deliver what is queued and stop them.
func Async(sink Sink, opts AsyncOptions) *AsyncSink {
	if opts.Queue <= 0 {
		opts.Queue = 1024
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &AsyncSink{sink: sink, queue: make(chan Event, opts.Queue), log: log, ctx: ctx, cancel: cancel}
	for range opts.Workers {
		a.wg.Go(func() {
			for e := range a.queue {
				if err := a.sink.Emit(a.ctx, e); err != nil {
					a.log.Warn("event: delivery failed", "id", e.ID, "type", e.Type, "subject", e.Subject, "error", err)
				}
			}
		})
	}
	return a
}

// Emit queues events. It blocks while the queue is full, until ctx ends.
func (a *AsyncSink) Emit(ctx context.Context, events ...Event) error {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return ErrClosed
	}
	for _, e := range events {
		select {
		case a.queue <- e:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close stops taking events and waits until the queued ones are handed
// to the sink, or ctx ends (then deliveries in progress are cancelled).
func (a *AsyncSink) Close(ctx context.Context) error {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.queue)
	}
	a.mu.Unlock()
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
		a.cancel()
		return nil
	case <-ctx.Done():
		a.cancel()
		<-done
		return ctx.Err()
	}
}
