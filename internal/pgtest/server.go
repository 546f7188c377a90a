package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvAdminDSN is the environment variable that hands a running server to a
// subprocess: the DSN of its postgres database, as a superuser. Shared and
// New use it instead of starting a server when it is set.
const EnvAdminDSN = "CSSC_PGTEST_ADMIN_DSN"

// EnvBinDir is the environment variable that names the directory of the
// PostgreSQL server binaries (initdb, postgres) when they are elsewhere
// than /usr/lib/postgresql/<version>/bin or PATH.
const EnvBinDir = "CSSC_PGTEST_BIN"

// ErrNotInstalled is returned by Launch when no PostgreSQL server binaries
// are found.
var ErrNotInstalled = errors.New("PostgreSQL server binaries (initdb, postgres) not found in $" + EnvBinDir +
	", /usr/lib/postgresql/*/bin or PATH (Debian: apt-get install postgresql-15)")

// Options configure Launch and Main. The zero value starts a server tuned
// for tests.
type Options struct {
	// BinDir is the directory holding initdb and postgres. Empty means
	// $CSSC_PGTEST_BIN, else the newest /usr/lib/postgresql/<version>/bin,
	// else PATH.
	BinDir string
	// Settings are extra server settings (postgres -c name=value); they
	// override the defaults: fsync, synchronous_commit and full_page_writes
	// off, shared_buffers 64MB, max_connections 200. Nil means none.
	Settings map[string]string
	// User is the system user that runs the server when the test process
	// is root. Empty means nobody, or cssc-test (created with useradd) if
	// nobody does not exist. Ignored when not root.
	User string
}

// Server is a running PostgreSQL server on loopback, with trust
// authentication for the superuser postgres.
type Server struct {
	// Dir is the server's directory: data directory, log and socket.
	// It is empty for a server reached through EnvAdminDSN.
	Dir string
	// Host and Port are the server's TCP address (Host is 127.0.0.1).
	Host string
	Port int
	// SocketDir is the directory of the unix socket, or "" if none.
	SocketDir string
	// Version is the server version string, such as "15.14".
	Version string

	admin   *url.URL
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	logPath string

	mu      sync.Mutex
	conn    *pgx.Conn // admin connection, guarded by mu
	seq     int
	stopped bool
}

