package searchindex

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cssc-go/cssc/catalog"
)

// recordVersion is the first byte of a record in the current format.
// A record of another version (or none) is rebuilt from the entry.
const recordVersion = 1

// Flags of a record.
const (
	flagFixable = 1 << iota
	flagTrusted
	flagEOL
)

// ErrRecord is wrapped by the errors of a record that cannot be read.
var ErrRecord = errors.New("searchindex: malformed record")

// Encode returns the record of a normalized entry: what the index reads
// about it, in a compact binary form that stores keep beside the entry
// (see Index.Refresh). The format begins with a version byte; Current
// tells whether a stored record is in the format of this package.
//
// Layout (strings and lists are prefixed by their length as uvarints):
// version, repository, digest, status, severity rank, flags, end of life
// (Unix seconds, varint, when flagEOL), owner, platforms, licences,
// signer identities, tags, labels (key, value pairs, by key), child
// digests, vulnerability IDs and aliases (distinct), packages (distinct
// name, ecosystem, version triples, one under the package name and one
// under its source name).
func Encode(e *catalog.Entry) []byte {
	var w writer
	w.b = make([]byte, 0, 256)
	w.b = append(w.b, recordVersion)
	w.str(e.Repository)
	w.str(e.Digest.String())
	w.str(string(cmp.Or(e.Status, catalog.StatusActive)))
	sev, _ := catalog.SeverityRank(e.Vulnerabilities.Max())
	w.b = append(w.b, byte(sev))
	var flags byte
	if e.Vulnerabilities.Fixable > 0 {
		flags |= flagFixable
	}
	if e.Trusted() {
		flags |= flagTrusted
	}
	if e.EndOfLife != nil {
		flags |= flagEOL
	}
	w.b = append(w.b, flags)
	if e.EndOfLife != nil {
		w.b = binary.AppendVarint(w.b, e.EndOfLife.Date.Unix())
	}
	w.str(e.Owner)
	w.list(e.Platforms)
	w.list(e.Licenses)
	w.list(e.Signature.Identities)
	w.list(e.Tags)
	keys := make([]string, 0, len(e.Labels))
	for k := range e.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w.uint(len(keys))
	for _, k := range keys {
		w.str(k)
		w.str(e.Labels[k])
	}
	children := make([]string, 0, len(e.Children))
	var vulns []string
	type pkg struct{ name, eco, version string }
	var pkgs []pkg
	for _, c := range e.Children {
		children = append(children, c.Digest.String())
		for _, f := range c.Findings {
			vulns = append(vulns, f.ID)
			vulns = append(vulns, f.Aliases...)
		}
		for _, p := range c.Packages {
			pkgs = append(pkgs, pkg{p.Name, p.Ecosystem, p.Version})
			if p.SourceName != "" && p.SourceName != p.Name {
				pkgs = append(pkgs, pkg{p.SourceName, p.Ecosystem, p.Version})
			}
		}
	}
	w.list(children)
	slices.Sort(vulns)
	w.list(slices.Compact(vulns))
	slices.SortFunc(pkgs, func(a, b pkg) int {
		return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.eco, b.eco), strings.Compare(a.version, b.version))
	})
	pkgs = slices.Compact(pkgs)
	w.uint(len(pkgs))
	for _, p := range pkgs {
		w.str(p.name)
		w.str(p.eco)
		w.str(p.version)
	}
	return w.b
}

// Current reports whether rec is a record in this package's format (an
// older one, or none, is rebuilt from the entry with Encode).
func Current(rec []byte) bool { return len(rec) > 0 && rec[0] == recordVersion }

type writer struct{ b []byte }

func (w *writer) uint(n int) { w.b = binary.AppendUvarint(w.b, uint64(n)) }

func (w *writer) str(s string) {
	w.uint(len(s))
	w.b = append(w.b, s...)
}

func (w *writer) list(ss []string) {
	w.uint(len(ss))
	for _, s := range ss {
		w.str(s)
	}
}

// reader reads a record; the byte slices it returns point into the record.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = ErrRecord
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uint() int {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return int(v)
}

func (r *reader) int() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uint()
	if n > len(r.b) {
		r.fail()
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

// count reads a list length, each item taking at least min bytes.
func (r *reader) count(min int) int {
	n := r.uint()
	if n*min > len(r.b) {
		r.fail()
		return 0
	}
	return n
}

// decoded is a record read into byte slices that point into it.
type decoded struct {
	repository, digest, status, owner []byte
	severity                          int
	flags                             byte
	eol                               int64
	platforms, licenses, signers      [][]byte
	tags, children, vulns             [][]byte
	labels                            [][2][]byte
	packages                          [][3][]byte
}

func (d *decoded) list(r *reader, dst *[][]byte) {
	n := r.count(1)
	s := (*dst)[:0]
	for range n {
		s = append(s, r.bytes())
	}
	*dst = s
}

// decode reads rec into d, reusing d's slices.
func (d *decoded) decode(rec []byte) error {
	r := &reader{b: rec}
	if v := r.byte(); v != recordVersion {
		return fmt.Errorf("%w: version %d", ErrRecord, v)
	}
	d.repository, d.digest, d.status = r.bytes(), r.bytes(), r.bytes()
	d.severity = int(r.byte())
	d.flags = r.byte()
	d.eol = 0
	if d.flags&flagEOL != 0 {
		d.eol = r.int()
	}
	d.owner = r.bytes()
	d.list(r, &d.platforms)
	d.list(r, &d.licenses)
	d.list(r, &d.signers)
	d.list(r, &d.tags)
	n := r.count(2)
	d.labels = d.labels[:0]
	for range n {
		d.labels = append(d.labels, [2][]byte{r.bytes(), r.bytes()})
	}
	d.list(r, &d.children)
	d.list(r, &d.vulns)
	n = r.count(3)
	d.packages = d.packages[:0]
	for range n {
		d.packages = append(d.packages, [3][]byte{r.bytes(), r.bytes(), r.bytes()})
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	if r.err != nil {
		return r.err
	}
	if len(d.repository) == 0 || len(d.digest) == 0 || d.severity >= len(severityNames) {
		return fmt.Errorf("%w: no key or bad severity", ErrRecord)
	}
	return nil
}

// lower appends the lower-case form of b (strings.ToLower's) to dst.
func lower(dst, b []byte) []byte {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return append(dst, strings.ToLower(string(b))...)
		}
	}
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// fold appends the case-folded form of b to dst: each rune replaced by the
// smallest rune of its simple case-folding orbit (an invalid byte by
// U+FFFD), so that two strings fold alike exactly when strings.EqualFold
// says they are equal.
func fold(dst, b []byte) []byte {
	for len(b) > 0 {
		c := b[0]
		if c < utf8.RuneSelf {
			// The smallest member of an ASCII letter's orbit is its upper
			// case (the orbits of k and s also hold the Kelvin sign and
			// the long s, which are larger).
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
			b = b[1:]
			continue
		}
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		dst = utf8.AppendRune(dst, m)
	}
	return dst
}
