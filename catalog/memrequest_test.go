package catalog_test

import (
	"testing"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
)

func TestMemoryRequestsConformance(t *testing.T) {
	stores := map[*testing.T]*catalog.MemoryStore{}
	catalogtest.RunRequests(t, func(t *testing.T) catalog.RequestStore {
		s, ok := stores[t]
		if !ok {
			s = catalog.NewMemoryStore()
			stores[t] = s
		}
		return s
	})
}
