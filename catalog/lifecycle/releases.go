package lifecycle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/package-url/packageurl-go"
)

// Caps of product-release data (ReadReleases and ParseProduct refuse
// more).
const (
	// MaxDataBytes caps a data file: 32 MiB.
	MaxDataBytes = 32 << 20
	// MaxProducts caps the products of a data file: 10,000.
	MaxProducts = 10000
	// MaxCycles caps the release cycles of one product: 10,000.
	MaxCycles = 10000
	// maxName caps product names, cycles and other strings: 256 bytes.
	maxName = 256
)

// Releases is offline product-release data in the shape of
// endoflife.date's API, and the mapping of catalog images to its
// products. Its JSON form (ReadReleases):
//
//	{
//	  "products": {
//	    "debian": [{"cycle": "12", "releaseDate": "2023-06-10", "eol": "2026-06-10", "support": "2026-06-10", "latest": "12.7"}],
//	    "go":     [{"cycle": "1.22", "releaseDate": "2024-02-06", "eol": "2025-02-11", "support": true}],
//	    "nginx":  [{"cycle": "1.26", "releaseDate": "2024-04-23", "eol": "2025-04-23"}]
//	  },
//	  "images": [
//	    {"product": "nginx", "repository": "*/golden/library/nginx"},
//	    {"product": "debian", "distribution": "Debian"},
//	    {"product": "go", "purl": "pkg:golang/stdlib"}
//	  ]
//	}
//
// Each product's array is exactly what https://endoflife.date/api/<product>.json
// answers, so it can be fetched by a program outside the catalog and
// dropped in. Decoding is strict: an unknown field, a date that does not
// exist, or dates in an impossible order are a *DataError.
type Releases struct {
	// Products maps a product name to its release cycles.
	Products map[string][]Cycle `json:"products"`
	// Images maps catalog images to products; see Mapping. Base OS
	// mappings for the distributions in DefaultDistributions and the
	// runtime mappings in DefaultRuntimes apply too when their product is
	// in Products and no mapping names the same distribution or purl.
	Images []Mapping `json:"images,omitempty"`
}

// Cycle is one release cycle of a product, as endoflife.date's API
// describes it.
type Cycle struct {
	// Cycle names the cycle ("12", "1.22", "3.20"). Required; the API
	// writes some as JSON numbers, read as their literal text.
	Cycle string `json:"cycle"`
	// ReleaseDate is when the cycle was first released; zero if not given.
	ReleaseDate Date `json:"releaseDate,omitzero"`
	// EOL is the end of life: a date, true (ended, date unknown) or false
	// (not ended, no date announced). Required.
	EOL Flag `json:"eol"`
	// Support is the end of active support (security fixes only after):
	// a date, true or false; unset if not given.
	Support Flag `json:"support,omitzero"`
	// ExtendedSupport is the end of paid extended support, if any.
	ExtendedSupport Flag `json:"extendedSupport,omitzero"`
	// LTS marks a long-term-support cycle (true, or the date it became
	// one).
	LTS Flag `json:"lts,omitzero"`
	// Discontinued marks a discontinued cycle (true or a date).
	Discontinued Flag `json:"discontinued,omitzero"`
	// Latest is the latest release of the cycle; LatestReleaseDate its
	// date.
	Latest            string `json:"latest,omitempty"`
	LatestReleaseDate Date   `json:"latestReleaseDate,omitzero"`
	// Link and Codename are informative.
	Link     string `json:"link,omitempty"`
	Codename string `json:"codename,omitempty"`
}

// Flag is a field of endoflife.date that is either a boolean or a date.
type Flag struct {
	// Set is true when the field was given.
	Set bool
	// True is the boolean; a date counts as true.
	True bool
	// Date is the date, zero when the field is a boolean.
	Date time.Time
}

// IsZero reports whether the flag was not given.
func (f Flag) IsZero() bool { return !f.Set }

// MarshalJSON writes the date (RFC 3339, UTC) or the boolean.
func (f Flag) MarshalJSON() ([]byte, error) {
	switch {
	case !f.Set:
		return []byte("null"), nil
	case !f.Date.IsZero():
		return json.Marshal(f.Date.UTC().Format(time.RFC3339))
	}
	return json.Marshal(f.True)
}

// UnmarshalJSON reads true, false, null or a date.
func (f *Flag) UnmarshalJSON(b []byte) error {
	switch string(bytes.TrimSpace(b)) {
	case "null":
		*f = Flag{}
		return nil
	case "true":
		*f = Flag{Set: true, True: true}
		return nil
	case "false":
		*f = Flag{Set: true}
		return nil
	}
	var d Date
	if err := d.UnmarshalJSON(b); err != nil {
		return err
	}
	*f = Flag{Set: true, True: true, Date: d.Time}
	return nil
}

