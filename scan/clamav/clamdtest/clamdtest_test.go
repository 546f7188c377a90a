package clamdtest_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"os"
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
