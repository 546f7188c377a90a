package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func fixedClock() time.Time { return testNow }

// goodEvidence passes every rule of completeDoc.
func goodEvidence() *Evidence {
	return &Evidence{
		Time:     testNow,
		Source:   Reference{Registry: "docker.io", Repository: "library/nginx", Tag: "1.27", Digest: "sha256:" + strings.Repeat("a", 64)},
		Platform: "linux/amd64",
		Signatures: []Signature{{
			Verifier: "notation", Format: "notation-jws", State: StateVerified, Level: LevelStrict,
			Identity: "C=US, ST=WA, O=Docker Inc, CN=Docker Official Images",
			Issuer:   "C=US, O=Docker Inc, CN=Docker Root",
		}},
		Vulnerabilities: VulnerabilityScan{Scanned: true, Scanner: "osv", DatabaseVersion: "2026-11-26", Findings: []Vulnerability{
			{ID: "CVE-2026-0001", Package: "zlib1g", Version: "1.2.13", FixedVersion: "1.2.14", Severity: SeverityLow, CVSS: 3.1},
			{ID: "CVE-2026-0002", Package: "libc6", Version: "2.36", Severity: SeverityMedium},
		}},
		Packages: []Package{
			{Name: "nginx", Version: "1.27.0", Licenses: []string{"BSD-2-Clause"}},
			{Name: "bash", Version: "5.2", Licenses: []string{"GPL-3.0-or-later"}},
			{Name: "zlib1g", Version: "1.2.13", Licenses: []string{"Zlib"}},
		},
		SBOM:       Attestation{Present: true, Source: SourcePublisher, Digest: "sha256:" + strings.Repeat("b", 64)},
		Provenance: Attestation{Present: true, Source: SourceGenerated},
		Malware:    MalwareScan{Scanned: true, Complete: true, Scanner: "clamav"},
		EndOfLife:  testNow.AddDate(1, 0, 0),
	}
}

// completeEvidence is goodEvidence with the secrets report that
// testdata/complete.yaml requires.
func completeEvidence() *Evidence {
	ev := goodEvidence()
	ev.Reports = []Report{{Kind: "secrets", Scanner: "keyfinder", Platform: "linux/amd64"}}
	return ev
}

func loadDoc(t testing.TB, path string) *Document {
	t.Helper()
	data, err := testdataFS.ReadFile(path)
	require.NoError(t, err)
	doc, err := Parse(data)
	require.NoError(t, err, "parse %s", path)
	return doc
}

func TestCompleteDocumentPassesGoodEvidence(t *testing.T) {
	pol, err := Compile(loadDoc(t, "testdata/complete.yaml"), WithClock(fixedClock))
	require.NoError(t, err)
	d := pol.Evaluate(context.Background(), completeEvidence())
	for _, r := range d.Rules {
		assert.Equal(t, Pass, r.Verdict, "rule %s: %s %v", r.Rule, r.Reason, r.Details)
	}
	assert.True(t, d.Allowed)
	assert.False(t, d.WouldDeny)
	assert.NoError(t, d.Err())
	assert.Equal(t, "docker.io/library/nginx@sha256:"+strings.Repeat("a", 64), d.Subject)
	assert.Equal(t, pol.Digest(), d.PolicyDigest)
	assert.Len(t, d.Rules, len(builtinRules))
}

type ruleCase struct {
	name    string
	rule    string
	doc     Document // only the section under test (name is filled in)
	ev      func(ev *Evidence)
	verdict Verdict
	reason  string   // substring of Reason
	detail  string   // substring of some Detail
	used    []string // IDs in ExceptionsUsed
	warning string   // substring of some decision warning
}

func sources(allowed, denied []string) Document {
	return Document{Sources: &Sources{Allowed: allowed, Denied: denied}}
}

func setSource(reg, repo string) func(*Evidence) {
	return func(ev *Evidence) { ev.Source = Reference{Registry: reg, Repository: repo} }
}

func sigDoc(require string, signers ...Signer) Document {
	return Document{Signatures: &Signatures{Require: require, Signers: signers}}
}

var notationSigner = Signer{Name: "docker", Verifier: "notation", Identities: []string{"C=US, ST=WA, O=Docker Inc, CN=Docker Official Images"}}

func setSigs(sigs ...Signature) func(*Evidence) {
	return func(ev *Evidence) { ev.Signatures = sigs }
}

var (
	verifiedNotation = Signature{Verifier: "notation", Format: "notation-jws", State: StateVerified, Level: LevelStrict, Identity: "C=US, ST=WA, O=Docker Inc, CN=Docker Official Images"}
	verifiedCosign   = Signature{Verifier: "cosign", Format: "sigstore-bundle", State: StateVerified, Identity: "https://github.com/cssc-go/cssc/.github/workflows/release.yml@refs/heads/main", Issuer: "https://token.actions.githubusercontent.com"}
)

func with(s Signature, f func(*Signature)) Signature { f(&s); return s }

func vulnDoc(v Vulnerabilities) Document { return Document{Vulnerabilities: &v} }

func setFindings(fs ...Vulnerability) func(*Evidence) {
	return func(ev *Evidence) { ev.Vulnerabilities.Findings = fs }
}

var (
	highFixed    = Vulnerability{ID: "CVE-2024-45491", Aliases: []string{"DSA-5770-1"}, Package: "libexpat1", Version: "2.5.0", FixedVersion: "2.5.1", Severity: SeverityHigh, CVSS: 7.5}
	highUnfixed  = Vulnerability{ID: "CVE-2024-9999", Package: "libexpat1", Version: "2.5.0", Severity: SeverityHigh}
	critUnfixed  = Vulnerability{ID: "CVE-2024-8888", Package: "openssl", Version: "3.0.1", Severity: SeverityCritical}
	mediumFixed  = Vulnerability{ID: "CVE-2024-1111", Package: "curl", Version: "8.0", FixedVersion: "8.1", Severity: SeverityMedium}
	unknownFixed = Vulnerability{ID: "CVE-2024-2222", Package: "curl", Version: "8.0", FixedVersion: "8.1", Severity: SeverityUnknown}
)

func exc(id, expires string, packages, images []string) Exception {
	return Exception{ID: id, Reason: "reviewed", Expires: expires, Packages: packages, Images: images}
}

func licDoc(denied, allowed []string, unknown string) Document {
	return Document{Licenses: &Licenses{Denied: denied, Allowed: allowed, Unknown: unknown}}
}

func setLicenses(lics ...string) func(*Evidence) {
	return func(ev *Evidence) {
		ev.Packages = []Package{{Name: "pkg", Version: "1", Licenses: lics}}
	}
}

var gpl3 = []string{"GPL-3.0-only"}

func reportsDoc(kinds ...ReportKind) Document { return Document{Reports: kinds} }

func setReports(reps ...Report) func(*Evidence) {
	return func(ev *Evidence) { ev.Reports = reps }
}

