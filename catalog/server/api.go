package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/artifact"
	"github.com/cssc-go/cssc/catalog"
)

// routes registers every API and portal route. Patterns carry no method:
// route dispatches on the method so that a wrong one is a 405 in the
// route's own format.
func (h *Handler) routes() {
	type m = map[string]handlerFunc
	h.requestRoutes()
	h.route("/api/v1/openapi.json", m{"GET": h.apiOpenAPI})
	h.route("/api/v1/search", m{"GET": h.apiSearch})
	h.route("/api/v1/images/{ref...}", m{"GET": h.apiImage, "POST": h.apiImageWrite, "PUT": h.apiImageWrite})
	h.route("/api/v1/tags", m{"GET": h.apiTags})
	h.route("/api/v1/repositories", m{"GET": h.apiRepositories})
	h.route("/api/v1/vulnerabilities/{id}", m{"GET": h.apiVulnerability})
	h.route("/api/v1/packages/{name...}", m{"GET": h.apiPackage})
	h.route("/api/v1/licenses/{license...}", m{"GET": h.apiLicense})
	h.route("/api/v1/endoflife", m{"GET": h.apiEndOfLife})
	h.route("/api/v1/findings", m{"GET": h.apiFindings})
	h.route("/api/v1/compare", m{"GET": h.apiCompare})
	h.route("/api/v1/sweeps", m{"GET": h.apiSweeps})
	h.mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, notFound("no API route %s; see /api/v1/openapi.json", r.URL.Path))
	}))

	h.route("/{$}", m{"GET": h.pageSearch})
	h.route("/images/{ref...}", m{"GET": h.pageImage, "POST": h.pageImageWrite})
	h.route("/cve", m{"GET": h.pageCVE})
	h.route("/cve/{id}", m{"GET": h.pageCVE})
	h.route("/compare", m{"GET": h.pageCompare})
	h.route("/sweeps", m{"GET": h.pageSweeps})
	h.route("/static/{file}", m{"GET": h.serveStatic})
	h.mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, notFound("there is no page at %s", r.URL.Path))
	}))
}

func (h *Handler) apiOpenAPI(w http.ResponseWriter, r *http.Request) error {
	p, err := newParams(r)
	if err != nil {
		return err
	}
	if err := p.done(); err != nil {
		return err
	}
	h.write(w, r, http.StatusOK, "application/json", openAPIDocument)
	return nil
}

// search runs a search from the request's parameters (plus extra ones the
// route reads), with facets when asked.
func (h *Handler) search(r *http.Request, extra func(p *params, q *catalog.Query) error) (*catalog.Result, catalog.Query, error) {
	return h.searchFor(r, "", extra)
}

// searchFor is search for a route whose path names a package.
func (h *Handler) searchFor(r *http.Request, pkg string, extra func(p *params, q *catalog.Query) error) (*catalog.Result, catalog.Query, error) {
	p, err := newParams(r)
	if err != nil {
		return nil, catalog.Query{}, err
	}
	q, err := h.queryFor(p, pkg)
	if err != nil {
		return nil, q, err
	}
	if extra != nil {
		if err := extra(p, &q); err != nil {
			return nil, q, err
		}
	}
	if err := p.done(); err != nil {
		return nil, q, err
	}
	var res *catalog.Result
	if q.Facets {
		res, err = h.searchWithFacets(r.Context(), h.store(r), q)
	} else {
		res, err = h.store(r).Search(r.Context(), q)
	}
	if err != nil {
		return nil, q, err
	}
	return res, q, nil
}

func withFacets(p *params, q *catalog.Query) error {
	var err error
	q.Facets, err = p.boolean("facets")
	return err
}

func (h *Handler) apiSearch(w http.ResponseWriter, r *http.Request) error {
	res, _, err := h.search(r, withFacets)
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, res)
}

