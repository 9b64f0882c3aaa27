package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/avupload/avupload/internal/pipe"
	"github.com/avupload/avupload/wrapper"
	"github.com/avupload/avupload/wrapper/batch"
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
	notes       *notifier // the client's notices, and its count of retries
	bwlimit     int64     // --bwlimit, bytes per second; 0: none
}

func newUploadCommand(a *app) *cobra.Command {
	f := &uploadFlags{batch: batchFlags{getenv: a.getenv}}
	cmd := &cobra.Command{
		Use:   "upload [--token TOKEN] FILE|DIR...|-",
		Short: "Upload videos: a file, standard input, or whole directories",
		Long: `Upload videos of any size in resumable chunks: one file, standard input (-,
a stream of unknown length), or several files and directories (walked
recursively). One file or a thousand go the same way, with the same flags,
output and exit status.

Credentials: the upload token from --token or $` + envToken + ` (which keeps
it out of 'ps' output); with none, the API key from $` + envAPIKey + `
mints tokens of --token-ttl, renewed before they run short and deleted at the
end.

Chunks go --concurrency at most at a time after the first. By default (auto)
` + strconv.Itoa(wrapper.DefaultConcurrency) + ` go at once from a file at first, then one more every 2 seconds while
that sends at least 10% more, up to ` + strconv.Itoa(wrapper.DefaultMaxConcurrency) + `, and one fewer when the server pushes back
(a retry, or a chunk three times slower than the others); ` + strconv.Itoa(wrapper.DefaultStreamConcurrency) + ` from standard
input, where each chunk in flight is held in memory. --concurrency N caps them
at N, starting at ` + strconv.Itoa(wrapper.DefaultConcurrency) + ` or N when lower.
Each has an HTTP/1.1 connection of its own, kept alive for the next chunks:
across a link with latency, parallel connections go faster than chunks
sharing one HTTP/2 connection, whose flow-control window caps them all
together. --http2 multiplexes the chunks over one HTTP/2 connection instead,
when the server offers it. --jobs files are uploaded at once.

Output: for one file, its video id, size, chunks, SHA-256 and player link;
for several, a line per file as it ends and a summary. --json prints one JSON
object per file, one a line, with the same keys for one file or many
(version, path, status, videoId, size, sha256, chunks, resumedBytes,
seconds, error, and video, the API's last answer as received; see the
README). -q prints the video ids alone, one a line. Progress goes to
standard error: bars on a terminal, a plain line every few seconds
elsewhere, nothing with -q.

Resuming one file: with --state-file, every acknowledged chunk is recorded in
that file, with the SHA-256 of the file up to its end. If the upload stops
(Ctrl-C, a lost connection, a killed process), run the same command again,
with a new token if the old one expired: it goes on with the chunks the
server has not acknowledged. A file is read again first, and if an
acknowledged chunk changed, the upload starts over as a new video; standard
input must give the same bytes again, or the upload stops before sending
anything. The saved chunk size is kept. The state file is deleted once the
upload succeeds. A state file that cannot be read, or that is for another
file or server, is left alone unless --restart is given. If the state cannot
be saved, the upload stops unless --ignore-state-errors is given. One run at
a time may use a state file: a second one stops at once, naming the process
that holds it.` + batchHelp + planHelp,
		Example: `  avupload upload --token to1tcmSFHeYY5KzyhOqVKMKb movie.mp4
  avupload upload --token "$TOKEN" --chunk-size 100MiB --concurrency 4 --state-file movie.state movie.mp4
  ffmpeg -i in.mkv -f mp4 -movflags frag_keyframe - | avupload upload --token "$TOKEN" -
  avupload upload --jobs 4 --journal ~/.avupload/nas --include '*.mp4' /mnt/nas/videos
  APIVIDEO_API_KEY=... avupload upload --json movie.mp4 | jq -r .videoId`,
		Args: uploadArgs,
		RunE: runE(func(cmd *cobra.Command, args []string) error { return f.run(cmd, a, args) }),
	}
	f.register(cmd.Flags())
	return cmd
}

// register adds the upload flags to fs. watch takes most of them: see
// newWatchCommand.
func (f *uploadFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.token, "token", "", "the upload `TOKEN` (default $"+envToken+")")
	fs.Var(newAutoSizeFlag(&f.chunkSize), "chunk-size",
		"size of every chunk but the first (5MiB when several chunks go at once) and the last, 5MiB to 128MiB, e.g. 50MiB or 52428800 (MB means MiB), "+
			"or auto (default auto: a file of at most 50MiB in one request, a larger one in a first chunk of 5MiB and equal chunks of at most 50MiB that keep the chunks in flight busy to the end; standard input in 50MiB chunks)")
	fs.Var(newConcurrencyFlag(&f.concurrency), "concurrency", concurrencyUsage)
	fs.Var(newBWLimitFlag(&f.bwlimit), "bwlimit", bwlimitUsage)
	// The usage says the default, for a file and for standard input.
	fs.Lookup("concurrency").DefValue = ""
	fs.Lookup("chunk-size").DefValue = ""
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
}

