package clamdtest

import (
	"bufio"
	"cmp"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cssc-go/cssc/internal/cienv"
)

// Signature names of the test database, as clamd reports them (clamd
// appends ".UNOFFICIAL" to signatures outside the official databases).
const (
	// EICARSignature matches the EICAR test file exactly (an .hdb MD5 line).
	EICARSignature = "Cssc.Test.EICAR.UNOFFICIAL"
	// MarkerSignature matches any file containing Marker (an .ndb line).
	MarkerSignature = "Cssc.Test.Marker.UNOFFICIAL"
)

// Marker is a string that the test database detects anywhere in a file
// (for tests that embed a detection in a larger file or archive). It is
// written in two parts so that this source file does not match.
const Marker = "CSSC-CLAMD-TEST-MARKER-" + "6b1f0e1c2d"

// EICAR returns the 68-byte EICAR anti-virus test file, assembled from
// parts.
func EICAR() []byte {
	parts := []string{`X5O!P%@AP[4\PZX54(P^)7CC)7}$`, "EICAR", "-STANDARD-ANTIVIRUS-", "TEST-FILE!", "$H+H*"}
	return []byte(strings.Join(parts, ""))
}

// Options configure Start. The zero value starts clamd on a unix socket
// with clamd's default limits.
type Options struct {
	// TCP makes clamd listen on 127.0.0.1 on a free port instead of a unix
	// socket.
	TCP bool
	// StreamMaxLength is clamd's StreamMaxLength in bytes; 0 means clamd's
	// default (25 MiB).
	StreamMaxLength int64
	// MaxThreads is clamd's MaxThreads; 0 means 8.
	MaxThreads int
	// TemporaryDirectory is clamd's TemporaryDirectory (it must exist);
	// "" means the server's Dir. clamd writes every INSTREAM stream there
	// and makes a directory per scan: on tmpfs (/dev/shm) it spent 15-33%
	// less CPU than on ext4 in bench/sbom.sh.
	TemporaryDirectory string
	// Nice is the CPU priority clamd runs at (a nice value, 1-19; 0 means
	// this process's own): what a deployment where clamd shares cores with
	// the pipeline can do so that the walk feeding it keeps its core
	// (bench/sbom.sh's CLAMD_NICE).
	Nice int
	// Extra lines appended to clamd.conf.
	Extra []string
}

// Server is a running clamd.
type Server struct {
	// Address is what clamav.Options.Address takes: "unix:///..." or
	// "tcp://127.0.0.1:port".
	Address string
	// Dir holds clamd.conf, the database and the log.
	Dir string
	// DatabaseDir is the signature database directory (files written by
	// WriteDatabase).
	DatabaseDir string
	cmd         *exec.Cmd
	done        chan error
}

// Binary returns the path of clamd, or "" if it is not installed.
func Binary() string {
	for _, p := range []string{"/usr/sbin/clamd", "/usr/local/sbin/clamd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("clamd"); err == nil {
		return p
	}
	return ""
}

// WriteDatabase writes the test signature database (EICAR by MD5, Marker
// by content) into dir.
func WriteDatabase(dir string) error {
	sum := md5.Sum(EICAR())
	hdb := fmt.Sprintf("%s:%d:%s\n", hex.EncodeToString(sum[:]), len(EICAR()), strings.TrimSuffix(EICARSignature, ".UNOFFICIAL"))
	ndb := fmt.Sprintf("%s:0:*:%s\n", strings.TrimSuffix(MarkerSignature, ".UNOFFICIAL"), hex.EncodeToString([]byte(Marker)))
	if err := os.WriteFile(filepath.Join(dir, "cssc-test.hdb"), []byte(hdb), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "cssc-test.ndb"), []byte(ndb), 0o644)
}

