package policy

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/github/go-spdx/v2/spdxexp"
	"github.com/github/go-spdx/v2/spdxexp/spdxlicenses"
)

// maxExpressionLength bounds a package licence expression read from an SBOM;
// a longer one is treated as unknown rather than parsed.
const maxExpressionLength = 4096

// maxExpressionDepth bounds parenthesis nesting in a package expression.
const maxExpressionDepth = 64

// licenseSet is a compiled Denied or Allowed list: each entry expanded to
// the concrete licences it stands for ("GPL-2.0-or-later" stands for
// GPL-2.0-only and GPL-3.0-only).
type licenseSet struct {
	entries  []string // normalised, as written
	concrete []string // expanded
}

// names reports whether the list has license itself as an entry (compared
// without regard to case), not only a licence that covers it.
func (s *licenseSet) names(license string) bool {
	return slices.ContainsFunc(s.entries, func(e string) bool { return strings.EqualFold(e, license) })
}

func (s *licenseSet) contains(license string) bool {
	for _, e := range s.concrete {
		if strings.EqualFold(e, license) {
			return true
		}
		if satisfies(license, e) {
			return true
		}
	}
	return false
}

// compileLicenseList validates and normalises a list of licence
// identifiers. Each entry must be a single SPDX licence identifier,
// optionally with "+"/"-or-later" or a WITH exception, or a LicenseRef.
func compileLicenseList(field string, list []string) (*licenseSet, []string) {
	var problems []string
	set := &licenseSet{}
	for i, entry := range list {
		e := strings.TrimSpace(entry)
		if e == "" {
			problems = append(problems, fmt.Sprintf("%s[%d]: empty licence", field, i))
			continue
		}
		if isUnknownLicense(e) {
			problems = append(problems, fmt.Sprintf("%s[%d]: %q is not a licence (use licenses.unknown for packages without one)", field, i, e))
			continue
		}
		if len(e) > 256 || strings.ContainsAny(e, "()") {
			problems = append(problems, fmt.Sprintf("%s[%d]: %q is not a single SPDX licence identifier", field, i, trimForMessage(e)))
			continue
		}
		norm, ok := normalizeLicense(e, true)
		if !ok {
			if _, ok := normalizeLicense(e, false); ok {
				problems = append(problems, fmt.Sprintf("%s[%d]: %q is an expression; list single licences (one entry each)", field, i, e))
			} else {
				problems = append(problems, fmt.Sprintf("%s[%d]: %q is not a valid SPDX licence identifier", field, i, e))
			}
			continue
		}
		set.entries = append(set.entries, norm)
		set.concrete = append(set.concrete, expandLicense(norm)...)
	}
	return set, problems
}

// isUnknownLicense reports the SBOM spellings of "no licence information".
func isUnknownLicense(s string) bool {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "NOASSERTION", "NONE", "UNKNOWN":
		return true
	}
	return false
}

// expandLicense returns the concrete licences a licence identifier stands
// for: itself, or for a range ("GPL-2.0-or-later", "GPL-2.0+") every
// version from the named one upwards of the same licence family in the SPDX
// licence list, in its "-only" form when there is one.
func expandLicense(id string) []string {
	if strings.Contains(id, " ") { // "X WITH Y": exact only
		return []string{id}
	}
	base, isRange := strings.CutSuffix(id, "-or-later")
	if !isRange {
		base, isRange = strings.CutSuffix(id, "+")
	}
	if !isRange {
		return []string{id}
	}
	family, version, ok := splitVersion(base)
	if !ok {
		return []string{id}
	}
	out := rangeIndex().expand(family, version)
	if len(out) == 0 {
		return []string{id}
	}
	return out
}

// splitVersion splits "GPL-2.0" into "GPL" and [2 0].
func splitVersion(id string) (string, []int, bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 || i == len(id)-1 {
		return "", nil, false
	}
	var version []int
	for part := range strings.SplitSeq(id[i+1:], ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return "", nil, false
		}
		version = append(version, n)
	}
	return id[:i], version, true
}

type versioned struct {
	id      string
	version []int
}

