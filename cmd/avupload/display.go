package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/vbauerster/cupwriter"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/avupload/avupload/wrapper/batch"
)

// plainInterval is the time between two plain progress lines; barsInterval
// the time between two updates of the bars' figures when no count comes (a
// stall lowers the rate on screen).
const (
	plainInterval = 2 * time.Second
	barsInterval  = 500 * time.Millisecond
)

// nameWidth is the most columns a file's name takes beside its bar.
const nameWidth = 28

// displayMode is how a display shows progress.
type displayMode int

const (
	displayQuiet displayMode = iota // nothing
	displayPlain                    // a line every plainInterval, no escape sequence
	displayBars                     // a bar per file in flight and a total, redrawn in place
)

// display shows a batch's progress on standard error from the snapshots
// it is given (update): on a terminal, a bar per file in flight and a total
// bar, with mpb; elsewhere, or with TERM=dumb, a plain line every
// plainInterval; nothing when quiet. Bytes count as soon as they are sent,
// acknowledged or not; the rate is taken over the last rateSpan. Lines
// written while bars are on screen go through printLine, which prints them
// above the bars. Its methods are safe for concurrent use; stop ends it.
type display struct {
	mode     displayMode
	out      io.Writer // standard output
	errw     io.Writer // standard error, where the display goes
	routeOut bool      // out is the terminal the bars are on: its lines go above them
	now      func() time.Time
	ticks    bool                         // tick from a goroutine of its own (off in tests)
	interval time.Duration                // between two ticks
	barOpts  func() []mpb.ContainerOption // how the container draws (tests write to a buffer)

	mu      sync.Mutex
	started bool
	stopped bool
	final   bool // the plain line of the batch's end is printed
	prog    batch.Progress
	meter   *rateWindow
	quit    chan struct{} // closed by stop, for the ticking goroutine
	ticking sync.WaitGroup

	p     *mpb.Progress
	total *dispBar
	files map[string]*dispBar // by path, the files in flight
}

// dispBar is a bar on screen and the texts its decorators show, which the
// display sets and mpb's goroutines read.
type dispBar struct {
	bar         *mpb.Bar
	left, right atomic.Pointer[string]
	known       bool // drawn with a bar: the total was known when it started
}

func (b *dispBar) set(left, right string) {
	b.left.Store(&left)
	b.right.Store(&right)
}

// newDisplay returns the display for a batch whose file lines go to out
// and progress to errw: bars when errw is a terminal and TERM (read with
// getenv) is not "dumb", plain lines elsewhere, nothing when quiet.
func newDisplay(out, errw io.Writer, quiet bool, getenv func(string) string) *display {
	d := &display{out: out, errw: errw, now: time.Now, ticks: true, interval: plainInterval}
	d.mode = modeFor(quiet, isTerminal(errw), getenv("TERM"))
	switch d.mode {
	case displayBars:
		d.interval = barsInterval
		d.routeOut = isTerminal(out)
		d.barOpts = func() []mpb.ContainerOption {
			return []mpb.ContainerOption{mpb.WithConsoleWriter(terminalWriter(errw))}
		}
	}
	return d
}

// modeFor is the display's mode: nothing when quiet, bars when standard
// error is a terminal whose TERM is not "dumb" (a terminal that cannot
// move its cursor), plain lines otherwise.
func modeFor(quiet, terminal bool, termEnv string) displayMode {
	switch {
	case quiet:
		return displayQuiet
	case terminal && termEnv != "dumb":
		return displayBars
	default:
		return displayPlain
	}
}

// terminalWriter is mpb's console writer for w, a terminal maybe behind a
// syncWriter: it writes through w, so that the bars and the other writers
// of standard error take turns, and asks the terminal its size.
func terminalWriter(w io.Writer) mpb.ConsoleWriter {
	cw := cupwriter.New(w, false)
	if f := terminalFile(w); f != nil {
		cw.SetTermFd(int(f.Fd()))
	}
	return sizedConsole{cw}
}

// sizedConsole is a console whose size, when the terminal does not tell it
// (a pseudo-terminal left at 0x0, as script(1) makes), is 80x24: mpb draws
// no row on a terminal 0 rows high.
type sizedConsole struct{ mpb.ConsoleWriter }

func (c sizedConsole) GetTermSize() (width, height int, err error) {
	width, height, err = c.ConsoleWriter.GetTermSize()
	if err != nil || width <= 0 {
		width = 80
	}
	if err != nil || height <= 0 {
		height = 24
	}
	return width, height, nil
}

