package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/avupload/avupload/wrapper"
)

// uploadFlags are the flags of `avupload upload`.
type uploadFlags struct {
	server      serverFlags
	output      outputFlags
	token       string
	chunkSize   int64
	concurrency int // 0: the library's default (--concurrency auto)
	http2       bool
	videoID     string
	stateFile   string
	stall       time.Duration
	tokenHTTP   bool
	batch       batchFlags
	restart     bool
	ignoreState bool
}

func newUploadCommand(a *app) *cobra.Command {
	f := &uploadFlags{}
	cmd := &cobra.Command{
		Use:   "upload --token TOKEN FILE|DIR...|-",
		Short: "Upload a video with an upload token",
		Long: `Upload a video of any size with an upload token, in resumable chunks. The API
key is not needed: the token is the credential. Use - to read the video from
standard input, as a stream of unknown length.

With --state-file, every acknowledged chunk is recorded in that file, with
the SHA-256 of the file up to its end. If the upload stops (Ctrl-C, a lost connection, a
killed process), run the same command again, with a new token if the old one
expired: it goes on with the chunks the server has not acknowledged. A file
is read again first, and if an acknowledged chunk changed, the upload starts
over as a new video; standard input must give the same bytes again, or the
upload stops before sending anything. The saved chunk size is kept. The
state file is deleted once the upload succeeds. A state file that cannot be
read, or that is for another file or server, is left alone unless --restart
is given. If the state cannot be saved, the upload stops unless
--ignore-state-errors is given. One run at a time may use a state file: a
second one stops at once, naming the process that holds it.

Chunks go --concurrency at a time after the first: by default ` + strconv.Itoa(wrapper.DefaultConcurrency) + ` from a file
and ` + strconv.Itoa(wrapper.DefaultStreamConcurrency) + ` from standard input, where each chunk in flight is held in memory.
Each has an HTTP/1.1 connection of its own, kept alive for the next chunks:
across a link with latency, parallel connections go faster than chunks
sharing one HTTP/2 connection, whose flow-control window caps them all
together. --http2 multiplexes the chunks over one HTTP/2 connection instead,
when the server offers it.

Progress goes to standard error: a bar with rate and ETA on a terminal, a
line every second elsewhere, nothing with --quiet. The result goes to
standard output: the video id, size and SHA-256 of what was sent, or the
video as JSON with --json.

The token may also come from $` + envToken + `, which keeps it out of 'ps' output.` + batchHelp + planHelp,
		Example: `  avupload upload --token to1tcmSFHeYY5KzyhOqVKMKb movie.mp4
  avupload upload --token "$TOKEN" --chunk-size 100MiB --concurrency 4 --state-file movie.state movie.mp4
  ffmpeg -i in.mkv -f mp4 -movflags frag_keyframe - | avupload upload --token "$TOKEN" -
  avupload upload --jobs 4 --journal ~/.avupload/nas --include '*.mp4' /mnt/nas/videos`,
		Args: uploadArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if isBatch(cmd, args) {
				return f.runBatch(cmd, a, args)
			}
			return f.run(cmd, a, args[0])
		}),
	}
	fs := cmd.Flags()
	fs.StringVar(&f.token, "token", "", "the upload `TOKEN` (default $"+envToken+")")
	fs.Var(newSizeFlag(&f.chunkSize, wrapper.DefaultChunkSize, "50MiB"), "chunk-size",
		"size of every chunk but the first (5MiB when several chunks go at once) and the last, 5MiB to 128MiB, e.g. 50MiB or 52428800")
	fs.Var(newConcurrencyFlag(&f.concurrency), "concurrency", concurrencyUsage)
	// The usage says the default, for a file and for standard input.
	fs.Lookup("concurrency").DefValue = ""
	fs.BoolVar(&f.http2, "http2", false,
		"multiplex chunks over one HTTP/2 connection when the server offers it; by default each chunk in flight has its own HTTP/1.1 connection")
	fs.StringVar(&f.videoID, "video-id", "", "add the chunks to the existing video `ID` instead of a new one; refused, overwriting nothing, where it holds bytes this upload did not send")
	fs.StringVar(&f.stateFile, "state-file", "", "record acknowledged chunks in `PATH`, and resume from it")
	fs.DurationVar(&f.stall, "stall-timeout", wrapper.DefaultStallTimeout,
		"abandon and retry a chunk when nothing moves for this `DURATION`, e.g. 30s")
	fs.BoolVar(&f.tokenHTTP, "insecure-allow-token-over-http", false,
		"send the upload token over plain http to a host other than this machine, where anyone on the way can read it")
	fs.BoolVar(&f.restart, "restart", false, "with --state-file: ignore the saved upload and start a new video")
	fs.BoolVar(&f.ignoreState, "ignore-state-errors", false, "with --state-file: go on when the state cannot be saved")
	f.batch.register(fs)
	f.server.register(fs)
	f.output.register(fs, "print nothing but errors")
	return cmd
}