// Mapping ties catalog images to a product of the data file. Exactly one
// of Repository, Distribution and PURL is set; it also says which of the
// image's end-of-life dates the product gives.
type Mapping struct {
	// Product names a product of Releases.Products. Required.
	Product string `json:"product"`
	// Repository, a path.Match pattern against Entry.Repository, maps the
	// image itself (RoleImage); its cycle is read from the image's tags
	// ("1.27.3-alpine" is in cycle "1.27").
	Repository string `json:"repository,omitempty"`
	// Distribution maps the base OS (RoleBaseOS): the distribution as the
	// SBOM's OS packages name it in their ecosystem ("Debian" for
	// "Debian:12", "Alpine" for "Alpine:v3.20"); the cycle is the
	// ecosystem's release.
	Distribution string `json:"distribution,omitempty"`
	// PURL maps the main runtime (RoleRuntime): a package URL without
	// version ("pkg:golang/stdlib"); the cycle is read from the version
	// of the SBOM's package with that type, namespace and name.
	PURL string `json:"purl,omitempty"`
	// Cycle, if set, is the cycle to use instead of one read from the
	// image.
	Cycle string `json:"cycle,omitempty"`
}

// Role returns the end-of-life role the mapping gives a date for.
func (m Mapping) Role() Role {
	switch {
	case m.Distribution != "":
		return RoleBaseOS
	case m.PURL != "":
		return RoleRuntime
	}
	return RoleImage
}

// DefaultDistributions returns a new map from distributions (as SBOM
// ecosystems name them) to endoflife.date product names. They apply to
// every data file that has the product.
func DefaultDistributions() map[string]string {
	return map[string]string{
		"Debian": "debian", "Ubuntu": "ubuntu", "Alpine": "alpine", "Red Hat": "rhel",
		"Rocky Linux": "rocky-linux", "AlmaLinux": "almalinux", "openSUSE": "opensuse",
	}
}

// DefaultRuntimes returns a new map from runtime package URLs to
// endoflife.date product names. They apply to every data file that has
// the product.
func DefaultRuntimes() map[string]string {
	return map[string]string{"pkg:golang/stdlib": "go"}
}

// ReadReleases reads a data file (see Releases), at most MaxDataBytes,
// and validates it. Errors are *DataError.
func ReadReleases(r io.Reader) (*Releases, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxDataBytes+1))
	if err != nil {
		return nil, &DataError{Err: err}
	}
	if len(b) > MaxDataBytes {
		return nil, &DataError{Err: fmt.Errorf("more than %d bytes", MaxDataBytes)}
	}
	var top map[string]json.RawMessage
	if err := strictDecode(b, &top); err != nil {
		return nil, &DataError{Err: err}
	}
	rel := &Releases{Products: map[string][]Cycle{}}
	for _, k := range sortedKeys(top) {
		v := top[k]
		switch k {
		case "products":
			var products map[string]json.RawMessage
			if err := strictDecode(v, &products); err != nil {
				return nil, &DataError{Path: "products", Err: err}
			}
			if len(products) > MaxProducts {
				return nil, &DataError{Path: "products", Err: fmt.Errorf("%d products, cap %d", len(products), MaxProducts)}
			}
			for _, name := range sortedKeys(products) {
				cycles, err := ParseProduct(name, products[name])
				if err != nil {
					return nil, err
				}
				rel.Products[name] = cycles
			}
		case "images":
			var raw []json.RawMessage
			if err := strictDecode(v, &raw); err != nil {
				return nil, &DataError{Path: "images", Err: err}
			}
			for i, m := range raw {
				var mp Mapping
				if err := strictDecode(m, &mp); err != nil {
					return nil, &DataError{Path: fmt.Sprintf("images[%d]", i), Err: fieldErr(err)}
				}
				rel.Images = append(rel.Images, mp)
			}
		default:
			return nil, &DataError{Path: k, Err: ErrUnknownField}
		}
	}
	if err := rel.Validate(); err != nil {
		return nil, err
	}
	return rel, nil
}

// fieldErr marks encoding/json's unknown-field errors with ErrUnknownField.
func fieldErr(err error) error {
	if err != nil && strings.Contains(err.Error(), "unknown field") {
		return fmt.Errorf("%w: %v", ErrUnknownField, err)
	}
	return err
}

