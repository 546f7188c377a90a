package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
)

// Action names: the write actions the handler offers.
const (
	// ActionRescan asks for a rescan of the image now.
	ActionRescan = "rescan"
	// ActionRetire retires the image (optionally naming a replacement).
	ActionRetire = "retire"
	// ActionSetOwner sets the team or person responsible for the image.
	ActionSetOwner = "set-owner"
)

// Action is a write the caller asks for, as the Authorizer sees it.
type Action struct {
	// Name is one of the Action constants.
	Name string
	// Repository and Digest name the image.
	Repository string
	Digest     digest.Digest
	// Owner is the new owner (ActionSetOwner).
	Owner string
	// Replacement is the replacement reference (ActionRetire), empty if
	// none.
	Replacement string
	// Reference is the image reference requested (ActionRequest) or that
	// a request asks for (ActionApproveRequest, ActionDenyRequest).
	Reference string
	// Request is the ID of the request decided.
	Request string
}

// Authorizer decides whether the request may perform the action. It is
// supplied by the embedding service, which knows how callers
// authenticate (a session, a token, headers set by an authenticating
// proxy). Authorize returns nil to allow; an error wrapping
// ErrUnauthenticated answers 401, any other error 403 (its text is not
// shown to the caller). Without an Authorizer the handler is read-only.
type Authorizer interface {
	Authorize(r *http.Request, a Action) error
}

// Identifier is implemented by an Authorizer that can name the caller of a
// request; the name is recorded with the write actions that keep one
// (RetireRequest.Author). The handler detects it by type assertion.
type Identifier interface {
	Identify(r *http.Request) string
}

// GroupIdentifier is implemented by an Identifier that also knows the
// groups of the caller of a request: access levels (Options.Access) are
// granted to groups. The handler detects it by type assertion. Groups
// must come from something the service trusts (its own session, or headers
// an authenticating proxy set on a connection from the proxy); a request
// it knows nothing about has no groups, and sees only public entries.
type GroupIdentifier interface {
	Identifier
	Groups(r *http.Request) []string
}

// AuthorizerFunc adapts a function to Authorizer.
type AuthorizerFunc func(r *http.Request, a Action) error

// Authorize calls f.
func (f AuthorizerFunc) Authorize(r *http.Request, a Action) error { return f(r, a) }

// ErrUnauthenticated is what an Authorizer wraps when the caller is not
// known at all (401 rather than 403).
var ErrUnauthenticated = errors.New("server: unauthenticated")

// Rescanner queues a rescan of one image now. It returns once the rescan
// is queued (or done); ErrNotFound (catalog) for an image it does not
// know.
type Rescanner interface {
	Rescan(ctx context.Context, repository string, d digest.Digest) error
}

// RescannerFunc adapts a function to Rescanner. With catalog/rescan:
//
//	server.RescannerFunc(func(ctx context.Context, repo string, d digest.Digest) error {
//		_, err := rescanner.Request(ctx, repo, d, false)
//		return err
//	})
type RescannerFunc func(ctx context.Context, repository string, d digest.Digest) error

// Rescan calls f.
func (f RescannerFunc) Rescan(ctx context.Context, repository string, d digest.Digest) error {
	return f(ctx, repository, d)
}

// RetireRequest is a request to retire an image.
type RetireRequest struct {
	Repository string
	Digest     digest.Digest
	// Replacement names the image that replaces it, empty if none.
	Replacement string
	// Reason says why, for the record. The handler requires one.
	Reason string
	// Author is who asked, as the Authorizer's Identify names the caller;
	// empty when it does not implement Identifier.
	Author string
}

// Retirer retires one image (as the lifecycle configuration says: mark,
// untag or archive).
type Retirer interface {
	Retire(ctx context.Context, req RetireRequest) error
}

// RetirerFunc adapts a function to Retirer.
type RetirerFunc func(ctx context.Context, req RetireRequest) error

// Retire calls f.
func (f RetirerFunc) Retire(ctx context.Context, req RetireRequest) error { return f(ctx, req) }

// OwnerSetter records the owner of one image.
type OwnerSetter interface {
	SetOwner(ctx context.Context, repository string, d digest.Digest, owner string) error
}

// StoreOwners is an OwnerSetter that writes the owner to the entry in
// Store. The owner is a catalog fact, not registry evidence: a rebuild
// of the store from the registry does not restore it unless the
// Cataloger sets owners itself.
type StoreOwners struct {
	Store catalog.Store
}

var _ OwnerSetter = StoreOwners{}

// SetOwner implements OwnerSetter.
func (s StoreOwners) SetOwner(ctx context.Context, repository string, d digest.Digest, owner string) error {
	e, err := s.Store.Get(ctx, repository, d)
	if err != nil {
		return err
	}
	e.Owner = owner
	return s.Store.Put(ctx, e)
}

// maxBodyBytes caps a write request's body.
const maxBodyBytes = 64 << 10

// maxFieldBytes caps one text field of a write request.
const maxFieldBytes = 512

// actionInput is the body of a write request (JSON for the API, a form
// for the portal).
type actionInput struct {
	Owner       string `json:"owner"`
	Replacement string `json:"replacement"`
	Reason      string `json:"reason"`
}

