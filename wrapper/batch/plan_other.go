//go:build !windows

package batch

import (
	"errors"
	"io/fs"
	"syscall"
)

// hiddenAttribute reports whether e has the system's hidden attribute;
// outside Windows, a hidden file is one whose name starts with ".".
func hiddenAttribute(fs.DirEntry) bool { return false }

// isLinkLoop reports whether err, from following a link, says the link
// leads back to itself.
func isLinkLoop(err error) bool { return errors.Is(err, syscall.ELOOP) }