// cycleFields are the fields of an endoflife.date cycle object.
var cycleFields = []string{"cycle", "releaseDate", "eol", "support", "extendedSupport", "lts", "discontinued",
	"latest", "latestReleaseDate", "link", "codename"}

// ParseProduct reads one product's release cycles in the form
// endoflife.date's API answers (a JSON array of cycle objects) and checks
// them (see Releases). Errors are *DataError whose Path starts with
// "products.<name>".
func ParseProduct(name string, b []byte) ([]Cycle, error) {
	base := "products." + name
	if name == "" || len(name) > maxName || !utf8.ValidString(name) {
		return nil, &DataError{Path: base, Err: errors.New("product name empty, too long or not UTF-8")}
	}
	var raws []map[string]json.RawMessage
	if err := strictDecode(b, &raws); err != nil {
		return nil, &DataError{Path: base, Err: err}
	}
	if len(raws) > MaxCycles {
		return nil, &DataError{Path: base, Err: fmt.Errorf("%d cycles, cap %d", len(raws), MaxCycles)}
	}
	out := make([]Cycle, 0, len(raws))
	seen := map[string]bool{}
	for i, fields := range raws {
		at := fmt.Sprintf("%s[%d]", base, i)
		var c Cycle
		for _, k := range sortedKeys(fields) {
			v := fields[k]
			if !slices.Contains(cycleFields, k) {
				return nil, &DataError{Path: at + "." + k, Err: ErrUnknownField}
			}
			if err := c.set(k, v); err != nil {
				return nil, &DataError{Path: at + "." + k, Err: err}
			}
		}
		if err := c.check(); err != nil {
			return nil, &DataError{Path: at, Err: err}
		}
		if seen[c.Cycle] {
			return nil, &DataError{Path: at + ".cycle", Err: fmt.Errorf("cycle %q listed twice", c.Cycle)}
		}
		seen[c.Cycle] = true
		out = append(out, c)
	}
	return out, nil
}

func (c *Cycle) set(k string, v json.RawMessage) error {
	str := func(dst *string) error {
		if string(v) == "null" {
			return nil
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("want a string: %v", err)
		}
		if len(*dst) > 4*maxName || !utf8.ValidString(*dst) {
			return errors.New("string too long or not UTF-8")
		}
		return nil
	}
	switch k {
	case "cycle":
		var n json.Number
		if err := json.Unmarshal(v, &n); err == nil {
			c.Cycle = n.String()
			return nil
		}
		return str(&c.Cycle)
	case "releaseDate":
		return c.ReleaseDate.UnmarshalJSON(v)
	case "latestReleaseDate":
		return c.LatestReleaseDate.UnmarshalJSON(v)
	case "eol":
		return c.EOL.UnmarshalJSON(v)
	case "support":
		return c.Support.UnmarshalJSON(v)
	case "extendedSupport":
		return c.ExtendedSupport.UnmarshalJSON(v)
	case "lts":
		return c.LTS.UnmarshalJSON(v)
	case "discontinued":
		return c.Discontinued.UnmarshalJSON(v)
	case "latest":
		var n json.Number
		if err := json.Unmarshal(v, &n); err == nil {
			c.Latest = n.String()
			return nil
		}
		return str(&c.Latest)
	case "link":
		return str(&c.Link)
	case "codename":
		return str(&c.Codename)
	}
	return ErrUnknownField
}

// check validates one cycle: a name, an eol, and dates in a possible
// order.
func (c *Cycle) check() error {
	if strings.TrimSpace(c.Cycle) == "" || len(c.Cycle) > maxName {
		return errors.New("cycle without a name")
	}
	if !c.EOL.Set {
		return fmt.Errorf("cycle %q has no eol", c.Cycle)
	}
	rel := c.ReleaseDate.Time
	before := func(a, b time.Time, what string) error {
		if !a.IsZero() && !b.IsZero() && a.Before(b) {
			return fmt.Errorf("%w: cycle %q: %s", ErrImpossibleDate, c.Cycle, what)
		}
		return nil
	}
	return errors.Join(
		before(c.EOL.Date, rel, "end of life before the release"),
		before(c.Support.Date, rel, "end of support before the release"),
		before(c.EOL.Date, c.Support.Date, "end of life before the end of support"),
		before(c.ExtendedSupport.Date, c.EOL.Date, "extended support ends before the end of life"),
		before(c.LatestReleaseDate.Time, rel, "latest release before the first release"),
	)
}