func ruleCases() []ruleCase {
	return []ruleCase{
		// --- sources ---
		{name: "sources/exact", rule: RuleSources, doc: sources([]string{"docker.io/library/nginx"}, nil), verdict: Pass, reason: "allowed by pattern docker.io/library/nginx"},
		{name: "sources/short docker hub name", rule: RuleSources, doc: sources([]string{"docker.io/library/nginx"}, nil), ev: setSource("index.docker.io", "NGINX"), verdict: Pass},
		{name: "sources/typosquat", rule: RuleSources, doc: sources([]string{"docker.io/library/nginx", "mcr.microsoft.com/**"}, nil), ev: setSource("docker.io", "library/ngnix"), verdict: Fail, reason: "possible typosquatting", detail: "resembles allowed docker.io/library/nginx"},
		{name: "sources/typosquat namespace", rule: RuleSources, doc: sources([]string{"docker.io/library/*"}, nil), ev: setSource("docker.io", "libary/nginx"), verdict: Fail, detail: "resembles allowed docker.io/library/*"},
		{name: "sources/unrelated", rule: RuleSources, doc: sources([]string{"docker.io/library/nginx"}, nil), ev: setSource("quay.io", "evil/thing"), verdict: Fail, reason: "matches no allowed pattern"},
		{name: "sources/star is one segment", rule: RuleSources, doc: sources([]string{"docker.io/library/*"}, nil), ev: setSource("docker.io", "library/a/b"), verdict: Fail},
		{name: "sources/double star", rule: RuleSources, doc: sources([]string{"mcr.microsoft.com/**"}, nil), ev: setSource("mcr.microsoft.com", "dotnet/runtime"), verdict: Pass},
		{name: "sources/denied wins", rule: RuleSources, doc: sources([]string{"docker.io/**"}, []string{"docker.io/corp/**"}), ev: setSource("docker.io", "corp/payments"), verdict: Fail, reason: "denied by pattern docker.io/corp/**"},
		{name: "sources/denied only passes others", rule: RuleSources, doc: sources(nil, []string{"docker.io/corp/**"}), verdict: Pass, reason: "no denied pattern"},
		{name: "sources/missing", rule: RuleSources, doc: sources([]string{"docker.io/library/nginx"}, nil), ev: setSource("", ""), verdict: Fail, reason: "no source"},
		{name: "sources/relative path", rule: RuleSources, doc: sources([]string{"docker.io/**"}, nil), ev: setSource("docker.io", "library/../corp/x"), verdict: Fail, reason: "malformed"},
		{name: "sources/registry with a path", rule: RuleSources, doc: sources([]string{"docker.io/library/nginx"}, nil), ev: setSource("docker.io/library", "nginx"), verdict: Fail, reason: "contains a /"},
		{name: "sources/unicode look-alike", rule: RuleSources, doc: sources([]string{"docker.io/library/*"}, nil), ev: setSource("doc\u212Aer.io", "library/nginx"), verdict: Fail, reason: "malformed"},
		{name: "sources/odd character", rule: RuleSources, doc: sources([]string{"docker.io/**"}, nil), ev: setSource("docker.io", "library/nginx@sha256"), verdict: Fail, reason: "malformed"},

		// --- signatures ---
		{name: "signatures/verified", rule: RuleSignatures, doc: sigDoc("", notationSigner), verdict: Pass, reason: "signed by docker"},
		{name: "signatures/identity mismatch", rule: RuleSignatures, doc: sigDoc("", notationSigner),
			ev: setSigs(with(verifiedNotation, func(s *Signature) { s.Identity = "CN=Docker Official Images Evil" })), verdict: Fail, reason: "no acceptable signature from docker", detail: "matches no allowed identity"},
		{name: "signatures/identity pattern", rule: RuleSignatures, doc: sigDoc("", Signer{Verifier: "notation", Identities: []string{"C=US, ST=WA, O=Docker Inc, CN=*"}}), verdict: Pass},
		// Issue 10 item 1: identities are names, not strings. sign/notation
		// used to report Go's spelling; policies use the trust policy's.
		{name: "signatures/identity in go spelling matches cli spelling", rule: RuleSignatures, doc: sigDoc("", notationSigner),
			ev: setSigs(with(verifiedNotation, func(s *Signature) { s.Identity = "CN=Docker Official Images,O=Docker Inc,ST=WA,C=US" })), verdict: Pass, detail: `satisfied by notation-jws signature by "C=US, ST=WA, O=Docker Inc, CN=Docker Official Images"`},
		{name: "signatures/identity in cli spelling matches go spelling pattern", rule: RuleSignatures,
			doc: sigDoc("", Signer{Verifier: "notation", Identities: []string{"CN=Docker Official Images,O=Docker Inc,ST=WA,C=US"}}), verdict: Pass},
		{name: "signatures/identity spacing and case of types", rule: RuleSignatures,
			doc: sigDoc("", Signer{Verifier: "notation", Identities: []string{"c=US,st=WA , o = Docker Inc,cn=Docker Official Images"}}), ev: setSigs(with(verifiedNotation, func(s *Signature) { s.Identity = "CN=Docker Official Images,O=Docker Inc,ST=WA,C=US" })), verdict: Pass},
		{name: "signatures/identity subset as notation trust policies match", rule: RuleSignatures,
			doc: sigDoc("", Signer{Verifier: "notation", Identities: []string{"C=US, ST=WA, O=Docker Inc"}}), ev: setSigs(with(verifiedNotation, func(s *Signature) { s.Identity = "CN=Docker Official Images,O=Docker Inc,ST=WA,C=US" })), verdict: Pass},
		{name: "signatures/identity wildcard value in go spelling", rule: RuleSignatures,
			doc: sigDoc("", Signer{Verifier: "notation", Identities: []string{"C=US, ST=WA, O=Docker Inc, CN=Docker Official*"}}), ev: setSigs(with(verifiedNotation, func(s *Signature) { s.Identity = "CN=Docker Official Images,O=Docker Inc,ST=WA,C=US" })), verdict: Pass},
		{name: "signatures/identity other organisation", rule: RuleSignatures, doc: sigDoc("", notationSigner),
			ev: setSigs(with(verifiedNotation, func(s *Signature) { s.Identity = "CN=Docker Official Images,O=Docker Inc Evil,ST=WA,C=US" })), verdict: Fail,
			detail: `identity "C=US, ST=WA, O=Docker Inc Evil, CN=Docker Official Images" matches no allowed identity`},
		{name: "signatures/identity with an extra attribute pattern", rule: RuleSignatures,
			doc: sigDoc("", Signer{Verifier: "notation", Identities: []string{"C=US, ST=WA, L=Seattle, O=Docker Inc, CN=Docker Official Images"}}), ev: setSigs(with(verifiedNotation, func(s *Signature) { s.Identity = "CN=Docker Official Images,O=Docker Inc,ST=WA,C=US" })), verdict: Fail},
		{name: "signatures/identity escaped comma", rule: RuleSignatures,
			doc: sigDoc("", Signer{Verifier: "notation", Identities: []string{`C=US, O=Acme\, Inc., CN=Release`}}),
			ev:  setSigs(with(verifiedNotation, func(s *Signature) { s.Identity = `CN=Release,O=Acme\2C Inc.,C=US` })), verdict: Pass},
		{name: "signatures/identity comma is not a wildcard for a value", rule: RuleSignatures,
			doc: sigDoc("", Signer{Verifier: "notation", Identities: []string{`C=US, O=Acme\, Inc., CN=Release`}}),
			ev:  setSigs(with(verifiedNotation, func(s *Signature) { s.Identity = `CN=Release,O=Acme,O=Inc.,C=US` })), verdict: Fail},
		{name: "signatures/dn pattern does not match a uri identity", rule: RuleSignatures,
			doc: sigDoc("", Signer{Identities: []string{"C=US, O=GitHub"}}), ev: setSigs(verifiedCosign), verdict: Fail},
		{name: "signatures/issuer in go spelling", rule: RuleSignatures,
			doc: sigDoc("", with2(notationSigner, func(s *Signer) { s.Issuers = []string{"C=US, O=Docker Inc, CN=Docker Root"} })),
			ev:  setSigs(with(verifiedNotation, func(s *Signature) { s.Issuer = "CN=Docker Root,O=Docker Inc,C=US" })), verdict: Pass},
		{name: "signatures/inconclusive", rule: RuleSignatures, doc: sigDoc("", notationSigner),
			ev: setSigs(with(verifiedNotation, func(s *Signature) { s.State = StateInconclusive; s.Cause = "no trust store" })), verdict: Fail, detail: "no trust store"},
		{name: "signatures/failed", rule: RuleSignatures, doc: sigDoc("", notationSigner),
			ev: setSigs(with(verifiedNotation, func(s *Signature) { s.State = StateFailed; s.Cause = "digest mismatch" })), verdict: Fail, detail: "invalid signature present"},
		{name: "signatures/empty state", rule: RuleSignatures, doc: sigDoc("", notationSigner),
			ev: setSigs(with(verifiedNotation, func(s *Signature) { s.State = "" })), verdict: Fail, detail: "no verification state"},
		{name: "signatures/audit level rejected by default", rule: RuleSignatures, doc: sigDoc("", notationSigner),
			ev: setSigs(with(verifiedNotation, func(s *Signature) { s.Level = LevelAudit })), verdict: Fail, detail: `verified at level "audit", the policy requires strict`},
		{name: "signatures/audit level accepted when allowed", rule: RuleSignatures,
			doc: sigDoc("", with2(notationSigner, func(s *Signer) { s.MinLevel = LevelAudit })),
			ev:  setSigs(with(verifiedNotation, func(s *Signature) { s.Level = LevelAudit })), verdict: Pass},
		{name: "signatures/permissive with permissive minimum", rule: RuleSignatures,
			doc: sigDoc("", with2(notationSigner, func(s *Signer) { s.MinLevel = LevelPermissive })),
			ev:  setSigs(with(verifiedNotation, func(s *Signature) { s.Level = "Permissive" })), verdict: Pass},
		{name: "signatures/skip level never accepted", rule: RuleSignatures,
			doc: sigDoc("", with2(notationSigner, func(s *Signer) { s.MinLevel = LevelAudit })),
			ev:  setSigs(with(verifiedNotation, func(s *Signature) { s.Level = LevelSkip })), verdict: Fail},
		{name: "signatures/unknown level rejected", rule: RuleSignatures, doc: sigDoc("", notationSigner),
			ev: setSigs(with(verifiedNotation, func(s *Signature) { s.Level = "bespoke" })), verdict: Fail},
		{name: "signatures/none", rule: RuleSignatures, doc: sigDoc("", notationSigner), ev: setSigs(), verdict: Fail, reason: "no signatures"},
		{name: "signatures/verifier mismatch", rule: RuleSignatures, doc: sigDoc("", notationSigner), ev: setSigs(verifiedCosign), verdict: Fail},
		{name: "signatures/format mismatch", rule: RuleSignatures, doc: sigDoc("", with2(notationSigner, func(s *Signer) { s.Format = "notation-cose" })), verdict: Fail},
		{name: "signatures/cosign no level", rule: RuleSignatures,
			doc: sigDoc("", Signer{Verifier: "cosign", Identities: []string{"https://github.com/cssc-go/**"}, Issuers: []string{"https://token.actions.githubusercontent.com"}}),
			ev:  setSigs(verifiedCosign), verdict: Pass},
		{name: "signatures/issuer mismatch", rule: RuleSignatures,
			doc: sigDoc("", Signer{Verifier: "cosign", Identities: []string{"https://github.com/cssc-go/**"}, Issuers: []string{"https://accounts.google.com"}}),
			ev:  setSigs(verifiedCosign), verdict: Fail, detail: "matches no allowed issuer"},
		{name: "signatures/any of two", rule: RuleSignatures,
			doc: sigDoc(RequireAny, notationSigner, Signer{Name: "gh", Verifier: "cosign", Identities: []string{"**"}}), verdict: Pass},
		{name: "signatures/all of two missing one", rule: RuleSignatures,
			doc: sigDoc(RequireAll, notationSigner, Signer{Name: "gh", Verifier: "cosign", Identities: []string{"**"}}), verdict: Fail, reason: "no acceptable signature from gh"},
		{name: "signatures/all of two", rule: RuleSignatures,
			doc: sigDoc(RequireAll, notationSigner, Signer{Name: "gh", Verifier: "cosign", Identities: []string{"**"}}),
			ev:  setSigs(verifiedCosign, verifiedNotation), verdict: Pass},
		{name: "signatures/pass with a failed one warns", rule: RuleSignatures, doc: sigDoc("", notationSigner),
			ev: setSigs(verifiedNotation, with(verifiedCosign, func(s *Signature) { s.State = StateFailed })), verdict: Warn, reason: "1 other signature failed"},

		// --- vulnerabilities ---
		{name: "vulns/not scanned", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityCritical}),
			ev: func(ev *Evidence) { ev.Vulnerabilities = VulnerabilityScan{} }, verdict: Fail, reason: "no vulnerability scan"},
		{name: "vulns/no findings", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityNone}), ev: setFindings(), verdict: Pass, reason: "0 findings"},
		{name: "vulns/high above medium", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium}), ev: setFindings(highFixed, mediumFixed),
			verdict: Fail, reason: "1 finding above the allowed severity medium: CVE-2024-45491", detail: "CVE-2024-45491 in libexpat1 2.5.0: high, fixed in 2.5.1"},
		{name: "vulns/medium at medium", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium}), ev: setFindings(mediumFixed), verdict: Pass},
		{name: "vulns/none allows nothing", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityNone}),
			ev: setFindings(Vulnerability{ID: "CVE-1", Package: "p", FixedVersion: "2", Severity: SeverityLow}), verdict: Fail},
		{name: "vulns/uppercase severity", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium}),
			ev: setFindings(with3(mediumFixed, func(v *Vulnerability) { v.Severity = "HIGH" })), verdict: Fail},
		{name: "vulns/unknown rated by cvss critical", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityHigh}),
			ev: setFindings(with3(unknownFixed, func(v *Vulnerability) { v.CVSS = 9.8 })), verdict: Fail, detail: ": critical"},
		{name: "vulns/unknown rated by cvss medium", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium}),
			ev: setFindings(with3(unknownFixed, func(v *Vulnerability) { v.CVSS = 5 })), verdict: Pass},
		{name: "vulns/unknown defaults to critical", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityHigh}),
			ev: setFindings(unknownFixed), verdict: Fail, detail: "severity unknown, rated critical by policy"},
		{name: "vulns/unknown rated low by policy", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium, UnknownSeverity: SeverityLow}),
			ev: setFindings(unknownFixed), verdict: Pass},
		{name: "vulns/unrecognised severity", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityHigh}),
			ev: setFindings(with3(unknownFixed, func(v *Vulnerability) { v.Severity = "important" })), verdict: Fail, warning: `unrecognised severity "important"`},
		{name: "vulns/exception applies", rule: RuleVulnerabilities,
			doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium, Exceptions: []Exception{exc("CVE-2024-45491", "2027-01-01", nil, nil)}}),
			ev:  setFindings(highFixed), verdict: Pass, reason: "1 finding accepted by exceptions", used: []string{"CVE-2024-45491"}},
		{name: "vulns/exception by alias", rule: RuleVulnerabilities,
			doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium, Exceptions: []Exception{exc("dsa-5770-1", "2027-01-01", nil, nil)}}),
			ev:  setFindings(highFixed), verdict: Pass, used: []string{"dsa-5770-1"}},
		{name: "vulns/exception expired", rule: RuleVulnerabilities,
			doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium, Exceptions: []Exception{exc("CVE-2024-45491", "2026-11-26T11:59:59Z", nil, nil)}}),
			ev:  setFindings(highFixed), verdict: Fail, detail: "exception CVE-2024-45491 expired on 2026-11-26T11:59:59Z", warning: "expired"},
		{name: "vulns/exception expires at decision time", rule: RuleVulnerabilities,
			doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium, Exceptions: []Exception{exc("CVE-2024-45491", "2026-11-26T12:00:00Z", nil, nil)}}),
			ev:  setFindings(highFixed), verdict: Fail},
		{name: "vulns/exception expires later than the evidence time", rule: RuleVulnerabilities,
			doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium, Exceptions: []Exception{exc("CVE-2024-45491", "2026-11-27", nil, nil)}}),
			ev:  setFindings(highFixed), verdict: Pass, used: []string{"CVE-2024-45491"}},
		{name: "vulns/exception wrong package", rule: RuleVulnerabilities,
			doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium, Exceptions: []Exception{exc("CVE-2024-45491", "2027-01-01", []string{"expat*"}, nil)}}),
			ev:  setFindings(highFixed), verdict: Fail, detail: "does not cover package libexpat1"},
		{name: "vulns/exception package pattern", rule: RuleVulnerabilities,
			doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium, Exceptions: []Exception{exc("CVE-2024-45491", "2027-01-01", []string{"libexpat*"}, nil)}}),
			ev:  setFindings(highFixed), verdict: Pass, used: []string{"CVE-2024-45491"}},
		{name: "vulns/exception wrong image", rule: RuleVulnerabilities,
			doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium, Exceptions: []Exception{exc("CVE-2024-45491", "2027-01-01", nil, []string{"docker.io/library/httpd"})}}),
			ev:  setFindings(highFixed), verdict: Fail, detail: "does not cover image docker.io/library/nginx"},
		{name: "vulns/exception right image", rule: RuleVulnerabilities,
			doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium, Exceptions: []Exception{exc("CVE-2024-45491", "2027-01-01", nil, []string{"docker.io/library/*"})}}),
			ev:  setFindings(highFixed), verdict: Pass, used: []string{"CVE-2024-45491"}},
		{name: "vulns/unfixed deny by default", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium}),
			ev: setFindings(highUnfixed), verdict: Fail, detail: "high, no fix"},
		{name: "vulns/unfixed report", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium, Unfixed: UnfixedReport}),
			ev: setFindings(highUnfixed, mediumFixed), verdict: Warn, reason: "without a fix"},
		{name: "vulns/unfixed report still fails fixed", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium, Unfixed: UnfixedReport}),
			ev: setFindings(highUnfixed, highFixed), verdict: Fail},
		{name: "vulns/unfixed ignore", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium, Unfixed: UnfixedIgnore}),
			ev: setFindings(highUnfixed, critUnfixed), verdict: Pass, reason: "2 unfixed findings ignored"},
		{name: "vulns/unfixed ceiling", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium, MaxUnfixedSeverity: SeverityHigh}),
			ev: setFindings(highUnfixed), verdict: Pass},
		{name: "vulns/unfixed ceiling exceeded", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium, MaxUnfixedSeverity: SeverityHigh}),
			ev: setFindings(highUnfixed, critUnfixed), verdict: Fail, reason: "CVE-2024-8888"},
		{name: "vulns/unfixed ceiling does not lift fixed", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium, MaxUnfixedSeverity: SeverityHigh}),
			ev: setFindings(highFixed), verdict: Fail},
		{name: "vulns/exception on unfixed", rule: RuleVulnerabilities,
			doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium, Exceptions: []Exception{exc("CVE-2024-8888", "2027-01-01", []string{"openssl"}, nil)}}),
			ev:  setFindings(critUnfixed), verdict: Pass, used: []string{"CVE-2024-8888"}},
		{name: "vulns/finding without id", rule: RuleVulnerabilities, doc: vulnDoc(Vulnerabilities{MaxSeverity: SeverityMedium}),
			ev: setFindings(Vulnerability{Package: "x", Severity: SeverityCritical}), verdict: Fail, warning: "has no ID"},

		// --- licences ---
		{name: "licenses/no sbom", rule: RuleLicenses, doc: licDoc(gpl3, nil, ""),
			ev: func(ev *Evidence) { ev.Packages = nil; ev.SBOM = Attestation{} }, verdict: Fail, reason: "no SBOM"},
		{name: "licenses/empty sbom", rule: RuleLicenses, doc: licDoc(gpl3, nil, ""),
			ev: func(ev *Evidence) { ev.Packages = nil }, verdict: Pass, reason: "no packages"},
		{name: "licenses/denied", rule: RuleLicenses, doc: licDoc(gpl3, nil, ""), ev: setLicenses("GPL-3.0-only"), verdict: Fail, reason: "pkg@1", detail: "GPL-3.0-only denied"},
		{name: "licenses/denied OR alternative", rule: RuleLicenses, doc: licDoc(gpl3, nil, ""), ev: setLicenses("GPL-3.0-only OR MIT"), verdict: Pass},
		{name: "licenses/denied AND", rule: RuleLicenses, doc: licDoc(gpl3, nil, ""), ev: setLicenses("GPL-3.0-only AND MIT"), verdict: Fail},
		{name: "licenses/denied or-later", rule: RuleLicenses, doc: licDoc(gpl3, nil, ""), ev: setLicenses("GPL-3.0-or-later"), verdict: Fail},
		{name: "licenses/denied plus", rule: RuleLicenses, doc: licDoc(gpl3, nil, ""), ev: setLicenses("GPL-3.0+"), verdict: Fail},
		{name: "licenses/older or-later usable", rule: RuleLicenses, doc: licDoc(gpl3, nil, ""), ev: setLicenses("GPL-2.0-or-later"), verdict: Pass},
		{name: "licenses/deprecated id", rule: RuleLicenses, doc: licDoc(gpl3, nil, ""), ev: setLicenses("GPL-3.0"), verdict: Fail},
		{name: "licenses/denied range", rule: RuleLicenses, doc: licDoc([]string{"GPL-2.0-or-later"}, nil, ""), ev: setLicenses("GPL-3.0-only"), verdict: Fail},
		{name: "licenses/denied range spares older", rule: RuleLicenses, doc: licDoc([]string{"GPL-3.0-or-later"}, nil, ""), ev: setLicenses("GPL-2.0-only"), verdict: Pass},
		{name: "licenses/nested", rule: RuleLicenses, doc: licDoc(gpl3, nil, ""), ev: setLicenses("(MIT OR GPL-3.0-only) AND Apache-2.0"), verdict: Pass},
		{name: "licenses/nested denied", rule: RuleLicenses, doc: licDoc([]string{"GPL-3.0-only", "AGPL-3.0-only"}, nil, ""), ev: setLicenses("(GPL-3.0-only OR AGPL-3.0-only) AND Apache-2.0"), verdict: Fail},
		{name: "licenses/precedence", rule: RuleLicenses, doc: licDoc(gpl3, nil, ""), ev: setLicenses("MIT OR GPL-3.0-only AND Apache-2.0"), verdict: Pass},
		{name: "licenses/several entries are AND", rule: RuleLicenses, doc: licDoc(gpl3, nil, ""), ev: setLicenses("MIT", "GPL-3.0-only"), verdict: Fail},
		{name: "licenses/allowed", rule: RuleLicenses, doc: licDoc(nil, []string{"MIT", "Apache-2.0"}, ""), ev: setLicenses("mit"), verdict: Pass},
		{name: "licenses/not allowed", rule: RuleLicenses, doc: licDoc(nil, []string{"MIT", "Apache-2.0"}, ""), ev: setLicenses("BSD-3-Clause"), verdict: Fail, detail: "BSD-3-Clause not allowed"},
		{name: "licenses/allowed range", rule: RuleLicenses, doc: licDoc(nil, []string{"GPL-2.0-or-later"}, ""), ev: setLicenses("GPL-3.0-or-later"), verdict: Pass},
		{name: "licenses/allowed and denied", rule: RuleLicenses, doc: licDoc(gpl3, []string{"GPL-2.0-or-later"}, ""), ev: setLicenses("GPL-3.0-or-later"), verdict: Fail},
		// Issue 10 item 6: an exception adds permissions to its licence, it
		// does not make it another licence (this case passed before).
		{name: "licenses/with exception judged by its licence", rule: RuleLicenses, doc: licDoc([]string{"GPL-2.0-only"}, nil, ""), ev: setLicenses("GPL-2.0-only WITH Classpath-exception-2.0"), verdict: Fail, detail: "GPL-2.0-only WITH Classpath-exception-2.0 denied"},
		{name: "licenses/with exception of a denied range", rule: RuleLicenses, doc: licDoc([]string{"GPL-2.0-or-later"}, nil, UnknownAllow), ev: setLicenses("GPL-2.0+ WITH GCC-exception-2.0"), verdict: Fail},
		{name: "licenses/with exception allowed by its exact form", rule: RuleLicenses, doc: licDoc([]string{"GPL-2.0-only"}, []string{"MIT", "GPL-2.0-only WITH Classpath-exception-2.0"}, ""), ev: setLicenses("GPL-2.0-only WITH Classpath-exception-2.0"), verdict: Pass},
		{name: "licenses/with exception of an allowed licence", rule: RuleLicenses, doc: licDoc(nil, []string{"GPL-2.0-only"}, ""), ev: setLicenses("GPL-2.0-only WITH Classpath-exception-2.0"), verdict: Pass},
		{name: "licenses/bare licence not allowed by a with form", rule: RuleLicenses, doc: licDoc(nil, []string{"GPL-2.0-only WITH Classpath-exception-2.0"}, UnknownAllow), ev: setLicenses("GPL-2.0-only"), verdict: Fail},
		{name: "licenses/licenseref is unknown (deny)", rule: RuleLicenses, doc: licDoc([]string{"AGPL-3.0-only"}, nil, ""), ev: setLicenses("LicenseRef-Whatever"), verdict: Fail, reason: "unknown licences (policy: deny)"},
		{name: "licenses/licenseref is unknown (warn)", rule: RuleLicenses, doc: licDoc([]string{"AGPL-3.0-only"}, nil, UnknownWarn), ev: setLicenses("LicenseRef-Whatever"), verdict: Warn},
		{name: "licenses/licenseref is unknown (allow)", rule: RuleLicenses, doc: licDoc([]string{"AGPL-3.0-only"}, nil, UnknownAllow), ev: setLicenses("LicenseRef-Whatever"), verdict: Pass},
		{name: "licenses/documentref is unknown", rule: RuleLicenses, doc: licDoc([]string{"AGPL-3.0-only"}, nil, UnknownWarn), ev: setLicenses("DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2"), verdict: Warn},
		{name: "licenses/denied or licenseref does not escape (deny)", rule: RuleLicenses, doc: licDoc([]string{"AGPL-3.0-only"}, nil, ""), ev: setLicenses("AGPL-3.0-only OR LicenseRef-y"), verdict: Fail, detail: "AGPL-3.0-only denied"},
		{name: "licenses/denied or licenseref does not escape (warn)", rule: RuleLicenses, doc: licDoc([]string{"AGPL-3.0-only"}, nil, UnknownWarn), ev: setLicenses("AGPL-3.0-only OR LicenseRef-y"), verdict: Warn, detail: "LicenseRef-y unknown"},
		{name: "licenses/denied or documentref does not escape", rule: RuleLicenses, doc: licDoc([]string{"AGPL-3.0-only"}, nil, ""), ev: setLicenses("AGPL-3.0-only OR DocumentRef-d:LicenseRef-y"), verdict: Fail},
		{name: "licenses/known or licenseref passes", rule: RuleLicenses, doc: licDoc([]string{"AGPL-3.0-only"}, nil, ""), ev: setLicenses("MIT OR LicenseRef-y"), verdict: Pass},
		{name: "licenses/licenseref and denied is denied", rule: RuleLicenses, doc: licDoc([]string{"AGPL-3.0-only"}, nil, UnknownAllow), ev: setLicenses("LicenseRef-y AND AGPL-3.0-only"), verdict: Fail},
		{name: "licenses/licenseref allowed by name", rule: RuleLicenses, doc: licDoc(nil, []string{"MIT", "LicenseRef-Corp"}, ""), ev: setLicenses("LicenseRef-Corp"), verdict: Pass},
		{name: "licenses/with exception denied", rule: RuleLicenses, doc: licDoc([]string{"GPL-2.0-only WITH Classpath-exception-2.0"}, nil, ""), ev: setLicenses("GPL-2.0-only WITH Classpath-exception-2.0"), verdict: Fail},
		{name: "licenses/licenseref denied", rule: RuleLicenses, doc: licDoc([]string{"LicenseRef-Proprietary"}, nil, ""), ev: setLicenses("LicenseRef-Proprietary OR LicenseRef-Proprietary"), verdict: Fail},
		{name: "licenses/licenseref not in allowed", rule: RuleLicenses, doc: licDoc(nil, []string{"MIT"}, ""), ev: setLicenses("LicenseRef-Mine"), verdict: Fail},
		{name: "licenses/noassertion denied by default", rule: RuleLicenses, doc: licDoc(gpl3, nil, ""), ev: setLicenses("NOASSERTION"), verdict: Fail, reason: "unknown licences (policy: deny)"},
		{name: "licenses/noassertion warn", rule: RuleLicenses, doc: licDoc(gpl3, nil, UnknownWarn), ev: setLicenses("NOASSERTION"), verdict: Warn},
		{name: "licenses/noassertion allow", rule: RuleLicenses, doc: licDoc(gpl3, nil, UnknownAllow), ev: setLicenses("NOASSERTION"), verdict: Pass, detail: "unknown licence"},
		{name: "licenses/none declared", rule: RuleLicenses, doc: licDoc(gpl3, nil, ""), ev: setLicenses(), verdict: Fail, detail: "no licence declared"},
		{name: "licenses/unparseable", rule: RuleLicenses, doc: licDoc(gpl3, nil, UnknownWarn), ev: setLicenses("GPLv2+"), verdict: Warn, detail: "not a valid SPDX expression"},
		{name: "licenses/lower-case operator", rule: RuleLicenses, doc: licDoc(gpl3, nil, UnknownWarn), ev: setLicenses("MIT or GPL-3.0-only"), verdict: Warn},
		{name: "licenses/violation beats unknown", rule: RuleLicenses, doc: licDoc(gpl3, nil, UnknownAllow),
			ev: func(ev *Evidence) {
				ev.Packages = []Package{{Name: "a", Licenses: []string{"NONE"}}, {Name: "b", Licenses: []string{"GPL-3.0-only"}}}
			}, verdict: Fail, reason: "1 package with unknown licences"},
		{name: "licenses/unknown only", rule: RuleLicenses, doc: licDoc(nil, nil, UnknownDeny), ev: setLicenses(""), verdict: Fail},
		{name: "licenses/good evidence", rule: RuleLicenses, doc: licDoc(gpl3, nil, ""), verdict: Fail, detail: "bash@5.2: GPL-3.0-or-later"},

		// --- sbom and provenance ---
		{name: "sbom/present", rule: RuleSBOM, doc: Document{SBOM: &Requirement{Required: true}}, verdict: Pass, reason: "SBOM present (publisher)"},
		{name: "sbom/missing", rule: RuleSBOM, doc: Document{SBOM: &Requirement{Required: true}}, ev: func(ev *Evidence) { ev.SBOM = Attestation{} }, verdict: Fail, reason: "no SBOM"},
		{name: "sbom/generated accepted", rule: RuleSBOM, doc: Document{SBOM: &Requirement{Required: true}}, ev: func(ev *Evidence) { ev.SBOM.Source = SourceGenerated }, verdict: Pass},
		{name: "sbom/publisher only", rule: RuleSBOM, doc: Document{SBOM: &Requirement{Required: true, Source: SourcePublisher}}, ev: func(ev *Evidence) { ev.SBOM.Source = SourceGenerated }, verdict: Fail, reason: "only the publisher's"},
		{name: "sbom/publisher only ok", rule: RuleSBOM, doc: Document{SBOM: &Requirement{Required: true, Source: SourcePublisher}}, verdict: Pass},
		{name: "sbom/incomplete", rule: RuleSBOM, doc: Document{SBOM: &Requirement{Required: true}}, ev: func(ev *Evidence) {
			ev.SBOM.Source, ev.SBOM.Skipped = SourceGenerated, []string{"usr/bin/big (layer sha256:aa): file of 600 bytes exceeds the 500-byte limit"}
		}, verdict: Fail, reason: "incomplete: 1 file was not examined: usr/bin/big"},
		{name: "provenance/present", rule: RuleProvenance, doc: Document{Provenance: &Requirement{Required: true}}, verdict: Pass},
		{name: "provenance/missing", rule: RuleProvenance, doc: Document{Provenance: &Requirement{Required: true}}, ev: func(ev *Evidence) { ev.Provenance = Attestation{} }, verdict: Fail, reason: "no provenance"},
		{name: "provenance/publisher only", rule: RuleProvenance, doc: Document{Provenance: &Requirement{Required: true, Source: SourcePublisher}}, verdict: Fail},

		// --- malware ---
		{name: "malware/clean", rule: RuleMalware, doc: Document{Malware: &Malware{Required: true}}, verdict: Pass, reason: "by clamav"},
		{name: "malware/not scanned", rule: RuleMalware, doc: Document{Malware: &Malware{Required: true}}, ev: func(ev *Evidence) { ev.Malware = MalwareScan{} }, verdict: Fail, reason: "no malware scan"},
		{name: "malware/incomplete", rule: RuleMalware, doc: Document{Malware: &Malware{Required: true}}, ev: func(ev *Evidence) { ev.Malware.Complete = false }, verdict: Fail, reason: "did not complete"},
		{name: "malware/detection", rule: RuleMalware, doc: Document{Malware: &Malware{Required: true}},
			ev: func(ev *Evidence) {
				ev.Malware.Detections = []Detection{{Name: "Eicar-Test-Signature", Path: "tmp/eicar.com", Layer: "sha256:cc"}}
			},
			verdict: Fail, reason: "1 malware detection: Eicar-Test-Signature", detail: "tmp/eicar.com"},

		// --- lifecycle ---
		// Issue 10 item 5: a custom scanner's report is never ignored.
		{name: "reports/kind not named fails", rule: RuleReports, doc: reportsDoc(ReportKind{Kind: "config", MaxSeverity: SeverityCritical}),
			ev:      setReports(Report{Kind: "secrets", Scanner: "keyfinder", Findings: []Finding{{ID: "private-key", Severity: "high", Path: "etc/ssl/private/server.key"}}}),
			verdict: Fail, reason: "secrets (not named by the policy)", detail: `report of kind "secrets" by keyfinder with 1 finding`},
		{name: "reports/clean report of unnamed kind fails", rule: RuleReports, doc: reportsDoc(ReportKind{Kind: "config"}),
			ev: setReports(Report{Kind: "secrets", Scanner: "keyfinder"}), verdict: Fail},
		{name: "reports/report without kind fails", rule: RuleReports, doc: reportsDoc(ReportKind{Kind: "config"}),
			ev: setReports(Report{Scanner: "mystery", Findings: []Finding{{ID: "x"}}}), verdict: Fail, detail: "has no kind"},
		{name: "reports/named kind within ceiling", rule: RuleReports, doc: reportsDoc(ReportKind{Kind: "secrets", MaxSeverity: SeverityMedium}),
			ev: setReports(Report{Kind: "secrets", Scanner: "keyfinder", Findings: []Finding{{ID: "test-key", Severity: "low"}}}), verdict: Pass},
		{name: "reports/named kind above ceiling", rule: RuleReports, doc: reportsDoc(ReportKind{Kind: "secrets", MaxSeverity: SeverityMedium}),
			ev:      setReports(Report{Kind: "secrets", Scanner: "keyfinder", Platform: "linux/arm64", Findings: []Finding{{ID: "private-key", Severity: "HIGH", Path: "root/.ssh/id_ed25519"}}}),
			verdict: Fail, detail: "secrets finding private-key in root/.ssh/id_ed25519 (by keyfinder on linux/arm64): high, above the allowed medium"},
		{name: "reports/default ceiling is none", rule: RuleReports, doc: reportsDoc(ReportKind{Kind: "secrets"}),
			ev: setReports(Report{Kind: "secrets", Scanner: "keyfinder", Findings: []Finding{{ID: "test-key", Severity: "low"}}}), verdict: Fail},
		{name: "reports/unknown severity counts as critical", rule: RuleReports, doc: reportsDoc(ReportKind{Kind: "secrets", MaxSeverity: SeverityHigh}),
			ev: setReports(Report{Kind: "secrets", Scanner: "keyfinder", Findings: []Finding{{ID: "k", Severity: "bogus"}}}), verdict: Fail, detail: "critical"},
		{name: "reports/cvss rates a finding", rule: RuleReports, doc: reportsDoc(ReportKind{Kind: "secrets", MaxSeverity: SeverityHigh}),
			ev: setReports(Report{Kind: "secrets", Scanner: "keyfinder", Findings: []Finding{{ID: "k", CVSS: 7.5}}}), verdict: Pass},
		{name: "reports/required kind missing", rule: RuleReports, doc: reportsDoc(ReportKind{Kind: "secrets", Required: true}),
			verdict: Fail, reason: "no secrets report"},
		{name: "reports/named kind absent, not required", rule: RuleReports, doc: reportsDoc(ReportKind{Kind: "secrets"}), verdict: Pass},
		{name: "reports/vulnerability and malware kinds are left to their rules", rule: RuleReports, doc: reportsDoc(ReportKind{Kind: "secrets"}),
			ev: setReports(Report{Kind: "vulnerability", Scanner: "osv", Findings: []Finding{{ID: "CVE-1"}}}, Report{Kind: "malware", Scanner: "clamav"}), verdict: Pass},
		{name: "lifecycle/far", rule: RuleLifecycle, doc: Document{Lifecycle: &Lifecycle{MinDaysBeforeEndOfLife: 30}}, verdict: Pass, reason: "365 days away"},
		{name: "lifecycle/too close", rule: RuleLifecycle, doc: Document{Lifecycle: &Lifecycle{MinDaysBeforeEndOfLife: 30}},
			ev: func(ev *Evidence) { ev.EndOfLife = testNow.AddDate(0, 0, 10) }, verdict: Fail, reason: "is 10 days away; the policy requires at least 30"},
		{name: "lifecycle/just enough", rule: RuleLifecycle, doc: Document{Lifecycle: &Lifecycle{MinDaysBeforeEndOfLife: 30}},
			ev: func(ev *Evidence) { ev.EndOfLife = testNow.AddDate(0, 0, 30) }, verdict: Pass},
		{name: "lifecycle/past", rule: RuleLifecycle, doc: Document{Lifecycle: &Lifecycle{}},
			ev: func(ev *Evidence) { ev.EndOfLife = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }, verdict: Fail, reason: "reached end of life on 2026-01-01"},
		{name: "lifecycle/now", rule: RuleLifecycle, doc: Document{Lifecycle: &Lifecycle{}},
			ev: func(ev *Evidence) { ev.EndOfLife = testNow }, verdict: Fail},
		{name: "lifecycle/tomorrow with zero minimum", rule: RuleLifecycle, doc: Document{Lifecycle: &Lifecycle{}},
			ev: func(ev *Evidence) { ev.EndOfLife = testNow.Add(time.Hour) }, verdict: Pass},
		{name: "lifecycle/missing", rule: RuleLifecycle, doc: Document{Lifecycle: &Lifecycle{MinDaysBeforeEndOfLife: 30}},
			ev: func(ev *Evidence) { ev.EndOfLife = time.Time{} }, verdict: Fail, reason: "no end-of-life date"},
		{name: "lifecycle/missing allowed", rule: RuleLifecycle, doc: Document{Lifecycle: &Lifecycle{MinDaysBeforeEndOfLife: 30, AllowMissing: true}},
			ev: func(ev *Evidence) { ev.EndOfLife = time.Time{} }, verdict: Pass},
	}
}

