package dn_test

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/sign/dn"
)

func TestBothSpellingsAreOneName(t *testing.T) {
	notationCLI := "C=US, ST=WA, O=Example Publisher, CN=Example Publisher Release Signing"
	goPKIX := pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Example Publisher"}, CommonName: "Example Publisher Release Signing"}.String()
	require.Equal(t, "CN=Example Publisher Release Signing,O=Example Publisher,ST=WA,C=US", goPKIX, "what Go (and notation-go's verifier) prints")
	spellings := []string{
		notationCLI,
		goPKIX,
		"c=US,st=WA,o=Example Publisher,cn=Example Publisher Release Signing",
		"  CN = Example Publisher Release Signing ,  O=Example Publisher,S=WA, C=US ",
		"2.5.4.6=US, 2.5.4.8=WA, 2.5.4.10=Example Publisher, 2.5.4.3=Example Publisher Release Signing",
		`CN=Example\20Publisher Release Signing,O="Example Publisher",ST=WA,C=US`,
		"CN=Example Publisher Release Signing+O=Example Publisher,ST=WA,C=US",
	}
	want := dn.MustParse(notationCLI)
	for _, s := range spellings {
		n, err := dn.Parse(s)
		require.NoError(t, err, s)
		assert.True(t, want.Equal(n), "%q equals %q", s, notationCLI)
		assert.Equal(t, notationCLI, n.String(), "canonical form of %q", s)
	}
	assert.Equal(t, notationCLI, dn.FromPKIX(pkix.Name{Country: []string{"US"}, Province: []string{"WA"}, Organization: []string{"Example Publisher"}, CommonName: "Example Publisher Release Signing"}).String())
}

func TestNotEqual(t *testing.T) {
	a := dn.MustParse("C=US, ST=WA, O=Example, CN=Signer")
	for _, s := range []string{
		"C=US, ST=WA, O=Example, CN=Signer2",
		"C=US, ST=WA, O=Example",
		"C=US, ST=WA, O=Example, CN=Signer, OU=Extra",
		"C=US, ST=WA, O=example, CN=Signer",
		"C=US, ST=WA, O=Example, OU=Signer",
	} {
		assert.False(t, a.Equal(dn.MustParse(s)), "%q must differ from %q", s, a)
	}
}

func TestEscaping(t *testing.T) {
	n, err := dn.Parse(`CN=Acme\, Inc.,O=R\2bD \\ Labs,C=US`)
	require.NoError(t, err)
	attrs := n.Attributes()
	require.Len(t, attrs, 3)
	assert.Equal(t, dn.Attribute{Type: "O", Value: `R+D \ Labs`}, attrs[1])
	assert.Equal(t, dn.Attribute{Type: "CN", Value: "Acme, Inc."}, attrs[2])
	assert.Equal(t, `C=US, O=R\+D \\ Labs, CN=Acme\, Inc.`, n.String())
	back, err := dn.Parse(n.String())
	require.NoError(t, err)
	assert.True(t, n.Equal(back), "the canonical form parses back to the same name")
	assert.Equal(t, `\#x\ `, dn.Escape("#x "))
	assert.Equal(t, `\ a`, dn.Escape(" a"))
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{
		"", "https://github.com/cssc-go/cssc/.github/workflows/release.yml@refs/heads/main",
		"release@example.com", "sha256:abcd", "CN", "=x", "CN=a,", "CN=a,,O=b", `CN=a\`, `CN=a\zz`,
		`CN="open`, "CN=a;O=b", "1x=a", "CN=a<b", "CN=#xyz", "CN=#1",
		"https://example.com/?a=b,c=d",
		strings.Repeat("O=x,", dn.MaxAttributes) + "CN=y",
		"CN=" + strings.Repeat("x", dn.MaxLength),
	} {
		_, err := dn.Parse(s)
		assert.ErrorIs(t, err, dn.ErrSyntax, "%q", s)
	}
	assert.Equal(t, "https://github.com/x", dn.Canonical("https://github.com/x"), "non-DN identities are left alone")
	assert.Equal(t, "C=US, CN=x", dn.Canonical("CN=x,C=US"))
}

func TestFromPKIXKeepsExtraAttributes(t *testing.T) {
	email := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	odd := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}
	p := pkix.Name{Names: []pkix.AttributeTypeAndValue{
		{Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: "US"},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "Signer"},
		{Type: email, Value: "sign@example.com"},
		{Type: odd, Value: 7},
	}}
	n := dn.FromPKIX(p)
	assert.Equal(t, "C=US, CN=Signer, E=sign@example.com, 1.3.6.1.4.1.99999.1=#020107", n.String())
	back, err := dn.Parse(n.String())
	require.NoError(t, err)
	assert.True(t, n.Equal(back))
	assert.True(t, n.Equal(dn.MustParse("emailAddress=sign@example.com,CN=Signer,C=US,1.3.6.1.4.1.99999.1=#020107")))
}

func TestContains(t *testing.T) {
	signer := dn.MustParse("CN=Release Signing,OU=Build,OU=Security,O=Example,ST=WA,C=US")
	glob := func(want, got string) bool {
		if p, ok := strings.CutSuffix(want, "*"); ok {
			return strings.HasPrefix(got, p)
		}
		return want == got
	}
	for s, want := range map[string]bool{
		"C=US, ST=WA, O=Example":                                  true,
		"C=US, ST=WA, O=Example, CN=Release Signing":              true,
		"C=US, ST=WA, O=Example, CN=Release*":                     true,
		"OU=Security, OU=Build":                                   true,
		"OU=Build, OU=Build":                                      false,
		"C=US, ST=WA, O=Example, CN=Other":                        false,
		"C=US, ST=WA, O=Example, L=Seattle":                       false,
		"C=US, ST=WA, O=Example, OU=Build, OU=Security, OU=Sales": false,
	} {
		assert.Equal(t, want, signer.Contains(dn.MustParse(s), glob), "%q in %q", s, signer)
	}
	assert.False(t, signer.Contains(dn.Name{}, nil), "the empty name matches nothing")
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"C=US, ST=WA, O=x, CN=y", `CN=a\2c b+O="q",C=US`, "2.5.4.3=#0c0161", "CN= "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := dn.Parse(s)
		if err != nil {
			return
		}
		back, err := dn.Parse(n.String())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", n.String(), s, err)
		}
		if !n.Equal(back) {
			t.Fatalf("canonical form %q of %q is another name", n.String(), s)
		}
		if back.String() != n.String() {
			t.Fatalf("canonical form is not stable: %q then %q", n.String(), back.String())
		}
	})
}
