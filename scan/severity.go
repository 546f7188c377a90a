package scan

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Severity is the severity of a finding. Severities are ordered: a greater
// value is more severe, so max and < work as expected. The zero value is
// SeverityUnknown, which sorts below Low.
//
// A Severity marshals to and from text (JSON, YAML) as its lower-case name:
// "unknown", "low", "medium", "high", "critical".
type Severity int

// Severities, least severe first.
const (
	SeverityUnknown Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"unknown", "low", "medium", "high", "critical"}

// String returns the lower-case name of s ("high"); out-of-range values
// print as "severity(N)".
func (s Severity) String() string {
	if s >= 0 && int(s) < len(severityNames) {
		return severityNames[s]
	}
	return "severity(" + strconv.Itoa(int(s)) + ")"
}

// ParseSeverity reads a severity name as scanners and advisories spell it,
// ignoring case and surrounding space: "low", "medium", "moderate",
// "high", "important", "critical", and "unknown", "none", "negligible",
// "unimportant", "informational" or "" (all SeverityUnknown except
// "negligible", "unimportant" and "informational", which are SeverityLow).
// A CVSS score written as a number ("7.5") is mapped with
// SeverityFromCVSS. Anything else is an error.
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "unknown", "none", "not yet assigned", "unassigned":
		return SeverityUnknown, nil
	case "low", "negligible", "unimportant", "informational", "info", "minor":
		return SeverityLow, nil
	case "medium", "moderate":
		return SeverityMedium, nil
	case "high", "important":
		return SeverityHigh, nil
	case "critical":
		return SeverityCritical, nil
	}
	if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && f >= 0 && f <= 10 {
		return SeverityFromCVSS(f), nil
	}
	return SeverityUnknown, fmt.Errorf("unknown severity %q", truncate(s, 64))
}

// SeverityFromCVSS maps a CVSS v3/v4 base score to a severity with the
// qualitative rating scale of the CVSS specification: 0.1-3.9 Low,
// 4.0-6.9 Medium, 7.0-8.9 High, 9.0-10.0 Critical. A score of 0 ("None"),
// a negative score, a score above 10 or NaN is SeverityUnknown.
func SeverityFromCVSS(score float64) Severity {
	switch {
	case math.IsNaN(score) || score <= 0 || score > 10:
		return SeverityUnknown
	case score < 4:
		return SeverityLow
	case score < 7:
		return SeverityMedium
	case score < 9:
		return SeverityHigh
	default:
		return SeverityCritical
	}
}

// MarshalText returns the lower-case name of s. Out-of-range values are an
// error.
func (s Severity) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(severityNames) {
		return nil, fmt.Errorf("invalid severity %d", int(s))
	}
	return []byte(severityNames[s]), nil
}

// UnmarshalText parses text with ParseSeverity.
func (s *Severity) UnmarshalText(text []byte) error {
	v, err := ParseSeverity(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// sarifLevel maps a severity to a SARIF result level.
func (s Severity) sarifLevel() string {
	switch s {
	case SeverityCritical, SeverityHigh:
		return "error"
	case SeverityMedium:
		return "warning"
	case SeverityLow:
		return "note"
	}
	return "warning"
}

// securitySeverity is the GitHub-style "security-severity" score for s: the
// CVSS score when known, else a representative score of the band.
func securitySeverity(s Severity, cvss float64) string {
	if cvss > 0 && cvss <= 10 {
		return strconv.FormatFloat(cvss, 'f', 1, 64)
	}
	switch s {
	case SeverityCritical:
		return "9.5"
	case SeverityHigh:
		return "8.0"
	case SeverityMedium:
		return "5.5"
	case SeverityLow:
		return "2.0"
	}
	return "0.0"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