// run uploads the files, directories or standard input in args: one
// path for one file, a stream or a thousand files, a batch of one or many.
func (f *uploadFlags) run(cmd *cobra.Command, a *app, args []string) error {
	if err := f.check(cmd, args); err != nil {
		return err
	}
	files, planned, err := f.plan(cmd, args)
	if err != nil || planned != nil && (f.batch.plan.dryRun || len(files) == 0) {
		return err
	}
	b := &f.batch
	opts := f.batchOptions()
	token, key, err := f.credentials(cmd, a)
	if err != nil {
		return err
	}
	opts.Token = token
	// The progress display, the client's notices and its log share
	// standard error: the notices and the log go through the display, which
	// prints them above its bars.
	stderr := &syncWriter{w: cmd.ErrOrStderr()}
	out := newBatchOutput(cmd.OutOrStdout(), stderr, &f.output, func(err error) string { return a.redact(describe(err, cmd)) })
	defer out.disp.stop()
	f.server.logw.route(out.disp.writer(stderr))
	c, err := newClient(&f.server, key, f.clientOptions(out.disp.writer(stderr))...)
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	single := len(files) == 1 && b.journal == ""
	if f.stateFile != "" {
		unlock, err := lockState(f.stateFile)
		if err != nil {
			return err
		}
		defer func() { _ = unlock() }()
		opts.Upload.Store = wrapper.NewStateFile(f.stateFile)
		opts.Upload.OnState = func(e wrapper.StateEvent) { f.report(cmd, out.disp.writer(stderr), e) }
	}
	if b.journal != "" {
		j, err := openJournal(b.journal, b.repairJournal, stderr, f.output.quiet, c.BaseURL())
		if err != nil {
			return err
		}
		defer func() { _ = j.Close() }()
		opts.Journal = j
	}

	// A standard output that cannot be written (a reader gone, as with
	// `| head`) stops the upload as an interrupt does: a write to it fails
	// (EPIPE) instead of killing the process with SIGPIPE mid-upload.
	defer ignoreSIGPIPE()()
	ctx, cancel := context.WithCancelCause(cmd.Context())
	defer cancel(nil)
	out.single = single
	out.broken = func(err error) { cancel(&stdoutError{err: err}) }
	opts.OnFile = out.file
	opts.Progress = out.progress
	res, err := batch.Upload(ctx, c, files, opts)
	if res == nil {
		return err
	}
	out.finish(res)
	if single {
		return planFailure(planned, f.singleError(ctx, cmd, out, err))
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return &batchInterrupted{err: ctx.Err(), cause: context.Cause(ctx), res: res, files: len(files), journal: b.journal}
	}
	if errors.Is(err, batch.ErrJournalNotSaved) || errors.Is(err, wrapper.ErrStateNotSaved) {
		return out.stopped(err, res, len(files), b.journal)
	}
	if err == nil && res.Failed > 0 {
		hint := "run the same command again to retry them"
		if b.journal == "" {
			hint = "with --journal DIR, a rerun would retry them alone"
		}
		err = fmt.Errorf("%d of %d files failed; %s", res.Failed, len(files), hint)
		if len(files) == 1 {
			err = out.result.Err // the journal's hints are the batch's
		}
	}
	return planFailure(planned, err)
}

// batchOptions are the batch options the upload flags ask for, without
// the credentials, the journal and the output.
func (f *uploadFlags) batchOptions() *batch.Options {
	opts := &batch.Options{
		Upload: wrapper.UploadOptions{ChunkSize: f.chunkSize, Concurrency: f.concurrency, HTTP2: f.http2, StallTimeout: f.stall,
			VideoID: f.videoID, Restart: f.restart, IgnoreStoreErrors: f.ignoreState},
		Jobs:     f.batch.jobs,
		TokenTTL: f.batch.tokenTTL,
	}
	if f.batch.trustMtime {
		opts.Verify = batch.SkipIfSameStat
	}
	return opts
}

