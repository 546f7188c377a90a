// Package entrycodec is the compact binary form in which the stores keep
// catalog entries, and the decoder that reads it and the older JSON form
// (catalog.Marshal) alike.
//
// Decoding an entry of a few hundred packages from JSON costs a few hundred
// microseconds, most of it scanning text and matching field names; a page
// that shows the findings or packages of 50 images reads 50 entries. The
// binary form lists the fields in a fixed order with varint lengths and
// numbers, and Decode makes every string of the entry a substring of one
// copy of the input and every string list a window of one array: a few
// allocations per entry instead of several per package.
//
// The form is an encoding of the canonical entry, not a second source of
// truth: Encode takes an entry as catalog.Unmarshal(catalog.Marshal(e))
// returns it, and Decode gives back an entry that marshals to the very same
// JSON bytes. Its first byte (Magic) is one a JSON document never starts
// with, so a store tells the forms apart by reading it and reads both:
// entries written before the binary form, or by another program, stay
// readable.
package entrycodec

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/cssc-go/cssc/catalog"
)

// Magic is the first byte of the binary form; Version the second.
//
// The form grows by adding: a field added to catalog.Entry (or to
// catalog.Summary) is written after the last one, and Decode leaves it zero
// when the bytes end before it, so that what an earlier version wrote
// stays readable. Anything else (a field removed or reordered) takes a new
// Version.
const (
	Magic   = 0xCE
	Version = 1
)

// IsBinary reports whether b is in the binary form (of any version).
func IsBinary(b []byte) bool { return len(b) > 0 && b[0] == Magic }

// Encode returns the binary form of e, which must be canonical: what
// catalog.Unmarshal returns for catalog.Marshal's bytes (normalized,
// times in UTC, strings valid UTF-8). Decode(Encode(e)) then marshals to
// the same bytes as e.
func Encode(e *catalog.Entry) []byte {
	var w writer
	w.b = make([]byte, 0, 2048)
	w.b = append(w.b, Magic, Version)
	// The number of strings in lists, for Decode to allocate them at
	// once.
	w.uint(uint64(countLists(e)))
	w.str(e.Repository)
	w.str(string(e.Digest))
	w.str(e.MediaType)
	w.int(e.Size)
	w.strs(e.Tags)
	w.strs(e.Platforms)
	w.uint(uint64(len(e.Children)))
	for i := range e.Children {
		w.child(&e.Children[i])
	}
	w.str(e.Source.Reference)
	w.str(string(e.Source.Digest))
	w.time(e.AcquiredAt)
	w.time(e.PromotedAt)
	w.signature(e.Signature)
	w.bool(e.Decision != nil)
	if d := e.Decision; d != nil {
		w.str(d.Policy)
		w.str(d.Result)
		w.str(d.Mode)
		w.str(d.Verifier)
		w.str(string(d.Digest))
	}
	w.int(int64(e.Packages))
	w.strs(e.Licenses)
	w.vulns(e.Vulnerabilities)
	w.malware(e.Malware)
	w.uint(uint64(len(e.Reports)))
	for _, r := range e.Reports {
		w.str(string(r.Subject))
		w.str(string(r.Digest))
		w.str(r.Kind)
		w.str(r.Scanner)
		w.str(r.ScannerVersion)
		w.str(r.DatabaseVersion)
		w.time(r.Time)
		w.int(int64(r.Findings))
		w.bool(r.Trusted)
		w.bool(r.Superseded)
	}
	w.endOfLife(e.EndOfLife)
	w.str(string(e.Status))
	w.str(e.Replacement)
	w.str(e.Owner)
	w.str(e.AccessLevel)
	w.bool(e.Access != nil)
	if a := e.Access; a != nil {
		w.str(a.Level)
		w.str(a.Rule)
		w.strs(a.Groups)
		w.str(a.HowToAsk)
		w.str(a.RequestURL)
	}
	w.uint(uint64(len(e.Labels)))
	for _, k := range slices.Sorted(maps.Keys(e.Labels)) {
		w.str(k)
		w.str(e.Labels[k])
	}
	w.uint(uint64(len(e.Problems)))
	for _, p := range e.Problems {
		w.str(string(p.Subject))
		w.str(p.Evidence)
		w.str(p.Reason)
		w.str(string(p.Artifact))
		w.str(p.Detail)
	}
	return w.b
}

