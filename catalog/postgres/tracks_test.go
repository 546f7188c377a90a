package postgres_test

import (
	"testing"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
	"github.com/cssc-go/cssc/internal/pgtest"
)

func TestTracksConformance(t *testing.T) {
	dsns := map[*testing.T]string{}
	catalogtest.RunTracks(t, func(t *testing.T) catalog.TrackStore {
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
