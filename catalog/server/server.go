package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/registry"
)

// RepositoryOpener opens golden repositories by location, to stream SBOMs
// and reports and to read earlier reports. *registry.Client implements it.
type RepositoryOpener interface {
	Repository(ctx context.Context, location string) (registry.Repository, error)
}

var _ RepositoryOpener = (*registry.Client)(nil)

// Options configure New. Only Store is required.
type Options struct {
	// Store is the catalog the handler serves. Required.
	Store catalog.Store
	// Registry opens the golden repositories of the entries, to stream
	// SBOM and SARIF downloads and to read the previous report of an image
	// (what is new since the last report, the findings chart). Nil means
	// downloads answer 503 and the image page shows current findings only.
	Registry RepositoryOpener

	// Access gives every entry an access level from rules on repository
	// patterns. A restricted entry is invisible to callers outside its
	// groups in every route, list, count and download, and a direct URL
	// answers as for an unknown digest; the API and the image page say
	// who may pull an entry and how to ask for access. Nil means every
	// entry is public.
	Access *catalog.AccessPolicy
	// Identifier names the caller of a request and, when it implements
	// GroupIdentifier, their groups, to which access levels are granted.
	// Nil means the Authorizer, if it implements Identifier; without
	// either every caller is an outsider (public entries only).
	Identifier Identifier

	// Authorizer decides whether a request may perform a write action.
	// Nil means read-only: every write action is refused with 403.
	Authorizer Authorizer
	// Rescanner performs "rescan now". Nil means the action is not
	// offered (501).
	Rescanner Rescanner
	// Retirer performs "retire". Nil means the action is not offered
	// (501).
	Retirer Retirer
	// Owners performs "set owner". Nil means the action is not offered
	// (501); StoreOwners is an implementation that writes the store.
	Owners OwnerSetter
	// Requests takes and decides requests for images (the requests API
	// and portal pages; *requests.Service). Nil means they answer 501.
	// Submitting and deciding are write actions: the Authorizer decides
	// (ActionRequest, ActionApproveRequest, ActionDenyRequest), and its
	// Identify, if it has one, names the requester (else "anonymous",
	// which all callers then share for the rate limit).
	Requests RequestDesk
	// Tracks gives the upstream tracking state of each golden tag
	// (catalog/upstream keeps it in a catalog.TrackStore: catalog/sqlite,
	// catalog/postgres, catalog.MemoryStore): the image API answer lists
	// it under "upstream" and the image page shows it (source tag, last
	// check, last digest seen upstream, in sync / moved / acquisition
	// failed with the reasons / gone upstream / flapping and held), read
	// through the caller's access view. Nil means neither shows it.
	Tracks catalog.TrackReader
	// Sweeps lists recent rescans and lifecycle runs for the sweeps page
	// and /api/v1/sweeps. Nil means the page says that none are recorded.
	Sweeps SweepLister

	// Title names the portal in the header and page titles. Empty means
	// "Image catalog".
	Title string
	// PageSize is the default page size of lists. Zero means 50.
	PageSize int
	// MaxPageSize caps the limit parameter; a larger limit is a 400.
	// Zero means 200; values above catalog.MaxLimit are lowered to it.
	MaxPageSize int
	// MaxExportEntries caps the entries one findings export walks; an
	// export that matches more is refused with 400 before anything is
	// written. Zero means 100,000.
	MaxExportEntries int
	// FacetCacheTTL is how long facet counts of a filter set are served
	// without recounting; older counts are served while one background
	// recount runs, and counts older than ten times the TTL are recounted
	// before answering. Result pages and totals are always fresh. Zero
	// means 30 s; negative means count facets on every request.
	FacetCacheTTL time.Duration
	// ReportCacheSize is the number of decoded reports kept in memory
	// (reports are immutable: keyed by digest). Zero means 512.
	ReportCacheSize int
	// PullCommand returns the command shown on the image page to pull an
	// image by digest. Nil means "docker pull repository@digest" for
	// registry locations and an oras command for OCI layouts.
	PullCommand func(repository string, d digest.Digest) string
	// Now is the clock used for end-of-life windows and days left. Nil
	// means time.Now.
	Now func() time.Time
	// Logger receives internal errors and write actions. Nil means silent.
	Logger *slog.Logger
}