// image reads the entry named by the {ref...} path of r, or redirects a
// tag reference to its digest. It returns the entry and the path suffix.
func (h *Handler) image(w http.ResponseWriter, r *http.Request, api bool) (*catalog.Entry, string, bool, error) {
	ref := r.PathValue("ref")
	if !strings.Contains(ref, "@") && r.Method == http.MethodGet {
		// repository:tag -> the digest it points at now.
		slash := strings.LastIndex(ref, "/")
		if colon := strings.LastIndex(ref, ":"); colon > slash && slash >= 0 {
			repo, tag := ref[:colon], ref[colon+1:]
			tags, err := h.store(r).Tags(r.Context(), repo)
			if err != nil {
				return nil, "", false, err
			}
			if d, ok := tags[tag]; ok {
				target := imagePath(repo, d)
				if api {
					target = apiImagePath(repo, d)
				}
				http.Redirect(w, r, target, http.StatusFound)
				return nil, "", true, nil
			}
			return nil, "", false, notFound("no tag %q in %s", tag, repo)
		}
	}
	repo, d, suffix, err := parseRef(ref)
	if err != nil {
		return nil, "", false, err
	}
	e, err := h.store(r).Get(r.Context(), repo, d)
	if err != nil {
		return nil, "", false, err
	}
	return e, suffix, false, nil
}

func (h *Handler) apiImage(w http.ResponseWriter, r *http.Request) error {
	e, suffix, done, err := h.image(w, r, true)
	if err != nil || done {
		return err
	}
	p, err := newParams(r)
	if err != nil {
		return err
	}
	head, tail, _ := strings.Cut(suffix, "/")
	switch {
	case suffix == "":
		if err := p.done(); err != nil {
			return err
		}
		up, err := h.upstream(r.Context(), r, e)
		if err != nil {
			return err
		}
		return h.writeJSON(w, r, http.StatusOK, imageAnswer{Entry: e, Upstream: up})
	case suffix == "tags":
		if err := p.done(); err != nil {
			return err
		}
		recs, err := h.store(r).TagHistory(r.Context(), e.Repository, "")
		if err != nil {
			return err
		}
		out := []catalog.TagRecord{}
		for _, t := range recs {
			if t.Digest == e.Digest {
				out = append(out, t)
			}
		}
		return h.writeJSON(w, r, http.StatusOK, map[string]any{"repository": e.Repository, "digest": e.Digest, "tags": out})
	case suffix == "reports":
		if err := p.done(); err != nil {
			return err
		}
		return h.writeJSON(w, r, http.StatusOK, map[string]any{"reports": reportRows(e)})
	case head == "reports" && tail != "":
		if err := p.done(); err != nil {
			return err
		}
		d, err := digest.Parse(tail)
		if err != nil {
			return notFound("%q is not a report digest", tail)
		}
		i := slices.IndexFunc(e.Reports, func(rep catalog.Report) bool { return rep.Digest == d })
		if i < 0 {
			return notFound("image has no report %s", d)
		}
		if !e.Reports[i].Trusted {
			return &Error{Status: http.StatusNotFound, Code: "untrusted", Message: "report " + d.String() + " is not signed by the enterprise key or could not be read; it is not served"}
		}
		return h.streamArtifact(w, r, e.Repository, d, "report-"+d.Encoded()[:12]+".sarif.json", artifact.MediaTypeSARIF)
	case suffix == "sbom":
		c, err := h.childParam(p, e)
		if err != nil {
			return err
		}
		if err := p.done(); err != nil {
			return err
		}
		if c.SBOM == nil {
			return notFound("no trusted SBOM for %s", childName(*c))
		}
		return h.streamArtifact(w, r, e.Repository, c.SBOM.Digest, "sbom-"+c.Digest.Encoded()[:12]+".spdx.json",
			artifact.MediaTypeSPDX, artifact.MediaTypeCycloneDX)
	case suffix == "findings":
		format, err := exportFormat(p)
		if err != nil {
			return err
		}
		if err := p.done(); err != nil {
			return err
		}
		return h.exportEntries(w, r, format, e.Repository+"@"+e.Digest.String(), func(ctx context.Context, yield func(*catalog.Entry) error) error {
			return yield(e)
		})
	case suffix == "changes":
		if err := p.done(); err != nil {
			return err
		}
		if h.opts.Registry == nil {
			return errNoRegistry
		}
		return h.writeJSON(w, r, http.StatusOK, h.diff(r.Context(), e, findingRows(e)))
	case suffix == "history":
		if err := p.done(); err != nil {
			return err
		}
		points, err := h.history(r.Context(), e)
		if err != nil {
			return registryError(err)
		}
		return h.writeJSON(w, r, http.StatusOK, map[string]any{"points": points})
	}
	return notFound("no API route for images/.../%s", suffix)
}

