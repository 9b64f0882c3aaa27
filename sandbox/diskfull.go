package sandbox

import (
	"errors"
	"syscall"
)

// isDiskFull reports whether err says the disk (or the user's quota) is
// full.
func isDiskFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) {
		return true
	}
	for _, e := range diskFullErrnos {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
