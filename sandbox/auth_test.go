package sandbox_test

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
	"github.com/avupload/avupload/sandbox"
)

// serve runs a Sandbox built from opts behind an httptest server.
func serve(t *testing.T, opts ...sandbox.Option) (string, *sandbox.Sandbox) {
	t.Helper()
	sb, err := sandbox.New(opts...)
	require.NoError(t, err)
	ts := httptest.NewServer(sb)
	t.Cleanup(ts.Close)
	return ts.URL, sb
}

// postJSON posts body with the given Content-Type and no credentials.
func postJSON(t *testing.T, url, body, contentType string) apiResponse {
	t.Helper()
	return call(t, http.MethodPost, url, "", strings.NewReader(body), contentType)
}

// withBearer sends a request with "Authorization: Bearer token".
func withBearer(t *testing.T, method, url, token, body string) apiResponse {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return do(t, req)
}

// requireAccessToken checks the answer of an auth route and returns the
// access and refresh tokens.
func requireAccessToken(t *testing.T, r apiResponse) (access, refresh string) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Raw)
	assert.Equal(t, "Bearer", r.str("token_type"))
	assert.Equal(t, float64(3600), r.Body["expires_in"])
	assert.Len(t, r.Body, 4, "access_token, token_type, refresh_token, expires_in: %s", r.Raw)
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Retry-After"} {
		assert.NotEmpty(t, r.Header.Get(h), h)
	}
	access, refresh = r.str("access_token"), r.str("refresh_token")
	require.NotEmpty(t, access)
	require.NotEmpty(t, refresh)
	require.NotEqual(t, access, refresh)
	return access, refresh
}

func TestAuthAPIKeyThenBearerOnEveryTokenRoute(t *testing.T) {
	url, sb := serve(t, sandbox.WithAPIKeys("key-1", "key-2"))
	access, _ := requireAccessToken(t, postJSON(t, url+"/auth/api-key", `{"apiKey":"key-2"}`, "application/json"))

	created := withBearer(t, http.MethodPost, url+"/upload-tokens", access, `{"ttl":60}`)
	require.Equal(t, http.StatusOK, created.Status, "body: %s", created.Raw)
	token := created.str("token")
	require.NotEmpty(t, token)

	list := withBearer(t, http.MethodGet, url+"/upload-tokens", access, "")
	assert.Equal(t, http.StatusOK, list.Status, "body: %s", list.Raw)
	get := withBearer(t, http.MethodGet, url+"/upload-tokens/"+token, access, "")
	assert.Equal(t, http.StatusOK, get.Status, "body: %s", get.Raw)
	del := withBearer(t, http.MethodDelete, url+"/upload-tokens/"+token, access, "")
	assert.Equal(t, http.StatusNoContent, del.Status, "body: %s", del.Raw)

	// Basic keeps working beside bearer tokens.
	basic := call(t, http.MethodGet, url+"/upload-tokens", "key-1", nil, "")
	assert.Equal(t, http.StatusOK, basic.Status)

	assert.Equal(t, 1, sb.Stats().CountStatus(sandbox.OpAuthenticate, http.StatusOK))
}

func TestAuthRefusals(t *testing.T) {
	url, _ := serve(t, sandbox.WithAPIKeys("right-key"))
	_, refresh := requireAccessToken(t, postJSON(t, url+"/auth/api-key", `{"apiKey":"right-key"}`, "application/json"))
	// The first use of the refresh token is fine; the table replays it.
	requireAccessToken(t, postJSON(t, url+"/auth/refresh", `{"refreshToken":"`+refresh+`"}`, "application/json"))

	tests := []struct {
		name, path, body string
		status           int
		title, field     string
	}{
		{"wrong API key", "/auth/api-key", `{"apiKey":"wrong-key"}`, 401, "The API key is invalid.", "apiKey"},
		{"API key missing", "/auth/api-key", `{}`, 400, `The "apiKey" attribute is required.`, "apiKey"},
		{"API key empty", "/auth/api-key", `{"apiKey":""}`, 400, `The "apiKey" attribute is required.`, "apiKey"},
		{"no body", "/auth/api-key", ``, 400, "The request body is invalid.", "body"},
		{"not JSON", "/auth/api-key", `apiKey=right-key`, 400, "The request body is invalid.", "body"},
		{"unknown refresh token", "/auth/refresh", `{"refreshToken":"nope"}`, 401, "The refresh token is invalid or expired.", "refreshToken"},
		{"refresh token used twice", "/auth/refresh", `{"refreshToken":"` + refresh + `"}`, 401, "The refresh token is invalid or expired.", "refreshToken"},
		{"refresh token missing", "/auth/refresh", `{}`, 400, `The "refreshToken" attribute is required.`, "refreshToken"},
		{"API key as refresh token", "/auth/refresh", `{"refreshToken":"right-key"}`, 401, "The refresh token is invalid or expired.", "refreshToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postJSON(t, url+tt.path, tt.body, "application/json")
			requireProblem(t, r, tt.status, tt.title, tt.field)
			assert.NotContains(t, string(r.Raw), "right-key", "a credential never comes back in an error")
		})
	}
}

