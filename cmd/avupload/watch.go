package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/avupload/avupload/wrapper"
	"github.com/avupload/avupload/wrapper/batch"
)

// watchFlags are the flags of `avupload watch`: upload's, but for those
// that name one upload or print a plan, and the watch's own.
type watchFlags struct {
	up     uploadFlags
	settle time.Duration
	rescan time.Duration
}

// Defaults and bounds of --settle and --rescan.
const (
	defaultSettle = 5 * time.Second
	defaultRescan = time.Minute
	minSettle     = 100 * time.Millisecond
	minRescan     = time.Second
)

// notForWatch lists the upload flags watch does not take: they name one
// upload (--video-id, --state-file and theirs) or print a plan once.
var notForWatch = []string{"video-id", "state-file", "restart", "ignore-state-errors", "dry-run"}

// watchHelp is the help of avupload watch.
const watchHelp = `Watch DIR and upload every video that lands in it, or in a folder under it,
once it is complete, until stopped with Ctrl-C or SIGTERM. For an ingest
machine (a camera station, a production NAS) whose drop folder should
upload itself.

A file is uploaded once its size and modification time have not changed for
--settle: a file still being copied or recorded is not sent half-written.
The files already in DIR when the watch starts go first, like a batch; a
file edited later is uploaded again, as a new video. A file moved or renamed
within DIR after its upload is not uploaded again: a file the journal does
not know, whose size and SHA-256 are those of a file it recorded that is no
longer where it was, is recorded under its new path with the same video (a
copy of a file still in place is a new video). An upload that fails is tried
again at the next rescan.

The operating system tells the watch of every change (inotify, kqueue,
ReadDirectoryChangesW); it also walks DIR every --rescan, and at once when
the system says it dropped notifications, since notifications are lost when
too many come at once and never come from network file systems (NFS, SMB):
there, --rescan is how soon a file is seen.

--journal is required: it records every uploaded file with its video id and
SHA-256, and the resume state of every file under way, so that a restart
neither uploads a file twice nor loses one. On Ctrl-C or SIGTERM, no file
starts any more, the files under way stop with their state saved, and the
exit status is 130; run the same command again: it skips what is recorded
(re-reading each file to check it, unless --trust-mtime), resumes the
partial uploads and goes on watching.

What a file is, what is left out (hidden and system files, --include,
--exclude, --shard), the credentials, --jobs, --json and -q are as for
'avupload upload'. With the API key, one token at a time is minted, renewed
before it runs short, and the tokens are deleted when the watch stops. A
status line on a terminal's standard error shows the files under way.`

