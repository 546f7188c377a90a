package catalog_test

import (
	"testing"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
)

func TestMemoryStoreConformance(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalog.Store { return catalog.NewMemoryStore() })
}
