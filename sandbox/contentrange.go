package sandbox

import (
	"fmt"
	"math"
	"strings"
)

// rangeUnit tells the two Content-Range forms apart.
type rangeUnit int

const (
	unitBytes rangeUnit = iota + 1
	unitPart
)

func (u rangeUnit) String() string {
	if u == unitPart {
		return "part"
	}
	return "bytes"
}

// contentRange is a parsed Content-Range header of an upload.
type contentRange struct {
	unit rangeUnit
	// bytes: inclusive range and total size.
	from, to, total int64
	// part: part number and number of parts; parts is 0 for "*".
	part, parts int64
}

func (c contentRange) String() string {
	if c.unit == unitPart {
		if c.parts == 0 {
			return fmt.Sprintf("part %d/*", c.part)
		}
		return fmt.Sprintf("part %d/%d", c.part, c.parts)
	}
	return fmt.Sprintf("bytes %d-%d/%d", c.from, c.to, c.total)
}

// last reports whether this range ends the video.
func (c contentRange) last() bool {
	if c.unit == unitPart {
		return c.parts != 0 && c.part == c.parts
	}
	return c.to == c.total-1
}

const rangeFormat = "expected format is bytes <from_byte>-<to_byte>/<total_bytes> or part <part>/<total_parts>"

func rangeMalformed(detail string) *apiError {
	return badRequest(typeInvalidRange,
		`The "Content-Range" header value is invalid: `+rangeFormat+".", "Content-Range", detail)
}

func rangeError(title, detail string) *apiError {
	return badRequest(typeInvalidRange, title, "Content-Range", detail)
}

// parseContentRange parses "bytes FROM-TO/TOTAL", "part N/TOTAL" or "part N/*"
// exactly as the contract's pattern allows. Numbers too large for int64 are
// saturated so the limit checks report them.
func parseContentRange(h string) (contentRange, *apiError) {
	bad := func() (contentRange, *apiError) {
		return contentRange{}, rangeMalformed(fmt.Sprintf("got %q", h))
	}
	unit, rest, ok := strings.Cut(h, " ")
	if !ok {
		return bad()
	}
	switch unit {
	case "bytes":
		span, total, ok := strings.Cut(rest, "/")
		if !ok {
			return bad()
		}
		from, to, ok := strings.Cut(span, "-")
		if !ok {
			return bad()
		}
		f, ok1 := parseDigits(from)
		t, ok2 := parseDigits(to)
		n, ok3 := parseDigits(total)
		if !ok1 || !ok2 || !ok3 {
			return bad()
		}
		return contentRange{unit: unitBytes, from: f, to: t, total: n}, nil
	case "part":
		part, parts, ok := strings.Cut(rest, "/")
		if !ok {
			return bad()
		}
		p, ok := parseDigits(part)
		if !ok {
			return bad()
		}
		if parts == "*" {
			return contentRange{unit: unitPart, part: p}, nil
		}
		n, ok := parseDigits(parts)
		if !ok {
			return bad()
		}
		if n == 0 {
			// "part N/0" is well-formed but names no parts; keep it apart
			// from "*" so the limit check can refuse it.
			n = -1
		}
		return contentRange{unit: unitPart, part: p, parts: n}, nil
	}
	return bad()
}

// parseDigits parses a non-empty string of ASCII digits, saturating at
// math.MaxInt64.
func parseDigits(s string) (int64, bool) {
	if s == "" {
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
			n = math.MaxInt64
			continue
		}
		n = n*10 + d
	}
	return n, true
}

// check applies the rules that need nothing but the header itself.
func (c contentRange) check() *apiError {
	if c.unit == unitBytes {
		switch {
		case c.total <= 0:
			return rangeError(`The "Content-Range" header total size must be greater than 0.`,
				fmt.Sprintf("got total %d", c.total))
		case c.total > MaxTotalSize:
			return rangeError(fmt.Sprintf(`The "Content-Range" header total size exceeds the maximum of %d bytes.`, int64(MaxTotalSize)),
				fmt.Sprintf("got total %d", c.total))
		case c.to > MaxRangeEnd:
			return rangeError(fmt.Sprintf(`The "Content-Range" header range end exceeds the maximum of %d.`, int64(MaxRangeEnd)),
				fmt.Sprintf("got end %d", c.to))
		case c.from > c.to:
			return rangeError(`The "Content-Range" header range start is greater than its end.`,
				fmt.Sprintf("got %d-%d", c.from, c.to))
		case c.to >= c.total:
			return rangeError(`The "Content-Range" header range ends beyond the total size.`,
				fmt.Sprintf("range %d-%d does not fit in %d bytes (the last byte is %d)", c.from, c.to, c.total, c.total-1))
		case c.to-c.from+1 < MinChunkSize && !c.last():
			return rangeError(fmt.Sprintf(`The "Content-Range" header range is smaller than %d bytes and is not the last one.`, MinChunkSize),
				fmt.Sprintf("range %d-%d holds %d bytes; every chunk but the last must hold at least %d", c.from, c.to, c.to-c.from+1, MinChunkSize))
		}
		return nil
	}
	switch {
	case c.part <= 0 || c.parts < 0:
		which, v := "part", c.part
		if c.part > 0 {
			which, v = "total_parts", 0
		}
		return rangeError(`The "Content-Range" header part number and number of parts must be greater than 0.`,
			fmt.Sprintf("got %s %d", which, v))
	case c.part > MaxParts || c.parts > MaxParts:
		which, v := "part", c.part
		if c.part <= MaxParts {
			which, v = "total_parts", c.parts
		}
		return rangeError(fmt.Sprintf(`The "Content-Range" header part number and number of parts must not exceed %d.`, MaxParts),
			fmt.Sprintf("got %s %d", which, v))
	case c.parts != 0 && c.parts < c.part:
		return partsBelowSent(c.parts, c.part)
	}
	return nil
}

func partsBelowSent(parts, part int64) *apiError {
	return rangeError(`The "Content-Range" header number of parts is below a part already sent.`,
		fmt.Sprintf("total_parts %d is below part %d", parts, part))
}