// terminalFile returns the file w (or the stream a syncWriter writes to)
// is, when it is a terminal; nil otherwise.
func terminalFile(w io.Writer) *os.File {
	if s, ok := w.(*stdoutWriter); ok {
		w = s.unwrap()
	}
	if s, ok := w.(*syncWriter); ok {
		w = s.w
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return f
	}
	return nil
}

// isTerminal reports whether w (or the stream a syncWriter or the
// standard output's stdoutWriter writes to) is a terminal.
func isTerminal(w io.Writer) bool { return terminalFile(w) != nil }

// update takes a new snapshot of the batch's progress.
func (d *display) update(p batch.Progress) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mode == displayQuiet || d.stopped || p.Files == 0 {
		return
	}
	now := d.now()
	d.prog = p
	f := figuresOf(p)
	if !d.started {
		d.start(f)
	}
	d.meter.add(now, f.moved)
	switch d.mode {
	case displayPlain:
		if p.Done >= p.Files && !d.final {
			// The batch's end: its line, once, whatever the interval.
			d.final = true
			d.plainLine(now)
		}
	case displayBars:
		d.drawBars(now)
	}
}

// start begins the display, at its first snapshot; d.mu is held.
func (d *display) start(f figures) {
	d.started = true
	d.meter = newRateWindow(rateSpan, rateLeast)
	if d.mode == displayBars {
		d.p = mpb.New(d.barOpts()...)
		d.files = map[string]*dispBar{}
		d.total = d.addBar(f.total >= 0, mpb.BarPriority(math.MaxInt32))
	}
	if !d.ticks {
		return
	}
	d.quit = make(chan struct{})
	d.ticking.Go(func() {
		t := time.NewTicker(d.interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				d.tick()
			case <-d.quit:
				return
			}
		}
	})
}

// tick is called every plainInterval (barsInterval with bars): a plain
// line, or the bars' figures as of now.
func (d *display) tick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.started || d.stopped || d.final {
		return
	}
	now := d.now()
	d.meter.add(now, figuresOf(d.prog).moved)
	switch d.mode {
	case displayPlain:
		d.plainLine(now)
	case displayBars:
		d.drawBars(now)
	}
}

// plainLine prints the progress line as of now; d.mu is held. One file's
// line says "uploaded 3.0 MiB of 12.0 MiB (25%), ..." without a count of files.
func (d *display) plainLine(now time.Time) {
	f := figuresOf(d.prog)
	if f.files == 1 {
		printf(d.errw, "uploaded %s\n", f.bytesText(d.meter, now))
		return
	}
	printf(d.errw, "%s, %s\n", f.filesText(), f.bytesText(d.meter, now))
}

// addBar adds a bar, drawn when known, otherwise its texts alone; d.mu is held.
func (d *display) addBar(known bool, opts ...mpb.BarOption) *dispBar {
	b := &dispBar{known: known}
	b.set("", "")
	filler := mpb.NopStyle()
	if known {
		filler = mpb.BarStyle()
	}
	text := func(p *atomic.Pointer[string]) decor.Decorator {
		return decor.Any(func(decor.Statistics) string { return *p.Load() }, decor.WCSyncWidthR)
	}
	opts = append(opts, mpb.PrependDecorators(text(&b.left)), mpb.AppendDecorators(text(&b.right)))
	// Created with no total, a bar never completes by itself: it leaves
	// the screen when its file does (see drawBars).
	b.bar = d.p.New(0, filler, opts...)
	return b
}

// drawBars sets the bars to the snapshot's figures: a bar for each file
// that started, none for those that ended; d.mu is held.
func (d *display) drawBars(now time.Time) {
	p := d.prog
	f := figuresOf(p)
	seen := make(map[string]bool, len(p.InFlight))
	for _, fp := range p.InFlight {
		seen[fp.Path] = true
		b := d.files[fp.Path]
		if b == nil {
			b = d.addBar(fp.Total >= 0)
			d.files[fp.Path] = b
		}
		b.set(fitName(quotePath(baseName(fp.Path)), nameWidth), fileText(fp))
		if b.known && fp.Total > 0 {
			b.bar.SetTotal(fp.Total, false)
			b.bar.SetCurrent(min(fp.Sent, fp.Total))
		}
	}
	for path, b := range d.files {
		if !seen[path] {
			b.bar.Abort(true)
			delete(d.files, path)
		}
	}
	d.total.set(f.filesText(), f.bytesText(d.meter, now))
	switch {
	case !d.total.known:
	case f.total > 0:
		d.total.bar.SetTotal(f.total, false)
		d.total.bar.SetCurrent(min(f.sent, f.total))
	default: // a stream joined: no fraction to draw
		d.total.bar.SetTotal(0, false)
	}
}