// Launch starts a server in a new directory under the system's temporary
// directory and waits until it accepts connections. The caller stops it
// with Stop. It returns ErrNotInstalled when PostgreSQL is missing.
func Launch(opts Options) (*Server, error) {
	bin, err := findBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	cred, owner, err := credential(opts.User)
	if err != nil {
		return nil, err
	}
	base := tempBase(owner != nil)
	sweep(base)
	dir, err := os.MkdirTemp(base, dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s, err := launchIn(dir, bin, cred, owner, opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

const dirPrefix = "cssc-pgtest-"

func launchIn(dir, bin string, cred *syscall.Credential, owner *user.User, opts Options) (*Server, error) {
	// The owner file lets a later process remove this directory if this
	// one dies without cleaning up.
	if err := os.WriteFile(filepath.Join(dir, "owner"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	data := filepath.Join(dir, "data")
	if owner != nil {
		uid, _ := strconv.Atoi(owner.Uid)
		gid, _ := strconv.Atoi(owner.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, fmt.Errorf("pgtest: %w", err)
		}
	}
	if err := initdb(bin, data, cred); err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, Host: "127.0.0.1", logPath: filepath.Join(dir, "postgres.log")}
	// Unix socket paths are limited to 107 bytes.
	if len(filepath.Join(dir, ".s.PGSQL.65535.lock")) < 100 {
		s.SocketDir = dir
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.Port = port
		lastErr = s.start(bin, data, cred, opts.Settings)
		if lastErr == nil {
			return s, nil
		}
		if !errors.Is(lastErr, errPortTaken) {
			return nil, lastErr
		}
	}
	return nil, lastErr
}

func initdb(bin, data string, cred *syscall.Credential) error {
	var last []byte
	// C.UTF-8 classifies non-ASCII letters for full-text search and
	// pg_trgm; plain C is the fallback on systems without it.
	for _, locale := range []string{"C.UTF-8", "C"} {
		cmd := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
			"-E", "UTF8", "--locale="+locale, "--no-sync", "--no-instructions")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		last = out
		os.RemoveAll(data)
		if !bytes.Contains(out, []byte("locale")) {
			break
		}
	}
	return fmt.Errorf("pgtest: initdb failed:\n%s", last)
}

var errPortTaken = errors.New("port taken")

func (s *Server) start(bin, data string, cred *syscall.Credential, extra map[string]string) error {
	settings := map[string]string{
		"listen_addresses":        s.Host,
		"port":                    strconv.Itoa(s.Port),
		"unix_socket_directories": s.SocketDir,
		"fsync":                   "off",
		"synchronous_commit":      "off",
		"full_page_writes":        "off",
		"shared_buffers":          "64MB",
		"max_connections":         "200",
		"max_wal_size":            "1GB",
		"logging_collector":       "off",
		"log_min_messages":        "warning",
		"log_connections":         "off",
		"log_disconnections":      "off",
	}
	for k, v := range extra {
		settings[k] = v
	}
	args := []string{"-D", data}
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		args = append(args, "-c", k+"="+settings[k])
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	// SIGQUIT on the test process's death: immediate shutdown, so that a
	// test binary killed by a timeout leaves no server behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	s.exited = make(chan struct{})
	started := make(chan error, 1)
	// The parent-death signal fires when the thread that forked the child
	// exits, so fork from a locked thread that lives as long as the child.
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			runtime.UnlockOSThread()
			return
		}
		started <- nil
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	s.cmd = cmd
	s.admin = &url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
		Path: "/postgres", RawQuery: "sslmode=disable"}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, s.admin.String())
		if err == nil {
			s.conn = conn
			if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&s.Version); err != nil {
				s.kill()
				return fmt.Errorf("pgtest: %w", err)
			}
			return nil
		}
		select {
		case <-s.exited:
			log := s.logTail()
			if strings.Contains(log, "could not bind") || strings.Contains(log, "already in use") {
				return errPortTaken
			}
			return fmt.Errorf("pgtest: postgres exited (%v):\n%s", s.waitErr, log)
		case <-ctx.Done():
			s.kill()
			return fmt.Errorf("pgtest: postgres did not accept connections within 60s: %v\n%s", err, s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (s *Server) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
	}
}

// DSN returns the URL of database db on the server as the superuser
// postgres, over TCP without TLS.
func (s *Server) DSN(db string) string {
	u := *s.admin
	u.Path = "/" + db
	return u.String()
}

// AdminDSN returns the URL of the postgres database as the superuser.
func (s *Server) AdminDSN() string { return s.admin.String() }

// Environ returns the environment entries that make Shared and New in a
// subprocess use this server: append them to exec.Cmd.Env.
func (s *Server) Environ() []string { return []string{EnvAdminDSN + "=" + s.AdminDSN()} }

