package wrapper_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox/sandboxtest"
	"github.com/avupload/avupload/wrapper"
)

const fakeKey = "fake-api-key-0123456789"

// fakeTokenAPI answers the token routes as the API does, and can be told to
// misbehave: mint overrides POST /upload-tokens, deleteStatus makes
// DELETE answer that status.
type fakeTokenAPI struct {
	*httptest.Server
	mu           sync.Mutex
	n            int
	minted       []string
	ttls         []int
	deleted      map[string]time.Time
	deleteStatus int
	mint         func(w http.ResponseWriter, r *http.Request) bool // true when it answered
}

func newFakeTokenAPI(t *testing.T) *fakeTokenAPI {
	t.Helper()
	f := &fakeTokenAPI{deleted: map[string]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /upload-tokens", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		mint := f.mint
		f.mu.Unlock()
		if mint != nil && mint(w, r) {
			return
		}
		var body struct {
			TTL int `json:"ttl"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.n++
		tok := fmt.Sprintf("to%022d", f.n)
		f.minted = append(f.minted, tok)
		f.ttls = append(f.ttls, body.TTL)
		f.mu.Unlock()
		now := time.Now().UTC().Truncate(time.Second)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"token":%q,"ttl":%d,"createdAt":%q,"expiresAt":%q}`, tok, body.TTL,
			now.Format("2006-01-02T15:04:05-07:00"), now.Add(time.Duration(body.TTL)*time.Second).Format("2006-01-02T15:04:05-07:00"))
	})
	mux.HandleFunc("DELETE /upload-tokens/{token}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.deleteStatus != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.deleteStatus)
			fmt.Fprintf(w, `{"title":"broken","status":%d}`, f.deleteStatus)
			return
		}
		f.deleted[r.PathValue("token")] = time.Now()
		w.WriteHeader(http.StatusNoContent)
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeTokenAPI) mintedTokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.minted...)
}

func (f *fakeTokenAPI) deletedAt(tok string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	at, ok := f.deleted[tok]
	return at, ok
}

func (f *fakeTokenAPI) setDeleteStatus(s int) {
	f.mu.Lock()
	f.deleteStatus = s
	f.mu.Unlock()
}

func (f *fakeTokenAPI) setMint(fn func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	f.mint = fn
	f.mu.Unlock()
}

func newKeyClient(t *testing.T, baseURL, key string, opts ...wrapper.Option) *wrapper.Client {
	t.Helper()
	c, err := wrapper.New(append([]wrapper.Option{wrapper.WithAPIKey(key), wrapper.WithBaseURL(baseURL)}, opts...)...)
	require.NoError(t, err)
	return c
}

// byHeader is the authorization function of the tests: the principal is
// the X-User header; "mallory" is refused 403, no header 401.
func byHeader(r *http.Request) (string, error) {
	switch u := r.Header.Get("X-User"); u {
	case "":
		return "", fmt.Errorf("no session cookie for %s: %w", r.RemoteAddr, wrapper.ErrUnauthorized)
	case "mallory":
		return "", errors.New("mallory is banned (internal note)")
	default:
		return u, nil
	}
}

// newTokenHandler builds a handler and closes it when the test ends.
func newTokenHandler(t *testing.T, c *wrapper.Client, opts wrapper.TokenHandlerOptions) *wrapper.TokenHandler {
	t.Helper()
	if opts.Authorize == nil {
		opts.Authorize = byHeader
	}
	h, err := wrapper.NewTokenHandler(c, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Close(ctx)
	})
	return h
}

// ask sends one request to h and returns the recorded answer.
func ask(h http.Handler, method, user, origin string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://tokens.example.com/upload-token", nil)
	if user != "" {
		req.Header.Set("X-User", user)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// problemOf decodes a refusal and checks it is a JSON problem document
// with the answer's status.
func problemOf(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	var p map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p), "body: %s", rec.Body)
	assert.EqualValues(t, rec.Code, p["status"])
	assert.NotEmpty(t, p["title"])
	return p
}

func grantOf(t *testing.T, rec *httptest.ResponseRecorder) wrapper.TokenGrant {
	t.Helper()
	require.Equal(t, http.StatusOK, rec.Code, "body: %s", rec.Body)
	var g wrapper.TokenGrant
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &g))
	require.NotEmpty(t, g.UploadToken)
	return g
}

