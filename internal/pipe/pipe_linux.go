//go:build linux

package pipe

import (
	"os"

	"golang.org/x/sys/unix"
)

// BufferSize is the size of the buffer of the pipe f.
func BufferSize(f *os.File) (int, error) {
	var n int
	err := control(f, func(fd uintptr) (err error) {
		n, err = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0)
		return err
	})
	return n, err
}

func widen(f *os.File) bool {
	if n, err := BufferSize(f); err == nil && n >= Size {
		return true
	}
	var n int
	err := control(f, func(fd uintptr) (err error) {
		n, err = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, Size)
		return err
	})
	return err == nil && n >= Size
}

// control runs op on f's descriptor. It goes through SyscallConn: f.Fd
// would put f in blocking mode.
func control(f *os.File, op func(fd uintptr) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) { opErr = op(fd) }); err != nil {
		return err
	}
	return opErr
}
