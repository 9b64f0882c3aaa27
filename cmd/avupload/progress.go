package main

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/avupload/avupload/wrapper"
)

// progress shows how an upload advances: a bar with rate and ETA on a
// terminal, a plain line now and then elsewhere, nothing when quiet. Both
// count the bytes sent, acknowledged or in flight, so they move while a
// large chunk goes. It also remembers the last count, to say how much an
// interrupted upload got acknowledged. Its methods are called from one
// goroutine at a time.
type progress struct {
	acked, sent, total int64

	term  io.Writer                // the terminal to draw a bar on; nil elsewhere
	bar   *progressbar.ProgressBar // drawn from the first update on
	plain io.Writer                // where plain lines go; nil on a terminal or when quiet
	base  int64                    // the first count, made of resumed chunks
	start time.Time                // when the first count arrived
	last  time.Time                // when the last plain line was written
	now   func() time.Time
}

// singleLineInterval is the least time between two plain progress lines.
const singleLineInterval = time.Second

// newProgress returns the progress display for an upload, written to w.
func newProgress(w io.Writer, quiet bool) *progress {
	p := &progress{total: -1, now: time.Now}
	switch {
	case quiet:
	case isTerminal(w):
		p.term = w
	default:
		p.plain = w
	}
	return p
}

// newBar draws a bar of total bytes (-1 while unknown) on the terminal.
func (p *progress) newBar(total int64) *progressbar.ProgressBar {
	w := p.term
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("uploading"),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetSpinnerChangeInterval(0), // no ticking goroutine
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}

// update is the upload's Progress function.
func (p *progress) update(u wrapper.UploadProgress) {
	if p.start.IsZero() {
		p.start, p.base = p.now(), u.Sent
		if p.term != nil {
			p.bar = p.newBar(u.Total)
		}
	}
	if p.bar != nil && u.Total != p.total {
		p.bar.ChangeMax64(u.Total)
	}
	p.acked, p.sent, p.total = u.Acked, u.Sent, u.Total
	switch {
	case p.bar != nil:
		_ = p.bar.Set64(u.Sent)
	case p.plain != nil:
		now := p.now()
		if now.Sub(p.last) < singleLineInterval && u.Sent != u.Total {
			return
		}
		p.last = now
		fmt.Fprintln(p.plain, p.line(now))
	}
}

// line is a plain progress line: "uploaded 150.0 MiB of 300.0 MiB (50%), 80.2 MiB/s".
func (p *progress) line(now time.Time) string {
	s := "uploaded " + formatSize(p.sent)
	if p.total > 0 {
		s += fmt.Sprintf(" of %s (%d%%)", formatSize(p.total), p.sent*100/p.total)
	}
	if elapsed := now.Sub(p.start).Seconds(); elapsed > 0 && p.sent > p.base {
		s += fmt.Sprintf(", %s/s", formatSize(int64(float64(p.sent-p.base)/elapsed)))
	}
	return s
}

// stop ends the display, leaving the cursor on a fresh line.
func (p *progress) stop() {
	if p.bar != nil && !p.bar.IsFinished() {
		_ = p.bar.Exit()
	}
}

// done describes how much the API acknowledged: "150.0 MiB of 300.0 MiB".
func (p *progress) done() string {
	if p.total > 0 {
		return formatSize(p.acked) + " of " + formatSize(p.total)
	}
	return formatSize(p.acked)
}
