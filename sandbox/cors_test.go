package sandbox_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
)

// preflight sends a CORS preflight for method and headers from origin.
func preflight(t *testing.T, url, origin, method, headers string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, url, nil)
	require.NoError(t, err)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	if headers != "" {
		req.Header.Set("Access-Control-Request-Headers", headers)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	return resp
}

// headerList splits a comma-separated header value, lower-cased.
func headerList(v string) []string {
	var out []string
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, strings.ToLower(f))
		}
	}
	return out
}

// Every header the official clients send, as a browser names them in a
// preflight (lower case).
const clientHeaders = "authorization,content-type,content-range,av-origin-client,av-origin-app,av-origin-sdk"

func TestCORSPreflightOnEveryRoute(t *testing.T) {
	url, sb := serve(t, sandbox.WithRateLimits(sandbox.RateLimits{Upload: 1, Write: 1, Read: 1}), sandbox.WithCORSOrigins("*"))
	tests := []struct {
		path, method, methods string
	}{
		{"/upload", "POST", "POST"},
		{"/upload-tokens", "POST", "GET, POST"},
		{"/upload-tokens", "GET", "GET, POST"},
		{"/upload-tokens/to1tcmSFHeYY5KzyhOqVKMKb", "GET", "GET, DELETE"},
		{"/upload-tokens/to1tcmSFHeYY5KzyhOqVKMKb", "DELETE", "GET, DELETE"},
		{"/auth/api-key", "POST", "POST"},
		{"/auth/refresh", "POST", "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			// Twice: preflights count against no rate limit.
			for range 2 {
				resp := preflight(t, url+tt.path, "http://page.test:3000", tt.method, clientHeaders)
				assert.Equal(t, http.StatusNoContent, resp.StatusCode)
				assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
				assert.Equal(t, tt.methods, resp.Header.Get("Access-Control-Allow-Methods"))
				assert.Subset(t, headerList(resp.Header.Get("Access-Control-Allow-Headers")), headerList(clientHeaders))
				assert.NotEmpty(t, resp.Header.Get("Access-Control-Max-Age"))
			}
		})
	}
	assert.Empty(t, sb.Stats().Operations, "preflights reach no operation")
}

func TestCORSHeadersOnAnswers(t *testing.T) {
	url, sb := serve(t, sandbox.WithCORSOrigins("*"))
	token, err := sb.CreateToken(0)
	require.NoError(t, err)
	sb.AddFaults(sandbox.Fault{Op: sandbox.OpGetUploadToken, Request: 1, Kind: sandbox.FaultStatus, Status: 503})

	tests := []struct {
		name, method, path, key string
		status                  int
	}{
		{"success", http.MethodGet, "/upload-tokens", sandbox.DefaultAPIKey, 200},
		{"refused credentials", http.MethodGet, "/upload-tokens", "", 401},
		{"injected fault", http.MethodGet, "/upload-tokens/" + token, sandbox.DefaultAPIKey, 503},
		{"upload without token", http.MethodPost, "/upload", "", 401},
		{"unknown path", http.MethodGet, "/videos", "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, url+tt.path, nil)
			require.NoError(t, err)
			req.Header.Set("Origin", "https://page.test")
			if tt.key != "" {
				req.SetBasicAuth(tt.key, "")
			}
			if tt.path == "/upload" {
				req.URL.RawQuery = "token="
			}
			r := do(t, req)
			assert.Equal(t, tt.status, r.Status, "body: %s", r.Raw)
			assert.Equal(t, "*", r.Header.Get("Access-Control-Allow-Origin"), "the page may read every answer, errors too")
			assert.Subset(t, headerList(r.Header.Get("Access-Control-Expose-Headers")),
				[]string{"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-retry-after"})
		})
	}

	// Without Origin (not a browser), no CORS headers.
	r := call(t, http.MethodGet, url+"/upload-tokens", sandbox.DefaultAPIKey, nil, "")
	assert.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))
}

func TestCORSConfiguredOrigins(t *testing.T) {
	url, _ := serve(t, sandbox.WithCORSOrigins("https://app.test:8443", "http://localhost:3000/"))

	t.Run("allowed origin is echoed", func(t *testing.T) {
		for _, origin := range []string{"https://app.test:8443", "http://localhost:3000"} {
			resp := preflight(t, url+"/upload", origin, "POST", "content-range,av-origin-client")
			assert.Equal(t, http.StatusNoContent, resp.StatusCode)
			assert.Equal(t, origin, resp.Header.Get("Access-Control-Allow-Origin"))
			assert.Contains(t, resp.Header.Values("Vary"), "Origin")

			req, err := http.NewRequest(http.MethodGet, url+"/upload-tokens", nil)
			require.NoError(t, err)
			req.Header.Set("Origin", origin)
			req.SetBasicAuth(sandbox.DefaultAPIKey, "")
			r := do(t, req)
			assert.Equal(t, http.StatusOK, r.Status)
			assert.Equal(t, origin, r.Header.Get("Access-Control-Allow-Origin"))
			assert.Contains(t, r.Header.Values("Vary"), "Origin")
		}
	})
	t.Run("other origin gets no CORS headers", func(t *testing.T) {
		resp := preflight(t, url+"/upload", "https://evil.test", "POST", "content-range")
		assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
		assert.Empty(t, resp.Header.Get("Access-Control-Allow-Methods"))

		req, err := http.NewRequest(http.MethodGet, url+"/upload-tokens", nil)
		require.NoError(t, err)
		req.Header.Set("Origin", "https://evil.test")
		req.SetBasicAuth(sandbox.DefaultAPIKey, "")
		r := do(t, req)
		assert.Equal(t, http.StatusOK, r.Status, "served; the browser withholds the answer")
		assert.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))
	})
	t.Run("unknown path", func(t *testing.T) {
		resp := preflight(t, url+"/videos", "https://app.test:8443", "POST", "")
		assert.Empty(t, resp.Header.Get("Access-Control-Allow-Methods"))
	})
}