// credentials returns the upload token of --token or $AVUPLOAD_TOKEN or,
// without one, the API key of $APIVIDEO_API_KEY that mints tokens.
func (f *uploadFlags) credentials(cmd *cobra.Command, a *app) (token, key string, err error) {
	token, err = a.uploadToken(f.token)
	if err != nil {
		if key = a.getenv(envAPIKey); key == "" {
			return "", "", usageError{missingCredential{fmt.Sprintf("no upload token: pass --token (or set %s), or set %s to mint one with the API key",
				envToken, envAPIKey)}}
		}
		if key, err = a.apiKey(""); err != nil {
			return "", "", err
		}
	}
	if token != "" && token == strings.TrimSpace(a.getenv(envAPIKey)) {
		return "", "", usagef("the upload token (--token or %s) is the API key ($%s): give an upload token, or leave the token out to mint one with the key", envToken, envAPIKey)
	}
	if token != "" && cmd.Flags().Changed("token-ttl") {
		return "", "", usagef("--token-ttl is the lifetime of the tokens minted with the API key: with an upload token (--token or %s), none is minted; leave one of them out", envToken)
	}
	return token, key, nil
}

// singleError is the error of a batch of one file without a journal: its
// upload's, with a word on how to resume it from --state-file.
func (f *uploadFlags) singleError(ctx context.Context, cmd *cobra.Command, out *batchOutput, err error) error {
	r := out.result
	var lost *stdoutError
	if errors.As(context.Cause(ctx), &lost) && r.Err == nil {
		return fmt.Errorf("video %s is uploaded, but %s: its result is lost", r.VideoID, lost.Error())
	}
	if r.Err != nil {
		return f.retried(cmd, f.failure(cmd, r.Err, r.File.Path, r.Size))
	}
	return err // a token that could not be deleted
}

// retried adds to err, the error of an upload, the retries the client
// made before it gave up, when the server or the network kept failing.
func (f *uploadFlags) retried(cmd *cobra.Command, err error) error {
	var apiErr *wrapper.APIError
	failing := errors.As(err, new(*wrapper.OpError)) ||
		errors.As(err, &apiErr) && (apiErr.StatusCode >= 500 || apiErr.StatusCode == http.StatusTooManyRequests)
	if n := f.notes.retries.Load(); failing && n > 0 {
		return &retriedError{err: err, cmd: cmd, retries: n}
	}
	return err
}

// retriedError is an upload error after retries. Like hintedError, it
// does not unwrap: its text is the one to print.
type retriedError struct {
	err     error
	cmd     *cobra.Command
	retries int64
}

func (e *retriedError) Error() string {
	return fmt.Sprintf("%s (given up after %d retries)", trimPeriod(describe(e.err, e.cmd)), e.retries)
}

// plan lists the files args name: standard input for "-", else the files
// and the files under the directories, as --include, --exclude and
// --shard select them, with the plan they come from. It says on standard
// error what it left out and why, and when no file is left; with
// --dry-run, it prints the plan.
func (f *uploadFlags) plan(cmd *cobra.Command, args []string) ([]batch.File, *batch.PlanResult, error) {
	if len(args) == 1 && args[0] == "-" {
		files, err := f.stdin(cmd)
		return files, nil, err
	}
	b := &f.batch
	if len(args) == 1 && !f.isDir(args[0]) {
		if err := checkSource(args[0]); err != nil {
			return nil, nil, err
		}
	}
	opts := batch.PlanOptions{Include: b.include, Exclude: b.exclude, FollowSymlinks: b.followSymlinks}
	if b.journal != "" {
		opts.Skip = []string{b.journal} // never upload the journal itself
	}
	if b.shard != "" {
		opts.Shard, opts.Shards, _ = parseShard(b.shard)
	}
	planned, err := b.plan.plan(args, opts)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, errors.Unwrap(err) // a file failed, as it does for one file
	}
	if err != nil {
		return nil, nil, err
	}
	if b.plan.dryRun {
		return nil, planned, printPlan(cmd.OutOrStdout(), cmd.ErrOrStderr(), planned, opts, &f.output)
	}
	reportLeftOut(cmd.ErrOrStderr(), planned, f.output.quiet)
	if len(planned.Files) == 0 && !f.output.quiet {
		// Not an error: a shard may be empty, a drop folder idle.
		why := f.noneLeft(args, planned)
		printf(cmd.ErrOrStderr(), "avupload: no file to upload: %s\n", why)
		return nil, planned, planFailure(planned, nil)
	}
	return planned.Files, planned, nil
}

// stdin is the one file standard input makes, refused when it is a
// terminal or empty.
func (f *uploadFlags) stdin(cmd *cobra.Command) ([]batch.File, error) {
	if f.batch.plan.dryRun {
		return nil, usagef("--dry-run plans the files of paths: standard input is one stream, read as it is sent")
	}
	if stdinIsTerminal(cmd.InOrStdin()) {
		return nil, usagef("- reads the video from standard input, which is this terminal: pipe or redirect the video to it (avupload upload - < movie.mp4), or name the file")
	}
	if f, ok := cmd.InOrStdin().(*os.File); ok {
		// The library widens a pipe it is given, but sees this one through
		// the buffered reader below.
		pipe.Widen(f)
	}
	in := bufio.NewReader(cmd.InOrStdin())
	if _, err := in.Peek(1); errors.Is(err, io.EOF) {
		return nil, usagef("standard input is empty: there is nothing to upload")
	}
	return []batch.File{{Path: "-", Size: -1, Source: wrapper.Reader(in, -1)}}, nil
}

