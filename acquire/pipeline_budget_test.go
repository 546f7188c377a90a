package acquire_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sbom"
)

// publisherSBOM is an SPDX document of about size bytes shaped like a
// real one (npm packages with purls, licences and locations).
func publisherSBOM(t *testing.T, seed, size int) []byte {
	t.Helper()
	doc := &sbom.Document{Name: fmt.Sprintf("publisher-%d", seed), Creators: []string{"Organization: Example Publisher"}}
	for i := range size / 330 {
		name := fmt.Sprintf("p%d-%d", seed, i)
		doc.Packages = append(doc.Packages, sbom.Package{Name: name, Version: "1.0.0", PURL: "pkg:npm/" + name + "@1.0.0",
			Licenses: []string{"MIT"}, Locations: []string{"/app/node_modules/" + name + "/package.json"}})
	}
	data, err := sbom.EncodeSPDX(doc, sbom.SPDXOptions{})
	require.NoError(t, err)
	return data
}

// TestPublisherMetadataBudget: a publisher who attaches more metadata than
// the budget (four SBOMs of 5 MiB, about 65 MiB of budget with their JSON
// values) keeps the image in quarantine, with a typed error and a reason
// in the record, before the SBOM over the budget is parsed; the budget is
// an option (issue 10 item 9). Before, 20 MiB of SBOMs were within the
// 64 MiB budget of bytes read, whatever they cost to parse.
func TestPublisherMetadataBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx := context.Background()
	f := newPipeFixture(t, pipeOptions{noClamd: true})
	src := f.src.Repository(t, sample.Clean)
	root, err := src.Resolve(ctx, sample.Tag)
	require.NoError(t, err)
	var total int
	for i := range 4 {
		data := publisherSBOM(t, i, 5<<20)
		total += len(data)
		_, err := registry.Attach(ctx, src, root, registry.Artifact{ArtifactType: artifact.TypeSPDX, Created: time.Unix(int64(i), 0).UTC(),
			Blobs: []registry.Blob{{MediaType: artifact.MediaTypeSPDX, Data: data}}})
		require.NoError(t, err)
	}
	require.Less(t, total, attest.DefaultMaxTotalBytes, "the SBOMs alone fit in the budget's bytes")

	rec, err := f.pipeline(t).Run(ctx, f.location(sample.Clean), acquire.RunOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, attest.ErrBudgetExceeded)
	var be *attest.BudgetError
	require.ErrorAs(t, err, &be)
	assert.LessOrEqual(t, be.Read, int64(attest.DefaultMaxTotalBytes), "never past the budget")
	assert.Equal(t, acquire.OutcomeError, rec.Outcome)
	assert.Equal(t, acquire.StepMetadata, rec.FailedStep)
	assert.Contains(t, rec.Reason, "budget", "the record says why")
	_, gerr := f.golden(t, sample.Clean).Resolve(ctx, sample.Tag)
	assert.ErrorIs(t, gerr, registry.ErrNotFound, "nothing reaches golden")

	// A larger budget, chosen by the operator, lets the image through.
	f.cfg.MaxPublisherMetadataBytes = 256 << 20
	rec, err = f.pipeline(t).Run(ctx, f.location(sample.Clean), acquire.RunOptions{})
	require.NoError(t, err, rec.Reason)
	assert.Equal(t, acquire.OutcomePromoted, rec.Outcome, rec.Reason)
	s := rec.Step(acquire.StepMetadata)
	require.NotNil(t, s)
	assert.Contains(t, s.Reason, "4 SBOM(s)")
}
