package acquire_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"oras.land/oras-go/v2"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/registry/registrytest"
)

// setMode compiles the fixture's policy in mode ("audit", "enforce").
func (f *pipeFixture) setMode(t *testing.T, mode string) {
	t.Helper()
	doc, err := policy.Parse(fmt.Appendf(nil, testPolicy, mode, f.malware))
	require.NoError(t, err)
	pol, err := policy.Compile(doc)
	require.NoError(t, err)
	f.cfg.Policy = pol
	f.cfg.PolicyRef = &attest.PolicyRef{Name: "test-golden", Digest: digest.Digest(pol.Digest())}
}

// TestAuditThenEnforceWithdrawsTags: an image promoted in audit mode, then
// denied by an enforcing policy, is no longer under any golden tag: the
// tags are withdrawn (no earlier digest is known to have passed), and the
// record names them (issue 10 item 4). Before, golden kept serving it while
// the record said it stayed in quarantine.
func TestAuditThenEnforceWithdrawsTags(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx := context.Background()
	for _, kind := range []registrytest.Kind{registrytest.OCI, registrytest.Distribution} {
		t.Run(string(kind), func(t *testing.T) {
			f := newPipeFixture(t, pipeOptions{mode: "audit", noClamd: true, dstKind: kind})
			audited, err := f.pipeline(t).Run(ctx, f.location(sample.Vulnerable), acquire.RunOptions{Tags: []string{"stable"}})
			require.NoError(t, err, audited.Reason)
			require.Equal(t, acquire.OutcomeAudited, audited.Outcome, audited.Reason)
			golden := f.golden(t, sample.Vulnerable)
			for _, tag := range []string{sample.Tag, "stable"} {
				cur, err := golden.Resolve(ctx, tag)
				require.NoError(t, err)
				require.Equal(t, audited.Digest, cur.Digest, "audit mode promoted under %s", tag)
			}

			f.setMode(t, "enforce")
			denied, err := f.pipeline(t).Run(ctx, f.location(sample.Vulnerable), acquire.RunOptions{})
			require.ErrorIs(t, err, acquire.ErrPolicyDenied)
			assert.Equal(t, acquire.OutcomeDenied, denied.Outcome, denied.Reason)
			assert.Equal(t, audited.Digest, denied.Digest)
			for _, tag := range []string{sample.Tag, "stable"} {
				_, err := golden.Resolve(ctx, tag)
				assert.ErrorIs(t, err, registry.ErrNotFound, "golden tag %s no longer points at the denied digest", tag)
			}
			assert.ElementsMatch(t, []acquire.Withdrawal{
				{Tag: sample.Tag, Digest: denied.Digest},
				{Tag: "stable", Digest: denied.Digest},
			}, denied.Withdrawn, "the record names what was withdrawn")
			assert.Contains(t, denied.Reason, "withdrew")
			// A pinned digest still pulls: only the tags are withdrawn.
			_, err = golden.Resolve(ctx, denied.Digest.String())
			assert.NoError(t, err)
		})
	}
}

// TestAuditThenEnforceRestoresLastPassing: when golden's evidence shows the
// digest the tag pointed at before the audit-mode promotion passed (an
// enterprise-signed verification summary that says PASSED), the denial
// moves the tag back to it instead of removing it (issue 10 item 4).
func TestAuditThenEnforceRestoresLastPassing(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx := context.Background()
	for _, kind := range []registrytest.Kind{registrytest.OCI, registrytest.Distribution} {
		t.Run(string(kind), func(t *testing.T) { testRestoresLastPassing(ctx, t, kind) })
	}
}

func testRestoresLastPassing(ctx context.Context, t *testing.T, kind registrytest.Kind) {
	f := newPipeFixture(t, pipeOptions{noClamd: true, dstKind: kind})
	first, err := f.pipeline(t).Run(ctx, f.location(sample.Clean), acquire.RunOptions{})
	require.NoError(t, err, first.Reason)
	require.Equal(t, acquire.OutcomePromoted, first.Outcome)

	// Upstream moves the tag to a vulnerable image; audit mode lets it
	// through.
	src := f.src.Repository(t, sample.Clean)
	d, err := f.src.Repository(t, sample.Vulnerable).Resolve(ctx, sample.Tag)
	require.NoError(t, err)
	require.NoError(t, oras.CopyGraph(ctx, f.src.Repository(t, sample.Vulnerable), src, d, oras.DefaultCopyGraphOptions))
	require.NoError(t, src.Tag(ctx, d, sample.Tag))
	f.setMode(t, "audit")
	audited, err := f.pipeline(t).Run(ctx, f.location(sample.Clean), acquire.RunOptions{})
	require.NoError(t, err, audited.Reason)
	require.Equal(t, acquire.OutcomeAudited, audited.Outcome, audited.Reason)
	require.Equal(t, first.Digest, audited.PreviousGoldenDigest)

	f.setMode(t, "enforce")
	denied, err := f.pipeline(t).Run(ctx, f.location(sample.Clean), acquire.RunOptions{})
	require.ErrorIs(t, err, acquire.ErrPolicyDenied)
	cur, err := f.golden(t, sample.Clean).Resolve(ctx, sample.Tag)
	require.NoError(t, err)
	assert.Equal(t, first.Digest, cur.Digest, "the golden tag is back on the last digest that passed")
	assert.Equal(t, []acquire.Withdrawal{{Tag: sample.Tag, Digest: audited.Digest, RestoredTo: first.Digest}}, denied.Withdrawn)

	// Denied again: nothing points at the denied digest any more, so
	// nothing is withdrawn and the restored tag stays.
	again, err := f.pipeline(t).Run(ctx, f.location(sample.Clean), acquire.RunOptions{})
	require.ErrorIs(t, err, acquire.ErrPolicyDenied)
	assert.Empty(t, again.Withdrawn)
	cur, err = f.golden(t, sample.Clean).Resolve(ctx, sample.Tag)
	require.NoError(t, err)
	assert.Equal(t, first.Digest, cur.Digest)
}
