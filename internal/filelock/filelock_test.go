package filelock

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLockHeldThenReleased checks that a held lock is refused with the
// holder's process id, whichever way it is released, and what each way
// leaves of the file.
func TestLockHeldThenReleased(t *testing.T) {
	tests := []struct {
		name     string
		release  func(*Lock) error
		leftFile bool
	}{
		{"Unlock", (*Lock).Unlock, true},
		{"UnlockRemove", (*Lock).UnlockRemove, runtime.GOOS == "windows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lock")
			l, err := TryLock(path)
			require.NoError(t, err)
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, strconv.Itoa(os.Getpid())+"\n", string(data), "the holder's id")

			_, err = TryLock(path)
			var held *HeldError
			require.ErrorAs(t, err, &held)
			assert.Equal(t, path, held.Path)
			assert.Equal(t, os.Getpid(), held.PID)
			assert.EqualError(t, err, path+" is locked by process "+strconv.Itoa(os.Getpid()))

			require.NoError(t, tt.release(l))
			require.NoError(t, tt.release(l), "a released lock releases nothing")
			_, err = os.Stat(path)
			assert.Equal(t, tt.leftFile, err == nil, "file left: %v", err)

			again, err := TryLock(path)
			require.NoError(t, err, "free once released")
			require.NoError(t, again.Unlock())
		})
	}
}

// TestLockUnopenable checks that a lock file that cannot be created is an
// open error, not a held lock.
func TestLockUnopenable(t *testing.T) {
	_, err := TryLock(filepath.Join(t.TempDir(), "missing", "lock"))
	var pe *os.PathError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "open", pe.Op)
	assert.NotErrorAs(t, err, new(*HeldError))
}

// TestHeldErrorUnknownHolder checks the message of a holder whose id
// could not be read.
func TestHeldErrorUnknownHolder(t *testing.T) {
	assert.EqualError(t, &HeldError{Path: "/x/lock"}, "/x/lock is locked by another process")
}
