package server

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
)

// maxParamBytes caps any single query parameter value.
const maxParamBytes = 1024

// params reads query parameters strictly: each at most once, valid
// UTF-8, bounded, and none that the route does not know.
type params struct {
	v    url.Values
	used map[string]bool
}

func newParams(r *http.Request) (*params, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Code: "invalid_query_string", Message: "malformed query string: " + err.Error()}
	}
	for _, name := range slices.Sorted(maps.Keys(v)) {
		vals := v[name]
		if len(vals) > 1 {
			return nil, badParam(name, "parameter %q given %d times", name, len(vals))
		}
		if len(vals[0]) > maxParamBytes || !utf8.ValidString(vals[0]) {
			return nil, badParam(name, "parameter %q longer than %d bytes or not UTF-8", name, maxParamBytes)
		}
	}
	return &params{v: v, used: map[string]bool{}}, nil
}

// str returns the trimmed value of name ("" when absent).
func (p *params) str(name string) string {
	p.used[name] = true
	return strings.TrimSpace(p.v.Get(name))
}

// has reports whether name was given (even empty).
func (p *params) has(name string) bool {
	p.used[name] = true
	_, ok := p.v[name]
	return ok
}

// boolean reads "true" / "false" ("" is false; "1"/"0" are accepted).
func (p *params) boolean(name string) (bool, error) {
	s := p.str(name)
	switch s {
	case "", "false", "0":
		return false, nil
	case "true", "1", "on":
		return true, nil
	}
	return false, badParam(name, "parameter %q must be true or false, not %q", name, s)
}

// optBool reads an optional boolean: nil when absent.
func (p *params) optBool(name string) (*bool, error) {
	if p.str(name) == "" {
		return nil, nil
	}
	b, err := p.boolean(name)
	if err != nil {
		return nil, err
	}
	return &b, nil
}

// integer reads an integer in [lo, hi]; def when absent.
func (p *params) integer(name string, def, lo, hi int) (int, error) {
	s := p.str(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badParam(name, "parameter %q must be an integer from %d to %d, not %q", name, lo, hi, s)
	}
	return n, nil
}

// date reads an RFC 3339 time or a 2006-01-02 date (midnight UTC).
func (p *params) date(name string) (time.Time, error) {
	s := p.str(name)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, badParam(name, "parameter %q must be a date (2006-01-02) or an RFC 3339 time, not %q", name, s)
}

// digest reads a digest.
func (p *params) digest(name string) (digest.Digest, error) {
	s := p.str(name)
	if s == "" {
		return "", nil
	}
	d, err := digest.Parse(s)
	if err != nil {
		return "", badParam(name, "parameter %q is not a digest (algorithm:hex): %v", name, err)
	}
	return d, nil
}

// done fails on parameters no reader asked for.
func (p *params) done() error {
	for _, name := range slices.Sorted(maps.Keys(p.v)) {
		if !p.used[name] {
			return badParam(name, "unknown parameter %q", name)
		}
	}
	return nil
}

// End-of-life window names accepted by the eol parameter: the facet
// buckets that a window can express.
var eolWindows = []string{catalog.EndOfLifePast, catalog.EndOfLife30, catalog.EndOfLife90, catalog.EndOfLife365, catalog.EndOfLifeLater}

// eolWindow returns the [after, before) window of an end-of-life bucket
// relative to now.
func eolWindow(bucket string, now time.Time) (after, before time.Time, ok bool) {
	day := 24 * time.Hour
	switch bucket {
	case catalog.EndOfLifePast:
		return time.Time{}, now.Add(time.Second), true
	case catalog.EndOfLife30:
		return now.Add(time.Second), now.Add(30*day + time.Second), true
	case catalog.EndOfLife90:
		return now.Add(30*day + time.Second), now.Add(90*day + time.Second), true
	case catalog.EndOfLife365:
		return now.Add(90*day + time.Second), now.Add(365*day + time.Second), true
	case catalog.EndOfLifeLater:
		return now.Add(365*day + time.Second), time.Time{}, true
	}
	return time.Time{}, time.Time{}, false
}

// searchParams are the parameters of every search-like route.
var searchParams = []string{"q", "repository", "digest", "tag", "platform", "status", "maxSeverity", "fixable",
	"license", "signer", "owner", "label", "trusted", "eol", "eolAfter", "eolBefore", "eolWithin",
	"package", "ecosystem", "range", "cve", "limit", "cursor"}

// query reads the search parameters into a catalog.Query (validated;
// Now is the handler's clock, truncated to the second so that pages and
// ETags are stable within a second).
func (h *Handler) query(p *params) (catalog.Query, error) { return h.queryFor(p, "") }