// TestTokenHandlerHandsOutAToken asks the handler for a token against the
// sandbox and uploads with it: the answer is the shape the browser
// uploader takes, and the token has the default TTL.
func TestTokenHandlerHandsOutAToken(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	c := newKeyClient(t, srv.URL+"/", srv.APIKey)
	h := newTokenHandler(t, c, wrapper.TokenHandlerOptions{})

	before := time.Now()
	rec := ask(h, http.MethodPost, "alice", "")
	require.Equal(t, http.StatusOK, rec.Code, "body: %s", rec.Body)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"), "a token is never cached")
	assert.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"), "no Origin, no CORS")

	var shape map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &shape))
	keys := make([]string, 0, len(shape))
	for k := range shape {
		keys = append(keys, k)
	}
	assert.ElementsMatch(t, []string{"uploadToken", "apiHost", "uploadUrl", "expiresAt"}, keys)

	g := grantOf(t, rec)
	host := strings.TrimPrefix(srv.URL, "http://")
	assert.Equal(t, host, g.APIHost, "the uploader's apiHost option")
	assert.Equal(t, srv.URL+"/upload?token="+g.UploadToken, g.UploadURL)
	assert.WithinDuration(t, before.Add(wrapper.DefaultTokenHandlerTTL), g.ExpiresAt, 3*time.Second)

	got, err := c.GetUploadToken(t.Context(), g.UploadToken)
	require.NoError(t, err)
	assert.Equal(t, wrapper.DefaultTokenHandlerTTL, got.TTL)

	uploader, err := wrapper.New(wrapper.WithBaseURL(srv.URL))
	require.NoError(t, err)
	res, err := uploader.Upload(t.Context(), g.UploadToken, wrapper.Reader(strings.NewReader("a small video"), 13), nil)
	require.NoError(t, err)
	assert.NotEmpty(t, res.Video.VideoID)
}

// TestTokenHandlerGrantKeepsTheBasePath mounts the API below /api: the
// grant's apiHost and uploadUrl keep the path, as the uploader appends
// /upload to apiHost.
func TestTokenHandlerGrantKeepsTheBasePath(t *testing.T) {
	f := newFakeTokenAPI(t)
	mounted := httptest.NewServer(http.StripPrefix("/api", f.Config.Handler))
	defer mounted.Close()
	h := newTokenHandler(t, newKeyClient(t, mounted.URL+"/api", fakeKey), wrapper.TokenHandlerOptions{})
	g := grantOf(t, ask(h, http.MethodPost, "alice", ""))
	assert.Equal(t, strings.TrimPrefix(mounted.URL, "http://")+"/api", g.APIHost)
	assert.Equal(t, mounted.URL+"/api/upload?token="+g.UploadToken, g.UploadURL)
}