// run uploads the file at path, or standard input for "-".
func (f *uploadFlags) run(cmd *cobra.Command, a *app, path string) error {
	if err := checkSizeRange("chunk-size", cmd.Flag("chunk-size").Value.String(), f.chunkSize, wrapper.MinChunkSize, wrapper.MaxChunkSize); err != nil {
		return err
	}
	if err := f.checkStall(); err != nil {
		return err
	}
	token, err := a.uploadToken(f.token)
	if err != nil {
		return err
	}
	// The progress display and the client's notices share standard error.
	stderr := &syncWriter{w: cmd.ErrOrStderr()}
	c, err := newClient(&f.server, "", f.clientOptions(stderr)...)
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	if err := checkSource(path); err != nil {
		return err
	}
	if f.stateFile == "" && (f.restart || f.ignoreState) {
		return usagef("--restart and --ignore-state-errors need --state-file")
	}
	if f.stateFile != "" {
		if err := checkStatePath(f.stateFile); err != nil {
			return err
		}
		// One run at a time per state file: two would both send the file.
		unlock, err := wrapper.NewStateFile(f.stateFile).Lock()
		var locked *wrapper.LockedError
		if errors.As(err, &locked) {
			return usagef("--state-file %s: %s; wait for that run to end, or give another --state-file",
				f.stateFile, strings.TrimPrefix(locked.Error(), "avupload: "))
		}
		if err != nil {
			return usagef("--state-file %s: %s", f.stateFile, osReason(err))
		}
		defer func() { _ = unlock() }()
	}

	src := wrapper.File(path)
	if path == "-" {
		in := bufio.NewReader(cmd.InOrStdin())
		if _, err := in.Peek(1); errors.Is(err, io.EOF) {
			return usagef("standard input is empty: there is nothing to upload")
		}
		src = wrapper.Reader(in, -1)
	}
	prog := newProgress(stderr, f.output.quiet)
	opts := &wrapper.UploadOptions{
		ChunkSize:         f.chunkSize,
		Concurrency:       f.concurrency,
		HTTP2:             f.http2,
		VideoID:           f.videoID,
		Progress:          prog.update,
		StallTimeout:      f.stall,
		Restart:           f.restart,
		IgnoreStoreErrors: f.ignoreState,
		OnState:           func(e wrapper.StateEvent) { f.report(cmd, stderr, e) },
	}
	if f.stateFile != "" {
		opts.Store = wrapper.NewStateFile(f.stateFile)
	}
	res, err := c.Upload(cmd.Context(), token, src, opts)
	prog.stop()
	if err != nil {
		return f.failure(cmd, err, prog, path)
	}

	w := cmd.OutOrStdout()
	switch {
	case f.output.json:
		raw := res.Video.RawJSON()
		if raw == nil { // every chunk was sent by an earlier run: no answer to print
			raw, _ = json.Marshal(map[string]string{"videoId": res.Video.VideoID})
		}
		return writeRaw(w, raw)
	case f.output.quiet:
		return nil
	default:
		return writeResult(w, res)
	}
}