func with2(s Signer, f func(*Signer)) Signer                      { f(&s); return s }
func with3(v Vulnerability, f func(*Vulnerability)) Vulnerability { f(&v); return v }

func TestRules(t *testing.T) {
	for _, tc := range ruleCases() {
		for _, mode := range []Mode{ModeEnforce, ModeAudit} {
			t.Run(string(mode)+"/"+tc.name, func(t *testing.T) {
				doc := tc.doc
				doc.Name = "test"
				doc.Mode = mode
				pol, err := Compile(&doc, WithClock(fixedClock))
				require.NoError(t, err)
				ev := goodEvidence()
				if tc.ev != nil {
					tc.ev(ev)
				}
				d := pol.Evaluate(context.Background(), ev)
				res, ok := d.Result(tc.rule)
				require.True(t, ok, "no result for %s", tc.rule)
				assert.Equal(t, tc.verdict, res.Verdict, "verdict: got %s (%s, %v)", res.Verdict, res.Reason, res.Details)
				if tc.reason != "" {
					assert.Contains(t, res.Reason, tc.reason)
				}
				if tc.detail != "" {
					assert.True(t, containsAny(res.Details, tc.detail), "details %q lack %q", res.Details, tc.detail)
				}
				if tc.warning != "" {
					assert.True(t, containsAny(d.Warnings, tc.warning), "warnings %q lack %q", d.Warnings, tc.warning)
				}
				var used []string
				for _, u := range d.ExceptionsUsed {
					used = append(used, u.ID)
				}
				assert.Equal(t, tc.used, used, "exceptions used")
				for _, r := range d.Rules {
					if r.Rule != tc.rule {
						assert.Equal(t, Skip, r.Verdict, "rule %s not in the policy", r.Rule)
					}
				}
				fails := tc.verdict == Fail
				assert.Equal(t, fails, d.WouldDeny, "WouldDeny")
				assert.Equal(t, mode, d.Mode)
				if mode == ModeEnforce {
					assert.Equal(t, !fails, d.Allowed, "Allowed in enforce mode")
					if fails {
						assert.ErrorIs(t, d.Err(), ErrPolicyDenied)
					}
				} else {
					assert.True(t, d.Allowed, "audit mode always allows")
					assert.NoError(t, d.Err())
				}
			})
		}
	}
}

