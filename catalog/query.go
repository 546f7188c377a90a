package catalog

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opencontainers/go-digest"
)

// Query selects entries. Every set field narrows the result (AND); the
// zero Query matches every entry. Results are ordered by repository, then
// digest, and paged with Cursor.
type Query struct {
	// Text is free text: every whitespace-separated word must occur,
	// case-insensitively, as a substring of one of the entry's terms (see
	// Terms): repository, tags, package names, vulnerability IDs and
	// aliases, label keys and values. Empty means no text condition.
	Text string `json:"text,omitempty"`
	// Repository matches the entry's repository exactly, or every
	// repository under it when it ends in "/". Empty means any.
	Repository string `json:"repository,omitempty"`
	// Digest matches the entry's digest or one of its children's.
	Digest digest.Digest `json:"digest,omitempty"`
	// Tag matches entries that carry this tag.
	Tag string `json:"tag,omitempty"`
	// Platform matches entries with a child of this platform
	// ("linux/arm64").
	Platform string `json:"platform,omitempty"`
	// Status matches entries of this status.
	Status Status `json:"status,omitempty"`
	// MaxSeverity is a severity ceiling (one of the Severity constants):
	// entries whose Vulnerabilities.Max ranks at most this. Unscanned
	// entries pass only the SeverityUnscanned ceiling. Empty means any.
	MaxSeverity string `json:"maxSeverity,omitempty"`
	// Fixable matches entries with at least one finding that has a fix.
	Fixable bool `json:"fixable,omitempty"`
	// License matches entries with a package declaring exactly this
	// licence string.
	License string `json:"license,omitempty"`
	// EndOfLifeAfter and EndOfLifeBefore bound the end-of-life date:
	// entries whose date is known and >= After and < Before. Zero means
	// unbounded on that side; setting either excludes entries without a
	// date. "Reaching end of life within N days" is Before = now + N days.
	EndOfLifeAfter  time.Time `json:"endOfLifeAfter,omitzero"`
	EndOfLifeBefore time.Time `json:"endOfLifeBefore,omitzero"`
	// Signer matches entries whose root signature verified with this
	// identity.
	Signer string `json:"signer,omitempty"`
	// Owner matches entries with this owner.
	Owner string `json:"owner,omitempty"`
	// Label matches entries with a label "key" (any value) or "key=value".
	Label string `json:"label,omitempty"`
	// Package is a reverse query: entries with a package of this name in
	// a version range. Nil means none.
	Package *PackageQuery `json:"package,omitempty"`
	// Vulnerability is a reverse query: entries with a trusted finding of
	// this ID or alias ("CVE-2024-1234"), compared case-insensitively.
	Vulnerability string `json:"vulnerability,omitempty"`
	// Trusted, if set, matches entries without problems (true) or with
	// problems (false).
	Trusted *bool `json:"trusted,omitempty"`
	// Visibility, if set, matches only the entries of repositories it
	// may see (access levels, see AccessPolicy): totals, facets and pages
	// count nothing else. Nil means every entry (code inside the service).
	Visibility *Visibility `json:"-"`

	// Facets asks for facet counts over every match.
	Facets bool `json:"facets,omitempty"`
	// FacetLimit caps the values returned per facet (the most frequent
	// first). Zero means 20.
	FacetLimit int `json:"facetLimit,omitempty"`
	// Now is the time end-of-life facet buckets are counted from. Zero
	// means time.Now().
	Now time.Time `json:"now,omitzero"`
	// Limit is the page size. Zero means 50; at most MaxLimit.
	Limit int `json:"limit,omitempty"`
	// Cursor continues a previous search (Result.Next); empty starts at
	// the beginning. A cursor is only valid with the same query.
	Cursor string `json:"cursor,omitempty"`
}

// MaxLimit caps Query.Limit.
const MaxLimit = 1000

// MaxTextBytes caps Query.Text.
const MaxTextBytes = 512

// PackageQuery selects entries by package.
type PackageQuery struct {
	// Name is the package name, or the source package name, compared
	// exactly. Required.
	Name string `json:"name"`
	// Ecosystem, if set, must equal the package's ecosystem, or its base
	// before ":" ("Debian" matches "Debian:12").
	Ecosystem string `json:"ecosystem,omitempty"`
	// Range is a version range (see ParseVersionRange), such as
	// ">= 3.0.0, < 3.0.14". Empty means every version.
	Range string `json:"range,omitempty"`
}

