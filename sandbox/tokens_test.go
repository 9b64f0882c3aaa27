package sandbox_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/recorded"
	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

var (
	tokenRE = regexp.MustCompile(`^to[A-Za-z0-9]{22}$`)
	atomRE  = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$`)
)

func TestAPIKeyAuth(t *testing.T) {
	srv := sandboxtest.NewServer(t, sandbox.WithAPIKeys("key-one", "key-two"))
	tok := newToken(t, srv)
	routes := []struct{ method, path, body string }{
		{http.MethodPost, "/upload-tokens", `{"ttl":60}`},
		{http.MethodGet, "/upload-tokens", ""},
		{http.MethodGet, "/upload-tokens/" + tok, ""},
		{http.MethodDelete, "/upload-tokens/" + "to0000000000000000000000", ""},
	}
	cases := []struct {
		name, header, title string
		status              int
	}{
		{"missing", "", `The "Authorization" header is missing.`, 401},
		{"bearer", "Bearer key-one", `The "Authorization" header value is invalid.`, 401},
		{"not base64", "Basic !!!", `The "Authorization" header value is invalid.`, 401},
		{"no colon", "Basic " + base64.StdEncoding.EncodeToString([]byte("key-one")), `The "Authorization" header value is invalid.`, 401},
		{"wrong key", "Basic " + base64.StdEncoding.EncodeToString([]byte("nope:")), "The API key is invalid.", 401},
		{"first key", "Basic " + base64.StdEncoding.EncodeToString([]byte("key-one:")), "", 0},
		{"second key", "Basic " + base64.StdEncoding.EncodeToString([]byte("key-two:")), "", 0},
	}
	for _, rt := range routes {
		for _, c := range cases {
			t.Run(rt.method+" "+rt.path[:min(len(rt.path), 15)]+" "+c.name, func(t *testing.T) {
				req, err := http.NewRequest(rt.method, srv.URL+rt.path, strings.NewReader(rt.body))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/json")
				if c.header != "" {
					req.Header.Set("Authorization", c.header)
				}
				r := do(t, req)
				assert.NotEmpty(t, r.Header.Get("X-RateLimit-Limit"))
				if c.status == 0 {
					assert.NotEqual(t, 401, r.Status, "body: %s", r.Raw)
					return
				}
				requireProblem(t, r, c.status, c.title, "")
			})
		}
	}
}

func TestCreateToken(t *testing.T) {
	clock := newFakeClock(time.Date(2020, 12, 2, 10, 13, 19, 0, time.UTC))
	srv := sandboxtest.NewServer(t, sandbox.WithClock(clock.Now))

	r := createToken(t, srv, `{"ttl":3600}`)
	require.Equal(t, 200, r.Status, "body: %s", r.Raw)
	assert.Regexp(t, tokenRE, r.str("token"))
	tok := r.str("token")
	assert.Equal(t, strings.Replace(recorded.CreateToken, "to1tcmSFHeYY5KzyhOqVKMKb", tok, 1)+"\n", string(r.Raw), "the recorded answer, byte for byte")

	r = createToken(t, srv, `{}`)
	require.Equal(t, 200, r.Status)
	assert.Equal(t, strings.Replace(recorded.TokenWithoutTTL, "to1tcmSFHeYY5KzyhOqVKMKb", r.str("token"), 1)+"\n", string(r.Raw))
	assert.NotContains(t, r.Body, "expiresAt")

	r = createToken(t, srv, `{"ttl":2147483647}`)
	require.Equal(t, 200, r.Status, "body: %s", r.Raw)
	assert.Regexp(t, atomRE, r.str("expiresAt"))

	for _, body := range []string{`{"ttl":-1}`, `{"ttl":2147483648}`, `{"ttl":"abc"}`, `{"ttl":1.5}`, `{"ttl":1e30}`} {
		t.Run(body, func(t *testing.T) {
			r := createToken(t, srv, body)
			requireProblem(t, r, 400, `The "ttl" attribute must be an integer between 0 and 2147483647.`, "ttl")
		})
	}
	for _, body := range []string{``, `not json`, `[1]`} {
		t.Run("body "+body, func(t *testing.T) {
			r := createToken(t, srv, body)
			require.Equal(t, 400, r.Status, "body: %s", r.Raw)
			assert.NotEmpty(t, r.str("title"))
		})
	}

	_, err := srv.Sandbox.CreateToken(-time.Second)
	assert.Error(t, err)
	_, err = srv.Sandbox.CreateToken(1500 * time.Millisecond)
	assert.Error(t, err)
}

func TestGetAndDeleteToken(t *testing.T) {
	clock := newFakeClock(time.Date(2020, 12, 2, 10, 13, 19, 0, time.UTC))
	srv := sandboxtest.NewServer(t, sandbox.WithClock(clock.Now))
	created := createToken(t, srv, `{"ttl":0}`)
	tok := created.str("token")

	r := call(t, http.MethodGet, srv.URL+"/upload-tokens/"+tok, srv.APIKey, nil, "")
	require.Equal(t, 200, r.Status)
	assert.Equal(t, strings.Replace(recorded.TokenWithoutTTL, "to1tcmSFHeYY5KzyhOqVKMKb", tok, 1)+"\n", string(r.Raw))

	r = call(t, http.MethodDelete, srv.URL+"/upload-tokens/"+tok, srv.APIKey, nil, "")
	require.Equal(t, 204, r.Status)
	assert.Empty(t, r.Raw)
	assert.NotEmpty(t, r.Header.Get("X-RateLimit-Remaining"))

	// The recorded 404, whose name is the token parameter on a token route.
	notFound := strings.Replace(recorded.NotFound, `"name":"videoId"`, `"name":"uploadToken"`, 1)
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		r = call(t, method, srv.URL+"/upload-tokens/"+tok, srv.APIKey, nil, "")
		require.Equal(t, 404, r.Status)
		assert.Equal(t, notFound+"\n", string(r.Raw))
	}
	// A deleted token no longer uploads.
	r = upload(t, srv, uploadReq{token: tok, data: []byte("x")})
	requireProblem(t, r, 401, "The upload token is invalid or expired.", "token")
}

func TestTokenExpiry(t *testing.T) {
	clock := newFakeClock(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := sandboxtest.NewServer(t, sandbox.WithClock(clock.Now))
	tok := createToken(t, srv, `{"ttl":60}`).str("token")
	forever := createToken(t, srv, `{"ttl":0}`).str("token")

	clock.Advance(59 * time.Second)
	require.Equal(t, 200, call(t, http.MethodGet, srv.URL+"/upload-tokens/"+tok, srv.APIKey, nil, "").Status)
	require.Equal(t, 201, upload(t, srv, uploadReq{token: tok, data: []byte("before expiry")}).Status)

	clock.Advance(time.Second)
	r := call(t, http.MethodGet, srv.URL+"/upload-tokens/"+tok, srv.APIKey, nil, "")
	requireProblem(t, r, 404, "The requested resource was not found.", "uploadToken")
	list := call(t, http.MethodGet, srv.URL+"/upload-tokens", srv.APIKey, nil, "")
	require.Equal(t, 200, list.Status)
	assert.NotContains(t, string(list.Raw), tok)
	assert.Contains(t, string(list.Raw), forever)
	r = upload(t, srv, uploadReq{token: tok, data: []byte("after expiry")})
	requireProblem(t, r, 401, "The upload token is invalid or expired.", "token")

	clock.Advance(1000 * time.Hour)
	require.Equal(t, 201, upload(t, srv, uploadReq{token: forever, data: []byte("never expires")}).Status)
}

func TestUploadTokenCredential(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	tok := newToken(t, srv)
	cases := []struct {
		name, query, title string
	}{
		{"no token param", "", "The upload token is missing."},
		{"empty token", "?token=", "The upload token is missing."},
		{"unknown token", "?token=to0000000000000000000000", "The upload token is invalid or expired."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body, ct := multipartBody(t, part{field: "file", fileName: "a.mp4", data: []byte("abc")})
			r := call(t, http.MethodPost, srv.URL+"/upload"+c.query, "", body, ct)
			requireProblem(t, r, 401, c.title, "token")
			assert.NotEmpty(t, r.Header.Get("X-RateLimit-Retry-After"))
		})
	}
	t.Run("authorization header is ignored", func(t *testing.T) {
		body, ct := multipartBody(t, part{field: "file", fileName: "a.mp4", data: []byte("abc")})
		r := call(t, http.MethodPost, srv.URL+"/upload?token="+tok, "not-the-api-key", body, ct)
		require.Equal(t, 201, r.Status, "body: %s", r.Raw)
	})
	t.Run("missing token is answered before a bad body", func(t *testing.T) {
		r := call(t, http.MethodPost, srv.URL+"/upload", "", strings.NewReader("{}"), "application/json")
		requireProblem(t, r, 401, "The upload token is missing.", "token")
	})
}

func TestListUploadTokens(t *testing.T) {
	t.Run("published example", func(t *testing.T) {
		clock := newFakeClock(time.Date(2020, 12, 2, 10, 26, 28, 0, time.UTC))
		srv := sandboxtest.NewServer(t, sandbox.WithClock(clock.Now))
		t0 := createToken(t, srv, `{"ttl":0}`).str("token")
		clock.Advance(18 * time.Second)
		t1 := createToken(t, srv, `{"ttl":3600}`).str("token")
		r := call(t, http.MethodGet, srv.URL+"/upload-tokens", srv.APIKey, nil, "")
		require.Equal(t, 200, r.Status)
		want := strings.NewReplacer("to37YfoPDRR2pcDKa6LsUE0M", t1, "to1W3ZS9PdUBZWzzTEZr1B79", t0).Replace(recorded.TokenList)
		assert.Equal(t, want+"\n", string(r.Raw), "the recorded answer, byte for byte")
		assert.Contains(t, string(r.Raw), "currentPage=1&pageSize=25", "links are not HTML-escaped")
	})

	clock := newFakeClock(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	srv := sandboxtest.NewServer(t, sandbox.WithClock(clock.Now))
	ttls := []int{300, 0, 300, 60, 0, 900, 300}
	for i, ttl := range ttls {
		createToken(t, srv, fmt.Sprintf(`{"ttl":%d}`, ttl))
		if i%2 == 0 { // some tokens share a createdAt
			clock.Advance(time.Second)
		}
	}
	list := func(query string) apiResponse {
		return call(t, http.MethodGet, srv.URL+"/upload-tokens"+query, srv.APIKey, nil, "")
	}
	links := func(r apiResponse) map[string]string {
		out := map[string]string{}
		for _, l := range r.Body["pagination"].(map[string]any)["links"].([]any) {
			m := l.(map[string]any)
			out[m["rel"].(string)] = m["uri"].(string)
		}
		return out
	}

	t.Run("pages neither repeat nor skip", func(t *testing.T) {
		for _, sort := range []string{"", "&sortBy=ttl", "&sortBy=ttl&sortOrder=desc", "&sortBy=createdAt&sortOrder=asc", "&sortOrder=desc"} {
			seen := map[string]bool{}
			var prev []float64
			for page := 1; page <= 3; page++ {
				r := list(fmt.Sprintf("?currentPage=%d&pageSize=3%s", page, sort))
				require.Equal(t, 200, r.Status, "body: %s", r.Raw)
				for _, d := range r.Body["data"].([]any) {
					tok := d.(map[string]any)["token"].(string)
					require.False(t, seen[tok], "token %s repeated (%s)", tok, sort)
					seen[tok] = true
					if strings.Contains(sort, "ttl") {
						prev = append(prev, d.(map[string]any)["ttl"].(float64))
					}
				}
			}
			require.Len(t, seen, len(ttls), sort)
			if strings.Contains(sort, "ttl") {
				asc := !strings.Contains(sort, "desc")
				for i := 1; i < len(prev); i++ {
					if asc {
						require.LessOrEqual(t, prev[i-1], prev[i])
					} else {
						require.GreaterOrEqual(t, prev[i-1], prev[i])
					}
				}
			}
		}
	})

	t.Run("pagination object and links", func(t *testing.T) {
		r := list("?currentPage=2&pageSize=3&sortBy=ttl&sortOrder=desc")
		require.Equal(t, 200, r.Status)
		p := r.Body["pagination"].(map[string]any)
		assert.Equal(t, map[string]any{"itemsTotal": 7.0, "pagesTotal": 3.0, "pageSize": 3.0, "currentPage": 2.0, "currentPageItems": 3.0, "links": p["links"]}, p)
		assert.Equal(t, map[string]string{
			"self":     "/upload-tokens?currentPage=2&pageSize=3&sortBy=ttl&sortOrder=desc",
			"first":    "/upload-tokens?currentPage=1&pageSize=3&sortBy=ttl&sortOrder=desc",
			"previous": "/upload-tokens?currentPage=1&pageSize=3&sortBy=ttl&sortOrder=desc",
			"next":     "/upload-tokens?currentPage=3&pageSize=3&sortBy=ttl&sortOrder=desc",
			"last":     "/upload-tokens?currentPage=3&pageSize=3&sortBy=ttl&sortOrder=desc",
		}, links(r))

		r = list("?currentPage=3&pageSize=3")
		assert.Equal(t, 1.0, r.Body["pagination"].(map[string]any)["currentPageItems"])
		assert.NotContains(t, links(r), "next")
		assert.Contains(t, links(r), "previous")
		r = list("")
		assert.Equal(t, 25.0, r.Body["pagination"].(map[string]any)["pageSize"])
		assert.NotContains(t, links(r), "previous")
	})

	t.Run("page past the end is empty", func(t *testing.T) {
		r := list("?currentPage=9&pageSize=3")
		require.Equal(t, 200, r.Status)
		assert.Equal(t, []any{}, r.Body["data"])
		assert.Equal(t, 0.0, r.Body["pagination"].(map[string]any)["currentPageItems"])
	})

	t.Run("out-of-range parameters", func(t *testing.T) {
		for _, c := range []struct{ query, name string }{
			{"?currentPage=0", "currentPage"},
			{"?currentPage=-3", "currentPage"},
			{"?currentPage=abc", "currentPage"},
			{"?pageSize=0", "pageSize"},
			{"?pageSize=101", "pageSize"},
			{"?pageSize=x", "pageSize"},
			{"?sortBy=token", "sortBy"},
			{"?sortOrder=up", "sortOrder"},
		} {
			t.Run(c.query, func(t *testing.T) {
				r := list(c.query)
				require.Equal(t, 400, r.Status, "body: %s", r.Raw)
				assert.Equal(t, c.name, r.str("name"))
				assert.Contains(t, r.str("title"), c.name)
			})
		}
		require.Equal(t, 200, list("?pageSize=100&currentPage=1").Status)
		require.Equal(t, 200, list("?pageSize=1").Status)
	})
}
