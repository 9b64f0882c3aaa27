package sandbox_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
	"github.com/avupload/avupload/wrapper"
)

// TestReadmeExample runs the README's sandboxtest example with a file of
// 1 MiB, which the library sends in one request: the fault must fire, the
// library must retry, and the video must land whole.
func TestReadmeExample(t *testing.T) {
	talk := filepath.Join(t.TempDir(), "talk.mp4")
	data := randomBytes(mib, 51)
	require.NoError(t, os.WriteFile(talk, data, 0o600))

	srv := sandboxtest.NewServer(t) // 127.0.0.1, closed when the test ends
	// The first request of each upload fails: the client must retry it.
	srv.Sandbox.AddFaults(sandbox.Fault{Op: sandbox.OpUploadWithUploadToken, EachUpload: true, Request: 1,
		Kind: sandbox.FaultStatus, Status: 503})
	token, err := srv.Sandbox.CreateToken(time.Hour)
	require.NoError(t, err)

	client, err := wrapper.New(wrapper.WithBaseURL(srv.URL))
	require.NoError(t, err)
	t.Cleanup(client.CloseIdleConnections)
	_, err = client.Upload(t.Context(), token, wrapper.File(talk), nil)
	require.NoError(t, err)

	videos := srv.Sandbox.Videos()
	require.Len(t, videos, 1)
	assert.True(t, videos[0].Complete)
	assert.Equal(t, sha(data), videos[0].SHA256)
	assert.Equal(t, 1, srv.Sandbox.Stats().CountStatus(sandbox.OpUploadWithUploadToken, 503), "the fault fired")
	assert.Equal(t, 2, srv.Sandbox.Stats().Count(sandbox.OpUploadWithUploadToken), "one retry")
	assert.Empty(t, srv.Sandbox.Lint().Findings(), "no client mistake")
}
