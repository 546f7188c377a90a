package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
	"github.com/cssc-go/cssc/catalog/sqlite"
)

func TestRequestsConformance(t *testing.T) {
	files := map[*testing.T]string{}
	catalogtest.RunRequests(t, func(t *testing.T) catalog.RequestStore {
		// A second call in the same subtest opens the same file again, as
		// a restarted (or a second) process would.
		file, ok := files[t]
		if !ok {
			file = filepath.Join(t.TempDir(), "catalog.db")
			files[t] = file
		}
		s, err := sqlite.Open(context.Background(), file, sqlite.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	})
}
