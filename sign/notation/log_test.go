package notation_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/sign"
	"github.com/cssc-go/cssc/sign/devpki"
	"github.com/cssc-go/cssc/sign/notation"
)

// recorder is a slog.Handler that keeps every record.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.records = append(r.records, rec.Clone())
	r.mu.Unlock()
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// TestLogLevelsMatchOutcome: verifying another party's signature is a
// result (failed, with its cause), not an error of the program, so the
// verifier logs nothing at WARN or ERROR; notation-go's own level is kept
// as an attribute (issue 10 item 12).
func TestLogLevelsMatchOutcome(t *testing.T) {
	ctx := context.Background()
	ours := newPKI(t, devpki.ECDSAP256, "")
	theirs := newPKI(t, devpki.ECDSAP256, "")
	repo := newMemRepo(t)
	img := pushImage(t, repo, 31)
	_, err := newSigner(t, theirs.leaf.Key, theirs.leaf.Chain, notation.SignerOptions{}).Sign(ctx, repo, img)
	require.NoError(t, err)
	_, err = newSigner(t, ours.leaf.Key, ours.leaf.Chain, notation.SignerOptions{}).Sign(ctx, repo, img)
	require.NoError(t, err)

	rec := &recorder{}
	v := newVerifier(t, notation.VerifierOptions{TrustPolicy: policy(t, "strict", identity), TrustStore: store(t, ours.ca.Certificate), Logger: slog.New(rec)})
	res, err := v.Verify(ctx, repo, img)
	require.NoError(t, err)
	require.Len(t, res.Signatures, 2)
	states := map[sign.State]int{}
	for _, s := range res.Signatures {
		states[s.State]++
	}
	assert.Equal(t, map[sign.State]int{sign.StateVerified: 1, sign.StateFailed: 1}, states, "one trusted, one untrusted signature")

	notationErrors := 0
	for _, r := range rec.records {
		assert.Less(t, r.Level, slog.LevelWarn, "logged at %s: %q", r.Level, r.Message)
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "notationLevel" && a.Value.String() == "ERROR" {
				notationErrors++
			}
			return true
		})
	}
	assert.Positive(t, notationErrors, "notation-go's error about the untrusted signature is kept, at debug level")
}
