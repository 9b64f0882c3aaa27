package wrapper

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// TestTokenHandlerForgetsIdlePrincipals: once a principal's tokens are
// deleted and its mints have left the window, the handler holds nothing
// for it, so that memory does not grow with every user ever served.
func TestTokenHandlerForgetsIdlePrincipals(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	c, err := New(WithBaseURL(srv.URL), WithAPIKey(srv.APIKey))
	require.NoError(t, err)
	h, err := NewTokenHandler(c, TokenHandlerOptions{
		Authorize: func(r *http.Request) (string, error) { return r.Header.Get("X-User"), nil },
		TTL:       time.Second,
		Window:    2 * time.Second,
	})
	require.NoError(t, err)
	defer func() { require.NoError(t, h.Close(t.Context())) }()

	for _, user := range []string{"alice", "bob", "carol"} {
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		req.Header.Set("X-User", user)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	}
	held := func() (principals, tokens int) {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.principals), len(h.tokens)
	}
	p, tok := held()
	require.Equal(t, 3, p)
	require.Equal(t, 3, tok)
	assert.Eventually(t, func() bool {
		p, tok := held()
		return p == 0 && tok == 0
	}, 10*time.Second, 50*time.Millisecond, "the principals are forgotten once idle")
}
