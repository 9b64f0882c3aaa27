package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/avupload/avupload/apitime"
	"github.com/avupload/avupload/wrapper"
)

// writeRaw writes an answer of the API as it was received, ending it with
// a newline: what --json prints. Only the characters a terminal would act
// on are escaped (escapeJSON), which leaves the JSON's meaning unchanged.
func writeRaw(w io.Writer, raw json.RawMessage) error {
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		raw = append(raw, '\n')
	}
	_, err := w.Write(escapeJSON(raw))
	return err
}

// writeTokenList writes tokens as the data of a token list, {"data":[...]},
// each one as the API sent it: what list --all --json prints.
func writeTokenList(w io.Writer, tokens []wrapper.UploadToken) error {
	b := []byte(`{"data":[`)
	for i, t := range tokens {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, t.RawJSON()...)
	}
	return writeRaw(w, append(b, "]}"...))
}

// writeTokenTable writes tokens as an aligned table with a header.
func writeTokenTable(w io.Writer, tokens []wrapper.UploadToken) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOKEN\tTTL\tCREATED\tEXPIRES")
	for _, t := range tokens {
		created, expires := "-", "never"
		if !t.CreatedAt.IsZero() {
			created = t.CreatedAt.Format(apitime.Layout)
		}
		if !t.ExpiresAt.IsZero() {
			expires = t.ExpiresAt.Format(apitime.Layout)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", escapeText(t.Token), formatTTL(t.TTL), created, expires)
	}
	return tw.Flush()
}

// formatTTL renders a token lifetime briefly: "1h", "1h30m", "45s", or
// "none" for a token that never expires.
func formatTTL(d time.Duration) string {
	if d == 0 {
		return "none"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
