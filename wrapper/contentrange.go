package wrapper

import "strconv"

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
