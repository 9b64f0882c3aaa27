package wrapper

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStateFileLock checks that a state file's lock refuses a second
// taker, naming the state file and the holder, and that unlock frees it
// and removes the side file. (Held by another process, see wrapper/batch's
// TestLocksKeepRunsApart.)
func TestStateFileLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "talk.mp4.state")
	unlock, err := NewStateFile(path).Lock()
	require.NoError(t, err)
	_, err = os.Stat(path + ".lock")
	require.NoError(t, err, "the side file holds the lock")

	_, err = NewStateFile(path).Lock()
	var locked *LockedError
	require.ErrorAs(t, err, &locked)
	assert.Equal(t, path, locked.Path)
	assert.Equal(t, os.Getpid(), locked.PID)
	assert.EqualError(t, err, "avupload: "+path+" is in use by process "+strconv.Itoa(os.Getpid())+": one run at a time may use it")

	require.NoError(t, unlock())
	if runtime.GOOS != "windows" {
		_, err = os.Stat(path + ".lock")
		assert.ErrorIs(t, err, os.ErrNotExist, "unlock removes the side file")
	}
	unlock, err = NewStateFile(path).Lock()
	require.NoError(t, err, "free once unlocked")
	require.NoError(t, unlock())

	// A lock that cannot be taken at all says which state file it was for.
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "x.state")
	_, err = NewStateFile(missing).Lock()
	require.Error(t, err)
	assert.NotErrorAs(t, err, &locked)
	assert.ErrorContains(t, err, "avupload: locking "+missing+": ")
}
