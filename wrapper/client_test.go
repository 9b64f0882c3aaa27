package wrapper

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/gen"
)

func TestNewValidatesOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    []Option
		wantErr bool
		wantURL string
	}{
		{name: "defaults", wantURL: gen.ServerURLProduction},
		{name: "nil option ignored", opts: []Option{nil}, wantURL: gen.ServerURLProduction},
		{name: "sandbox", opts: []Option{WithSandbox()}, wantURL: gen.ServerURLSandbox},
		{name: "production", opts: []Option{WithSandbox(), WithProduction()}, wantURL: gen.ServerURLProduction},
		{name: "key", opts: []Option{WithAPIKey("abc123")}, wantURL: gen.ServerURLProduction},
		{name: "empty key", opts: []Option{WithAPIKey("")}, wantErr: true},
		{name: "blank key", opts: []Option{WithAPIKey("  ")}, wantErr: true},
		{name: "key with colon", opts: []Option{WithAPIKey("a:b")}, wantErr: true},
		{name: "key with newline", opts: []Option{WithAPIKey("ab\n")}, wantErr: true},
		{name: "base URL with path", opts: []Option{WithBaseURL("https://example.com/api/")}, wantURL: "https://example.com/api"},
		{name: "empty base URL", opts: []Option{WithBaseURL("")}, wantErr: true},
		{name: "unparsable base URL", opts: []Option{WithBaseURL("http://[::1")}, wantErr: true},
		{name: "relative base URL", opts: []Option{WithBaseURL("/api")}, wantErr: true},
		{name: "ftp base URL", opts: []Option{WithBaseURL("ftp://example.com")}, wantErr: true},
		{name: "base URL without host", opts: []Option{WithBaseURL("https://")}, wantErr: true},
		{name: "base URL with credentials", opts: []Option{WithBaseURL("https://u:p@example.com")}, wantErr: true},
		{name: "base URL with query", opts: []Option{WithBaseURL("https://example.com?a=1")}, wantErr: true},
		{name: "base URL with fragment", opts: []Option{WithBaseURL("https://example.com#x")}, wantErr: true},
		{name: "key over http to a remote host", opts: []Option{WithAPIKey("abc"), WithBaseURL("http://example.com")}, wantErr: true},
		{name: "key over http to a remote IP", opts: []Option{WithAPIKey("abc"), WithBaseURL("http://10.0.0.1:8080")}, wantErr: true},
		{name: "key over http to 127.0.0.1", opts: []Option{WithAPIKey("abc"), WithBaseURL("http://127.0.0.1:8080")}, wantURL: "http://127.0.0.1:8080"},
		{name: "key over http to ::1", opts: []Option{WithAPIKey("abc"), WithBaseURL("http://[::1]:8080")}, wantURL: "http://[::1]:8080"},
		{name: "key over http to localhost", opts: []Option{WithAPIKey("abc"), WithBaseURL("http://localhost:8080")}, wantURL: "http://localhost:8080"},
		{name: "no key over http to a remote host", opts: []Option{WithBaseURL("http://example.com")}, wantURL: "http://example.com"},
		{name: "HTTP client", opts: []Option{WithHTTPClient(&http.Client{})}, wantURL: gen.ServerURLProduction},
		{name: "nil HTTP client", opts: []Option{WithHTTPClient(nil)}, wantErr: true},
		{name: "retry policy", opts: []Option{WithRetryPolicy(RetryPolicy{MaxAttempts: 2})}, wantURL: gen.ServerURLProduction},
		{name: "negative attempts", opts: []Option{WithRetryPolicy(RetryPolicy{MaxAttempts: -1})}, wantErr: true},
		{name: "negative backoff", opts: []Option{WithRetryPolicy(RetryPolicy{InitialBackoff: -time.Second})}, wantErr: true},
		{name: "initial above max backoff", opts: []Option{WithRetryPolicy(RetryPolicy{InitialBackoff: 2 * time.Second, MaxBackoff: time.Second})}, wantErr: true},
		{name: "without retries", opts: []Option{WithoutRetries()}, wantURL: gen.ServerURLProduction},
		{name: "nil logger", opts: []Option{WithLogger(nil)}, wantErr: true},
		{name: "user agent", opts: []Option{WithUserAgent("my-app/1.0")}, wantURL: gen.ServerURLProduction},
		{name: "empty user agent", opts: []Option{WithUserAgent(" ")}, wantErr: true},
		{name: "user agent spanning lines", opts: []Option{WithUserAgent("a\r\nX-Evil: 1")}, wantErr: true},
		{name: "origin app", opts: []Option{WithOriginApp("my_app-2", "1.20.3")}, wantURL: gen.ServerURLProduction},
		{name: "origin app name with blank", opts: []Option{WithOriginApp("my app", "1.0")}, wantErr: true},
		{name: "origin app name too long", opts: []Option{WithOriginApp(strings.Repeat("a", 51), "1.0")}, wantErr: true},
		{name: "origin app without version", opts: []Option{WithOriginApp("app", "")}, wantErr: true},
		{name: "origin app version with four parts", opts: []Option{WithOriginApp("app", "1.2.3.4")}, wantErr: true},
		{name: "origin app version part too long", opts: []Option{WithOriginApp("app", "1.2345")}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.opts...)
			if tt.wantErr {
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrInvalidInput)
				assert.Nil(t, c)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantURL, c.BaseURL())
		})
	}
}

