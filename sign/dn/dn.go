package dn

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxLength caps the length of a distinguished name Parse accepts, and
// MaxAttributes the number of attributes in it.
const (
	MaxLength     = 4096
	MaxAttributes = 64
)

// ErrSyntax is wrapped by every error Parse returns.
var ErrSyntax = errors.New("invalid distinguished name")

// Attribute is one attribute of a name: its type in canonical spelling
// ("CN", "O", or a dotted OID for types without a short name) and its value,
// unescaped.
type Attribute struct {
	Type  string
	Value string
	// Hex is true when Value is "#" and the lower-case hex of the value's
	// DER encoding (RFC 4514's form for values that are not strings).
	Hex bool
}

// Name is a distinguished name: its attributes in canonical order (see the
// package documentation). Multi-valued RDNs are flattened. The zero value
// is the empty name.
type Name struct {
	attrs []Attribute
}

// Attributes returns a copy of the attributes in canonical order.
func (n Name) Attributes() []Attribute { return slices.Clone(n.attrs) }

// Len returns the number of attributes.
func (n Name) Len() int { return len(n.attrs) }

// Equal reports whether n and m hold the same attributes with the same
// values, in any order.
func (n Name) Equal(m Name) bool {
	if len(n.attrs) != len(m.attrs) {
		return false
	}
	a, b := sortedAttrs(n.attrs), sortedAttrs(m.attrs)
	return slices.Equal(a, b)
}

func sortedAttrs(in []Attribute) []Attribute {
	out := slices.Clone(in)
	slices.SortFunc(out, func(x, y Attribute) int {
		if c := strings.Compare(x.Type, y.Type); c != 0 {
			return c
		}
		if x.Hex != y.Hex {
			if x.Hex {
				return 1
			}
			return -1
		}
		return strings.Compare(x.Value, y.Value)
	})
	return out
}

// String returns the canonical spelling: "C=US, ST=WA, O=Example, CN=Signer".
func (n Name) String() string {
	var b strings.Builder
	for i, a := range n.attrs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.Type)
		b.WriteByte('=')
		if a.Hex {
			b.WriteString(a.Value)
		} else {
			b.WriteString(Escape(a.Value))
		}
	}
	return b.String()
}

