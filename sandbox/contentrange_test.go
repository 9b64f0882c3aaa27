package sandbox

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// contractPattern is the Content-Range pattern of openapi.yaml.
var contractPattern = regexp.MustCompile(`^(bytes [0-9]+-[0-9]+/[0-9]+|part [0-9]+/([0-9]+|\*))$`)

func TestParseContentRange(t *testing.T) {
	cases := []struct {
		in   string
		want contentRange
		ok   bool
	}{
		{"bytes 0-999/1000", contentRange{unit: unitBytes, from: 0, to: 999, total: 1000}, true},
		{"bytes 5242880-10485759/12000000", contentRange{unit: unitBytes, from: 5242880, to: 10485759, total: 12000000}, true},
		{"part 2/3", contentRange{unit: unitPart, part: 2, parts: 3}, true},
		{"part 1/*", contentRange{unit: unitPart, part: 1}, true},
		{"part 1/0", contentRange{unit: unitPart, part: 1, parts: -1}, true},
		{"bytes 0-1/99999999999999999999", contentRange{unit: unitBytes, from: 0, to: 1, total: 1<<63 - 1}, true},
		{"", contentRange{}, false},
		{"bytes", contentRange{}, false},
		{"bytes 0-1", contentRange{}, false},
		{"bytes 0-1/*", contentRange{}, false},
		{"bytes -0-1/2", contentRange{}, false},
		{"bytes 0--1/2", contentRange{}, false},
		{"bytes 0-1/2 ", contentRange{}, false},
		{"bytes +0-1/2", contentRange{}, false},
		{"part */*", contentRange{}, false},
		{"part 1/2/3", contentRange{}, false},
		{"part 1-2/3", contentRange{}, false},
		{"parts 1/2", contentRange{}, false},
		{"Part 1/2", contentRange{}, false},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := parseContentRange(c.in)
			if !c.ok {
				require.NotNil(t, err)
				return
			}
			require.Nil(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

// FuzzParseContentRange checks the parser against the contract's pattern:
// it accepts exactly what the pattern accepts, never panics, and what it
// accepts prints back to the same header when the numbers fit.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{
		"bytes 0-999/1000", "bytes 0-0/1", "part 1/*", "part 3/3", "part 10000/10000",
		"bytes 52428799999-52428799999/52428800000", "bytes 9-3/10", "part 0/0", "bytes 0-1/*",
		"bytes 99999999999999999999-1/2", "part 1/2 ", "bytes=0-1/2", "", "part", "bytes 0-1/2/3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseContentRange(s)
		if contractPattern.MatchString(s) != (err == nil) {
			t.Fatalf("parse(%q) error %v disagrees with the contract's pattern", s, err)
		}
		if err != nil {
			if err.status != 400 || err.p.Name != "Content-Range" {
				t.Fatalf("parse(%q): want a 400 naming Content-Range, got %#v", s, err)
			}
			return
		}
		_ = c.check() // must not panic
		_ = c.last()
		if len(s) < 30 && c.parts >= 0 && c.from < 1<<62 && c.to < 1<<62 && c.total < 1<<62 && c.part < 1<<62 && c.parts < 1<<62 {
			again, err := parseContentRange(c.String())
			if err != nil || again != c {
				t.Fatalf("round trip of %q: %q gives %+v, %v", s, c.String(), again, err)
			}
		}
	})
}
