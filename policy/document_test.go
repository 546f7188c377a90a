package policy

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

type dirFS struct{}

func (dirFS) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

var (
	testdataFS  dirFS
	errNotExist = fs.ErrNotExist
)

func writeGolden(t *testing.T, path string, data []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, append(data, '\n'), 0o644))
	t.Logf("wrote %s", path)
}

func TestDefaultMatchesTestdata(t *testing.T) {
	doc := loadDoc(t, "testdata/default.yaml")
	assert.Equal(t, Default(), doc)
	pol, err := Compile(Default(), WithClock(fixedClock))
	require.NoError(t, err)
	assert.Empty(t, pol.Warnings())
	assert.Equal(t, ModeEnforce, pol.Mode())
	assert.Equal(t, "cssc-default", pol.Name())

	// Default's rules on good evidence: bash's GPL-3.0-or-later is fine,
	// the medium finding is within the ceiling.
	d := pol.Evaluate(context.Background(), goodEvidence())
	assert.True(t, d.Allowed, "%+v", d.Rules)
	r, _ := d.Result(RuleSignatures)
	assert.Equal(t, Skip, r.Verdict)
}

func TestTestdataRoundTrips(t *testing.T) {
	for _, path := range []string{"testdata/default.yaml", "testdata/complete.yaml"} {
		t.Run(path, func(t *testing.T) {
			doc := loadDoc(t, path)
			_, err := Compile(doc, WithClock(fixedClock))
			require.NoError(t, err)

			js, err := json.Marshal(doc)
			require.NoError(t, err)
			fromJSON, err := Parse(js)
			require.NoError(t, err)
			assert.Equal(t, doc, fromJSON, "JSON round trip")

			ym, err := yaml.Marshal(doc)
			require.NoError(t, err)
			fromYAML, err := Parse(ym)
			require.NoError(t, err)
			assert.Equal(t, doc, fromYAML, "YAML round trip")
			assert.Equal(t, strings.TrimSpace(string(ym)), doc.String())
		})
	}
}

func TestCompleteDocumentFields(t *testing.T) {
	doc := loadDoc(t, "testdata/complete.yaml")
	require.NotNil(t, doc.Vulnerabilities)
	require.Len(t, doc.Vulnerabilities.Exceptions, 2)
	assert.Equal(t, "2027-06-30", doc.Vulnerabilities.Exceptions[0].Expires, "unquoted YAML date read as text")
	assert.Equal(t, "2027-01-31T12:00:00Z", doc.Vulnerabilities.Exceptions[1].Expires)
	assert.Equal(t, []string{"libexpat1", "expat*"}, doc.Vulnerabilities.Exceptions[0].Packages)
	require.NotNil(t, doc.Signatures)
	assert.Len(t, doc.Signatures.Signers, 2)
	assert.Equal(t, ModeEnforce, doc.Mode)
	assert.Equal(t, 90, doc.Lifecycle.MinDaysBeforeEndOfLife)
}