// Handler serves the catalog's JSON API and web portal. It is safe for
// concurrent use. Create one with New.
type Handler struct {
	opts    Options
	mux     *http.ServeMux
	log     *slog.Logger
	tmpl    map[string]*template.Template
	static  map[string]staticFile
	reports *reportCache
	facets  *facetCache
	csrf    *http.CrossOriginProtection
}

var _ http.Handler = (*Handler)(nil)

// ErrConfig is wrapped by the errors New returns for bad Options.
var ErrConfig = errors.New("server: bad configuration")

// New returns a Handler for opts.
func New(opts Options) (*Handler, error) {
	if opts.Store == nil {
		return nil, fmt.Errorf("%w: no store", ErrConfig)
	}
	if opts.Title == "" {
		opts.Title = "Image catalog"
	}
	if opts.PageSize < 0 || opts.MaxPageSize < 0 || opts.MaxExportEntries < 0 || opts.ReportCacheSize < 0 {
		return nil, fmt.Errorf("%w: negative size", ErrConfig)
	}
	if opts.MaxPageSize == 0 {
		opts.MaxPageSize = 200
	}
	opts.MaxPageSize = min(opts.MaxPageSize, catalog.MaxLimit)
	if opts.PageSize == 0 {
		opts.PageSize = 50
	}
	opts.PageSize = min(opts.PageSize, opts.MaxPageSize)
	if opts.MaxExportEntries == 0 {
		opts.MaxExportEntries = 100_000
	}
	if opts.ReportCacheSize == 0 {
		opts.ReportCacheSize = 512
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FacetCacheTTL == 0 {
		opts.FacetCacheTTL = 30 * time.Second
	}
	if opts.PullCommand == nil {
		opts.PullCommand = defaultPullCommand
	}
	h := &Handler{
		opts:    opts,
		mux:     http.NewServeMux(),
		log:     opts.Logger,
		reports: newReportCache(opts.ReportCacheSize),
		facets:  newFacetCache(opts.FacetCacheTTL, time.Now),
		csrf:    http.NewCrossOriginProtection(),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if h.tmpl, err = parseTemplates(); err != nil {
		return nil, err
	}
	if h.static, err = loadStatic(); err != nil {
		return nil, err
	}
	h.csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, &Error{Status: http.StatusForbidden, Code: "cross_origin", Message: "cross-origin write refused"})
	}))
	h.routes()
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	h.mux.ServeHTTP(w, r)
}

// handlerFunc is a route: it writes a response or returns an error that
// fail turns into one.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route registers pattern (a path without a method) with one handler per
// method; other methods get a 405 that lists the allowed ones. GET routes
// answer HEAD too.
func (h *Handler) route(pattern string, methods map[string]handlerFunc) {
	if g, ok := methods[http.MethodGet]; ok {
		if _, ok := methods[http.MethodHead]; !ok {
			methods[http.MethodHead] = g
		}
	}
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut} {
		if _, ok := methods[m]; ok {
			allow = append(allow, m)
		}
	}
	allowed := strings.Join(allow, ", ")
	h.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := methods[r.Method]
		if !ok {
			w.Header().Set("Allow", allowed)
			h.fail(w, r, &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "method " + r.Method + " not allowed; allowed: " + allowed})
			return
		}
		var err error
		if r.Method == http.MethodPost || r.Method == http.MethodPut {
			if cerr := h.csrf.Check(r); cerr != nil {
				err = &Error{Status: http.StatusForbidden, Code: "cross_origin", Message: "cross-origin write refused"}
			} else {
				err = f(w, r)
			}
		} else {
			err = f(w, r)
		}
		if err != nil {
			h.fail(w, r, err)
		}
	}))
}

