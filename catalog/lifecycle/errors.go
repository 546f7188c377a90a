package lifecycle

import (
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrInvalidConfig: a Config, a rule, an override or a mapping is
	// missing something, names an unknown product, or has a bad pattern or
	// date. Returned by Compile and New: fail closed.
	ErrInvalidConfig = errors.New("lifecycle: invalid configuration")
	// ErrInvalidData: a product-release data file cannot be used (see
	// DataError for where and why).
	ErrInvalidData = errors.New("lifecycle: invalid release data")
	// ErrUnknownField: a data file or configuration names a field this
	// package does not know. Wrapped with ErrInvalidData or
	// ErrInvalidConfig.
	ErrUnknownField = errors.New("unknown field")
	// ErrImpossibleDate: a date that does not exist (2026-02-30), or dates
	// in an impossible order (an end of life before the release). Wrapped
	// with ErrInvalidData or ErrInvalidConfig.
	ErrImpossibleDate = errors.New("impossible date")
	// ErrMarkerUntrusted: a lifecycle marker carries no signature that
	// verified with the enterprise trust material (unsigned, signed by a
	// publisher or anybody else, a forged signature). It is never used.
	ErrMarkerUntrusted = errors.New("lifecycle marker not signed by the enterprise key")
	// ErrMarkerMalformed: a lifecycle marker could not be read (no date, a
	// date in neither accepted form, bad state annotations). It is never
	// used.
	ErrMarkerMalformed = errors.New("lifecycle marker malformed")
	// ErrConflict: the sources of an image's own end of life disagree and
	// the configuration asks for an error (ConflictFail).
	ErrConflict = errors.New("lifecycle: end-of-life sources disagree")
	// ErrChanged: Apply found an entry whose change is no longer the one
	// the plan lists; it was left alone.
	ErrChanged = errors.New("lifecycle: entry changed since the plan")
	// ErrProtected: a deletion was refused because the image is still
	// supported, pinned by a replacement pointer, still tagged, or its
	// retirement is not on the registry as a signed marker.
	ErrProtected = errors.New("lifecycle: image protected from deletion")
)

// DataError says where a product-release data file is wrong. It matches
// ErrInvalidData and unwraps to the cause (ErrUnknownField,
// ErrImpossibleDate, a JSON syntax error).
type DataError struct {
	// Path locates the problem: "products.debian[2].eol",
	// "images[0].product". Empty when the whole file is at fault.
	Path string
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *DataError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%v: %v", ErrInvalidData, e.Err)
	}
	return fmt.Sprintf("%v: %s: %v", ErrInvalidData, e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *DataError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalidData.
func (e *DataError) Is(target error) bool { return target == ErrInvalidData }

// MarkerError is a lifecycle marker that was not used, and why. It
// matches ErrMarkerUntrusted or ErrMarkerMalformed and unwraps to the
// cause.
type MarkerError struct {
	// Marker is the marker manifest's digest.
	Marker digest.Digest
	// Kind is ErrMarkerUntrusted or ErrMarkerMalformed.
	Kind error
	// Err is the cause (the verification's causes, the parse error).
	Err error
}

// Error implements error.
func (e *MarkerError) Error() string { return fmt.Sprintf("%v: %s: %v", e.Kind, e.Marker, e.Err) }

// Unwrap returns the kind and the cause.
func (e *MarkerError) Unwrap() []error { return []error{e.Kind, e.Err} }

// ConflictError is returned, with ConflictFail, when sources of an
// image's own end of life disagree. It matches ErrConflict.
type ConflictError struct {
	// Repository and Digest name the entry.
	Repository string
	Digest     digest.Digest
	// Dates lists each disagreeing source and its date ("lifecycle-marker
	// 2027-01-01T00:00:00Z").
	Dates []string
}

// Error implements error.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("%v: %s@%s: %s", ErrConflict, e.Repository, e.Digest, strings.Join(e.Dates, ", "))
}

// Is reports whether target is ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }
