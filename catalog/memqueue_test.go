package catalog_test

import (
	"testing"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
)

func TestMemoryQueueConformance(t *testing.T) {
	queues := map[*testing.T]*catalog.MemoryQueue{}
	catalogtest.RunQueue(t, func(t *testing.T) catalogtest.QueueStore {
		// A second call in the same subtest is a second handle on the
		// same queue.
		if q, ok := queues[t]; ok {
			return q
		}
		q := catalog.NewMemoryQueue()
		queues[t] = q
		return q
	})
}
