package sandbox_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/testutil"
	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// TestLogsCarryNoSecrets runs every route, faults included, with debug
// logging and checks that no token or API key reaches the log.
func TestLogsCarryNoSecrets(t *testing.T) {
	var logs testutil.SyncBuffer
	const key = "secret-api-key-0123456789"
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := sandboxtest.NewServer(t, sandbox.WithAPIKeys(key), sandbox.WithLogger(logger),
		sandbox.WithFaults(sandbox.Fault{Op: sandbox.OpGetUploadToken, Request: 1, Kind: sandbox.FaultStatus, Status: 503}))

	created := createToken(t, srv, `{"ttl":3600}`)
	require.Equal(t, http.StatusOK, created.Status)
	token := created.str("token")
	require.NotEmpty(t, token)
	bogus := "my-mistyped-token-value"

	for _, path := range []string{"/upload-tokens/" + token, "/upload-tokens/" + token, "/upload-tokens/" + bogus, "/upload-tokens?pageSize=1"} {
		call(t, http.MethodGet, srv.URL+path, key, nil, "")
	}
	call(t, http.MethodGet, srv.URL+"/upload-tokens", "wrong-"+key, nil, "")
	r := upload(t, srv, uploadReq{token: token, data: []byte("video bytes")})
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)
	upload(t, srv, uploadReq{token: bogus, data: []byte("video bytes")})
	upload(t, srv, uploadReq{token: token, data: []byte("x"), contentRange: "bytes 0-0/" + token})
	call(t, http.MethodDelete, srv.URL+"/upload-tokens/"+token, key, nil, "")

	out := logs.String()
	require.Contains(t, out, "sandbox request", "requests are logged")
	require.Contains(t, out, "sandbox fault", "faults are logged")
	assert.Contains(t, out, "/upload-tokens/REDACTED")
	for _, secret := range []string{token, bogus, key} {
		assert.NotContains(t, out, secret)
	}
	assert.Equal(t, 10, strings.Count(out, "sandbox request"), "one line per API request:\n%s", out)
}
