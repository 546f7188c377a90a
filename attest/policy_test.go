package attest_test

import (
	"context"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/attest"
	"github.com/cssc-go/cssc/policy"
)

func TestDecisionFromPolicy(t *testing.T) {
	rules := []policy.RuleResult{
		{Rule: "sources", Verdict: policy.Pass, Reason: "docker.io/library/* allowed"},
		{Rule: "vulnerabilities", Verdict: policy.Fail, Reason: "CVE-2024-1 is critical"},
		{Rule: "licenses", Verdict: policy.Skip, Reason: "not in the policy"},
	}
	for _, tc := range []struct {
		name       string
		in         policy.Decision
		wantResult string
		reason     string
	}{
		{name: "enforce deny", in: policy.Decision{Policy: "p", Mode: policy.ModeEnforce, Rules: rules, WouldDeny: true},
			wantResult: attest.ResultFailed, reason: `policy "p": denied: vulnerabilities`},
		{name: "audit", in: policy.Decision{Policy: "p", Mode: policy.ModeAudit, Allowed: true, WouldDeny: true, Rules: rules},
			wantResult: attest.ResultFailed, reason: `policy "p" (audit): would deny: vulnerabilities`},
		{name: "pass", in: policy.Decision{Policy: "p", Mode: policy.ModeEnforce, Allowed: true, Rules: rules[:1],
			ExceptionsUsed: []policy.ExceptionUse{{ID: "ex-1", Vulnerability: "CVE-2024-2"}}},
			wantResult: attest.ResultPassed, reason: `policy "p": every rule passed; exceptions used: ex-1 (CVE-2024-2)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := attest.DecisionFromPolicy(tc.in)
			assert.Equal(t, tc.in.Allowed, d.Allowed)
			assert.Equal(t, tc.in.WouldDeny, d.WouldDeny)
			assert.Equal(t, string(tc.in.Mode), d.Mode)
			assert.Equal(t, tc.reason, d.Reason)
			require.Len(t, d.Checks, len(tc.in.Rules))
			for i, r := range tc.in.Rules {
				assert.Equal(t, attest.Check{Name: r.Rule, Verdict: attest.Verdict(r.Verdict), Reason: r.Reason}, d.Checks[i])
			}
			img := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("img"), Size: 3}
			s := testSubject(img)
			s.Decision = d
			arts, err := (&attest.VSAEnricher{VerifierID: "https://registry.corp/gate"}).Enrich(context.Background(), s)
			require.NoError(t, err)
			st, err := attest.ParseStatement(arts[0].Blobs[0].Data)
			require.NoError(t, err)
			vsa, dec, err := attest.ParseVerificationSummary(st)
			require.NoError(t, err)
			assert.Equal(t, tc.wantResult, vsa.GetVerificationResult(), "an audit pass with failures is not PASSED")
			assert.Equal(t, d.WouldDeny, dec.WouldDeny)
		})
	}
}
