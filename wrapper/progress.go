package wrapper

import (
	"sync"
	"sync/atomic"
	"time"
)

// progress delivers counts to a callback from its own goroutine, keeping
// only the latest count when the callback is slower than the upload. It
// samples what is in flight every ProgressInterval.
type progress struct {
	fn       func(UploadProgress)
	inflight flight
	kick     chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	acked    int64
	total    int64
}

// flight counts what is in flight: the requests whose body has read at
// least one byte of a chunk and that are not answered yet, and those bytes.
// A request leaves it when it is answered, fails, or is replaced by a retry.
type flight struct {
	bytes  atomic.Int64
	chunks atomic.Int64
}

func newProgress(fn func(UploadProgress)) *progress {
	p := &progress{fn: fn}
	if fn == nil {
		return p
	}
	p.kick = make(chan struct{}, 1)
	p.done = make(chan struct{})
	go p.loop()
	return p
}

func (p *progress) update(acked, total int64) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	p.acked, p.total = max(p.acked, acked), total
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// sample returns the counts now: Sent never below what was reported
// before, nor above the total. An acknowledged chunk leaves inflight before
// it joins acked, so a sample never counts it twice.
func (p *progress) sample(last UploadProgress) UploadProgress {
	p.mu.Lock()
	acked, total := p.acked, p.total
	p.mu.Unlock()
	sent := max(last.Sent, acked+p.inflight.bytes.Load())
	if total >= 0 {
		sent = min(sent, total)
	}
	return UploadProgress{Acked: acked, Sent: max(sent, acked), Total: total, Pending: int(max(p.inflight.chunks.Load(), 0))}
}

func (p *progress) loop() {
	defer close(p.done)
	tick := time.NewTicker(ProgressInterval)
	defer tick.Stop()
	last := UploadProgress{Acked: -1, Total: -2}
	for {
		select {
		case _, ok := <-p.kick:
			if !ok {
				if now := p.sample(last); now != last {
					p.fn(now)
				}
				return
			}
		case <-tick.C:
		}
		if now := p.sample(last); now != last {
			p.fn(now)
			last = now
		}
	}
}

// close waits for the last count to be delivered.
func (p *progress) close() {
	if p.fn == nil {
		return
	}
	close(p.kick)
	<-p.done
}