// Validate checks q and returns it with its defaults filled in (Limit,
// FacetLimit, Now). Errors wrap ErrInvalidQuery.
func (q Query) Validate() (Query, error) {
	if len(q.Text) > MaxTextBytes || !utf8.ValidString(q.Text) {
		return q, fmt.Errorf("%w: text longer than %d bytes or not UTF-8", ErrInvalidQuery, MaxTextBytes)
	}
	if q.Limit < 0 || q.Limit > MaxLimit {
		return q, fmt.Errorf("%w: limit %d not in 0..%d", ErrInvalidQuery, q.Limit, MaxLimit)
	}
	if q.Limit == 0 {
		q.Limit = 50
	}
	if q.FacetLimit < 0 {
		return q, fmt.Errorf("%w: facet limit %d", ErrInvalidQuery, q.FacetLimit)
	}
	if q.FacetLimit == 0 {
		q.FacetLimit = 20
	}
	if q.Now.IsZero() {
		q.Now = time.Now()
	}
	q.Now = q.Now.UTC()
	if !q.Status.Valid() {
		return q, fmt.Errorf("%w: status %q", ErrInvalidQuery, q.Status)
	}
	if q.MaxSeverity != "" {
		if _, ok := severityRanks[q.MaxSeverity]; !ok {
			return q, fmt.Errorf("%w: severity %q", ErrInvalidQuery, q.MaxSeverity)
		}
	}
	if q.Digest != "" {
		if err := q.Digest.Validate(); err != nil {
			return q, fmt.Errorf("%w: digest: %v", ErrInvalidQuery, err)
		}
	}
	if !q.EndOfLifeAfter.IsZero() && !q.EndOfLifeBefore.IsZero() && !q.EndOfLifeAfter.Before(q.EndOfLifeBefore) {
		return q, fmt.Errorf("%w: end-of-life window is empty", ErrInvalidQuery)
	}
	if q.Package != nil {
		if q.Package.Name == "" {
			return q, fmt.Errorf("%w: package query without a name", ErrInvalidQuery)
		}
		if _, err := ParseVersionRange(q.Package.Range); err != nil {
			return q, err
		}
	}
	if q.Cursor != "" {
		if _, err := DecodeCursor(q.Cursor); err != nil {
			return q, err
		}
	}
	return q, nil
}

// Words returns the words of q.Text, lower-cased, without duplicates.
func (q Query) Words() []string {
	w := strings.Fields(strings.ToLower(q.Text))
	slices.Sort(w)
	return slices.Compact(w)
}

// Result is one page of a search.
type Result struct {
	// Entries are the matches of this page, ordered by repository, then
	// digest.
	Entries []Summary `json:"entries"`
	// Total counts every match, not only this page.
	Total int `json:"total"`
	// Next is the cursor of the next page; empty on the last page.
	Next string `json:"next,omitempty"`
	// Facets counts every match by facet; nil unless Query.Facets.
	Facets *Facets `json:"facets,omitempty"`
}

// Summary is the part of an entry a search result shows.
type Summary struct {
	Repository      string               `json:"repository"`
	Digest          digest.Digest        `json:"digest"`
	MediaType       string               `json:"mediaType"`
	Tags            []string             `json:"tags,omitempty"`
	Platforms       []string             `json:"platforms,omitempty"`
	Status          Status               `json:"status"`
	Owner           string               `json:"owner,omitempty"`
	Labels          map[string]string    `json:"labels,omitempty"`
	Signature       Signature            `json:"signature"`
	Packages        int                  `json:"packages"`
	Vulnerabilities VulnerabilitySummary `json:"vulnerabilities"`
	Malware         MalwareSummary       `json:"malware"`
	EndOfLife       *EndOfLife           `json:"endOfLife,omitempty"`
	// Problems counts the entry's problems; zero means trusted.
	Problems int `json:"problems"`
	// AccessLevel is the restricted access level of the entry, empty for
	// a public one (filled when served, see View).
	AccessLevel string `json:"accessLevel,omitempty"`
}

