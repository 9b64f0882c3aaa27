package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/avupload/avupload/wrapper/batch"
)

// jsonVersion is the version of the format upload --json prints. It
// changes only when a key changes meaning or goes away; new keys may come
// within a version.
const jsonVersion = 1

// fileJSON is one file's outcome as upload --json prints it, one object a
// line, the same keys for one file or many (see README, "upload --json").
// A path that is not valid UTF-8, which JSON cannot hold (path then holds
// U+FFFD in place of each invalid byte), is also given byte for byte,
// base64-encoded, as pathBytes, the one key that is not always there.
type fileJSON struct {
	Version      int             `json:"version"`
	Path         string          `json:"path"`
	PathBytes    []byte          `json:"pathBytes,omitempty"`
	Status       string          `json:"status"`
	VideoID      string          `json:"videoId"`
	Size         int64           `json:"size"`
	SHA256       string          `json:"sha256"`
	Chunks       int             `json:"chunks"`
	ResumedBytes int64           `json:"resumedBytes"`
	Seconds      float64         `json:"seconds"`
	Error        string          `json:"error"`
	Video        json.RawMessage `json:"video"`
}

// statusInterrupted is the status --json gives a file stopped by an
// interrupt, which the library counts as failed.
const statusInterrupted = "interrupted"

// newFileJSON is r as --json prints it, its error described by msg.
func newFileJSON(r batch.FileResult, msg string) fileJSON {
	j := fileJSON{Version: jsonVersion, Path: r.File.Path, Status: string(r.Status), VideoID: r.VideoID, Size: r.Size,
		SHA256: r.SHA256, Seconds: r.Duration.Round(time.Millisecond).Seconds(), Error: msg, Video: json.RawMessage("null")}
	if r.Status == batch.FileFailed && errors.Is(r.Err, context.Canceled) {
		j.Status = statusInterrupted
	}
	if !utf8.ValidString(r.File.Path) {
		j.PathBytes = []byte(r.File.Path)
	}
	if u := r.Upload; u != nil {
		j.Chunks, j.ResumedBytes = u.Chunks, u.ResumedBytes
		if raw := u.Video.RawJSON(); json.Valid(raw) {
			j.Video = raw
		}
	}
	return j
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
	single   bool               // one file: its result in detail, no summary, its failure the command's error
	result   batch.FileResult   // the last file's result
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
	o.result = r
	if r.Status == batch.FileUnrecorded {
		o.unrec = append(o.unrec, r)
	}
	switch {
	case o.json:
		o.write("%s", escapeJSON(marshalJSON(newFileJSON(r, msg))))
	case o.quiet:
		if r.VideoID != "" && r.Status != batch.FileFailed {
			o.write("%s\n", escapeText(r.VideoID))
		}
	case o.single && r.Status == batch.FileFailed:
		// The command's error says it, with how to resume.
	case o.single:
		o.write("%s", resultText(r))
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

// finish ends the progress display and prints the summary: on stdout for
// a person, on stderr with --json so that stdout holds only file objects.
func (o *batchOutput) finish(res *batch.Result) {
	o.disp.stop()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.quiet || o.single {
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

// resultText is one file's result in detail, for a person: what a single
// upload prints.
func resultText(r batch.FileResult) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "video id\t%s\n", escapeText(r.VideoID))
	if r.Status != batch.FileUploaded {
		fmt.Fprintf(tw, "status\t%s\n", r.Status)
	}
	fmt.Fprintf(tw, "size\t%s (%d bytes)\n", formatSize(r.Size), r.Size)
	if u := r.Upload; u != nil {
		chunks := fmt.Sprint(u.Chunks)
		if u.ResumedChunks > 0 {
			chunks += fmt.Sprintf(" (%d sent by an earlier run)", u.ResumedChunks)
		}
		fmt.Fprintf(tw, "chunks\t%s\n", chunks)
	}
	fmt.Fprintf(tw, "sha256\t%s\n", r.SHA256)
	if u := r.Upload; u != nil && u.Video.Assets.Player != "" {
		fmt.Fprintf(tw, "player\t%s\n", escapeText(u.Video.Assets.Player))
	}
	_ = tw.Flush()
	return b.String()
}

// marshalJSON is v as one line of JSON, ended by a newline, with <, > and
// & as they are: the API's answers keep their own text.
func marshalJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // fileJSON always encodes
	return b.Bytes()
}
