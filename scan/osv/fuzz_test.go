package osv

import (
	"archive/zip"
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cssc-go/cssc/sbom"
)

// FuzzParseRecord feeds arbitrary bytes through the record parser and the
// conversion into index entries, then evaluates every entry: nothing may
// panic, and a record that converts has an id.
func FuzzParseRecord(f *testing.F) {
	for _, dir := range []string{"testdata/db/*/*.json", "testdata/bad/*.json"} {
		files, _ := filepath.Glob(dir)
		for _, p := range files {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte(`{"id":"X","affected":[{"package":{"ecosystem":"Alpine:v3.20","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"limit":"1.0-r0"}]}],"versions":["0.1-r0"]}]}`))
	l := &loader{opts: Options{MaxWarnings: 1}}
	versions := []string{"0", "1.0", "1:2.3-4~deb12u1", "v1.2.3", "go1.22.1", "2.0-beta9", "1.36.1-r29", "1.0rc1", ""}
	f.Fuzz(func(t *testing.T, data []byte) {
		o := l.convert(input{path: "fuzz.json"}, data, map[string]bool{})
		if o.v == nil {
			return
		}
		if o.v.id == "" {
			t.Fatal("converted record without id")
		}
		for _, e := range o.v.entries {
			for _, v := range versions {
				q := query{eco: e.eco, base: e.base, name: e.name, version: canonicalVersion(e.base, e.name, v)}
				affected, fixed, _ := e.match(&q, nil)
				if !affected && fixed != "" {
					t.Fatalf("fixed %q for an unaffected version", fixed)
				}
			}
		}
	})
}

// FuzzRange evaluates ranges built from arbitrary events against arbitrary
// versions in every ecosystem cssc cares about: no panic, and when a
// version is affected with a fix, the fix is above the version.
func FuzzRange(f *testing.F) {
	f.Add(uint8(0), "i:0,f:3.0.14-1~deb12u2", "3.0.11-1~deb12u2")
	f.Add(uint8(1), "i:0,f:1.36.1-r29", "1.36.1-r28")
	f.Add(uint8(2), "i:0,f:1.21.9,i:1.22.0-0,f:1.22.2", "1.22.1")
	f.Add(uint8(3), "i:7.0.0,f:7.5.2", "7.5.1")
	f.Add(uint8(4), "i:2.3.0,f:2.31.0", "2.31.0rc1")
	f.Add(uint8(5), "i:2.0-beta9,l:2.14.1,x:3", "2.0")
	f.Add(uint8(0), "i:0,f:x:1.0", "::::")
	f.Add(uint8(1), "i:0,f:1.0_pre1_p2-r0", "1.0_alpha")
	ecos := []string{"Debian", "Alpine", "Go", "npm", "PyPI", "Maven"}
	f.Fuzz(func(t *testing.T, eco uint8, spec, version string) {
		if len(spec) > 4096 || len(version) > 256 {
			return
		}
		base := ecos[int(eco)%len(ecos)]
		semver := eco >= uint8(len(ecos)) && eco%2 == 0
		var r rawRange
		r.semver = semver
		for part := range strings.SplitSeq(spec, ",") {
			k, v, ok := strings.Cut(part, ":")
			if !ok || v == "" {
				continue
			}
			var kind uint8
			switch k {
			case "i":
				kind = evIntroduced
			case "f":
				kind = evFixed
			case "l":
				kind = evLastAffected
			case "x":
				kind = evLimit
			default:
				continue
			}
			r.events = append(r.events, rawEvent{kind, canonicalVersion(base, "m", v)})
		}
		c, err := compileRange(base, r, nil)
		if err != nil {
			return
		}
		v, err := parseVersion(base, canonicalVersion(base, "m", version), semver)
		if err != nil {
			return
		}
		affected, fixed, err := c.affects(v)
		if err != nil {
			return
		}
		if !affected && fixed != "" {
			t.Fatalf("fix %q named for an unaffected version", fixed)
		}
		if fixed != "" {
			fv, err := parseVersion(base, fixed, semver)
			if err != nil {
				t.Fatalf("fix %q does not parse: %v", fixed, err)
			}
			if cmp, err := compare(v, fv); err == nil && cmp >= 0 {
				t.Fatalf("version %q affected but not below its fix %q", version, fixed)
			}
		}
		_ = c.nextFixed(v)
	})
}

// FuzzCVSS checks that the calculators never panic and give a score in
// [0, 10] with one decimal.
func FuzzCVSS(f *testing.F) {
	f.Add("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
	f.Add("CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:C/C:L/I:L/A:L/E:U/RL:O/RC:C/MAV:N")
	f.Add("AV:N/AC:L/Au:N/C:P/I:P/A:P")
	f.Add("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H")
	f.Fuzz(func(t *testing.T, vector string) {
		for _, fn := range []func(string) (float64, error){cvss3BaseScore, cvss2BaseScore} {
			s, err := fn(vector)
			if err != nil {
				continue
			}
			if s < 0 || s > 10 || math.IsNaN(s) {
				t.Fatalf("score %v out of range for %q", s, vector)
			}
			if d := math.Abs(s*10 - math.Round(s*10)); d > 1e-6 {
				t.Fatalf("score %v has more than one decimal for %q", s, vector)
			}
		}
	})
}

// FuzzLoadZip loads arbitrary bytes as an osv.dev all.zip: the load either
// fails (a corrupt archive) or gives a database that can be matched;
// never a panic.
func FuzzLoadZip(f *testing.F) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, p := range []string{"testdata/db/Go/GO-2024-2687.json", "testdata/bad/malformed.json", "testdata/db/Debian/DSA-5764-1.json"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		w, _ := zw.Create(filepath.Base(p))
		w.Write(data)
	}
	zw.Close()
	f.Add(buf.Bytes())
	f.Add(buf.Bytes()[:buf.Len()/2])
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	pkgs := []sbom.Package{
		{Name: "stdlib", Version: "go1.22.1", Ecosystem: "Go"},
		{Name: "libssl3", SourceName: "openssl", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12"},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{"Go/all.zip": {Data: data}}
		db, err := LoadFS(context.Background(), fsys, Options{MaxRecordSize: 1 << 16, MaxRecords: 1000, Workers: 2})
		if err != nil {
			return
		}
		if _, err := db.Match(context.Background(), pkgs); err != nil {
			t.Fatal(err)
		}
	})
}