// checkStall refuses a --stall-timeout that would bound nothing.
func (f *uploadFlags) checkStall() error {
	if f.stall <= 0 {
		return usagef("--stall-timeout %s: want a positive duration, e.g. 2m", f.stall)
	}
	return nil
}

// clientOptions are the client options the upload flags ask for: the
// notices on stderr and, when allowed, the token over plain http.
func (f *uploadFlags) clientOptions(stderr io.Writer) []wrapper.Option {
	n := newNotifier(stderr, f.output.quiet, f.stall)
	opts := []wrapper.Option{wrapper.WithEvents(n.event)}
	if f.tokenHTTP {
		opts = append(opts, wrapper.WithInsecureUploadTokenOverHTTP())
	}
	return opts
}

// checkStatePath makes sure a --state-file can be written before anything
// is sent: it must not be a directory, and its directory must take a new
// file (which is how the state is saved, atomically).
func checkStatePath(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return usagef("--state-file %s is a directory; give the path of a file", path)
	case err == nil && !fi.Mode().IsRegular():
		return usagef("--state-file %s is not a regular file", path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return usagef("--state-file %s: %s", path, osReason(err))
	}
	dir := filepath.Dir(path)
	probe, err := os.CreateTemp(dir, ".avupload-check-*")
	if err != nil {
		return usagef("--state-file %s cannot be written: directory %s: %s", path, dir, osReason(err))
	}
	_ = probe.Close()
	_ = os.Remove(probe.Name())
	return nil
}

// osReason says why a file operation failed, without the operation and path.
func osReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch {
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, fs.ErrNotExist):
		return "it does not exist"
	}
	return err.Error()
}

// report tells the user, on standard error, what the upload did with the
// state file.
func (f *uploadFlags) report(cmd *cobra.Command, w io.Writer, e wrapper.StateEvent) {
	switch e.Kind {
	case wrapper.StateResumed:
		if f.output.quiet {
			return
		}
		msg := fmt.Sprintf("avupload: resuming video %s from %s: %d chunks already acknowledged", e.VideoID, f.stateFile, e.Acked)
		if e.ChunkSize != f.chunkSize {
			msg += fmt.Sprintf("; its chunks are %s as saved, not the %s of --chunk-size (--restart starts over with those)",
				formatSize(e.ChunkSize), formatSize(f.chunkSize))
		}
		fmt.Fprintln(w, msg)
	case wrapper.StateStartedOver:
		fmt.Fprintf(w, "avupload: not resuming video %s from %s: %s; starting over as a new video\n",
			e.VideoID, f.stateFile, trimPeriod(describe(e.Err, cmd)))
	case wrapper.StateSaveFailed:
		msg := fmt.Sprintf("avupload: could not save the upload state in %s: %s", f.stateFile, trimPeriod(describe(e.Err, cmd)))
		if f.ignoreState {
			msg += "; going on without it (--ignore-state-errors)"
		}
		fmt.Fprintln(w, msg)
	}
}

func trimPeriod(s string) string { return strings.TrimSuffix(s, ".") }

