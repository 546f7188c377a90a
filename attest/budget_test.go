package attest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/imagefs/imagetest"
	"github.com/cssc-go/cssc/registry"
)

// TestDiscoverBudget: publisher metadata has one budget per image; more
// SBOMs than it allows end discovery with a typed error before the blob
// over the budget is read (issue 10 item 9).
func TestDiscoverBudget(t *testing.T) {
	ctx := context.Background()
	repo, err := registry.NewClient(registry.Options{}).Repository(ctx, "mem:budget")
	require.NoError(t, err)
	img, err := imagetest.Image{}.Push(ctx, repo)
	require.NoError(t, err)
	pad := strings.Repeat("x", 200<<10)
	for i := range 6 {
		doc := fmt.Sprintf(`{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"sbom-%d","documentNamespace":"https://example.com/%d","creationInfo":{"created":"2024-01-01T00:00:00Z","creators":["Tool: x"],"comment":%q},"packages":[]}`, i, i, pad)
		_, err := registry.Attach(ctx, repo, img, registry.Artifact{ArtifactType: artifact.TypeSPDX, Created: time.Unix(int64(i), 0).UTC(),
			Blobs: []registry.Blob{{MediaType: artifact.MediaTypeSPDX, Data: []byte(doc)}}})
		require.NoError(t, err)
	}
	md, err := attest.Discover(ctx, repo, img, nil)
	require.NoError(t, err, "1.2 MiB is within the default budget of %d bytes", attest.DefaultMaxTotalBytes)
	assert.Len(t, md.Items, 6)

	_, err = attest.Discover(ctx, repo, img, &attest.Options{MaxTotalBytes: 700 << 10})
	require.Error(t, err)
	assert.ErrorIs(t, err, attest.ErrBudgetExceeded)
	var be *attest.BudgetError
	require.ErrorAs(t, err, &be)
	assert.LessOrEqual(t, be.Read, int64(700<<10), "never read beyond the budget")
	assert.Equal(t, img.Digest, be.Subject)
}

// TestDiscoverBudgetCountsValues: a document of tiny JSON values costs its
// values, not only its bytes: "[{},{},...]" of 64 KiB is refused by a
// budget of 1 MiB before it is parsed, while a realistic document of the
// same size fits.
func TestDiscoverBudgetCountsValues(t *testing.T) {
	ctx := context.Background()
	repo, err := registry.NewClient(registry.Options{}).Repository(ctx, "mem:values")
	require.NoError(t, err)
	img, err := imagetest.Image{}.Push(ctx, repo)
	require.NoError(t, err)
	tiny := `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"t","packages":[{}` + strings.Repeat(`,{}`, 64<<10/3) + `]}`
	_, err = registry.Attach(ctx, repo, img, registry.Artifact{ArtifactType: artifact.TypeSPDX,
		Blobs: []registry.Blob{{MediaType: artifact.MediaTypeSPDX, Data: []byte(tiny)}}})
	require.NoError(t, err)
	_, err = attest.Discover(ctx, repo, img, &attest.Options{MaxTotalBytes: 1 << 20})
	var be *attest.BudgetError
	require.ErrorAs(t, err, &be)
	assert.True(t, be.Values, "refused for its values: %v", err)
	assert.Contains(t, err.Error(), "JSON values")

	other, err := registry.NewClient(registry.Options{}).Repository(ctx, "mem:values-real")
	require.NoError(t, err)
	img, err = imagetest.Image{}.Push(ctx, other)
	require.NoError(t, err)
	doc := fmt.Sprintf(`{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"real","documentNamespace":"https://example.com/r","creationInfo":{"created":"2024-01-01T00:00:00Z","creators":["Tool: x"],"comment":%q},"packages":[]}`, strings.Repeat("x", 64<<10))
	_, err = registry.Attach(ctx, other, img, registry.Artifact{ArtifactType: artifact.TypeSPDX,
		Blobs: []registry.Blob{{MediaType: artifact.MediaTypeSPDX, Data: []byte(doc)}}})
	require.NoError(t, err)
	md, err := attest.Discover(ctx, other, img, &attest.Options{MaxTotalBytes: 1 << 20})
	require.NoError(t, err)
	assert.Len(t, md.Items, 1)
}

// TestDiscoverBudgetExemptGenerated: with ExemptGenerated, what claims to
// be cssc's own is read outside the budget; without it, the claim buys
// nothing.
func TestDiscoverBudgetExemptGenerated(t *testing.T) {
	ctx := context.Background()
	repo, err := registry.NewClient(registry.Options{}).Repository(ctx, "mem:exempt")
	require.NoError(t, err)
	img, err := imagetest.Image{}.Push(ctx, repo)
	require.NoError(t, err)
	doc := fmt.Sprintf(`{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"cssc","documentNamespace":"https://example.com/c","creationInfo":{"created":"2024-01-01T00:00:00Z","creators":["Tool: cssc"],"comment":%q},"packages":[]}`, strings.Repeat("x", 300<<10))
	_, err = registry.Attach(ctx, repo, img, registry.Artifact{ArtifactType: artifact.TypeSPDX,
		Annotations: map[string]string{artifact.AnnotationGeneratedBy: "cssc"},
		Blobs:       []registry.Blob{{MediaType: artifact.MediaTypeSPDX, Data: []byte(doc)}}})
	require.NoError(t, err)
	_, err = attest.Discover(ctx, repo, img, &attest.Options{MaxTotalBytes: 200 << 10})
	assert.ErrorIs(t, err, attest.ErrBudgetExceeded, "counted by default")
	md, err := attest.Discover(ctx, repo, img, &attest.Options{MaxTotalBytes: 200 << 10, ExemptGenerated: true})
	require.NoError(t, err)
	require.Len(t, md.Items, 1)
	assert.NotNil(t, md.Items[0].SBOM, "read in full: %v", md.Items[0].Err)
}
