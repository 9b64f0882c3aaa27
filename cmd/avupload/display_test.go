package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vbauerster/mpb/v8"

	"github.com/avupload/avupload/wrapper/batch"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// lockedBuffer is a buffer written by another goroutine (mpb's, a
// running command's) and read by the test.
type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// twoFiles is a batch of two files, 40 MiB and 63 MiB, at its start.
func twoFiles() batch.Progress {
	return batch.Progress{Files: 2, Bytes: 103 << 20, InFlight: []batch.FileProgress{
		{Path: "videos/a.mp4", Total: 40 << 20}, {Path: "videos/b.mp4", Total: 63 << 20}}}
}

// TestDisplayPlain drives a plain display with a fake clock: a line at
// each tick, none between them, with bytes in flight counted and the rate
// over the window; a line saying how many chunks await their answers
// once every byte is sent, once a tick however many counts come; the
// batch's last line once; not one escape sequence.
func TestDisplayPlain(t *testing.T) {
	var stdout, stderr bytes.Buffer
	d := newDisplay(&stdout, &stderr, false, env(map[string]string{"TERM": "xterm-256color"}))
	require.Equal(t, displayPlain, d.mode, "a buffer is no terminal")
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	d.now, d.ticks = clock.now, false
	lines := func() []string { return strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n") }

	p := twoFiles()
	d.update(p)
	assert.Empty(t, stderr.String(), "lines come at the ticks")
	// 2 s at 10 MiB/s: counts every 250 ms.
	for i := 1; i <= 8; i++ {
		clock.add(250 * time.Millisecond)
		p.InFlight[0].Sent = int64(i) * 5 << 20 / 2
		p.InFlight[0].Acked = p.InFlight[0].Sent / (8 << 20) * (8 << 20)
		p.BytesDone = p.InFlight[0].Acked
		p.InFlight[0].Pending = 1
		d.update(p)
	}
	assert.Empty(t, stderr.String(), "no line between ticks")
	d.tick()
	require.Equal(t, []string{"files 0/2, 20.0 MiB of 103.0 MiB (19%), 10.0 MiB/s, ETA 8s"}, lines())

	// File a ends; b sends its last bytes, then waits for two answers.
	p = batch.Progress{Files: 2, Done: 1, Bytes: 103 << 20, BytesDone: 40<<20 + 48<<20,
		InFlight: []batch.FileProgress{{Path: "videos/b.mp4", Acked: 48 << 20, Sent: 63 << 20, Pending: 2, Total: 63 << 20}}}
	clock.add(2 * time.Second)
	for range 20 {
		d.update(p)
	}
	d.tick()
	clock.add(2 * time.Second)
	p.InFlight[0].Acked, p.InFlight[0].Pending = 56<<20, 1
	p.BytesDone = 40<<20 + 56<<20
	for range 20 {
		d.update(p)
	}
	d.tick()
	require.Len(t, lines(), 3)
	assert.Equal(t, "files 1/2, 103.0 MiB of 103.0 MiB (100%), waiting for the API to acknowledge 2 chunks", lines()[1])
	assert.Equal(t, "files 1/2, 103.0 MiB of 103.0 MiB (100%), waiting for the API to acknowledge 1 chunk", lines()[2])

	// The end: its line once, then nothing more.
	clock.add(300 * time.Millisecond)
	end := batch.Progress{Files: 2, Done: 2, Bytes: 103 << 20, BytesDone: 103 << 20, InFlight: []batch.FileProgress{}}
	d.update(end)
	d.update(end)
	d.tick()
	clock.add(3 * time.Second)
	d.tick()
	d.update(end)
	d.stop()
	d.tick()
	require.Len(t, lines(), 4, "%q", lines())
	assert.Regexp(t, `^files 2/2, 103\.0 MiB of 103\.0 MiB \(100%\), \d+\.\d MiB/s$`, lines()[3])

	assert.NotContains(t, stderr.String(), "\x1b")
	assert.NotContains(t, stderr.String(), "\r")
	assert.Empty(t, stdout.String())
	require.NoError(t, d.printLine(&stdout, "uploaded  vi1  40.0 MiB  videos/a.mp4\n"))
	assert.Equal(t, "uploaded  vi1  40.0 MiB  videos/a.mp4\n", stdout.String())
}

// TestDisplayPlainTicks: the display's own ticker paces the plain lines,
// and stop ends it: no line after stop returns.
func TestDisplayPlainTicks(t *testing.T) {
	stderr := &lockedBuffer{}
	d := newDisplay(&bytes.Buffer{}, stderr, false, env(nil))
	d.interval = 20 * time.Millisecond
	d.update(twoFiles())
	require.Eventually(t, func() bool { return strings.Count(stderr.String(), "\n") >= 2 }, 5*time.Second, 5*time.Millisecond)
	d.stop()
	n := stderr.String()
	time.Sleep(60 * time.Millisecond)
	assert.Equal(t, n, stderr.String(), "a line came after stop")
	assert.Contains(t, n, "files 0/2, 0 B of 103.0 MiB (0%)\n")
}

// TestDisplayModes: bars need a terminal on stderr and a TERM other than
// dumb; quiet shows nothing at all.
func TestDisplayModes(t *testing.T) {
	tests := []struct {
		quiet, terminal bool
		term            string
		want            displayMode
	}{
		{false, true, "xterm-256color", displayBars},
		{false, true, "", displayBars},
		{false, true, "dumb", displayPlain},
		{false, false, "xterm", displayPlain},
		{true, true, "xterm", displayQuiet},
		{true, false, "dumb", displayQuiet},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, modeFor(tt.quiet, tt.terminal, tt.term), "quiet %v, terminal %v, TERM=%s", tt.quiet, tt.terminal, tt.term)
	}
	var out, errw bytes.Buffer
	assert.Equal(t, displayPlain, newDisplay(&out, &errw, false, env(map[string]string{"TERM": "xterm"})).mode, "a buffer is no terminal")

	q := newDisplay(&out, &errw, true, env(nil))
	q.update(twoFiles())
	q.update(batch.Progress{Files: 2, Done: 2, Bytes: 1, BytesDone: 1})
	q.tick()
	q.stop()
	assert.Empty(t, errw.String(), "quiet")
}

