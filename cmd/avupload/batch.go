package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/avupload/avupload/wrapper"
	"github.com/avupload/avupload/wrapper/batch"
)

// batchFlags are the flags of `avupload upload` that only a batch takes.
type batchFlags struct {
	jobs           int
	journal        string
	shard          string
	include        []string
	exclude        []string
	followSymlinks bool
	trustMtime     bool
	repairJournal  bool
	tokenTTL       time.Duration
	plan           planFlags // --include-hidden, --dry-run: plan.go
}

// batchHelp is the part of the upload help about batches.
const batchHelp = `

Several files, or directories (walked recursively, regular files only), make a
batch: --jobs files are uploaded at once, each with --chunk-size,
--concurrency and --http2. A file that fails never stops the others; the exit status is 1
when any failed. With --journal DIR, every completed file is recorded with its
video id and SHA-256, and every file under way keeps its resume state there:
run the same command again after Ctrl-C, a crash or failures, and it skips the
files already uploaded whose content is unchanged (it re-reads them to check,
unless --trust-mtime), resumes the partial ones and retries the failed ones.
--shard K/N takes a fixed 1/N share of the files, by path, so that N machines
given the same arguments upload every file exactly once between them.

A journal records the server each file went to: with another --base-url, it
skips nothing and says so. One run at a time may use a journal; a second one
stops at once, naming the process that holds it. A damaged line in the
journal stops the run, unless --repair-journal drops it (its file is then
uploaded again). If the journal cannot be written, no new file starts and
the files it could not record are listed with their video ids. A journal
directory inside the uploaded tree is never uploaded.

A batch uses the upload token when one is given; with none, it mints its own
tokens with the API key from $` + envAPIKey + ` (--token-ttl long, renewed before
they run short) and deletes them at the end.`

func (b *batchFlags) register(fs *pflag.FlagSet) {
	fs.IntVar(&b.jobs, "jobs", batch.DefaultJobs, fmt.Sprintf("batch: `J` files uploaded at once, 1 to %d", batch.MaxJobs))
	fs.StringVar(&b.journal, "journal", "", "batch: record completed files and resume states in `DIR`, and skip or resume from it")
	fs.StringVar(&b.shard, "shard", "", "batch: upload only share `K/N` of the files (1-based), e.g. 2/8")
	fs.StringArrayVar(&b.include, "include", nil, "batch: upload only files whose name matches `GLOB`, e.g. '*.mp4' (repeatable)")
	fs.StringArrayVar(&b.exclude, "exclude", nil, "batch: skip files whose name matches `GLOB` (repeatable)")
	fs.BoolVar(&b.followSymlinks, "follow-symlinks", false, "batch: follow symbolic links found in directories")
	fs.BoolVar(&b.trustMtime, "trust-mtime", false, "batch: skip a recorded file whose size and modification time are unchanged, without re-reading it")
	fs.BoolVar(&b.repairJournal, "repair-journal", false, "batch: drop the damaged lines of the --journal instead of stopping (their files are uploaded again)")
	fs.DurationVar(&b.tokenTTL, "token-ttl", batch.DefaultTokenTTL, "batch: lifetime of the tokens minted with the API key when no token is given")
	b.plan.register(fs)
}

// batchOnly lists the flags that make a single file a batch of one.
var batchOnly = append([]string{"jobs", "journal", "shard", "include", "exclude", "follow-symlinks", "trust-mtime", "repair-journal", "token-ttl"}, planFlagNames...)

// isBatch reports whether the command line asks for a batch: several
// paths, a directory, or a batch flag.
func isBatch(cmd *cobra.Command, args []string) bool {
	if len(args) > 1 {
		return true
	}
	for _, name := range batchOnly {
		if cmd.Flags().Changed(name) {
			return true
		}
	}
	fi, err := os.Stat(args[0])
	return args[0] != "-" && err == nil && fi.IsDir()
}

// uploadArgs checks the upload command's arguments: at least one, and a
// "-" only alone.
func uploadArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usagef("%s wants a FILE, or - for standard input, got 0 argument(s); or files and directories for a batch", cmd.CommandPath())
	}
	if len(args) > 1 {
		for _, a := range args {
			if a == "-" {
				return usagef("- (standard input) cannot be mixed with other paths")
			}
		}
	}
	return nil
}

