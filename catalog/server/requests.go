package server

import (
	"context"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/requests"
)

// Action names of requests (see Action).
const (
	// ActionRequest asks for an image by reference (Action.Reference).
	ActionRequest = "request"
	// ActionApproveRequest approves a pending request (Action.Request,
	// Action.Reference).
	ActionApproveRequest = "approve-request"
	// ActionDenyRequest denies a pending request.
	ActionDenyRequest = "deny-request"
)

// RequestDesk takes and decides requests for images:
// *requests.Service.
type RequestDesk interface {
	Submit(ctx context.Context, sub requests.Submission) (*requests.Answer, error)
	Approve(ctx context.Context, id, by, note string) (*catalog.Request, error)
	Deny(ctx context.Context, id, by, reason string) (*catalog.Request, error)
	Request(ctx context.Context, id string) (*catalog.Request, error)
	Requests(ctx context.Context, q catalog.RequestQuery) ([]*catalog.Request, error)
}

var _ RequestDesk = (*requests.Service)(nil)

// requestRoutes registers the request routes: the API and the portal
// pages. Without Options.Requests they answer 501.
func (h *Handler) requestRoutes() {
	type m = map[string]handlerFunc
	h.route("/api/v1/requests", m{"GET": h.apiRequests, "POST": h.apiSubmitRequest})
	h.route("/api/v1/requests/{request}", m{"GET": h.apiRequest})
	h.route("/api/v1/requests/{request}/{decision}", m{"POST": h.apiDecideRequest})
	h.route("/requests", m{"GET": h.pageRequests, "POST": h.pageSubmitRequest})
	h.route("/requests/new", m{"GET": h.pageNewRequest})
	h.route("/requests/{request}", m{"GET": h.pageRequest})
	h.route("/requests/{request}/{decision}", m{"POST": h.pageDecideRequest})
}

func (h *Handler) desk() (RequestDesk, error) {
	if h.opts.Requests == nil {
		return nil, &Error{Status: http.StatusNotImplemented, Code: "not_implemented", Message: "this service does not take requests for images"}
	}
	return h.opts.Requests, nil
}

// requestInput is the body of a request write (JSON for the API, a form
// for the portal).
type requestInput struct {
	Reference string `json:"reference"`
	Reason    string `json:"reason"`
	Owner     string `json:"owner"`
	Note      string `json:"note"`
}

// maxRequestBody caps the body of a request write: 8 KiB (the fields'
// own caps are smaller).
const maxRequestBody = 8 << 10

func readRequestInput(r *http.Request, api bool) (requestInput, error) {
	var in requestInput
	r.Body = http.MaxBytesReader(nil, r.Body, maxRequestBody)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case api && (ct == "application/json" || ct == ""):
		if err := decodeBody(r.Body, maxRequestBody, &in); err != nil {
			return in, err
		}
	case ct == "application/x-www-form-urlencoded" || ct == "multipart/form-data" && !api:
		if err := r.ParseForm(); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return in, bodyTooLarge(maxRequestBody)
			}
			return in, &Error{Status: http.StatusBadRequest, Code: "invalid_body", Message: "malformed form: " + err.Error()}
		}
		in = requestInput{Reference: r.PostForm.Get("reference"), Reason: r.PostForm.Get("reason"), Owner: r.PostForm.Get("owner"), Note: r.PostForm.Get("note")}
	default:
		return in, &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "send application/json"}
	}
	return in, nil
}

// authorizeRequest checks that writes are enabled and that the Authorizer
// allows a, and returns the caller's name.
func (h *Handler) authorizeRequest(r *http.Request, a Action) (string, error) {
	if h.opts.Authorizer == nil {
		return "", &Error{Status: http.StatusForbidden, Code: "read_only", Message: "this catalog is read-only: the service has no authorizer for write actions"}
	}
	if err := h.opts.Authorizer.Authorize(r, a); err != nil {
		h.log.InfoContext(r.Context(), "write refused", "action", a.Name, "reference", a.Reference, "request", a.Request, "err", err)
		if errors.Is(err, ErrUnauthenticated) {
			return "", &Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "sign in to " + strings.ReplaceAll(a.Name, "-", " ")}
		}
		msg := "you may not request images"
		if a.Name != ActionRequest {
			msg = "you may not decide requests"
		}
		return "", &Error{Status: http.StatusForbidden, Code: "forbidden", Message: msg}
	}
	who := ""
	if id, ok := h.opts.Authorizer.(Identifier); ok {
		who = strings.TrimSpace(id.Identify(r))
	}
	if who == "" {
		who = "anonymous"
	}
	return who, nil
}

