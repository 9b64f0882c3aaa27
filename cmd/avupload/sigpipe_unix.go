//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// ignoreSIGPIPE makes a write to a broken pipe on standard output fail
// with EPIPE instead of killing the process (the Go runtime's default once
// no one asked for SIGPIPE), and returns the function that restores it.
func ignoreSIGPIPE() (restore func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGPIPE)
	return func() { signal.Stop(ch) }
}
