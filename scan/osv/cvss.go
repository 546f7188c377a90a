package osv

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// errCVSS is wrapped by every error of the CVSS calculator.
var errCVSS = errors.New("invalid cvss vector")

// maxCVSSVectorLen caps the length of a CVSS vector string the calculator
// reads; real vectors with every temporal and environmental metric are
// under 200 bytes.
const maxCVSSVectorLen = 512

// cvss3BaseScore computes the base score of a CVSS v3.0 or v3.1 vector
// string such as "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" (9.8),
// following the formulas of the CVSS v3.1 specification, section 7.1
// (v3.0 differs only in its rounding function, which is honoured).
//
// The eight base metrics must each appear exactly once with a defined
// value; temporal and environmental metrics may follow and are checked for
// form but do not change the base score. The result is in [0, 10] with one
// decimal.
func cvss3BaseScore(vector string) (float64, error) {
	if len(vector) > maxCVSSVectorLen {
		return 0, fmt.Errorf("%w: %d bytes", errCVSS, len(vector))
	}
	var v31 bool
	switch {
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		v31 = true
	case strings.HasPrefix(vector, "CVSS:3.0/"):
	default:
		return 0, fmt.Errorf("%w: not a CVSS v3 vector", errCVSS)
	}
	m, err := parseCVSS3(vector[len("CVSS:3.x/"):])
	if err != nil {
		return 0, err
	}
	roundup := roundup30
	if v31 {
		roundup = roundup31
	}
	return m.baseScore(roundup), nil
}

// cvss3Metrics are the base metrics of a CVSS v3 vector, as the weights
// of the specification (privileges required as its letter, since its
// weight depends on the scope).
type cvss3Metrics struct {
	av, ac, ui, c, i, a float64
	scope               byte // 'U' or 'C'
	pr                  byte // 'N', 'L' or 'H'
}

// parseCVSS3 reads the metrics of a CVSS v3 vector after its "CVSS:3.x/"
// prefix: every base metric exactly once with a defined value, temporal
// and environmental metrics checked for form only.
func parseCVSS3(rest string) (cvss3Metrics, error) {
	var m cvss3Metrics
	seen := map[string]bool{}
	for part := range strings.SplitSeq(rest, "/") {
		key, val, ok := strings.Cut(part, ":")
		if !ok || key == "" || val == "" {
			return m, fmt.Errorf("%w: malformed metric %q", errCVSS, truncate(part, 32))
		}
		if seen[key] {
			return m, fmt.Errorf("%w: metric %s repeated", errCVSS, key)
		}
		seen[key] = true
		var bad bool
		switch key {
		case "AV":
			m.av, bad = pick(val, av3)
		case "AC":
			m.ac, bad = pick(val, ac3)
		case "PR":
			if val != "N" && val != "L" && val != "H" {
				bad = true
			}
			m.pr = val[0]
		case "UI":
			m.ui, bad = pick(val, ui3)
		case "S":
			if val != "U" && val != "C" {
				bad = true
			}
			m.scope = val[0]
		case "C":
			m.c, bad = pick(val, cia)
		case "I":
			m.i, bad = pick(val, cia)
		case "A":
			m.a, bad = pick(val, cia)
		default:
			// Temporal and environmental metrics: the key must be known and
			// the value a short token; they do not enter the base score.
			if !otherMetrics[key] || len(val) > 2 {
				bad = true
			}
		}
		if bad {
			return m, fmt.Errorf("%w: bad value %q for metric %s", errCVSS, truncate(val, 8), truncate(key, 8))
		}
	}
	for _, k := range [...]string{"AV", "AC", "PR", "UI", "S", "C", "I", "A"} {
		if !seen[k] {
			return m, fmt.Errorf("%w: base metric %s missing", errCVSS, k)
		}
	}
	return m, nil
}

// baseScore is the base score of m (CVSS v3.1 specification, section
// 7.1), rounded up with roundup.
func (m cvss3Metrics) baseScore(roundup func(float64) float64) float64 {
	var pr float64
	switch m.pr {
	case 'N':
		pr = 0.85
	case 'L':
		pr = 0.62
		if m.scope == 'C' {
			pr = 0.68
		}
	case 'H':
		pr = 0.27
		if m.scope == 'C' {
			pr = 0.5
		}
	}
	iss := 1 - (1-m.c)*(1-m.i)*(1-m.a)
	var impact float64
	if m.scope == 'U' {
		impact = 6.42 * iss
	} else {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	}
	exploitability := 8.22 * m.av * m.ac * pr * m.ui
	if impact <= 0 {
		return 0
	}
	if m.scope == 'U' {
		return roundup(math.Min(impact+exploitability, 10))
	}
	return roundup(math.Min(1.08*(impact+exploitability), 10))
}