func TestNewDoesNotModifyTheGivenHTTPClient(t *testing.T) {
	hc := &http.Client{Timeout: time.Minute}
	_, err := New(WithHTTPClient(hc))
	require.NoError(t, err)
	assert.Nil(t, hc.Transport)
}

// TestEveryRequestIdentifiesTheClient drives each of the five operations and
// checks the identification headers, and that the key goes to the token
// routes only.
func TestEveryRequestIdentifiesTheClient(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/upload":
			reply(w, http.StatusCreated, `{"videoId":"vi1"}`)
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case r.URL.Path == "/upload-tokens" && r.Method == http.MethodGet:
			reply(w, http.StatusOK, listJSON)
		default:
			reply(w, http.StatusOK, tokenJSON)
		}
	})
	c, _ := newTestClient(t, f, WithOriginApp("acme", "2.1"), WithUserAgent("acme-uploader/2.1"))
	ctx := t.Context()

	_, err := c.CreateUploadToken(ctx, time.Hour)
	require.NoError(t, err)
	_, err = c.ListUploadTokens(ctx, ListOptions{})
	require.NoError(t, err)
	_, err = c.GetUploadToken(ctx, testToken)
	require.NoError(t, err)
	require.NoError(t, c.DeleteUploadToken(ctx, testToken))
	resp, err := c.Raw().UploadWithUploadTokenWithBodyWithResponse(ctx,
		&gen.UploadWithUploadTokenParams{Token: testToken}, "multipart/form-data; boundary=x", strings.NewReader("--x--\r\n"))
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode())

	got := f.requests()
	require.Len(t, got, 5)
	for _, r := range got {
		assert.Equal(t, "avupload:"+Version, r.Header.Get("AV-Origin-Client"), r.Path)
		assert.Equal(t, "acme:2.1", r.Header.Get("AV-Origin-App"), r.Path)
		assert.Equal(t, "acme-uploader/2.1", r.Header.Get("User-Agent"), r.Path)
		assert.True(t, strings.HasPrefix(r.Path, basePath+"/"), "base path kept: %s", r.Path)
		key, pass, ok := (&http.Request{Header: r.Header}).BasicAuth()
		if r.Path == basePath+"/upload" {
			assert.False(t, ok, "the upload route must not get the API key")
			assert.Empty(t, r.Header.Get("Authorization"))
			continue
		}
		assert.True(t, ok, "%s %s has no Basic auth", r.Method, r.Path)
		assert.Equal(t, testKey, key)
		assert.Empty(t, pass)
	}
}