// childParam selects the child named by the platform or digest parameter,
// or the only child that has an SBOM.
func (h *Handler) childParam(p *params, e *catalog.Entry) (*catalog.Child, error) {
	platform := p.str("platform")
	d, err := p.digest("digest")
	if err != nil {
		return nil, err
	}
	var withSBOM []string
	for i := range e.Children {
		c := &e.Children[i]
		switch {
		case platform != "" && c.Platform == platform, d != "" && c.Digest == d:
			return c, nil
		}
		if c.SBOM != nil {
			withSBOM = append(withSBOM, childName(*c))
		}
	}
	if platform != "" || d != "" {
		return nil, notFound("image has no platform %q", cmpOr(platform, d.String()))
	}
	if len(withSBOM) == 1 || len(e.Children) == 1 {
		for i := range e.Children {
			if e.Children[i].SBOM != nil || len(e.Children) == 1 {
				return &e.Children[i], nil
			}
		}
	}
	if len(withSBOM) == 0 {
		return nil, notFound("no trusted SBOM for this image")
	}
	return nil, badParam("platform", "the image has several platforms: give platform (one of %s)", strings.Join(withSBOM, ", "))
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (h *Handler) apiImageWrite(w http.ResponseWriter, r *http.Request) error {
	repo, d, suffix, err := parseRef(r.PathValue("ref"))
	if err != nil {
		return err
	}
	var name string
	switch {
	case suffix == "rescan" && r.Method == http.MethodPost:
		name = ActionRescan
	case suffix == "retire" && r.Method == http.MethodPost:
		name = ActionRetire
	case suffix == "owner" && r.Method == http.MethodPut:
		name = ActionSetOwner
	case suffix == "rescan" || suffix == "retire" || suffix == "owner":
		allow := map[string]string{"rescan": "POST", "retire": "POST", "owner": "PUT"}[suffix]
		w.Header().Set("Allow", allow)
		return &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: suffix + " takes " + allow}
	default:
		return notFound("no write action at images/.../%s", suffix)
	}
	p, err := newParams(r)
	if err != nil {
		return err
	}
	if err := p.done(); err != nil {
		return err
	}
	in, err := readAction(r, true)
	if err != nil {
		return err
	}
	if err := h.act(r, name, repo, d, in); err != nil {
		return err
	}
	if name == ActionRescan {
		return h.writeJSON(w, r, http.StatusAccepted, map[string]string{"status": "queued", "action": name})
	}
	e, err := h.store(r).Get(r.Context(), repo, d)
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, e)
}

func (h *Handler) apiTags(w http.ResponseWriter, r *http.Request) error {
	p, err := newParams(r)
	if err != nil {
		return err
	}
	repo, tag := p.str("repository"), p.str("tag")
	if err := p.done(); err != nil {
		return err
	}
	if repo == "" {
		return badParam("repository", "parameter \"repository\" is required")
	}
	st := h.store(r)
	cur, err := st.Tags(r.Context(), repo)
	if err != nil {
		return err
	}
	hist, err := st.TagHistory(r.Context(), repo, tag)
	if err != nil {
		return err
	}
	if hist == nil {
		hist = []catalog.TagRecord{}
	}
	if tag != "" {
		for t := range cur {
			if t != tag {
				delete(cur, t)
			}
		}
	}
	if len(cur) == 0 && len(hist) == 0 {
		return notFound("no tags recorded for %s", repo)
	}
	return h.writeJSON(w, r, http.StatusOK, map[string]any{"repository": repo, "current": cur, "history": hist})
}