// Validate checks the mappings against the products: each names a
// product the file has, sets exactly one of Repository, Distribution and
// PURL, and has a valid pattern or package URL. Errors are *DataError.
func (r *Releases) Validate() error {
	for i, m := range r.Images {
		at := fmt.Sprintf("images[%d]", i)
		if _, ok := r.Products[m.Product]; !ok {
			return &DataError{Path: at + ".product", Err: fmt.Errorf("no product %q in the file", m.Product)}
		}
		n := 0
		for _, s := range []string{m.Repository, m.Distribution, m.PURL} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			return &DataError{Path: at, Err: errors.New("set exactly one of repository, distribution and purl")}
		}
		if m.Repository != "" {
			if _, err := path.Match(m.Repository, ""); err != nil {
				return &DataError{Path: at + ".repository", Err: err}
			}
		}
		if m.PURL != "" {
			if _, err := parsePURL(m.PURL); err != nil {
				return &DataError{Path: at + ".purl", Err: err}
			}
		}
		if m.Cycle != "" && r.find(m.Product, m.Cycle) == nil {
			return &DataError{Path: at + ".cycle", Err: fmt.Errorf("product %q has no cycle %q", m.Product, m.Cycle)}
		}
	}
	return nil
}

// mappings returns the file's mappings followed by the default ones whose
// product the file has and that no mapping overrides.
func (r *Releases) mappings() []Mapping {
	out := slices.Clone(r.Images)
	has := func(f func(Mapping) bool) bool { return slices.ContainsFunc(r.Images, f) }
	dists := DefaultDistributions()
	for _, dist := range sortedKeys(dists) {
		p := dists[dist]
		if _, ok := r.Products[p]; ok && !has(func(m Mapping) bool { return strings.EqualFold(m.Distribution, dist) }) {
			out = append(out, Mapping{Product: p, Distribution: dist})
		}
	}
	runtimes := DefaultRuntimes()
	for _, purl := range sortedKeys(runtimes) {
		p := runtimes[purl]
		if _, ok := r.Products[p]; ok && !has(func(m Mapping) bool { return m.PURL == purl }) {
			out = append(out, Mapping{Product: p, PURL: purl})
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// find returns the cycle of product named exactly cycle, or nil.
func (r *Releases) find(product, cycle string) *Cycle {
	cs := r.Products[product]
	for i := range cs {
		if cs[i].Cycle == cycle {
			return &cs[i]
		}
	}
	return nil
}

// CycleOf returns the cycle of product that version belongs to: the
// longest cycle name that is the version itself or a prefix of it
// followed by '.', '-', '+', '~' or '_' ("1.27" for "1.27.3-alpine", not
// "1.2"). A leading "v" or "go" and a Debian epoch ("1:") are ignored. It
// returns nil when no cycle matches.
func (r *Releases) CycleOf(product, version string) *Cycle {
	v := cleanVersion(version)
	if v == "" {
		return nil
	}
	var best *Cycle
	cs := r.Products[product]
	for i := range cs {
		c := cleanVersion(cs[i].Cycle)
		if c == "" || !inCycle(v, c) {
			continue
		}
		if best == nil || len(c) > len(cleanVersion(best.Cycle)) {
			best = &cs[i]
		}
	}
	return best
}

func inCycle(v, c string) bool {
	if v == c {
		return true
	}
	return strings.HasPrefix(v, c) && strings.ContainsRune(".-+~_", rune(v[len(c)]))
}

func cleanVersion(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, ':'); i >= 0 && i < 4 && strings.Trim(v[:i], "0123456789") == "" {
		v = v[i+1:] // Debian epoch
	}
	v = strings.TrimPrefix(v, "go")
	if len(v) > 1 && (v[0] == 'v' || v[0] == 'V') && v[1] >= '0' && v[1] <= '9' {
		v = v[1:]
	}
	return strings.ToLower(v)
}

// parsePURL reads a package URL and returns it without version,
// qualifiers and subpath.
func parsePURL(s string) (packageurl.PackageURL, error) {
	p, err := packageurl.FromString(s)
	if err != nil {
		return p, err
	}
	return packageurl.PackageURL{Type: p.Type, Namespace: p.Namespace, Name: p.Name, Version: p.Version}, nil
}

// samePackage reports whether the package URL pkg names the package of
// the mapping's URL want (type, namespace and name; case-insensitive).
func samePackage(want packageurl.PackageURL, pkg string) (version string, ok bool) {
	p, err := packageurl.FromString(pkg)
	if err != nil {
		return "", false
	}
	if !strings.EqualFold(p.Type, want.Type) || !strings.EqualFold(p.Namespace, want.Namespace) || !strings.EqualFold(p.Name, want.Name) {
		return "", false
	}
	return p.Version, true
}