// runBatch uploads the files and directories in args as one batch.
func (f *uploadFlags) runBatch(cmd *cobra.Command, a *app, args []string) error {
	b := &f.batch
	switch {
	case len(args) == 1 && args[0] == "-":
		return usagef("standard input is one stream: the batch flags do not apply to -")
	case f.videoID != "":
		return usagef("--video-id adds to one video: it cannot be used with several files or a directory")
	case f.stateFile != "":
		return usagef("--state-file holds one upload: use --journal DIR for several files or a directory")
	case f.restart || f.ignoreState:
		return usagef("--restart and --ignore-state-errors go with --state-file, for one upload")
	case f.chunkSize < wrapper.MinChunkSize || f.chunkSize > wrapper.MaxChunkSize:
		return checkSizeRange("chunk-size", cmd.Flag("chunk-size").Value.String(), f.chunkSize, wrapper.MinChunkSize, wrapper.MaxChunkSize)
	case f.stall <= 0:
		return f.checkStall()
	case b.jobs < 1 || b.jobs > batch.MaxJobs:
		return usagef("--jobs %d: want 1 to %d", b.jobs, batch.MaxJobs)
	case b.tokenTTL < batch.MinTokenTTL || b.tokenTTL%time.Second != 0:
		return usagef("--token-ttl %s: want whole seconds, at least %s", b.tokenTTL, batch.MinTokenTTL)
	case b.repairJournal && b.journal == "":
		return usagef("--repair-journal repairs the --journal DIR: give one")
	}
	plan := batch.PlanOptions{Include: b.include, Exclude: b.exclude, FollowSymlinks: b.followSymlinks}
	if b.journal != "" {
		plan.Skip = []string{b.journal} // never upload the journal itself
	}
	if b.shard != "" {
		k, n, ok := parseShard(b.shard)
		if !ok {
			return usagef("--shard %q: want K/N with 1 <= K <= N, e.g. 2/8", b.shard)
		}
		plan.Shard, plan.Shards = k, n
	}
	planned, err := b.plan.plan(args, plan)
	if err != nil {
		return err
	}
	if b.plan.dryRun {
		return printPlan(cmd.OutOrStdout(), cmd.ErrOrStderr(), planned, plan, &f.output)
	}
	files := planned.Files
	opts := &batch.Options{
		Upload:   wrapper.UploadOptions{ChunkSize: f.chunkSize, Concurrency: f.concurrency, HTTP2: f.http2, StallTimeout: f.stall},
		Jobs:     b.jobs,
		TokenTTL: b.tokenTTL,
	}
	if b.trustMtime {
		opts.Verify = batch.SkipIfSameStat
	}
	key := ""
	token, err := a.uploadToken(f.token)
	if err != nil {
		if key = a.getenv(envAPIKey); key == "" {
			return usageError{missingCredential{fmt.Sprintf("no upload token: pass --token (or set %s), or set %s for the batch to mint its own",
				envToken, envAPIKey)}}
		}
		a.secret(key)
	}
	opts.Token = token
	// The status line and the client's notices share standard error.
	stderr := &syncWriter{w: cmd.ErrOrStderr()}
	c, err := newClient(&f.server, key, f.clientOptions(stderr)...)
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	reportLeftOut(stderr, planned, f.output.quiet)
	if len(files) == 0 {
		// Not an error: a shard may be empty, a drop folder idle.
		if !f.output.quiet {
			printf(cmd.ErrOrStderr(), "avupload: no file to upload: %s\n", nothingToUpload(planned))
		}
		return planFailure(planned, nil)
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
	// `| head`) stops the batch as an interrupt does: a write to it fails
	// (EPIPE) instead of killing the process with SIGPIPE mid-upload.
	defer ignoreSIGPIPE()()
	ctx, cancel := context.WithCancelCause(cmd.Context())
	defer cancel(nil)
	out := newBatchOutput(cmd.OutOrStdout(), stderr, &f.output, func(err error) string { return a.redact(describe(err, cmd)) })
	out.broken = func(err error) { cancel(&stdoutError{err: err}) }
	opts.OnFile = out.file
	opts.Progress = out.progress
	res, err := batch.Upload(ctx, c, files, opts)
	if res == nil {
		return err
	}
	out.finish(res)
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return &batchInterrupted{err: ctx.Err(), cause: context.Cause(ctx), res: res, files: len(files), journal: b.journal}
	}
	if errors.Is(err, batch.ErrJournalNotSaved) || errors.Is(err, wrapper.ErrStateNotSaved) {
		return out.stopped(err, res, len(files), b.journal)
	}
	if err != nil {
		return err
	}
	if res.Failed > 0 {
		hint := "run the same command again to retry them"
		if b.journal == "" {
			hint = "with --journal DIR, a rerun would retry them alone"
		}
		return planFailure(planned, fmt.Errorf("%d of %d files failed; %s", res.Failed, len(files), hint))
	}
	return planFailure(planned, nil)
}

