// Package scantest checks that a scan.Scanner keeps the contract of package
// scan, in one call:
//
//	func TestMyScanner(t *testing.T) {
//		scantest.Run(t, myscanner.New(...), scantest.Options{Kind: artifact.ReportKindVulnerability})
//	}
//
// Run scans a small built-in image (or the one in Options.Image) held in an
// in-memory repository and checks that: a nil image, an image without a
// repository and an image whose manifest is missing are errors (the first
// two wrapping scan.ErrNoImage); a cancelled context stops the scan with
// context.Canceled; the report has a kind, a tool name, the image's digest
// as subject and a scan time; every finding has an ID and a valid
// severity; the report encodes to SARIF that scan.ValidateSARIF accepts and
// that decodes back to the same findings; its JSON round-trips; two scans
// of the same image find the same things; and concurrent scans work (run
// tests with -race).
package scantest
