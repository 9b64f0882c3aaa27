package wrapper

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// LockedError is the error of a lock another process holds: a journal or
// a state file that another run is using. PID is that process's id when it
// could be read (0 otherwise, as on Windows, where the holder's lock
// forbids reading it).
type LockedError struct {
	// Path is what is locked: the journal's directory or the state file.
	Path string
	// PID is the process holding the lock, 0 when unknown.
	PID int
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("avupload: %s is in use by %s: one run at a time may use it", e.Path, who)
}

// Lock takes the state file's lock, so that one upload at a time uses it:
// another process holding it makes Lock fail at once with a *LockedError.
// The lock is the operating system's (flock, LockFileEx) on the side file
// PATH.lock, which holds the owner's process id: it dies with its process,
// even a killed one, and the side file's existence means nothing. unlock
// releases it and removes the side file. Upload does not take the lock
// itself; a program that may run twice at once takes it around Upload.
func (f *StateFile) Lock() (unlock func() error, err error) {
	return lockPath(f.path+".lock", f.path)
}

// lockPath takes the OS lock of the file at file, created if needed, on
// behalf of what (named in a LockedError), and writes this process's id
// into it. The lock holds until unlock, or until the process ends.
func lockPath(file, what string) (unlock func() error, err error) {
	for range 10 {
		f, err := os.OpenFile(file, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("avupload: locking %s: %w", what, err)
		}
		held, err := tryLock(f)
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("avupload: locking %s: %w", what, err)
		}
		if !held {
			pid := readPID(file)
			_ = f.Close()
			return nil, &LockedError{Path: what, PID: pid}
		}
		// The holder before us may have removed the file while we opened
		// it: the lock is then on a file no one else will find.
		if fi, err := f.Stat(); err == nil {
			if now, err := os.Stat(file); err != nil || !os.SameFile(fi, now) {
				_ = f.Close()
				continue
			}
		}
		if err := writePID(f); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("avupload: locking %s: %w", what, err)
		}
		return func() error {
			var err error
			// Remove the side file while holding the lock (not on Windows,
			// where an open file cannot go); a process that opened it
			// meanwhile sees it is gone once it gets the lock, and retries.
			if runtime.GOOS != "windows" {
				if rerr := os.Remove(file); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
					err = rerr
				}
			}
			if cerr := f.Close(); err == nil {
				err = cerr // closing the file releases the lock
			}
			return err
		}, nil
	}
	return nil, fmt.Errorf("avupload: locking %s: its lock file %s keeps being replaced", what, file)
}

// writePID replaces the content of the locked file f with this process's id.
func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// readPID reads the process id a lock file holds, 0 if it cannot.
func readPID(file string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