func (h *Handler) apiRepositories(w http.ResponseWriter, r *http.Request) error {
	p, err := newParams(r)
	if err != nil {
		return err
	}
	if err := p.done(); err != nil {
		return err
	}
	repos, err := h.store(r).Repositories(r.Context())
	if err != nil {
		return err
	}
	if repos == nil {
		repos = []string{}
	}
	return h.writeJSON(w, r, http.StatusOK, map[string]any{"repositories": repos})
}

// pageEntries reads the entries of a search page through st, the
// caller's view (Handler.store), in one catalog.GetMany (one query on the
// SQLite and PostgreSQL stores, where one Get per image costs a round
// trip each). An entry gone or hidden since
// the search fails the request as Get would: catalog.ErrNotFound.
func pageEntries(ctx context.Context, st catalog.Store, page []catalog.Summary) ([]*catalog.Entry, error) {
	refs := make([]catalog.EntryRef, len(page))
	for i, s := range page {
		refs[i] = s.Ref()
	}
	out, err := catalog.GetMany(ctx, st, refs)
	if err != nil {
		return nil, err
	}
	for i, e := range out {
		if e == nil {
			return nil, fmt.Errorf("%w: %s@%s", catalog.ErrNotFound, refs[i].Repository, refs[i].Digest)
		}
	}
	return out, nil
}

// ImageFindings is an image with the findings a reverse query selected.
type ImageFindings struct {
	catalog.Summary
	Findings []FindingRow `json:"findings"`
}

// VulnerabilityResult answers a vulnerability reverse query.
type VulnerabilityResult struct {
	ID string `json:"id"`
	// Aliases are the other IDs the matching findings carry.
	Aliases []string `json:"aliases"`
	// Severity is the highest severity among the matching findings.
	Severity string          `json:"severity"`
	Total    int             `json:"total"`
	Next     string          `json:"next,omitempty"`
	Images   []ImageFindings `json:"images"`
}

