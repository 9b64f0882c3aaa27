package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

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
