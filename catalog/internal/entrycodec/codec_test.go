package entrycodec

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cssc-go/cssc/catalog"
	"github.com/cssc-go/cssc/catalog/catalogtest"
)

// canonical returns e as a store keeps it: catalog.Unmarshal of
// catalog.Marshal.
func canonical(t testing.TB, e *catalog.Entry) (*catalog.Entry, []byte) {
	t.Helper()
	b, err := catalog.Marshal(e)
	require.NoError(t, err)
	c, err := catalog.Unmarshal(b)
	require.NoError(t, err)
	return c, b
}

// roundTrip checks that the binary form of e decodes to the canonical
// entry, equal field by field and marshalling to the same JSON bytes.
func roundTrip(t *testing.T, e *catalog.Entry) []byte {
	t.Helper()
	want, wantJSON := canonical(t, e)
	bin := Encode(want)
	require.True(t, IsBinary(bin))
	got, err := Decode(bin)
	require.NoError(t, err)
	gotJSON, err := catalog.Marshal(got)
	require.NoError(t, err)
	assert.Equal(t, string(wantJSON), string(gotJSON), "JSON of the decoded binary form of %s", e.Key())
	assert.Equal(t, want, got, "decoded binary form of %s", e.Key())
	// JSON reads through Decode as through catalog.Unmarshal.
	fromJSON, err := Decode(wantJSON)
	require.NoError(t, err)
	assert.Equal(t, want, fromJSON, "Decode of the JSON form of %s", e.Key())
	return bin
}

func TestRoundTripCorpus(t *testing.T) {
	var jsonBytes, binBytes int
	for _, o := range []catalogtest.CorpusOptions{
		{Seed: 1, Entries: 60},
		{Seed: 2, Entries: 30, Packages: 200, PackagePool: 2000},
		{Seed: 3, Entries: 10, Packages: 1},
	} {
		for _, e := range catalogtest.Corpus(o) {
			bin := roundTrip(t, e)
			_, j := canonical(t, e)
			jsonBytes += len(j)
			binBytes += len(bin)
		}
	}
	t.Logf("JSON %d bytes, binary %d bytes (%.2fx)", jsonBytes, binBytes, float64(binBytes)/float64(jsonBytes))
	roundTrip(t, &catalog.Entry{Repository: "r", Digest: catalogtest.Digest("empty")})
}

// TestEveryField fills every field of an entry (every element type,
// through reflection) and checks that the binary form keeps each one: a
// field added to catalog.Entry or to a type it holds fails here until
// Encode and Decode carry it.
func TestEveryField(t *testing.T) {
	var e catalog.Entry
	n := 0
	fill(reflect.ValueOf(&e).Elem(), &n)
	// Normalize recomputes the summaries from the findings: give them
	// every severity.
	sev := []string{catalog.SeverityCritical, catalog.SeverityHigh, catalog.SeverityMedium, catalog.SeverityLow, catalog.SeverityUnknown, catalog.SeverityHigh}
	k := 0
	for i := range e.Children {
		for j := range e.Children[i].Findings {
			e.Children[i].Findings[j].Severity = sev[k%len(sev)]
			k++
		}
	}
	e.Status = catalog.StatusDeprecated
	want, _ := canonical(t, &e)
	missing := map[string]bool{}
	leaves(reflect.TypeOf(want).Elem(), "Entry", missing)
	nonZero(reflect.ValueOf(want).Elem(), "Entry", missing)
	require.Empty(t, missing, "fields the filled entry leaves zero (the test must fill them)")
	roundTrip(t, &e)
}

// fill sets every field reachable from v to a distinct non-zero value;
// lists and maps get three elements.
func fill(v reflect.Value, n *int) {
	*n++
	if v.Type() == reflect.TypeFor[time.Time]() {
		v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, *n, time.UTC).Add(time.Duration(*n) * time.Hour)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("v%03d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(*n))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), n)
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 3, 3))
		for i := range 3 {
			fill(v.Index(i), n)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		for range 3 {
			k, x := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(k, n)
			fill(x, n)
			v.SetMapIndex(k, x)
		}
	default:
		panic("fill: unexpected kind " + v.Kind().String() + " at " + v.Type().String())
	}
}

// leaves adds the path of every leaf field of type t to m.
func leaves(t reflect.Type, path string, m map[string]bool) {
	switch {
	case t == reflect.TypeFor[time.Time]():
		m[path] = true
	case t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice:
		leaves(t.Elem(), path, m)
	case t.Kind() == reflect.Map:
		leaves(t.Key(), path+"[key]", m)
		leaves(t.Elem(), path+"[value]", m)
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			leaves(t.Field(i).Type, path+"."+t.Field(i).Name, m)
		}
	default:
		m[path] = true
	}
}

