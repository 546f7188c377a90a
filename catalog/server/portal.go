package server

import (
	"bytes"
	"cmp"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
)

// pageData is what every page template gets.
type pageData struct {
	Site   string
	Title  string
	Nav    string // the active navigation item
	Query  string // the header search box
	Static map[string]string
	Flash  string
	Body   any
}

// renderPage renders page into a buffer and writes it (with an ETag).
func (h *Handler) renderPage(w http.ResponseWriter, r *http.Request, status int, page string, data pageData) {
	data.Site = h.opts.Title
	data.Static = h.staticURLs()
	t := h.tmpl[page]
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "base", data); err != nil {
		h.log.ErrorContext(r.Context(), "render page", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.write(w, r, status, "text/html; charset=utf-8", buf.Bytes())
}

// now returns the handler's clock, UTC, to the second.
func (h *Handler) now() time.Time { return h.opts.Now().UTC().Truncate(time.Second) }

// --- search page ---

type facetValue struct {
	Label  string
	Value  string
	Count  int
	URL    string // empty: not selectable
	Active bool
}

type facetGroup struct {
	Name   string
	Title  string
	Values []facetValue
}

// facetHead is how many values a facet shows before "more".
const facetHead = 8

// Head returns the values shown at once (and the active one).
func (g facetGroup) Head() []facetValue {
	if len(g.Values) <= facetHead+1 {
		return g.Values
	}
	return g.Values[:facetHead]
}

// Tail returns the values folded under "more".
func (g facetGroup) Tail() []facetValue {
	if len(g.Values) <= facetHead+1 {
		return nil
	}
	return g.Values[facetHead:]
}

type activeFilter struct {
	Label     string
	RemoveURL string
}

type searchRow struct {
	catalog.Summary
	URL     string
	Name    string // last path segment of the repository
	Prefix  string // the rest of the repository
	EOLDays int
	EOLSet  bool
}

type searchPage struct {
	Values   map[string]string
	Result   *catalog.Result
	Rows     []searchRow
	Facets   []facetGroup
	Active   []activeFilter
	Spread   template.HTML
	Legend   []SpreadSegment
	NextURL  string
	FirstURL string
	Advanced bool
	Error    *Error
	Statuses []string
	Sevs     []string
	EOLs     []string
}

var facetTitles = map[string]string{
	catalog.FacetStatus: "Status", catalog.FacetSeverity: "Worst finding at most", catalog.FacetPlatform: "Platform",
	catalog.FacetEndOfLife: "End of life", catalog.FacetLicense: "Licence", catalog.FacetSigner: "Signed by",
	catalog.FacetOwner: "Owner", catalog.FacetFixable: "Fixes",
}

var eolLabels = map[string]string{
	catalog.EndOfLifePast: "past", catalog.EndOfLife30: "within 30 days", catalog.EndOfLife90: "in 31–90 days",
	catalog.EndOfLife365: "in 91–365 days", catalog.EndOfLifeLater: "later", catalog.EndOfLifeUnknown: "not known",
}

// facetParams maps facet names to the search parameter that selects a
// value.
var facetParams = map[string]string{
	catalog.FacetStatus: "status", catalog.FacetPlatform: "platform", catalog.FacetLicense: "license",
	catalog.FacetSigner: "signer", catalog.FacetOwner: "owner", catalog.FacetSeverity: "maxSeverity",
	catalog.FacetEndOfLife: "eol", catalog.FacetFixable: "fixable",
}

var paramLabels = map[string]string{
	"q": "text", "repository": "repository", "digest": "digest", "tag": "tag", "platform": "platform", "status": "status",
	"maxSeverity": "worst finding at most", "fixable": "has fixes", "license": "licence", "signer": "signer",
	"owner": "owner", "label": "label", "trusted": "evidence complete", "eol": "end of life", "eolAfter": "end of life after",
	"eolBefore": "end of life before", "eolWithin": "end of life within days", "package": "package",
	"ecosystem": "ecosystem", "range": "versions", "cve": "vulnerability",
}

func (h *Handler) pageSearch(w http.ResponseWriter, r *http.Request) error {
	data := &searchPage{Values: map[string]string{}, Statuses: []string{"active", "deprecated", "retired"},
		Sevs: []string{"none", "low", "medium", "high", "critical"}, EOLs: eolWindows}
	p, err := newParams(r)
	if err != nil {
		return err
	}
	cur := url.Values{}
	for _, name := range searchParams {
		if v := strings.TrimSpace(p.v.Get(name)); v != "" && name != "cursor" && name != "limit" {
			cur.Set(name, v)
			data.Values[name] = v
		}
	}
	for _, name := range []string{"package", "ecosystem", "range", "cve", "label", "repository", "tag", "digest", "eolBefore", "eolAfter", "eolWithin", "trusted"} {
		if data.Values[name] != "" {
			data.Advanced = true
		}
	}
	q, err := h.query(p)
	if err == nil {
		err = p.done()
	}
	status := http.StatusOK
	var res *catalog.Result
	if err == nil {
		res, err = h.searchWithFacets(r.Context(), h.store(r), q)
	}
	if err != nil {
		e := h.classify(r, err)
		if e.Status != http.StatusBadRequest {
			return err
		}
		// A bad filter: show the page with the message and no results.
		data.Error, status = e, e.Status
		res = &catalog.Result{Facets: &catalog.Facets{}}
	}
	data.Result = res
	for _, s := range res.Entries {
		row := searchRow{Summary: s, URL: imagePath(s.Repository, s.Digest)}
		row.Prefix, row.Name = splitRepo(s.Repository)
		if s.EndOfLife != nil {
			row.EOLSet, row.EOLDays = true, daysUntil(s.EndOfLife.Date, h.now())
		}
		data.Rows = append(data.Rows, row)
	}
	with := func(name, value string) string {
		v := url.Values{}
		for k, vals := range cur {
			v[k] = slices.Clone(vals)
		}
		if value == "" {
			v.Del(name)
		} else {
			v.Set(name, value)
		}
		return "/" + queryString(v)
	}
	for _, name := range slices.Sorted(mapsKeys(data.Values)) {
		label := paramLabels[name]
		val := data.Values[name]
		if name == "eol" {
			val = eolLabels[val]
		}
		data.Active = append(data.Active, activeFilter{Label: label + ": " + val, RemoveURL: with(name, "")})
	}
	if res.Next != "" {
		v := url.Values{}
		for k, vals := range cur {
			v[k] = vals
		}
		v.Set("cursor", res.Next)
		if q.Limit != h.opts.PageSize {
			v.Set("limit", strconv.Itoa(q.Limit))
		}
		data.NextURL = "/" + queryString(v)
	}
	if q.Cursor != "" {
		data.FirstURL = with("cursor", "")
	}
	data.Facets, data.Spread, data.Legend = h.facetGroups(res.Facets, cur, with)
	title := "Search"
	if q.Text != "" {
		title = "Search: " + q.Text
	}
	h.renderPage(w, r, status, "search", pageData{Title: title, Nav: "search", Query: q.Text, Body: data})
	return nil
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// facetGroups turns facet counts into the sidebar: links that select or
// clear a value, with counts that match what the link will show.
func (h *Handler) facetGroups(f *catalog.Facets, cur url.Values, with func(name, value string) string) ([]facetGroup, template.HTML, []SpreadSegment) {
	if f == nil {
		f = &catalog.Facets{}
	}
	group := func(name string, counts []catalog.FacetCount, label func(string) string, selectable func(string) bool) facetGroup {
		g := facetGroup{Name: name, Title: facetTitles[name]}
		param := facetParams[name]
		for _, c := range counts {
			v := facetValue{Label: label(c.Value), Value: c.Value, Count: c.Count}
			if selectable(c.Value) {
				if cur.Get(param) == c.Value {
					v.Active, v.URL = true, with(param, "")
				} else {
					v.URL = with(param, c.Value)
				}
			}
			g.Values = append(g.Values, v)
		}
		return g
	}
	id := func(s string) string { return s }
	always := func(string) bool { return true }
	nonEmpty := func(s string) bool { return s != "" }
	var groups []facetGroup
	groups = append(groups, group(catalog.FacetStatus, f.Status, id, always))

	// Severity: the filter is a ceiling, so each value shows how many
	// images a click selects (every image at or below it).
	exact := map[string]int{}
	for _, c := range f.Severity {
		exact[c.Value] = c.Count
	}
	sev := facetGroup{Name: catalog.FacetSeverity, Title: facetTitles[catalog.FacetSeverity]}
	cum := 0
	for _, s := range []string{catalog.SeverityNone, catalog.SeverityLow, catalog.SeverityMedium, catalog.SeverityHigh, catalog.SeverityCritical} {
		cum += exact[s]
		label := s
		if s == catalog.SeverityNone {
			label = "no findings"
		}
		v := facetValue{Label: label, Value: s, Count: cum}
		if cur.Get("maxSeverity") == s {
			v.Active, v.URL = true, with("maxSeverity", "")
		} else {
			v.URL = with("maxSeverity", s)
		}
		sev.Values = append(sev.Values, v)
	}
	groups = append(groups, sev)
	var legend []SpreadSegment
	for _, s := range []string{catalog.SeverityCritical, catalog.SeverityHigh, catalog.SeverityMedium, catalog.SeverityLow, catalog.SeverityUnknown, catalog.SeverityNone, catalog.SeverityUnscanned} {
		legend = append(legend, SpreadSegment{Severity: s, Count: exact[s]})
	}

	fix := facetGroup{Name: catalog.FacetFixable, Title: facetTitles[catalog.FacetFixable]}
	for _, c := range f.Fixable {
		if c.Value == "true" {
			v := facetValue{Label: "has fixable findings", Value: "true", Count: c.Count, URL: with("fixable", "true")}
			if cur.Get("fixable") == "true" {
				v.Active, v.URL = true, with("fixable", "")
			}
			fix.Values = append(fix.Values, v)
		}
	}
	groups = append(groups, fix)
	order := []string{catalog.EndOfLifePast, catalog.EndOfLife30, catalog.EndOfLife90, catalog.EndOfLife365, catalog.EndOfLifeLater, catalog.EndOfLifeUnknown}
	counts := slices.Clone(f.EndOfLife)
	slices.SortFunc(counts, func(a, b catalog.FacetCount) int {
		return cmp.Compare(slices.Index(order, a.Value), slices.Index(order, b.Value))
	})
	eol := group(catalog.FacetEndOfLife, counts, func(s string) string { return eolLabels[s] }, func(s string) bool { return s != catalog.EndOfLifeUnknown })
	groups = append(groups, eol)
	groups = append(groups, group(catalog.FacetPlatform, f.Platform, id, nonEmpty))
	groups = append(groups, group(catalog.FacetSigner, f.Signer, func(s string) string {
		if s == "" {
			return "not signed"
		}
		return commonName(s)
	}, nonEmpty))
	groups = append(groups, group(catalog.FacetOwner, f.Owner, func(s string) string {
		if s == "" {
			return "no owner"
		}
		return s
	}, nonEmpty))
	groups = append(groups, group(catalog.FacetLicense, f.License, id, nonEmpty))
	return groups, spreadChart(legend), legend
}

// splitRepo splits a repository into everything up to the last slash and
// the last segment.
func splitRepo(repo string) (prefix, name string) {
	i := strings.LastIndex(repo, "/")
	if i < 0 {
		return "", repo
	}
	return repo[:i+1], repo[i+1:]
}

// commonName returns the CN of an X.509 subject string, or s.
func commonName(s string) string {
	for part := range strings.SplitSeq(s, ",") {
		if cn, ok := strings.CutPrefix(strings.TrimSpace(part), "CN="); ok {
			return cn
		}
	}
	return s
}

func daysUntil(t, now time.Time) int {
	d := t.Sub(now)
	days := int(d / (24 * time.Hour))
	if d < 0 && d%(24*time.Hour) != 0 {
		days--
	}
	return days
}

// --- image page ---

type childRow struct {
	catalog.Child
	SBOMURL string
}

type imagePage struct {
	E          *catalog.Entry
	Name       string
	Prefix     string
	Pull       string
	APIURL     string
	URL        string
	Children   []childRow
	Tags       []catalog.TagRecord // tag history of this digest
	Moved      []catalog.TagRecord // tags of this repository that moved away from this digest
	Findings   []FindingRow
	FindTotal  int
	Diff       *Diff
	Reports    []ReportRow
	Packages   []PackageRow
	PkgTotal   int
	Licenses   []LicenseCount
	Chart      template.HTML
	Points     []SeverityPoint
	ChartError string
	EOLDays    int
	Others     []otherImage
	Actions    map[string]bool
	ShowAll    bool
	Problems   []catalog.Problem
	Labels     [][2]string
	Registry   bool
	Upstream   []UpstreamTag
}

type otherImage struct {
	Digest  digest.Digest
	Tags    []string
	Compare string
}

// Rows shown before "show all" on the image page (page weight).
const (
	maxFindingRows = 150
	maxPackageRows = 120
)

func (h *Handler) pageImage(w http.ResponseWriter, r *http.Request) error {
	e, suffix, done, err := h.image(w, r, false)
	if err != nil || done {
		return err
	}
	if suffix != "" {
		return notFound("there is no page at %s", r.URL.Path)
	}
	p, err := newParams(r)
	if err != nil {
		return err
	}
	all, err := p.boolean("all")
	if err != nil {
		return err
	}
	flash := p.str("done")
	if err := p.done(); err != nil {
		return err
	}
	ctx := r.Context()
	now := h.now()
	v := &imagePage{E: e, Pull: h.opts.PullCommand(e.Repository, e.Digest), APIURL: apiImagePath(e.Repository, e.Digest),
		URL: imagePath(e.Repository, e.Digest), Actions: h.actions(), ShowAll: all, Problems: e.Problems, Registry: h.opts.Registry != nil}
	v.Prefix, v.Name = splitRepo(e.Repository)
	for _, c := range e.Children {
		row := childRow{Child: c}
		if c.SBOM != nil {
			row.SBOMURL = v.APIURL + "/sbom?digest=" + url.QueryEscape(c.Digest.String())
		}
		v.Children = append(v.Children, row)
	}
	hist, err := h.store(r).TagHistory(ctx, e.Repository, "")
	if err != nil {
		return err
	}
	others := map[digest.Digest]*otherImage{}
	var otherOrder []digest.Digest
	for _, t := range hist {
		if t.Digest == e.Digest {
			v.Tags = append(v.Tags, t)
			continue
		}
		if slices.ContainsFunc(hist, func(x catalog.TagRecord) bool { return x.Digest == e.Digest && x.Tag == t.Tag }) {
			v.Moved = append(v.Moved, t)
		}
		o, ok := others[t.Digest]
		if !ok {
			o = &otherImage{Digest: t.Digest, Compare: "/compare" + queryString(url.Values{"a": {e.Repository + "@" + t.Digest.String()}, "b": {e.Repository + "@" + e.Digest.String()}})}
			others[t.Digest] = o
			otherOrder = append(otherOrder, t.Digest)
		}
		if t.Current && !slices.Contains(o.Tags, t.Tag) {
			o.Tags = append(o.Tags, t.Tag)
		}
	}
	for _, d := range otherOrder {
		if len(v.Others) >= 12 {
			break
		}
		v.Others = append(v.Others, *others[d])
	}
	slices.SortStableFunc(v.Tags, func(a, b catalog.TagRecord) int {
		return cmp.Or(-cmpBool(a.Current, b.Current), strings.Compare(a.Tag, b.Tag))
	})
	if v.Upstream, err = h.upstream(ctx, r, e); err != nil {
		return err
	}
	v.Findings = findingRows(e)
	v.FindTotal = len(v.Findings)
	if h.opts.Registry != nil {
		v.Diff = h.diff(ctx, e, v.Findings)
		points, err := h.history(ctx, e)
		if err != nil {
			v.ChartError = "The report history could not be read from the registry: " + err.Error()
		} else if len(points) > 0 {
			v.Points, v.Chart = points, historyChart(points)
		}
	}
	if !all && len(v.Findings) > maxFindingRows {
		v.Findings = v.Findings[:maxFindingRows]
	}
	v.Reports = reportRows(e)
	pkgs := packageRows(e)
	v.Licenses = licenseCounts(pkgs)
	v.PkgTotal = len(pkgs)
	if !all && len(pkgs) > maxPackageRows {
		pkgs = pkgs[:maxPackageRows]
	}
	v.Packages = pkgs
	if e.EndOfLife != nil {
		v.EOLDays = daysUntil(e.EndOfLife.Date, now)
	}
	for _, k := range slices.Sorted(mapsKeys(e.Labels)) {
		v.Labels = append(v.Labels, [2]string{k, e.Labels[k]})
	}
	title := v.Name
	if len(e.Tags) > 0 {
		title += ":" + e.Tags[0]
	} else {
		title += "@" + shortDigest(e.Digest)
	}
	var msg string
	switch flash {
	case "":
	case ActionRescan:
		msg = "Rescan queued."
	case ActionRetire:
		msg = "Image retired."
	case ActionSetOwner:
		msg = "Owner updated."
	}
	h.renderPage(w, r, http.StatusOK, "image", pageData{Title: title, Nav: "search", Body: v, Flash: msg})
	return nil
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

func (h *Handler) pageImageWrite(w http.ResponseWriter, r *http.Request) error {
	repo, d, suffix, err := parseRef(r.PathValue("ref"))
	if err != nil {
		return err
	}
	name := map[string]string{"rescan": ActionRescan, "retire": ActionRetire, "owner": ActionSetOwner}[suffix]
	if name == "" {
		return notFound("no action %q", suffix)
	}
	in, err := readAction(r, false)
	if err != nil {
		return err
	}
	if err := h.act(r, name, repo, d, in); err != nil {
		return err
	}
	http.Redirect(w, r, imagePath(repo, d)+"?done="+name, http.StatusSeeOther)
	return nil
}

// --- CVE page ---

type cvePage struct {
	ID     string
	Result *VulnerabilityResult
	Rows   []cveRow
	Next   string
}

type cveRow struct {
	ImageFindings
	URL    string
	Name   string
	Prefix string
}

func (h *Handler) pageCVE(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if id == "" {
		p, err := newParams(r)
		if err != nil {
			return err
		}
		id = p.str("id")
		if err := p.done(); err != nil {
			return err
		}
		if id != "" {
			http.Redirect(w, r, "/cve/"+url.PathEscape(id), http.StatusSeeOther)
			return nil
		}
		h.renderPage(w, r, http.StatusOK, "cve", pageData{Title: "Vulnerabilities", Nav: "cve", Body: &cvePage{}})
		return nil
	}
	res, err := h.vulnerability(r, id)
	if err != nil {
		return err
	}
	data := &cvePage{ID: id, Result: res}
	for _, img := range res.Images {
		row := cveRow{ImageFindings: img, URL: imagePath(img.Repository, img.Digest)}
		row.Prefix, row.Name = splitRepo(img.Repository)
		data.Rows = append(data.Rows, row)
	}
	if res.Next != "" {
		data.Next = "/cve/" + url.PathEscape(id) + "?cursor=" + url.QueryEscape(res.Next)
	}
	h.renderPage(w, r, http.StatusOK, "cve", pageData{Title: id, Nav: "cve", Body: data})
	return nil
}

// --- comparison ---

type comparePage struct {
	A, B   string
	AE, BE *catalog.Entry
	C      *Comparison
	Error  *Error
}

func (h *Handler) pageCompare(w http.ResponseWriter, r *http.Request) error {
	p, err := newParams(r)
	if err != nil {
		return err
	}
	data := &comparePage{A: p.v.Get("a"), B: p.v.Get("b")}
	a, b, err := h.comparePair(r)
	status := http.StatusOK
	if err != nil {
		e := h.classify(r, err)
		if e.Status >= 500 {
			return err
		}
		data.Error, status = e, e.Status
	} else if a != nil && b != nil {
		data.AE, data.BE, data.C = a, b, compare(a, b)
	}
	h.renderPage(w, r, status, "compare", pageData{Title: "Compare", Nav: "compare", Body: data})
	return nil
}

// --- sweeps ---

type sweepsPage struct {
	Sweeps     []sweepRow
	Configured bool
	// TotalsWithheld: the caller may not see every image, and the sweeps'
	// image counts are withheld (see Handler.sweeps).
	TotalsWithheld bool
}

func (h *Handler) pageSweeps(w http.ResponseWriter, r *http.Request) error {
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
	s, err := h.sweeps(r, limit)
	if err != nil {
		return err
	}
	h.renderPage(w, r, http.StatusOK, "sweeps", pageData{Title: "Sweeps", Nav: "sweeps", Body: &sweepsPage{Sweeps: sweepRows(s), Configured: h.opts.Sweeps != nil,
		TotalsWithheld: h.visibility(r).Restricts()}})
	return nil
}

func shortDigest(d digest.Digest) string {
	enc := d.Encoded()
	if len(enc) > 12 {
		enc = enc[:12]
	}
	return d.Algorithm().String() + ":" + enc
}
