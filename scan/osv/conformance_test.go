package osv_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/scan"
	"github.com/cssc-go/cssc/scan/osv"
	"github.com/cssc-go/cssc/scan/scantest"
)

// TestConformance runs the scan.Scanner conformance kit against the osv
// Scanner with the kit's Debian 12 image (libssl3 from openssl, zlib1g,
// bash).
func TestConformance(t *testing.T) {
	db, err := osv.Load(context.Background(), "testdata/db", osv.Options{})
	require.NoError(t, err)
	scantest.Run(t, osv.NewScanner(db), scantest.Options{
		Kind: artifact.ReportKindVulnerability,
		Check: func(t *testing.T, r *scan.Report) {
			require.Len(t, r.Findings, 1, "findings: %+v", r.Findings)
			f := r.Findings[0]
			assert.Equal(t, "DSA-5764-1", f.ID)
			assert.Equal(t, "libssl3", f.Package.Name)
			assert.Equal(t, "3.0.14-1~deb12u2", f.FixedVersion)
			assert.NotEmpty(t, f.Layer)
			assert.Equal(t, db.Version(), r.Tool.DatabaseVersion)
		},
	})
}