// Escape escapes an attribute value as RFC 4514 requires: the characters
// '"', '+', ',', ';', '<', '>' and '\', a leading '#' or space, a trailing
// space, and NUL.
func Escape(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == 0:
			b.WriteString(`\00`)
			continue
		case strings.IndexByte(`"+,;<>\`, c) >= 0,
			i == 0 && (c == '#' || c == ' '),
			i == len(v)-1 && c == ' ':
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Known attribute types: canonical spelling, OID, and the order of the
// canonical form.
var known = []struct {
	name    string
	oid     string
	aliases []string
}{
	{"DC", "0.9.2342.19200300.100.1.25", []string{"DOMAINCOMPONENT"}},
	{"C", "2.5.4.6", []string{"COUNTRYNAME"}},
	{"ST", "2.5.4.8", []string{"S", "STATEORPROVINCENAME"}},
	{"L", "2.5.4.7", []string{"LOCALITYNAME"}},
	{"STREET", "2.5.4.9", []string{"STREETADDRESS"}},
	{"POSTALCODE", "2.5.4.17", nil},
	{"O", "2.5.4.10", []string{"ORGANIZATIONNAME"}},
	{"OU", "2.5.4.11", []string{"ORGANIZATIONALUNITNAME"}},
	{"CN", "2.5.4.3", []string{"COMMONNAME"}},
	{"SERIALNUMBER", "2.5.4.5", nil},
	{"UID", "0.9.2342.19200300.100.1.1", []string{"USERID"}},
	{"E", "1.2.840.113549.1.9.1", []string{"EMAIL", "EMAILADDRESS"}},
}

// canonicalType returns the canonical spelling of an attribute type and its
// rank in the canonical order (len(known) for other types).
func canonicalType(t string) (string, int) {
	up := strings.ToUpper(t)
	for i, k := range known {
		if up == k.name || t == k.oid || slices.Contains(k.aliases, up) {
			return k.name, i
		}
	}
	if isNumericOID(t) {
		return t, len(known)
	}
	return up, len(known)
}

func rankOf(t string) int {
	_, r := canonicalType(t)
	return r
}

// canonicalOrder orders attributes by rank, keeping the given order within
// a rank.
func canonicalOrder(attrs []Attribute) {
	slices.SortStableFunc(attrs, func(a, b Attribute) int { return rankOf(a.Type) - rankOf(b.Type) })
}

// FromPKIX returns the name of a certificate subject or issuer, from the
// attributes as they appear in the certificate (pkix.Name.Names).
func FromPKIX(p pkix.Name) Name {
	var attrs []Attribute
	names := p.Names
	if len(names) == 0 {
		// A pkix.Name built in Go rather than parsed: use its fields.
		for _, rdn := range p.ToRDNSequence() {
			names = append(names, rdn...)
		}
	}
	for _, atv := range names {
		t, _ := canonicalType(atv.Type.String())
		a := Attribute{Type: t}
		switch s := atv.Value.(type) {
		case string:
			a.Value = s
		default:
			der, err := asn1.Marshal(atv.Value)
			if err != nil {
				continue
			}
			a.Value, a.Hex = "#"+hex.EncodeToString(der), true
		}
		attrs = append(attrs, a)
	}
	canonicalOrder(attrs)
	return Name{attrs: attrs}
}

// Parse reads a distinguished name in notation's spelling
// ("C=US, ST=WA, O=Example, CN=Signer") or RFC 4514's
// ("CN=Signer,O=Example,ST=WA,C=US"). Spaces around ',', '+' and '=' are
// ignored; values may be escaped as RFC 4514 says (\, \2C) or quoted.
// Attribute types are case-insensitive and may be OIDs ("2.5.4.3" is CN).
// An empty string is an error, as is anything longer than MaxLength or with
// more than MaxAttributes attributes. Errors wrap ErrSyntax.
func Parse(s string) (Name, error) {
	if len(s) > MaxLength {
		return Name{}, fmt.Errorf("%w: longer than %d bytes", ErrSyntax, MaxLength)
	}
	if !utf8.ValidString(s) {
		return Name{}, fmt.Errorf("%w: not valid UTF-8", ErrSyntax)
	}
	p := &parser{s: s}
	var attrs []Attribute
	for {
		p.skipSpace()
		a, err := p.attribute()
		if err != nil {
			return Name{}, err
		}
		attrs = append(attrs, a)
		if len(attrs) > MaxAttributes {
			return Name{}, fmt.Errorf("%w: more than %d attributes", ErrSyntax, MaxAttributes)
		}
		p.skipSpace()
		if p.i == len(p.s) {
			break
		}
		switch p.s[p.i] {
		case ',', '+':
			p.i++
			continue
		}
		return Name{}, fmt.Errorf("%w: unexpected %q at offset %d", ErrSyntax, p.s[p.i], p.i)
	}
	// RFC 4514 writes the most specific attribute first: turn it round so
	// that both spellings give the same canonical order.
	if rankOf(attrs[0].Type) > rankOf(attrs[len(attrs)-1].Type) {
		slices.Reverse(attrs)
	}
	canonicalOrder(attrs)
	return Name{attrs: attrs}, nil
}

// MustParse is Parse that panics on error, for constants in tests and
// examples.
func MustParse(s string) Name {
	n, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return n
}

// Canonical returns the canonical spelling of s if it parses as a
// distinguished name, and s unchanged otherwise (a URI or e-mail identity).
func Canonical(s string) string {
	n, err := Parse(s)
	if err != nil {
		return s
	}
	return n.String()
}

type parser struct {
	s string
	i int
}

func (p *parser) skipSpace() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *parser) attribute() (Attribute, error) {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != '=' && p.s[p.i] != ',' && p.s[p.i] != '+' {
		p.i++
	}
	if p.i == len(p.s) || p.s[p.i] != '=' {
		return Attribute{}, fmt.Errorf("%w: attribute at offset %d has no '='", ErrSyntax, start)
	}
	typ := strings.TrimRight(p.s[start:p.i], " ")
	if !validType(typ) {
		return Attribute{}, fmt.Errorf("%w: %q is not an attribute type", ErrSyntax, typ)
	}
	p.i++ // '='
	p.skipSpace()
	isHex := p.i < len(p.s) && p.s[p.i] == '#'
	val, err := p.value()
	if err != nil {
		return Attribute{}, err
	}
	t, _ := canonicalType(typ)
	return Attribute{Type: t, Value: val, Hex: isHex}, nil
}

// value reads a value up to an unescaped ',' or '+', dropping unescaped
// trailing spaces.
func (p *parser) value() (string, error) {
	if p.i < len(p.s) && p.s[p.i] == '"' {
		return p.quoted()
	}
	if p.i < len(p.s) && p.s[p.i] == '#' {
		start := p.i
		p.i++
		for p.i < len(p.s) && isHex(p.s[p.i]) {
			p.i++
		}
		if p.i-start < 3 || (p.i-start-1)%2 != 0 {
			return "", fmt.Errorf("%w: bad hex value at offset %d", ErrSyntax, start)
		}
		return strings.ToLower(p.s[start:p.i]), nil
	}
	var b []byte
	keep := 0 // length of b up to the last escaped or non-space byte
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case ',', '+':
			return string(b[:keep]), nil
		case '\\':
			if p.i+1 >= len(p.s) {
				return "", fmt.Errorf("%w: trailing backslash", ErrSyntax)
			}
			n := p.s[p.i+1]
			if isHex(n) && p.i+2 < len(p.s) && isHex(p.s[p.i+2]) {
				x, _ := hex.DecodeString(p.s[p.i+1 : p.i+3])
				b = append(b, x[0])
				p.i += 3
			} else if strings.IndexByte(` "#+,;<=>\`, n) >= 0 {
				b = append(b, n)
				p.i += 2
			} else {
				return "", fmt.Errorf("%w: bad escape \\%c at offset %d", ErrSyntax, n, p.i)
			}
			keep = len(b)
			continue
		case '"', ';', '<', '>', 0:
			return "", fmt.Errorf("%w: %q must be escaped at offset %d", ErrSyntax, c, p.i)
		}
		b = append(b, c)
		if c != ' ' {
			keep = len(b)
		}
		p.i++
	}
	if !utf8.Valid(b[:keep]) {
		return "", fmt.Errorf("%w: escaped value is not valid UTF-8", ErrSyntax)
	}
	return string(b[:keep]), nil
}

