package catalog_test

import (
	"testing"

	"github.com/cssc-go/cssc/catalog"
)

// FuzzVersionRange feeds arbitrary ranges and versions: parsing and
// comparing never panic, and a range that parses contains a version or
// not without error.
func FuzzVersionRange(f *testing.F) {
	for _, s := range []string{">= 1.2.0, < 1.3.0", "1.0", "!= 2", "<", ">= 3.0.11-1~deb12u2", "=", ",,", ">=1.0.0-rc.1"} {
		f.Add(s, "1.2.3", "Debian:12")
		f.Add(s, "3.0.11-1~deb12u2", "npm")
	}
	f.Fuzz(func(t *testing.T, rng, version, ecosystem string) {
		r, err := catalog.ParseVersionRange(rng)
		if err != nil {
			return
		}
		r.Contains(ecosystem, version)
	})
}

// FuzzCursor feeds arbitrary cursors: decoding never panics, and a cursor
// that decodes encodes back to one that decodes to the same position.
func FuzzCursor(f *testing.F) {
	f.Add(catalog.Cursor{Repository: "r", Digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000"}.Encode())
	f.Add("")
	f.Add("e30")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := catalog.DecodeCursor(s)
		if err != nil {
			return
		}
		c2, err := catalog.DecodeCursor(c.Encode())
		if err != nil || c2 != c {
			t.Fatalf("cursor %q does not round-trip: %v %v", s, c2, err)
		}
		q := catalog.Query{Cursor: s}
		if _, err := q.Validate(); err != nil {
			t.Fatalf("a decodable cursor is refused: %v", err)
		}
	})
}

// FuzzUnmarshal feeds arbitrary stored bytes: decoding never panics, and
// an entry that decodes and validates marshals to bytes that decode to the
// same canonical form.
func FuzzUnmarshal(f *testing.F) {
	for _, e := range catalogtestCorpus() {
		b, _ := catalog.Marshal(e)
		f.Add(b)
	}
	f.Add([]byte(`{"repository":"r","digest":"sha256:x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := catalog.Unmarshal(b)
		if err != nil || e.Validate() != nil {
			return
		}
		once, err := catalog.Marshal(e)
		if err != nil {
			return
		}
		e2, err := catalog.Unmarshal(once)
		if err != nil {
			t.Fatalf("canonical bytes do not decode: %v", err)
		}
		twice, err := catalog.Marshal(e2)
		if err != nil || string(once) != string(twice) {
			t.Fatalf("Marshal is not stable:\n%s\n%s", once, twice)
		}
	})
}
