package sandbox

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// DefaultBodyIdleTimeout is how long a Sandbox waits for the next byte of a
// request body, unless [WithBodyIdleTimeout] says otherwise.
const DefaultBodyIdleTimeout = 30 * time.Second

// errBodyStalled is returned by an idleBody once no byte arrived in time.
var errBodyStalled = errors.New("sandbox: request body stalled")

// idleBody is a request body whose every read must bring a byte within
// timeout: before each read it moves the connection's read deadline. Once a
// read timed out, every later read fails at once, so nothing waits twice.
type idleBody struct {
	body    io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration

	mu      sync.Mutex
	stalled bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stalled {
		return 0, errBodyStalled
	}
	if err := b.rc.SetReadDeadline(time.Now().Add(b.timeout)); err != nil {
		// The connection cannot time reads (a test's ResponseWriter): read
		// without a deadline.
		return b.body.Read(p)
	}
	n, err := b.body.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		b.stalled = true
		return n, errBodyStalled
	}
	return n, err
}

func (b *idleBody) Close() error { return b.body.Close() }