// readAction reads the request body of a write: JSON for the API (unknown
// fields refused), a URL-encoded form for the portal.
func readAction(r *http.Request, api bool) (actionInput, error) {
	var in actionInput
	r.Body = http.MaxBytesReader(nil, r.Body, maxBodyBytes)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case api && (ct == "application/json" || ct == ""):
		if err := decodeBody(r.Body, maxBodyBytes, &in); err != nil {
			return in, err
		}
	case ct == "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return in, &Error{Status: http.StatusBadRequest, Code: "invalid_body", Message: "malformed form: " + err.Error()}
		}
		in = actionInput{Owner: r.PostForm.Get("owner"), Replacement: r.PostForm.Get("replacement"), Reason: r.PostForm.Get("reason")}
	default:
		return in, &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "send application/json"}
	}
	for name, v := range map[string]*string{"owner": &in.Owner, "replacement": &in.Replacement, "reason": &in.Reason} {
		*v = strings.TrimSpace(*v)
		if len(*v) > maxFieldBytes || !utf8.ValidString(*v) || strings.ContainsAny(*v, "\x00\r\n") {
			return in, badParam(name, "field %q must be one line of at most %d bytes", name, maxFieldBytes)
		}
	}
	return in, nil
}

// decodeBody decodes body, capped at limit bytes by http.MaxBytesReader,
// into v: one JSON object, unknown fields refused; an empty body leaves v
// as it is.
func decodeBody(body io.Reader, limit int, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return bodyTooLarge(limit)
		}
		return &Error{Status: http.StatusBadRequest, Code: "invalid_body", Message: "request body is not the expected JSON object: " + err.Error()}
	}
	if dec.More() {
		return &Error{Status: http.StatusBadRequest, Code: "invalid_body", Message: "request body has data after the JSON object"}
	}
	return nil
}

// bodyTooLarge is the answer to a body over limit bytes.
func bodyTooLarge(limit int) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Message: fmt.Sprintf("request body over %d bytes", limit)}
}

// act runs a write action on an existing image: it checks that writes
// are enabled, that the action is implemented, that the image exists and
// that the Authorizer allows it, then performs it.
func (h *Handler) act(r *http.Request, name, repository string, d digest.Digest, in actionInput) error {
	if h.opts.Authorizer == nil {
		return &Error{Status: http.StatusForbidden, Code: "read_only", Message: "this catalog is read-only: the service has no authorizer for write actions"}
	}
	var perform func(ctx context.Context) error
	switch name {
	case ActionRescan:
		if h.opts.Rescanner != nil {
			perform = func(ctx context.Context) error { return h.opts.Rescanner.Rescan(ctx, repository, d) }
		}
	case ActionRetire:
		if in.Reason == "" {
			return badParam("reason", "a retirement needs a reason, for the record")
		}
		if h.opts.Retirer != nil {
			perform = func(ctx context.Context) error {
				req := RetireRequest{Repository: repository, Digest: d, Replacement: in.Replacement, Reason: in.Reason}
				if id := h.identifier(); id != nil {
					req.Author = id.Identify(r)
				}
				return h.opts.Retirer.Retire(ctx, req)
			}
		}
	case ActionSetOwner:
		if in.Owner == "" {
			return badParam("owner", "owner is required")
		}
		if h.opts.Owners != nil {
			perform = func(ctx context.Context) error { return h.opts.Owners.SetOwner(ctx, repository, d, in.Owner) }
		}
	default:
		return notFound("no action %q", name)
	}
	if perform == nil {
		return &Error{Status: http.StatusNotImplemented, Code: "not_implemented", Message: "this service does not offer the " + name + " action"}
	}
	if _, err := h.store(r).Get(r.Context(), repository, d); err != nil {
		return err
	}
	a := Action{Name: name, Repository: repository, Digest: d, Owner: in.Owner, Replacement: in.Replacement}
	if err := h.opts.Authorizer.Authorize(r, a); err != nil {
		h.log.InfoContext(r.Context(), "write refused", "action", name, "repository", repository, "digest", d, "err", err)
		if errors.Is(err, ErrUnauthenticated) {
			return &Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "sign in to " + name + " images"}
		}
		return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: "you may not " + name + " this image"}
	}
	if err := perform(r.Context()); err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "write action", "action", name, "repository", repository, "digest", d)
	return nil
}

// actions reports which write actions the portal offers.
func (h *Handler) actions() map[string]bool {
	if h.opts.Authorizer == nil {
		return nil
	}
	return map[string]bool{
		ActionRescan:   h.opts.Rescanner != nil,
		ActionRetire:   h.opts.Retirer != nil,
		ActionSetOwner: h.opts.Owners != nil,
	}
}

// identifier returns what names callers: Options.Identifier, else the
// Authorizer if it implements Identifier; nil if neither.
func (h *Handler) identifier() Identifier {
	if h.opts.Identifier != nil {
		return h.opts.Identifier
	}
	if id, ok := h.opts.Authorizer.(Identifier); ok {
		return id
	}
	return nil
}

// visibility returns what the caller of r may see: the entries of the
// access levels granted to the groups the GroupIdentifier names (none
// without one: an outsider sees public entries only).
func (h *Handler) visibility(r *http.Request) *catalog.Visibility {
	if h.opts.Access == nil {
		return nil
	}
	var groups []string
	if g, ok := h.identifier().(GroupIdentifier); ok {
		groups = g.Groups(r)
	}
	return h.opts.Access.For(groups...)
}

// store returns the catalog as the caller of r may see it: every read of a
// handler goes through it, so that a restricted entry answers everywhere
// exactly as an unknown one.
func (h *Handler) store(r *http.Request) *catalog.View {
	return catalog.NewView(h.opts.Store, h.visibility(r))
}