// Summary returns the summary of a normalized entry.
func (e *Entry) Summary() Summary {
	s := Summary{
		Repository: e.Repository, Digest: e.Digest, MediaType: e.MediaType,
		Tags: slices.Clone(e.Tags), Platforms: slices.Clone(e.Platforms), Status: e.Status,
		Owner: e.Owner, Labels: maps.Clone(e.Labels), Signature: e.Signature, Packages: e.Packages,
		Vulnerabilities: e.Vulnerabilities, Malware: e.Malware, Problems: len(e.Problems), AccessLevel: e.AccessLevel,
	}
	s.Signature.Identities = slices.Clone(e.Signature.Identities)
	s.Vulnerabilities.DatabaseVersions = slices.Clone(e.Vulnerabilities.DatabaseVersions)
	s.Malware.Names = slices.Clone(e.Malware.Names)
	s.Malware.DatabaseVersions = slices.Clone(e.Malware.DatabaseVersions)
	if e.EndOfLife != nil {
		x := *e.EndOfLife
		x.Sources = nil // the entry has them; a summary names the date, its source and reason
		s.EndOfLife = &x
	}
	if s.Status == "" {
		s.Status = StatusActive
	}
	return s
}

// Facet names.
const (
	FacetPlatform  = "platform"
	FacetStatus    = "status"
	FacetSeverity  = "severity"  // Vulnerabilities.Max
	FacetFixable   = "fixable"   // "true" / "false"
	FacetLicense   = "license"   // one count per licence
	FacetEndOfLife = "endOfLife" // an EndOfLife bucket
	FacetSigner    = "signer"    // verified root signer identities; "" for unsigned
	FacetOwner     = "owner"     // "" for no owner
)

// Facets lists, per facet, the values found among the matches and how
// many matches have each, the most frequent first (ties by value), capped
// at Query.FacetLimit. An entry counts once per value it has (an image of
// two platforms counts for both).
type Facets struct {
	Platform  []FacetCount `json:"platform"`
	Status    []FacetCount `json:"status"`
	Severity  []FacetCount `json:"severity"`
	Fixable   []FacetCount `json:"fixable"`
	License   []FacetCount `json:"license"`
	EndOfLife []FacetCount `json:"endOfLife"`
	Signer    []FacetCount `json:"signer"`
	Owner     []FacetCount `json:"owner"`
}

// FacetCount is one value of a facet and its count.
type FacetCount struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// End-of-life facet buckets, relative to Query.Now.
const (
	EndOfLifeUnknown = "unknown" // no date
	EndOfLifePast    = "past"    // date <= now
	EndOfLife30      = "30d"     // within 30 days
	EndOfLife90      = "90d"     // within 31..90 days
	EndOfLife365     = "365d"    // within 91..365 days
	EndOfLifeLater   = "later"   // more than 365 days away
)

// EndOfLifeBucket returns the end-of-life facet bucket of date (zero for
// unknown) relative to now.
func EndOfLifeBucket(date, now time.Time) string {
	switch {
	case date.IsZero():
		return EndOfLifeUnknown
	case !date.After(now):
		return EndOfLifePast
	case !date.After(now.Add(30 * 24 * time.Hour)):
		return EndOfLife30
	case !date.After(now.Add(90 * 24 * time.Hour)):
		return EndOfLife90
	case !date.After(now.Add(365 * 24 * time.Hour)):
		return EndOfLife365
	}
	return EndOfLifeLater
}

// Cursor is the position after which a page starts.
type Cursor struct {
	Repository string        `json:"r"`
	Digest     digest.Digest `json:"d"`
}

