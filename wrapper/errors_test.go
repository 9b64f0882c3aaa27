package wrapper

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/testutil"
)

var sentinels = []error{ErrBadRequest, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrRateLimited, ErrServer, ErrNoAPIKey, ErrInvalidInput}

// TestAPIErrorMatchesItsSentinel checks errors.Is and errors.As for every
// status a caller may branch on, and that no other sentinel matches.
func TestAPIErrorMatchesItsSentinel(t *testing.T) {
	tests := []struct {
		status int
		want   error
	}{
		{http.StatusBadRequest, ErrBadRequest},
		{http.StatusUnauthorized, ErrUnauthorized},
		{http.StatusForbidden, ErrForbidden},
		{http.StatusNotFound, ErrNotFound},
		{http.StatusTooManyRequests, ErrRateLimited},
		{http.StatusInternalServerError, ErrServer},
		{http.StatusServiceUnavailable, ErrServer},
		{http.StatusConflict, nil},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request) { reply(w, tt.status, `{"status":1}`) })
			c, _ := newTestClient(t, f, WithoutRetries())
			_, err := c.ListUploadTokens(t.Context(), ListOptions{})
			require.Error(t, err)

			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, tt.status, apiErr.StatusCode)
			assert.Equal(t, opListTokens, apiErr.Op)
			for _, s := range sentinels {
				assert.Equal(t, s == tt.want, errors.Is(err, s), "errors.Is(%v)", s)
			}
		})
	}
}

func TestAPIErrorCarriesTheProblemDocument(t *testing.T) {
	const body = `{"type":"https://docs.api.video/reference/invalid-attribute","title":"An attribute is invalid.","name":"ttl","status":400,"detail":"ttl must be at most 2147483647","problems":[{"type":"https://docs.api.video/reference/invalid-attribute","title":"An attribute is invalid.","name":"ttl","status":400}]}`
	for _, ct := range []string{"application/json", "application/problem+json"} {
		t.Run(ct, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", ct)
				w.Header().Set("X-RateLimit-Limit", "40")
				w.Header().Set("X-RateLimit-Remaining", "12")
				w.Header().Set("X-RateLimit-Retry-After", "31")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(body))
			})
			c, _ := newTestClient(t, f)
			_, err := c.CreateUploadToken(t.Context(), time.Hour)

			var apiErr *APIError
			require.ErrorAs(t, err, &apiErr)
			assert.Equal(t, &APIError{
				Op:         opCreateToken,
				StatusCode: http.StatusBadRequest,
				Type:       "https://docs.api.video/reference/invalid-attribute",
				Title:      "An attribute is invalid.",
				Name:       "ttl",
				Detail:     "ttl must be at most 2147483647",
				Problems: []Problem{{
					Type: "https://docs.api.video/reference/invalid-attribute", Title: "An attribute is invalid.",
					Name: "ttl", Status: 400,
				}},
				RateLimit: RateLimit{Limit: 40, Remaining: 12, RetryAfter: 31 * time.Second},
			}, apiErr)
			assert.Equal(t, "avupload: createUploadToken: 400 Bad Request: An attribute is invalid. (ttl must be at most 2147483647)", err.Error())
		})
	}
}

func TestAPIErrorFromANonJSONAnswer(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>" + strings.Repeat("x", 500) + "</html>"))
	})
	c, _ := newTestClient(t, f, WithoutRetries())
	_, err := c.GetUploadToken(t.Context(), testToken)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusBadGateway, apiErr.StatusCode)
	assert.True(t, strings.HasPrefix(apiErr.Detail, "<html>xxx"), apiErr.Detail)
	assert.LessOrEqual(t, len(apiErr.Detail), 210, "only an excerpt is kept")
}

func TestTransportErrorIsAnOpError(t *testing.T) {
	f := newFake(t, testutil.HangUp)
	c, _ := newTestClient(t, f, WithoutRetries())
	err := c.DeleteUploadToken(t.Context(), testToken)
	var opErr *OpError
	require.ErrorAs(t, err, &opErr)
	assert.Equal(t, opDeleteToken, opErr.Op)
	assert.NotNil(t, errors.Unwrap(err))
	var apiErr *APIError
	assert.False(t, errors.As(err, &apiErr))
}

