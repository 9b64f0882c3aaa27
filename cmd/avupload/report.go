package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/avupload/avupload/wrapper/batch"
)

// fileJSON is one file's outcome as --json prints it, one object a line.
// A path that is not valid UTF-8, which JSON cannot hold (path then holds
// U+FFFD in place of each invalid byte), is also given byte for byte,
// base64-encoded, as pathBytes.
type fileJSON struct {
	Path      string  `json:"path"`
	PathBytes []byte  `json:"pathBytes,omitempty"`
	Status    string  `json:"status"`
	VideoID   string  `json:"videoId,omitempty"`
	Size      int64   `json:"size"`
	SHA256    string  `json:"sha256,omitempty"`
	Seconds   float64 `json:"seconds"`
	Error     string  `json:"error,omitempty"`
}

// batchOutput prints a batch as it goes: a line per file on stdout (JSON
// with --json), failures on stderr, the progress display (bars on a
// terminal's stderr, a plain line every plainInterval elsewhere), and a
// summary at the end.
type batchOutput struct {
	mu       sync.Mutex
	out      io.Writer
	errw     io.Writer
	broken   func(error)        // told once when out cannot be written
	failed   bool               // out could not be written: nothing more goes there
	unrec    []batch.FileResult // the files uploaded but not recorded
	json     bool
	quiet    bool
	describe func(error) string // one redacted line for a file's error
	disp     *display
}

func newBatchOutput(out, errw io.Writer, o *outputFlags, describe func(error) string) *batchOutput {
	return &batchOutput{out: out, errw: errw, json: o.json, quiet: o.quiet,
		describe: describe, disp: newDisplay(out, errw, o.quiet, os.Getenv)}
}

// file prints one file's outcome.
func (o *batchOutput) file(r batch.FileResult) {
	o.mu.Lock()
	defer o.mu.Unlock()
	msg := ""
	if r.Err != nil {
		msg = o.describe(r.Err)
	}
	if r.Status == batch.FileUnrecorded {
		o.unrec = append(o.unrec, r)
	}
	switch {
	case o.json:
		j := fileJSON{Path: r.File.Path, Status: string(r.Status), VideoID: r.VideoID, Size: r.Size,
			SHA256: r.SHA256, Seconds: r.Duration.Round(time.Millisecond).Seconds(), Error: msg}
		if !utf8.ValidString(r.File.Path) {
			j.PathBytes = []byte(r.File.Path)
		}
		line, _ := json.Marshal(j)
		o.write("%s\n", escapeJSON(line))
	case o.quiet:
	case r.Status == batch.FileFailed:
		_ = o.disp.printLine(o.errw, fmt.Sprintf("failed    %s: %s\n", quotePath(r.File.Path), msg))
	case r.Status == batch.FileUnrecorded:
		_ = o.disp.printLine(o.errw, fmt.Sprintf("unrecorded %s  %s  %s: %s\n", escapeText(r.VideoID), formatSize(r.Size), quotePath(r.File.Path), msg))
	default:
		o.write("%-9s %s  %s  %s\n", r.Status, escapeText(r.VideoID), formatSize(r.Size), quotePath(r.File.Path))
	}
}

// write prints to standard output; the first write that fails is told to
// broken, and nothing more is written there.
func (o *batchOutput) write(format string, args ...any) {
	if o.failed {
		return
	}
	if err := o.disp.printLine(o.out, fmt.Sprintf(format, args...)); err != nil {
		o.failed = true
		if o.broken != nil {
			o.broken(err)
		}
	}
}

// stopped lists, on standard error, the files the journal could not
// record, and returns the error of a batch that stopped because its
// journal could not be written.
func (o *batchOutput) stopped(err error, res *batch.Result, files int, journal string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	again := 0
	if len(o.unrec) > 0 {
		printf(o.errw, "avupload: these files are uploaded, but the journal %s does not record them:\n", journal)
		for _, r := range o.unrec {
			what := "a rerun uploads it again"
			if r.Resumable {
				what = "its state is kept: a rerun completes it without sending it again"
			} else {
				again++
			}
			printf(o.errw, "  %s  %s  (%s)\n", escapeText(r.VideoID), quotePath(r.File.Path), what)
		}
	}
	counts := fmt.Sprintf("%d uploaded, %d failed, %d not started", res.Uploaded, res.Failed, res.NotStarted)
	if res.Unrecorded > 0 {
		counts = fmt.Sprintf("%d uploaded, %d unrecorded, %d failed, %d not started", res.Uploaded, res.Unrecorded, res.Failed, res.NotStarted)
	}
	hint := fmt.Sprintf("make %s writable (free its disk) and run the same command again: it resumes from the saved states and goes on with the rest", journal)
	if again > 0 {
		hint += fmt.Sprintf("; it would upload a second time the %d file(s) marked 'a rerun uploads it again' above: leave them out of the command, or delete their videos first", again)
	}
	return fmt.Errorf("%w (of %d files: %s); %s", err, files, counts, hint)
}

// progress is the batch's Progress function.
func (o *batchOutput) progress(p batch.Progress) { o.disp.update(p) }

// done describes how much the API acknowledged: "150.0 MiB of 300.0 MiB".
func (o *batchOutput) done() string { return o.disp.done() }

// finish ends the progress display and prints the summary: on stdout for
// a person, on stderr with --json so that stdout holds only file objects.
func (o *batchOutput) finish(res *batch.Result) {
	o.disp.stop()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.quiet {
		return
	}
	s := fmt.Sprintf("%d uploaded, %d skipped, %d failed", res.Uploaded, res.Skipped, res.Failed)
	if res.Unrecorded > 0 {
		s += fmt.Sprintf(", %d unrecorded", res.Unrecorded)
	}
	if res.Interrupted > 0 {
		s += fmt.Sprintf(", %d interrupted", res.Interrupted)
	}
	if res.NotStarted > 0 {
		s += fmt.Sprintf(", %d not started", res.NotStarted)
	}
	secs := res.Duration.Seconds()
	s += fmt.Sprintf("; %s sent in %s", formatSize(res.BytesSent), res.Duration.Round(time.Millisecond))
	if secs > 0 && res.BytesSent > 0 {
		s += fmt.Sprintf(" (%s/s)", formatSize(int64(float64(res.BytesSent)/secs)))
	}
	if o.json {
		printf(o.errw, "%s\n", s)
		return
	}
	o.write("%s\n", s)
}