func TestNewTokenHandlerRefusesBadOptions(t *testing.T) {
	f := newFakeTokenAPI(t)
	c := newKeyClient(t, f.URL, fakeKey)
	noKey, err := wrapper.New(wrapper.WithBaseURL(f.URL))
	require.NoError(t, err)

	for _, tc := range []struct {
		name   string
		client *wrapper.Client
		opts   wrapper.TokenHandlerOptions
		want   error
	}{
		{"nil client", nil, wrapper.TokenHandlerOptions{Authorize: byHeader}, wrapper.ErrInvalidInput},
		{"client without the API key", noKey, wrapper.TokenHandlerOptions{Authorize: byHeader}, wrapper.ErrNoAPIKey},
		{"no authorization function", c, wrapper.TokenHandlerOptions{}, wrapper.ErrInvalidInput},
		{"TTL under a second", c, wrapper.TokenHandlerOptions{Authorize: byHeader, TTL: 500 * time.Millisecond}, wrapper.ErrInvalidInput},
		{"TTL not whole seconds", c, wrapper.TokenHandlerOptions{Authorize: byHeader, TTL: 1500 * time.Millisecond}, wrapper.ErrInvalidInput},
		{"negative TTL", c, wrapper.TokenHandlerOptions{Authorize: byHeader, TTL: -time.Second}, wrapper.ErrInvalidInput},
		{"TTL over the API's", c, wrapper.TokenHandlerOptions{Authorize: byHeader, TTL: wrapper.MaxTokenTTL + time.Second}, wrapper.ErrInvalidInput},
		{"negative alive limit", c, wrapper.TokenHandlerOptions{Authorize: byHeader, MaxAlive: -1}, wrapper.ErrInvalidInput},
		{"negative mint limit", c, wrapper.TokenHandlerOptions{Authorize: byHeader, MaxMinted: -1}, wrapper.ErrInvalidInput},
		{"window under a second", c, wrapper.TokenHandlerOptions{Authorize: byHeader, Window: time.Millisecond}, wrapper.ErrInvalidInput},
		{"wildcard origin", c, wrapper.TokenHandlerOptions{Authorize: byHeader, AllowedOrigins: []string{"*"}}, wrapper.ErrInvalidInput},
		{"origin with a path", c, wrapper.TokenHandlerOptions{Authorize: byHeader, AllowedOrigins: []string{"https://app.example.com/upload"}}, wrapper.ErrInvalidInput},
		{"origin without a scheme", c, wrapper.TokenHandlerOptions{Authorize: byHeader, AllowedOrigins: []string{"app.example.com"}}, wrapper.ErrInvalidInput},
		{"bad allowed header", c, wrapper.TokenHandlerOptions{Authorize: byHeader, AllowedHeaders: []string{"X-A: b"}}, wrapper.ErrInvalidInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := wrapper.NewTokenHandler(tc.client, tc.opts)
			assert.ErrorIs(t, err, tc.want)
			assert.Nil(t, h)
		})
	}
	assert.Empty(t, f.mintedTokens())
}

func TestTokenHandlerAnswersPOSTOnly(t *testing.T) {
	f := newFakeTokenAPI(t)
	h := newTokenHandler(t, newKeyClient(t, f.URL, fakeKey), wrapper.TokenHandlerOptions{})
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		t.Run(method, func(t *testing.T) {
			rec := ask(h, method, "alice", "")
			assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
			assert.Equal(t, "OPTIONS, POST", rec.Header().Get("Allow"))
			if method != http.MethodHead {
				problemOf(t, rec)
			}
		})
	}
	assert.Empty(t, f.mintedTokens(), "no token for another method")
}

func TestTokenHandlerRefusesWhomAuthorizeRefuses(t *testing.T) {
	f := newFakeTokenAPI(t)
	noPrincipal := func(*http.Request) (string, error) { return "", nil }
	for _, tc := range []struct {
		name      string
		authorize func(*http.Request) (string, error)
		user      string
		want      int
	}{
		{"not signed in", byHeader, "", http.StatusUnauthorized},
		{"signed in but refused", byHeader, "mallory", http.StatusForbidden},
		{"accepted with no principal", noPrincipal, "alice", http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newTokenHandler(t, newKeyClient(t, f.URL, fakeKey), wrapper.TokenHandlerOptions{Authorize: tc.authorize})
			rec := ask(h, http.MethodPost, tc.user, "")
			assert.Equal(t, tc.want, rec.Code)
			problemOf(t, rec)
			assert.NotContains(t, rec.Body.String(), "internal note", "the function's error text is not sent")
			assert.NotContains(t, rec.Body.String(), "session cookie")
		})
	}
	assert.Empty(t, f.mintedTokens(), "no token for a refused request")
}