var cia = map[string]float64{"H": 0.56, "L": 0.22, "N": 0}

// Metric weights of CVSS v3 and v2.
var (
	av3 = map[string]float64{"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}
	ac3 = map[string]float64{"L": 0.77, "H": 0.44}
	ui3 = map[string]float64{"N": 0.85, "R": 0.62}
	av2 = map[string]float64{"L": 0.395, "A": 0.646, "N": 1.0}
	ac2 = map[string]float64{"H": 0.35, "M": 0.61, "L": 0.71}
	au2 = map[string]float64{"M": 0.45, "S": 0.56, "N": 0.704}
)

// otherMetrics are the CVSS v3 temporal and environmental metric keys.
var otherMetrics = map[string]bool{
	"E": true, "RL": true, "RC": true,
	"CR": true, "IR": true, "AR": true,
	"MAV": true, "MAC": true, "MPR": true, "MUI": true, "MS": true,
	"MC": true, "MI": true, "MA": true,
}

func pick(val string, table map[string]float64) (float64, bool) {
	f, ok := table[val]
	return f, !ok
}

// roundup31 is the Roundup function of CVSS v3.1 (Appendix A): the
// smallest number with one decimal that is equal to or higher than x,
// computed on integers to avoid floating-point surprises.
func roundup31(x float64) float64 {
	n := int64(math.Round(x * 100000))
	if n%10000 == 0 {
		return float64(n) / 100000
	}
	return float64(n/10000+1) / 10
}

// roundup30 is the Round up function of CVSS v3.0.
func roundup30(x float64) float64 {
	return math.Ceil(x*10) / 10
}

// cvss2BaseScore computes the base score of a CVSS v2 vector such as
// "AV:N/AC:L/Au:N/C:P/I:P/A:P" (7.5), with or without a leading "(" and
// trailing ")" and optional temporal/environmental metrics (ignored). The
// formulas are those of the CVSS v2 guide, section 3.2.1.
func cvss2BaseScore(vector string) (float64, error) {
	if len(vector) > maxCVSSVectorLen {
		return 0, fmt.Errorf("%w: %d bytes", errCVSS, len(vector))
	}
	vector = strings.TrimSuffix(strings.TrimPrefix(vector, "("), ")")
	vector = strings.TrimPrefix(vector, "CVSS:2.0/")
	var (
		av, ac, au, c, i, a float64
		seen                = map[string]bool{}
	)
	for part := range strings.SplitSeq(vector, "/") {
		key, val, ok := strings.Cut(part, ":")
		if !ok || key == "" || val == "" {
			return 0, fmt.Errorf("%w: malformed metric %q", errCVSS, truncate(part, 32))
		}
		if seen[key] {
			return 0, fmt.Errorf("%w: metric %s repeated", errCVSS, truncate(key, 8))
		}
		seen[key] = true
		var bad bool
		switch key {
		case "AV":
			av, bad = pick(val, av2)
		case "AC":
			ac, bad = pick(val, ac2)
		case "Au":
			au, bad = pick(val, au2)
		case "C":
			c, bad = pick(val, cia2)
		case "I":
			i, bad = pick(val, cia2)
		case "A":
			a, bad = pick(val, cia2)
		case "E", "RL", "RC", "CDP", "TD", "CR", "IR", "AR":
			bad = len(val) > 3
		default:
			bad = true
		}
		if bad {
			return 0, fmt.Errorf("%w: bad value %q for metric %s", errCVSS, truncate(val, 8), truncate(key, 8))
		}
	}
	for _, k := range [...]string{"AV", "AC", "Au", "C", "I", "A"} {
		if !seen[k] {
			return 0, fmt.Errorf("%w: base metric %s missing", errCVSS, k)
		}
	}
	impact := 10.41 * (1 - (1-c)*(1-i)*(1-a))
	exploitability := 20 * av * ac * au
	f := 1.176
	if impact == 0 {
		f = 0
	}
	score := ((0.6 * impact) + (0.4 * exploitability) - 1.5) * f
	score = math.Round(score*10) / 10
	return math.Max(0, math.Min(score, 10)), nil
}

var cia2 = map[string]float64{"N": 0, "P": 0.275, "C": 0.660}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
