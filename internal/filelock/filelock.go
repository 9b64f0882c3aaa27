// Package filelock is the one lock avupload takes on a file between
// processes: the operating system's advisory lock (flock on Unix,
// LockFileEx on Windows) on an open file that also holds the owner's
// process id. The lock dies with its process, even a killed one, so the
// file's existence alone means nothing. The wrapper locks state files and
// batch journals with it, the sandbox its data directory.
package filelock

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// HeldError is the error of TryLock for a file another open file holds
// locked: another process, or another TryLock of this one.
type HeldError struct {
	// Path is the lock file.
	Path string
	// PID is the holder's process id, 0 when it could not be read.
	PID int
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("%s is locked by %s", e.Path, Holder(e.PID))
}

// Holder names the process pid holding a lock in words: "process 42", or
// "another process" when pid is 0 (not known).
func Holder(pid int) string {
	if pid > 0 {
		return "process " + strconv.Itoa(pid)
	}
	return "another process"
}

// Lock is a lock held on a file, until Unlock or the process ends.
type Lock struct {
	path string
	f    *os.File
}

// TryLock takes the lock of the file at path, created (mode 0600) if needed,
// without waiting, and writes this process's id into it. A lock another
// holds is a *HeldError; any other failure is returned as it is, an
// *fs.PathError with Op "open" when the file cannot be opened.
func TryLock(path string) (*Lock, error) {
	for range 10 {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, err
		}
		held, err := tryLock(f)
		if err != nil {
			_ = f.Close()
			return nil, err
		}
		if !held {
			pid := readPID(f)
			_ = f.Close()
			return nil, &HeldError{Path: path, PID: pid}
		}
		// The holder before us may have removed the file (UnlockRemove)
		// while we opened it: the lock is then on a file no one else will
		// find.
		if fi, err := f.Stat(); err == nil {
			if now, err := os.Stat(path); err != nil || !os.SameFile(fi, now) {
				_ = f.Close()
				continue
			}
		}
		if err := writePID(f); err != nil {
			_ = f.Close()
			return nil, err
		}
		return &Lock{path: path, f: f}, nil
	}
	return nil, fmt.Errorf("its lock file %s keeps being replaced", path)
}

// Unlock releases the lock and leaves the file, for lock files whose
// removal could let two later takers lock two different files of the same
// name. A nil or released Lock unlocks nothing.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close() // closing the file releases the lock
	l.f = nil
	return err
}

// UnlockRemove removes the file while holding the lock, then releases it
// (on Windows, where an open file cannot be removed, it only releases it).
// A process that opened the file meanwhile sees it is gone once it gets
// the lock, and TryLock retries with a new file.
func (l *Lock) UnlockRemove() error {
	if l == nil || l.f == nil {
		return nil
	}
	var err error
	if runtime.GOOS != "windows" {
		if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = rerr
		}
	}
	if uerr := l.Unlock(); err == nil {
		err = uerr
	}
	return err
}

// writePID replaces the content of the locked file f with this process's id.
func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// readPID reads the process id the lock file f holds, 0 if it cannot (on
// Windows, the holder's lock lies far past the id, which stays readable).
func readPID(f *os.File) int {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 32))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
