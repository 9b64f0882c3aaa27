package wrapper

import (
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOperationOf(t *testing.T) {
	tests := []struct {
		method, path, want string
	}{
		{http.MethodPost, "/upload", opUpload},
		{http.MethodPost, "/upload/", opUpload},
		{http.MethodPost, "/upload-tokens", opCreateToken},
		{http.MethodGet, "/upload-tokens", opListTokens},
		{http.MethodGet, "/upload-tokens/to1", opGetToken},
		{http.MethodDelete, "/upload-tokens/to1", opDeleteToken},
		{http.MethodGet, "/videos", "GET /videos"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			assert.Equal(t, tt.want, operationOf(tt.method, tt.path))
		})
	}
}

func TestRoundTripLeavesTheRequestAlone(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, tokenJSON) })
	c, _ := newTestClient(t, f)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.URL()+"/upload-tokens/to1", nil)
	require.NoError(t, err)
	req.Header.Set("X-Mine", "1")

	resp, err := c.caller.hc.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.Header{"X-Mine": {"1"}}, req.Header, "the caller's request is not modified")
	got := f.requests()[0].Header
	assert.Equal(t, "1", got.Get("X-Mine"))
	assert.NotEmpty(t, got.Get("Authorization"))
}

// TestClientIsSafeForConcurrentUse runs calls from many goroutines; -race
// reports any shared state they touch unsafely.
func TestClientIsSafeForConcurrentUse(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/upload-tokens" {
			reply(w, http.StatusOK, listJSON)
			return
		}
		reply(w, http.StatusServiceUnavailable, `{}`)
	})
	c, waits := newTestClient(t, f)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			_, err := c.ListUploadTokens(t.Context(), ListOptions{})
			assert.NoError(t, err)
			_, err = c.GetUploadToken(t.Context(), testToken)
			assert.ErrorIs(t, err, ErrServer)
		})
	}
	wg.Wait()
	assert.Equal(t, 16*(1+testPolicy.MaxAttempts), f.count())
	assert.Len(t, waits.all(), 16*(testPolicy.MaxAttempts-1))
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestAPIKeyOnlyToTheAPIOrigin checks which requests the transport gives the
// key: the API's own scheme and host, never /upload, never a downgrade from
// https to http on the same host, never another host.
func TestAPIKeyOnlyToTheAPIOrigin(t *testing.T) {
	var got *http.Request
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r
		return &http.Response{StatusCode: http.StatusNoContent, Body: http.NoBody, Request: r}, nil
	})
	c, err := New(WithAPIKey(testKey), WithProduction(), WithHTTPClient(&http.Client{Transport: base}), WithoutRetries())
	require.NoError(t, err)

	tests := []struct {
		url     string
		withKey bool
	}{
		{"https://ws.api.video/upload-tokens", true},
		{"https://ws.api.video/upload-tokens/to1", true},
		{"https://ws.api.video/upload?token=to1", false},
		{"http://ws.api.video/upload-tokens", false},
		{"https://sandbox.api.video/upload-tokens", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, tt.url, nil)
			require.NoError(t, err)
			resp, err := c.caller.hc.Transport.RoundTrip(req)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			_, _, has := got.BasicAuth()
			assert.Equal(t, tt.withKey, has)
		})
	}
}
