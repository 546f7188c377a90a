package osv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// errMalformed is wrapped by every error about a record that does not
// follow the OSV schema closely enough to be matched.
var errMalformed = errors.New("malformed osv record")

// Caps on the parts of one record that are kept in memory. Real records
// are far below them; a record over a cap is malformed.
const (
	maxIDLen       = 128
	maxAliases     = 256
	maxAffected    = 4096
	maxRanges      = 256
	maxEvents      = 4096
	maxVersions    = 1 << 16
	maxSummaryLen  = 1024 // longer summaries are truncated, not rejected
	maxNameLen     = 1024
	maxVersionLen  = 256
	maxEcosystemLn = 128
)

// record is the subset of an OSV record (https://ossf.github.io/osv-schema/)
// that matching needs. Unknown fields are ignored.
type record struct {
	ID               string          `json:"id"`
	Modified         string          `json:"modified"`
	Withdrawn        string          `json:"withdrawn"`
	Aliases          []string        `json:"aliases"`
	Summary          string          `json:"summary"`
	Severity         []severity      `json:"severity"`
	Affected         []affectedJSON  `json:"affected"`
	DatabaseSpecific json.RawMessage `json:"database_specific"`

	modified  time.Time // parsed Modified
	withdrawn bool
}

type severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

type affectedJSON struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
		PURL      string `json:"purl"`
	} `json:"package"`
	Severity          []severity      `json:"severity"`
	Ranges            []rangeJSON     `json:"ranges"`
	Versions          []string        `json:"versions"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific"`
	DatabaseSpecific  json.RawMessage `json:"database_specific"`
}

type rangeJSON struct {
	Type   string      `json:"type"`
	Events []eventJSON `json:"events"`
}

type eventJSON struct {
	Introduced   *string `json:"introduced"`
	Fixed        *string `json:"fixed"`
	LastAffected *string `json:"last_affected"`
	Limit        *string `json:"limit"`
}

// parseRecord decodes and checks one OSV record. It never panics; every
// error wraps errMalformed. A withdrawn record parses without error and has
// withdrawn set.
func parseRecord(data []byte) (*record, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 BOM
	var r record
	// Unmarshal rejects trailing data after the record.
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return &r, nil
}

func (r *record) check() error {
	if r.ID == "" {
		return fmt.Errorf("%w: no id", errMalformed)
	}
	if len(r.ID) > maxIDLen || !printable(r.ID) {
		return fmt.Errorf("%w: bad id %q", errMalformed, truncate(r.ID, 64))
	}
	if r.Modified != "" {
		t, err := time.Parse(time.RFC3339Nano, r.Modified)
		if err != nil {
			return fmt.Errorf("%w: %s: bad modified time %q", errMalformed, r.ID, truncate(r.Modified, 64))
		}
		r.modified = t.UTC()
	}
	if r.Withdrawn != "" {
		// A withdrawn record is ignored whatever the form of the date.
		r.withdrawn = true
	}
	if len(r.Aliases) > maxAliases {
		return fmt.Errorf("%w: %s: %d aliases, limit %d", errMalformed, r.ID, len(r.Aliases), maxAliases)
	}
	for _, a := range r.Aliases {
		if a == "" || len(a) > maxIDLen || !printable(a) {
			return fmt.Errorf("%w: %s: bad alias %q", errMalformed, r.ID, truncate(a, 64))
		}
	}
	if !utf8.ValidString(r.Summary) {
		r.Summary = strings.ToValidUTF8(r.Summary, "\uFFFD")
	}
	r.Summary = oneLine(r.Summary, maxSummaryLen)
	if len(r.Affected) > maxAffected {
		return fmt.Errorf("%w: %s: %d affected entries, limit %d", errMalformed, r.ID, len(r.Affected), maxAffected)
	}
	for i := range r.Affected {
		a := &r.Affected[i]
		if len(a.Package.Ecosystem) > maxEcosystemLn || len(a.Package.Name) > maxNameLen {
			return fmt.Errorf("%w: %s: package name or ecosystem too long", errMalformed, r.ID)
		}
		if len(a.Ranges) > maxRanges {
			return fmt.Errorf("%w: %s: %d ranges, limit %d", errMalformed, r.ID, len(a.Ranges), maxRanges)
		}
		if len(a.Versions) > maxVersions {
			return fmt.Errorf("%w: %s: %d versions, limit %d", errMalformed, r.ID, len(a.Versions), maxVersions)
		}
		for _, v := range a.Versions {
			if len(v) > maxVersionLen {
				return fmt.Errorf("%w: %s: version too long", errMalformed, r.ID)
			}
		}
		for _, rg := range a.Ranges {
			if len(rg.Events) > maxEvents {
				return fmt.Errorf("%w: %s: %d events, limit %d", errMalformed, r.ID, len(rg.Events), maxEvents)
			}
			for _, e := range rg.Events {
				n := 0
				for _, p := range [...]*string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
					if p == nil {
						continue
					}
					n++
					if *p == "" || len(*p) > maxVersionLen {
						return fmt.Errorf("%w: %s: empty or too long version in a range event", errMalformed, r.ID)
					}
				}
				if n != 1 {
					return fmt.Errorf("%w: %s: a range event must have exactly one of introduced, fixed, last_affected, limit", errMalformed, r.ID)
				}
			}
		}
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters
// or spaces, as identifiers are.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// oneLine returns the first line of s, trimmed and cut to n bytes (on a
// rune boundary).
func oneLine(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// textSeverity extracts a textual severity from a database_specific or
// ecosystem_specific object: its "severity" string field, else its
// "urgency" (Debian's security tracker). Anything else gives "".
func textSeverity(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' ||
		(!bytes.Contains(raw, []byte(`"severity"`)) && !bytes.Contains(raw, []byte(`"urgency"`))) {
		return ""
	}
	var v struct {
		Severity json.RawMessage `json:"severity"`
		Urgency  json.RawMessage `json:"urgency"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	for _, f := range [...]json.RawMessage{v.Severity, v.Urgency} {
		var s string
		if len(f) > 0 && json.Unmarshal(f, &s) == nil && s != "" && len(s) <= 64 {
			return s
		}
	}
	return ""
}
