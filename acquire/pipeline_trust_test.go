package acquire_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/acquire"
	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/examples/sample"
	"github.com/cssc-go/cssc/policy"
	"github.com/cssc-go/cssc/registry"
)

// signersPolicy is the fixture's policy with a signatures rule that names
// the publisher as the notation CLI's trust policy spells it.
const signersPolicy = testPolicy + `
signatures:
  signers:
    - name: example-publisher
      verifier: notation
      identities: ["C=US, ST=WA, O=Example Publisher, CN=Example Publisher Release Signing"]
`

// TestPipelineTrustAsNotationUsersWriteIt runs the pipeline with trust
// policies scoped the way notation users scope them (the publisher's to
// the source repository, the enterprise's to golden; no "*") and a
// signatures rule naming the publisher in the CLI's spelling (issue 10
// items 1 and 2). Before, the publisher signature was inconclusive (the
// statement was looked up under the quarantine name) and, once verified,
// its identity did not match the rule (Go's reverse spelling).
func TestPipelineTrustAsNotationUsersWriteIt(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx := context.Background()
	f := newPipeFixture(t, pipeOptions{noClamd: true})
	doc, err := policy.Parse(fmt.Appendf(nil, signersPolicy, "enforce", false))
	require.NoError(t, err)
	f.cfg.Policy, err = policy.Compile(doc)
	require.NoError(t, err)
	f.cfg.PolicyRef = nil
	golden := registry.Join(f.dst.Host, "golden/"+sample.Signed)
	f.cfg.EnterpriseVerifier = newVerifier(t, "corp", f.enterpriseCA, "C=US, ST=WA, O=Corp, CN=Corp Golden Signing", golden)
	p := f.pipeline(t)

	rec, err := p.Run(ctx, f.location(sample.Signed), acquire.RunOptions{})
	require.NoError(t, err, "record: %s", rec.Reason)
	assert.Equal(t, acquire.OutcomePromoted, rec.Outcome, rec.Reason)
	res, ok := rec.Decision.Result(policy.RuleSignatures)
	require.True(t, ok)
	assert.Equal(t, policy.Pass, res.Verdict, "%s %v", res.Reason, res.Details)
	assert.Contains(t, res.Details, `signer example-publisher: satisfied by notation-jws signature by "C=US, ST=WA, O=Example Publisher, CN=Example Publisher Release Signing" (verified)`)
	s := rec.Step(acquire.StepSignatures)
	require.NotNil(t, s)
	assert.Contains(t, s.Reason, "verified: C=US, ST=WA, O=Example Publisher, CN=Example Publisher Release Signing", "one canonical spelling in the record")

	// A second run with another tag does the work again: the signatures
	// made in quarantine are recognised under golden's name and reused.
	second, err := p.Run(ctx, f.location(sample.Signed), acquire.RunOptions{Tags: []string{"stable"}})
	require.NoError(t, err, second.Reason)
	sign := second.Step(acquire.StepSign)
	require.NotNil(t, sign)
	assert.Contains(t, sign.Reason, ": 0 new signature(s)", "enterprise signatures in quarantine are verified under golden's scope and reused")
	root, err := f.golden(t, sample.Signed).Resolve(ctx, "stable")
	require.NoError(t, err)
	assert.Equal(t, rec.Digest, root.Digest)
	sigs := referrerTypes(t, f.quarantine(t, sample.Signed), root)[artifact.TypeNotarySignature]
	assert.Equal(t, 2, sigs, "the publisher's signature and one enterprise signature on the root, no more")
}

// levelRecorder keeps the level of every record per message.
type levelRecorder struct {
	mu     sync.Mutex
	levels map[string][]slog.Level
}

func (r *levelRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *levelRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.levels == nil {
		r.levels = map[string][]slog.Level{}
	}
	r.levels[rec.Message] = append(r.levels[rec.Message], rec.Level)
	return nil
}
func (r *levelRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *levelRecorder) WithGroup(string) slog.Handler      { return r }

func (r *levelRecorder) take() map[string][]slog.Level {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.levels
	r.levels = nil
	return out
}

