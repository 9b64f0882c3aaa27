package main

import (
	"errors"
	"fmt"
	"io"
	"path"
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
	plan           planFlags           // --include-hidden, --dry-run: plan.go
	getenv         func(string) string // the environment --shard auto reads
}

// batchHelp is the part of the upload help about batches.
const batchHelp = `

Resuming many files: with --journal DIR, every completed file is recorded
with its video id and SHA-256, and every file under way keeps its resume
state there: run the same command again after Ctrl-C, a crash or failures,
and it skips the files already uploaded whose content is unchanged (it
re-reads them to check, unless --trust-mtime), resumes the partial ones and
retries the failed ones. A file that fails never stops the others; the exit
status is 1 when any failed. --shard K/N takes a fixed 1/N share of the
files, by path, so that N machines given the same arguments upload every
file exactly once between them. --shard auto/N takes K from the index of a
Kubernetes Indexed Job ($JOB_COMPLETION_INDEX) or of an AWS Batch array job
($AWS_BATCH_JOB_ARRAY_INDEX), which count from 0; --shard auto takes N too,
from $AWS_BATCH_JOB_ARRAY_SIZE. --include and --exclude match a file's name,
not its path.

A journal records the server each file went to: with another --base-url, it
skips nothing and says so. One run at a time may use a journal; a second one
stops at once, naming the process that holds it. A damaged line in the
journal stops the run, unless --repair-journal drops it (its file is then
uploaded again). If the journal cannot be written, no new file starts and
the files it could not record are listed with their video ids. A journal
directory inside the uploaded tree is never uploaded.`

func (b *batchFlags) register(fs *pflag.FlagSet) {
	fs.IntVar(&b.jobs, "jobs", batch.DefaultJobs, fmt.Sprintf("`J` files uploaded at once, 1 to %d", batch.MaxJobs))
	fs.StringVar(&b.journal, "journal", "", "record completed files and resume states in `DIR`, and skip or resume from it")
	fs.StringVar(&b.shard, "shard", "", "upload only share `K/N` of the files (1-based), e.g. 2/8; auto/N or auto: K (and N) from a Kubernetes Indexed Job or an AWS Batch array job")
	fs.StringArrayVar(&b.include, "include", nil, "upload only files whose name matches `GLOB`, e.g. '*.mp4' (repeatable)")
	fs.StringArrayVar(&b.exclude, "exclude", nil, "skip files whose name matches `GLOB` (repeatable)")
	fs.BoolVar(&b.followSymlinks, "follow-symlinks", false, "follow symbolic links found in directories")
	fs.BoolVar(&b.trustMtime, "trust-mtime", false, "with --journal: skip a recorded file whose size and modification time are unchanged, without re-reading it")
	fs.BoolVar(&b.repairJournal, "repair-journal", false, "drop the damaged lines of the --journal instead of stopping (their files are uploaded again)")
	fs.DurationVar(&b.tokenTTL, "token-ttl", batch.DefaultTokenTTL, "lifetime of the tokens minted with the API key ($"+envAPIKey+") when no token is given")
	b.plan.register(fs)
}

// streamless lists the flags that select or record files, which standard
// input, one stream read once, cannot take.
var streamless = []string{"journal", "shard", "include", "exclude", "follow-symlinks", "trust-mtime", "repair-journal", "include-hidden"}

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

// check refuses, before anything is sent, the flags that cannot work
// together or with these arguments.
func (f *uploadFlags) check(cmd *cobra.Command, args []string) error {
	b := &f.batch
	flags := cmd.Flags()
	stdin := args[0] == "-"
	several := len(args) > 1 || (!stdin && f.isDir(args[0]))
	for _, name := range streamless {
		if stdin && flags.Changed(name) {
			return usagef("--%s selects or records files: standard input, one stream read once, cannot take it", name)
		}
	}
	if err := f.checkTransfer(flags); err != nil {
		return err
	}
	switch {
	case f.videoID != "" && several:
		return usagef("--video-id adds to one video: it cannot be used with several files or a directory")
	case f.stateFile != "" && several:
		return usagef("--state-file holds one upload: use --journal DIR for several files or a directory")
	case f.stateFile != "" && b.journal != "":
		return usagef("--state-file and --journal both keep the upload's state: give one of them")
	case f.stateFile == "" && (f.restart || f.ignoreState):
		return usagef("--restart and --ignore-state-errors go with --state-file, for one upload")
	}
	return b.checkSelection(cmd.ErrOrStderr(), f.output.quiet)
}

// checkTransfer refuses the flags of how files are sent and recorded that
// hold a value out of range: what upload and watch share.
func (f *uploadFlags) checkTransfer(flags *pflag.FlagSet) error {
	b := &f.batch
	switch {
	case f.chunkSize != 0 && (f.chunkSize < wrapper.MinChunkSize || f.chunkSize > wrapper.MaxChunkSize):
		return checkSizeRange("chunk-size", flags.Lookup("chunk-size").Value.String(), f.chunkSize, wrapper.MinChunkSize, wrapper.MaxChunkSize)
	case f.stall < minStall:
		return f.checkStall()
	case b.jobs < 1 || b.jobs > batch.MaxJobs:
		return usagef("--jobs %d: want 1 to %d", b.jobs, batch.MaxJobs)
	case b.tokenTTL < batch.MinTokenTTL || b.tokenTTL > wrapper.MaxTokenTTL || b.tokenTTL%time.Second != 0:
		return usagef("--token-ttl %s: want whole seconds from %s to %s", b.tokenTTL, batch.MinTokenTTL, wrapper.MaxTokenTTL)
	case flags.Changed("video-id") && strings.TrimSpace(f.videoID) == "":
		return usagef("--video-id wants the id of a video, got an empty one; leave --video-id out to upload a new video")
	case flags.Changed("journal") && strings.TrimSpace(b.journal) == "":
		return usagef("--journal wants a directory, got an empty one; leave --journal out to upload without a journal")
	case b.repairJournal && b.journal == "":
		return usagef("--repair-journal repairs the --journal DIR: give one")
	}
	return nil
}

// checkSelection refuses a --shard, --include or --exclude that cannot
// select anything.
func (b *batchFlags) checkSelection(stderr io.Writer, quiet bool) error {
	if b.shard != "" {
		if err := b.resolveShard(stderr, quiet); err != nil {
			return err
		}
	}
	for _, p := range b.include {
		if err := checkPattern("include", p); err != nil {
			return err
		}
	}
	for _, p := range b.exclude {
		if err := checkPattern("exclude", p); err != nil {
			return err
		}
	}
	return nil
}

// checkPattern refuses an --include or --exclude pattern that cannot
// match: one of a bad syntax, or with a slash, since patterns match a
// file's name alone.
func checkPattern(flag, p string) error {
	if _, err := path.Match(p, ""); err != nil {
		return usagef("--%s %s is not a valid pattern (an unclosed [, or a \\ at its end): use *, ? and [abc] or [a-z] on file names, e.g. '*.mp4'",
			flag, shellQuote(p, false))
	}
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return usagef("--%s %s: a pattern matches a file's name, not its path, so a slash never matches; give the directory as an argument and --%s %s",
			flag, shellQuote(p, false), flag, shellQuote(p[i+1:], false))
	}
	return nil
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