// countLists returns how many strings the string lists of e hold.
func countLists(e *catalog.Entry) int {
	n := len(e.Tags) + len(e.Platforms) + len(e.Signature.Identities) + len(e.Licenses) +
		len(e.Vulnerabilities.DatabaseVersions) + len(e.Malware.Names) + len(e.Malware.DatabaseVersions)
	if e.Access != nil {
		n += len(e.Access.Groups)
	}
	for i := range e.Children {
		c := &e.Children[i]
		n += len(c.Signature.Identities) + len(c.Licenses) + len(c.Vulnerabilities.DatabaseVersions) +
			len(c.Malware.Names) + len(c.Malware.DatabaseVersions)
		for _, p := range c.Packages {
			n += len(p.Licenses)
		}
		for _, f := range c.Findings {
			n += len(f.Aliases)
		}
	}
	return n
}

type writer struct{ b []byte }

func (w *writer) uint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *writer) int(v int64)   { w.b = binary.AppendVarint(w.b, v) }

func (w *writer) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

func (w *writer) str(s string) {
	w.uint(uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *writer) strs(s []string) {
	w.uint(uint64(len(s)))
	for _, v := range s {
		w.str(v)
	}
}

// time writes 0 for the zero time, else 1, the Unix seconds and the
// nanoseconds.
func (w *writer) time(t time.Time) {
	if t.IsZero() {
		w.b = append(w.b, 0)
		return
	}
	w.b = append(w.b, 1)
	w.int(t.Unix())
	w.uint(uint64(t.Nanosecond()))
}

func (w *writer) endOfLife(l *catalog.EndOfLife) {
	w.bool(l != nil)
	if l == nil {
		return
	}
	w.time(l.Date)
	w.str(l.Source)
	w.str(string(l.Marker))
	w.str(l.Reason)
	w.uint(uint64(len(l.Sources)))
	for _, s := range l.Sources {
		w.str(s.Role)
		w.str(s.Source)
		w.time(s.Date)
		w.str(s.Detail)
	}
}

func (w *writer) signature(s catalog.Signature) {
	w.bool(s.Verified)
	w.strs(s.Identities)
}

func (w *writer) vulns(v catalog.VulnerabilitySummary) {
	w.bool(v.Scanned)
	w.int(int64(v.Critical))
	w.int(int64(v.High))
	w.int(int64(v.Medium))
	w.int(int64(v.Low))
	w.int(int64(v.Unknown))
	w.int(int64(v.Fixable))
	w.strs(v.DatabaseVersions)
}

func (w *writer) malware(m catalog.MalwareSummary) {
	w.bool(m.Scanned)
	w.int(int64(m.Detections))
	w.strs(m.Names)
	w.strs(m.DatabaseVersions)
}

func (w *writer) child(c *catalog.Child) {
	w.str(string(c.Digest))
	w.str(c.MediaType)
	w.str(c.Platform)
	w.int(c.Size)
	w.signature(c.Signature)
	w.bool(c.SBOM != nil)
	if s := c.SBOM; s != nil {
		w.str(string(s.Digest))
		w.str(s.MediaType)
		w.int(int64(s.Packages))
	}
	w.uint(uint64(len(c.Packages)))
	for _, p := range c.Packages {
		w.str(p.Name)
		w.str(p.Version)
		w.str(p.Ecosystem)
		w.str(p.PURL)
		w.str(p.SourceName)
		w.strs(p.Licenses)
	}
	w.strs(c.Licenses)
	w.vulns(c.Vulnerabilities)
	w.uint(uint64(len(c.Findings)))
	for _, f := range c.Findings {
		w.str(f.ID)
		w.strs(f.Aliases)
		w.str(f.Package)
		w.str(f.Version)
		w.str(f.FixedVersion)
		w.str(f.Severity)
	}
	w.malware(c.Malware)
}

// errCorrupt is what Decode returns for bytes that are not a whole entry
// of a known version; it wraps catalog.ErrInvalidEntry.
var errCorrupt = errors.New("corrupt binary entry")

// Decode decodes an entry in the binary form or in catalog.Marshal's JSON.
// Input over catalog.MaxEntryBytes is refused. Errors wrap
// catalog.ErrInvalidEntry.
func Decode(b []byte) (*catalog.Entry, error) {
	if !IsBinary(b) {
		return catalog.Unmarshal(b)
	}
	if len(b) > catalog.MaxEntryBytes {
		return nil, fmt.Errorf("%w: %d bytes, cap %d", catalog.ErrInvalidEntry, len(b), catalog.MaxEntryBytes)
	}
	if len(b) < 2 || b[1] != Version {
		return nil, fmt.Errorf("%w: binary entry of unknown version", catalog.ErrInvalidEntry)
	}
	r := reader{s: string(b), i: 2}
	e := r.entry()
	if r.err != nil || r.i != len(r.s) {
		return nil, fmt.Errorf("%w: %w at byte %d", catalog.ErrInvalidEntry, errCorrupt, r.i)
	}
	return e, nil
}

// reader decodes from s, one copy of the input: strings are substrings
// of it. After the first error every read returns zero values.
type reader struct {
	s     string
	i     int
	err   error
	arena []string // the string lists' elements, handed out in windows
}

// more reports whether bytes are left: fields added to the form later
// are read only if so.
func (r *reader) more() bool { return r.err == nil && r.i < len(r.s) }

func (r *reader) fail() {
	if r.err == nil {
		r.err = errCorrupt
	}
	r.i = len(r.s)
}

func (r *reader) uint() uint64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.i >= len(r.s) {
			r.fail()
			return 0
		}
		c := r.s[r.i]
		r.i++
		if c < 0x80 {
			if shift == 63 && c > 1 {
				r.fail()
				return 0
			}
			return v | uint64(c)<<shift
		}
		v |= uint64(c&0x7f) << shift
	}
	r.fail()
	return 0
}