func containsAny(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestMissingEvidenceFailsEveryRule checks fail-closed behaviour: empty
// evidence against a policy with every rule section.
func TestMissingEvidenceFailsEveryRule(t *testing.T) {
	doc := loadDoc(t, "testdata/complete.yaml")
	pol, err := Compile(doc, WithClock(fixedClock))
	require.NoError(t, err)
	for _, ev := range []*Evidence{nil, {}} {
		d := pol.Evaluate(context.Background(), ev)
		for _, r := range d.Rules {
			assert.Equal(t, Fail, r.Verdict, "rule %s with no evidence: %s", r.Rule, r.Reason)
		}
		assert.False(t, d.Allowed)
		assert.Equal(t, testNow, d.Time, "clock used when evidence has no time")
		var denied *DeniedError
		require.ErrorAs(t, d.Err(), &denied)
		assert.Len(t, denied.Failed, len(builtinRules))
	}
}

func TestNotRequiredWarns(t *testing.T) {
	doc := &Document{Name: "soft", Sources: &Sources{Allowed: []string{"docker.io/**"}},
		SBOM: &Requirement{}, Provenance: &Requirement{Source: SourcePublisher}, Malware: &Malware{}}
	pol, err := Compile(doc, WithClock(fixedClock))
	require.NoError(t, err)

	ev := goodEvidence()
	ev.SBOM, ev.Malware = Attestation{}, MalwareScan{}
	d := pol.Evaluate(context.Background(), ev)
	for rule, want := range map[string]Verdict{RuleSBOM: Warn, RuleProvenance: Warn, RuleMalware: Warn, RuleSources: Pass} {
		r, _ := d.Result(rule)
		assert.Equal(t, want, r.Verdict, "%s: %s", rule, r.Reason)
	}

	// An incomplete SBOM warns too, and Evaluate leaves the evidence alone.
	ev = goodEvidence()
	ev.SBOM.Skipped = []string{"b", "a"}
	d = pol.Evaluate(context.Background(), ev)
	r, _ := d.Result(RuleSBOM)
	assert.Equal(t, Warn, r.Verdict, r.Reason)
	assert.Contains(t, r.Reason, "2 files were not examined")
	assert.Equal(t, []string{"b", "a"}, ev.SBOM.Skipped, "evidence not modified")
	assert.True(t, d.Allowed)

	ev.Malware = MalwareScan{Scanned: true, Detections: []Detection{{Name: "x"}}}
	d = pol.Evaluate(context.Background(), ev)
	r, _ = d.Result(RuleMalware)
	assert.Equal(t, Fail, r.Verdict, "detections fail even when the scan is not required")
	assert.False(t, d.Allowed)
}

func TestEvaluateUsesEvidenceTime(t *testing.T) {
	doc := &Document{Name: "t", Lifecycle: &Lifecycle{MinDaysBeforeEndOfLife: 10},
		Vulnerabilities: &Vulnerabilities{MaxSeverity: SeverityMedium, Exceptions: []Exception{exc("CVE-2024-45491", "2027-01-01", nil, nil)}}}
	pol, err := Compile(doc, WithClock(fixedClock))
	require.NoError(t, err)
	ev := goodEvidence()
	ev.Vulnerabilities.Findings = []Vulnerability{highFixed}
	ev.EndOfLife = time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)

	d := pol.Evaluate(context.Background(), ev)
	assert.True(t, d.Allowed, "%v", d.Rules)

	ev.Time = time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC) // exception lapsed, EOL still 28 days away
	d = pol.Evaluate(context.Background(), ev)
	assert.Equal(t, ev.Time, d.Time)
	r, _ := d.Result(RuleVulnerabilities)
	assert.Equal(t, Fail, r.Verdict)
	r, _ = d.Result(RuleLifecycle)
	assert.Equal(t, Pass, r.Verdict)

	ev.Time = time.Date(2027, 2, 25, 0, 0, 0, 0, time.UTC)
	d = pol.Evaluate(context.Background(), ev)
	r, _ = d.Result(RuleLifecycle)
	assert.Equal(t, Fail, r.Verdict)
}

