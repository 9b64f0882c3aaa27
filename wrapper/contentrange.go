package wrapper

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// contentRange is the Content-Range header of one chunk, in one of the two
// forms the API takes: by bytes ("bytes FROM-TO/TOTAL", inclusive) when the
// total size is known, or by part ("part N/TOTAL_PARTS", "part N/*" while the
// number of parts is unknown).
type contentRange struct {
	byPart bool
	// Bytes form: the inclusive range and the total size.
	from, to, total int64
	// Part form: the 1-based part number and the number of parts, 0 for "*".
	part, parts int
}

// bytesRange is the range of n bytes starting at from, out of total.
func bytesRange(from, n, total int64) contentRange {
	return contentRange{from: from, to: from + n - 1, total: total}
}

// partRange is part number part out of parts (0 while unknown).
func partRange(part, parts int) contentRange {
	return contentRange{byPart: true, part: part, parts: parts}
}

// String formats the header value.
func (r contentRange) String() string {
	if r.byPart {
		if r.parts == 0 {
			return "part " + strconv.Itoa(r.part) + "/*"
		}
		return "part " + strconv.Itoa(r.part) + "/" + strconv.Itoa(r.parts)
	}
	return "bytes " + strconv.FormatInt(r.from, 10) + "-" + strconv.FormatInt(r.to, 10) + "/" + strconv.FormatInt(r.total, 10)
}

// errRangeSyntax is returned by parseContentRange for a malformed value.
var errRangeSyntax = errors.New("malformed Content-Range")

// parseContentRange reads a header value written by String. It accepts only
// the canonical forms: single spaces, ASCII digits, no signs, no leading
// zeros, and ranges whose start is not after their end and whose end is
// inside the total.
func parseContentRange(s string) (contentRange, error) {
	bad := func() (contentRange, error) { return contentRange{}, fmt.Errorf("%w: %q", errRangeSyntax, s) }
	unit, rest, ok := strings.Cut(s, " ")
	if !ok {
		return bad()
	}
	switch unit {
	case "bytes":
		span, total, ok1 := strings.Cut(rest, "/")
		from, to, ok2 := strings.Cut(span, "-")
		if !ok1 || !ok2 {
			return bad()
		}
		f, ok1 := parseNumber(from)
		t, ok2 := parseNumber(to)
		n, ok3 := parseNumber(total)
		if !ok1 || !ok2 || !ok3 || f > t || t >= n {
			return bad()
		}
		return contentRange{from: f, to: t, total: n}, nil
	case "part":
		part, parts, ok := strings.Cut(rest, "/")
		if !ok {
			return bad()
		}
		p, ok := parseNumber(part)
		if !ok || p < 1 || p > maxParts {
			return bad()
		}
		if parts == "*" {
			return partRange(int(p), 0), nil
		}
		n, ok := parseNumber(parts)
		if !ok || n < p || n > maxParts {
			return bad()
		}
		return partRange(int(p), int(n)), nil
	}
	return bad()
}

// parseNumber parses a canonical non-negative decimal that fits an int64.
func parseNumber(s string) (int64, bool) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}