// Start starts clamd with the test database and stops it when the test
// ends. It skips the test if clamd is not installed (fails it when the
// environment variable CI is set), and fails it if clamd does not answer
// PING within 60 seconds.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	bin := Binary()
	if bin == "" {
		if cienv.Set() {
			tb.Fatal("clamd is not installed (Debian: apt-get install clamav-daemon) and CI is set: refusing to skip the test that needs a real clamd")
		}
		tb.Skip("clamd is not installed (Debian: apt-get install clamav-daemon); skipping the test that needs a real clamd")
	}
	// Unix socket paths are limited to ~108 bytes: use a short directory.
	dir, err := os.MkdirTemp("", "clamd")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	s, err := start(bin, dir, opts)
	if err != nil {
		tb.Fatalf("clamdtest: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

func start(bin, dir string, opts Options) (*Server, error) {
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o755); err != nil {
		return nil, err
	}
	if err := WriteDatabase(db); err != nil {
		return nil, err
	}
	threads := opts.MaxThreads
	if threads <= 0 {
		threads = 8
	}
	conf := []string{
		"Foreground yes",
		"DatabaseDirectory " + db,
		"LogFile " + filepath.Join(dir, "clamd.log"),
		"TemporaryDirectory " + cmp.Or(opts.TemporaryDirectory, dir),
		"PidFile " + filepath.Join(dir, "clamd.pid"),
		fmt.Sprintf("MaxThreads %d", threads),
		"SelfCheck 0",
	}
	s := &Server{Dir: dir, DatabaseDir: db}
	var network, addr string
	if opts.TCP {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		conf = append(conf, "TCPAddr 127.0.0.1", fmt.Sprintf("TCPSocket %d", port))
		network, addr = "tcp", fmt.Sprintf("127.0.0.1:%d", port)
		s.Address = "tcp://" + addr
	} else {
		sock := filepath.Join(dir, "clamd.sock")
		conf = append(conf, "LocalSocket "+sock)
		network, addr = "unix", sock
		s.Address = "unix://" + sock
	}
	if opts.StreamMaxLength > 0 {
		conf = append(conf, fmt.Sprintf("StreamMaxLength %d", opts.StreamMaxLength))
	}
	conf = append(conf, opts.Extra...)
	cfg := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(cfg, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config-file="+cfg)
	if opts.Nice != 0 {
		// nice(1) execs clamd: every thread clamd starts inherits it.
		niceBin, err := exec.LookPath("nice")
		if err != nil {
			return nil, fmt.Errorf("Nice %d: %w", opts.Nice, err)
		}
		cmd = exec.Command(niceBin, "-n", strconv.Itoa(opts.Nice), bin, "--config-file="+cfg)
	}
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start clamd: %w", err)
	}
	s.cmd = cmd
	done := make(chan error, 1)
	s.done = done
	go func() { done <- cmd.Wait(); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if ping(network, addr) == nil {
			return s, nil
		}
		select {
		case err := <-done:
			s.cmd = nil
			log, _ := os.ReadFile(filepath.Join(dir, "clamd.log"))
			return nil, fmt.Errorf("clamd exited: %v\n%s", err, tail(log, 2000))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, errors.New("clamd did not answer PING within 60s")
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func ping(network, addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("zPING\x00")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString(0)
	if err != nil {
		return err
	}
	if strings.TrimSuffix(line, "\x00") != "PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// Log returns clamd's log so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "clamd.log"))
	return string(b)
}

// Stop stops clamd (SIGTERM, then SIGKILL after 5 seconds). It is safe to
// call more than once.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	p := s.cmd.Process
	s.cmd = nil
	p.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		p.Kill()
		<-s.done
	}
}

// CPUTime returns the user+system CPU time clamd has used so far (Linux
// only: read from /proc; 0 elsewhere or once stopped). Benchmarks use it to
// compare CPU cost independently of machine load.
func (s *Server) CPUTime() time.Duration {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 (1-based) of the whole line, in clock ticks (100 Hz
	// on Linux).
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
