package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	concurrency int
	videoID     string
	stateFile   string
	stall       time.Duration
	tokenHTTP   bool
	batch       batchFlags
}

func newUploadCommand(a *app) *cobra.Command {
	f := &uploadFlags{}
	cmd := &cobra.Command{
		Use:   "upload --token TOKEN FILE|DIR...|-",
		Short: "Upload a video with an upload token",
		Long: `Upload a video of any size with an upload token, in resumable chunks. The API
key is not needed: the token is the credential. Use - to read the video from
standard input, as a stream of unknown length.

With --state-file, every acknowledged chunk is recorded in that file. If the
upload stops (Ctrl-C, a lost connection, a killed process), run the same
command again: it goes on with the chunks the server has not acknowledged.
The file is deleted once the upload succeeds.

Progress goes to standard error: a bar with rate and ETA on a terminal, a
line every second elsewhere, nothing with --quiet. The result goes to
standard output: the video id, size and SHA-256 of what was sent, or the
video as JSON with --json.

The token may also come from $` + envToken + `, which keeps it out of 'ps' output.` + batchHelp,
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
		"size of every chunk but the last, 5MiB to 128MiB, e.g. 50MiB or 52428800")
	fs.IntVar(&f.concurrency, "concurrency", 1, fmt.Sprintf("`N` chunks in flight at once after the first, 1 to %d", wrapper.MaxConcurrency))
	fs.StringVar(&f.videoID, "video-id", "", "add the chunks to the existing video `ID` instead of a new one")
	fs.StringVar(&f.stateFile, "state-file", "", "record acknowledged chunks in `PATH`, and resume from it")
	fs.DurationVar(&f.stall, "stall-timeout", wrapper.DefaultStallTimeout,
		"abandon and retry a chunk when nothing moves for this `DURATION`, e.g. 30s")
	fs.BoolVar(&f.tokenHTTP, "insecure-allow-token-over-http", false,
		"send the upload token over plain http to a host other than this machine, where anyone on the way can read it")
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
	if f.concurrency < 1 || f.concurrency > wrapper.MaxConcurrency {
		return usagef("--concurrency %d: want 1 to %d", f.concurrency, wrapper.MaxConcurrency)
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
	if err := checkSource(path); err != nil {
		return err
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
		ChunkSize:    f.chunkSize,
		Concurrency:  f.concurrency,
		VideoID:      f.videoID,
		Progress:     prog.update,
		StallTimeout: f.stall,
	}
	if f.stateFile != "" {
		opts.Store = wrapper.NewStateFile(f.stateFile)
	}
	res, err := c.Upload(cmd.Context(), token, src, opts)
	prog.stop()
	if err != nil {
		return f.failure(cmd.Context(), err, prog)
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

// failure turns an upload error into the error the command reports: an
// interruption says how to resume.
func (f *uploadFlags) failure(ctx context.Context, err error, prog *progress) error {
	if ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
		return err
	}
	e := &interruptedError{done: prog.done(), stateFile: f.stateFile}
	var upErr *wrapper.UploadError
	if errors.As(err, &upErr) && upErr.State != nil {
		e.videoID = upErr.State.VideoID
	}
	return e
}

// interruptedError is an upload stopped by a signal.
type interruptedError struct {
	done      string // how much was acknowledged, e.g. "150.0 MiB of 300.0 MiB"
	videoID   string // the video the chunks went to, if any
	stateFile string // where the state was saved, if anywhere
}

func (e *interruptedError) Error() string {
	msg := "upload interrupted after " + e.done
	if e.videoID != "" {
		msg += " (video " + e.videoID + ")"
	}
	if e.stateFile == "" {
		return msg + "; it cannot be resumed without --state-file"
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
