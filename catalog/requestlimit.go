package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RequestLimit bounds how many requests one requester opens in a window
// (catalog/requests' per-requester rate limit).
type RequestLimit struct {
	// Max is how many requests the requester may have created after
	// Since; the request being created would be one more. Zero or
	// negative means no limit.
	Max int
	// Since starts the window (now minus its length).
	Since time.Time
}

// LimitedRequestStore is a RequestStore that checks a per-requester
// limit and inserts a request in one atomic step, so that several
// instances that create requests of one requester at the same time
// cannot together let more than the limit through. MemoryStore,
// catalog/sqlite and catalog/postgres implement it; catalog/requests uses
// it when its store does (catalogtest.RunRequests checks it).
type LimitedRequestStore interface {
	RequestStore
	// CreateRequestLimited is CreateRequest, after counting the requests
	// whose Requester is r.Requester and that were created after
	// limit.Since: when there are limit.Max or more, it writes nothing and
	// fails with a *RequestLimitError (which matches ErrRequestLimit),
	// even when an open request holds r's Key. The count and the insert
	// are atomic with respect to every other CreateRequestLimited on the
	// store, on any instance.
	CreateRequestLimited(ctx context.Context, r *Request, limit RequestLimit) (stored *Request, created bool, err error)
}

// ErrRequestLimit: the requester reached the RequestLimit (a
// *RequestLimitError).
var ErrRequestLimit = errors.New("catalog: request limit reached")

// RequestLimitError says that a requester reached a RequestLimit, and
// when the oldest of the requests that count leaves the window. It
// matches ErrRequestLimit.
type RequestLimitError struct {
	// Requester is who reached the limit; Max the limit.
	Requester string
	Max       int
	// Oldest is the creation time of the oldest request that counts (the
	// Max-th most recent): one more may be created once it leaves the
	// window.
	Oldest time.Time
}

func (e *RequestLimitError) Error() string {
	return fmt.Sprintf("catalog: request limit reached: %s created %d requests in the window", e.Requester, e.Max)
}

// Is reports whether target is ErrRequestLimit.
func (e *RequestLimitError) Is(target error) bool { return target == ErrRequestLimit }