type ruleFunc struct {
	name string
	fn   func(ctx context.Context, ev *Evidence) RuleResult
}

func (r ruleFunc) Name() string { return r.name }
func (r ruleFunc) Evaluate(ctx context.Context, ev *Evidence) RuleResult {
	return r.fn(ctx, ev)
}

func TestCustomRules(t *testing.T) {
	noRoot := ruleFunc{"platform", func(_ context.Context, ev *Evidence) RuleResult {
		if ev.Platform != "linux/amd64" {
			return RuleResult{Verdict: Fail, Reason: "only linux/amd64"}
		}
		return RuleResult{Verdict: Pass, Reason: "linux/amd64"}
	}}
	panics := ruleFunc{"panics", func(context.Context, *Evidence) RuleResult { panic("boom") }}
	bogus := ruleFunc{"bogus", func(context.Context, *Evidence) RuleResult { return RuleResult{Verdict: "maybe"} }}
	renamed := ruleFunc{"renamed", func(context.Context, *Evidence) RuleResult { return RuleResult{Rule: "other", Verdict: Pass} }}

	cases := []struct {
		name    string
		rule    Rule
		ev      func(*Evidence)
		verdict Verdict
		reason  string
		warning string
	}{
		{name: "pass", rule: noRoot, verdict: Pass},
		{name: "fail", rule: noRoot, ev: func(ev *Evidence) { ev.Platform = "linux/arm64" }, verdict: Fail, reason: "only linux/amd64"},
		{name: "panic", rule: panics, verdict: Fail, reason: "rule panicked: boom"},
		{name: "invalid verdict", rule: bogus, verdict: Fail, reason: `invalid verdict "maybe"`},
		{name: "renamed", rule: renamed, verdict: Pass, warning: `returned a result named "other"`},
	}
	for _, tc := range cases {
		for _, mode := range []Mode{ModeEnforce, ModeAudit} {
			t.Run(string(mode)+"/"+tc.name, func(t *testing.T) {
				pol, err := Compile(&Document{Name: "custom", Mode: mode}, WithRule(tc.rule), WithClock(fixedClock))
				require.NoError(t, err, "a custom rule makes a policy non-empty")
				ev := goodEvidence()
				if tc.ev != nil {
					tc.ev(ev)
				}
				d := pol.Evaluate(context.Background(), ev)
				require.Len(t, d.Rules, len(builtinRules)+1)
				r := d.Rules[len(d.Rules)-1]
				assert.Equal(t, tc.rule.Name(), r.Rule)
				assert.Equal(t, tc.verdict, r.Verdict, r.Reason)
				assert.Contains(t, r.Reason, tc.reason)
				if tc.warning != "" {
					assert.True(t, containsAny(d.Warnings, tc.warning), "%q", d.Warnings)
				}
				assert.Equal(t, tc.verdict == Fail, d.WouldDeny)
				assert.Equal(t, tc.verdict != Fail || mode == ModeAudit, d.Allowed)
			})
		}
	}
}