func TestOpErrorUnwrapsToTheNetError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there any more

	c, err := New(WithBaseURL("http://"+addr), WithAPIKey(testKey), WithoutRetries())
	require.NoError(t, err)
	_, err = c.GetUploadToken(t.Context(), testToken)
	var netErr net.Error
	require.ErrorAs(t, err, &netErr)
	var opErr *OpError
	require.ErrorAs(t, err, &opErr)
	assert.NotContains(t, err.Error(), testToken)
}

// TestSecretsNeverReachErrorsOrLogs makes every kind of failure happen with
// a server that echoes the key and the token back, and looks for them in
// error strings and in the client's log output.
func TestSecretsNeverReachErrorsOrLogs(t *testing.T) {
	echo := `{"title":"bad ` + testToken + `","detail":"key ` + testKey + ` token ` + testToken + `","problems":[{"title":"` + testToken + `"}]}`
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{name: "problem echoing secrets", handler: func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusNotFound, echo) }},
		{name: "text echoing secrets", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("upstream said " + testToken + " " + testKey))
		}},
		{name: "retried then refused", handler: func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusServiceUnavailable, echo) }},
		{name: "connection closed", handler: testutil.HangUp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			f := newFake(t, tt.handler)
			c, _ := newTestClient(t, f, WithLogger(logger))

			// Get and Delete carry the token; every call carries the key.
			_, getErr := c.GetUploadToken(t.Context(), testToken)
			deleteErr := c.DeleteUploadToken(t.Context(), testToken)
			_, listErr := c.ListUploadTokens(t.Context(), ListOptions{})
			_, createErr := c.CreateUploadToken(t.Context(), 0)
			for _, tc := range []struct {
				err     error
				secrets []string
			}{
				{getErr, []string{testKey, testToken}},
				{deleteErr, []string{testKey, testToken}},
				{listErr, []string{testKey}},
				{createErr, []string{testKey}},
			} {
				require.Error(t, tc.err)
				for _, secret := range tc.secrets {
					assert.NotContains(t, tc.err.Error(), secret)
					var apiErr *APIError
					if errors.As(tc.err, &apiErr) {
						assert.NotContains(t, apiErr.Title+apiErr.Detail, secret)
						for _, p := range apiErr.Problems {
							assert.NotContains(t, p.Title, secret)
						}
					}
				}
			}
			assert.NotContains(t, logs.String(), testToken)
			assert.NotContains(t, logs.String(), testKey)
			if tt.name == "connection closed" || tt.name == "retried then refused" {
				assert.Contains(t, logs.String(), "retrying", "the retries were logged")
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"https://ws.api.video/upload?token=" + testToken, "https://ws.api.video/upload?token=REDACTED"},
		{"http://127.0.0.1:1/api/upload?token=" + testToken + "&x=1", "http://127.0.0.1:1/api/upload?token=REDACTED&x=1"},
		{"https://ws.api.video/upload-tokens/" + testToken, "https://ws.api.video/upload-tokens/REDACTED"},
		{"https://ws.api.video/api/upload-tokens/" + testToken, "https://ws.api.video/api/upload-tokens/REDACTED"},
		{"https://ws.api.video/upload-tokens?currentPage=2", "https://ws.api.video/upload-tokens?currentPage=2"},
		{"https://" + testKey + ":@ws.api.video/upload-tokens", "https://REDACTED@ws.api.video/upload-tokens"},
		{"::not a url " + testKey, "::not a url REDACTED"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, redactURL(tt.in, testKey))
		})
	}
}

func TestInvalidInputWrapsTheSentinel(t *testing.T) {
	err := invalidInput("page %d", -1)
	assert.ErrorIs(t, err, ErrInvalidInput)
	assert.Equal(t, "avupload: invalid input: page -1", err.Error())
}

// A secret in a non-JSON error body straddling the excerpt's cut must not
// survive in part.
func TestErrorExcerptIsRedactedBeforeItIsCut(t *testing.T) {
	const token = "to1tcmSFHeYY5KzyhOqVKMKb"
	for _, at := range []int{0, 176, 182, 186} { // the token starts at at+13
		body := strings.Repeat("x", at) + "<p>bad token " + token + "</p>" + strings.Repeat("y", 300)
		resp := &http.Response{StatusCode: http.StatusUnauthorized, Header: http.Header{}}
		e := newAPIError(opUpload, resp, []byte(body), token)
		assert.NotContains(t, e.Error(), token[:5], "token at %d", at)
		assert.LessOrEqual(t, len(e.Detail), 203)
	}
}
