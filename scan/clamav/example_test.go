package clamav_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/clamav"
)

// Scan an image with the clamd of a Debian host (clamav-daemon listens on
// /run/clamav/clamd.ctl). A failed scan is never a clean one.
func ExampleScanner() {
	s, err := clamav.New(clamav.Options{
		Address:         "unix:///run/clamav/clamd.ctl", // or "tcp://127.0.0.1:3310"
		StreamMaxLength: 100 << 20,                      // as in clamd.conf
		Logger:          slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	var img *scan.Image // the quarantined image: repository + platform manifest
	report, err := s.Scan(context.Background(), img)
	var failed *clamav.ScanError
	switch {
	case errors.As(err, &failed):
		fmt.Println("not scanned:", failed.Path, failed.Err, len(failed.Findings), "detections so far")
	case err != nil:
		fmt.Println(err)
	case len(report.Findings) > 0:
		fmt.Println("malware:", report.Findings[0].ID, "in", report.Findings[0].Path)
	default:
		fmt.Println("clean, database", report.Tool.DatabaseVersion)
	}
}
