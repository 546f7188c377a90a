package scalibr

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	upstream "github.com/google/licenseclassifier/v2"

	classifier "github.com/cssc-go/cssc/sbom/scalibr/internal/licenseclassifier"
	"github.com/google/licenseclassifier/v2/assets"
	"github.com/stretchr/testify/require"
)

// upstreamClassifier builds github.com/google/licenseclassifier/v2's own
// classifier from cssc's corpus.
func upstreamClassifier(t testing.TB) *upstream.Classifier {
	t.Helper()
	c := upstream.NewClassifier(0.8)
	require.NoError(t, addCorpus(c.AddContent))
	return c
}

// matchKey is one match, every field, in a comparable form: the fields
// of both classifiers' Match, in their order, so that either converts.
type matchKey struct {
	Name                           string
	Confidence                     float64
	MatchType                      string
	Variant                        string
	StartLine, EndLine             int
	StartTokenIndex, EndTokenIndex int
}

func upstreamMatches(c *upstream.Classifier, in []byte) []matchKey {
	var out []matchKey
	for _, m := range c.Match(in).Matches {
		out = append(out, matchKey(*m))
	}
	return sortMatches(out)
}

func forkMatches(c *classifier.Classifier, in []byte) []matchKey {
	var out []matchKey
	for _, m := range c.Match(in).Matches {
		out = append(out, matchKey(*m))
	}
	return sortMatches(out)
}

// sortMatches orders matches by every field: the classifiers order
// matches of equal confidence and position as their maps iterate.
func sortMatches(ms []matchKey) []matchKey {
	slices.SortFunc(ms, func(a, b matchKey) int {
		return cmp.Or(cmp.Compare(a.StartTokenIndex, b.StartTokenIndex), cmp.Compare(a.EndTokenIndex, b.EndTokenIndex),
			cmp.Compare(a.StartLine, b.StartLine), cmp.Compare(a.EndLine, b.EndLine),
			cmp.Compare(a.Name, b.Name), cmp.Compare(a.Variant, b.Variant), cmp.Compare(a.MatchType, b.MatchType), cmp.Compare(a.Confidence, b.Confidence))
	})
	return ms
}

// mutate returns text with about rate of its words dropped, doubled or
// replaced by a word from elsewhere in it (deterministic for a seed).
func mutate(text []byte, seed uint64, rate float64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	lines := strings.Split(string(text), "\n")
	var words []string
	for _, l := range lines {
		words = append(words, strings.Fields(l)...)
	}
	if len(words) == 0 {
		return text
	}
	var b strings.Builder
	for _, l := range lines {
		for i, w := range strings.Fields(l) {
			if i > 0 {
				b.WriteByte(' ')
			}
			if r.Float64() >= rate {
				b.WriteString(w)
				continue
			}
			switch r.IntN(3) {
			case 0: // dropped
			case 1:
				b.WriteString(w + " " + w)
			default:
				b.WriteString(words[r.IntN(len(words))])
			}
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// TestClassifierForkMatchesUpstream: cssc's compact copy of the licence
// classifier finds exactly what github.com/google/licenseclassifier/v2
// finds (every field of every match) with the same corpus, on the real
// Debian free-text copyright files, on every corpus text, on pairs of them
// and on mutated copies of both.
func TestClassifierForkMatchesUpstream(t *testing.T) {
	up := upstreamClassifier(t)
	fork, err := newClassifier()
	require.NoError(t, err)

	var inputs []string
	var names []string
	files, err := filepath.Glob("testdata/copyright/*")
	require.NoError(t, err)
	for _, f := range files {
		if strings.HasSuffix(f, ".md") {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		inputs, names = append(inputs, string(b)), append(names, f)
	}
	require.Len(t, inputs, 6, "the six free-text copyright files")
	for _, p := range classifierCorpus {
		b, err := assets.ReadLicenseFile(p)
		require.NoError(t, err)
		inputs, names = append(inputs, string(b)), append(names, p)
	}
	r := rand.New(rand.NewPCG(1, 2))
	n := len(inputs)
	for i := range 40 {
		a, b := r.IntN(n), r.IntN(n)
		inputs = append(inputs, "Files: *\nCopyright: someone\n"+inputs[a]+"\n\n"+inputs[b])
		names = append(names, fmt.Sprintf("pair %d: %s + %s", i, names[a], names[b]))
	}
	for i := range n {
		for _, rate := range []float64{0.02, 0.08, 0.2} {
			inputs = append(inputs, string(mutate([]byte(inputs[i]), uint64(i)*31+uint64(rate*100), rate)))
			names = append(names, fmt.Sprintf("%s mutated %.0f%%", names[i], rate*100))
		}
	}
	inputs = append(inputs, "", "\n\n\n", "GPL", strings.Repeat("the ", 5000))
	names = append(names, "empty", "blank lines", "one word", "one word repeated")

	matched := 0
	for i, in := range inputs {
		want := upstreamMatches(up, []byte(in))
		got := forkMatches(fork, []byte(in))
		require.Equal(t, want, got, "%s", names[i])
		if len(want) > 0 {
			matched++
		}
	}
	t.Logf("%d inputs, %d with matches", len(inputs), matched)
	require.Greater(t, matched, n, "most inputs match something: the comparison is not between empty results")
}

// FuzzClassifierForkMatchesUpstream: the same on any input.
func FuzzClassifierForkMatchesUpstream(f *testing.F) {
	files, _ := filepath.Glob("testdata/copyright/*")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, p := range classifierCorpus[:20] {
		if b, err := assets.ReadLicenseFile(p); err == nil {
			f.Add(b)
		}
	}
	up := upstreamClassifier(f)
	fork, err := newClassifier()
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1<<16 {
			return
		}
		require.Equal(t, upstreamMatches(up, in), forkMatches(fork, in))
	})
}
