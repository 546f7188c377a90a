package lifecycle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/cssc-go/cssc/attest"
)

// Date is an end-of-life, support or release date as configurations and
// data files write it: "2026-01-01" (midnight UTC) or an RFC 3339
// timestamp with any offset ("2026-01-01T09:00:00+09:00"). It is kept in
// UTC; the zero Date means none. It marshals as RFC 3339 in UTC.
type Date struct{ time.Time }

// ParseDate reads a Date (see attest.ParseDate). A date that does not
// exist ("2026-02-30") wraps ErrImpossibleDate.
func ParseDate(s string) (Date, error) {
	t, err := attest.ParseDate(s)
	if err != nil {
		return Date{}, fmt.Errorf("%w: %.64q", ErrImpossibleDate, s)
	}
	return Date{t}, nil
}

// UnmarshalJSON reads a JSON string with ParseDate; null is the zero Date.
func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: want a date string, got %.32s", ErrImpossibleDate, b)
	}
	v, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalJSON writes the date as RFC 3339 in UTC, or null.
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(d.UTC().Format(time.RFC3339Nano))
}

// Duration is a length of time as configurations write it: a Go duration
// ("2160h", "36h30m") or whole days ("90d"). It marshals as a Go
// duration.
type Duration struct{ time.Duration }

// ParseDuration reads a Duration. Negative durations are refused.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100*366 {
			return Duration{}, fmt.Errorf("%w: duration %.32q", ErrInvalidConfig, s)
		}
		return Duration{time.Duration(days) * 24 * time.Hour}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return Duration{}, fmt.Errorf("%w: duration %.32q", ErrInvalidConfig, s)
	}
	return Duration{d}, nil
}

// UnmarshalJSON reads a JSON string with ParseDuration.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: want a duration string, got %.32s", ErrInvalidConfig, b)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// strictDecode decodes one JSON value from b into v, refusing unknown
// fields and trailing data.
func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}