// queryFor is query for a route whose path names the package of a reverse
// query (pkg, empty for none).
func (h *Handler) queryFor(p *params, pkg string) (catalog.Query, error) {
	now := h.opts.Now().UTC().Truncate(time.Second)
	q := catalog.Query{
		Text:       p.str("q"),
		Repository: p.str("repository"),
		Tag:        p.str("tag"),
		Platform:   p.str("platform"),
		Status:     catalog.Status(p.str("status")),
		License:    p.str("license"),
		Signer:     p.str("signer"),
		Owner:      p.str("owner"),
		Label:      p.str("label"),
		Cursor:     p.str("cursor"),
		Now:        now,
	}
	var err error
	if len(q.Text) > catalog.MaxTextBytes {
		return q, badParam("q", "search text longer than %d bytes", catalog.MaxTextBytes)
	}
	if q.Digest, err = p.digest("digest"); err != nil {
		return q, err
	}
	if q.Status != "" && !q.Status.Valid() {
		return q, badParam("status", "status must be active, deprecated or retired, not %q", q.Status)
	}
	if s := p.str("maxSeverity"); s != "" {
		if _, ok := catalog.SeverityRank(s); !ok {
			return q, badParam("maxSeverity", "maxSeverity must be one of none, low, medium, high, critical, unknown, unscanned, not %q", s)
		}
		q.MaxSeverity = s
	}
	if q.Fixable, err = p.boolean("fixable"); err != nil {
		return q, err
	}
	if q.Trusted, err = p.optBool("trusted"); err != nil {
		return q, err
	}
	if b := p.str("eol"); b != "" {
		after, before, ok := eolWindow(b, now)
		if !ok {
			return q, badParam("eol", "eol must be one of %s, not %q", strings.Join(eolWindows, ", "), b)
		}
		q.EndOfLifeAfter, q.EndOfLifeBefore = after, before
	}
	if t, err := p.date("eolAfter"); err != nil {
		return q, err
	} else if !t.IsZero() {
		q.EndOfLifeAfter = t
	}
	if t, err := p.date("eolBefore"); err != nil {
		return q, err
	} else if !t.IsZero() {
		q.EndOfLifeBefore = t
	}
	if p.str("eolWithin") != "" {
		days, err := p.integer("eolWithin", 0, 0, 36500)
		if err != nil {
			return q, err
		}
		q.EndOfLifeBefore = now.Add(time.Duration(days) * 24 * time.Hour)
	}
	if !q.EndOfLifeAfter.IsZero() && !q.EndOfLifeBefore.IsZero() && !q.EndOfLifeAfter.Before(q.EndOfLifeBefore) {
		return q, badParam("eolBefore", "the end-of-life window is empty (eolAfter is not before eolBefore)")
	}
	name, eco, rng := p.str("package"), p.str("ecosystem"), p.str("range")
	if pkg != "" {
		if name != "" && name != pkg {
			return q, badParam("package", "parameter \"package\" contradicts the path")
		}
		name = pkg
	}
	switch {
	case name != "":
		q.Package = &catalog.PackageQuery{Name: name, Ecosystem: eco, Range: rng}
		if _, err := catalog.ParseVersionRange(rng); err != nil {
			return q, badParam("range", "bad version range %q: use constraints such as \">= 1.2.0, < 1.2.9\"", rng)
		}
	case eco != "" || rng != "":
		return q, badParam("package", "ecosystem and range need a package name")
	}
	q.Vulnerability = p.str("cve")
	if q.Limit, err = p.integer("limit", h.opts.PageSize, 1, h.opts.MaxPageSize); err != nil {
		return q, err
	}
	if q.Cursor != "" {
		if _, err := catalog.DecodeCursor(q.Cursor); err != nil {
			return q, badParam("cursor", "cursor is not one this server issued")
		}
	}
	if _, err := q.Validate(); err != nil {
		return q, &Error{Status: http.StatusBadRequest, Code: "invalid_query", Message: err.Error()}
	}
	return q, nil
}

// parseRef splits "repository@algorithm:hex[/suffix]" (the tail of an
// image path) into its parts. The repository may contain slashes but no
// "@"; the digest none.
func parseRef(ref string) (repository string, d digest.Digest, suffix string, err error) {
	repo, rest, ok := strings.Cut(ref, "@")
	if !ok || repo == "" {
		return "", "", "", notFound("no image %q: expected repository@digest", ref)
	}
	ds, suffix, _ := strings.Cut(rest, "/")
	d, err = digest.Parse(ds)
	if err != nil {
		return "", "", "", notFound("no image %q: %q is not a digest", ref, ds)
	}
	return repo, d, suffix, nil
}

// imagePath returns the portal path of an image.
func imagePath(repository string, d digest.Digest) string {
	return "/images/" + escapePath(repository) + "@" + d.String()
}

// apiImagePath returns the API path of an image.
func apiImagePath(repository string, d digest.Digest) string {
	return "/api/v1/images/" + escapePath(repository) + "@" + d.String()
}

// escapePath escapes each segment of a slash-separated path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