// requestError maps the errors of a RequestDesk to answers.
func requestError(err error, w http.ResponseWriter) error {
	var ie *requests.InputError
	var se *requests.SourceError
	var rl *requests.RateLimitError
	switch {
	case errors.As(err, &ie):
		return badParam(ie.Field, "%s: %s", ie.Field, ie.Reason)
	case errors.As(err, &se):
		return &Error{Status: http.StatusUnprocessableEntity, Code: "source_not_allowed", Parameter: "reference",
			Message: se.Name + " is not from a source this catalog takes images from"}
	case errors.As(err, &rl):
		if w != nil {
			w.Header().Set("Retry-After", strconv.Itoa(int(max(rl.RetryAfter.Round(time.Second)/time.Second, 1))))
		}
		return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many requests; retry in " + rl.RetryAfter.Round(time.Second).String()}
	case errors.Is(err, requests.ErrWrongState):
		return &Error{Status: http.StatusConflict, Code: "wrong_state", Message: strings.TrimPrefix(err.Error(), requests.ErrWrongState.Error()+": ")}
	case errors.Is(err, catalog.ErrNotFound):
		return notFound("no such request")
	}
	return err
}

// submit runs a submission for the API and the portal.
func (h *Handler) submit(w http.ResponseWriter, r *http.Request, in requestInput) (*requests.Answer, error) {
	d, err := h.desk()
	if err != nil {
		return nil, err
	}
	if len(in.Reference) > catalog.MaxRequestReference {
		return nil, badParam("reference", "reference: longer than %d bytes", catalog.MaxRequestReference)
	}
	who, err := h.authorizeRequest(r, Action{Name: ActionRequest, Reference: strings.TrimSpace(in.Reference)})
	if err != nil {
		return nil, err
	}
	a, err := d.Submit(r.Context(), requests.Submission{Reference: in.Reference, Reason: in.Reason, Owner: in.Owner, Requester: who, Catalog: h.store(r)})
	if err != nil {
		return nil, requestError(err, w)
	}
	h.log.InfoContext(r.Context(), "write action", "action", ActionRequest, "reference", in.Reference, "requester", who)
	return a, nil
}

func (h *Handler) apiSubmitRequest(w http.ResponseWriter, r *http.Request) error {
	p, err := newParams(r)
	if err != nil {
		return err
	}
	if err := p.done(); err != nil {
		return err
	}
	in, err := readRequestInput(r, true)
	if err != nil {
		return err
	}
	a, err := h.submit(w, r, in)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if a.Created {
		status = http.StatusCreated
		w.Header().Set("Location", "/api/v1/requests/"+a.Request.ID)
	}
	a.Request = h.redact(r, a.Request)
	return h.writeJSON(w, r, status, a)
}

// requestCursor encodes and decodes list cursors.
func encodeRequestCursor(c catalog.RequestCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.Created.Format(time.RFC3339Nano) + "|" + c.ID))
}

func decodeRequestCursor(s string) (catalog.RequestCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		ts, id, ok := strings.Cut(string(b), "|")
		if t, terr := time.Parse(time.RFC3339Nano, ts); ok && terr == nil && id != "" {
			return catalog.RequestCursor{Created: t, ID: id}, nil
		}
	}
	return catalog.RequestCursor{}, badParam("cursor", "parameter %q is not a cursor this API returned", "cursor")
}

// listRequests reads the list parameters (state, requester, open, limit,
// cursor) and lists.
func (h *Handler) listRequests(r *http.Request) ([]*catalog.Request, string, catalog.RequestQuery, error) {
	var q catalog.RequestQuery
	d, err := h.desk()
	if err != nil {
		return nil, "", q, err
	}
	p, err := newParams(r)
	if err != nil {
		return nil, "", q, err
	}
	if s := p.str("state"); s != "" {
		q.State = catalog.RequestState(s)
		if !q.State.Valid() {
			return nil, "", q, badParam("state", "parameter %q must be pending, approved, acquiring, promoted, denied or failed, not %q", "state", s)
		}
	}
	q.Requester = p.str("requester")
	if q.Open, err = p.boolean("open"); err != nil {
		return nil, "", q, err
	}
	if q.Limit, err = p.integer("limit", h.opts.PageSize, 1, min(h.opts.MaxPageSize, catalog.MaxRequestLimit)); err != nil {
		return nil, "", q, err
	}
	if c := p.str("cursor"); c != "" {
		if q.Before, err = decodeRequestCursor(c); err != nil {
			return nil, "", q, err
		}
	}
	if err := p.done(); err != nil {
		return nil, "", q, err
	}
	list, err := d.Requests(r.Context(), q)
	if err != nil {
		return nil, "", q, err
	}
	next := ""
	if len(list) == q.Limit {
		next = encodeRequestCursor(catalog.CursorOf(list[len(list)-1]))
	}
	list = slices.DeleteFunc(list, func(req *catalog.Request) bool { return h.requestHidden(r, req) })
	for i := range list {
		list[i] = h.redact(r, list[i])
	}
	return list, next, q, nil
}

