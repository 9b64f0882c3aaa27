package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/avupload/avupload/internal/size"
)

// parseSize parses a byte count as every size flag and fault script reads
// it (see size.Parse): "52428800", "50MiB", "1.5GiB", "512K".
func parseSize(s string) (int64, error) { return size.Parse(s) }

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
	for _, u := range size.Units[:3] {
		if n >= u.Bytes && n%u.Bytes == 0 {
			return fmt.Sprintf("%d%s", n/u.Bytes, u.Suffix)
		}
	}
	return fmt.Sprintf("%d B", n)
}

// formatSize renders n bytes the way a person reads them: "300.0 MiB",
// "5.0 GiB", "512 B".
func formatSize(n int64) string {
	for _, u := range size.Units[:3] {
		if n >= u.Bytes {
			return fmt.Sprintf("%.1f %s", float64(n)/float64(u.Bytes), u.Suffix)
		}
	}
	return fmt.Sprintf("%d B", n)
}

// sizeFlag is a pflag.Value holding a byte count written as parseSize
// reads it, or, when auto, the word auto (0): the library's choice.
type sizeFlag struct {
	n    *int64
	text string
	auto bool
}

func newSizeFlag(n *int64, def int64, text string) *sizeFlag {
	*n = def
	return &sizeFlag{n: n, text: text}
}

// newAutoSizeFlag is a sizeFlag that takes auto too, its default.
func newAutoSizeFlag(n *int64) *sizeFlag {
	*n = 0
	return &sizeFlag{n: n, text: "auto", auto: true}
}

func (f *sizeFlag) String() string { return f.text }
func (f *sizeFlag) Type() string   { return "size" }

func (f *sizeFlag) Set(s string) error {
	if f.auto && strings.EqualFold(strings.TrimSpace(s), "auto") {
		*f.n, f.text = 0, "auto"
		return nil
	}
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
