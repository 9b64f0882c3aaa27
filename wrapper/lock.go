package wrapper

import (
	"errors"
	"fmt"

	"github.com/avupload/avupload/internal/filelock"
)

// LockedError is the error of a lock another process holds: a journal or
// a state file that another run is using. PID is that process's id when it
// could be read (0 otherwise).
type LockedError struct {
	// Path is what is locked: the journal's directory or the state file.
	Path string
	// PID is the process holding the lock, 0 when unknown.
	PID int
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("avupload: %s is in use by %s: one run at a time may use it", e.Path, filelock.Holder(e.PID))
}

// Lock takes the state file's lock, so that one upload at a time uses it:
// another process holding it makes Lock fail at once with a *LockedError.
// The lock is the operating system's (flock, LockFileEx) on the side file
// PATH.lock, which holds the owner's process id: it dies with its process,
// even a killed one, and the side file's existence means nothing. unlock
// releases it and removes the side file. Upload does not take the lock
// itself; a program that may run twice at once takes it around Upload.
func (f *StateFile) Lock() (unlock func() error, err error) {
	l, err := filelock.TryLock(f.path + ".lock")
	if held := (*filelock.HeldError)(nil); errors.As(err, &held) {
		return nil, &LockedError{Path: f.path, PID: held.PID}
	}
	if err != nil {
		return nil, fmt.Errorf("avupload: locking %s: %w", f.path, err)
	}
	return l.UnlockRemove, nil
}
