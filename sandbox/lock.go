package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"

	"github.com/avupload/avupload/internal/filelock"
)

// lockFileName is the file in a data directory that a running sandbox holds
// locked, and in which it writes its process id.
const lockFileName = "lock"

// dirLock is a data directory's lock, held for as long as the sandbox runs.
// It is an advisory lock of the operating system on an open file (flock on
// Unix, LockFileEx on Windows): it ends with the process, however the
// process ends, so a sandbox that crashed never leaves the directory locked.
type dirLock struct{ l *filelock.Lock }

// lockDataDir locks dir for this process, or says which process holds it.
func lockDataDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFileName)
	l, err := filelock.TryLock(path)
	var held *filelock.HeldError
	var pathErr *fs.PathError
	switch {
	case errors.As(err, &held):
		return nil, &DataDirInUseError{Dir: dir, LockFile: path, PID: held.PID}
	case errors.As(err, &pathErr) && pathErr.Op == "open":
		return nil, fmt.Errorf("sandbox: data directory: %w", err)
	case err != nil:
		return nil, fmt.Errorf("sandbox: data directory %s: cannot lock %s: %w", dir, path, err)
	}
	return &dirLock{l: l}, nil
}

// DataDirInUseError is the error [New] returns for a data directory that
// another running Sandbox, in this process or another, holds.
type DataDirInUseError struct {
	Dir      string // the data directory
	LockFile string // the file the other Sandbox holds locked
	PID      int    // the other process's id; 0 when it cannot be read
}

func (e *DataDirInUseError) Error() string {
	holder := "another process"
	if e.PID != 0 {
		holder += " (pid " + strconv.Itoa(e.PID) + ")"
	}
	return fmt.Sprintf("sandbox: data directory %s is in use by %s: two sandboxes cannot share one data directory; "+
		"stop the other one or use another directory (the lock is %s)", e.Dir, holder, e.LockFile)
}

// release unlocks the directory. The lock file stays: removing it could
// let two later sandboxes lock two different files of the same name.
func (l *dirLock) release() error {
	if l == nil {
		return nil
	}
	return l.l.Unlock()
}
