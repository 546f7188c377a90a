// Package pgtest starts a real PostgreSQL server on loopback for tests and
// benchmarks, and hands each test a fresh database on it.
//
// It runs the server binaries of an installed PostgreSQL (Debian's
// postgresql-15 puts them in /usr/lib/postgresql/15/bin, off PATH): initdb
// into a temporary directory with trust authentication, then postgres with
// fsync off, on 127.0.0.1 and a free port, with its unix socket in the same
// directory. PostgreSQL refuses to run as root, so a root test process runs
// both as an unprivileged user (nobody, or a system user cssc-test created
// with useradd when nobody is absent) through syscall credentials.
//
// One server serves a whole test binary; each test gets its own database
// (CREATE DATABASE ... TEMPLATE template1), dropped when the test ends:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestStore(t *testing.T) {
//		dsn := pgtest.New(t) // postgres://postgres@127.0.0.1:port/t3_teststore?sslmode=disable
//		...
//	}
//
// Main stops the server after the tests and prints how many tests were
// skipped. A test binary that does not call Main still gets a working
// server, which dies with the test process (parent-death signal); its
// directory is removed by the next test binary that starts one.
//
// When PostgreSQL is not installed, New and Shared skip the test with a
// message that says so, and Main repeats it on stderr; when the environment
// variable CI is set (to anything but "", "0" or "false") they fail the test
// instead, so that a CI machine without PostgreSQL cannot pass by skipping.
// A server that is installed but does not start is always a failure.
//
// Subprocesses (the multi-process and kill -9 tests) reach the same server:
// pass them Server.Environ (or just a DSN); in a process whose environment
// carries EnvAdminDSN, Shared and New use that server instead of starting
// one. Launch starts a server outside a test, for benchmark programs.
package pgtest
