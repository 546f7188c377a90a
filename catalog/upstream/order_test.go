package upstream_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/cssc-go/cssc/catalog/event"
	"github.com/cssc-go/cssc/catalog/internal/eventtest"
	"github.com/cssc-go/cssc/catalog/upstream"
	"github.com/cssc-go/cssc/examples/sample"
)

// slowMoves is an event sink that takes its time over "moved" events, as
// a webhook does.
type slowMoves struct{ next event.Sink }

func (s slowMoves) Emit(ctx context.Context, evs ...event.Event) error {
	for _, e := range evs {
		if e.Type == upstream.TypeMoved {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return s.next.Emit(ctx, evs...)
}

// TestMoveComesBeforeTheAcquisitionsEnd: a moved tag's event comes before
// the event of its acquisition's end, even when the acquisition ends at
// once and the event sink is slow.
func TestMoveComesBeforeTheAcquisitionsEnd(t *testing.T) {
	open := storeKinds()["memory"](t)
	f := newFixture(t, open, func(o *upstream.Options) {
		o.Events = slowMoves{next: o.Events}
		o.Acquirer = upstream.AcquirerFunc(func(context.Context, upstream.Request) (*upstream.Result, error) {
			return nil, errors.New("the registry refused the connection")
		})
	})
	f.promote(sample.Clean)
	f.events.Take()
	f.publish(sample.Clean, sample.Tag, "patched", cleanPackages)
	f.clock.Add(time.Hour)
	f.sweep()
	assert.Equal(t, []string{upstream.TypeMoved, upstream.TypeFailed}, eventtest.Types(f.events.Take()))
}
