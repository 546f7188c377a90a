package catalogtest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
)

// testRescanFailed: an entry whose rescan failed keeps its findings, comes
// back byte for byte, and is not trusted (its report in force is stale).
func testRescanFailed(t *testing.T, s catalog.Store) {
	ctx := context.Background()
	e := Corpus(CorpusOptions{Seed: 7, Entries: 1})[0]
	e.Problems = nil
	require.NoError(t, s.Put(ctx, e))
	trusted := true
	res, err := s.Search(ctx, catalog.Query{Trusted: &trusted})
	require.NoError(t, err)
	require.Equal(t, 1, res.Total, "an entry without problems is trusted")

	e.Problems = []catalog.Problem{{Subject: e.Children[0].Digest, Evidence: catalog.EvidenceVulnReport,
		Reason: catalog.ReasonRescanFailed, Detail: "sign report: signer unavailable"}}
	require.NoError(t, s.Put(ctx, e))
	got, err := s.Get(ctx, e.Repository, e.Digest)
	require.NoError(t, err)
	assert.Equal(t, string(mustMarshal(t, e)), string(mustMarshal(t, got)), "an entry whose rescan failed round-trips")
	res, err = s.Search(ctx, catalog.Query{Trusted: &trusted})
	require.NoError(t, err)
	assert.Equal(t, 0, res.Total, "an entry whose rescan failed is not trusted")
}
