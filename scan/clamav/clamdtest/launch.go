package clamdtest

import (
	"errors"
	"fmt"
	"path/filepath"
)

// ErrNotInstalled is returned by Launch when clamd is not installed.
var ErrNotInstalled = errors.New("clamd is not installed (Debian: apt-get install clamav-daemon)")

// Launch starts clamd with the test database in dir (which must exist and
// be short enough for a unix socket path) outside a test, for demos and
// benchmark programs. The caller stops it with Server.Stop.
func Launch(dir string, opts Options) (*Server, error) {
	bin := Binary()
	if bin == "" {
		return nil, ErrNotInstalled
	}
	if !opts.TCP && len(filepath.Join(dir, "clamd.sock")) > 100 {
		return nil, fmt.Errorf("clamdtest: directory %q too long for a unix socket", dir)
	}
	return start(bin, dir, opts)
}
