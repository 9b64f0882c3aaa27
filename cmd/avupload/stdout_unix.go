//go:build unix

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// closedAtStart reports whether f, standard output, was closed when the
// program started ('avupload token list >&-'): the Go runtime then opens
// /dev/null in its place, read-write, so that every write would succeed
// unseen. A shell's '>/dev/null' opens it write-only.
func closedAtStart(f *os.File) bool {
	fd := int(f.Fd())
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil || flags&unix.O_ACCMODE != unix.O_RDWR {
		return false
	}
	var st, null unix.Stat_t
	if unix.Fstat(fd, &st) != nil || unix.Stat(os.DevNull, &null) != nil {
		return false
	}
	return st.Dev == null.Dev && st.Ino == null.Ino && st.Rdev == null.Rdev
}
