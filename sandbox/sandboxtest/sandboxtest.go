// Package sandboxtest starts a local sandbox for tests, in the manner of
// net/http/httptest. It lives apart from package sandbox so that programs
// which run a sandbox, such as the avupload CLI, never link package testing.
package sandboxtest

import (
	"testing"

	"github.com/avupload/avupload/sandbox"
)

// NewServer starts a Sandbox on a free port of 127.0.0.1 and closes it in
// tb.Cleanup. It fails tb if the server cannot start. Asset links point at
// the server's URL.
//
// The sandbox is strict ([sandbox.WithStrict]): it refuses, besides what
// the API refuses, what a correct client never sends (a chunk after the
// first without videoId), with a problem that names the mistake, and
// srv.Sandbox.Lint() lists every mistake it saw. Pass
// sandbox.WithStrict(false) to answer exactly as the API does.
func NewServer(tb testing.TB, opts ...sandbox.Option) *sandbox.Server {
	tb.Helper()
	s, err := sandbox.Start("127.0.0.1:0", append([]sandbox.Option{sandbox.WithStrict(true)}, opts...)...)
	if err != nil {
		tb.Fatalf("sandbox: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}
