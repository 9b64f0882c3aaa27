package batch

import (
	"errors"
	"io/fs"
	"syscall"
)

// hiddenAttribute reports whether e has the hidden attribute. On Windows,
// the directory listing holds the attributes: this costs no system call.
func hiddenAttribute(e fs.DirEntry) bool {
	fi, err := e.Info()
	if err != nil {
		return false
	}
	d, ok := fi.Sys().(*syscall.Win32FileAttributeData)
	return ok && d.FileAttributes&syscall.FILE_ATTRIBUTE_HIDDEN != 0
}

// errorCantResolveFilename is ERROR_CANT_RESOLVE_FILENAME, what Windows
// answers for a chain of links that does not end.
const errorCantResolveFilename syscall.Errno = 1921

// isLinkLoop reports whether err, from following a link, says the link
// leads back to itself.
func isLinkLoop(err error) bool {
	return errors.Is(err, errorCantResolveFilename) || errors.Is(err, syscall.ELOOP)
}