// vulnerability finds the images affected by id, a page at a time, with
// the matching findings.
func (h *Handler) vulnerability(r *http.Request, id string) (*VulnerabilityResult, error) {
	if id == "" || len(id) > 256 || strings.ContainsAny(id, " \t\r\n\x00") {
		return nil, badParam("id", "%q is not a vulnerability ID", id)
	}
	res, _, err := h.search(r, func(p *params, q *catalog.Query) error {
		if q.Vulnerability != "" && !strings.EqualFold(q.Vulnerability, id) {
			return badParam("cve", "cve contradicts the path")
		}
		q.Vulnerability = id
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := &VulnerabilityResult{ID: id, Aliases: []string{}, Total: res.Total, Next: res.Next, Images: []ImageFindings{}, Severity: ""}
	best := -2
	entries, err := pageEntries(r.Context(), h.store(r), res.Entries)
	if err != nil {
		return nil, err
	}
	for i, s := range res.Entries {
		e := entries[i]
		img := ImageFindings{Summary: s, Findings: []FindingRow{}}
		for _, f := range findingRows(e) {
			if !strings.EqualFold(f.ID, id) && !slices.ContainsFunc(f.Aliases, func(a string) bool { return strings.EqualFold(a, id) }) {
				continue
			}
			img.Findings = append(img.Findings, f)
			for _, a := range append([]string{f.ID}, f.Aliases...) {
				if !strings.EqualFold(a, id) && !slices.Contains(out.Aliases, a) {
					out.Aliases = append(out.Aliases, a)
				}
			}
			rank, _ := catalog.SeverityRank(f.Severity)
			if f.Severity == catalog.SeverityUnknown {
				rank = -1
			}
			if rank > best {
				best, out.Severity = rank, f.Severity
			}
		}
		out.Images = append(out.Images, img)
	}
	slices.Sort(out.Aliases)
	return out, nil
}

func (h *Handler) apiVulnerability(w http.ResponseWriter, r *http.Request) error {
	out, err := h.vulnerability(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, out)
}

// ImagePackages is an image with the packages a reverse query selected.
type ImagePackages struct {
	catalog.Summary
	Packages []PackageRow `json:"packages"`
}

func (h *Handler) apiPackage(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	res, q, err := h.searchFor(r, name, nil)
	if err != nil {
		return err
	}
	pq := q.Package
	vr, _ := catalog.ParseVersionRange(pq.Range)
	out := struct {
		Name      string          `json:"name"`
		Ecosystem string          `json:"ecosystem,omitempty"`
		Range     string          `json:"range,omitempty"`
		Total     int             `json:"total"`
		Next      string          `json:"next,omitempty"`
		Images    []ImagePackages `json:"images"`
	}{Name: pq.Name, Ecosystem: pq.Ecosystem, Range: pq.Range, Total: res.Total, Next: res.Next, Images: []ImagePackages{}}
	entries, err := pageEntries(r.Context(), h.store(r), res.Entries)
	if err != nil {
		return err
	}
	out.Images = make([]ImagePackages, 0, len(res.Entries))
	for i, s := range res.Entries {
		img := ImagePackages{Summary: s, Packages: matchingPackageRows(entries[i], pq, vr)}
		if img.Packages == nil {
			img.Packages = []PackageRow{}
		}
		out.Images = append(out.Images, img)
	}
	return h.writeJSON(w, r, http.StatusOK, out)
}

func (h *Handler) apiLicense(w http.ResponseWriter, r *http.Request) error {
	lic := r.PathValue("license")
	res, _, err := h.search(r, func(p *params, q *catalog.Query) error {
		if q.License != "" && q.License != lic {
			return badParam("license", "license contradicts the path")
		}
		q.License = lic
		return withFacets(p, q)
	})
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, res)
}

func (h *Handler) apiEndOfLife(w http.ResponseWriter, r *http.Request) error {
	res, _, err := h.search(r, func(p *params, q *catalog.Query) error {
		if q.EndOfLifeAfter.IsZero() && q.EndOfLifeBefore.IsZero() {
			return badParam("eolWithin", "give an end-of-life window: eolWithin (days), eol, eolBefore or eolAfter")
		}
		return withFacets(p, q)
	})
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, res)
}

func (h *Handler) apiCompare(w http.ResponseWriter, r *http.Request) error {
	a, b, err := h.comparePair(r)
	if err != nil {
		return err
	}
	if a == nil || b == nil {
		return badParam("a", "parameters \"a\" and \"b\" (repository@digest) are required")
	}
	return h.writeJSON(w, r, http.StatusOK, compare(a, b))
}