type licenseRanges struct {
	byFamily map[string][]versioned // upper-case family
}

func (r *licenseRanges) expand(family string, from []int) []string {
	var out []string
	for _, v := range r.byFamily[strings.ToUpper(family)] {
		if slices.Compare(v.version, from) >= 0 {
			out = append(out, v.id)
		}
	}
	return out
}

// rangeIndex indexes the SPDX licence list by family and version, once.
var rangeIndex = sync.OnceValue(func() *licenseRanges {
	r := &licenseRanges{byFamily: map[string][]versioned{}}
	type key struct{ family, version string }
	chosen := map[key]versioned{}
	for _, id := range spdxlicenses.GetLicenses() {
		plain, only := strings.CutSuffix(id, "-only")
		family, version, ok := splitVersion(plain)
		if !ok {
			continue
		}
		k := key{strings.ToUpper(family), fmt.Sprint(version)}
		if prev, seen := chosen[k]; seen && strings.HasSuffix(prev.id, "-only") && !only {
			continue
		}
		chosen[k] = versioned{id: id, version: version}
	}
	for k, v := range chosen {
		r.byFamily[k.family] = append(r.byFamily[k.family], v)
	}
	for _, list := range r.byFamily {
		slices.SortFunc(list, func(a, b versioned) int { return slices.Compare(a.version, b.version) })
	}
	return r
})

// licenseVerdict is the judgement of one package licence expression.
type licenseVerdict int

const (
	licenseOK licenseVerdict = iota
	licenseViolation
	licenseUnknown
)

// exprNode is a parsed licence expression: a leaf licence or an AND/OR of
// two expressions.
type exprNode struct {
	op          string // "", "AND", "OR"
	leaf        string // normalised leaf when op == ""
	left, right *exprNode
}

// maxJudgeCache bounds each of a judge's caches (expressions and leaves),
// so that hostile SBOMs full of distinct expressions cannot grow memory
// without bound; past it, results are computed but not remembered.
const maxJudgeCache = 8192

// licenseJudge judges package expressions against a compiled rule. It is
// created by Compile and shared by every evaluation, so it caches results
// (most images share a few hundred expressions) behind a mutex.
type licenseJudge struct {
	denied, allowed *licenseSet

	mu     sync.Mutex
	exprs  map[string]judged
	leaves map[string]licenseVerdict
}

type judged struct {
	verdict licenseVerdict
	why     string
}

func newLicenseJudge(denied, allowed *licenseSet) *licenseJudge {
	return &licenseJudge{denied: denied, allowed: allowed, exprs: map[string]judged{}, leaves: map[string]licenseVerdict{}}
}

// judge decides one expression. For licenseViolation, why names the
// offending licences; for licenseUnknown, why says what was wrong.
func (j *licenseJudge) judge(expr string) (licenseVerdict, string) {
	expr = strings.TrimSpace(expr)
	j.mu.Lock()
	r, ok := j.exprs[expr]
	j.mu.Unlock()
	if ok {
		return r.verdict, r.why
	}
	v, why := j.judgeUncached(expr)
	j.mu.Lock()
	if len(j.exprs) < maxJudgeCache {
		j.exprs[expr] = judged{v, why}
	}
	j.mu.Unlock()
	return v, why
}

func (j *licenseJudge) judgeUncached(expr string) (licenseVerdict, string) {
	if isUnknownLicense(expr) {
		return licenseUnknown, "no licence (" + strings.ToUpper(expr) + ")"
	}
	if len(expr) > maxExpressionLength {
		return licenseUnknown, fmt.Sprintf("expression longer than %d characters", maxExpressionLength)
	}
	// Our parser first: it bounds nesting, so that spdxexp (recursive, and
	// known to panic on input such as "((((") only sees sane expressions.
	tree, err := parseExpression(expr)
	if err != nil {
		return licenseUnknown, fmt.Sprintf("%q is not a valid SPDX expression: %v", expr, err)
	}
	if _, ok := normalizeLicense(expr, false); !ok {
		return licenseUnknown, fmt.Sprintf("%q is not a valid SPDX expression", expr)
	}
	v := j.eval(tree)
	if v == licenseOK {
		return licenseOK, ""
	}
	var bad []string
	j.collectRejected(tree, &bad)
	slices.Sort(bad)
	bad = slices.Compact(bad)
	if v == licenseUnknown {
		return licenseUnknown, fmt.Sprintf("%q cannot be used without a licence the policy does not know: %s", expr, strings.Join(bad, ", "))
	}
	return licenseViolation, strings.Join(bad, ", ")
}

