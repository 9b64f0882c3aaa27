package main

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/avupload/avupload/wrapper"
)

// noticeWait is the shortest wait before a retry that is worth a line.
const noticeWait = 2 * time.Second

// notifier turns the client's events into lines on standard error, so
// that a command never sits silent for long: a wait of more than
// noticeWait before a retry, and every wrapper.IdleNotice an attempt spends
// with nothing moving. It is safe for concurrent use.
type notifier struct {
	mu      sync.Mutex
	retries atomic.Int64  // the retries the client made, quiet or not
	w       io.Writer     // nil when quiet
	term    bool          // w is a terminal, where a progress bar may hold the line
	stall   time.Duration // the stall timeout of the attempts, for the idle lines
}

// syncWriter serialises the writes of the goroutines that share a stream:
// the client's notices come from its own goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// newNotifier writes to w, or nowhere when quiet.
func newNotifier(w io.Writer, quiet bool, stall time.Duration) *notifier {
	if quiet {
		return &notifier{}
	}
	return &notifier{w: w, term: isTerminal(w), stall: stall}
}

// event is the client's event function.
func (n *notifier) event(e wrapper.Event) {
	if e.Kind == wrapper.EventRetry {
		n.retries.Add(1)
	}
	if n.w == nil {
		return
	}
	var msg string
	switch e.Kind {
	case wrapper.EventRetry:
		if e.Wait <= noticeWait || e.ServerAsked {
			return // a wait the server asked for is told once, by its EventServerPause
		}
		why := "the connection failed"
		switch {
		case e.Status != 0:
			why = fmt.Sprintf("the server answered %d %s", e.Status, http.StatusText(e.Status))
		}
		msg = fmt.Sprintf("%s; trying again in %s (attempt %d)", why, e.Wait.Round(time.Second), e.Attempt+1)
	case wrapper.EventServerPause:
		msg = fmt.Sprintf("the server answered %d %s and asks to wait %s; every request waits until then", e.Status, http.StatusText(e.Status), e.Wait.Round(time.Second))
	case wrapper.EventIdle:
		msg = fmt.Sprintf("nothing has moved for %s; still waiting for the server", e.Idle.Round(time.Second))
		if n.stall > 0 {
			msg += fmt.Sprintf(" (the attempt is abandoned and retried after %s; see --stall-timeout)", n.stall)
		}
	default:
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.term {
		// Take the line from the progress bar; it redraws on its next update.
		_, _ = io.WriteString(n.w, "\r\x1b[K")
	}
	printf(n.w, "avupload: %s\n", msg)
}
