//go:build unix

package sandbox

import "syscall"

// diskFullErrnos are the errors, besides ENOSPC, of a full disk.
var diskFullErrnos = []error{syscall.EDQUOT}
