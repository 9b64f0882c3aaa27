// Package testutil holds what the tests of several packages, and the bench
// programs, share: servers that misbehave as real networks do, and a buffer
// safe for concurrent use. It does not import package testing; the
// dependency tests of wrapper and cmd/avupload check that neither the
// library nor the avupload program links it.
package testutil

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Answer returns a handler that reads the request's body, then answers
// status with body as JSON, with the headers given as name, value pairs.
func Answer(status int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// Silent reads the request's body and never answers, until the client
// leaves.
func Silent(_ http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

// HangUp closes the connection without answering.
func HangUp(w http.ResponseWriter, _ *http.Request) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
	}
}

// DripBody returns a handler that reads the request's body, answers status
// at once, then writes body a byte every tick, until the client leaves.
func DripBody(status int, body string, tick time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		for _, b := range []byte(body) {
			if _, err := w.Write([]byte{b}); err != nil {
				return
			}
			_ = http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(tick):
			}
		}
	}
}

// DripHeaders returns a handler that reads the request's body, then writes
// a 200's status line and 64 Ki headers a byte every tick on the raw
// connection, until the client leaves.
func DripHeaders(tick time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		drip(conn, buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"+strings.Repeat("X-Pad: 1\r\n", 1<<16), tick)
	}
}

// drip writes s a byte every tick on conn, and stops when the client goes
// away.
func drip(conn net.Conn, buf *bufio.ReadWriter, s string, tick time.Duration) {
	for i := range len(s) {
		if err := buf.WriteByte(s[i]); err != nil {
			return
		}
		if err := buf.Flush(); err != nil {
			return
		}
		// Waiting for a byte from the client, for one tick, is the pause,
		// and tells when the client has closed the connection.
		_ = conn.SetReadDeadline(time.Now().Add(tick))
		if _, err := buf.Peek(1); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return // the client went away
			}
		}
	}
}

// Data returns n deterministic pseudo-random bytes for seed: the same
// bytes for the same n and seed in every test that asks.
func Data(n int64, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}))
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}