func TestDefaultHeadersWithoutOptions(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, tokenJSON) })
	c, _ := newTestClient(t, f)
	_, err := c.GetUploadToken(t.Context(), testToken)
	require.NoError(t, err)
	h := f.requests()[0].Header
	assert.Equal(t, "avupload:"+Version, h.Get("AV-Origin-Client"))
	assert.Equal(t, "avupload/"+Version, h.Get("User-Agent"))
	assert.Empty(t, h.Values("AV-Origin-App"))
}

// TestAPIKeyNeverLeavesTheAPIHost answers with a redirect to another host:
// it is not followed, so neither the key nor anything else goes there.
func TestAPIKeyNeverLeavesTheAPIHost(t *testing.T) {
	elsewhere := make(chan http.Header, 1)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere <- r.Header.Clone()
		reply(w, http.StatusOK, tokenJSON)
	}))
	t.Cleanup(other.Close)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/upload-tokens/x", http.StatusTemporaryRedirect)
	})
	c, _ := newTestClient(t, f)

	_, err := c.GetUploadToken(t.Context(), "x")
	require.ErrorIs(t, err, ErrRedirected)
	require.Equal(t, 1, f.count())
	key, _, ok := (&http.Request{Header: f.requests()[0].Header}).BasicAuth()
	assert.True(t, ok, "the API host gets the key")
	assert.Equal(t, testKey, key)
	assert.Empty(t, elsewhere, "another host must never get a request")
}

// TestRawSharesTheClientsSetup checks that the generated client Raw returns
// uses the same base URL, authentication, headers and retries.
func TestRawSharesTheClientsSetup(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/upload-tokens" {
			http.NotFound(w, r)
			return
		}
		reply(w, http.StatusServiceUnavailable, `{"title":"busy","status":503}`)
	})
	c, waits := newTestClient(t, f, WithOriginApp("acme", "1"))

	resp, err := c.Raw().ListUploadTokensWithResponse(t.Context(), &gen.ListUploadTokensParams{})
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode(), "the raw client reports statuses, not errors")

	got := f.requests()
	require.Len(t, got, testPolicy.MaxAttempts, "retried like the wrapper's own calls")
	assert.Len(t, waits.all(), testPolicy.MaxAttempts-1)
	for _, r := range got {
		assert.Equal(t, basePath+"/upload-tokens", r.Path)
		assert.Equal(t, "avupload:"+Version, r.Header.Get("AV-Origin-Client"))
		assert.Equal(t, "acme:1", r.Header.Get("AV-Origin-App"))
		key, _, ok := (&http.Request{Header: r.Header}).BasicAuth()
		assert.True(t, ok)
		assert.Equal(t, testKey, key)
	}
}

func TestRawWithoutRetries(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusBadGateway, `{}`) })
	c, waits := newTestClient(t, f, WithoutRetries())
	resp, err := c.Raw().GetUploadTokenWithResponse(context.Background(), "x")
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode())
	assert.Equal(t, 1, f.count())
	assert.Empty(t, waits.all())
}

// TestSettingsLiveOnce: the Client, its caller and its transports (of the
// calls and of the chunks) share one copy of the key, base path, retry
// policy and logger.
func TestSettingsLiveOnce(t *testing.T) {
	c, err := New(WithBaseURL("http://127.0.0.1:1/api/"), WithAPIKey("k1"))
	require.NoError(t, err)
	assert.Equal(t, "/api", c.basePath)
	assert.Same(t, c.config, c.caller.config)
	for _, hc := range []*http.Client{c.caller.hc, c.caller.chunks} {
		tr, ok := hc.Transport.(*transport)
		require.True(t, ok)
		assert.Same(t, c.config, tr.config)
	}
}