// TestRunLogLevels: a run's log levels say what happened. A promotion logs
// nothing above INFO (the publisher's signature checked against the
// enterprise key on the way included), a denial ends with a WARN, and no
// level is ERROR unless the run failed (issue 10 item 12).
func TestRunLogLevels(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx := context.Background()
	f := newPipeFixture(t, pipeOptions{noClamd: true})
	rec := &levelRecorder{}
	f.cfg.Logger = slog.New(rec)
	p := f.pipeline(t)
	for _, tc := range []struct {
		name    string
		outcome acquire.Outcome
		final   slog.Level
	}{
		{sample.Signed, acquire.OutcomePromoted, slog.LevelInfo},
		{sample.Clean, acquire.OutcomePromoted, slog.LevelInfo},
		{sample.Vulnerable, acquire.OutcomeDenied, slog.LevelWarn},
	} {
		r, _ := p.Run(ctx, f.location(tc.name), acquire.RunOptions{})
		require.Equal(t, tc.outcome, r.Outcome, r.Reason)
		levels := rec.take()
		assert.Equal(t, []slog.Level{tc.final}, levels["acquire: run finished"], "%s: the run's last line", tc.name)
		for msg, ls := range levels {
			for _, l := range ls {
				assert.Less(t, l, slog.LevelError, "%s: %q logged at %s", tc.name, msg, l)
				if tc.outcome == acquire.OutcomePromoted {
					assert.Less(t, l, slog.LevelWarn, "%s: %q logged at %s in a successful run", tc.name, msg, l)
				}
			}
		}
	}
	f.cfg.Quarantine = "mem:q"
	f.cfg.Golden = "mem:g"
	r, err := f.pipeline(t).Run(ctx, f.location("library/missing"), acquire.RunOptions{})
	require.Error(t, err)
	assert.Equal(t, []slog.Level{slog.LevelError}, rec.take()["acquire: run finished"], "an error is an error: %s", r.Reason)
}

// TestPublisherVerdictsStayInQuarantine: a publisher's own SARIF report
// and verification summary ("PASSED, 0 results") are not promoted next to
// cssc's unless the configuration names their type (issue 10 item 7).
func TestPublisherVerdictsStayInQuarantine(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx := context.Background()
	for _, allow := range [][]string{nil, {artifact.TypeSARIF, artifact.PredicateVerificationSummaryV1}} {
		f := newPipeFixture(t, pipeOptions{noClamd: true})
		src := f.src.Repository(t, sample.Clean)
		root, err := src.Resolve(ctx, sample.Tag)
		require.NoError(t, err)
		created := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		sarif, err := registry.Attach(ctx, src, root, registry.Artifact{ArtifactType: artifact.TypeSARIF, Created: created,
			Blobs: []registry.Blob{{MediaType: artifact.MediaTypeSARIF, Data: []byte(`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"publisher-scan"}},"results":[]}]}`)}}})
		require.NoError(t, err)
		stmt := fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":%q}}],"predicateType":%q,"predicate":{"verifier":{"id":"https://publisher.example"},"verificationResult":"PASSED"}}`,
			root.Digest.Encoded(), artifact.PredicateVerificationSummaryV1)
		vsa, err := registry.Attach(ctx, src, root, registry.Artifact{ArtifactType: artifact.TypeInToto, Created: created,
			Annotations: map[string]string{artifact.AnnotationPredicateType: artifact.PredicateVerificationSummaryV1},
			Blobs:       []registry.Blob{{MediaType: artifact.MediaTypeInToto, Data: stmt}}})
		require.NoError(t, err)
		f.cfg.PromotePublisherVerdicts = allow
		rec, err := f.pipeline(t).Run(ctx, f.location(sample.Clean), acquire.RunOptions{})
		require.NoError(t, err, rec.Reason)
		golden := f.golden(t, sample.Clean)
		for _, d := range []ocispec.Descriptor{sarif, vsa} {
			ok, err := golden.Exists(ctx, d)
			require.NoError(t, err)
			assert.Equal(t, allow != nil, ok, "publisher verdict %s (%s) promoted only when configured (%v)", d.Digest, d.ArtifactType, allow)
			assert.Equal(t, allow != nil, slices.Contains(rec.Promoted, d.Digest), "record")
		}
		// cssc's own report and summary are there either way.
		types := referrerTypes(t, golden, root)
		assert.GreaterOrEqual(t, types[artifact.TypeSARIF], 1, "cssc's report: %v", types)
	}
}