func TestCORSOptionsThatAreNotPreflights(t *testing.T) {
	url, _ := serve(t)
	r := call(t, http.MethodOptions, url+"/upload", "", nil, "")
	assert.Equal(t, http.StatusMethodNotAllowed, r.Status, "OPTIONS without Access-Control-Request-Method is no preflight")
}

func TestWithCORSOriginsRejectsNonOrigins(t *testing.T) {
	for _, bad := range []string{"app.test", "https://app.test/path", "https://app.test?x=1", "https://user@app.test", ""} {
		_, err := sandbox.New(sandbox.WithCORSOrigins(bad))
		assert.Error(t, err, bad)
	}
	_, err := sandbox.New(sandbox.WithCORSOrigins())
	assert.Error(t, err)
	_, err = sandbox.New(sandbox.WithCORSOrigins("https://a.test", "*"))
	assert.NoError(t, err)
}

// TestCORSDefaultsToLoopback: without WithCORSOrigins, only pages served
// from this machine may call the sandbox from a browser; a page of any other
// site gets no CORS headers, so it can neither mint nor list tokens with
// the well-known default key. The inspection routes answer no browser.
func TestCORSDefaultsToLoopback(t *testing.T) {
	url, _ := serve(t)
	cases := []struct {
		origin  string
		allowed bool
	}{
		{"http://localhost:3000", true},
		{"https://localhost", true},
		{"http://127.0.0.1:8080", true},
		{"https://127.0.0.1:8443", true},
		{"http://[::1]:5173", true},
		{"https://[::1]", true},
		{"https://evil.test", false},
		{"http://localhost.evil.test:3000", false},
		{"http://127.0.0.1.evil.test", false},
		{"http://evil.test/?localhost:3000", false},
		{"http://user@localhost:3000", false},
		{"http://[::2]:3000", false},
		{"http://127.0.0.2:3000", false},
		{"ws://localhost:3000", false},
		{"file://", false},
		{"null", false},
	}
	for _, c := range cases {
		t.Run(c.origin, func(t *testing.T) {
			resp := preflight(t, url+"/upload-tokens", c.origin, "POST", "authorization,content-type")
			assert.Equal(t, http.StatusNoContent, resp.StatusCode)
			req, err := http.NewRequest(http.MethodGet, url+"/upload-tokens", nil)
			require.NoError(t, err)
			req.Header.Set("Origin", c.origin)
			req.SetBasicAuth(sandbox.DefaultAPIKey, "")
			r := do(t, req)
			require.Equal(t, http.StatusOK, r.Status)
			if c.allowed {
				assert.Equal(t, c.origin, resp.Header.Get("Access-Control-Allow-Origin"))
				assert.Equal(t, "GET, POST", resp.Header.Get("Access-Control-Allow-Methods"))
				assert.Equal(t, c.origin, r.Header.Get("Access-Control-Allow-Origin"))
			} else {
				assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
				assert.Empty(t, resp.Header.Get("Access-Control-Allow-Methods"))
				assert.Empty(t, r.Header.Get("Access-Control-Allow-Origin"))
			}
			assert.Contains(t, r.Header.Values("Vary"), "Origin")
		})
	}
}

// TestCORSInspectionRoutes: /_sandbox/... sends CORS headers only to the
// origins named one by one, never under "*" or the loopback default.
func TestCORSInspectionRoutes(t *testing.T) {
	const page = "http://localhost:3000"
	cases := []struct {
		name    string
		opts    []sandbox.Option
		allowed bool
	}{
		{"loopback default", nil, false},
		{"any origin", []sandbox.Option{sandbox.WithCORSOrigins("*")}, false},
		{"the origin named", []sandbox.Option{sandbox.WithCORSOrigins(page)}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url, _ := serve(t, c.opts...)
			for _, path := range []string{"/_sandbox/videos", "/_sandbox/stats", "/_sandbox/lint"} {
				resp := preflight(t, url+path, page, "GET", "")
				req, err := http.NewRequest(http.MethodGet, url+path, nil)
				require.NoError(t, err)
				req.Header.Set("Origin", page)
				r, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				require.NoError(t, r.Body.Close())
				require.Equal(t, http.StatusOK, r.StatusCode)
				if c.allowed {
					assert.Equal(t, page, resp.Header.Get("Access-Control-Allow-Origin"), path)
					assert.Equal(t, page, r.Header.Get("Access-Control-Allow-Origin"), path)
				} else {
					assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), path)
					assert.Empty(t, resp.Header.Get("Access-Control-Allow-Methods"), path)
					assert.Empty(t, r.Header.Get("Access-Control-Allow-Origin"), path)
				}
			}
		})
	}
}
