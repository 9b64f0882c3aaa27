package wrapper

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fileNameCase is a file name and what must come of it: the quoted name in
// the part's header, and the title the API makes of it.
type fileNameCase struct {
	name   string
	quoted string // between the quotes of filename="..."
	title  string
}

// fileNameCases holds every control byte, quotes, a backslash and bytes
// that are not UTF-8, each inside an ordinary name.
func fileNameCases() []fileNameCase {
	var cases []fileNameCase
	for b := 0; b <= 0x7f; b++ {
		if b >= 0x20 && b != 0x7f {
			continue
		}
		name := "clip" + string(rune(b)) + "one.mp4"
		cases = append(cases, fileNameCase{name: name, quoted: "clip_one.mp4", title: "clip_one.mp4"})
	}
	return append(cases,
		fileNameCase{name: "clip\r\nX-Evil: 1\r\n\r\n.mp4", quoted: "clip__X-Evil: 1____.mp4", title: "clip__X-Evil: 1____.mp4"},
		fileNameCase{name: `say "hi".mp4`, quoted: `say \"hi\".mp4`, title: `say "hi".mp4`},
		fileNameCase{name: `back\slash.mp4`, quoted: `back\\slash.mp4`, title: `back\slash.mp4`},
		fileNameCase{name: `tail\`, quoted: `tail\\`, title: `tail\`},
		fileNameCase{name: "caf\xe9.mp4", quoted: "caf\uFFFD.mp4", title: "caf\uFFFD.mp4"},
		fileNameCase{name: "cut\xe2\x82.mp4", quoted: "cut\uFFFD\uFFFD.mp4", title: "cut\uFFFD\uFFFD.mp4"},
		fileNameCase{name: "\xff\xfe", quoted: "\uFFFD\uFFFD", title: "\uFFFD\uFFFD"},
		fileNameCase{name: "vidéo 日本.mp4", quoted: "vidéo 日本.mp4", title: "vidéo 日本.mp4"},
		fileNameCase{name: "\x1b]0;title\x07\x1b[31mred.mp4", quoted: "_]0;title__[31mred.mp4", title: "_]0;title__[31mred.mp4"},
	)
}

// TestFileNamesReachTheSandbox uploads under every awkward file name: each
// upload succeeds, and the title the sandbox makes of the name is the
// readable, escaped name. On feb85f2 the control bytes made the part's
// header malformed and every such upload failed with a 400.
func TestFileNamesReachTheSandbox(t *testing.T) {
	e := newUploadEnv(t)
	data := []byte("a tiny video")
	for _, tc := range fileNameCases() {
		t.Run(fmt.Sprintf("%q", tc.name), func(t *testing.T) {
			res, err := e.client.Upload(t.Context(), e.token, ReaderAt(bytes.NewReader(data), int64(len(data))),
				&UploadOptions{FileName: tc.name})
			require.NoError(t, err)
			assert.Equal(t, tc.title, res.Video.Title)
			assert.Equal(t, sha256Hex(data), res.SHA256)
		})
	}
}

// TestFileNameHeaderBytes reads the part's header as a server receives it:
// the one Content-Disposition line holds the escaped name, and no byte
// below 0x20 but the line's CR LF, nor 0x7F, nor a byte that is not UTF-8,
// is in the header block.
func TestFileNameHeaderBytes(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusCreated, `{"videoId":"viName"}`)
	})
	c, _ := newTestClient(t, f)
	data := []byte("a tiny video")
	for i, tc := range fileNameCases() {
		_, err := c.Upload(t.Context(), testToken, ReaderAt(bytes.NewReader(data), int64(len(data))),
			&UploadOptions{FileName: tc.name})
		require.NoError(t, err, "%q", tc.name)
		got := f.requests()
		require.Len(t, got, i+1)
		body := got[i].Body
		start := bytes.Index(body, []byte("\r\n")) + 2 // after the boundary line
		end := bytes.Index(body, []byte("\r\n\r\n"))
		require.Greater(t, end, start, "%q: no end of the part's header", tc.name)
		lines := strings.Split(string(body[start:end]), "\r\n")
		require.Len(t, lines, 2, "%q: the header block is two lines: %q", tc.name, body[start:end])
		assert.Equal(t, `Content-Disposition: form-data; name="file"; filename="`+tc.quoted+`"`, lines[0], "%q", tc.name)
		assert.Equal(t, "Content-Type: application/octet-stream", lines[1])
		for _, l := range lines {
			for j := 0; j < len(l); j++ {
				assert.False(t, l[j] < 0x20 || l[j] == 0x7f, "%q: byte %#x in the header", tc.name, l[j])
			}
			assert.True(t, isUTF8(l), "%q: the header is not UTF-8", tc.name)
		}
		assert.Equal(t, string(data)+"\r\n--", string(body[end+4:end+4+len(data)+4]), "%q: the file's bytes follow the header", tc.name)
	}
}

func isUTF8(s string) bool { return strings.ToValidUTF8(s, "\x00") == s }

// FuzzHeaderFileName: whatever the name, the header it makes parses, and
// gives back a name with no control character and nothing but UTF-8: the
// name itself when it had neither.
func FuzzHeaderFileName(f *testing.F) {
	for _, tc := range fileNameCases() {
		f.Add(tc.name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		value := `form-data; name="file"; filename="` + headerFileName(name) + `"`
		_, params, err := mime.ParseMediaType(value)
		require.NoError(t, err, "%q", value)
		got := params["filename"]
		assert.True(t, utf8.ValidString(got), "%q", got)
		assert.False(t, strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f }), "%q", got)
		if utf8.ValidString(name) && !strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			assert.Equal(t, name, got)
		}
	})
}
