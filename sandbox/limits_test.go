package sandbox_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// TestMemoryBudget fills a small budget and checks the refusal, that a
// refused upload frees what it held, and that directory storage has no budget.
func TestMemoryBudget(t *testing.T) {
	srv := sandboxtest.NewServer(t, sandbox.WithMemoryBudget(12*mib))
	tok := newToken(t, srv)
	r := upload(t, srv, uploadReq{token: tok, data: randomBytes(10*mib, 1)})
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)

	r = upload(t, srv, uploadReq{token: tok, data: randomBytes(5*mib, 2)})
	require.Equal(t, http.StatusInsufficientStorage, r.Status, "body: %s", r.Raw)
	assert.Equal(t, "The sandbox memory budget is spent.", r.str("title"))
	assert.Contains(t, r.str("detail"), "--data-dir")
	assert.Contains(t, r.str("detail"), "12582912 bytes")
	assert.Len(t, srv.Sandbox.Videos(), 1, "the refused upload started no video")

	r = upload(t, srv, uploadReq{token: tok, data: randomBytes(2*mib, 3)})
	require.Equal(t, http.StatusCreated, r.Status, "the refused upload freed its bytes; body: %s", r.Raw)

	_, err := sandbox.New(sandbox.WithMemoryBudget(0))
	assert.Error(t, err)

	disk := sandboxtest.NewServer(t, sandbox.WithMemoryBudget(mib), sandbox.WithDataDir(t.TempDir()))
	r = upload(t, disk, uploadReq{token: newToken(t, disk), data: randomBytes(3*mib, 4)})
	assert.Equal(t, http.StatusCreated, r.Status, "the budget is for memory storage; body: %s", r.Raw)
}