func TestCancelledContextFailsClosed(t *testing.T) {
	pol, err := Compile(loadDoc(t, "testdata/complete.yaml"), WithClock(fixedClock),
		WithRule(ruleFunc{"never", func(context.Context, *Evidence) RuleResult {
			t.Error("custom rule ran under a cancelled context")
			return RuleResult{Verdict: Pass}
		}}))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := pol.Evaluate(ctx, goodEvidence())
	assert.False(t, d.Allowed)
	for _, r := range d.Rules {
		assert.Equal(t, Fail, r.Verdict, r.Rule)
		assert.Contains(t, r.Reason, "context canceled")
	}
}

func TestNilPolicyAndZeroDecisionDeny(t *testing.T) {
	var p *Policy
	d := p.Evaluate(context.Background(), goodEvidence())
	assert.False(t, d.Allowed)
	assert.ErrorIs(t, d.Err(), ErrPolicyDenied)
	assert.ErrorIs(t, Decision{}.Err(), ErrPolicyDenied)
	assert.Contains(t, Decision{}.Err().Error(), "no rule passed")
}

func TestDeniedError(t *testing.T) {
	pol, err := Compile(&Document{Name: "gate", Sources: &Sources{Allowed: []string{"docker.io/library/nginx"}},
		Malware: &Malware{Required: true}}, WithClock(fixedClock))
	require.NoError(t, err)
	ev := goodEvidence()
	ev.Source.Repository = "library/ngnix"
	ev.Malware = MalwareScan{}
	err = pol.Evaluate(context.Background(), ev).Err()
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrPolicyDenied)
	assert.NotErrorIs(t, err, ErrInvalidPolicy)
	var denied *DeniedError
	require.ErrorAs(t, err, &denied)
	assert.Equal(t, "gate", denied.Policy)
	require.Len(t, denied.Failed, 2)
	assert.Equal(t, `policy "gate" denied: sources: source docker.io/library/ngnix matches no allowed pattern (it resembles an allowed one: possible typosquatting); malware: the evidence has no malware scan`, err.Error())
}