// nonZero deletes from m the path of every leaf field that is non-zero
// somewhere in v.
func nonZero(v reflect.Value, path string, m map[string]bool) {
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		if !v.IsZero() {
			delete(m, path)
		}
	case v.Kind() == reflect.Pointer:
		if !v.IsNil() {
			nonZero(v.Elem(), path, m)
		}
	case v.Kind() == reflect.Slice:
		for i := range v.Len() {
			nonZero(v.Index(i), path, m)
		}
	case v.Kind() == reflect.Map:
		for it := v.MapRange(); it.Next(); {
			nonZero(it.Key(), path+"[key]", m)
			nonZero(it.Value(), path+"[value]", m)
		}
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			nonZero(v.Field(i), path+"."+v.Type().Field(i).Name, m)
		}
	default:
		if !v.IsZero() {
			delete(m, path)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	e := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 4, Entries: 2})[1]
	c, _ := canonical(t, e)
	bin := Encode(c)
	for name, b := range map[string][]byte{
		"magic only":      {Magic},
		"unknown version": {Magic, 99, 0},
		"truncated":       bin[:len(bin)/2],
		"trailing bytes":  append(append([]byte{}, bin...), 0),
		"huge count":      {Magic, Version, 0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		_, err := Decode(b)
		assert.ErrorIs(t, err, catalog.ErrInvalidEntry, name)
	}
}

// FuzzDecode feeds arbitrary bytes: Decode never panics, and what it
// accepts encodes back to bytes that decode to the same entry.
func FuzzDecode(f *testing.F) {
	for _, e := range catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 5, Entries: 4, Packages: 3}) {
		b, _ := catalog.Marshal(e)
		c, _ := catalog.Unmarshal(b)
		f.Add(Encode(c))
	}
	f.Add([]byte{Magic, Version})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil || !IsBinary(b) {
			return
		}
		again, err := Decode(Encode(e))
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if !reflect.DeepEqual(e, again) {
			t.Fatalf("re-encoded entry differs")
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	entries := catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 6, Entries: 50, Packages: 40})
	var jsons, bins [][]byte
	for _, e := range entries {
		j, _ := catalog.Marshal(e)
		c, _ := catalog.Unmarshal(j)
		jsons, bins = append(jsons, j), append(bins, Encode(c))
	}
	for _, m := range []struct {
		name string
		docs [][]byte
	}{{"json", jsons}, {"binary", bins}} {
		b.Run(m.name, func(b *testing.B) {
			size := 0
			for _, d := range m.docs {
				size += len(d)
			}
			b.SetBytes(int64(size))
			for b.Loop() {
				for _, d := range m.docs {
					if _, err := Decode(d); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(m.docs))/1e3, "us/entry")
		})
	}
}

// summaryRoundTrip checks that the binary form of s (canonical: as JSON
// decodes it) decodes to s, and that DecodeSummary reads JSON too.
func summaryRoundTrip(t *testing.T, s catalog.Summary) {
	t.Helper()
	j, err := json.Marshal(s)
	require.NoError(t, err)
	var want catalog.Summary
	require.NoError(t, json.Unmarshal(j, &want))
	got, err := DecodeSummary(EncodeSummary(&want))
	require.NoError(t, err)
	assert.Equal(t, want, got, "decoded binary summary of %s", s.Repository)
	gotJSON, err := json.Marshal(got)
	require.NoError(t, err)
	assert.Equal(t, string(j), string(gotJSON))
	fromJSON, err := DecodeSummary(j)
	require.NoError(t, err)
	assert.Equal(t, want, fromJSON, "DecodeSummary of JSON")
}

func TestSummaryRoundTrip(t *testing.T) {
	for _, e := range catalogtest.Corpus(catalogtest.CorpusOptions{Seed: 7, Entries: 60}) {
		c, _ := canonical(t, e)
		summaryRoundTrip(t, c.Summary())
	}
	summaryRoundTrip(t, catalog.Summary{})
	// Every field, as TestEveryField.
	var s catalog.Summary
	n := 0
	fill(reflect.ValueOf(&s).Elem(), &n)
	missing := map[string]bool{}
	leaves(reflect.TypeOf(s), "Summary", missing)
	nonZero(reflect.ValueOf(s), "Summary", missing)
	require.Empty(t, missing)
	summaryRoundTrip(t, s)
	// A summary written before AccessLevel was added ends before it.
	s.AccessLevel = ""
	b := EncodeSummary(&s)
	got, err := DecodeSummary(b[:len(b)-1])
	require.NoError(t, err, "a summary without its last field")
	assert.Equal(t, s, got)
	for name, b := range map[string][]byte{"truncated": EncodeSummary(&s)[:20], "unknown version": {Magic, 7}, "not JSON": []byte("{")} {
		_, err := DecodeSummary(b)
		assert.ErrorIs(t, err, catalog.ErrInvalidEntry, name)
	}
}
