// Package apitime holds Time, the API's timestamp. The generated models in
// package gen use it for every date-time field (through the type mapping in
// api/), so that they read and write timestamps as the API does:
// 2020-12-02T10:13:19+00:00, with a numeric offset where encoding/json's
// time.Time would write Z.
package apitime

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Layout is the API's timestamp form (ATOM): seconds and a numeric offset,
// such as 2020-12-02T10:13:19+00:00.
const Layout = "2006-01-02T15:04:05-07:00"

// layout is Layout with the fraction of a second a timestamp may carry,
// written only when it is not zero.
const layout = "2006-01-02T15:04:05.999999999-07:00"

// Time is a time.Time that reads any RFC 3339 timestamp and writes the API's
// form: a numeric offset, never Z, and no fraction of a second unless the time
// has one. It keeps the offset it was read with, so a timestamp read and
// written again is unchanged. Its zero value is the zero time.Time.
type Time struct {
	time.Time
}

// New returns t as a Time.
func New(t time.Time) Time { return Time{Time: t} }

// Ptr returns a pointer to t as a Time, for the models' optional fields.
func Ptr(t time.Time) *Time { return &Time{Time: t} }

// String returns the time in the API's form.
func (t Time) String() string { return t.Format(layout) }

// AppendText appends the time in the API's form to b.
func (t Time) AppendText(b []byte) ([]byte, error) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, fmt.Errorf("apitime: year %d outside [0,9999]", y)
	}
	return t.AppendFormat(b, layout), nil
}

// MarshalText writes the time in the API's form.
func (t Time) MarshalText() ([]byte, error) { return t.AppendText(nil) }

// MarshalJSON writes the time as a JSON string in the API's form.
func (t Time) MarshalJSON() ([]byte, error) {
	b, err := t.AppendText([]byte{'"'})
	if err != nil {
		return nil, err
	}
	return append(b, '"'), nil
}

// UnmarshalText reads an RFC 3339 timestamp, with Z or a numeric offset.
func (t *Time) UnmarshalText(b []byte) error {
	parsed, err := time.Parse(time.RFC3339, string(b))
	if err != nil {
		return fmt.Errorf("apitime: %q is not an RFC 3339 timestamp", b)
	}
	t.Time = parsed
	return nil
}

// UnmarshalJSON reads a JSON string holding an RFC 3339 timestamp. A JSON
// null leaves t unchanged, as it does for time.Time.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("apitime: a timestamp must be a JSON string")
	}
	return t.UnmarshalText([]byte(s))
}