// Error is an error with the HTTP status and the JSON body it answers
// with. Handlers return it for bad requests; the API encodes it as
// {"error": {...}}.
type Error struct {
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Code is a stable, machine-readable code ("invalid_parameter",
	// "not_found", "read_only", ...).
	Code string `json:"code"`
	// Message explains, in one line, for people.
	Message string `json:"message"`
	// Parameter names the offending query parameter or field, if any.
	Parameter string `json:"parameter,omitempty"`
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func badParam(name, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_parameter", Parameter: name, Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Code: "not_found", Message: fmt.Sprintf(format, args...)}
}

// classify maps any error to an *Error; internal errors are logged and
// answered without details.
func (h *Handler) classify(r *http.Request, err error) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, catalog.ErrNotFound):
		return notFound("no such image in the catalog")
	case errors.Is(err, catalog.ErrInvalidQuery):
		return &Error{Status: http.StatusBadRequest, Code: "invalid_query", Message: err.Error()}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "request cancelled or timed out"}
	}
	h.log.ErrorContext(r.Context(), "catalog server", "method", r.Method, "path", r.URL.Path, "err", err)
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
}

// fail writes err as JSON for API paths and as an HTML page otherwise.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := h.classify(r, err)
	if isAPI(r) {
		body, _ := json.Marshal(map[string]*Error{"error": e})
		h.write(w, r, e.Status, "application/json", append(body, '\n'))
		return
	}
	h.renderPage(w, r, e.Status, "error", pageData{Title: http.StatusText(e.Status), Body: e})
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/api/") }

// writeJSON encodes v and writes it.
func (h *Handler) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	h.write(w, r, status, "application/json", buf.Bytes())
	return nil
}

var gzipPool = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }}

// write sends a complete body with an ETag (for 200 answers to GET and
// HEAD), answering If-None-Match with 304, gzip-compressed when the client
// accepts it.
func (h *Handler) write(w http.ResponseWriter, r *http.Request, status int, contentType string, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", contentType)
	if hd.Get("Cache-Control") == "" {
		hd.Set("Cache-Control", "no-cache")
	}
	if strings.HasPrefix(contentType, "text/html") {
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
	}
	cacheable := status == http.StatusOK && (r.Method == http.MethodGet || r.Method == http.MethodHead)
	gz := len(body) > 1024 && acceptsGzip(r)
	hd.Add("Vary", "Accept-Encoding")
	if cacheable {
		sum := sha256.Sum256(body)
		tag := hex.EncodeToString(sum[:16])
		etag := `"` + tag + `"`
		if gz {
			etag = `"` + tag + `-gzip"`
		}
		hd.Set("ETag", etag)
		if etagMatches(r.Header.Get("If-None-Match"), tag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if gz {
		var buf bytes.Buffer
		zw := gzipPool.Get().(*gzip.Writer)
		zw.Reset(&buf)
		_, _ = zw.Write(body)
		_ = zw.Close()
		gzipPool.Put(zw)
		body = buf.Bytes()
		hd.Set("Content-Encoding", "gzip")
	}
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

const contentSecurityPolicy = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(q), 64)
			return err == nil && v > 0
		}
		return true
	}
	return false
}

// etagMatches reports whether an If-None-Match header names the entity
// tag (weak comparison; the -gzip variant is the same entity).
func etagMatches(header, tag string) bool {
	if header == "" {
		return false
	}
	for part := range strings.SplitSeq(header, ",") {
		p := strings.TrimSpace(part)
		if p == "*" {
			return true
		}
		p = strings.TrimPrefix(p, "W/")
		p = strings.Trim(p, `"`)
		p = strings.TrimSuffix(p, "-gzip")
		if p == tag {
			return true
		}
	}
	return false
}

func defaultPullCommand(repository string, d digest.Digest) string {
	if dir, ok := strings.CutPrefix(repository, "oci:"); ok {
		return "oras copy --from-oci-layout " + dir + "@" + d.String() + " <destination>"
	}
	if name, ok := strings.CutPrefix(repository, "mem:"); ok {
		return "(in-memory repository) " + name + "@" + d.String()
	}
	return "docker pull " + repository + "@" + d.String()
}
