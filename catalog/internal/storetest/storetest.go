// Package storetest opens each kind of catalog store for the tests of
// the packages that run on all of them: memory, SQLite and PostgreSQL
// (through internal/pgtest, whose Main the test package's TestMain must
// call).
package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/postgres"
	"github.com/cssc-go/cssc/catalog/sqlite"
	"github.com/cssc-go/cssc/internal/pgtest"
)

// Store is what a database store is: every part of a catalog store in one
// handle (*sqlite.Store, *postgres.Store).
type Store interface {
	catalog.Store
	catalog.RequestStore
	catalog.TrackStore
	catalog.Queue
	catalog.Coordinator
	catalog.SweepLog
}

var (
	_ Store = (*sqlite.Store)(nil)
	_ Store = (*postgres.Store)(nil)
)

// Kinds returns, by kind ("memory", "sqlite", "postgres"), a function that
// makes a store of that kind for a test and returns a function that opens
// a handle on it, as S: memory makes S of one memory store and queue
// (every handle shares them), a database kind makes S of each handle
// opened. A second open in the same test gives another handle on the same
// store (SQLite: the file again; PostgreSQL: another pool), as a restarted
// or second instance has; handles close when the test ends. PostgreSQL is
// skipped in -short runs.
func Kinds[S any](memory func(*catalog.MemoryStore, *catalog.MemoryQueue) S, database func(Store) S) map[string]func(t *testing.T) func() S {
	return map[string]func(t *testing.T) func() S{
		"memory": func(t *testing.T) func() S {
			m, q := catalog.NewMemoryStore(), catalog.NewMemoryQueue()
			return func() S { return memory(m, q) }
		},
		"sqlite": func(t *testing.T) func() S {
			file := filepath.Join(t.TempDir(), "catalog.db")
			return func() S {
				s, err := sqlite.Open(context.Background(), file, sqlite.Options{})
				require.NoError(t, err)
				t.Cleanup(func() { s.Close() })
				return database(s)
			}
		},
		"postgres": func(t *testing.T) func() S {
			if testing.Short() {
				t.Skip("starts PostgreSQL")
			}
			dsn := pgtest.New(t)
			return func() S {
				s, err := postgres.Open(context.Background(), dsn, postgres.Options{})
				require.NoError(t, err)
				t.Cleanup(func() { s.Close() })
				return database(s)
			}
		},
	}
}
