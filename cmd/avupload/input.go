package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"
)

// checkSource refuses, in the user's words, a FILE argument that cannot be
// uploaded as it is: missing, unreadable, a device or pipe (which go through
// standard input, as "-"), or empty. "-" is standard input and always
// passes; a directory is a batch, and never comes here but in a race.
func checkSource(path string) error {
	if path == "-" {
		return nil
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if target, lerr := os.Readlink(path); lerr == nil {
			return fmt.Errorf("%s is a symbolic link to %s, which does not exist", path, target)
		}
		return fmt.Errorf("%s: no such file", path)
	case err != nil:
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err
		}
		return fmt.Errorf("cannot read %s: %w", path, err)
	case fi.IsDir():
		return usagef("%s is a directory, to upload as a batch; run the command again", path)
	case !fi.Mode().IsRegular():
		return usagef("%s is not a regular file; to upload from a pipe or device, give - and redirect it to standard input (avupload upload - < %s)", path, path)
	case fi.Size() == 0 && sizeless(path):
		return usagef("%s reports a size of 0 bytes, as the files of /proc and /sys do whatever they hold: give it on standard input (avupload upload - < %s)", path, path)
	case fi.Size() == 0:
		return usagef("%s is empty: there is nothing to upload", path)
	}
	return nil
}

// isTerminalReader reports whether r is a terminal: standard input that no
// pipe or file feeds.
func isTerminalReader(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// sizeless reports whether path is in a file system whose files report a
// size of 0 whatever they hold: /proc and /sys on Linux.
func sizeless(path string) bool {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	abs = filepath.ToSlash(abs)
	return strings.HasPrefix(abs, "/proc/") || strings.HasPrefix(abs, "/sys/")
}

// stdinIsTerminal is isTerminalReader; tests replace it.
var stdinIsTerminal = isTerminalReader
