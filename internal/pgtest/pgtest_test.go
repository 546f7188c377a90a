package pgtest_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err, "connect %s", dsn)
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

func TestNewGivesIsolatedDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := pgtest.New(t), pgtest.New(t)
	require.NotEqual(t, a, b, "two calls must give two databases")
	ca, cb := connect(t, a), connect(t, b)
	_, err := ca.Exec(ctx, "CREATE TABLE only_in_a (x int)")
	require.NoError(t, err)
	var n int
	require.NoError(t, cb.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n))
	assert.Equal(t, 0, n, "a table created in one database must not appear in the other")
}

func TestDatabaseDroppedAfterTest(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		dsn := pgtest.New(t)
		conn := connect(t, dsn)
		require.NoError(t, conn.QueryRow(context.Background(), "SELECT current_database()").Scan(&name))
	})
	require.NotEmpty(t, name)
	admin := connect(t, pgtest.Shared(t).AdminDSN())
	var n int
	require.NoError(t, admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n))
	assert.Equal(t, 0, n, "database %s must be dropped when its test ends", name)
}

func TestServerSettingsAndExtensions(t *testing.T) {
	ctx := context.Background()
	conn := connect(t, pgtest.New(t))
	var fsync, version string
	require.NoError(t, conn.QueryRow(ctx, "SHOW fsync").Scan(&fsync))
	assert.Equal(t, "off", fsync)
	require.NoError(t, conn.QueryRow(ctx, "SHOW server_version_num").Scan(&version))
	v, _ := strconv.Atoi(version)
	assert.GreaterOrEqual(t, v, 150000, "want PostgreSQL 15 or later, got %s", version)
	// The catalog's search needs pg_trgm (postgresql-contrib, part of
	// Debian's postgresql-15).
	_, err := conn.Exec(ctx, "CREATE EXTENSION pg_trgm")
	require.NoError(t, err, "pg_trgm must be installable")
	var sim float64
	require.NoError(t, conn.QueryRow(ctx, "SELECT similarity('nginx', 'ngnix')").Scan(&sim))
	assert.Greater(t, sim, 0.0)
}

func TestServerRunsUnprivileged(t *testing.T) {
	srv := pgtest.Shared(t)
	if srv.Dir == "" {
		t.Skip("server attached through " + pgtest.EnvAdminDSN)
	}
	pm, err := os.ReadFile(filepath.Join(srv.Dir, "data", "postmaster.pid"))
	require.NoError(t, err)
	first, _, _ := strings.Cut(string(pm), "\n")
	status, err := os.ReadFile("/proc/" + strings.TrimSpace(first) + "/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			uid := strings.Fields(rest)[0]
			if os.Geteuid() == 0 {
				assert.NotEqual(t, "0", uid, "postgres must not run as root")
			} else {
				assert.Equal(t, strconv.Itoa(os.Geteuid()), uid, "postgres runs as the test's user")
			}
			return
		}
	}
	t.Fatal("no Uid line in /proc status")
}

// TestSubprocessSharesServer runs this test binary again as a child that
// finds the server through the environment, as the multi-process tests do.
func TestSubprocessSharesServer(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") == "1" {
		dsn := pgtest.New(t)
		conn := connect(t, dsn)
		var port int
		require.NoError(t, conn.QueryRow(context.Background(), "SELECT current_setting('port')::int").Scan(&port))
		os.Stdout.WriteString("CHILD-PORT=" + strconv.Itoa(port) + "\n")
		return
	}
	srv := pgtest.Shared(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSubprocessSharesServer$", "-test.v")
	cmd.Env = append(append(os.Environ(), "PGTEST_CHILD=1"), srv.Environ()...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child: %s", out)
	assert.Contains(t, string(out), "CHILD-PORT="+strconv.Itoa(srv.Port), "the child must use the parent's server")
}

// TestMissingPostgres checks the loud skip, and the failure under CI,
// by running this test binary with a directory that holds no PostgreSQL.
func TestMissingPostgres(t *testing.T) {
	if os.Getenv("PGTEST_MISSING_CHILD") == "1" {
		pgtest.New(t)
		t.Fatal("New returned without PostgreSQL")
	}
	_, err := pgtest.Launch(pgtest.Options{BinDir: t.TempDir()})
	require.ErrorIs(t, err, pgtest.ErrNotInstalled)

	run := func(ci string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingPostgres$", "-test.v")
		env := []string{"PGTEST_MISSING_CHILD=1", pgtest.EnvBinDir + "=" + t.TempDir(), "CI=" + ci}
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "CI=") && !strings.HasPrefix(e, pgtest.EnvAdminDSN+"=") {
				env = append(env, e)
			}
		}
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("")
	require.NoError(t, err, "without CI a missing PostgreSQL skips: %s", out)
	assert.Contains(t, out, "--- SKIP: TestMissingPostgres")
	assert.Contains(t, out, "WARNING: SKIPPING the tests that need PostgreSQL")
	assert.Contains(t, out, "1 test(s) SKIPPED")

	out, err = run("true")
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "with CI set a missing PostgreSQL must fail the test, got err=%v: %s", err, out)
	assert.Contains(t, out, "--- FAIL: TestMissingPostgres")
	assert.Contains(t, out, "CI is set and PostgreSQL is missing")
}

func TestLaunchAndStop(t *testing.T) {
	if _, err := pgtest.Launch(pgtest.Options{}); errors.Is(err, pgtest.ErrNotInstalled) {
		pgtest.Shared(t) // skips or fails as for any test
	}
	srv, err := pgtest.Launch(pgtest.Options{Settings: map[string]string{"work_mem": "8MB"}})
	require.NoError(t, err)
	conn := connect(t, srv.AdminDSN())
	var wm string
	require.NoError(t, conn.QueryRow(context.Background(), "SHOW work_mem").Scan(&wm))
	assert.Equal(t, "8MB", wm, "Options.Settings must reach the server")
	conn.Close(context.Background())
	dir, addr := srv.Dir, net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port))
	pm, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	require.NoError(t, err)
	pid, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(pm), "\n", 2)[0]))

	require.NoError(t, srv.Stop())
	require.NoError(t, srv.Stop(), "Stop twice")
	_, err = os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "Stop must remove %s", dir)
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	assert.Error(t, err, "nothing must listen on %s after Stop", addr)
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "postmaster %d must be gone", pid)
}
