package main

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
)

// stdoutWriter is every command's standard output: it remembers the first
// write that failed (a full disk, a closed descriptor), so that a command
// whose result could not be printed does not exit 0. run checks it once
// the command has returned; a command whose lost output matters more (a
// minted token) checks it itself with stdoutErr.
type stdoutWriter struct {
	w   io.Writer
	mu  sync.Mutex
	err error
}

// newStdoutWriter returns the standard output writing to w. A standard
// output that was closed when the program started fails every write, as
// it would have without the Go runtime's /dev/null in its place.
func newStdoutWriter(w io.Writer) *stdoutWriter {
	s := &stdoutWriter{w: w}
	if f, ok := w.(*os.File); ok && f == os.Stdout && closedAtStart(f) {
		s.w = closedWriter{}
	}
	return s
}

// closedWriter is a standard output that was closed.
type closedWriter struct{}

func (closedWriter) Write([]byte) (int, error) {
	return 0, &fs.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.EBADF}
}

func (s *stdoutWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
	}
	return n, err
}

// failed returns the first write error, or nil.
func (s *stdoutWriter) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// unwrap returns the stream written to (for a check such as isTerminal).
func (s *stdoutWriter) unwrap() io.Writer { return s.w }

// stdoutErr returns the first failed write to cmd's standard output, or nil.
func stdoutErr(cmd *cobra.Command) error {
	if s, ok := cmd.OutOrStdout().(*stdoutWriter); ok {
		return s.failed()
	}
	return nil
}

// outputLost is a write to standard output that failed (see
// stdoutWriter); a batch has its own, stdoutError, which stops it.
type outputLost struct {
	what string // what could not be written, "the token"; "" for the output
	err  error
	then string // what became of it and what to do, or ""
}

func (e *outputLost) Error() string {
	msg := "could not write to standard output: " + writeCause(e.err)
	if e.what != "" {
		msg = "could not write " + e.what + " to standard output: " + writeCause(e.err)
	}
	if e.then != "" {
		msg += "; " + e.then
	}
	return msg
}

func (e *outputLost) Unwrap() error { return e.err }

// writeCause says why a write failed without the system call: "no space
// left on device", "it is closed".
func writeCause(err error) string {
	switch {
	case errors.Is(err, syscall.EBADF), errors.Is(err, fs.ErrClosed):
		return "it is closed"
	case errors.Is(err, syscall.EPIPE):
		return "the program reading it has stopped"
	}
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err.Error()
	}
	return err.Error()
}