func (r *reader) int() int64 {
	u := r.uint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (r *reader) intn() int {
	v := r.int()
	if int64(int(v)) != v {
		r.fail()
		return 0
	}
	return int(v)
}

func (r *reader) bool() bool {
	if r.i >= len(r.s) || r.s[r.i] > 1 {
		r.fail()
		return false
	}
	r.i++
	return r.s[r.i-1] == 1
}

// count reads a list length: at most the bytes left, as every element
// takes at least one.
func (r *reader) count() int {
	n := r.uint()
	if n > uint64(len(r.s)-r.i) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *reader) str() string {
	n := r.count()
	s := r.s[r.i : r.i+n]
	r.i += n
	return s
}

func (r *reader) digest() digest.Digest { return digest.Digest(r.str()) }

// strs reads a string list: nil when empty, as JSON decodes an omitted
// list.
func (r *reader) strs() []string {
	n := r.count()
	if n == 0 {
		return nil
	}
	if len(r.arena) < n { // a summary, or a corrupt count
		r.arena = make([]string, n)
	}
	out := r.arena[:n:n]
	r.arena = r.arena[n:]
	for i := range out {
		out[i] = r.str()
	}
	return out
}

func (r *reader) time() time.Time {
	if !r.bool() {
		return time.Time{}
	}
	sec := r.int()
	ns := r.uint()
	if ns >= 1e9 {
		r.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(ns)).UTC()
}

func (r *reader) endOfLife() *catalog.EndOfLife {
	if !r.bool() {
		return nil
	}
	l := &catalog.EndOfLife{Date: r.time(), Source: r.str(), Marker: r.digest(), Reason: r.str()}
	if n := r.count(); n > 0 {
		l.Sources = make([]catalog.EndOfLifeSource, n)
		for i := range l.Sources {
			l.Sources[i] = catalog.EndOfLifeSource{Role: r.str(), Source: r.str(), Date: r.time(), Detail: r.str()}
		}
	}
	return l
}

// labels reads a map: nil when empty, as JSON decodes an omitted map.
func (r *reader) labels() map[string]string {
	n := r.count()
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := r.str()
		m[k] = r.str()
	}
	return m
}

func (r *reader) signature() catalog.Signature {
	return catalog.Signature{Verified: r.bool(), Identities: r.strs()}
}

func (r *reader) vulns() catalog.VulnerabilitySummary {
	return catalog.VulnerabilitySummary{Scanned: r.bool(), Critical: r.intn(), High: r.intn(), Medium: r.intn(),
		Low: r.intn(), Unknown: r.intn(), Fixable: r.intn(), DatabaseVersions: r.strs()}
}

func (r *reader) malware() catalog.MalwareSummary {
	return catalog.MalwareSummary{Scanned: r.bool(), Detections: r.intn(), Names: r.strs(), DatabaseVersions: r.strs()}
}

func (r *reader) entry() *catalog.Entry {
	if n := r.count(); n > 0 {
		r.arena = make([]string, n)
	}
	e := &catalog.Entry{}
	e.Repository = r.str()
	e.Digest = r.digest()
	e.MediaType = r.str()
	e.Size = r.int()
	e.Tags = r.strs()
	e.Platforms = r.strs()
	if n := r.count(); n > 0 {
		e.Children = make([]catalog.Child, n)
		for i := range e.Children {
			r.child(&e.Children[i])
		}
	}
	e.Source = catalog.Source{Reference: r.str(), Digest: r.digest()}
	e.AcquiredAt = r.time()
	e.PromotedAt = r.time()
	e.Signature = r.signature()
	if r.bool() {
		e.Decision = &catalog.Decision{Policy: r.str(), Result: r.str(), Mode: r.str(), Verifier: r.str(), Digest: r.digest()}
	}
	e.Packages = r.intn()
	e.Licenses = r.strs()
	e.Vulnerabilities = r.vulns()
	e.Malware = r.malware()
	if n := r.count(); n > 0 {
		e.Reports = make([]catalog.Report, n)
		for i := range e.Reports {
			e.Reports[i] = catalog.Report{Subject: r.digest(), Digest: r.digest(), Kind: r.str(), Scanner: r.str(),
				ScannerVersion: r.str(), DatabaseVersion: r.str(), Time: r.time(), Findings: r.intn(), Trusted: r.bool(),
				Superseded: r.bool()}
		}
	}
	e.EndOfLife = r.endOfLife()
	e.Status = catalog.Status(r.str())
	e.Replacement = r.str()
	e.Owner = r.str()
	e.AccessLevel = r.str()
	if r.bool() {
		e.Access = &catalog.Access{Level: r.str(), Rule: r.str(), Groups: r.strs(), HowToAsk: r.str(), RequestURL: r.str()}
	}
	e.Labels = r.labels()
	if n := r.count(); n > 0 {
		e.Problems = make([]catalog.Problem, n)
		for i := range e.Problems {
			e.Problems[i] = catalog.Problem{Subject: r.digest(), Evidence: r.str(), Reason: r.str(), Artifact: r.digest(), Detail: r.str()}
		}
	}
	return e
}