// printLine writes line, which ends with a newline, to w (standard output
// or error). While bars are on the terminal, a line for that terminal is
// printed above them, not through them; otherwise it is written to w
// directly. It returns the error of the write.
func (d *display) printLine(w io.Writer, line string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.p != nil && !d.stopped && (w == d.errw || w == d.out && d.routeOut) {
		if _, err := d.p.Write([]byte(line)); err == nil {
			return nil
		}
		// The container ended (it failed to draw): write directly.
	}
	_, err := io.WriteString(w, line)
	return err
}

// writer returns a writer whose every write goes to w through printLine:
// for the writers of whole lines to standard error (the client's notices,
// the --verbose log), so that their lines go above the bars rather than
// through them.
func (d *display) writer(w io.Writer) io.Writer { return lineWriter{d: d, w: w} }

type lineWriter struct {
	d *display
	w io.Writer
}

func (l lineWriter) Write(p []byte) (int, error) {
	if err := l.d.printLine(l.w, string(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// stop ends the display: the bars leave the terminal, which is left on a
// fresh line, and no line is printed any more. It returns once mpb's and
// the display's goroutines ended. It may be called more than once.
func (d *display) stop() {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	d.stopped = true
	if d.quit != nil {
		close(d.quit)
	}
	p := d.p
	if p != nil {
		for path, b := range d.files {
			b.bar.Abort(true)
			delete(d.files, path)
		}
		d.total.bar.Abort(true)
	}
	d.mu.Unlock()
	d.ticking.Wait() // a tick may wait for d.mu
	if p != nil {
		p.Wait()
	}
}

// figures are the numbers shown, from one snapshot.
type figures struct {
	files, done, failed int
	sent                int64 // bytes done or in flight
	total               int64 // the files' bytes, -1 while a stream's size is unknown
	moved               int64 // bytes this run sent: skipped and resumed ones left out
	pending             int   // chunks awaiting their answer
}

func figuresOf(p batch.Progress) figures {
	f := figures{files: p.Files, done: p.Done, failed: p.Failed, sent: p.BytesDone, total: p.Bytes}
	for _, fp := range p.InFlight {
		f.sent += max(fp.Sent-fp.Acked, 0)
		f.pending += fp.Pending
		if fp.Total < 0 {
			f.total = -1
		}
	}
	if f.total < 0 {
		f.total = -1
	}
	f.moved = f.sent - p.BytesSkipped
	return f
}

// filesText is "files 12/200 (1 failed)".
func (f figures) filesText() string {
	s := fmt.Sprintf("files %d/%d", f.done, f.files)
	if f.failed > 0 {
		s += fmt.Sprintf(" (%d failed)", f.failed)
	}
	return s
}

// bytesText is "340.0 MiB of 1.2 GiB (28%), 45.3 MiB/s, ETA 20s": bytes
// and percentage, the rate over the window once there is one, the ETA at
// that rate. Once every byte is sent, it says how many chunks await their
// answer instead. A total unknown shows bytes and rate alone.
func (f figures) bytesText(w *rateWindow, now time.Time) string {
	var b strings.Builder
	b.WriteString(formatSize(f.sent))
	if f.total >= 0 {
		pct := int64(100)
		if f.total > 0 {
			pct = min(f.sent*100/f.total, 100)
		}
		fmt.Fprintf(&b, " of %s (%d%%)", formatSize(f.total), pct)
	}
	if f.total >= 0 && f.sent >= f.total && f.pending > 0 {
		fmt.Fprintf(&b, ", waiting for the API to acknowledge %s", plural(f.pending, "chunk"))
		return b.String()
	}
	if rate, ok := w.rate(now); ok {
		fmt.Fprintf(&b, ", %s/s", formatSize(int64(rate)))
		if d, ok := eta(f.total-f.sent, rate); ok && f.total >= 0 {
			fmt.Fprintf(&b, ", ETA %s", d)
		}
	}
	return b.String()
}

// fileText is a file bar's figures: "12.0 MiB / 100.0 MiB 12%", or the
// bytes sent alone while its size is unknown.
func fileText(fp batch.FileProgress) string {
	if fp.Total < 0 {
		return formatSize(fp.Sent)
	}
	pct := int64(100)
	if fp.Total > 0 {
		pct = min(fp.Sent*100/fp.Total, 100)
	}
	return fmt.Sprintf("%s / %s %3d%%", formatSize(fp.Sent), formatSize(fp.Total), pct)
}

// fitName cuts name to at most width characters, marking the cut with "…".
func fitName(name string, width int) string {
	if utf8.RuneCountInString(name) <= width {
		return name
	}
	r := []rune(name)
	return string(r[:width-1]) + "…"
}
