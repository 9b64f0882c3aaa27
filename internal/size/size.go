// Package size reads the byte counts people type: on the command line
// (avupload's --chunk-size, the sandbox's --memory-budget) and in the
// sandbox's fault scripts (cut=BYTES), so that one spelling means the same
// everywhere.
package size

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// Unit is a binary unit of bytes and its suffix.
type Unit struct {
	Suffix string
	Bytes  int64
}

// Units are the suffixes Parse accepts, longest spellings first. They are
// binary (1 MiB = 1,048,576 bytes) whatever their spelling: "5MB" is read
// as 5 MiB, as most tools that take sizes on a command line do (a chunk
// size or a memory budget is counted in the binary units the limits are
// written in), rather than refused. The first three are the ones sizes
// are written with.
var Units = []Unit{
	{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10},
	{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1},
}

// The refusals of Parse that are not about the spelling.
var (
	ErrNegative = errors.New("a size cannot be negative")
	ErrTooLarge = errors.New("too large")
)

// Parse parses a byte count: a whole number of bytes ("52428800") or a
// number with a binary unit ("50MiB", "5 MiB", "1.5GiB", "512K", "5MB": see
// Units). Units are matched without regard to case. A refused size is 0.
func Parse(s string) (int64, error) {
	text := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range Units {
		if len(text) > len(u.Suffix) && strings.EqualFold(text[len(text)-len(u.Suffix):], u.Suffix) {
			text, mult = strings.TrimSpace(text[:len(text)-len(u.Suffix)]), u.Bytes
			break
		}
	}
	n, err := strconv.ParseInt(text, 10, 64)
	switch {
	case err == nil && n < 0:
		return 0, ErrNegative
	case err == nil && n > math.MaxInt64/mult:
		return 0, ErrTooLarge
	case err == nil:
		return n * mult, nil
	case errors.Is(err, strconv.ErrRange) && strings.HasPrefix(text, "-"):
		return 0, ErrNegative
	case errors.Is(err, strconv.ErrRange):
		return 0, ErrTooLarge
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || mult == 1 || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(text, "eExXpP_") {
		return 0, errors.New("want a whole number of bytes, or a number with KiB, MiB or GiB, e.g. 50MiB")
	}
	bytes := f * float64(mult)
	switch {
	case bytes < 0:
		return 0, ErrNegative
	case bytes >= math.MaxInt64:
		return 0, ErrTooLarge
	}
	return int64(bytes), nil
}
