package wrapper

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/gen/spec"
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
		assert.Equal(t, tc.want, tc.r.String())
	}
}

// contractPattern is the Content-Range pattern openapi.yaml gives.
func contractPattern(t testing.TB) *regexp.Regexp {
	doc, err := spec.GetSpec()
	require.NoError(t, err)
	param := doc.Paths.Find("/upload").Post.Parameters.GetByInAndName("header", "Content-Range")
	require.NotNil(t, param)
	return regexp.MustCompile(param.Schema.Value.Pattern)
}

// FuzzContentRange checks that every range the client can build matches the
// contract's pattern and says what it was built from.
func FuzzContentRange(f *testing.F) {
	f.Add(int64(0), int64(1000), int64(5000), 1, 0)
	f.Add(int64(52428799999), int64(1), int64(52428800000), 10000, 10000)
	f.Add(int64(5242880), int64(5242880), int64(10485761), 2, 3)
	pattern := contractPattern(f)
	f.Fuzz(func(t *testing.T, from, n, total int64, part, parts int) {
		if from >= 0 && n > 0 && total <= maxTotalSize && from <= total-n {
			s := bytesRange(from, n, total).String()
			require.Regexp(t, pattern, s)
			var f2, t2, n2 int64
			_, err := fmt.Sscanf(s, "bytes %d-%d/%d", &f2, &t2, &n2)
			require.NoError(t, err)
			require.Equal(t, [3]int64{from, from + n - 1, total}, [3]int64{f2, t2, n2})
		}
		if part >= 1 && part <= maxParts && (parts == 0 || parts >= part && parts <= maxParts) {
			s := partRange(part, parts).String()
			require.Regexp(t, pattern, s)
			var p2 int
			_, err := fmt.Sscanf(s, "part %d/", &p2)
			require.NoError(t, err)
			require.Equal(t, part, p2)
		}
	})
}