func TestDecisionJSONIsStable(t *testing.T) {
	pol, err := Compile(loadDoc(t, "testdata/complete.yaml"), WithClock(fixedClock))
	require.NoError(t, err)
	ev := completeEvidence()
	ev.Vulnerabilities.Findings = append(ev.Vulnerabilities.Findings, highFixed, critUnfixed,
		Vulnerability{ID: "CVE-2024-45491", Package: "libexpat1", Version: "2.5.0", Severity: SeverityCritical})
	ev.Packages = append(ev.Packages, Package{Name: "ghostscript", Licenses: []string{"AGPL-3.0-or-later"}}, Package{Name: "mystery"})
	first, err := json.MarshalIndent(pol.Evaluate(context.Background(), ev), "", "  ")
	require.NoError(t, err)
	for range 20 {
		again, err := json.MarshalIndent(pol.Evaluate(context.Background(), ev), "", "  ")
		require.NoError(t, err)
		require.Equal(t, string(first), string(again))
	}
	golden, err := testdataFS.ReadFile("testdata/decision.golden.json")
	if *update || errors.Is(err, errNotExist) {
		writeGolden(t, "testdata/decision.golden.json", first)
		return
	}
	require.NoError(t, err)
	assert.JSONEq(t, string(golden), string(first), "decision JSON changed; rerun with -update if intended")

	var back Decision
	require.NoError(t, json.Unmarshal(first, &back))
	assert.Equal(t, pol.Evaluate(context.Background(), ev), back, "decision round-trips through JSON")
}