// newBarsDisplay is a display drawing bars into a buffer, as on a
// terminal 100 columns wide, a frame each time refresh is sent to.
func newBarsDisplay(stdout, frames *lockedBuffer, clock *fakeClock, refresh chan any) *display {
	stderr := &syncWriter{w: frames}
	return &display{mode: displayBars, out: stdout, errw: stderr, routeOut: true, now: clock.now,
		barOpts: func() []mpb.ContainerOption {
			return []mpb.ContainerOption{mpb.WithOutput(frames), mpb.ForceTTY(), mpb.WithWidth(100), mpb.WithManualRefresh(refresh)}
		}}
}

// TestDisplayBars draws bars into a buffer: a bar per file in flight with
// its name and bytes, a total with no rate on its first frame, then rate
// and ETA; a finished file's bar leaves; a stream shows bytes with no
// percentage; a file line goes above the bars, not through them; stop
// clears the bars and returns once mpb's goroutines ended.
func TestDisplayBars(t *testing.T) {
	stdout, frames := &lockedBuffer{}, &lockedBuffer{}
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	refresh := make(chan any)
	d := newBarsDisplay(stdout, frames, clock, refresh)
	// frame draws one frame and returns what it wrote.
	frame := func() string {
		t.Helper()
		before := frames.String()
		refresh <- clock.now()
		require.Eventually(t, func() bool { return frames.String() != before }, 5*time.Second, time.Millisecond)
		time.Sleep(20 * time.Millisecond) // the frame is one write, but lines above it may be another
		return strings.TrimPrefix(frames.String(), before)
	}

	p := twoFiles()
	d.update(p)
	first := frame()
	assert.Contains(t, first, "a.mp4")
	assert.Contains(t, first, "b.mp4")
	assert.Contains(t, first, "0 B / 40.0 MiB")
	assert.Contains(t, first, "files 0/2")
	assert.Contains(t, first, "0 B of 103.0 MiB (0%)")
	assert.NotContains(t, first, "/s", "no rate on the first frame")
	assert.NotContains(t, first, "ETA")

	for i := 1; i <= 8; i++ {
		clock.add(250 * time.Millisecond)
		p.InFlight[0].Sent = int64(i) * 5 << 20 / 2
		d.update(p)
	}
	moving := frame()
	assert.Contains(t, moving, "20.0 MiB / 40.0 MiB  50%")
	assert.Contains(t, moving, "20.0 MiB of 103.0 MiB (19%), 10.0 MiB/s, ETA 8s")

	require.NoError(t, d.printLine(stdout, "uploaded  vi1  40.0 MiB  videos/a.mp4\n"))
	assert.Empty(t, stdout.String(), "the line goes above the bars, on the same terminal")
	p = batch.Progress{Files: 3, Done: 1, Bytes: 63 << 20, BytesDone: 40 << 20, InFlight: []batch.FileProgress{
		{Path: "videos/b.mp4", Total: 63 << 20, Sent: 1 << 20}, {Path: "-", Total: -1, Sent: 3 << 20}}}
	clock.add(time.Second)
	d.update(p)
	notice := "avupload: the server answered 503 Service Unavailable; trying again in 4s (attempt 2)\n"
	n, err := io.WriteString(d.writer(d.errw), notice)
	require.NoError(t, err)
	assert.Equal(t, len(notice), n)
	later := frame()
	assert.Contains(t, later, "uploaded  vi1  40.0 MiB  videos/a.mp4\n"+notice, "the lines above the bars, in order")
	assert.Less(t, strings.Index(later, "uploaded  vi1"), strings.Index(later, "files 1/3"), "the line is above the bars")
	assert.NotContains(t, frame(), "a.mp4 ", "the bar of a file that ended left (it shows on the frame it ends)")
	assert.Contains(t, later, "1.0 MiB / 63.0 MiB   1%")
	assert.Regexp(t, `- +3\.0 MiB`, later, "a stream: its bytes")
	assert.Regexp(t, `files 1/3 .* 44\.0 MiB, \d+\.\d MiB/s`, later, "a stream: no total, no ETA")
	assert.NotContains(t, later, "ETA")

	done := make(chan struct{})
	go func() { d.stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not return")
	}
	end := frames.String()
	last := end[strings.LastIndex(end, "b.mp4"):]
	assert.Regexp(t, "\x1b\\[\\d+A\x1b\\[J$", last, "the bars are erased and nothing drawn after them")
	_, err = d.p.Write(nil)
	assert.ErrorIs(t, err, mpb.ErrDone, "mpb's container ended")
	require.NoError(t, d.printLine(stdout, "summary\n"))
	assert.Equal(t, "summary\n", stdout.String(), "after stop, lines go straight to their stream")
}

