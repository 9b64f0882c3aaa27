package wrapper

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// ErrStalled matches an attempt abandoned because nothing moved: no byte of
// the request sent and no answer begun for the stall timeout, or an answer
// not whole within the stall timeout of its first byte. A stalled attempt
// is retried like a lost connection; the call's error matches ErrStalled
// when the last attempt stalled too.
var ErrStalled = errors.New("avupload: stalled")

// stallError is the cause of an attempt the stall watch abandoned.
type stallError struct{ timeout time.Duration }

func (e *stallError) Error() string {
	return "no progress within the stall timeout of " + e.timeout.String()
}

func (e *stallError) Is(target error) bool { return target == ErrStalled }

// stallWatch bounds one attempt. Until the answer's headers arrive, the
// attempt is stalled once nothing moved (no byte of the request body read by
// the connection) for timeout; from then on the whole answer must be read
// within timeout, so that a server dripping a byte now and then cannot hold
// a call forever. While the attempt is idle, idle is called every every.
// A zero timeout bounds nothing; a nil idle or a zero every reports nothing.
type stallWatch struct {
	timeout time.Duration
	every   time.Duration
	cancel  context.CancelCauseFunc
	idle    func(time.Duration)
	last    atomic.Int64 // when a byte last moved, in Unix nanoseconds

	mu       sync.Mutex
	timer    *time.Timer
	stopped  bool
	answerBy time.Time // zero until the headers arrived
	seen     int64     // last as the previous check saw it
	told     int       // idle reports made since last moved
}

func startStallWatch(timeout, every time.Duration, cancel context.CancelCauseFunc, idle func(time.Duration)) *stallWatch {
	w := &stallWatch{timeout: timeout, every: every, cancel: cancel, idle: idle}
	if idle == nil {
		w.every = 0
	}
	now := time.Now()
	w.last.Store(now.UnixNano())
	w.seen = now.UnixNano()
	if next := w.next(0); next > 0 {
		w.mu.Lock()
		w.timer = time.AfterFunc(next, w.check)
		w.mu.Unlock()
	}
	return w
}

// moved records that a byte moved.
func (w *stallWatch) moved() { w.last.Store(time.Now().UnixNano()) }

// answered switches the watch to the answer's deadline.
func (w *stallWatch) answered() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped || w.timeout <= 0 {
		return
	}
	w.answerBy = time.Now().Add(w.timeout)
	if w.timer != nil {
		w.timer.Reset(w.timeout)
	}
}

// stop ends the watch; it is safe to call more than once.
func (w *stallWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
	}
}

// next is how long until the watch must look again, after idle without
// progress; 0 for never.
func (w *stallWatch) next(idle time.Duration) time.Duration {
	var d time.Duration
	if w.timeout > 0 {
		d = w.timeout - idle
	}
	if w.every > 0 {
		if n := time.Duration(w.told+1)*w.every - idle; d <= 0 || n < d {
			d = n
		}
	}
	return max(d, time.Millisecond)
}

func (w *stallWatch) check() {
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	now := time.Now()
	if !w.answerBy.IsZero() {
		if left := w.answerBy.Sub(now); left > 0 {
			w.timer.Reset(left)
		} else {
			w.cancel(&stallError{w.timeout})
		}
		w.mu.Unlock()
		return
	}
	last := w.last.Load()
	if last != w.seen {
		w.seen, w.told = last, 0
	}
	idle := now.Sub(time.Unix(0, last))
	if w.timeout > 0 && idle >= w.timeout {
		w.cancel(&stallError{w.timeout})
		w.mu.Unlock()
		return
	}
	if w.every > 0 && idle >= time.Duration(w.told+1)*w.every {
		w.told = int(idle / w.every)
		// Told under the lock, so that no report comes after stop returned.
		w.idle(idle)
	}
	w.timer.Reset(w.next(idle))
	w.mu.Unlock()
}

// watchedBody is a request body whose reads count as progress.
type watchedBody struct {
	io.ReadCloser
	w *stallWatch
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.moved()
	}
	return n, err
}