func (r *reader) child(c *catalog.Child) {
	c.Digest = r.digest()
	c.MediaType = r.str()
	c.Platform = r.str()
	c.Size = r.int()
	c.Signature = r.signature()
	if r.bool() {
		c.SBOM = &catalog.SBOM{Digest: r.digest(), MediaType: r.str(), Packages: r.intn()}
	}
	if n := r.count(); n > 0 {
		c.Packages = make([]catalog.Package, n)
		for i := range c.Packages {
			c.Packages[i] = catalog.Package{Name: r.str(), Version: r.str(), Ecosystem: r.str(), PURL: r.str(),
				SourceName: r.str(), Licenses: r.strs()}
		}
	}
	c.Licenses = r.strs()
	c.Vulnerabilities = r.vulns()
	if n := r.count(); n > 0 {
		c.Findings = make([]catalog.Finding, n)
		for i := range c.Findings {
			c.Findings[i] = catalog.Finding{ID: r.str(), Aliases: r.strs(), Package: r.str(), Version: r.str(),
				FixedVersion: r.str(), Severity: r.str()}
		}
	}
	c.Malware = r.malware()
}

// EncodeSummary returns the binary form of a summary of a canonical entry
// (catalog.Entry.Summary of what catalog.Unmarshal returns).
func EncodeSummary(s *catalog.Summary) []byte {
	var w writer
	w.b = make([]byte, 0, 512)
	w.b = append(w.b, Magic, Version)
	w.str(s.Repository)
	w.str(string(s.Digest))
	w.str(s.MediaType)
	w.strs(s.Tags)
	w.strs(s.Platforms)
	w.str(string(s.Status))
	w.str(s.Owner)
	w.uint(uint64(len(s.Labels)))
	for _, k := range slices.Sorted(maps.Keys(s.Labels)) {
		w.str(k)
		w.str(s.Labels[k])
	}
	w.signature(s.Signature)
	w.int(int64(s.Packages))
	w.vulns(s.Vulnerabilities)
	w.malware(s.Malware)
	w.endOfLife(s.EndOfLife)
	w.int(int64(s.Problems))
	w.str(s.AccessLevel)
	return w.b
}

// DecodeSummary decodes a summary in the binary form or in JSON (the
// stores' older form). Errors wrap catalog.ErrInvalidEntry.
func DecodeSummary(b []byte) (catalog.Summary, error) {
	var s catalog.Summary
	if !IsBinary(b) {
		if err := json.Unmarshal(b, &s); err != nil {
			return s, fmt.Errorf("%w: summary: %v", catalog.ErrInvalidEntry, err)
		}
		return s, nil
	}
	if len(b) < 2 || b[1] != Version {
		return s, fmt.Errorf("%w: binary summary of unknown version", catalog.ErrInvalidEntry)
	}
	r := reader{s: string(b), i: 2}
	s.Repository = r.str()
	s.Digest = r.digest()
	s.MediaType = r.str()
	s.Tags = r.strs()
	s.Platforms = r.strs()
	s.Status = catalog.Status(r.str())
	s.Owner = r.str()
	s.Labels = r.labels()
	s.Signature = r.signature()
	s.Packages = r.intn()
	s.Vulnerabilities = r.vulns()
	s.Malware = r.malware()
	s.EndOfLife = r.endOfLife()
	s.Problems = r.intn()
	// Fields added later: absent in what earlier versions wrote.
	if r.more() {
		s.AccessLevel = r.str()
	}
	if r.err != nil || r.i != len(r.s) {
		return catalog.Summary{}, fmt.Errorf("%w: summary: %w at byte %d", catalog.ErrInvalidEntry, errCorrupt, r.i)
	}
	return s, nil
}