// TestDisplayBarsOtherStdout: with standard output elsewhere than the
// terminal, a file line is written there directly, and its write error
// returned.
func TestDisplayBarsOtherStdout(t *testing.T) {
	stdout, frames := &lockedBuffer{}, &lockedBuffer{}
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	d := newBarsDisplay(stdout, frames, clock, make(chan any))
	d.routeOut = false
	d.update(twoFiles())
	defer d.stop()
	require.NoError(t, d.printLine(stdout, "uploaded  vi1  40.0 MiB  videos/a.mp4\n"))
	assert.Equal(t, "uploaded  vi1  40.0 MiB  videos/a.mp4\n", stdout.String())
	broken := errors.New("broken pipe")
	assert.ErrorIs(t, d.printLine(failWriter{broken}, "x\n"), broken)
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

// sizedTerm is a console of a given size, or that cannot tell its size.
type sizedTerm struct {
	mpb.ConsoleWriter
	w, h int
	err  error
}

func (c sizedTerm) GetTermSize() (int, int, error) { return c.w, c.h, c.err }

// TestSizedConsole: a terminal that gives no size (a pseudo-terminal left
// at 0x0) is drawn on as 80x24, for mpb draws no row on a terminal 0 rows
// high; a real size is kept.
func TestSizedConsole(t *testing.T) {
	tests := []struct {
		name         string
		c            sizedTerm
		wantW, wantH int
	}{
		{"sized", sizedTerm{w: 132, h: 50}, 132, 50},
		{"0x0", sizedTerm{}, 80, 24},
		{"no rows", sizedTerm{w: 100}, 100, 24},
		{"cannot tell", sizedTerm{w: 7, h: 7, err: errors.New("inappropriate ioctl for device")}, 80, 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, h, err := sizedConsole{tt.c}.GetTermSize()
			require.NoError(t, err)
			assert.Equal(t, []int{tt.wantW, tt.wantH}, []int{w, h})
		})
	}
}