// CreateDatabase creates database name as a copy of template (template1
// when empty) and returns its DSN.
func (s *Server) CreateDatabase(ctx context.Context, name, template string) (string, error) {
	if template == "" {
		template = "template1"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.connLocked(ctx); err != nil {
		return "", err
	}
	_, err := s.conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE "+pgx.Identifier{template}.Sanitize())
	if err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return s.DSN(name), nil
}

// DropDatabase drops database name, closing its remaining connections.
func (s *Server) DropDatabase(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.connLocked(ctx); err != nil {
		return err
	}
	_, err := s.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	if err != nil {
		return fmt.Errorf("pgtest: drop database %s: %w", name, err)
	}
	return nil
}

func (s *Server) connLocked(ctx context.Context) error {
	if s.stopped {
		return errors.New("pgtest: server stopped")
	}
	if s.conn != nil && !s.conn.IsClosed() {
		return nil
	}
	conn, err := pgx.Connect(ctx, s.admin.String())
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	s.conn = conn
	return nil
}

// nextName returns a database name unique on this server for a test.
func (s *Server) nextName(test string) string {
	s.mu.Lock()
	s.seq++
	n := s.seq
	s.mu.Unlock()
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := fmt.Sprintf("t%d_%d_%s", os.Getpid(), n, b.String())
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

// Stop shuts the server down (fast shutdown, then SIGKILL after ten
// seconds) and removes its directory. A server reached through EnvAdminDSN
// is left running. Stop is safe to call more than once.
func (s *Server) Stop() error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	if s.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s.conn.Close(ctx)
		cancel()
	}
	s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	return os.RemoveAll(s.Dir)
}

// attach returns a Server for the running server at adminDSN.
func attach(adminDSN string) (*Server, error) {
	u, err := url.Parse(adminDSN)
	if err != nil {
		return nil, fmt.Errorf("pgtest: $%s: %w", EnvAdminDSN, err)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return nil, fmt.Errorf("pgtest: $%s: %w", EnvAdminDSN, err)
	}
	s := &Server{Host: host, admin: u}
	s.Port, _ = strconv.Atoi(port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.connLocked(ctx); err != nil {
		return nil, err
	}
	if err := s.conn.QueryRow(ctx, "SHOW server_version").Scan(&s.Version); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	return s, nil
}

// findBinDir returns the directory of initdb and postgres.
func findBinDir(dir string) (string, error) {
	has := func(d string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(d, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if dir == "" {
		dir = os.Getenv(EnvBinDir)
	}
	if dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%w (looked in %s)", ErrNotInstalled, dir)
	}
	candidates, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(p string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(p)), 64)
		return v
	}
	slices.SortFunc(candidates, func(a, b string) int {
		switch va, vb := version(a), version(b); {
		case va > vb:
			return -1
		case va < vb:
			return 1
		}
		return 0
	})
	for _, c := range candidates {
		if has(c) {
			return c, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", ErrNotInstalled
}

// credential returns the credentials to run the server with: nil when the
// process is not root, else those of an unprivileged user.
func credential(name string) (*syscall.Credential, *user.User, error) {
	if os.Geteuid() != 0 {
		return nil, nil, nil
	}
	var u *user.User
	var err error
	if name != "" {
		u, err = user.Lookup(name)
	} else {
		u, err = user.Lookup("nobody")
		if err != nil {
			u, err = user.Lookup("cssc-test")
		}
		if err != nil {
			out, aerr := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "cssc-test").CombinedOutput()
			if aerr != nil && !bytes.Contains(out, []byte("already exists")) {
				return nil, nil, fmt.Errorf("pgtest: running as root and no unprivileged user: useradd cssc-test: %v: %s", aerr, out)
			}
			u, err = user.Lookup("cssc-test")
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("pgtest: PostgreSQL refuses to run as root and no unprivileged user is usable: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, nil, fmt.Errorf("pgtest: user %s has non-numeric ids", u.Username)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, u, nil
}

// tempBase returns the directory for server directories. An unprivileged
// server user must be able to reach it, so a private $TMPDIR is replaced
// by /tmp for a root process.
func tempBase(asOther bool) string {
	base := os.TempDir()
	if !asOther {
		return base
	}
	for d := base; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return base
		}
	}
}

// sweep removes server directories left behind by test processes that are
// gone (killed by a timeout, for example) and whose server is not running.
func sweep(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, dirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner"))
		if err != nil {
			continue // being created, or not ours
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid == os.Getpid() || alive(pid) {
			continue
		}
		if pm, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			first, _, _ := strings.Cut(string(pm), "\n")
			if p, err := strconv.Atoi(strings.TrimSpace(first)); err == nil && alive(p) {
				continue
			}
		}
		os.RemoveAll(d)
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
