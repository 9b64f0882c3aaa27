package sandbox_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/avupload/avupload/sandbox"
)

// FuzzUploadMultipart feeds arbitrary multipart bodies and Content-Range
// headers to the upload handler: it must never panic, and must always answer
// a documented status with a JSON problem document or a video.
func FuzzUploadMultipart(f *testing.F) {
	sb, err := sandbox.New()
	if err != nil {
		f.Fatal(err)
	}
	tok, err := sb.CreateToken(0)
	if err != nil {
		f.Fatal(err)
	}
	const boundary = "fuzzboundary"
	mk := func(s string) []byte { return []byte(s) }
	f.Add(mk("--fuzzboundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\nhello\r\n--fuzzboundary--\r\n"), "")
	f.Add(mk("--fuzzboundary\r\nContent-Disposition: form-data; name=\"videoId\"\r\n\r\nvi123\r\n--fuzzboundary\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\nabc\r\n--fuzzboundary--\r\n"), "bytes 0-2/3")
	f.Add(mk("--fuzzboundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n\r\n--fuzzboundary--\r\n"), "part 1/1")
	f.Add(mk("--fuzzboundary\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a\"\r\n\r\n1\r\n--fuzzboundary\r\nContent-Disposition: form-data; name=\"b\"; filename=\"b\"\r\n\r\n2\r\n--fuzzboundary--\r\n"), "part 1/*")
	f.Add(mk("--fuzzboundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nabc"), "")
	f.Add(mk("garbage"), "bytes 0-1/2")
	f.Fuzz(func(t *testing.T, body []byte, contentRange string) {
		req := httptest.NewRequest(http.MethodPost, "/upload?token="+tok, bytes.NewReader(body))
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
		if contentRange != "" {
			req.Header.Set("Content-Range", contentRange)
		}
		rec := httptest.NewRecorder()
		sb.ServeHTTP(rec, req)
		switch rec.Code {
		case 201, 400, 404:
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("content type %q", ct)
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
		if rec.Code != 201 && v["title"] == "" {
			t.Fatalf("problem without a title: %s", rec.Body)
		}
		if rec.Header().Get("X-RateLimit-Limit") == "" {
			t.Fatal("no rate-limit header")
		}
	})
}
