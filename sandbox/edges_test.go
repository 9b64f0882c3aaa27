package sandbox_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// Edge cases a client other than ours may well send.

func TestListPageFarPastTheEnd(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	newToken(t, srv)
	// (page-1)*pageSize overflows an int64 here.
	r := call(t, http.MethodGet, srv.URL+"/upload-tokens?currentPage=368934881474191034&pageSize=25", srv.APIKey, nil, "")
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Raw)
	assert.Empty(t, r.Body["data"])
	pagination, _ := r.Body["pagination"].(map[string]any)
	assert.EqualValues(t, 1, pagination["itemsTotal"])
	assert.InDelta(t, 368934881474191034, pagination["currentPage"], 1e3)
}

func TestRateLimitHeadersOutsideTheRoutes(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	for _, tt := range []struct{ method, path string }{
		{http.MethodGet, "/nowhere"},
		{http.MethodPut, "/upload-tokens"},
		{http.MethodGet, "/upload"},
		{http.MethodOptions, "/upload"},
	} {
		r := call(t, tt.method, srv.URL+tt.path, srv.APIKey, nil, "")
		assert.Contains(t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, r.Status, "%s %s", tt.method, tt.path)
		for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Retry-After"} {
			assert.NotEmpty(t, r.Header.Get(h), "%s on %s %s", h, tt.method, tt.path)
		}
	}
}

func TestUploadTokenGivenTwice(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	tok := newToken(t, srv)
	body, ct := multipartBody(t, part{field: "file", fileName: "a.mp4", data: []byte("abc")})
	r := call(t, http.MethodPost, srv.URL+"/upload?token="+tok+"&token="+tok, "", body, ct)
	requireProblem(t, r, http.StatusUnauthorized, "The upload token is invalid or expired.", "token")
	assert.Contains(t, r.str("detail"), "once")
}

// A first chunk the API refuses starts no video.
func TestRefusedFirstChunkStartsNoVideo(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	tok := newToken(t, srv)
	for _, cr := range []string{"part 1/*", "part 1/3", "bytes 0-9/20000000"} {
		r := upload(t, srv, uploadReq{token: tok, data: []byte("0123456789"), contentRange: cr})
		require.Equal(t, http.StatusBadRequest, r.Status, "%s: %s", cr, r.Raw)
		assert.NotEmpty(t, r.str("title"), cr)
	}
	assert.Empty(t, srv.Sandbox.Videos(), "refused first chunks leave no video behind")
}
