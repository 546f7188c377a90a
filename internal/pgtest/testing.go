package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cssc-go/cssc/internal/cienv"
)

// shared is the test binary's server, started on first use.
var shared struct {
	mu      sync.Mutex
	opts    Options
	srv     *Server
	err     error
	tried   bool
	skipped atomic.Int64
	noted   sync.Once
}

// Main runs the tests of m with opts (at most one; none means the zero
// Options) for the shared server, then stops the server if a test started
// it and reports on stderr how many tests were skipped for want of
// PostgreSQL. It returns m.Run's exit code:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
func Main(m *testing.M, opts ...Options) int {
	if len(opts) > 0 {
		shared.mu.Lock()
		shared.opts = opts[0]
		shared.mu.Unlock()
	}
	code := m.Run()
	shared.mu.Lock()
	srv := shared.srv
	shared.mu.Unlock()
	if srv != nil {
		if err := srv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: stop: %v\n", err)
		}
	}
	if n := shared.skipped.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "pgtest: WARNING: %d test(s) SKIPPED because PostgreSQL is not installed: %v\n", n, shared.err)
	}
	return code
}

// Shared returns the test binary's server, starting it on first use (or
// attaching to the one named by EnvAdminDSN). It skips the test when
// PostgreSQL is not installed, fails it instead when CI is set, and fails
// it when the server does not start.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	shared.mu.Lock()
	if !shared.tried {
		shared.tried = true
		if dsn := os.Getenv(EnvAdminDSN); dsn != "" {
			shared.srv, shared.err = attach(dsn)
		} else {
			start := time.Now()
			shared.srv, shared.err = Launch(shared.opts)
			if shared.err == nil {
				tb.Logf("pgtest: PostgreSQL %s on %s:%d started in %v", shared.srv.Version, shared.srv.Host, shared.srv.Port, time.Since(start).Round(time.Millisecond))
			}
		}
	}
	srv, err := shared.srv, shared.err
	shared.mu.Unlock()
	if errors.Is(err, ErrNotInstalled) {
		missing(tb, err)
	}
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return srv
}

// New returns the DSN of a fresh, empty database on the shared server,
// dropped (with its connections) when the test ends. It skips or fails
// like Shared.
func New(tb testing.TB) string {
	tb.Helper()
	srv := Shared(tb)
	name := srv.nextName(tb.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dsn, err := srv.CreateDatabase(ctx, name, "")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := srv.DropDatabase(ctx, name); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return dsn
}

// CI reports whether the environment variable CI asks for a CI run, in
// which a missing PostgreSQL fails tests instead of skipping them.
func CI() bool { return cienv.Set() }

func missing(tb testing.TB, err error) {
	tb.Helper()
	if CI() {
		tb.Fatalf("pgtest: CI is set and PostgreSQL is missing, refusing to skip: %v", err)
	}
	shared.skipped.Add(1)
	shared.noted.Do(func() {
		fmt.Fprintf(os.Stderr, "pgtest: WARNING: SKIPPING the tests that need PostgreSQL: %v\n", err)
	})
	tb.Skipf("pgtest: SKIPPED: PostgreSQL is missing: %v (set CI=1 to make this a failure)", err)
}
