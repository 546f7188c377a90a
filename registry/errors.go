package registry

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// Sentinel errors that callers branch on with errors.Is. Errors returned by
// this package (and by the repositories it opens) wrap one of these whenever
// the cause is known, keeping the underlying error in the chain.
var (
	// ErrNotFound: the manifest, blob, tag or repository does not exist.
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized: the registry refused the credentials (401 or 403).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrDigestMismatch: content did not match the digest it was fetched by.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrSizeExceeded: content is larger than a documented cap, or larger
	// than its descriptor says.
	ErrSizeExceeded = errors.New("size exceeded")
	// ErrInvalidReference: a reference or location string is malformed.
	ErrInvalidReference = errors.New("invalid reference")
	// ErrInvalidManifest: a manifest or index could not be parsed or is not
	// of a supported media type.
	ErrInvalidManifest = errors.New("invalid manifest")
	// ErrUnsupported: the storage does not support the operation.
	ErrUnsupported = errors.New("unsupported")
	// ErrAlreadyExists: the content or tag exists already.
	ErrAlreadyExists = errors.New("already exists")
	// ErrSizeMismatch: the registry sent content of another size than the
	// descriptor it was fetched by says (a manifest or index that lies
	// about the sizes of what it refers to, or a registry that lies in its
	// Content-Length).
	ErrSizeMismatch = errors.New("size mismatch")
	// ErrStalled: the registry sent no byte for the stall timeout
	// (Options.StallTimeout), after the retries the request allowed. The
	// error is a *StallError.
	ErrStalled = errors.New("registry stalled")
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
func classify(err error) error {
	if err == nil {
		return nil
	}
	for _, s := range []error{ErrNotFound, ErrUnauthorized, ErrDigestMismatch, ErrSizeExceeded,
		ErrInvalidReference, ErrInvalidManifest, ErrUnsupported, ErrAlreadyExists, ErrSizeMismatch, ErrStalled} {
		if errors.Is(err, s) {
			return err
		}
	}
	var resp *errcode.ErrorResponse
	switch {
	case errors.As(err, &resp) && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden):
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	case errors.As(err, &resp) && resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return fmt.Errorf("%w: %w", ErrUnauthorized, err)
	case errors.Is(err, errdef.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, content.ErrMismatchedDigest):
		return fmt.Errorf("%w: %w", ErrDigestMismatch, err)
	case errors.Is(err, content.ErrTrailingData), errors.Is(err, errdef.ErrSizeExceedsLimit):
		return fmt.Errorf("%w: %w", ErrSizeExceeded, err)
	case errors.Is(err, errdef.ErrInvalidReference), errors.Is(err, errdef.ErrInvalidDigest):
		return fmt.Errorf("%w: %w", ErrInvalidReference, err)
	case errors.Is(err, errdef.ErrAlreadyExists):
		return fmt.Errorf("%w: %w", ErrAlreadyExists, err)
	case errors.Is(err, errdef.ErrUnsupported):
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	case strings.Contains(err.Error(), "mismatch Content-Length"):
		// oras-go reports a response whose Content-Length is not the
		// descriptor's size with an untyped error; its text is pinned by
		// TestLyingSizesAreTyped.
		return fmt.Errorf("%w: %w", ErrSizeMismatch, err)
	}
	return err
}

func opError(op, location, ref string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Location: location, Ref: ref, Err: classify(err)}
}
