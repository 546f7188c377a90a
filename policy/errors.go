package policy

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidPolicy is wrapped by every error Parse and Compile return for a
// bad document.
var ErrInvalidPolicy = errors.New("invalid policy")

// ErrPolicyDenied is wrapped by the error of a denying Decision (see
// Decision.Err).
var ErrPolicyDenied = errors.New("policy denied")

// ValidationError lists every problem Compile found in a document. It
// matches ErrInvalidPolicy with errors.Is.
type ValidationError struct {
	// Policy is the document's name (may be empty).
	Policy string
	// Problems are the individual problems, each prefixed with the path of
	// the offending field ("vulnerabilities.exceptions[0].expires: ...").
	Problems []string
}

// Error joins the problems.
func (e *ValidationError) Error() string {
	name := ""
	if e.Policy != "" {
		name = fmt.Sprintf(" %q", e.Policy)
	}
	return fmt.Sprintf("invalid policy%s: %s", name, strings.Join(e.Problems, "; "))
}

// Is reports whether target is ErrInvalidPolicy.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidPolicy }

// DeniedError is the error of a denying Decision. It matches
// ErrPolicyDenied with errors.Is and keeps the failing rules.
type DeniedError struct {
	// Policy is the policy name.
	Policy string
	// Failed are the rules whose verdict was fail.
	Failed []RuleResult
}

// Error names the policy and the failing rules with their reasons.
func (e *DeniedError) Error() string {
	parts := make([]string, 0, len(e.Failed))
	for _, r := range e.Failed {
		parts = append(parts, r.Rule+": "+r.Reason)
	}
	if len(parts) == 0 {
		parts = append(parts, "no rule passed the decision")
	}
	return fmt.Sprintf("policy %q denied: %s", e.Policy, strings.Join(parts, "; "))
}

// Is reports whether target is ErrPolicyDenied.
func (e *DeniedError) Is(target error) bool { return target == ErrPolicyDenied }

// Unwrap returns ErrPolicyDenied.
func (e *DeniedError) Unwrap() error { return ErrPolicyDenied }