func TestTokenHandlerCORS(t *testing.T) {
	const app = "https://app.example.com"
	f := newFakeTokenAPI(t)
	var asked atomic.Int32
	authorize := func(r *http.Request) (string, error) {
		asked.Add(1)
		return byHeader(r)
	}
	newH := func(credentials bool) *wrapper.TokenHandler {
		return newTokenHandler(t, newKeyClient(t, f.URL, fakeKey), wrapper.TokenHandlerOptions{
			Authorize: authorize, AllowedOrigins: []string{app + "/", "http://localhost:3000"},
			AllowCredentials: credentials, MaxAlive: 100,
		})
	}
	preflight := []string{"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "x-user"}

	t.Run("preflight of an allowed origin", func(t *testing.T) {
		before := asked.Load()
		rec := ask(newH(false), http.MethodOptions, "", app, preflight...)
		assert.Equal(t, http.StatusNoContent, rec.Code)
		assert.Equal(t, app, rec.Header().Get("Access-Control-Allow-Origin"))
		assert.Equal(t, "POST", rec.Header().Get("Access-Control-Allow-Methods"))
		assert.Equal(t, "Authorization, Content-Type", rec.Header().Get("Access-Control-Allow-Headers"))
		assert.Empty(t, rec.Header().Get("Access-Control-Allow-Credentials"))
		assert.Contains(t, rec.Header().Values("Vary"), "Origin")
		assert.Equal(t, before, asked.Load(), "a preflight is not authorized, it carries no credentials")
	})
	t.Run("preflight with credentials allowed", func(t *testing.T) {
		rec := ask(newH(true), http.MethodOptions, "", "http://localhost:3000", preflight...)
		assert.Equal(t, http.StatusNoContent, rec.Code)
		assert.Equal(t, "http://localhost:3000", rec.Header().Get("Access-Control-Allow-Origin"), "never * with credentials")
		assert.Equal(t, "true", rec.Header().Get("Access-Control-Allow-Credentials"))
	})
	t.Run("preflight of another origin", func(t *testing.T) {
		rec := ask(newH(true), http.MethodOptions, "", "https://evil.example.net", preflight...)
		assert.Equal(t, http.StatusForbidden, rec.Code)
		assert.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"))
		assert.Empty(t, rec.Header().Get("Access-Control-Allow-Credentials"))
		assert.Contains(t, rec.Header().Values("Vary"), "Origin")
	})
	t.Run("POST from an allowed origin", func(t *testing.T) {
		rec := ask(newH(false), http.MethodPost, "alice", app)
		grantOf(t, rec)
		assert.Equal(t, app, rec.Header().Get("Access-Control-Allow-Origin"))
		assert.Equal(t, "Retry-After", rec.Header().Get("Access-Control-Expose-Headers"))
		assert.Contains(t, rec.Header().Values("Vary"), "Origin")
	})
	t.Run("POST from another origin is refused before authorization", func(t *testing.T) {
		minted, before := len(f.mintedTokens()), asked.Load()
		rec := ask(newH(true), http.MethodPost, "alice", "https://evil.example.net")
		assert.Equal(t, http.StatusForbidden, rec.Code)
		problemOf(t, rec)
		assert.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"))
		assert.Equal(t, before, asked.Load(), "the authorization function is not called")
		assert.Len(t, f.mintedTokens(), minted, "no token minted")
	})
	t.Run("POST from the handler's own host", func(t *testing.T) {
		rec := ask(newH(false), http.MethodPost, "alice", "https://tokens.example.com")
		grantOf(t, rec)
		assert.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"), "same origin needs no CORS")
	})
	t.Run("POST with no Origin, as a program sends", func(t *testing.T) {
		rec := ask(newH(false), http.MethodPost, "alice", "")
		grantOf(t, rec)
		assert.Empty(t, rec.Header().Get("Access-Control-Allow-Origin"))
	})
}

// retryAfter reads the Retry-After header of a 429 as seconds.
func retryAfter(t *testing.T, rec *httptest.ResponseRecorder) int {
	t.Helper()
	n, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", rec.Header().Get("Retry-After"))
	return n
}

func TestTokenHandlerLimitsTokensAlive(t *testing.T) {
	f := newFakeTokenAPI(t)
	h := newTokenHandler(t, newKeyClient(t, f.URL, fakeKey), wrapper.TokenHandlerOptions{MaxAlive: 2, TTL: 300 * time.Second})
	first := grantOf(t, ask(h, http.MethodPost, "alice", ""))
	grantOf(t, ask(h, http.MethodPost, "alice", ""))

	rec := ask(h, http.MethodPost, "alice", "")
	assert.Equal(t, http.StatusTooManyRequests, rec.Code)
	p := problemOf(t, rec)
	assert.Contains(t, p["detail"], "at most 2 upload tokens alive at once")
	wait := retryAfter(t, rec)
	assert.True(t, wait > 290 && wait <= 300, "Retry-After %d: when alice's first token expires", wait)
	assert.Len(t, f.mintedTokens(), 2)

	grantOf(t, ask(h, http.MethodPost, "bob", "")) // another principal, another count

	require.NoError(t, h.Revoke(t.Context(), first.UploadToken))
	_, deleted := f.deletedAt(first.UploadToken)
	assert.True(t, deleted, "Revoke deletes the token at the API")
	grantOf(t, ask(h, http.MethodPost, "alice", "")) // Revoke freed a place
}

func TestTokenHandlerLimitsTokensPerWindow(t *testing.T) {
	f := newFakeTokenAPI(t)
	h := newTokenHandler(t, newKeyClient(t, f.URL, fakeKey), wrapper.TokenHandlerOptions{MaxMinted: 2, MaxAlive: 10, Window: time.Hour})
	first := grantOf(t, ask(h, http.MethodPost, "alice", ""))
	grantOf(t, ask(h, http.MethodPost, "alice", ""))
	require.NoError(t, h.Revoke(t.Context(), first.UploadToken))

	rec := ask(h, http.MethodPost, "alice", "")
	assert.Equal(t, http.StatusTooManyRequests, rec.Code, "a revoked token still counts in the window")
	p := problemOf(t, rec)
	assert.Contains(t, p["detail"], "at most 2 upload tokens per 1h0m0s")
	wait := retryAfter(t, rec)
	assert.True(t, wait > 3590 && wait <= 3600, "Retry-After %d: when alice's first mint leaves the window", wait)
	grantOf(t, ask(h, http.MethodPost, "bob", ""))
}

// TestTokenHandlerLimitsHoldUnderConcurrency sends many requests of one
// principal at once to an API that mints slowly: exactly the limit get a
// token, and the API is asked for no more.
func TestTokenHandlerLimitsHoldUnderConcurrency(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts wrapper.TokenHandlerOptions
	}{
		{"alive at once", wrapper.TokenHandlerOptions{MaxAlive: 5, MaxMinted: 1000}},
		{"minted per window", wrapper.TokenHandlerOptions{MaxAlive: 1000, MaxMinted: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTokenAPI(t)
			f.setMint(func(http.ResponseWriter, *http.Request) bool {
				time.Sleep(50 * time.Millisecond)
				return false
			})
			h := newTokenHandler(t, newKeyClient(t, f.URL, fakeKey), tc.opts)
			const n = 40
			codes := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { codes[i] = ask(h, http.MethodPost, "alice", "").Code })
			}
			wg.Wait()
			count := map[int]int{}
			for _, c := range codes {
				count[c]++
			}
			assert.Equal(t, map[int]int{http.StatusOK: 5, http.StatusTooManyRequests: n - 5}, count)
			assert.Len(t, f.mintedTokens(), 5, "the API is asked for exactly the limit")
		})
	}
}

