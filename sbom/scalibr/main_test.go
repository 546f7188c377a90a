package scalibr_test

import (
	"os"
	"testing"

	scalibrlog "github.com/google/osv-scalibr/log"
)

// quietLogger drops osv-scalibr's log output, which goes to a package-level
// logger (the library never changes it; only this test binary does, so that
// benchmark output stays parseable). CSSC_SCALIBR_LOG=1 keeps it.
type quietLogger struct{}

func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Error(...any)          {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Warn(...any)           {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Info(...any)           {}
func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Debug(...any)          {}

func TestMain(m *testing.M) {
	if os.Getenv("CSSC_SCALIBR_LOG") == "" {
		scalibrlog.SetLogger(quietLogger{})
	}
	os.Exit(m.Run())
}
