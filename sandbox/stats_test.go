package sandbox_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// Stats must already count a request when its client has the answer (or the
// cut): tests read it straight after a call.
func TestStatsCountBeforeTheClientSeesTheAnswer(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	for i := 1; i <= 200; i++ {
		r := call(t, http.MethodGet, srv.URL+"/upload-tokens/tonotthere", srv.APIKey, nil, "")
		require.Equal(t, http.StatusNotFound, r.Status)
		require.Equal(t, i, srv.Sandbox.Stats().CountStatus(sandbox.OpGetUploadToken, http.StatusNotFound), "request %d", i)
	}

	// A POST, which net/http never retries by itself on a dead connection.
	srv.Sandbox.AddFaults(sandbox.Fault{Op: sandbox.OpCreateUploadToken, Request: 0, Kind: sandbox.FaultCutRequest})
	for i := 1; i <= 20; i++ {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/upload-tokens", strings.NewReader(`{"ttl":60}`))
		require.NoError(t, err)
		req.SetBasicAuth(srv.APIKey, "")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		require.Error(t, err)
		assert.Equal(t, i, srv.Sandbox.Stats().CountStatus(sandbox.OpCreateUploadToken, 0), "cut %d", i)
	}
}