// eval judges a tree with three values: an AND is as bad as its worst
// side (violation, then unknown), an OR as good as its best side (ok, then
// unknown). So "X OR LicenseRef-y" with X denied is unknown, not ok: the
// only way to use the package without a denied licence is a licence the
// policy cannot judge.
func (j *licenseJudge) eval(n *exprNode) licenseVerdict {
	switch n.op {
	case "AND":
		l, r := j.eval(n.left), j.eval(n.right)
		switch {
		case l == licenseViolation || r == licenseViolation:
			return licenseViolation
		case l == licenseUnknown || r == licenseUnknown:
			return licenseUnknown
		}
		return licenseOK
	case "OR":
		l, r := j.eval(n.left), j.eval(n.right)
		switch {
		case l == licenseOK || r == licenseOK:
			return licenseOK
		case l == licenseUnknown || r == licenseUnknown:
			return licenseUnknown
		}
		return licenseViolation
	}
	return j.leafVerdict(n.leaf)
}

func (j *licenseJudge) collectRejected(n *exprNode, out *[]string) {
	if n.op != "" {
		j.collectRejected(n.left, out)
		j.collectRejected(n.right, out)
		return
	}
	switch j.leafVerdict(n.leaf) {
	case licenseUnknown:
		*out = append(*out, n.leaf+" unknown")
	case licenseViolation:
		reason := "denied"
		if !j.leafDenied(n.leaf) {
			reason = "not allowed"
		}
		*out = append(*out, n.leaf+" "+reason)
	}
}

// isLicenseRef reports whether a licence is a reference to a licence text
// outside the SPDX list ("LicenseRef-x", "DocumentRef-d:LicenseRef-x"):
// anyone can name one anything, so only the policy's own entries give it a
// meaning.
func isLicenseRef(leaf string) bool {
	return strings.HasPrefix(leaf, "LicenseRef-") || strings.HasPrefix(leaf, "DocumentRef-")
}

// leafVerdict judges one licence (possibly a range or a WITH exception):
//
//   - a licence reference is ok only when the allowed list names it,
//     denied when the denied list names it, and unknown otherwise;
//   - "X WITH E" named as such in the allowed list is ok and in the denied
//     list denied; otherwise it is judged as X (an exception adds
//     permissions to X, it does not make X another licence);
//   - any other licence is ok if some concrete licence it stands for is
//     not denied and, when an allowed list exists, is allowed.
func (j *licenseJudge) leafVerdict(leaf string) licenseVerdict {
	j.mu.Lock()
	r, cached := j.leaves[leaf]
	j.mu.Unlock()
	if cached {
		return r
	}
	v := j.leafVerdictUncached(leaf)
	j.mu.Lock()
	if len(j.leaves) < maxJudgeCache {
		j.leaves[leaf] = v
	}
	j.mu.Unlock()
	return v
}

func (j *licenseJudge) leafVerdictUncached(leaf string) licenseVerdict {
	base, _, with := strings.Cut(leaf, " WITH ")
	if with {
		switch {
		case j.allowed.names(leaf):
			return licenseOK
		case j.denied.names(leaf):
			return licenseViolation
		}
	}
	if isLicenseRef(base) {
		switch {
		case j.denied.names(base):
			return licenseViolation
		case j.allowed.names(base):
			return licenseOK
		}
		return licenseUnknown
	}
	for _, c := range expandLicense(base) {
		if j.denied.contains(c) {
			continue
		}
		if len(j.allowed.concrete) > 0 && !j.allowed.contains(c) {
			continue
		}
		return licenseOK
	}
	return licenseViolation
}

