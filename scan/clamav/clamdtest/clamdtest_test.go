package clamdtest_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cssc-go/cssc/scan/clamav/clamdtest"
)

func TestEICAR(t *testing.T) {
	e := clamdtest.EICAR()
	sum := md5.Sum(e)
	if len(e) != 68 || hex.EncodeToString(sum[:]) != "44d88612fea8a8f36de82e1278abb02f" {
		t.Fatalf("EICAR() is not the EICAR test file (%d bytes, md5 %x)", len(e), sum)
	}
}

func TestLaunch(t *testing.T) {
	dir, err := os.MkdirTemp("", "clamd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := clamdtest.Launch(dir, clamdtest.Options{TCP: true})
	if errors.Is(err, clamdtest.ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if !strings.HasPrefix(s.Address, "tcp://127.0.0.1:") {
		t.Errorf("address %q", s.Address)
	}
	if s.CPUTime() < 0 {
		t.Error("negative CPU time")
	}
	db, _ := os.ReadFile(s.DatabaseDir + "/cssc-test.ndb")
	if !bytes.Contains(db, []byte(hex.EncodeToString([]byte(clamdtest.Marker)))) {
		t.Errorf("ndb does not hold the marker: %s", db)
	}
	s.Stop()
	s.Stop() // idempotent
	if _, err := clamdtest.Launch(dir+strings.Repeat("/x", 60), clamdtest.Options{}); err == nil {
		t.Error("a socket path too long must be refused")
	}
}

// TestTemporaryDirectory: clamd is configured with the directory given,
// and starts with it.
func TestTemporaryDirectory(t *testing.T) {
	tmp := t.TempDir()
	s := clamdtest.Start(t, clamdtest.Options{TemporaryDirectory: tmp})
	conf, err := os.ReadFile(s.Dir + "/clamd.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(conf, []byte("\nTemporaryDirectory "+tmp+"\n")) {
		t.Errorf("clamd.conf does not set TemporaryDirectory %s:\n%s", tmp, conf)
	}
}

// TestNice: clamd and every thread it starts run at the nice value given.
func TestNice(t *testing.T) {
	s := clamdtest.Start(t, clamdtest.Options{Nice: 7})
	// A scan makes clamd start its worker threads.
	c, err := net.Dial("unix", strings.TrimPrefix(s.Address, "unix://"))
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("zINSTREAM\x00\x00\x00\x00\x04abcd\x00\x00\x00\x00"))
	reply, _ := io.ReadAll(c)
	c.Close()
	if !bytes.HasPrefix(reply, []byte("stream: OK")) {
		t.Fatalf("clamd answered %q", reply)
	}
	pid := clamdPid(t, s)
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) < 2 {
		t.Fatalf("clamd's threads: %v %v", tasks, err)
	}
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			continue // the thread ended
		}
		// nice is field 19 of stat, the 17th after the ")" closing comm.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if f[16] != "7" {
			t.Errorf("%s: nice %s, want 7", task, f[16])
		}
	}
}

// clamdPid finds the clamd started for s by its configuration file.
func clamdPid(t *testing.T, s *clamdtest.Server) int {
	t.Helper()
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte("--config-file="+s.Dir+"/clamd.conf")) && !bytes.HasPrefix(b, []byte("nice")) {
			var pid int
			fmt.Sscanf(p, "/proc/%d/cmdline", &pid)
			return pid
		}
	}
	t.Fatal("clamd's process not found")
	return 0
}