func TestParseErrors(t *testing.T) {
	big := "name: x\n" + "description: " + strings.Repeat("a", MaxDocumentSize) + "\n"
	cases := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", "empty"},
		{"blank", " \n\t\n", "empty"},
		{"comment only", "# nothing\n", "empty"},
		{"oversized", big, "byte limit"},
		{"not utf-8", "name: \xff\xfe\n", "UTF-8"},
		{"malformed yaml", "name: [x\n", "yaml"},
		{"yaml scalar", "just text\n", "must be a mapping"},
		{"yaml wrong type", "name: x\nlifecycle:\n  minDaysBeforeEndOfLife: soon\n", "cannot unmarshal"},
		{"yaml unknown top-level field", "name: x\nmodes: audit\n", "field modes not found"},
		{"yaml unknown nested field", "name: x\nvulnerabilities:\n  maxSeverity: low\n  maxSeverty: high\n", "field maxSeverty not found"},
		{"yaml unknown exception field", "name: x\nvulnerabilities:\n  maxSeverity: low\n  exceptions:\n    - id: CVE-1\n      reason: r\n      expires: 2027-01-01\n      expiry: 2030-01-01\n", "field expiry not found"},
		{"yaml duplicate key", "name: x\nmode: enforce\nmode: audit\n", "already defined"},
		{"yaml two documents", "name: x\n---\nname: y\n", "more than one document"},
		{"yaml alias bomb", yamlBomb(), "yaml"},
		{"yaml deep nesting", "name: x\ndescription: " + strings.Repeat("[", 500000), "yaml"},
		{"yaml deep mapping", "name: x\ndescription:" + strings.Repeat(" {a:", 100000), "yaml"},
		{"json deep nesting", `{"name": "x", "description": ` + strings.Repeat("[", 500000), "nested deeper than 64"},
		{"malformed json", `{"name": "x",}`, "json"},
		{"json unknown field", `{"name": "x", "sources": {"allowed": ["docker.io/a/b"], "allow": []}}`, `unknown field "allow"`},
		{"json duplicate key", `{"name": "x", "mode": "enforce", "mode": "audit"}`, `duplicate key "mode"`},
		{"json nested duplicate key", `{"name": "x", "malware": {"required": true, "required": false}}`, `duplicate key "required"`},
		{"json trailing data", `{"name": "x"} {"name": "y"}`, "trailing data"},
		{"json wrong type", `{"name": "x", "sbom": {"required": "yes"}}`, "cannot unmarshal"},
		{"json null document", `null`, "must be a mapping"},
		{"yaml list", "- name: x\n", "must be a mapping"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Parse([]byte(tc.in))
			require.Error(t, err, "parsed as %+v", doc)
			assert.ErrorIs(t, err, ErrInvalidPolicy)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func yamlBomb() string {
	var b strings.Builder
	b.WriteString("name: x\ndescription: &a0 [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("d")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(": &a")
		b.WriteString(string(rune('0' + i)))
		b.WriteString(" [")
		for j := range 9 {
			if j > 0 {
				b.WriteString(",")
			}
			b.WriteString("*a")
			b.WriteString(string(rune('0' + i - 1)))
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestParseAcceptsJSONAndYAMLAlike(t *testing.T) {
	y := "name: j\nmode: audit\nsbom:\n  required: true\n"
	j := "\ufeff  {\"name\": \"j\", \"mode\": \"audit\", \"sbom\": {\"required\": true}}"
	dy, err := Parse([]byte(y))
	require.NoError(t, err)
	dj, err := Parse([]byte(j))
	require.NoError(t, err)
	assert.Equal(t, dy, dj)
}

func compileYAML(t *testing.T, text string, opts ...Option) (*Policy, error) {
	t.Helper()
	doc, err := Parse([]byte(text))
	require.NoError(t, err, "parse")
	return Compile(doc, append([]Option{WithClock(fixedClock)}, opts...)...)
}

func TestCompileErrors(t *testing.T) {
	const (
		vuln = "name: x\nvulnerabilities:\n  maxSeverity: medium\n"
		exc  = vuln + "  exceptions:\n    - "
	)
	cases := []struct {
		name string
		doc  string
		want string
	}{
		{"no name", "sbom: {required: true}\n", "name: required"},
		{"blank name", "name: '  '\nsbom: {required: true}\n", "name: required"},
		{"bad api version", "apiVersion: v2\nname: x\nsbom: {required: true}\n", `apiVersion: "v2" is not supported`},
		{"bad mode", "name: x\nmode: dry-run\nsbom: {required: true}\n", `mode: "dry-run" is not one of enforce, audit`},
		{"upper-case mode", "name: x\nmode: Audit\nsbom: {required: true}\n", "mode:"},
		{"empty policy", "name: x\n", "no rule that can fail"},
		{"only soft rules", "name: x\nsbom: {required: false}\nprovenance: {required: false}\n", "no rule that can fail"},
		{"empty sources", "name: x\nsources: {}\n", "sources: needs allowed or denied patterns"},
		{"upper-case source pattern", "name: x\nsources: {allowed: [docker.io/Library/nginx]}\n", "lower-case"},
		{"source without registry", "name: x\nsources: {allowed: [library/nginx]}\n", "must start with a registry host"},
		{"bare short name", "name: x\nsources: {allowed: [nginx]}\n", "must start with a registry host"},
		{"registry only", "name: x\nsources: {allowed: [docker.io]}\n", "no repository"},
		{"triple star", "name: x\nsources: {allowed: [docker.io/***]}\n", "*** is not a wildcard"},
		{"partial double star", "name: x\nsources: {allowed: [docker.io/lib**]}\n", "whole path segment"},
		{"tag in pattern", "name: x\nsources: {allowed: [docker.io/library/nginx:1.27]}\n", "tags are not part"},
		{"digest in pattern", "name: x\nsources: {denied: ['docker.io/library/nginx@sha256']}\n", "cannot appear"},
		{"empty segment", "name: x\nsources: {allowed: [docker.io//nginx]}\n", "empty path segment"},
		{"trailing slash", "name: x\nsources: {allowed: [docker.io/library/]}\n", "empty path segment"},
		{"space in pattern", "name: x\nsources: {allowed: ['docker.io/library/ nginx']}\n", "cannot appear"},
		{"empty pattern", "name: x\nsources: {allowed: ['']}\n", "empty pattern"},
		{"no signers", "name: x\nsignatures: {require: any}\n", "at least one signer"},
		{"no identities", "name: x\nsignatures: {signers: [{verifier: notation}]}\n", "identity pattern is required"},
		{"bad require", "name: x\nsignatures: {require: most, signers: [{identities: ['**']}]}\n", `"most" is not one of any, all`},
		{"bad min level", "name: x\nsignatures: {signers: [{identities: ['**'], minLevel: skip}]}\n", `minLevel: "skip"`},
		{"duplicate signer", "name: x\nsignatures: {signers: [{name: a, identities: ['**']}, {name: a, identities: ['**']}]}\n", "used twice"},
		{"control char identity", "name: x\nsignatures: {signers: [{identities: [\"a\\u0007b\"]}]}\n", "control"},
		{"bad issuer", "name: x\nsignatures: {signers: [{identities: ['**'], issuers: ['***']}]}\n", "issuers[0]"},
		{"no max severity", "name: x\nvulnerabilities: {unfixed: report}\n", "maxSeverity: required"},
		{"bad max severity", "name: x\nvulnerabilities: {maxSeverity: severe}\n", `"severe" is not one of`},
		{"upper max severity", "name: x\nvulnerabilities: {maxSeverity: HIGH}\n", `"HIGH" is not one of`},
		{"bad unfixed", "name: x\nvulnerabilities: {maxSeverity: low, unfixed: later}\n", `unfixed: "later"`},
		{"unfixed ceiling with ignore", "name: x\nvulnerabilities: {maxSeverity: low, unfixed: ignore, maxUnfixedSeverity: high}\n", "no effect"},
		{"unknown severity none", "name: x\nvulnerabilities: {maxSeverity: low, unknownSeverity: none}\n", "none is not a severity"},
		{"exception without id", exc + "{reason: r, expires: 2027-01-01}\n", "id: required"},
		{"exception wildcard id", exc + "{id: 'CVE-*', reason: r, expires: 2027-01-01}\n", "single vulnerability ID"},
		{"exception without reason", exc + "{id: CVE-1, expires: 2027-01-01}\n", "(CVE-1).reason: required"},
		{"exception without expiry", exc + "{id: CVE-1, reason: r}\n", "expires: required"},
		{"exception bad expiry", exc + "{id: CVE-1, reason: r, expires: next year}\n", "neither a date"},
		{"exception impossible date", exc + "{id: CVE-1, reason: r, expires: 2027-02-30}\n", "neither a date"},
		{"exception bad package pattern", exc + "{id: CVE-1, reason: r, expires: 2027-01-01, packages: ['']}\n", "packages[0]: empty pattern"},
		{"exception bad image pattern", exc + "{id: CVE-1, reason: r, expires: 2027-01-01, images: [nginx]}\n", "images[0]"},
		{"invalid licence", "name: x\nlicenses: {denied: [GPLv3]}\n", `"GPLv3" is not a valid SPDX licence identifier`},
		{"licence expression", "name: x\nlicenses: {denied: [GPL-3.0-only OR MIT]}\n", "is an expression"},
		{"noassertion in list", "name: x\nlicenses: {allowed: [NOASSERTION]}\n", "is not a licence"},
		{"empty licence", "name: x\nlicenses: {denied: ['']}\n", "empty licence"},
		{"allowed and denied", "name: x\nlicenses: {denied: [MIT], allowed: [mit]}\n", `"MIT" is both allowed and denied`},
		{"licence rule without lists", "name: x\nlicenses: {unknown: warn}\n", "needs denied or allowed"},
		{"bad unknown", "name: x\nlicenses: {denied: [MIT], unknown: maybe}\n", `unknown: "maybe"`},
		{"bad sbom source", "name: x\nsbom: {required: true, source: vendor}\n", `sbom.source: "vendor"`},
		{"bad provenance source", "name: x\nprovenance: {required: true, source: generated}\n", `provenance.source: "generated"`},
		{"negative days", "name: x\nlifecycle: {minDaysBeforeEndOfLife: -1}\n", "negative"},
		{"absurd days", "name: x\nlifecycle: {minDaysBeforeEndOfLife: 1000000}\n", "100 years"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pol, err := compileYAML(t, tc.doc)
			require.Error(t, err)
			assert.Nil(t, pol)
			assert.ErrorIs(t, err, ErrInvalidPolicy)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestCompileReportsEveryProblem(t *testing.T) {
	_, err := compileYAML(t, "name: x\nmode: loud\nsources: {allowed: [nginx]}\nlicenses: {denied: [GPLv3]}\n")
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Len(t, ve.Problems, 3, "%q", ve.Problems)
	assert.Equal(t, "x", ve.Policy)
}

func TestCompileNil(t *testing.T) {
	_, err := Compile(nil)
	assert.ErrorIs(t, err, ErrInvalidPolicy)
	var doc *Document
	assert.ErrorIs(t, doc.Validate(), ErrInvalidPolicy)
}

func TestValidate(t *testing.T) {
	assert.NoError(t, Default().Validate())
	assert.ErrorIs(t, (&Document{Name: "empty"}).Validate(), ErrInvalidPolicy)
}

func TestCustomRuleValidation(t *testing.T) {
	ok := ruleFunc{"ok", nil}
	cases := []struct {
		name  string
		rules []Rule
		want  string
	}{
		{"nil rule", []Rule{nil}, "custom rule 0: nil"},
		{"empty name", []Rule{ruleFunc{" ", nil}}, "empty name"},
		{"built-in name", []Rule{ruleFunc{RuleSources, nil}}, `"sources": name already used`},
		{"duplicate", []Rule{ok, ok}, `"ok": name already used`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var opts []Option
			for _, r := range tc.rules {
				opts = append(opts, WithRule(r))
			}
			_, err := Compile(&Document{Name: "x", Malware: &Malware{Required: true}}, opts...)
			assert.ErrorIs(t, err, ErrInvalidPolicy)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestExpiredExceptions(t *testing.T) {
	doc := "name: x\nvulnerabilities:\n  maxSeverity: low\n  exceptions:\n" +
		"    - {id: CVE-1, reason: old, expires: 2026-01-01}\n" +
		"    - {id: CVE-2, reason: current, expires: 2027-01-01}\n"
	pol, err := compileYAML(t, doc)
	require.NoError(t, err, "expired exceptions are a warning by default")
	require.Len(t, pol.Warnings(), 1)
	assert.Contains(t, pol.Warnings()[0], "exceptions[0] (CVE-1): expired on 2026-01-01 and will not be applied")

	ev := goodEvidence()
	ev.Vulnerabilities.Findings = []Vulnerability{
		{ID: "CVE-1", Package: "a", FixedVersion: "2", Severity: SeverityHigh},
		{ID: "CVE-2", Package: "b", FixedVersion: "2", Severity: SeverityHigh},
	}
	d := pol.Evaluate(context.Background(), ev)
	r, _ := d.Result(RuleVulnerabilities)
	assert.Equal(t, Fail, r.Verdict, "expired exception never applies")
	assert.Contains(t, r.Reason, "1 finding above the allowed severity low: CVE-1")
	require.Len(t, d.ExceptionsUsed, 1)
	assert.Equal(t, ExceptionUse{ID: "CVE-2", Vulnerability: "CVE-2", Package: "b", Severity: SeverityHigh, Reason: "current", Expires: "2027-01-01"}, d.ExceptionsUsed[0])
	assert.True(t, containsAny(d.Warnings, "will not be applied"), "compile warnings are repeated in decisions")

	// Even with a clock that says the exception is still valid at compile
	// time, evaluation at a later evidence time does not apply it.
	pol, err = compileYAML(t, doc, WithClock(func() time.Time { return time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC) }))
	require.NoError(t, err)
	assert.Empty(t, pol.Warnings())
	d = pol.Evaluate(context.Background(), ev)
	r, _ = d.Result(RuleVulnerabilities)
	assert.Equal(t, Fail, r.Verdict)

	_, err = compileYAML(t, doc, RejectExpiredExceptions())
	assert.ErrorIs(t, err, ErrInvalidPolicy)
	assert.ErrorContains(t, err, "expired on 2026-01-01")
}

func TestCompileWarnings(t *testing.T) {
	pol, err := compileYAML(t, "name: x\nvulnerabilities:\n  maxSeverity: low\n  exceptions:\n"+
		"    - {id: CVE-1, reason: r, expires: 2026-12-01}\n"+
		"    - {id: CVE-2, reason: r, expires: 2027-12-01}\n"+
		"signatures: {signers: [{identities: ['**']}, {verifier: notation, identities: ['**']}]}\n")
	require.NoError(t, err)
	assert.Equal(t, []string{
		"signatures.signers[0]: accepts any verified signature from any verifier (set verifier, or narrow the identities)",
		"vulnerabilities.exceptions[0] (CVE-1): expires on 2026-12-01, in less than 14 days",
	}, pol.Warnings())
}

func TestPolicyIsImmutable(t *testing.T) {
	doc := &Document{Name: "x", Sources: &Sources{Allowed: []string{"docker.io/library/nginx"}}}
	pol, err := Compile(doc)
	require.NoError(t, err)
	digest := pol.Digest()
	doc.Sources.Allowed[0] = "docker.io/library/ngnix"
	doc.Name = "changed"
	assert.Equal(t, "x", pol.Name())
	assert.Equal(t, "docker.io/library/nginx", pol.Document().Sources.Allowed[0])
	pol.Document().Sources.Allowed[0] = "quay.io/x/y"
	assert.Equal(t, "docker.io/library/nginx", pol.Document().Sources.Allowed[0])
	again, err := Compile(pol.Document())
	require.NoError(t, err)
	assert.Equal(t, digest, again.Digest(), "digest is stable")
	assert.True(t, strings.HasPrefix(digest, "sha256:") && len(digest) == 71, digest)
	changed, err := Compile(doc)
	require.NoError(t, err)
	assert.NotEqual(t, digest, changed.Digest())
}

func TestParseSizeLimitIsInclusive(t *testing.T) {
	prefix := "name: x\nsbom: {required: true}\ndescription: "
	doc := prefix + strings.Repeat("a", MaxDocumentSize-len(prefix))
	require.Len(t, doc, MaxDocumentSize)
	_, err := Parse([]byte(doc))
	require.NoError(t, err)
	_, err = Parse([]byte(doc + "a"))
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrInvalidPolicy))
}
