package scan_test

import (
	"encoding/json"
	"testing"

	"github.com/cssc-go/cssc/scan"
)

// FuzzDecodeSARIF feeds arbitrary SARIF to DecodeSARIF and checks that
// what it accepts re-encodes to valid SARIF with the same findings.
func FuzzDecodeSARIF(f *testing.F) {
	r := sampleReport()
	good, _ := r.SARIF()
	f.Add(good)
	f.Add([]byte(`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"Trivy","rules":[{"id":"X","help":{"text":"Severity: LOW"}}]}},"results":[{"ruleId":"X","message":{"text":"m"},"locations":[{"physicalLocation":{"artifactLocation":{"uri":"a%zz"}}}]}]}]}`))
	f.Add([]byte(`{"version":"2.1.0","runs":[{"results":[{"ruleId":"A","properties":{"severity":"9.9","package":{"name":"p"}}}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := scan.DecodeSARIF(data)
		_ = scan.ValidateSARIF(data)
		if err != nil {
			return
		}
		if r.Tool.Name == "" {
			r.Tool.Name = "fuzz"
		}
		out, err := r.SARIF()
		if err != nil {
			return // e.g. a finding without an ID is refused on output
		}
		if err := scan.ValidateSARIF(out); err != nil {
			t.Fatalf("re-encoded SARIF is invalid: %v\n%s", err, out)
		}
		back, err := scan.DecodeSARIF(out)
		if err != nil {
			t.Fatalf("re-encoded SARIF does not decode: %v", err)
		}
		if len(back.Findings) != len(r.Findings) {
			t.Fatalf("findings %d -> %d", len(r.Findings), len(back.Findings))
		}
	})
}

// FuzzDecodeJSON checks that DecodeJSON never panics and that what it
// accepts marshals again.
func FuzzDecodeJSON(f *testing.F) {
	good, _ := json.Marshal(sampleReport())
	f.Add(good)
	f.Add([]byte(`{"findings":[{"severity":"moderate"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := scan.DecodeJSON(data)
		if err != nil {
			return
		}
		if _, err := json.Marshal(r); err != nil {
			t.Fatalf("decoded report does not marshal: %v", err)
		}
	})
}
