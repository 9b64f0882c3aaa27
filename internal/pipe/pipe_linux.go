//go:build linux

package pipe

import (
	"os"

	"golang.org/x/sys/unix"
)

func widen(f *os.File) bool {
	// Through SyscallConn: f.Fd would put f in blocking mode.
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	wide := false
	_ = rc.Control(func(fd uintptr) {
		n, err := unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0)
		if err == nil && n >= Size {
			wide = true
			return
		}
		n, err = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, Size)
		wide = err == nil && n >= Size
	})
	return wide
}