func (j *licenseJudge) leafDenied(leaf string) bool {
	if j.denied.names(leaf) {
		return true
	}
	base, _, _ := strings.Cut(leaf, " WITH ")
	for _, c := range expandLicense(base) {
		if !j.denied.contains(c) {
			return false
		}
	}
	return true
}

// parseExpression parses an SPDX licence expression (already validated by
// spdxexp) into a tree. AND binds tighter than OR; "X WITH Y" and "X+" are
// leaves. Leaves are normalised by spdxexp.
func parseExpression(expr string) (*exprNode, error) {
	p := &exprParser{tokens: tokenizeExpression(expr)}
	n, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.tokens) {
		return nil, fmt.Errorf("unexpected %q", p.tokens[p.pos])
	}
	return n, nil
}

func tokenizeExpression(expr string) []string {
	var tokens []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			tokens = append(tokens, cur.String())
			cur.Reset()
		}
	}
	for _, r := range expr {
		switch {
		case r == '(' || r == ')':
			flush()
			tokens = append(tokens, string(r))
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return tokens
}

type exprParser struct {
	tokens []string
	pos    int
}

var errExpressionEnd = errors.New("unexpected end of expression")

func (p *exprParser) peek() string {
	if p.pos < len(p.tokens) {
		return p.tokens[p.pos]
	}
	return ""
}

func (p *exprParser) or(depth int) (*exprNode, error) {
	left, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.peek() == "OR" {
		p.pos++
		right, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		left = &exprNode{op: "OR", left: left, right: right}
	}
	return left, nil
}

func (p *exprParser) and(depth int) (*exprNode, error) {
	left, err := p.atom(depth)
	if err != nil {
		return nil, err
	}
	for p.peek() == "AND" {
		p.pos++
		right, err := p.atom(depth)
		if err != nil {
			return nil, err
		}
		left = &exprNode{op: "AND", left: left, right: right}
	}
	return left, nil
}

func (p *exprParser) atom(depth int) (*exprNode, error) {
	tok := p.peek()
	switch tok {
	case "":
		return nil, errExpressionEnd
	case "(":
		if depth >= maxExpressionDepth {
			return nil, fmt.Errorf("parentheses nested deeper than %d", maxExpressionDepth)
		}
		p.pos++
		n, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, errors.New("missing )")
		}
		p.pos++
		return n, nil
	case ")", "AND", "OR", "WITH":
		return nil, fmt.Errorf("unexpected %q", tok)
	}
	p.pos++
	leaf := tok
	if p.peek() == "+" { // spdxexp tolerates nothing here, but be safe
		return nil, errors.New("unexpected space before +")
	}
	if p.peek() == "WITH" {
		p.pos++
		exc := p.peek()
		if exc == "" || exc == "(" || exc == ")" || exc == "AND" || exc == "OR" || exc == "WITH" {
			return nil, errors.New("WITH needs an exception")
		}
		p.pos++
		leaf += " WITH " + exc
	}
	norm, ok := normalizeLicense(leaf, true)
	if !ok {
		return nil, fmt.Errorf("%q is not a valid SPDX licence", leaf)
	}
	return &exprNode{leaf: norm}, nil
}

// normalizeLicense validates and normalises an SPDX expression with spdxexp
// (a single licence when single is true). spdxexp panics on some malformed
// input; a panic counts as invalid.
func normalizeLicense(expr string, single bool) (norm string, ok bool) {
	defer func() {
		if recover() != nil {
			norm, ok = "", false
		}
	}()
	out, invalid := spdxexp.ValidateAndNormalizeLicensesWithOptions([]string{expr}, spdxexp.ValidateLicensesOptions{FailComplexExpressions: single})
	if len(invalid) > 0 || len(out) != 1 {
		return "", false
	}
	return out[0], true
}

// satisfies reports spdxexp.Satisfies(license, [by]), false on error or
// panic.
func satisfies(license, by string) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	ok, err := spdxexp.Satisfies(license, []string{by})
	return err == nil && ok
}

func trimForMessage(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
