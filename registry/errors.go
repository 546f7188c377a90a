package registry

import (
	"fmt"

	"github.com/cssc-go/cssc/internal/regerr"
)

// Sentinel errors that callers branch on with errors.Is. Errors returned by
// this package (and by the repositories it opens) wrap one of these whenever
// the cause is known, keeping the underlying error in the chain.
var (
	// ErrNotFound: the manifest, blob, tag or repository does not exist.
	ErrNotFound = regerr.ErrNotFound
	// ErrUnauthorized: the registry refused the credentials (401 or 403).
	ErrUnauthorized = regerr.ErrUnauthorized
	// ErrDigestMismatch: content did not match the digest it was fetched by.
	ErrDigestMismatch = regerr.ErrDigestMismatch
	// ErrSizeExceeded: content is larger than a documented cap, or larger
	// than its descriptor says.
	ErrSizeExceeded = regerr.ErrSizeExceeded
	// ErrInvalidReference: a reference or location string is malformed.
	ErrInvalidReference = regerr.ErrInvalidReference
	// ErrInvalidManifest: a manifest or index could not be parsed or is not
	// of a supported media type.
	ErrInvalidManifest = regerr.ErrInvalidManifest
	// ErrUnsupported: the storage does not support the operation.
	ErrUnsupported = regerr.ErrUnsupported
	// ErrAlreadyExists: the content or tag exists already.
	ErrAlreadyExists = regerr.ErrAlreadyExists
	// ErrSizeMismatch: the registry sent content of another size than the
	// descriptor it was fetched by says (a manifest or index that lies
	// about the sizes of what it refers to, or a registry that lies in its
	// Content-Length).
	ErrSizeMismatch = regerr.ErrSizeMismatch
	// ErrStalled: the registry sent no byte for the stall timeout
	// (Options.StallTimeout), after the retries the request allowed. The
	// error is a *StallError.
	ErrStalled = regerr.ErrStalled
)

// Error is the error of one operation on one repository. It unwraps to its
// cause (which carries one of the sentinels when the cause is known), like
// fs.PathError.
type Error struct {
	Op       string // operation: "fetch", "push", "resolve", "tag", ...
	Location string // repository location
	Ref      string // digest or tag the operation was about, if any
	Err      error
}

func (e *Error) Error() string {
	if e.Ref != "" {
		return fmt.Sprintf("%s %s@%s: %v", e.Op, e.Location, e.Ref, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Location, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// classify wraps err with the sentinel that matches its cause, if it has no
// sentinel of this package yet. It returns nil for nil.
func classify(err error) error { return regerr.Classify(err) }

func opError(op, location, ref string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Location: location, Ref: ref, Err: classify(err)}
}
