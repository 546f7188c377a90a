package scantest_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/imagefs"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/scantest"
)

// fileCounter is a tiny malware "scanner" that flags files named "app/main.sh".
func fileCounter(ctx context.Context, img *scan.Image) (*scan.Report, error) {
	if err := img.Validate(); err != nil {
		return nil, err
	}
	r := &scan.Report{Kind: artifact.ReportKindMalware, Tool: scan.Tool{Name: "counter", Version: "1"}, Subject: img.Manifest.Digest, Time: time.Now()}
	err := imagefs.Walk(ctx, img.Repository, img.Manifest, imagefs.WalkOptions{}, func(ctx context.Context, f *imagefs.File, _ io.Reader) error {
		if f.Path == "app/main.sh" {
			r.Findings = append(r.Findings, scan.Finding{ID: "Test.Shell", Severity: scan.SeverityHigh, Path: f.Path, Layer: f.LayerDigest.String()})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func TestRun(t *testing.T) {
	scantest.Run(t, scan.ScannerFunc(fileCounter), scantest.Options{
		Kind: artifact.ReportKindMalware,
		Check: func(t *testing.T, r *scan.Report) {
			if len(r.Findings) != 1 || r.Findings[0].Path != "app/main.sh" {
				t.Errorf("findings = %+v, want one in app/main.sh", r.Findings)
			}
		},
	})
}

// badScanners each break one rule of the contract.
var badScanners = map[string]scan.ScannerFunc{
	"accepts nil image": func(ctx context.Context, img *scan.Image) (*scan.Report, error) {
		if img == nil {
			return &scan.Report{Kind: artifact.ReportKindMalware, Tool: scan.Tool{Name: "x"}, Time: time.Now()}, nil
		}
		return fileCounter(ctx, img)
	},
	"ignores cancellation": func(ctx context.Context, img *scan.Image) (*scan.Report, error) {
		return fileCounter(context.WithoutCancel(ctx), img)
	},
	"no subject": func(ctx context.Context, img *scan.Image) (*scan.Report, error) {
		r, err := fileCounter(ctx, img)
		if r != nil {
			r.Subject = ""
		}
		return r, err
	},
	"invalid severity": func(ctx context.Context, img *scan.Image) (*scan.Report, error) {
		r, err := fileCounter(ctx, img)
		if r != nil {
			r.Findings = append(r.Findings, scan.Finding{ID: "X", Severity: 9})
		}
		return r, err
	},
	"no time": func(ctx context.Context, img *scan.Image) (*scan.Report, error) {
		r, err := fileCounter(ctx, img)
		if r != nil {
			r.Time = time.Time{}
		}
		return r, err
	},
}

// TestRunFailsBadScanners runs the kit on broken scanners in a child
// process (a failing *testing.T cannot be captured in-process) and expects
// each to fail.
func TestRunFailsBadScanners(t *testing.T) {
	if name := os.Getenv("SCANTEST_BAD"); name != "" {
		scantest.Run(t, badScanners[name], scantest.Options{})
		return
	}
	if testing.Short() {
		t.Skip("spawns child test processes")
	}
	for name := range badScanners {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestRunFailsBadScanners$")
			cmd.Env = append(os.Environ(), "SCANTEST_BAD="+name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Errorf("scantest.Run passed a scanner that %s (err %v):\n%s", name, err, out)
			}
		})
	}
}

func ExampleRun() {
	// In a _test.go file of your scanner's package:
	//
	//	func TestConformance(t *testing.T) {
	//		s, err := myscanner.New(myscanner.Options{})
	//		if err != nil {
	//			t.Fatal(err)
	//		}
	//		scantest.Run(t, s, scantest.Options{Kind: artifact.ReportKindVulnerability})
	//	}
}