func TestAuthRefreshIssuesAWorkingPair(t *testing.T) {
	url, _ := serve(t)
	access1, refresh1 := requireAccessToken(t, postJSON(t, url+"/auth/api-key", `{"apiKey":"`+sandbox.DefaultAPIKey+`"}`, "application/json"))
	// The browser uploader sends its refresh request without a Content-Type,
	// which a browser turns into text/plain.
	access2, refresh2 := requireAccessToken(t, postJSON(t, url+"/auth/refresh", `{"refreshToken":"`+refresh1+`"}`, "text/plain;charset=UTF-8"))
	assert.NotEqual(t, access1, access2)
	assert.NotEqual(t, refresh1, refresh2)

	for _, tok := range []string{access1, access2} {
		r := withBearer(t, http.MethodGet, url+"/upload-tokens", tok, "")
		assert.Equal(t, http.StatusOK, r.Status, "an access token lasts its hour, even once refreshed: %s", r.Raw)
	}
	requireAccessToken(t, postJSON(t, url+"/auth/refresh", `{"refreshToken":"`+refresh2+`"}`, "application/json"))
}

func TestAuthAccessTokenExpires(t *testing.T) {
	clock := newFakeClock(time.Date(2024, 7, 14, 23, 0, 0, 0, time.UTC))
	url, _ := serve(t, sandbox.WithClock(clock.Now))
	access, refresh := requireAccessToken(t, postJSON(t, url+"/auth/api-key", `{"apiKey":"`+sandbox.DefaultAPIKey+`"}`, "application/json"))

	clock.Advance(sandbox.AccessTokenTTL - time.Second)
	assert.Equal(t, http.StatusOK, withBearer(t, http.MethodGet, url+"/upload-tokens", access, "").Status, "valid for expires_in")

	clock.Advance(time.Second)
	r := withBearer(t, http.MethodGet, url+"/upload-tokens", access, "")
	requireProblem(t, r, http.StatusUnauthorized, `The "Authorization" header value is invalid.`, "")
	assert.Contains(t, r.str("detail"), "expired")

	// The refresh token outlives the access token.
	access2, _ := requireAccessToken(t, postJSON(t, url+"/auth/refresh", `{"refreshToken":"`+refresh+`"}`, "application/json"))
	assert.Equal(t, http.StatusOK, withBearer(t, http.MethodGet, url+"/upload-tokens", access2, "").Status)
}

func TestAuthWrongOrMissingCredentialsOnTokenRoutes(t *testing.T) {
	url, sb := serve(t)
	upload, err := sb.CreateToken(0)
	require.NoError(t, err)

	tests := []struct {
		name, authorization, title string
	}{
		{"missing", "", `The "Authorization" header is missing.`},
		{"unknown bearer token", "Bearer not-a-token", `The "Authorization" header value is invalid.`},
		{"empty bearer token", "Bearer ", `The "Authorization" header value is invalid.`},
		{"API key as bearer token", "Bearer " + sandbox.DefaultAPIKey, `The "Authorization" header value is invalid.`},
		{"upload token as bearer token", "Bearer " + upload, `The "Authorization" header value is invalid.`},
		{"another scheme", "Digest abc", `The "Authorization" header value is invalid.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, url+"/upload-tokens", nil)
			require.NoError(t, err)
			if tt.authorization != "" {
				req.Header.Set("Authorization", tt.authorization)
			}
			requireProblem(t, do(t, req), http.StatusUnauthorized, tt.title, "")
		})
	}
}

// The generated client describes both schemes: it can fetch an access token
// and send it to the token routes.
func TestAuthWithTheGeneratedClient(t *testing.T) {
	url, _ := serve(t)
	c, err := gen.NewClientWithResponses(url)
	require.NoError(t, err)
	ctx := context.Background()

	auth, err := c.AuthenticateWithResponse(ctx, gen.AuthenticateJSONRequestBody{APIKey: sandbox.DefaultAPIKey})
	require.NoError(t, err)
	require.NotNil(t, auth.JSON200, "status %d: %s", auth.StatusCode(), auth.Body)
	assert.Equal(t, gen.AccessTokenTokenTypeBearer, auth.JSON200.TokenType)
	assert.Equal(t, 3600, auth.JSON200.ExpiresIn)

	bearer := func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+auth.JSON200.AccessToken)
		return nil
	}
	list, err := c.ListUploadTokensWithResponse(ctx, nil, bearer)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, list.StatusCode(), "body: %s", list.Body)

	refreshed, err := c.RefreshTokenWithResponse(ctx, gen.RefreshTokenJSONRequestBody{RefreshToken: auth.JSON200.RefreshToken})
	require.NoError(t, err)
	require.NotNil(t, refreshed.JSON200, "status %d: %s", refreshed.StatusCode(), refreshed.Body)

	bad, err := c.AuthenticateWithResponse(ctx, gen.AuthenticateJSONRequestBody{APIKey: "wrong"})
	require.NoError(t, err)
	require.NotNil(t, bad.JSON401, "status %d: %s", bad.StatusCode(), bad.Body)
}

func TestAuthRoutesTakeOnlyPost(t *testing.T) {
	url, _ := serve(t)
	for _, path := range []string{"/auth/api-key", "/auth/refresh"} {
		r := call(t, http.MethodGet, url+path, "", nil, "")
		assert.Equal(t, http.StatusMethodNotAllowed, r.Status, path)
		assert.Equal(t, "POST", r.Header.Get("Allow"), path)
	}
}