// comparePair reads the a and b parameters (repository@digest); nil
// entries when a parameter is empty.
func (h *Handler) comparePair(r *http.Request) (a, b *catalog.Entry, err error) {
	p, err := newParams(r)
	if err != nil {
		return nil, nil, err
	}
	as, bs := p.str("a"), p.str("b")
	if err := p.done(); err != nil {
		return nil, nil, err
	}
	get := func(name, s string) (*catalog.Entry, error) {
		if s == "" {
			return nil, nil
		}
		repo, d, suffix, err := parseRef(s)
		if err != nil || suffix != "" {
			return nil, badParam(name, "parameter %q must be repository@digest, not %q", name, s)
		}
		e, err := h.store(r).Get(r.Context(), repo, d)
		if err != nil {
			if e := h.classify(r, err); e.Status == http.StatusNotFound {
				return nil, &Error{Status: http.StatusNotFound, Code: "not_found", Parameter: name, Message: fmt.Sprintf("no image %s in the catalog", s)}
			}
			return nil, err
		}
		return e, nil
	}
	if a, err = get("a", as); err != nil {
		return nil, nil, err
	}
	if b, err = get("b", bs); err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

func (h *Handler) apiSweeps(w http.ResponseWriter, r *http.Request) error {
	p, err := newParams(r)
	if err != nil {
		return err
	}
	limit, err := p.integer("limit", 50, 1, maxSweeps)
	if err != nil {
		return err
	}
	if err := p.done(); err != nil {
		return err
	}
	sweeps, err := h.sweeps(r, limit)
	if err != nil {
		return err
	}
	return h.writeJSON(w, r, http.StatusOK, map[string]any{"sweeps": sweeps})
}

// sweeps lists the recent sweeps. A caller who may not see every image
// (access levels) gets copies that say nothing of the hidden ones: the
// sweep of one hidden image is left out; the totals taken over the whole
// catalog (images, outcomes, images affected) and the reasons, which are
// free text that may count or name images, are withheld
// (Sweep.TotalsWithheld), except the reason of a skipped sweep (which
// touched no image) with hidden names redacted; failures keep only those
// of visible images. A sweep records no breakdown by repository, so its
// totals cannot be recomputed for one caller; withholding them is the
// only answer that is the same whether or not the hidden images exist.
func (h *Handler) sweeps(r *http.Request, limit int) ([]*catalog.Sweep, error) {
	if h.opts.Sweeps == nil {
		return []*catalog.Sweep{}, nil
	}
	s, err := h.opts.Sweeps.Sweeps(r.Context(), limit)
	if err != nil {
		return nil, err
	}
	if len(s) > limit {
		s = s[:limit]
	}
	if s == nil {
		s = []*catalog.Sweep{}
	}
	if v := h.visibility(r); v.Restricts() {
		out := make([]*catalog.Sweep, 0, len(s))
		for _, sw := range s {
			if sw.Subject != "" && !v.Visible(catalog.ReferenceRepository(sw.Subject)) {
				continue
			}
			out = append(out, scopeSweep(sw, v))
		}
		s = out
	}
	return s, nil
}

// scopeSweep returns the copy of sw a caller who sees v may read (see
// sweeps).
func scopeSweep(sw *catalog.Sweep, v *catalog.Visibility) *catalog.Sweep {
	c := *sw
	c.TotalsWithheld = true
	c.Images, c.Outcomes = 0, nil
	if sw.Diff != nil {
		d := *sw.Diff
		d.Affected = 0
		c.Diff = &d
	}
	if c.State == catalog.SweepSkipped {
		c.Reason, _ = v.Redact(c.Reason)
	} else {
		c.Reason = ""
	}
	c.Failures = nil
	for _, f := range sw.Failures {
		if jobVisible(v, f.Job) {
			f.Error, _ = v.Redact(f.Error)
			c.Failures = append(c.Failures, f)
		}
	}
	return &c
}

// jobVisible reports whether a job key ("<kind>/<...>/repository@digest",
// "upstream/acquire/repository:tag@digest/<sweep>") names no repository v
// hides. The key's repository is not delimited, so every path suffix of
// it is checked, with and without a ":tag": a key is hidden when any
// could be a hidden repository.
func jobVisible(v *catalog.Visibility, key string) bool {
	if i := strings.LastIndex(key, "@"); i >= 0 {
		key = key[:i]
	}
	for {
		if !v.Visible(key) || !v.Visible(catalog.ReferenceRepository(key)) {
			return false
		}
		i := strings.Index(key, "/")
		if i < 0 {
			return true
		}
		key = key[i+1:]
	}
}

// queryString returns the URL query of v with empty values dropped.
func queryString(v url.Values) string {
	for k, vals := range v {
		if len(vals) == 0 || vals[0] == "" {
			delete(v, k)
		}
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}
