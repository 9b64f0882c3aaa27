// Package pipe widens the buffer of a pipe a program reads a stream from
// (avupload's standard input, a library user's *os.File), so that the
// reader and the writer each make fewer, larger system calls and wake each
// other less often. It is shared by the library and the CLI, which wraps
// standard input in a buffered reader before the library sees it.
package pipe

import "os"

// Size is the buffer Widen asks for: 1 MiB, the most an unprivileged
// process may set on Linux (/proc/sys/fs/pipe-max-size), sixteen times the
// default.
const Size = 1 << 20

// Widen asks for a buffer of Size bytes on f when it is a pipe whose buffer
// is smaller, and reports whether f's buffer is that large now. It does
// nothing to anything but a pipe, nor where the system cannot set a pipe's
// buffer (anywhere but Linux). A refusal (the user's pipe buffers are over
// their limit) leaves the pipe as it was: it only costs CPU time.
func Widen(f *os.File) bool {
	if f == nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return false
	}
	return widen(f)
}