func (h *Handler) apiRequests(w http.ResponseWriter, r *http.Request) error {
	list, next, _, err := h.listRequests(r)
	if err != nil {
		return err
	}
	if list == nil {
		list = []*catalog.Request{}
	}
	out := map[string]any{"requests": list}
	if next != "" {
		out["next"] = next
	}
	return h.writeJSON(w, r, http.StatusOK, out)
}

func (h *Handler) oneRequest(r *http.Request) (*catalog.Request, error) {
	d, err := h.desk()
	if err != nil {
		return nil, err
	}
	p, err := newParams(r)
	if err != nil {
		return nil, err
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		p.str("done")
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	id := r.PathValue("request")
	if id == "" || len(id) > 128 {
		return nil, notFound("no such request")
	}
	req, err := d.Request(r.Context(), id)
	if err != nil {
		return nil, requestError(err, nil)
	}
	if h.requestHidden(r, req) {
		return nil, requestError(catalog.ErrNotFound, nil)
	}
	return req, nil
}

func (h *Handler) apiRequest(w http.ResponseWriter, r *http.Request) error {
	req, err := h.oneRequest(r)
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, h.redact(r, req))
}

// decide approves or denies the request of the path.
func (h *Handler) decide(w http.ResponseWriter, r *http.Request, api bool) (*catalog.Request, error) {
	decision := r.PathValue("decision")
	name := map[string]string{"approve": ActionApproveRequest, "deny": ActionDenyRequest}[decision]
	if name == "" {
		return nil, notFound("no decision %q: approve or deny", decision)
	}
	req, err := h.oneRequest(r)
	if err != nil {
		return nil, err
	}
	in, err := readRequestInput(r, api)
	if err != nil {
		return nil, err
	}
	if in.Reason == "" {
		in.Reason = in.Note
	}
	if name == ActionDenyRequest && strings.TrimSpace(in.Reason) == "" {
		return nil, badParam("reason", "a denial needs a reason, for the requester")
	}
	who, err := h.authorizeRequest(r, Action{Name: name, Request: req.ID, Reference: req.Reference})
	if err != nil {
		return nil, err
	}
	d, _ := h.desk()
	if name == ActionApproveRequest {
		req, err = d.Approve(r.Context(), req.ID, who, in.Reason)
	} else {
		req, err = d.Deny(r.Context(), req.ID, who, in.Reason)
	}
	if err != nil {
		return nil, requestError(err, w)
	}
	h.log.InfoContext(r.Context(), "write action", "action", name, "request", req.ID, "by", who)
	return req, nil
}

func (h *Handler) apiDecideRequest(w http.ResponseWriter, r *http.Request) error {
	req, err := h.decide(w, r, true)
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, h.redact(r, req))
}

// redact returns req as the caller of r may see it: the golden digest of
// an image in a repository they may not see is left out (a restricted
// image answers as an unknown one everywhere), and names of such images
// in its free text (the name a typosquat resembles, the rule, reasons,
// notes) are redacted (catalog.Visibility.Redact).
func (h *Handler) redact(r *http.Request, req *catalog.Request) *catalog.Request {
	v := h.visibility(r)
	if req == nil || !v.Restricts() {
		return req
	}
	c := req.Clone()
	changed := false
	if !v.Visible(c.Golden) {
		// Only those who asked see it (requestHidden). What the
		// acquisition found (the digests, an "unchanged" outcome: the
		// image was golden already) would tell them the hidden image
		// exists; that it was promoted is theirs to know.
		if c.Digest != "" || c.SourceDigest != "" || c.Outcome != "" {
			c.Digest, c.SourceDigest, c.Outcome, changed = "", "", "", true
		}
		for i := range c.History {
			if c.History[i].State == catalog.RequestPromoted && c.History[i].Note != "" {
				c.History[i].Note, changed = "", true
			}
		}
	}
	text := func(s *string) {
		if x, ok := v.Redact(*s); ok {
			*s, changed = x, true
		}
	}
	if c.Typosquat != nil {
		text(&c.Typosquat.Resembles)
		text(&c.Typosquat.Detail)
	}
	for i := range c.Reasons {
		text(&c.Reasons[i])
	}
	for i := range c.History {
		text(&c.History[i].Note)
	}
	text(&c.Reason)
	text(&c.Rule)
	text(&c.Decider)
	if !changed {
		return req
	}
	return c
}