// parseShard reads --shard's K/N (1 <= K <= N), written in digits alone.
func parseShard(s string) (k, n int, ok bool) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		_, err1 := fmt.Sscanf(a, "%d", &k)
		_, err2 := fmt.Sscanf(b, "%d", &n)
		ok = err1 == nil && err2 == nil && fmt.Sprintf("%d/%d", k, n) == s
	}
	if !ok || n < 1 || k < 1 || k > n {
		return 0, 0, false
	}
	return k, n, true
}

// openJournal opens the --journal, in the user's words when it cannot,
// and says what --repair-journal dropped and whether the journal knows the
// server at base.
func openJournal(dir string, repair bool, stderr io.Writer, quiet bool, base string) (*batch.Journal, error) {
	j, err := batch.OpenJournalWith(dir, batch.JournalOptions{Repair: repair})
	var (
		locked  *wrapper.LockedError
		damaged *batch.JournalLineError
	)
	switch {
	case errors.As(err, &locked):
		return nil, usagef("--journal %s: %s; wait for that run to end, or give another --journal", dir, strings.TrimPrefix(locked.Error(), "avupload: "))
	case errors.As(err, &damaged):
		return nil, usagef("--journal %s: %s; run again with --repair-journal to drop the damaged lines (their files are then uploaded again)",
			dir, strings.TrimPrefix(damaged.Error(), "avupload: "))
	case err != nil:
		return nil, usageError{fmt.Errorf("--journal %s: %w", dir, err)}
	}
	if n := j.Dropped(); n > 0 {
		printf(stderr, "avupload: --repair-journal dropped %d damaged line(s) from %s; their files are uploaded again\n", n, filepath.Join(dir, "done.jsonl"))
	}
	if servers := j.Servers(); len(servers) > 0 && !slices.Contains(servers, base) && !quiet {
		printf(stderr, "avupload: the journal %s knows nothing of %s (it records files uploaded to %s): every file is uploaded there\n",
			dir, escapeText(base), escapeText(strings.Join(servers, ", ")))
	}
	return j, nil
}

// stdoutError is why a batch stopped when its standard output could not
// be written.
type stdoutError struct{ err error }

func (e *stdoutError) Error() string {
	if errors.Is(e.err, syscall.EPIPE) {
		return "standard output was closed (broken pipe)"
	}
	return "standard output could not be written: " + osReason(e.err)
}

func (e *stdoutError) Unwrap() error { return e.err }

// batchInterrupted is a batch stopped by a signal, or by a standard output
// it could not write.
type batchInterrupted struct {
	err     error
	cause   error // the context's cause: a *stdoutError, or the signal's cancellation
	res     *batch.Result
	files   int
	journal string
}

func (e *batchInterrupted) Error() string {
	done := e.res.Uploaded + e.res.Skipped
	msg := fmt.Sprintf("batch interrupted with %d of %d files uploaded", done, e.files)
	var out *stdoutError
	if errors.As(e.cause, &out) {
		msg = fmt.Sprintf("%s: batch stopped with %d of %d files uploaded", out.Error(), done, e.files)
	}
	if e.journal == "" {
		return msg + "; without --journal, a rerun uploads every file again"
	}
	return msg + "; the journal " + e.journal + " holds every state: run the same command again to resume"
}

func (e *batchInterrupted) Unwrap() error { return e.err }

// baseName is the last element of a path, whatever its separators.
func baseName(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 && i < len(p)-1 {
		return p[i+1:]
	}
	return p
}

// quotePath returns p as it is, or quoted with Go escapes when it holds
// anything that is not a printable character or holds a space at an end,
// so that a file name cannot draw on the terminal.
func quotePath(p string) string {
	q := strconv.Quote(p)
	if q[1:len(q)-1] == strings.ReplaceAll(p, `\`, `\\`) && strings.TrimSpace(p) == p {
		return p
	}
	return q
}