// Encode returns the opaque form of c for Result.Next.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a cursor made by Cursor.Encode. Errors wrap
// ErrInvalidQuery.
func DecodeCursor(s string) (Cursor, error) {
	var c Cursor
	if len(s) > 4096 {
		return c, fmt.Errorf("%w: cursor too long", ErrInvalidQuery)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, fmt.Errorf("%w: cursor: %v", ErrInvalidQuery, err)
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Repository == "" || c.Digest.Validate() != nil {
		return c, fmt.Errorf("%w: malformed cursor", ErrInvalidQuery)
	}
	return c, nil
}

// After reports whether the entry (repository, d) comes after the cursor
// in result order.
func (c Cursor) After(repository string, d digest.Digest) bool {
	return cmp.Or(strings.Compare(repository, c.Repository), strings.Compare(string(d), string(c.Digest))) > 0
}

// Terms returns the free-text terms of a normalized entry, lower-cased,
// sorted, without duplicates: the repository, every tag, package name and
// source package name, vulnerability ID and alias, label key and value.
// Query.Text words match substrings of these terms.
func (e *Entry) Terms() []string {
	t := []string{e.Repository}
	t = append(t, e.Tags...)
	for _, c := range e.Children {
		for _, p := range c.Packages {
			t = append(t, p.Name, p.SourceName)
		}
		for _, f := range c.Findings {
			t = append(t, f.ID)
			t = append(t, f.Aliases...)
		}
	}
	for k, v := range e.Labels {
		t = append(t, k, v)
	}
	for i := range t {
		t[i] = strings.ToLower(t[i])
	}
	return sortedSet(t)
}

// Matches reports whether a normalized entry matches q (validated, see
// Query.Validate) apart from the cursor. It is the reference semantics of
// Query: stores may evaluate queries any way they like but must return
// what Matches selects (catalogtest checks it).
func (q Query) Matches(e *Entry) bool {
	if !q.Visibility.Visible(e.Repository) {
		return false
	}
	if words := q.Words(); len(words) > 0 {
		terms := e.Terms()
		for _, w := range words {
			if !slices.ContainsFunc(terms, func(t string) bool { return strings.Contains(t, w) }) {
				return false
			}
		}
	}
	if q.Repository != "" {
		if strings.HasSuffix(q.Repository, "/") {
			if !strings.HasPrefix(e.Repository, q.Repository) {
				return false
			}
		} else if e.Repository != q.Repository {
			return false
		}
	}
	if q.Digest != "" && e.Digest != q.Digest && !slices.ContainsFunc(e.Children, func(c Child) bool { return c.Digest == q.Digest }) {
		return false
	}
	if q.Tag != "" && !slices.Contains(e.Tags, q.Tag) {
		return false
	}
	if q.Platform != "" && !slices.Contains(e.Platforms, q.Platform) {
		return false
	}
	if q.Status != "" && cmp.Or(e.Status, StatusActive) != q.Status {
		return false
	}
	if q.MaxSeverity != "" && severityRanks[e.Vulnerabilities.Max()] > severityRanks[q.MaxSeverity] {
		return false
	}
	if q.Fixable && e.Vulnerabilities.Fixable == 0 {
		return false
	}
	if q.License != "" && !slices.Contains(e.Licenses, q.License) {
		return false
	}
	if !q.EndOfLifeAfter.IsZero() || !q.EndOfLifeBefore.IsZero() {
		if e.EndOfLife == nil {
			return false
		}
		d := e.EndOfLife.Date
		if !q.EndOfLifeAfter.IsZero() && d.Before(q.EndOfLifeAfter) {
			return false
		}
		if !q.EndOfLifeBefore.IsZero() && !d.Before(q.EndOfLifeBefore) {
			return false
		}
	}
	if q.Signer != "" && !slices.Contains(e.Signature.Identities, q.Signer) {
		return false
	}
	if q.Owner != "" && e.Owner != q.Owner {
		return false
	}
	if q.Label != "" {
		k, v, hasValue := strings.Cut(q.Label, "=")
		got, ok := e.Labels[k]
		if !ok || hasValue && got != v {
			return false
		}
	}
	if q.Package != nil && !q.Package.MatchesEntry(e) {
		return false
	}
	if q.Vulnerability != "" && !e.HasVulnerability(q.Vulnerability) {
		return false
	}
	if q.Trusted != nil && *q.Trusted != e.Trusted() {
		return false
	}
	return true
}

// HasVulnerability reports whether a trusted finding of e has id as its ID
// or an alias, case-insensitively.
func (e *Entry) HasVulnerability(id string) bool {
	for _, c := range e.Children {
		for _, f := range c.Findings {
			if strings.EqualFold(f.ID, id) || slices.ContainsFunc(f.Aliases, func(a string) bool { return strings.EqualFold(a, id) }) {
				return true
			}
		}
	}
	return false
}

// MatchesEntry reports whether a package of e matches pq.
func (pq *PackageQuery) MatchesEntry(e *Entry) bool {
	r, err := ParseVersionRange(pq.Range)
	if err != nil {
		return false
	}
	for _, c := range e.Children {
		for _, p := range c.Packages {
			if pq.MatchesPackage(r, p) {
				return true
			}
		}
	}
	return false
}

// MatchesPackage reports whether p has pq's name (or source name),
// ecosystem and a version in r (ParseVersionRange(pq.Range)).
func (pq *PackageQuery) MatchesPackage(r VersionRange, p Package) bool {
	if p.Name != pq.Name && p.SourceName != pq.Name {
		return false
	}
	if pq.Ecosystem != "" && p.Ecosystem != pq.Ecosystem && ecosystemBase(p.Ecosystem) != pq.Ecosystem {
		return false
	}
	return r.Contains(p.Ecosystem, p.Version)
}

// Page applies the cursor and limit of q to matches already sorted in
// result order, and returns the page and the next cursor. Stores that
// filter in Go use it.
func Page[T any](q Query, matches []T, key func(T) (string, digest.Digest)) ([]T, string) {
	start := 0
	if q.Cursor != "" {
		c, err := DecodeCursor(q.Cursor)
		if err == nil {
			start, _ = slices.BinarySearchFunc(matches, c, func(m T, c Cursor) int {
				r, d := key(m)
				return cmp.Or(strings.Compare(r, c.Repository), strings.Compare(string(d), string(c.Digest)))
			})
			if start < len(matches) {
				if r, d := key(matches[start]); r == c.Repository && d == c.Digest {
					start++
				}
			}
		}
	}
	end := min(start+q.Limit, len(matches))
	page := matches[start:end]
	next := ""
	if end < len(matches) && len(page) > 0 {
		r, d := key(page[len(page)-1])
		next = Cursor{Repository: r, Digest: d}.Encode()
	}
	return page, next
}

// CountFacets counts the facets of matching entries (see Facets) with
// values from FacetValues, capped at limit values per facet.
func CountFacets(entries []*Entry, now time.Time, limit int) *Facets {
	counts := map[string]map[string]int{}
	for _, e := range entries {
		for facet, values := range FacetValues(e, now) {
			m := counts[facet]
			if m == nil {
				m = map[string]int{}
				counts[facet] = m
			}
			for _, v := range values {
				m[v]++
			}
		}
	}
	return FacetsFromCounts(counts, limit)
}

// FacetValues returns, per facet name, the values a normalized entry
// counts for.
func FacetValues(e *Entry, now time.Time) map[string][]string {
	var eol time.Time
	if e.EndOfLife != nil {
		eol = e.EndOfLife.Date
	}
	signers := e.Signature.Identities
	if len(signers) == 0 {
		signers = []string{""}
	}
	return map[string][]string{
		FacetPlatform:  e.Platforms,
		FacetStatus:    {string(cmp.Or(e.Status, StatusActive))},
		FacetSeverity:  {e.Vulnerabilities.Max()},
		FacetFixable:   {fmt.Sprint(e.Vulnerabilities.Fixable > 0)},
		FacetLicense:   e.Licenses,
		FacetEndOfLife: {EndOfLifeBucket(eol, now)},
		FacetSigner:    signers,
		FacetOwner:     {e.Owner},
	}
}

// FacetsFromCounts builds Facets from counts per facet name and value,
// ordered by count (descending) then value, capped at limit per facet.
// Every facet is a non-nil list.
func FacetsFromCounts(counts map[string]map[string]int, limit int) *Facets {
	list := func(name string) []FacetCount {
		out := []FacetCount{}
		for v, n := range counts[name] {
			if n > 0 {
				out = append(out, FacetCount{Value: v, Count: n})
			}
		}
		slices.SortFunc(out, func(a, b FacetCount) int {
			return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Value, b.Value))
		})
		if limit > 0 && len(out) > limit {
			out = out[:limit]
		}
		return out
	}
	return &Facets{
		Platform: list(FacetPlatform), Status: list(FacetStatus), Severity: list(FacetSeverity),
		Fixable: list(FacetFixable), License: list(FacetLicense), EndOfLife: list(FacetEndOfLife),
		Signer: list(FacetSigner), Owner: list(FacetOwner),
	}
}
