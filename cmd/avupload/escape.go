package main

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// escapeText makes text a server sent safe to print on a terminal: control
// characters (C0, DEL, C1: the start of every ANSI and OSC sequence, which
// could rename the window, erase lines or forge a "complete" line), the
// characters that reorder text (bidirectional overrides) and bytes that are
// not UTF-8 are written as Go escapes (\x1b, \u202e), so that they show
// instead of acting. Everything else, non-ASCII letters included, is kept.
func escapeText(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || unsafeRune(r) {
			return true
		}
		i += n
	}
	return false
}

// unsafeRune reports whether r acts on a terminal or on the order text is
// shown in, rather than showing.
func unsafeRune(r rune) bool {
	if unicode.IsControl(r) {
		return true
	}
	switch {
	case r == '\u061c', r == '\u200e', r == '\u200f', // bidi marks
		r >= '\u202a' && r <= '\u202e', // embeddings and overrides
		r >= '\u2066' && r <= '\u2069': // isolates
		return true
	}
	return false
}

// escapeJSON escapes, in encoded JSON, the characters encoding/json leaves
// as they are but a terminal acts on (DEL, C1 controls, bidi overrides), as
// \u escapes: the JSON means the same and prints safely.
func escapeJSON(b []byte) []byte {
	s := string(b)
	if !needsEscape(s) {
		return b
	}
	var out strings.Builder
	for _, r := range s {
		if unsafeRune(r) && r != '\n' {
			fmt.Fprintf(&out, `\u%04x`, r)
			continue
		}
		out.WriteRune(r)
	}
	return []byte(out.String())
}
