// Package eventtest holds an event sink for the tests of the packages that
// emit catalog events.
package eventtest

import (
	"context"
	"sync"

	"github.com/cssc-go/cssc/catalog/event"
)

// Sink is an event.Sink that keeps the events it receives; safe for
// concurrent use. The zero value is ready.
type Sink struct {
	mu     sync.Mutex
	events []event.Event
}

// Emit implements event.Sink.
func (s *Sink) Emit(_ context.Context, evs ...event.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, evs...)
	return nil
}

// Take returns the events received since the last call.
func (s *Sink) Take() []event.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.events
	s.events = nil
	return out
}

// Types returns the types of evs, in order.
func Types(evs []event.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}