// failure turns an upload error into the error the command reports: it
// says whether and how the upload can be resumed.
func (f *uploadFlags) failure(cmd *cobra.Command, err error, prog *progress, path string) error {
	ctx := cmd.Context()
	var upErr *wrapper.UploadError
	var state *wrapper.UploadState
	if errors.As(err, &upErr) {
		state = upErr.State
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		e := &interruptedError{done: prog.done(), stateFile: f.stateFile}
		if state != nil {
			e.videoID = state.VideoID
			e.saved = f.stateSaved(ctx, state)
		}
		return e
	}
	source := "the file " + path
	if path == "-" {
		source = "standard input"
	}
	switch {
	case errors.Is(err, wrapper.ErrStateConflict):
		return &hintedError{err: err, cmd: cmd, hint: fmt.Sprintf("the state file %s is not for this upload; it is left as it is. "+
			"Give --restart to discard it and start a new video, or another --state-file", f.stateFile)}
	case errors.Is(err, wrapper.ErrSourceChanged) && state != nil && state.VideoID != "" && f.stateFile != "" && path == "-":
		return &hintedError{err: err, cmd: cmd, hint: fmt.Sprintf("%s is not the stream saved in %s, which is left as it is. "+
			"Give the same bytes again to resume, or --restart to start a new video", source, f.stateFile)}
	case state == nil || len(state.Acked) == 0:
		return err // nothing acknowledged: nothing to resume
	case f.stateFile == "":
		return &hintedError{err: err, cmd: cmd, hint: fmt.Sprintf("video %s holds %d chunks, but without --state-file this upload cannot be resumed; "+
			"with --state-file, running the same command again would have gone on from there", state.VideoID, len(state.Acked))}
	case errors.Is(err, wrapper.ErrStateNotSaved):
		return &hintedError{err: err, cmd: cmd, hint: fmt.Sprintf("the upload stopped so as not to send chunks it could not resume. "+
			"Make %s writable and run the same command again, or add --ignore-state-errors to go on without it", f.stateFile)}
	case f.stateSaved(ctx, state):
		return &hintedError{err: err, cmd: cmd, hint: fmt.Sprintf("the state is saved in %s: run the same command again to resume", f.stateFile)}
	default:
		return &hintedError{err: err, cmd: cmd, hint: fmt.Sprintf("the state could not be saved in %s, so this upload cannot be resumed", f.stateFile)}
	}
}

// stateSaved reports whether the state file holds the state the upload
// stopped with.
func (f *uploadFlags) stateSaved(ctx context.Context, state *wrapper.UploadState) bool {
	if f.stateFile == "" {
		return false
	}
	saved, err := wrapper.NewStateFile(f.stateFile).Load(context.WithoutCancel(ctx), "")
	return err == nil && saved != nil && saved.VideoID == state.VideoID && len(saved.Acked) == len(state.Acked)
}

// hintedError is an upload failure with a word on how to go on.
type hintedError struct {
	err  error
	cmd  *cobra.Command
	hint string
}

func (e *hintedError) Error() string { return trimPeriod(describe(e.err, e.cmd)) + "; " + e.hint }

// interruptedError is an upload stopped by a signal.
type interruptedError struct {
	done      string // how much was acknowledged, e.g. "150.0 MiB of 300.0 MiB"
	videoID   string // the video the chunks went to, if any
	stateFile string // the --state-file, if any
	saved     bool   // the state file holds the state the upload stopped with
}

func (e *interruptedError) Error() string {
	msg := "upload interrupted after " + e.done
	if e.videoID != "" {
		msg += " (video " + e.videoID + ")"
	}
	switch {
	case e.stateFile == "":
		return msg + "; it cannot be resumed without --state-file"
	case e.videoID == "":
		return msg + "; no chunk was acknowledged, so there is nothing to resume"
	case !e.saved:
		return msg + "; the state could not be saved in " + e.stateFile + ", so it cannot be resumed"
	}
	return msg + "; state saved in " + e.stateFile + ": run the same command again to resume"
}

// writeResult prints a finished upload for a person.
func writeResult(w io.Writer, res *wrapper.UploadResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "video id\t%s\n", escapeText(res.Video.VideoID))
	fmt.Fprintf(tw, "size\t%s (%d bytes)\n", formatSize(res.Size), res.Size)
	chunks := fmt.Sprint(res.Chunks)
	if res.ResumedChunks > 0 {
		chunks += fmt.Sprintf(" (%d sent by an earlier run)", res.ResumedChunks)
	}
	fmt.Fprintf(tw, "chunks\t%s\n", chunks)
	fmt.Fprintf(tw, "sha256\t%s\n", res.SHA256)
	if res.Video.Assets.Player != "" {
		fmt.Fprintf(tw, "player\t%s\n", escapeText(res.Video.Assets.Player))
	}
	return tw.Flush()
}
