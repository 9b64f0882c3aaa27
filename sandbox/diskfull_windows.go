//go:build windows

package sandbox

import "golang.org/x/sys/windows"

// diskFullErrnos are the errors of a full disk on Windows.
var diskFullErrnos = []error{windows.ERROR_DISK_FULL, windows.ERROR_HANDLE_DISK_FULL}
