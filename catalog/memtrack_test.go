package catalog_test

import (
	"testing"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
)

func TestMemoryTracksConformance(t *testing.T) {
	stores := map[*testing.T]*catalog.MemoryStore{}
	catalogtest.RunTracks(t, func(t *testing.T) catalog.TrackStore {
		// A second call in the same subtest is a second handle on the
		// same store.
		if s, ok := stores[t]; ok {
			return s
		}
		s := catalog.NewMemoryStore()
		stores[t] = s
		return s
	})
}
