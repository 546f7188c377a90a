package postgres_test

import (
	"testing"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
	"github.com/cssc-go/cssc/internal/pgtest"
)

func TestRequestsConformance(t *testing.T) {
	dsns := map[*testing.T]string{}
	catalogtest.RunRequests(t, func(t *testing.T) catalog.RequestStore {
		// A second call in the same subtest opens a second store (its own
		// pool) on the same database, as a restarted or second instance
		// would.
		dsn, ok := dsns[t]
		if !ok {
			dsn = pgtest.New(t)
			dsns[t] = dsn
		}
		return open(t, dsn)
	})
}