func newWatchCommand(a *app) *cobra.Command {
	f := &watchFlags{up: uploadFlags{batch: batchFlags{getenv: a.getenv}}}
	cmd := &cobra.Command{
		Use:   "watch DIR --journal J",
		Short: "Upload every video that lands in a folder, once complete, until stopped",
		Long:  watchHelp,
		Example: `  avupload watch --journal ~/.avupload/ingest /srv/ingest
  avupload watch --journal /var/lib/avupload --include '*.mp4' --settle 30s --rescan 5m /mnt/nas/incoming
  APIVIDEO_API_KEY=... avupload watch --json --journal j drop | jq -r 'select(.status=="uploaded") | .videoId'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("%s wants one DIR to watch, got %d argument(s)", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: runE(func(cmd *cobra.Command, args []string) error { return f.run(cmd, a, args[0]) }),
	}
	// Upload's flags, bound to f.up as upload binds them, but for those
	// that make no sense for a folder watched.
	all := pflag.NewFlagSet("upload", pflag.ContinueOnError)
	f.up.register(all)
	all.VisitAll(func(fl *pflag.Flag) {
		if !slices.Contains(notForWatch, fl.Name) {
			cmd.Flags().AddFlag(fl)
		}
	})
	fs := cmd.Flags()
	fs.DurationVar(&f.settle, "settle", defaultSettle,
		"upload a file once its size and modification time are unchanged for this `DURATION`")
	fs.DurationVar(&f.rescan, "rescan", defaultRescan,
		"walk DIR every `DURATION` for what the system's notifications missed (network file systems, overflows)")
	return cmd
}

// run checks the flags, opens the journal and the client, and watches dir
// until ctx ends.
func (f *watchFlags) run(cmd *cobra.Command, a *app, dir string) error {
	u := &f.up
	b := &u.batch
	if err := u.checkTransfer(cmd.Flags()); err != nil {
		return err
	}
	if err := b.checkSelection(cmd.ErrOrStderr(), u.output.quiet); err != nil {
		return err
	}
	switch {
	case b.journal == "":
		return usagef("watch needs --journal DIR: it records what was uploaded and keeps the state of the files under way, " +
			"so that a restart neither uploads a file twice nor loses one")
	case f.settle < minSettle:
		return usagef("--settle %s: want %s or more, e.g. 5s: a file is uploaded once it has not changed for that long", f.settle, minSettle)
	case f.rescan < minRescan:
		return usagef("--rescan %s: want %s or more, e.g. 1m", f.rescan, minRescan)
	}
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return usageError{fmt.Errorf("%s: %s", quotePath(dir), osReason(err))}
	case !fi.IsDir():
		return usagef("%s is not a directory: watch takes the folder to watch; 'avupload upload' sends a file", quotePath(dir))
	}
	plan := batch.PlanOptions{Include: b.include, Exclude: b.exclude, FollowSymlinks: b.followSymlinks,
		IncludeHidden: b.plan.includeHidden, Skip: []string{b.journal}}
	if b.shard != "" {
		plan.Shard, plan.Shards, _ = parseShard(b.shard)
	}

	opts := u.batchOptions()
	token, key, err := u.credentials(cmd, a)
	if err != nil {
		return err
	}
	opts.Token = token
	opts.TrackRenames = true
	stderr := &syncWriter{w: cmd.ErrOrStderr()}
	c, err := newClient(&u.server, key, u.clientOptions(stderr)...)
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	j, err := openJournal(b.journal, b.repairJournal, stderr, u.output.quiet, c.BaseURL())
	if err != nil {
		return err
	}
	defer func() { _ = j.Close() }()
	opts.Journal = j

	defer ignoreSIGPIPE()()
	ctx, cancel := context.WithCancelCause(cmd.Context())
	defer cancel(nil)
	var minter *batch.Minter
	if token == "" {
		// One token for the whole watch, not one per file.
		if minter, err = batch.NewMinter(c, b.tokenTTL); err != nil {
			return err
		}
		if _, err := minter.Token(ctx); err != nil {
			return err
		}
		opts.Minter = minter
	}
	out := newBatchOutput(cmd.OutOrStdout(), stderr, &u.output, func(err error) string { return a.redact(describe(err, cmd)) })
	out.broken = func(err error) { cancel(&stdoutError{err: err}) }
	w := newWatcher(dir, plan, f.settle, f.rescan, c, *opts, out, stderr, u.output.quiet)
	if watchHook != nil {
		watchHook(w)
	}
	werr := w.run(ctx)
	out.finish(&w.total)
	if minter != nil {
		cleanup, stop := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer stop()
		werr = errors.Join(werr, minter.Close(cleanup))
	}
	return f.ended(ctx, w, werr)
}

// ended is the error a watch ends with: it stopped (a signal, or a
// standard output gone), its journal failed, or the rest.
func (f *watchFlags) ended(ctx context.Context, w *watcher, err error) error {
	journal := f.up.batch.journal
	if errors.Is(err, batch.ErrJournalNotSaved) || errors.Is(err, wrapper.ErrStateNotSaved) {
		return w.out.stopped(err, &w.total, w.started, journal)
	}
	if err != nil || ctx.Err() == nil {
		return err
	}
	t := &w.total
	msg := fmt.Sprintf("watch stopped: %d uploaded, %d skipped, %d failed", t.Uploaded, t.Skipped, t.Failed)
	if t.Interrupted > 0 {
		msg += fmt.Sprintf(", %d interrupted", t.Interrupted)
	}
	var lost *stdoutError
	if errors.As(context.Cause(ctx), &lost) {
		msg = lost.Error() + ": " + msg
	}
	msg += "; the journal " + journal + " holds every state: run the same command again to go on"
	return &watchStopped{msg: msg, err: &batchInterrupted{err: ctx.Err(), cause: context.Cause(ctx), res: t, journal: journal}}
}

// watchStopped is the end of a watch stopped by a signal or a standard
// output gone: it says what the watch did, and exits as an interrupted
// batch does.
type watchStopped struct {
	msg string
	err error
}

func (e *watchStopped) Error() string { return e.msg }
func (e *watchStopped) Unwrap() error { return e.err }

// watchHook, when set (by tests), is given each watcher before it starts:
// it may replace its notification channels, to lose or add some.
var watchHook func(*watcher)

// fileStat is what settling compares: a file's size and modification time.
type fileStat struct {
	size  int64
	mtime time.Time
}

func statOf(path string) (fileStat, bool) {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return fileStat{}, false
	}
	return fileStat{fi.Size(), fi.ModTime()}, true
}

// candidate is a file waiting to settle: its stat, and since when it has
// not changed.
type candidate struct {
	file  batch.File
	stat  fileStat
	since time.Time
}

// retry is a failed file, tried again at its time unless it changes first.
type retry struct {
	stat fileStat
	at   time.Time
}

// watchResult is the end of one file's upload.
type watchResult struct {
	file batch.File
	stat fileStat
	id   int
	res  *batch.Result
	r    batch.FileResult
	err  error
}

// watcher watches a folder and uploads its files once settled. Its maps
// belong to the goroutine of run; uploads run on goroutines of their own,
// at most --jobs at once, each a batch of one file with the shared journal,
// client and token, and report back on results.
type watcher struct {
	start          time.Time // when the watch started
	root           string
	plan           batch.PlanOptions
	settle, rescan time.Duration
	c              *wrapper.Client
	opts           batch.Options // each upload's: a batch of one file
	jobs           int           // files uploaded at once: --jobs
	out            *batchOutput
	stderr         io.Writer
	quiet          bool
	now            func() time.Time

	fsw    *fsnotify.Watcher
	events <-chan fsnotify.Event
	errs   <-chan error

	known    map[string]candidate  // uploaded or skipped, with their stat then
	pending  map[string]*candidate // settling
	busy     map[string]bool       // under upload
	retries  map[string]retry      // failed, waiting to be tried again
	told     map[string]bool       // paths whose problem was said
	ready    []candidate           // settled, waiting for a free job
	results  chan watchResult
	walked   time.Time // the last walk
	dirty    bool      // a notification came since the last walk
	overflow bool      // the system said it dropped notifications: said once

	started int          // files handed to an upload
	total   batch.Result // the sum of the uploads' results
	prog    progressSum
}

func newWatcher(root string, plan batch.PlanOptions, settle, rescan time.Duration, c *wrapper.Client, opts batch.Options,
	out *batchOutput, stderr io.Writer, quiet bool) *watcher {
	jobs := max(opts.Jobs, 1)
	opts.Jobs = 1
	return &watcher{start: time.Now(), root: filepath.Clean(root), plan: plan, settle: settle, rescan: rescan, c: c, opts: opts, jobs: jobs, out: out, stderr: stderr, quiet: quiet,
		now: time.Now, known: map[string]candidate{}, pending: map[string]*candidate{}, busy: map[string]bool{},
		retries: map[string]retry{}, told: map[string]bool{}, results: make(chan watchResult),
		prog: progressSum{live: map[int]batch.Progress{}}}
}

// tick is how often pending files are checked: a fraction of --settle.
func (w *watcher) tick() time.Duration {
	return min(max(w.settle/5, 20*time.Millisecond), 500*time.Millisecond)
}

// walkGap is the least time between two walks that notifications ask for.
func (w *watcher) walkGap() time.Duration {
	return min(max(w.settle/3, 50*time.Millisecond), 2*time.Second)
}

// run watches until ctx ends or the journal fails, then waits for the
// uploads under way, which stop with their state saved.
func (w *watcher) run(ctx context.Context) error {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("cannot watch %s: %w", quotePath(w.root), err)
	}
	defer func() { _ = fsw.Close() }()
	w.fsw = fsw
	if w.events == nil && w.errs == nil {
		w.events, w.errs = fsw.Events, fsw.Errors
	}
	w.watchTree(w.root)
	res, err := w.walk(true)
	if err != nil {
		return err
	}
	if !w.quiet {
		printf(w.stderr, "avupload: watching %s: %s already there; uploading each file once unchanged for %s\n",
			quotePath(w.root), plural(len(res.Files), "file"), w.settle)
	}
	ticker := time.NewTicker(w.tick())
	defer ticker.Stop()
	running, nextID := 0, 0
	var stopErr error
	stopping := func() bool { return ctx.Err() != nil || stopErr != nil }
	for {
		for running < w.jobs && len(w.ready) > 0 && !stopping() {
			cand := w.ready[0]
			w.ready = w.ready[1:]
			running++
			nextID++
			w.started++
			go w.upload(ctx, nextID, cand)
		}
		if stopping() {
			if running == 0 {
				return stopErr
			}
			r := <-w.results
			running--
			if err := w.done(r); err != nil && stopErr == nil {
				stopErr = err
			}
			continue
		}
		select {
		case <-ctx.Done():
		case ev, ok := <-w.events:
			if !ok {
				w.events = nil
				continue
			}
			w.event(ev)
		case err, ok := <-w.errs:
			if !ok {
				w.errs = nil
				continue
			}
			w.dirty = true
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				if !w.overflow && !w.quiet {
					printf(w.stderr, "avupload: the system dropped notifications (too many changes at once): walking %s to find what changed\n", quotePath(w.root))
				}
				w.overflow = true
				w.walked = time.Time{} // walk at the next tick
			} else if !w.quiet {
				printf(w.stderr, "avupload: watching %s: %s; the rescan every %s finds what is missed\n", quotePath(w.root), escapeText(err.Error()), w.rescan)
			}
		case <-ticker.C:
			now := w.now()
			if w.dirty && now.Sub(w.walked) >= w.walkGap() || now.Sub(w.walked) >= w.rescan {
				if _, err := w.walk(false); err != nil {
					stopErr = err
					continue
				}
			}
			w.settleCheck(now)
		case r := <-w.results:
			running--
			if err := w.done(r); err != nil {
				stopErr = err
			}
		}
	}
}

// watchTree adds a watch on dir and on every folder under it but the
// hidden ones (unless --include-hidden) and the journal, whose writes
// would wake the watch for nothing. Links are not followed: with
// --follow-symlinks, the folders they lead to are found by the rescans.
// A folder that cannot be watched (the system's limit on watches
// reached) is said once; the rescans find its files.
func (w *watcher) watchTree(dir string) {
	skip := map[string]bool{}
	for _, s := range w.plan.Skip {
		if abs, err := filepath.Abs(s); err == nil {
			skip[abs] = true
		}
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil //nolint:nilerr // a folder that cannot be read is reported by the walks
		}
		abs, _ := filepath.Abs(p)
		if skip[abs] || p != dir && !w.plan.IncludeHidden && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if err := w.fsw.Add(p); err != nil && !w.told[p] {
			w.told[p] = true
			if !w.quiet {
				printf(w.stderr, "avupload: cannot watch %s: %s; the rescan every %s finds its files\n", quotePath(p), osReason(err), w.rescan)
			}
		}
		return nil
	})
}

// event takes a notification. A file settling or under upload needs
// nothing (settling looks at it again before it goes); a file known, that
// changed, starts settling again; a name that came or went, or a folder
// made, asks for a walk, which the selection of upload decides on. A new
// folder is watched at once.
func (w *watcher) event(ev fsnotify.Event) {
	if !ev.Has(fsnotify.Create) && !ev.Has(fsnotify.Remove) && !ev.Has(fsnotify.Rename) {
		if _, ok := w.pending[ev.Name]; ok || w.busy[ev.Name] {
			return
		}
		if k, ok := w.known[ev.Name]; ok {
			if st, ok := statOf(ev.Name); ok {
				w.observe(k.file, st, w.now())
				return
			}
		}
	}
	w.dirty = true
	if ev.Has(fsnotify.Create) {
		if fi, err := os.Lstat(ev.Name); err == nil && fi.IsDir() {
			w.watchTree(ev.Name)
		}
	}
}

// walk lists the files of the folder as upload plans them, and takes note
// of each: new or changed ones start settling, gone ones are forgotten.
// The first walk says what it left out, as upload does; later ones only
// the paths that could not be read, once each.
func (w *watcher) walk(first bool) (*batch.PlanResult, error) {
	now := w.now()
	w.walked, w.dirty = now, false
	res, err := batch.Walk([]string{w.root}, w.plan)
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", quotePath(w.root), err)
	}
	if first {
		reportLeftOut(w.stderr, res, w.quiet)
	}
	for _, l := range res.Problems() {
		if !w.told[l.Path] {
			w.told[l.Path] = true
			if !first {
				printf(w.stderr, "avupload: skipped %s: %s\n", quotePath(l.Path), leftOutWhy(l))
			}
		}
	}
	seen := make(map[string]bool, len(res.Files))
	for _, f := range res.Files {
		seen[f.Path] = true
		if st, ok := statOf(f.Path); ok {
			w.observe(f, st, now)
		}
	}
	maps.DeleteFunc(w.known, func(p string, _ candidate) bool { return !seen[p] })
	maps.DeleteFunc(w.pending, func(p string, _ *candidate) bool { return !seen[p] })
	maps.DeleteFunc(w.retries, func(p string, _ retry) bool { return !seen[p] })
	return res, nil
}

// observe takes note of file f, of stat st, seen at now.
func (w *watcher) observe(f batch.File, st fileStat, now time.Time) {
	if w.busy[f.Path] {
		return // a change during its upload is seen after it
	}
	if k, ok := w.known[f.Path]; ok && k.stat == st {
		return
	}
	if r, ok := w.retries[f.Path]; ok && r.stat == st && now.Before(r.at) {
		return
	}
	if c, ok := w.pending[f.Path]; ok {
		if c.stat != st {
			c.file, c.stat, c.since = f, st, now
		}
		return
	}
	w.pending[f.Path] = &candidate{file: f, stat: st, since: now}
}

// settleCheck moves the files unchanged for --settle to the ready list,
// after a last look at each.
func (w *watcher) settleCheck(now time.Time) {
	var settled []candidate
	for p, c := range w.pending {
		if now.Sub(c.since) < w.settle {
			continue
		}
		st, ok := statOf(p)
		switch {
		case !ok:
			delete(w.pending, p)
		case st != c.stat:
			c.stat, c.since = st, now
		default:
			delete(w.pending, p)
			c.file.Size = st.size
			settled = append(settled, *c)
		}
	}
	slices.SortFunc(settled, func(a, b candidate) int { return strings.Compare(a.file.Path, b.file.Path) })
	for _, c := range settled {
		w.busy[c.file.Path] = true
	}
	w.ready = append(w.ready, settled...)
}

// upload sends one settled file, as a batch of one with the journal, and
// reports its end on results.
func (w *watcher) upload(ctx context.Context, id int, c candidate) {
	opts := w.opts
	r := watchResult{file: c.file, stat: c.stat, id: id}
	opts.OnFile = func(fr batch.FileResult) {
		r.r = fr
		w.out.file(fr)
	}
	opts.Progress = func(p batch.Progress) { w.prog.update(w.out, id, p) }
	r.res, r.err = batch.Upload(ctx, w.c, []batch.File{c.file}, &opts)
	if r.res == nil && ctx.Err() == nil {
		// Refused before it started: a token that could not be minted.
		r.r = batch.FileResult{File: c.file, Status: batch.FileFailed, Size: c.file.Size, Err: r.err}
		w.out.file(r.r)
	}
	w.results <- r
}

// done takes the end of an upload, and returns the error that stops the
// watch: a journal that could not be written.
func (w *watcher) done(r watchResult) error {
	path := r.file.Path
	delete(w.busy, path)
	w.prog.finish(r.id)
	if res := r.res; res != nil {
		t := &w.total
		t.Uploaded += res.Uploaded
		t.Skipped += res.Skipped
		t.Failed += res.Failed
		t.Unrecorded += res.Unrecorded
		t.Interrupted += res.Interrupted
		t.NotStarted += res.NotStarted
		t.BytesSent += res.BytesSent
		t.Duration = time.Since(w.start)
	}
	switch {
	case r.r.Status == batch.FileUploaded || r.r.Status == batch.FileSkipped:
		w.known[path] = candidate{file: r.file, stat: r.stat}
	case r.res == nil && r.err != nil && !errors.Is(r.err, context.Canceled):
		w.total.Failed++
		w.retries[path] = retry{stat: r.stat, at: w.now().Add(w.rescan)}
	case r.r.Status == batch.FileFailed && !errors.Is(r.r.Err, context.Canceled):
		w.retries[path] = retry{stat: r.stat, at: w.now().Add(w.rescan)}
	}
	if errors.Is(r.err, batch.ErrJournalNotSaved) || errors.Is(r.err, wrapper.ErrStateNotSaved) {
		return r.err
	}
	return nil
}

// progressSum adds up the progress of the uploads under way and of those
// that ended, for the status line.
type progressSum struct {
	mu   sync.Mutex
	base batch.Progress         // the uploads that ended
	live map[int]batch.Progress // the uploads under way, by id
}

func (s *progressSum) update(out *batchOutput, id int, p batch.Progress) {
	s.mu.Lock()
	s.live[id] = p
	sum := s.sumLocked()
	s.mu.Unlock()
	out.progress(sum)
}

func (s *progressSum) finish(id int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.live[id]
	if !ok {
		return
	}
	delete(s.live, id)
	s.base = addProgress(s.base, p)
	s.base.InFlight = nil
}

func (s *progressSum) sumLocked() batch.Progress {
	sum := s.base
	sum.InFlight = nil
	ids := slices.Sorted(maps.Keys(s.live))
	for _, id := range ids {
		sum = addProgress(sum, s.live[id])
	}
	return sum
}

func addProgress(a, b batch.Progress) batch.Progress {
	a.Files += b.Files
	a.Done += b.Done
	a.Failed += b.Failed
	a.Bytes += max(b.Bytes, 0)
	a.BytesDone += b.BytesDone
	a.BytesSkipped += b.BytesSkipped
	a.InFlight = append(a.InFlight, b.InFlight...)
	return a
}
