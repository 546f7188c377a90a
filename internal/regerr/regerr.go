// Package regerr holds the sentinel errors of package registry and the
// classification of oras-go errors into them. It exists so that
// internal/manifest, which registry imports, can return the same sentinels
// without an import cycle; users see them as registry.ErrNotFound and so
// on.
package regerr

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

// The sentinels; registry documents each of them.
var (
	ErrNotFound         = errors.New("not found")
	ErrUnauthorized     = errors.New("unauthorized")
	ErrDigestMismatch   = errors.New("digest mismatch")
	ErrSizeExceeded     = errors.New("size exceeded")
	ErrInvalidReference = errors.New("invalid reference")
	ErrInvalidManifest  = errors.New("invalid manifest")
	ErrUnsupported      = errors.New("unsupported")
	ErrAlreadyExists    = errors.New("already exists")
	ErrSizeMismatch     = errors.New("size mismatch")
	ErrStalled          = errors.New("registry stalled")
)

// Classify wraps err with the sentinel that matches its cause, if it has no
// sentinel yet. It returns nil for nil.
func Classify(err error) error {
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
		// registry's TestLyingSizesAreTyped.
		return fmt.Errorf("%w: %w", ErrSizeMismatch, err)
	}
	return err
}
