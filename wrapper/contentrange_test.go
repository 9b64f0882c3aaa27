package wrapper

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestContentRangeFormat(t *testing.T) {
	cases := []struct {
		r    contentRange
		want string
	}{
		{bytesRange(0, 1000, 5000), "bytes 0-999/5000"},
		{bytesRange(5242880, 1, 5242881), "bytes 5242880-5242880/5242881"},
		{bytesRange(52428799999, 1, 52428800000), "bytes 52428799999-52428799999/52428800000"},
		{partRange(1, 0), "part 1/*"},
		{partRange(3, 3), "part 3/3"},
		{partRange(10000, 10000), "part 10000/10000"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.r.String())
			got, err := parseContentRange(tc.want)
			require.NoError(t, err)
			assert.Equal(t, tc.r, got)
		})
	}
}

func TestContentRangeParseRefuses(t *testing.T) {
	for _, s := range []string{
		"", "bytes", "bytes 0-1", "bytes 1-0/5", "bytes 0-5/5", "bytes -1-3/5", "bytes 0-3/+5",
		"bytes 00-3/5", "bytes  0-3/5", "Bytes 0-3/5", "bytes 0-3/99999999999999999999",
		"part 0/*", "part 2/1", "part 1/0", "part 10001/*", "part 1/10001", "part */*", "part 1", "parts 1/1",
	} {
		t.Run(s, func(t *testing.T) {
			_, err := parseContentRange(s)
			assert.ErrorIs(t, err, errRangeSyntax)
		})
	}
}

// FuzzContentRange checks that whatever parses formats back to the same text.
func FuzzContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-999/5000", "part 1/*", "part 3/3", "bytes 0-0/1", "part 10000/10000", "bytes 9-8/7", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := parseContentRange(s)
		if err != nil {
			return
		}
		require.Equal(t, s, r.String())
		again, err := parseContentRange(r.String())
		require.NoError(t, err)
		require.Equal(t, r, again)
	})
}