func TestEvaluateConcurrently(t *testing.T) {
	pol, err := Compile(loadDoc(t, "testdata/complete.yaml"), WithClock(fixedClock))
	require.NoError(t, err)
	want := pol.Evaluate(context.Background(), goodEvidence())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				ev := goodEvidence()
				ev.Packages = append(ev.Packages, Package{Name: fmt.Sprint(i, j), Licenses: []string{"MIT OR GPL-3.0-only"}})
				d := pol.Evaluate(context.Background(), ev)
				if d.Allowed != want.Allowed {
					t.Errorf("goroutine %d: allowed %v, want %v", i, d.Allowed, want.Allowed)
				}
			}
		})
	}
	wg.Wait()
}

func TestDetailsAreCapped(t *testing.T) {
	pol, err := Compile(&Document{Name: "cap", Vulnerabilities: &Vulnerabilities{MaxSeverity: SeverityNone}}, WithClock(fixedClock))
	require.NoError(t, err)
	ev := goodEvidence()
	ev.Vulnerabilities.Findings = nil
	for i := range 500 {
		ev.Vulnerabilities.Findings = append(ev.Vulnerabilities.Findings, Vulnerability{ID: fmt.Sprintf("CVE-2026-%05d", i), Package: "p", FixedVersion: "1", Severity: SeverityLow})
	}
	r, _ := pol.Evaluate(context.Background(), ev).Result(RuleVulnerabilities)
	assert.Equal(t, Fail, r.Verdict)
	require.Len(t, r.Details, MaxDetails)
	assert.Equal(t, "... and 401 more", r.Details[MaxDetails-1])
	assert.Contains(t, r.Reason, "500 findings above the allowed severity none: CVE-2026-00000, CVE-2026-00001, CVE-2026-00002, CVE-2026-00003, CVE-2026-00004 and 495 more")
}

func TestDecisionString(t *testing.T) {
	pol, err := Compile(&Document{Name: "s", Sources: &Sources{Allowed: []string{"docker.io/library/nginx"}},
		Vulnerabilities: &Vulnerabilities{MaxSeverity: SeverityLow, Exceptions: []Exception{exc("CVE-2024-45491", "2027-01-01", nil, nil)}}}, WithClock(fixedClock))
	require.NoError(t, err)
	ev := goodEvidence()
	ev.Source.Repository = "library/ngnix"
	ev.Vulnerabilities.Findings = []Vulnerability{highFixed}
	got := pol.Evaluate(context.Background(), ev).String()
	want := `policy "s": denied for docker.io/library/ngnix@sha256:` + strings.Repeat("a", 64) + `
  fail sources: source docker.io/library/ngnix matches no allowed pattern (it resembles an allowed one: possible typosquatting)
  pass vulnerabilities: 1 finding, none above the allowed severity low (1 finding accepted by exceptions)
  exception CVE-2024-45491 applied to CVE-2024-45491 in libexpat1 (expires 2027-01-01)`
	assert.Equal(t, want, got)
}

// TestUnnamedReportKindFailsWithoutReportsSection checks that the rule
// reports is on even when the document says nothing about reports: a
// custom scanner's report must never be ignored (issue 10 item 5).
func TestUnnamedReportKindFailsWithoutReportsSection(t *testing.T) {
	pol, err := Compile(&Document{Name: "vulns-only", Vulnerabilities: &Vulnerabilities{MaxSeverity: SeverityCritical}}, WithClock(fixedClock))
	require.NoError(t, err)
	ev := goodEvidence()
	d := pol.Evaluate(context.Background(), ev)
	res, _ := d.Result(RuleReports)
	assert.Equal(t, Skip, res.Verdict, "no custom reports: %s", res.Reason)
	assert.True(t, d.Allowed)

	ev.Reports = []Report{{Kind: "secrets", Scanner: "keyfinder", Findings: []Finding{{ID: "private-key", Path: "etc/ssl/private/server.key"}}}}
	d = pol.Evaluate(context.Background(), ev)
	res, _ = d.Result(RuleReports)
	assert.Equal(t, Fail, res.Verdict, "a secrets report the policy does not name: %s", res.Reason)
	assert.False(t, d.Allowed, "a report of an unknown kind must deny")
	assert.ErrorIs(t, d.Err(), ErrPolicyDenied)
}

func TestCompileReports(t *testing.T) {
	for name, tc := range map[string]struct {
		kinds []ReportKind
		want  string
	}{
		"empty kind":        {[]ReportKind{{}}, "reports[0].kind: required"},
		"upper case":        {[]ReportKind{{Kind: "Secrets"}}, "lower-case"},
		"vulnerability":     {[]ReportKind{{Kind: "vulnerability"}}, "its own section"},
		"malware":           {[]ReportKind{{Kind: "malware"}}, "its own section"},
		"duplicate":         {[]ReportKind{{Kind: "secrets"}, {Kind: "secrets"}}, "listed twice"},
		"bad ceiling":       {[]ReportKind{{Kind: "secrets", MaxSeverity: "severe"}}, "reports[0].maxSeverity"},
		"leading separator": {[]ReportKind{{Kind: "-x"}}, "lower-case"},
	} {
		_, err := Compile(&Document{Name: "r", Reports: tc.kinds})
		require.Error(t, err, name)
		assert.ErrorIs(t, err, ErrInvalidPolicy, name)
		assert.Contains(t, err.Error(), tc.want, name)
	}
	_, err := Compile(&Document{Name: "r", Reports: []ReportKind{{Kind: "secrets"}}})
	assert.NoError(t, err, "a reports section alone can fail, so the policy compiles")
}
