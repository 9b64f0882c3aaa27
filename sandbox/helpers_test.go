package sandbox_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
)

// apiResponse is a decoded raw HTTP response.
type apiResponse struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

func (r apiResponse) str(key string) string {
	s, _ := r.Body[key].(string)
	return s
}

// call sends a raw request; key "" sends no Authorization header.
func call(t testing.TB, method, url, key string, body io.Reader, contentType string) apiResponse {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	if key != "" {
		req.SetBasicAuth(key, "")
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) apiResponse {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := apiResponse{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 {
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"), "body: %s", raw)
		require.NoError(t, json.Unmarshal(raw, &out.Body), "body: %s", raw)
	}
	return out
}

func createToken(t testing.TB, srv *sandbox.Server, body string) apiResponse {
	t.Helper()
	return call(t, http.MethodPost, srv.URL+"/upload-tokens", srv.APIKey, strings.NewReader(body), "application/json")
}

// part is one multipart part.
type part struct {
	field, fileName string
	data            []byte
}

// multipartBody builds a multipart/form-data body from parts, in order.
func multipartBody(t testing.TB, parts ...part) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		var w io.Writer
		var err error
		if p.fileName != "" {
			w, err = mw.CreateFormFile(p.field, p.fileName)
		} else {
			w, err = mw.CreateFormField(p.field)
		}
		require.NoError(t, err)
		_, err = w.Write(p.data)
		require.NoError(t, err)
	}
	require.NoError(t, mw.Close())
	return &buf, mw.FormDataContentType()
}

// uploadReq describes one upload request.
type uploadReq struct {
	token, videoID, contentRange, fileName string
	data                                   []byte
	videoIDAfterFile                       bool
	client                                 string // the AV-Origin-Client header, if any
}

func upload(t testing.TB, srv *sandbox.Server, u uploadReq) apiResponse {
	t.Helper()
	req := newUploadRequest(t, srv.URL, u)
	return do(t, req)
}

func newUploadRequest(t testing.TB, base string, u uploadReq) *http.Request {
	t.Helper()
	name := u.fileName
	if name == "" {
		name = "video.mp4"
	}
	file := part{field: "file", fileName: name, data: u.data}
	var parts []part
	if u.videoID != "" && !u.videoIDAfterFile {
		parts = append(parts, part{field: "videoId", data: []byte(u.videoID)})
	}
	parts = append(parts, file)
	if u.videoID != "" && u.videoIDAfterFile {
		parts = append(parts, part{field: "videoId", data: []byte(u.videoID)})
	}
	body, ct := multipartBody(t, parts...)
	req, err := http.NewRequest(http.MethodPost, base+"/upload?token="+u.token, body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", ct)
	if u.contentRange != "" {
		req.Header.Set("Content-Range", u.contentRange)
	}
	if u.client != "" {
		req.Header.Set("AV-Origin-Client", u.client)
	}
	return req
}

// newToken creates a token that never expires.
func newToken(t testing.TB, srv *sandbox.Server) string {
	t.Helper()
	tok, err := srv.Sandbox.CreateToken(0)
	require.NoError(t, err)
	return tok
}

// randomBytes returns n pseudo-random bytes from seed.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
	_, _ = r.Read(b)
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

const mib = 1 << 20

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// requireProblem checks a problem document.
func requireProblem(t testing.TB, r apiResponse, status int, title, name string) {
	t.Helper()
	require.Equal(t, status, r.Status, "body: %s", r.Raw)
	require.Equal(t, title, r.str("title"), "body: %s", r.Raw)
	require.Equal(t, float64(status), r.Body["status"], "body: %s", r.Raw)
	require.True(t, strings.HasPrefix(r.str("type"), "https://docs.api.video/reference/"), "type: %s", r.str("type"))
	if name != "" {
		require.Equal(t, name, r.str("name"), "body: %s", r.Raw)
	}
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
