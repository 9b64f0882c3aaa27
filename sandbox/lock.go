package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// lockFileName is the file in a data directory that a running sandbox holds
// locked, and in which it writes its process id.
const lockFileName = "lock"

// errLocked is what tryLock returns when another open file holds the lock.
var errLocked = errors.New("locked")

// dirLock is a data directory's lock, held for as long as the sandbox runs.
// It is an advisory lock of the operating system on an open file (flock on
// Unix, LockFileEx on Windows): it ends with the process, however the
// process ends, so a sandbox that crashed never leaves the directory locked.
type dirLock struct{ f *os.File }

// lockDataDir locks dir for this process, or says which process holds it.
func lockDataDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sandbox: data directory: %w", err)
	}
	if err := tryLock(f); err != nil {
		defer f.Close()
		if !errors.Is(err, errLocked) {
			return nil, fmt.Errorf("sandbox: data directory %s: cannot lock %s: %w", dir, path, err)
		}
		return nil, &DataDirInUseError{Dir: dir, LockFile: path, PID: readPID(f)}
	}
	// Tell the next sandbox who holds the directory.
	pid := strconv.Itoa(os.Getpid()) + "\n"
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(pid), 0)
	}
	return &dirLock{f: f}, nil
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

// readPID returns the process id a lock file holds, or 0 when it cannot be
// read (on Windows, the holder's lock may forbid reading).
func readPID(f *os.File) int {
	b, err := io.ReadAll(io.LimitReader(f, 32))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// release unlocks the directory. The lock file stays: removing it could
// let two later sandboxes lock two different files of the same name.
func (l *dirLock) release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the file releases the lock
	l.f = nil
	return err
}