// requestHidden reports whether req is about an image the caller of r
// may not see (its golden repository or its reference's repository is
// hidden) and the caller is neither its requester nor a follower: such a
// request answers as an unknown one and is left out of lists, since its
// state would tell that the hidden image exists. Those who asked see
// their request (redact).
func (h *Handler) requestHidden(r *http.Request, req *catalog.Request) bool {
	v := h.visibility(r)
	if req == nil || !v.Restricts() || v.Visible(req.Golden) && v.Visible(catalog.ReferenceRepository(req.Reference)) {
		return false
	}
	who := ""
	if id := h.identifier(); id != nil {
		who = strings.TrimSpace(id.Identify(r))
	}
	return who == "" || who != req.Requester && !slices.Contains(req.Followers, who)
}

// --- portal ---

// requestsPage is the requests page: the form, and the recent requests.
type requestsPage struct {
	Enabled  bool
	FormOnly bool // the form without the list
	Form     requestInput
	Error    *Error
	Requests []*catalog.Request
	State    string
	Next     string
}

func (h *Handler) pageRequests(w http.ResponseWriter, r *http.Request) error {
	list, next, q, err := h.listRequests(r)
	if err != nil && h.opts.Requests != nil {
		return err
	}
	body := requestsPage{Enabled: h.opts.Requests != nil && h.opts.Authorizer != nil, Requests: list, State: string(q.State)}
	if next != "" {
		body.Next = "/requests?cursor=" + urlQueryEscape(next)
		if q.State != "" {
			body.Next += "&state=" + urlQueryEscape(string(q.State))
		}
	}
	h.renderPage(w, r, http.StatusOK, "requests", pageData{Title: "Requests", Nav: "requests", Body: body})
	return nil
}

// pageNewRequest is the request form alone, its reference filled in from
// the ref parameter ("/requests/new?ref=docker.io/library/nginx:1.27").
func (h *Handler) pageNewRequest(w http.ResponseWriter, r *http.Request) error {
	p, err := newParams(r)
	if err != nil {
		return err
	}
	in := requestInput{Reference: p.str("ref")}
	if err := p.done(); err != nil {
		return err
	}
	if len(in.Reference) > catalog.MaxRequestReference {
		return badParam("ref", "parameter %q longer than %d bytes", "ref", catalog.MaxRequestReference)
	}
	body := requestsPage{Enabled: h.opts.Requests != nil && h.opts.Authorizer != nil, Form: in, FormOnly: true}
	h.renderPage(w, r, http.StatusOK, "requests", pageData{Title: "Request an image", Nav: "requests", Body: body})
	return nil
}

func (h *Handler) pageSubmitRequest(w http.ResponseWriter, r *http.Request) error {
	in, err := readRequestInput(r, false)
	if err != nil {
		return err
	}
	a, err := h.submit(w, r, in)
	if err != nil {
		e := h.classify(r, err)
		if e.Status >= 500 || e.Status == http.StatusNotImplemented {
			return err
		}
		// Show the form again, with what was typed and why it was refused.
		gr := r.Clone(r.Context())
		gr.Method = http.MethodGet
		list, _, _, _ := h.listRequests(gr)
		h.renderPage(w, r, e.Status, "requests", pageData{Title: "Requests", Nav: "requests",
			Body: requestsPage{Enabled: true, Form: in, Error: e, Requests: list}})
		return nil
	}
	if a.Golden != nil {
		http.Redirect(w, r, imagePath(a.Golden.Repository, a.Golden.Digest)+"?done=requested", http.StatusSeeOther)
		return nil
	}
	done := "submitted"
	if a.Joined {
		done = "joined"
	}
	http.Redirect(w, r, "/requests/"+a.Request.ID+"?done="+done, http.StatusSeeOther)
	return nil
}

// requestPage is the page of one request.
type requestPage struct {
	R       *catalog.Request
	Decide  bool
	Pull    string
	Done    string
	Timings []string
}

func (h *Handler) pageRequest(w http.ResponseWriter, r *http.Request) error {
	req, err := h.oneRequest(r)
	if err != nil {
		return err
	}
	req = h.redact(r, req)
	body := requestPage{R: req, Decide: req.State == catalog.RequestPending && h.opts.Authorizer != nil}
	if req.State == catalog.RequestPromoted && req.Digest != "" {
		body.Pull = req.Golden + "@" + req.Digest.String()
	}
	flash := map[string]string{
		"submitted": "Your request is recorded.",
		"joined":    "Someone asked for this image already: you joined their request and will hear of every change.",
		"approve":   "Request approved: its acquisition is queued.",
		"deny":      "Request denied.",
	}[r.URL.Query().Get("done")]
	h.renderPage(w, r, http.StatusOK, "request", pageData{Title: "Request " + req.Reference, Nav: "requests", Flash: flash, Body: body})
	return nil
}

func (h *Handler) pageDecideRequest(w http.ResponseWriter, r *http.Request) error {
	req, err := h.decide(w, r, false)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/requests/"+req.ID+"?done="+r.PathValue("decision"), http.StatusSeeOther)
	return nil
}