// TestTokenHandlerWhenTheAPIDoesNotMint has the API fail the mint in each
// way it can: the answer is a clear JSON error, and the failed request
// counts against no limit.
func TestTokenHandlerWhenTheAPIDoesNotMint(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mint       func(w http.ResponseWriter, r *http.Request) bool
		closed     bool // the API is not even listening
		wantStatus int
		wantDetail string
		wantWait   string
	}{
		{name: "500", mint: func(w http.ResponseWriter, r *http.Request) bool {
			http.Error(w, "boom", http.StatusInternalServerError)
			return true
		}, wantStatus: http.StatusBadGateway, wantDetail: "the video API answered 500"},
		{name: "401, a wrong API key", mint: func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"title":"The API key is invalid.","status":401}`)
			return true
		}, wantStatus: http.StatusBadGateway, wantDetail: "the video API answered 401"},
		{name: "200 without a token", mint: func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ttl":600}`)
			return true
		}, wantStatus: http.StatusBadGateway, wantDetail: "held no token"},
		{name: "200 that is not JSON", mint: func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `<html>captive portal</html>`)
			return true
		}, wantStatus: http.StatusBadGateway},
		{name: "429 asking to wait", mint: func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"type":"https://docs.api.video/reference/too-many-requests","title":"Too many requests.","status":429}`)
			return true
		}, wantStatus: http.StatusServiceUnavailable, wantDetail: "the video API answered 429", wantWait: "7"},
		{name: "unreachable", closed: true, wantStatus: http.StatusBadGateway, wantDetail: "could not be reached"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTokenAPI(t)
			f.setMint(tc.mint)
			c := newKeyClient(t, f.URL, fakeKey, wrapper.WithoutRetries())
			h := newTokenHandler(t, c, wrapper.TokenHandlerOptions{MaxMinted: 1, MaxAlive: 1})
			if tc.closed {
				f.Close()
			}
			rec := ask(h, http.MethodPost, "alice", "")
			assert.Equal(t, tc.wantStatus, rec.Code)
			p := problemOf(t, rec)
			if tc.wantStatus == http.StatusBadGateway {
				assert.Equal(t, "No upload token could be minted.", p["title"])
			}
			assert.Contains(t, p["detail"], tc.wantDetail)
			assert.Equal(t, tc.wantWait, rec.Header().Get("Retry-After"))
			assert.NotContains(t, rec.Body.String(), fakeKey)
			if tc.closed {
				return
			}
			f.setMint(nil) // the API recovers: the failure took no place
			grantOf(t, ask(h, http.MethodPost, "alice", ""))
		})
	}
}

// TestTokenHandlerSlowAPIAndAGoneClient has the API hang while the
// browser gives up: the handler returns at once, keeps no place for the
// request, and closes without waiting for the API.
func TestTokenHandlerSlowAPIAndAGoneClient(t *testing.T) {
	f := newFakeTokenAPI(t)
	release := make(chan struct{})
	var hung atomic.Int32
	f.setMint(func(w http.ResponseWriter, r *http.Request) bool {
		hung.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
		http.Error(w, "gone", http.StatusServiceUnavailable)
		return true
	})
	defer close(release)
	h := newTokenHandler(t, newKeyClient(t, f.URL, fakeKey, wrapper.WithoutRetries()), wrapper.TokenHandlerOptions{MaxAlive: 1})

	ctx, cancel := context.WithCancel(t.Context())
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "http://tokens.example.com/", nil)
	req.Header.Set("X-User", "alice")
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}()
	require.Eventually(t, func() bool { return hung.Load() == 1 }, 5*time.Second, 10*time.Millisecond)
	start := time.Now()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler went on waiting for the API after the client left")
	}
	t.Logf("the handler returned %s after the client left", time.Since(start))

	f.setMint(nil)
	grantOf(t, ask(h, http.MethodPost, "alice", "")) // the abandoned request holds no place under MaxAlive 1

	closeCtx, cancelClose := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancelClose()
	require.NoError(t, h.Close(closeCtx))
	assert.Len(t, f.mintedTokens(), 1)
}

// TestTokenHandlerCloseWaitsForMintsUnderWay closes the handler while a
// mint is under way: the token the API mints after Close began is deleted
// too, and later requests are answered 503.
func TestTokenHandlerCloseWaitsForMintsUnderWay(t *testing.T) {
	f := newFakeTokenAPI(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	defer letGo() // a failing test does not leave the fake API hanging
	f.setMint(func(http.ResponseWriter, *http.Request) bool {
		close(entered)
		<-release
		return false
	})
	h := newTokenHandler(t, newKeyClient(t, f.URL, fakeKey), wrapper.TokenHandlerOptions{})
	answered := make(chan *httptest.ResponseRecorder)
	go func() { answered <- ask(h, http.MethodPost, "alice", "") }()
	<-entered

	closed := make(chan error)
	go func() { closed <- h.Close(t.Context()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a mint was under way", err)
	case <-time.After(200 * time.Millisecond):
	}
	f.setMint(nil)
	letGo()
	g := grantOf(t, <-answered)
	require.NoError(t, <-closed)
	_, deleted := f.deletedAt(g.UploadToken)
	assert.True(t, deleted, "the token minted during Close is deleted")

	rec := ask(h, http.MethodPost, "alice", "")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	problemOf(t, rec)
	assert.Len(t, f.mintedTokens(), 1)
}

// TestTokenHandlerDeletesTokensWhenTheyExpire: a token is deleted at the
// API once its TTL has passed, not before.
func TestTokenHandlerDeletesTokensWhenTheyExpire(t *testing.T) {
	f := newFakeTokenAPI(t)
	h := newTokenHandler(t, newKeyClient(t, f.URL, fakeKey), wrapper.TokenHandlerOptions{TTL: time.Second, MaxAlive: 1})
	g := grantOf(t, ask(h, http.MethodPost, "alice", ""))
	minted := time.Now()
	assert.Equal(t, http.StatusTooManyRequests, ask(h, http.MethodPost, "alice", "").Code)

	var at time.Time
	require.Eventually(t, func() bool {
		var ok bool
		at, ok = f.deletedAt(g.UploadToken)
		return ok
	}, 10*time.Second, 20*time.Millisecond, "the expired token is deleted")
	assert.GreaterOrEqual(t, at.Sub(minted), time.Second-50*time.Millisecond, "not before it expires")
	f.mu.Lock()
	assert.Equal(t, []int{1}, f.ttls, "the API is asked for the handler's TTL")
	f.mu.Unlock()
	grantOf(t, ask(h, http.MethodPost, "alice", "")) // its place is free
	assert.ErrorIs(t, h.Revoke(t.Context(), g.UploadToken), wrapper.ErrNotFound, "the handler holds it no more")
}

// TestTokenHandlerRevokeAgainstTheSandbox revokes one token, then all of
// a principal's, and checks the sandbox's list of tokens each time.
func TestTokenHandlerRevokeAgainstTheSandbox(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	c := newKeyClient(t, srv.URL, srv.APIKey)
	h := newTokenHandler(t, c, wrapper.TokenHandlerOptions{})
	ctx := t.Context()

	a1 := grantOf(t, ask(h, http.MethodPost, "alice", ""))
	a2 := grantOf(t, ask(h, http.MethodPost, "alice", ""))
	b1 := grantOf(t, ask(h, http.MethodPost, "bob", ""))
	assert.ElementsMatch(t, []string{a1.UploadToken, a2.UploadToken, b1.UploadToken}, listTokens(t, c))

	require.NoError(t, h.Revoke(ctx, a1.UploadToken))
	assert.ElementsMatch(t, []string{a2.UploadToken, b1.UploadToken}, listTokens(t, c))

	err := h.Revoke(ctx, a1.UploadToken)
	assert.ErrorIs(t, err, wrapper.ErrNotFound, "revoked already")
	assert.NotContains(t, err.Error(), a1.UploadToken)
	other, err := c.CreateUploadToken(ctx, time.Hour)
	require.NoError(t, err)
	assert.ErrorIs(t, h.Revoke(ctx, other.Token), wrapper.ErrNotFound, "a token the handler did not mint")
	assert.Contains(t, listTokens(t, c), other.Token, "is left alone")
	require.NoError(t, c.DeleteUploadToken(ctx, other.Token))

	require.NoError(t, h.RevokePrincipal(ctx, "alice"))
	assert.ElementsMatch(t, []string{b1.UploadToken}, listTokens(t, c))
	require.NoError(t, h.RevokePrincipal(ctx, "nobody"))
}

// TestTokenHandlerCloseLeavesNothingBehind hands out tokens over HTTP to
// several principals, closes the handler, and finds the sandbox's token
// list empty.
func TestTokenHandlerCloseLeavesNothingBehind(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	c := newKeyClient(t, srv.URL, srv.APIKey)
	h := newTokenHandler(t, c, wrapper.TokenHandlerOptions{MaxAlive: 5})
	web := httptest.NewServer(h)
	defer web.Close()

	for _, user := range []string{"alice", "alice", "bob", "carol", "carol", "carol"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, web.URL, nil)
		require.NoError(t, err)
		req.Header.Set("X-User", user)
		resp, err := web.Client().Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	require.Len(t, listTokens(t, c), 6)

	require.NoError(t, h.Close(t.Context()))
	assert.Empty(t, listTokens(t, c), "no token left at the API after Close")
	require.NoError(t, h.Close(t.Context()), "Close twice")

	resp, err := web.Client().Post(web.URL, "application/json", nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Empty(t, listTokens(t, c))
}

func listTokens(t *testing.T, c *wrapper.Client) []string {
	t.Helper()
	var out []string
	for tok, err := range c.AllUploadTokens(t.Context(), wrapper.ListOptions{PageSize: wrapper.MaxPageSize}) {
		require.NoError(t, err)
		out = append(out, tok.Token)
	}
	return out
}

// TestTokenHandlerCloseSaysWhatItCouldNotDelete has the API refuse the
// deletions at Close: the error counts the tokens left and names none;
// a second Close, once the API is back, deletes them.
func TestTokenHandlerCloseSaysWhatItCouldNotDelete(t *testing.T) {
	f := newFakeTokenAPI(t)
	h := newTokenHandler(t, newKeyClient(t, f.URL, fakeKey, wrapper.WithoutRetries()), wrapper.TokenHandlerOptions{})
	g1 := grantOf(t, ask(h, http.MethodPost, "alice", ""))
	g2 := grantOf(t, ask(h, http.MethodPost, "bob", ""))

	f.setDeleteStatus(http.StatusInternalServerError)
	err := h.Close(t.Context())
	require.Error(t, err)
	assert.ErrorIs(t, err, wrapper.ErrServer)
	assert.Contains(t, err.Error(), "2 of 2 upload tokens could not be deleted")
	assert.NotContains(t, err.Error(), g1.UploadToken)
	assert.NotContains(t, err.Error(), g2.UploadToken)
	assert.NotContains(t, err.Error(), fakeKey)

	f.setDeleteStatus(0)
	require.NoError(t, h.Close(t.Context()))
	for _, g := range []wrapper.TokenGrant{g1, g2} {
		_, deleted := f.deletedAt(g.UploadToken)
		assert.True(t, deleted)
	}
}

// TestTokenHandlerRevokeRetriesAFailedDeletion: a revoked token the API
// would not delete frees its place at once, and Close deletes it.
func TestTokenHandlerRevokeRetriesAFailedDeletion(t *testing.T) {
	f := newFakeTokenAPI(t)
	h := newTokenHandler(t, newKeyClient(t, f.URL, fakeKey, wrapper.WithoutRetries()), wrapper.TokenHandlerOptions{MaxAlive: 1})
	g := grantOf(t, ask(h, http.MethodPost, "alice", ""))
	f.setDeleteStatus(http.StatusServiceUnavailable)
	err := h.Revoke(t.Context(), g.UploadToken)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), g.UploadToken)
	grantOf(t, ask(h, http.MethodPost, "alice", "")) // the place is free

	f.setDeleteStatus(0)
	require.NoError(t, h.Close(t.Context()))
	_, deleted := f.deletedAt(g.UploadToken)
	assert.True(t, deleted, "Close deletes the revoked token the API kept")
}

// TestTokenHandlerNeverLogsATokenOrTheKey logs everything at debug level
// through a run with grants, refusals, failures, revocations and Close,
// and finds neither a token nor the key in the log.
func TestTokenHandlerNeverLogsATokenOrTheKey(t *testing.T) {
	f := newFakeTokenAPI(t)
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := newKeyClient(t, f.URL, fakeKey, wrapper.WithoutRetries(), wrapper.WithLogger(logger))
	h := newTokenHandler(t, c, wrapper.TokenHandlerOptions{MaxAlive: 2, AllowedOrigins: []string{"https://app.example.com"}})

	g1 := grantOf(t, ask(h, http.MethodPost, "alice", "https://app.example.com"))
	g2 := grantOf(t, ask(h, http.MethodPost, "alice", ""))
	assert.Equal(t, http.StatusTooManyRequests, ask(h, http.MethodPost, "alice", "").Code)
	assert.Equal(t, http.StatusForbidden, ask(h, http.MethodPost, "mallory", "").Code)
	assert.Equal(t, http.StatusForbidden, ask(h, http.MethodPost, "alice", "https://evil.example.net").Code)
	f.setDeleteStatus(http.StatusInternalServerError)
	assert.Error(t, h.Revoke(t.Context(), g1.UploadToken))
	f.setDeleteStatus(0)
	require.NoError(t, h.Revoke(t.Context(), g2.UploadToken))
	f.setMint(func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "boom", http.StatusInternalServerError)
		return true
	})
	assert.Equal(t, http.StatusBadGateway, ask(h, http.MethodPost, "bob", "").Code)
	require.NoError(t, h.Close(t.Context()))

	mu.Lock()
	log := buf.String()
	mu.Unlock()
	require.Contains(t, log, "principal=alice", "the log says whom tokens went to")
	require.Contains(t, log, "upload token not minted")
	for _, secret := range []string{g1.UploadToken, g2.UploadToken, fakeKey} {
		assert.NotContains(t, log, secret)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
