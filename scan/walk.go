package scan

import (
	"context"

	"github.com/cssc-go/cssc/imagefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// The image filesystem walk moved to package imagefs. These aliases keep
// code written against scan compiling.

// Walk calls imagefs.Walk.
//
// Deprecated: use imagefs.Walk.
func Walk(ctx context.Context, fetcher content.Fetcher, desc ocispec.Descriptor, opts WalkOptions, fn WalkFunc) error {
	return imagefs.Walk(ctx, fetcher, desc, opts, fn)
}

// WalkOptions is imagefs.WalkOptions.
//
// Deprecated: use imagefs.WalkOptions.
type WalkOptions = imagefs.WalkOptions

// WalkFunc is imagefs.WalkFunc.
//
// Deprecated: use imagefs.WalkFunc.
type WalkFunc = imagefs.WalkFunc

// File is imagefs.File.
//
// Deprecated: use imagefs.File.
type File = imagefs.File

// Notice is imagefs.Notice.
//
// Deprecated: use imagefs.Notice.
type Notice = imagefs.Notice

// LimitError is imagefs.LimitError.
//
// Deprecated: use imagefs.LimitError.
type LimitError = imagefs.LimitError

// Errors of the walk, the same values as in package imagefs.
//
// Deprecated: use the errors of package imagefs.
var (
	ErrLimitExceeded     = imagefs.ErrLimitExceeded
	ErrInvalidLayer      = imagefs.ErrInvalidLayer
	ErrUnsafePath        = imagefs.ErrUnsafePath
	ErrSpecialFile       = imagefs.ErrSpecialFile
	ErrMissingLinkTarget = imagefs.ErrMissingLinkTarget
	ErrDuplicateEntry    = imagefs.ErrDuplicateEntry
)
