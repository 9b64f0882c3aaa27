package sandbox_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// slowUpload opens a connection to srv and sends the headers of an upload
// announcing size bytes, then sent bytes of its body, and nothing more.
func slowUpload(t testing.TB, addr, token string, size int64, sent string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	_, err = fmt.Fprintf(conn, "POST /upload?token=%s HTTP/1.1\r\nHost: %s\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: %d\r\n\r\n%s",
		token, addr, size, sent)
	require.NoError(t, err)
	return conn
}

const slowPrefix = "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.mp4\"\r\n\r\nfirst bytes"

// TestStalledBodyEndsRequest stops sending a body and expects the sandbox to
// end the request with 408 and close the connection, then remove what the
// upload had spooled.
func TestStalledBodyEndsRequest(t *testing.T) {
	cases := []struct{ name, sent string }{
		{"before the body", ""},
		{"inside the part headers", "--B\r\nContent-Disposition: form-da"},
		{"inside the file", slowPrefix},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			srv := sandboxtest.NewServer(t, sandbox.WithDataDir(dir), sandbox.WithBodyIdleTimeout(200*time.Millisecond))
			conn := slowUpload(t, srv.Addr().String(), newToken(t, srv), 10*mib, c.sent)
			// A failure detector, not a speed target: the old sandbox waited forever.
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(30*time.Second)))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err, "the sandbox must answer a stalled upload")
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode, "body: %s", body)
			assert.Contains(t, string(body), "The request body stopped arriving.")
			_, err = br.ReadByte()
			assert.ErrorIs(t, err, io.EOF, "the connection is closed after the answer")
			assert.Empty(t, srv.Sandbox.Videos())
			spooled, err := os.ReadDir(filepath.Join(dir, "tmp"))
			require.NoError(t, err)
			assert.Empty(t, spooled, "the stalled upload's spool file is removed")
		})
	}
}

// TestBodyTrickleWithinTimeoutIsServed sends a small upload a few bytes at a
// time, each write within the idle timeout: it is slow, not stalled.
func TestBodyTrickleWithinTimeoutIsServed(t *testing.T) {
	srv := sandboxtest.NewServer(t, sandbox.WithBodyIdleTimeout(2*time.Second))
	tok := newToken(t, srv)
	body, ct := multipartBody(t, part{field: "file", fileName: "a.mp4", data: []byte("0123456789")})
	pr, pw := io.Pipe()
	t.Cleanup(func() { _ = pr.Close() })
	go func() {
		for b := range slices.Chunk(body.Bytes(), 32) {
			time.Sleep(20 * time.Millisecond)
			if _, err := pw.Write(b); err != nil {
				return
			}
		}
		_ = pw.Close()
	}()
	r := call(t, http.MethodPost, srv.URL+"/upload?token="+tok, "", pr, ct)
	assert.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)
}

// TestConnectionCapQueuesClients holds every connection the cap allows with
// stalled uploads: a further client waits for one of them to end (by the
// idle timeout) and is then served.
func TestConnectionCapQueuesClients(t *testing.T) {
	srv := sandboxtest.NewServer(t, sandbox.WithMaxConnections(2), sandbox.WithBodyIdleTimeout(500*time.Millisecond))
	tok := newToken(t, srv)
	for range 2 {
		slowUpload(t, srv.Addr().String(), tok, 10*mib, slowPrefix)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/upload-tokens", nil)
	require.NoError(t, err)
	req.SetBasicAuth(srv.APIKey, "")
	resp, err := client.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.GreaterOrEqual(t, srv.Sandbox.Stats().CountStatus(sandbox.OpUploadWithUploadToken, http.StatusRequestTimeout), 1,
		"the client was served once a held connection ended, not before")
	client.CloseIdleConnections()
}

// TestNormalUploadWhileSlowConnectionsHeld holds 1,000 uploads that sent
// their headers and a few bytes, then stopped, and checks that a normal
// client still gets its upload through. (TestSandboxUnderAbuse in e2e holds
// 3,000 against the real binary; 1,000 keep this package quick under -race.)
func TestNormalUploadWhileSlowConnectionsHeld(t *testing.T) {
	const held = 1000
	srv := sandboxtest.NewServer(t, sandbox.WithBodyIdleTimeout(time.Minute))
	tok := newToken(t, srv)
	for range held {
		slowUpload(t, srv.Addr().String(), tok, 10*mib, slowPrefix)
	}
	data := randomBytes(6*mib, 7)
	req := newUploadRequest(t, srv.URL, uploadReq{token: newToken(t, srv), data: data})
	client := &http.Client{Timeout: 2 * time.Minute} // a failure detector, not a speed target
	resp, err := client.Do(req)
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, "body: %s", raw)
	vs := srv.Sandbox.Videos()
	require.Len(t, vs, 1)
	assert.Equal(t, sha(data), vs[0].SHA256)
	client.CloseIdleConnections()
}
