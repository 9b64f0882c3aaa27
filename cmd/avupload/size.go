package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeUnits are the suffixes parseSize accepts, largest first. They are
// binary (1 MiB = 1,048,576 bytes) whatever their spelling.
var sizeUnits = []struct {
	suffix string
	bytes  int64
}{
	{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1},
}

// parseSize parses a byte count: a whole number of bytes ("52428800") or a
// number with a binary unit ("50MiB", "5 MiB", "1.5GiB", "512K"). Units are
// matched without regard to case.
func parseSize(s string) (int64, error) {
	text := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if len(text) > len(u.suffix) && strings.EqualFold(text[len(text)-len(u.suffix):], u.suffix) {
			text, mult = strings.TrimSpace(text[:len(text)-len(u.suffix)]), u.bytes
			break
		}
	}
	n, err := strconv.ParseInt(text, 10, 64)
	switch {
	case err == nil && n < 0:
		return 0, errNegativeSize
	case err == nil && n > math.MaxInt64/mult:
		return 0, errSizeTooLarge
	case err == nil:
		return n * mult, nil
	case errors.Is(err, strconv.ErrRange) && strings.HasPrefix(text, "-"):
		return 0, errNegativeSize
	case errors.Is(err, strconv.ErrRange):
		return 0, errSizeTooLarge
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || mult == 1 || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(text, "eExXpP_") {
		return 0, errors.New("want a whole number of bytes, or a number with KiB, MiB or GiB, e.g. 50MiB")
	}
	bytes := f * float64(mult)
	switch {
	case bytes < 0:
		return 0, errNegativeSize
	case bytes >= math.MaxInt64:
		return 0, errSizeTooLarge
	}
	return int64(bytes), nil
}

// The refusals of parseSize that are not about the spelling.
var (
	errNegativeSize = errors.New("a size cannot be negative")
	errSizeTooLarge = errors.New("too large")
)

// checkSizeRange refuses n, the value of the size flag name as the user
// typed it (text), outside lo to hi. It gives the exact byte counts, since a
// rounded size such as "5.0 MiB" would hide why 5242879 is refused.
func checkSizeRange(name, text string, n, lo, hi int64) error {
	typed := "--" + name + " " + quoteIfNeeded(text)
	if _, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64); err != nil {
		typed += fmt.Sprintf(" (%d bytes)", n)
	}
	switch {
	case n < lo:
		return usagef("%s is below the minimum of %s (%d bytes)", typed, exactSize(lo), lo)
	case n > hi:
		return usagef("%s is above the maximum of %s (%d bytes)", typed, exactSize(hi), hi)
	}
	return nil
}

// exactSize renders n in the largest binary unit that divides it, "5MiB",
// or in bytes.
func exactSize(n int64) string {
	for _, u := range sizeUnits[:3] {
		if n >= u.bytes && n%u.bytes == 0 {
			return fmt.Sprintf("%d%s", n/u.bytes, u.suffix)
		}
	}
	return fmt.Sprintf("%d B", n)
}

// formatSize renders n bytes the way a person reads them: "300.0 MiB",
// "5.0 GiB", "512 B".
func formatSize(n int64) string {
	for _, u := range sizeUnits[:3] {
		if n >= u.bytes {
			return fmt.Sprintf("%.1f %s", float64(n)/float64(u.bytes), u.suffix)
		}
	}
	return fmt.Sprintf("%d B", n)
}

// sizeFlag is a pflag.Value holding a byte count written as parseSize reads it.
type sizeFlag struct {
	n    *int64
	text string
}

func newSizeFlag(n *int64, def int64, text string) *sizeFlag {
	*n = def
	return &sizeFlag{n: n, text: text}
}

func (f *sizeFlag) String() string { return f.text }
func (f *sizeFlag) Type() string   { return "size" }

func (f *sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	if n == 0 {
		return errors.New("a size must be above 0")
	}
	*f.n, f.text = n, s
	return nil
}