func (p *parser) quoted() (string, error) {
	start := p.i
	p.i++
	var b []byte
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '\\':
			if p.i+1 >= len(p.s) {
				return "", fmt.Errorf("%w: trailing backslash", ErrSyntax)
			}
			b = append(b, p.s[p.i+1])
			p.i += 2
			continue
		case '"':
			p.i++
			return string(b), nil
		}
		b = append(b, c)
		p.i++
	}
	return "", fmt.Errorf("%w: unterminated quote at offset %d", ErrSyntax, start)
}

func validType(t string) bool {
	if t == "" {
		return false
	}
	if isNumericOID(t) {
		return true
	}
	for i, c := range t {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '-'):
		default:
			return false
		}
	}
	return true
}

func isNumericOID(t string) bool {
	parts := strings.Split(t, ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 1 && p[0] == '0' {
			return false
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// Contains reports whether every attribute of sub has its own attribute of
// the same type in n whose value matches: the way the notation trust
// policy matches "x509.subject:" identities, where attributes the identity
// does not name are not checked. match compares a value of sub with one of
// n; nil means equality.
func (n Name) Contains(sub Name, match func(want, got string) bool) bool {
	if match == nil {
		match = func(a, b string) bool { return a == b }
	}
	if len(sub.attrs) == 0 || len(sub.attrs) > len(n.attrs) {
		return false
	}
	used := make([]bool, len(n.attrs))
	var assign func(i int) bool
	assign = func(i int) bool {
		if i == len(sub.attrs) {
			return true
		}
		want := sub.attrs[i]
		for j, got := range n.attrs {
			if used[j] || got.Type != want.Type || got.Hex != want.Hex || !match(want.Value, got.Value) {
				continue
			}
			used[j] = true
			if assign(i + 1) {
				return true
			}
			used[j] = false
		}
		return false
	}
	return assign(0)
}
