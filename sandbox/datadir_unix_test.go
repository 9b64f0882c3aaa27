//go:build unix

package sandbox_test

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// TestDataDirIsPrivate: whatever a sandbox writes in its data directory,
// tokens and videos, only its user can list or read (directories 0700,
// files 0600, whatever the umask), and no file name is a token. The
// directories an older sandbox left open are closed at start.
func TestDataDirIsPrivate(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "tokens"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "videos"), 0o755))

	srv := sandboxtest.NewServer(t, sandbox.WithDataDir(dir))
	tok := createToken(t, srv, `{"ttl":0}`).str("token")
	require.NotEmpty(t, tok)
	r := upload(t, srv, uploadReq{token: tok, data: randomBytes(5*mib, 1), contentRange: "part 1/*"})
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)
	r = upload(t, srv, uploadReq{token: tok, data: []byte("whole")})
	require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Raw)

	var seen int
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		if path == dir {
			return nil // the user's own directory keeps the mode it has
		}
		info, err := d.Info()
		require.NoError(t, err)
		assert.NotContains(t, d.Name(), tok, "a file name shows the token: %s", path)
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		assert.Equal(t, want, info.Mode().Perm(), "%s", path)
		seen++
		return nil
	}))
	assert.GreaterOrEqual(t, seen, 8, "the walk saw the directory's files")
	entries, err := os.ReadDir(filepath.Join(dir, "tokens"))
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.True(t, strings.HasSuffix(entries[0].Name(), ".json"))
}