// noneLeft says why the plan of args holds no file.
func (f *uploadFlags) noneLeft(args []string, planned *batch.PlanResult) string {
	if len(planned.LeftOut) > 0 {
		return "what the paths hold was left out or skipped, as said above"
	}
	b := &f.batch
	var why []string
	if len(b.include) > 0 {
		why = append(why, "--include "+joinQuoted(b.include, shellWord)+" keeps only the files whose name matches (the name alone, not its directory)")
	}
	if len(b.exclude) > 0 {
		why = append(why, "--exclude "+joinQuoted(b.exclude, shellWord)+" leaves out the files whose name matches")
	}
	if b.shard != "" {
		why = append(why, "--shard "+b.shard+" takes one share of them")
	}
	if len(why) == 0 {
		return joinQuoted(args, quotePath) + " hold no regular file"
	}
	if len(args) == 1 && !f.isDir(args[0]) {
		return quotePath(args[0]) + " is left out: " + strings.Join(why, "; ")
	}
	return "of the regular files under " + joinQuoted(args, quotePath) + ", none is left: " + strings.Join(why, "; ")
}

// joinQuoted is s, each quoted by quote, joined by commas.
func joinQuoted(s []string, quote func(string) string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = quote(v)
	}
	return strings.Join(q, ", ")
}

// shellWord is s as one word for a POSIX shell.
func shellWord(s string) string { return shellQuote(s, false) }

// isDir reports whether path is a directory.
func (f *uploadFlags) isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// lockState takes the --state-file's lock: one run at a time per state
// file, or both would send the file.
func lockState(path string) (unlock func() error, err error) {
	if err := checkStatePath(path); err != nil {
		return nil, err
	}
	unlock, err = wrapper.NewStateFile(path).Lock()
	var locked *wrapper.LockedError
	if errors.As(err, &locked) {
		return nil, usagef("--state-file %s: %s; wait for that run to end, or give another --state-file",
			path, strings.TrimPrefix(locked.Error(), "avupload: "))
	}
	if err != nil {
		return nil, usagef("--state-file %s: %s", path, osReason(err))
	}
	return unlock, nil
}

// checkStall refuses a --stall-timeout that would bound nothing.
func (f *uploadFlags) checkStall() error {
	if f.stall < minStall {
		return usagef("--stall-timeout %s: want %s or more, e.g. 2m: a chunk that shows no progress for that long is abandoned and sent again, and a shorter wait would abandon every chunk before the server can answer",
			f.stall, minStall)
	}
	return nil
}

// minStall is the shortest --stall-timeout: time for a server to take a
// chunk's first bytes and to answer its last.
const minStall = time.Second

// clientOptions are the client options the upload flags ask for: the
// notices on stderr and, when allowed, the token over plain http.
func (f *uploadFlags) clientOptions(stderr io.Writer) []wrapper.Option {
	n := newNotifier(stderr, f.output.quiet, f.stall)
	f.notes = n
	opts := []wrapper.Option{wrapper.WithEvents(n.event), wrapper.WithBandwidthLimit(f.bwlimit)}
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
		if f.chunkSize != 0 && e.ChunkSize != f.chunkSize {
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
func (f *uploadFlags) failure(cmd *cobra.Command, err error, path string, size int64) error {
	ctx := cmd.Context()
	var upErr *wrapper.UploadError
	var state *wrapper.UploadState
	if errors.As(err, &upErr) {
		state = upErr.State
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		e := &interruptedError{stateFile: f.stateFile}
		acked := int64(0)
		if state != nil {
			acked, size = state.AckedBytes(), state.Total
			e.videoID = state.VideoID
			e.saved = f.stateSaved(ctx, state)
		}
		e.done = formatSize(acked)
		if size > 0 {
			e.done += " of " + formatSize(size)
		}
		return e
	}
	source := "the file " + path
	if path == "-" {
		source = "standard input"
	}
	switch {
	case errors.Is(err, wrapper.ErrStateConflict) && errors.As(err, new(*json.SyntaxError)):
		return fmt.Errorf("--state-file %s holds no upload state: it is not the JSON avupload writes there; it is left as it is. "+
			"Give --restart to replace it with a new upload, or another --state-file", f.stateFile)
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
