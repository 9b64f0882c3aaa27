package batch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/avupload/avupload/wrapper"
)

// Bounds and defaults of a batch.
const (
	// DefaultJobs is how many files a batch uploads at once unless told otherwise.
	DefaultJobs = 2
	// MaxJobs is the most files a batch uploads at once.
	MaxJobs = 64
	// DefaultTokenTTL is the lifetime of the tokens a batch mints with
	// the API key, unless Options.TokenTTL says otherwise.
	DefaultTokenTTL = time.Hour
	// MinTokenTTL is the shortest lifetime a batch accepts for the tokens it mints.
	MinTokenTTL = time.Minute
)

// SkipCheck is what a batch verifies before it skips a file its journal
// records as uploaded.
type SkipCheck int

const (
	// SkipIfSameContent skips a recorded file when its size and SHA-256 are
	// those recorded. It costs a read of every recorded file on each run, at
	// the speed of the disk or of SHA-256, whichever is slower, and never
	// skips a file whose bytes changed. It is the default.
	SkipIfSameContent SkipCheck = iota
	// SkipIfSameStat skips a recorded file when its size and modification
	// time are those recorded, reading nothing. It misses an edit that keeps
	// both (a restored mtime, a coarse-mtime file system): such a file keeps
	// its old video.
	SkipIfSameStat
)

// FileStatus is how a batch's file ended.
type FileStatus string

// The ends of a batch's file.
const (
	FileUploaded FileStatus = "uploaded" // sent, or resumed and finished
	FileSkipped  FileStatus = "skipped"  // the journal holds it, content unchanged
	FileFailed   FileStatus = "failed"   // refused, unreadable, or interrupted
	// FileUnrecorded: uploaded (VideoID is its video), but the journal
	// could not record it, so a later batch would upload it again. The
	// batch stops starting files after one (see Options.Journal).
	FileUnrecorded FileStatus = "unrecorded"
)

// FileResult is the outcome of one file of a batch.
type FileResult struct {
	// File is the file as planned.
	File File
	// Status is how the file ended.
	Status FileStatus
	// VideoID is the file's video: the new one, or the recorded one when skipped.
	VideoID string
	// Size is the file's size in bytes.
	Size int64
	// SHA256 is the hex SHA-256 of the file's bytes, when known: uploaded or skipped.
	SHA256 string
	// Upload is what the upload of a file that this run sent (or resumed
	// and finished) ended with: its chunks, what an earlier run had sent,
	// and the API's last answer. It is nil for a skipped or failed file.
	Upload *wrapper.UploadResult
	// Resumable, for a FileUnrecorded file, says that the journal kept its
	// resume state: a later batch with the journal completes it as the same
	// video without sending it again. A file that kept no state (one sent
	// in a single request) is uploaded again by a later batch.
	Resumable bool
	// Duration is how long the file took, skip check included.
	Duration time.Duration
	// Err is why the file failed or is unrecorded; nil otherwise. An
	// interrupted upload's error matches the context's.
	Err error
}

// FileProgress is one file in flight.
type FileProgress struct {
	// Path is the file's path.
	Path string
	// Acked is the number of bytes the API acknowledged.
	Acked int64
	// Sent is Acked plus the bytes of the chunks in flight (see
	// wrapper.UploadProgress): it moves while a chunk goes, before its
	// answer comes.
	Sent int64
	// Pending is the number of chunks in flight, sent in part or whole and
	// not answered yet: with Sent == Total, the file waits for the API to
	// acknowledge them.
	Pending int
	// Total is the file's size.
	Total int64
}

// Progress is how far a batch got.
type Progress struct {
	// Files is the number of files in the batch; Done of them ended, Failed of those failed.
	Files, Done, Failed int
	// Bytes is the total size of the files, -1 while a stream's length is
	// unknown; BytesDone is acknowledged or skipped so far, of which BytesSkipped were skipped or sent by an
	// earlier run, not by this one.
	Bytes, BytesDone, BytesSkipped int64
	// InFlight lists the files under way, in the order they started.
	InFlight []FileProgress
}

// Result sums up a batch.
type Result struct {
	// Uploaded, Skipped, Failed and Unrecorded count the files that ended
	// so; Interrupted the files under way when the batch was cancelled
	// (their status is FileFailed, their state kept in the journal), and
	// NotStarted the files left untouched.
	Uploaded, Skipped, Failed, Unrecorded, Interrupted, NotStarted int
	// NewServer is true when the journal held records, but none of the
	// client's server: it knew nothing of this server, and skipped nothing.
	NewServer bool
	// BytesSent is the number of bytes this run uploaded (resumed chunks not included).
	BytesSent int64
	// Duration is how long the batch took.
	Duration time.Duration
}

// Options tunes Upload. The zero value (and a nil *Options, which stands
// for it) uploads with the defaults, minting its tokens with the client's
// API key: without the key, Token must be set.
type Options struct {
	// Upload holds the options every file is uploaded with: ChunkSize,
	// Concurrency (the most chunks in flight per file; see
	// wrapper.UploadOptions for the defaults and how they adapt), HTTP2,
	// Retry and StallTimeout.
	// Progress and FileName are the batch's. VideoID and Store name one
	// upload: they are taken by a batch of one file, which is then what a
	// single upload is (Store only without a Journal, which keeps the
	// states of a batch).
	Upload wrapper.UploadOptions
	// Jobs is how many files are uploaded at once: DefaultJobs when 0, at
	// most MaxJobs. Memory stays within Jobs times one upload's bound.
	Jobs int
	// Journal, when set, records every completed file and the state of
	// every file under way: a later batch with the same journal skips the
	// files recorded whose content is unchanged (see Verify), resumes the
	// partial ones and retries the failed ones. A file that changed since it
	// was recorded is uploaded again as a new video. Only the records of
	// the client's server (wrapper.Client.BaseURL) count.
	//
	// A journal that cannot be written stops the batch: when a completed
	// file cannot be recorded (FileUnrecorded), or a resume state cannot be
	// saved (wrapper.ErrStateNotSaved), no file starts any more, the files
	// under way finish, and Upload returns an error matching
	// ErrJournalNotSaved or wrapper.ErrStateNotSaved.
	Journal *Journal
	// Verify is what a skip is based on: SkipIfSameContent by default.
	Verify SkipCheck
	// Token is the upload token every file uses. When empty, the client must
	// hold the API key: the batch mints tokens of TokenTTL itself, a new one
	// before the current one has less than half its life left, and deletes
	// every token it minted when it ends.
	Token string
	// TokenTTL is the lifetime of minted tokens: DefaultTokenTTL when 0,
	// else whole seconds from MinTokenTTL to wrapper.MaxTokenTTL.
	TokenTTL time.Duration
	// Minter, when set, gives the tokens instead: the batch mints nothing
	// itself and deletes nothing at its end, so that many batches (a
	// long-running watch) share one token, deleted by Minter.Close. It
	// cannot be given with Token; TokenTTL is then the Minter's.
	Minter *Minter
	// TrackRenames, with a Journal, recognizes a file moved or renamed
	// since it was uploaded: a file the journal does not record, whose size
	// and SHA-256 are those of a recorded file no longer at its recorded
	// path, is recorded under its new path with that video and skipped,
	// not uploaded again. A file whose content a recorded file that still
	// exists holds is a copy, and is uploaded. The check reads the file only
	// when the journal records a vanished file of its size.
	TrackRenames bool
	// OnFile, when set, is told each file's outcome as it ends, from one
	// goroutine at a time.
	OnFile func(FileResult)
	// Progress, when set, is told how far the batch got whenever it moves,
	// from one goroutine at a time. Calls are coalesced: a slow function
	// misses intermediate counts but never slows the batch. Upload returns
	// after the last call returned.
	Progress func(Progress)
}

// normalize applies the defaults and checks the values. Whether a client
// without the API key is given a Token is checked by the first mint.
func (o *Options) normalize() error {
	switch {
	case o.Jobs == 0:
		o.Jobs = DefaultJobs
	case o.Jobs < 0 || o.Jobs > MaxJobs:
		return invalidInput("jobs %d is outside [1, %d]", o.Jobs, MaxJobs)
	}
	if err := o.Upload.Validate(); err != nil {
		return err
	}
	switch {
	case o.TokenTTL == 0:
		o.TokenTTL = DefaultTokenTTL
	case o.TokenTTL < MinTokenTTL || o.TokenTTL > wrapper.MaxTokenTTL || o.TokenTTL%time.Second != 0:
		return invalidInput("token TTL %s: want whole seconds from %s to %s", o.TokenTTL, MinTokenTTL, wrapper.MaxTokenTTL)
	}
	return nil
}

// check refuses what the options cannot do with these files: the options
// of one upload for several files, and a journal for a stream.
func (o *Options) check(files []File) error {
	one := len(files) == 1
	switch {
	case o.Upload.VideoID != "" && !one:
		return invalidInput("a batch cannot add every file to one video: leave VideoID empty")
	case o.Upload.Store != nil && !one:
		return invalidInput("a batch keeps its resume states in its Journal: leave Upload.Store empty")
	case o.Upload.Store != nil && o.Journal != nil:
		return invalidInput("a batch of one file keeps its resume state in Upload.Store or in the Journal, not both")
	case o.Minter != nil && o.Token != "":
		return invalidInput("a batch takes its tokens from Token or from a Minter, not both")
	case o.TrackRenames && o.Journal == nil:
		return invalidInput("TrackRenames recognizes the files a Journal records: give one")
	}
	for _, f := range files {
		if f.Source != nil && o.Journal != nil {
			return invalidInput("a journal cannot record a stream (%s): it cannot be read again to check it", f.Path)
		}
	}
	return nil
}

// invalidInput is an error matching wrapper.ErrInvalidInput, as the
// wrapper's own refusals are.
func invalidInput(format string, args ...any) error {
	return fmt.Errorf("%w: %s", wrapper.ErrInvalidInput, fmt.Sprintf(format, args...))
}

// errNoKey is the refusal of a batch that has no token and whose client
// has no API key to mint one.
var errNoKey = invalidInput("a batch needs an upload token, or a client with the API key to mint tokens")

// interrupted is the error of a batch whose context ended.
func interrupted(ctx context.Context) error {
	return fmt.Errorf("avupload: upload interrupted: %w", ctx.Err())
}

// Upload uploads files through c, Jobs at a time, sharing the client's
// connections (idle ones are reused from file to file). Each file goes as
// [wrapper.Client.Upload] sends it, with opts.Upload; a file that fails
// (refused by the API, unreadable, out of retries) is reported through
// OnFile and counted, and never stops the others; a journal that cannot be
// written does (see Options.Journal). The journal stays open: its owner
// closes it.
//
// When ctx ends, no file is started any more, the files under way stop with
// their state saved in the journal, and Upload returns the result so
// far with an error matching ctx.Err(). An error is also returned, before
// any file, for bad options or a token that cannot be minted; and, with a
// result, when the journal stopped the batch or a minted token cannot be
// deleted. The outcome of each file is in the result and OnFile, not in
// the error. opts may be nil: the defaults then apply.
func Upload(ctx context.Context, c *wrapper.Client, files []File, opts *Options) (*Result, error) {
	return upload(ctx, c, files, opts, time.Now)
}

// upload is Upload with the clock its minted tokens' lifetimes are counted by.
func upload(ctx context.Context, c *wrapper.Client, files []File, opts *Options, now func() time.Time) (*Result, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if err := o.normalize(); err != nil {
		return nil, err
	}
	if err := o.check(files); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	tokens := &tokenSource{c: c, fixed: o.Token, ttl: o.TokenTTL, now: now}
	if o.Minter != nil {
		tokens = &o.Minter.src
	}
	b := &batch{c: c, o: &o, files: files, tokens: tokens}
	b.prog.Files = len(files)
	b.filesMetric = newFileCounter(c)
	for _, f := range files {
		if f.Size < 0 {
			b.unknown++
		}
		b.prog.Bytes += max(f.Size, 0)
	}
	// Mint the first token before any file, so that a wrong key fails the
	// batch once rather than every file.
	if _, err := b.tokens.get(ctx, ""); err != nil {
		if errors.Is(err, wrapper.ErrNoAPIKey) {
			return nil, errNoKey
		}
		return nil, err
	}
	b.notify = newNotifier(o.Progress, b.snapshot)
	b.stop = make(chan struct{})
	if j := o.Journal; j != nil && j.len() > 0 && !slices.Contains(j.Servers(), c.BaseURL()) {
		b.res.NewServer = true
	}

	next := make(chan int)
	var wg sync.WaitGroup
	for range min(o.Jobs, max(len(files), 1)) {
		wg.Go(func() {
			for i := range next {
				// A file handed over as the batch stopped does not start.
				if ctx.Err() == nil && !b.stopped() {
					b.do(ctx, i)
				}
			}
		})
	}
feed:
	for i := range files {
		select {
		case <-ctx.Done():
			break feed
		case <-b.stop:
			break feed
		case next <- i:
		}
	}
	close(next)
	wg.Wait()
	b.notify.close()

	res := b.res
	res.NotStarted = len(files) - b.started
	res.Duration = time.Since(start)
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var err error
	if o.Minter == nil {
		err = b.tokens.deleteMinted(cleanup)
	}
	if err := ctx.Err(); err != nil {
		return &res, errors.Join(interrupted(ctx), b.stopErr, err)
	}
	return &res, errors.Join(b.stopErr, err)
}

// batch is one call of Upload.
type batch struct {
	c      *wrapper.Client
	o      *Options
	files  []File
	tokens *tokenSource
	notify *notifier

	stop chan struct{} // closed when the journal failed: no file starts any more

	mu       sync.Mutex // guards what follows, and serializes OnFile
	res      Result
	prog     Progress
	inFlight []*FileProgress
	started  int
	unknown  int   // files of a length unknown until they end: streams
	stopErr  error // why stop was closed

	filesMetric fileCounter // files by status (otel.go)
}

// stopped reports whether the batch stopped starting files.
func (b *batch) stopped() bool {
	select {
	case <-b.stop:
		return true
	default:
		return false
	}
}

// halt stops the batch from starting files, for err; the first one is kept.
func (b *batch) halt(err error) {
	if b.stopErr == nil {
		b.stopErr = err
		close(b.stop)
	}
}

// snapshot copies the batch's progress.
func (b *batch) snapshot() Progress {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.prog
	if b.unknown > 0 {
		p.Bytes = -1
	}
	p.InFlight = make([]FileProgress, len(b.inFlight))
	for i, f := range b.inFlight {
		p.InFlight[i] = *f
		p.BytesDone += f.Acked
	}
	return p
}

// do uploads, or skips, the i-th file.
func (b *batch) do(ctx context.Context, i int) {
	f := b.files[i]
	start := time.Now()
	fp := &FileProgress{Path: f.Path, Total: f.Size}
	b.mu.Lock()
	b.inFlight = append(b.inFlight, fp)
	b.started++
	b.mu.Unlock()
	b.notify.poke()

	r, sent := b.upload(ctx, f, fp)
	r.File, r.Duration = f, time.Since(start)
	b.filesMetric.record(ctx, r)

	b.mu.Lock()
	b.inFlight = slices.DeleteFunc(b.inFlight, func(p *FileProgress) bool { return p == fp })
	b.prog.Done++
	if f.Size < 0 {
		b.unknown--
	}
	size := max(r.Size, 0)
	b.prog.Bytes += size - max(f.Size, 0) // the size may have changed since the plan
	b.res.BytesSent += sent
	switch {
	case r.Status == FileUploaded:
		b.res.Uploaded++
		b.prog.BytesDone += r.Size
		b.prog.BytesSkipped += r.Size - sent
	case r.Status == FileSkipped:
		b.res.Skipped++
		b.prog.BytesDone += r.Size
		b.prog.BytesSkipped += r.Size
	case r.Status == FileUnrecorded:
		b.res.Unrecorded++
		b.prog.BytesDone += r.Size
		b.halt(fmt.Errorf("%w, so the batch stopped starting files: %w", ErrJournalNotSaved, errors.Unwrap(r.Err)))
	case ctx.Err() != nil && errors.Is(r.Err, ctx.Err()):
		b.res.Interrupted++
		b.prog.Bytes -= size
	default:
		b.res.Failed++
		b.prog.Failed++
		b.prog.Bytes -= size // what failed no longer counts toward the end
		if b.o.Journal != nil && errors.Is(r.Err, wrapper.ErrStateNotSaved) {
			b.halt(fmt.Errorf("avupload: the journal %s could not save a resume state, so the batch stopped starting files: %w",
				b.o.Journal.dir, r.Err))
		}
	}
	if b.o.OnFile != nil {
		b.o.OnFile(r)
	}
	b.mu.Unlock()
	b.notify.poke()
}

// upload handles one file and returns its result and the bytes this run sent.
func (b *batch) upload(ctx context.Context, f File, fp *FileProgress) (FileResult, int64) {
	fail := func(err error) (FileResult, int64) {
		return FileResult{Status: FileFailed, Size: f.Size, Err: err}, 0
	}
	if f.Source != nil {
		return b.send(ctx, f.Source, fp, b.o.Upload)
	}
	abs, err := filepath.Abs(f.Path)
	if err != nil {
		return fail(fmt.Errorf("avupload: %w", err))
	}
	fi, err := os.Stat(f.Path)
	if err != nil {
		return fail(fmt.Errorf("avupload: %w", err))
	}
	if !fi.Mode().IsRegular() {
		return fail(invalidInput("%s is no longer a regular file", f.Path))
	}
	j := b.o.Journal
	if j != nil {
		if e, ok := j.Done(b.c.BaseURL(), abs); ok && e.Size == fi.Size() {
			skip, err := b.unchanged(ctx, f.Path, fi, e)
			if err != nil {
				return fail(err)
			}
			if skip {
				return FileResult{Status: FileSkipped, VideoID: e.VideoID, Size: e.Size, SHA256: e.SHA256}, 0
			}
		}
		if b.o.TrackRenames {
			if r, ok := b.renamed(ctx, f.Path, abs, fi); ok {
				return r, 0
			}
		}
	}

	uo := b.o.Upload
	var store *fileStore
	if j != nil {
		store = &fileStore{ResumeStore: j.Store()}
		uo.Store = store
	}
	r, sent := b.send(ctx, wrapper.File(f.Path), fp, uo)
	if r.Status != FileUploaded || j == nil {
		return r, sent
	}
	e := JournalEntry{BaseURL: b.c.BaseURL(), Path: abs, Size: r.Size, ModTime: fi.ModTime().UTC(), SHA256: r.SHA256,
		VideoID: r.VideoID, UploadedAt: time.Now().UTC()}
	if err := j.record(e); err != nil {
		// The video is made, but the next run would send it again:
		// the batch stops, and says which file it is. Its state is
		// kept (resuming a complete upload sends nothing).
		r.Status, r.Err = FileUnrecorded, &unrecordedError{videoID: r.VideoID, err: err}
		r.Resumable = store.kept(context.WithoutCancel(ctx))
		return r, sent
	}
	if err := store.flush(context.WithoutCancel(ctx)); err != nil {
		b.c.Logger().Warn("avupload: deleting a finished upload's state", "error", err.Error())
	}
	return r, sent
}

// send uploads src with uo, on a token of the batch's, and returns the
// file's result and the bytes this run sent.
func (b *batch) send(ctx context.Context, src wrapper.Source, fp *FileProgress, uo wrapper.UploadOptions) (FileResult, int64) {
	uo.Progress = func(p wrapper.UploadProgress) {
		b.mu.Lock()
		fp.Acked, fp.Sent, fp.Pending = p.Acked, p.Sent, p.Pending
		if p.Total >= 0 {
			fp.Total = p.Total
		}
		b.mu.Unlock()
		b.notify.poke()
	}
	token, err := b.tokens.get(ctx, "")
	if err != nil {
		return FileResult{Status: FileFailed, Size: fp.Total, Err: err}, 0
	}
	res, err := b.c.Upload(ctx, token, src, &uo)
	if err != nil && b.tokens.fixed == "" && ctx.Err() == nil && errors.Is(err, wrapper.ErrUnauthorized) {
		// The minted token expired under a long upload: go on with a fresh one.
		if token, err = b.tokens.get(ctx, token); err == nil {
			res, err = b.c.Upload(ctx, token, src, &uo)
		}
	}
	if err != nil {
		return FileResult{Status: FileFailed, Size: fp.Total, Err: err}, 0
	}
	return FileResult{Status: FileUploaded, VideoID: res.Video.VideoID, Size: res.Size, SHA256: res.SHA256, Upload: res},
		res.Size - res.ResumedBytes
}

// unchanged reports whether the file at path, recorded as e, holds what
// was uploaded, as b.o.Verify asks to check.
func (b *batch) unchanged(ctx context.Context, path string, fi os.FileInfo, e JournalEntry) (bool, error) {
	if b.o.Verify == SkipIfSameStat {
		return fi.ModTime().Equal(e.ModTime), nil
	}
	sum, err := hashFile(ctx, path)
	if err != nil {
		return false, err
	}
	return sum == e.SHA256, nil
}

// renamed recognizes the file at path (abs), which the journal does not
// record as it is, as a recorded file moved there (see
// Options.TrackRenames), records it under its new path and returns its
// result: skipped, or unrecorded when the journal could not record it.
// It returns false for a file to upload.
func (b *batch) renamed(ctx context.Context, path, abs string, fi os.FileInfo) (FileResult, bool) {
	j, base := b.o.Journal, b.c.BaseURL()
	if !j.vanished(base, fi.Size()) {
		return FileResult{}, false
	}
	sum, err := hashFile(ctx, path)
	if err != nil {
		return FileResult{}, false // the upload reads it again, and says why it cannot
	}
	old, ok := j.movedFrom(base, fi.Size(), sum)
	if !ok {
		return FileResult{}, false
	}
	e := JournalEntry{BaseURL: base, Path: abs, Size: fi.Size(), ModTime: fi.ModTime().UTC(), SHA256: sum,
		VideoID: old.VideoID, UploadedAt: old.UploadedAt}
	r := FileResult{Status: FileSkipped, VideoID: old.VideoID, Size: fi.Size(), SHA256: sum}
	if err := j.record(e); err != nil {
		r.Status, r.Err = FileUnrecorded, &unrecordedError{videoID: old.VideoID, err: err}
	}
	return r, true
}

// hashBufferSize is the size of the buffer a skip check reads a file through.
const hashBufferSize = 64 << 10

// hashFile is the hex SHA-256 of the file at path.
func hashFile(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("avupload: %w", err)
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	buf := make([]byte, hashBufferSize)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", fmt.Errorf("avupload: reading %s: %w", path, err)
		}
	}
}

// tokenSource gives a batch's files their token: the one given, or one it
// minted and renews before it runs short.
type tokenSource struct {
	c     *wrapper.Client
	fixed string
	ttl   time.Duration
	now   func() time.Time

	// forget, for a source that lives for days (a Minter), drops from
	// minted the tokens surely expired, so as not to delete them all at
	// the end.
	forget bool

	mu     sync.Mutex
	cur    wrapper.UploadToken
	minted []mintedToken
}

// mintedToken is a token a source minted, and when it expires by the
// source's clock.
type mintedToken struct {
	token   string
	expires time.Time
}

// get returns the token to start an upload with; stale, when not empty, is
// a token the API refused, to be replaced.
func (t *tokenSource) get(ctx context.Context, stale string) (string, error) {
	if t.fixed != "" {
		return t.fixed, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cur.Token != "" && t.cur.Token != stale && t.cur.ExpiresAt.Sub(t.now()) > t.ttl/2 {
		return t.cur.Token, nil
	}
	tok, err := t.c.CreateUploadToken(ctx, t.ttl)
	if err != nil {
		return "", fmt.Errorf("avupload: minting an upload token for the batch: %w", err)
	}
	if tok.ExpiresAt.IsZero() {
		// The server did not say when: count from now.
		tok.ExpiresAt = t.now().Add(t.ttl)
	}
	t.cur = tok
	now := t.now()
	if t.forget {
		// A token a whole lifetime past its expiry, by this clock, is gone
		// from the server, whatever the two clocks' difference.
		t.minted = slices.DeleteFunc(t.minted, func(m mintedToken) bool { return now.After(m.expires.Add(t.ttl)) })
	}
	t.minted = append(t.minted, mintedToken{token: tok.Token, expires: now.Add(t.ttl)})
	return tok.Token, nil
}

// deleteMinted deletes every token the batch minted. A token already gone
// (expired) is not an error.
func (t *tokenSource) deleteMinted(ctx context.Context) error {
	t.mu.Lock()
	minted := t.minted
	t.minted = nil
	t.mu.Unlock()
	failed := 0
	var last error
	for _, tok := range minted {
		if err := t.c.DeleteUploadToken(ctx, tok.token); err != nil && !errors.Is(err, wrapper.ErrNotFound) {
			failed++
			last = err
		}
	}
	if failed > 0 {
		return fmt.Errorf("avupload: %d of the %d upload tokens the batch minted could not be deleted (they expire within %s): %w",
			failed, len(minted), t.ttl, last)
	}
	return nil
}

// Minter mints the upload tokens of several batches with a client's API
// key (see Options.Minter): one token at a time, renewed before it has
// less than half its lifetime left, all deleted by Close. Its zero value
// is not usable: make one with NewMinter. It is safe for concurrent use.
type Minter struct {
	src tokenSource
}

// NewMinter returns a Minter minting tokens of ttl (DefaultTokenTTL when
// 0, else whole seconds from MinTokenTTL to wrapper.MaxTokenTTL) with c,
// which must hold the API key; the first token is minted by Token or by
// the first batch.
func NewMinter(c *wrapper.Client, ttl time.Duration) (*Minter, error) {
	o := Options{TokenTTL: ttl}
	if err := o.normalize(); err != nil {
		return nil, err
	}
	return &Minter{src: tokenSource{c: c, ttl: o.TokenTTL, now: time.Now, forget: true}}, nil
}

// Token returns the current token, minting one when there is none or it
// runs short: a way to check the API key before any batch.
func (m *Minter) Token(ctx context.Context) (string, error) {
	tok, err := m.src.get(ctx, "")
	if errors.Is(err, wrapper.ErrNoAPIKey) {
		return "", errNoKey
	}
	return tok, err
}

// Close deletes every token the Minter minted, but for those that expired
// long ago (a lifetime past their expiry), which it forgot.
// A Minter can go on minting after it.
func (m *Minter) Close(ctx context.Context) error { return m.src.deleteMinted(ctx) }

// notifier calls fn with what snap returns whenever poked, from one
// goroutine, coalescing the pokes that arrive while fn runs.
type notifier struct {
	poked chan struct{}
	done  chan struct{}
}

func newNotifier(fn func(Progress), snap func() Progress) *notifier {
	n := &notifier{poked: make(chan struct{}, 1), done: make(chan struct{})}
	if fn == nil {
		close(n.done)
		n.poked = nil
		return n
	}
	go func() {
		defer close(n.done)
		for range n.poked {
			fn(snap())
		}
	}()
	return n
}

func (n *notifier) poke() {
	if n.poked == nil {
		return
	}
	select {
	case n.poked <- struct{}{}:
	default:
	}
}

// close ends the notifier after a last call with the final figures.
func (n *notifier) close() {
	if n.poked != nil {
		n.poke()
		close(n.poked)
	}
	<-n.done
}

// unrecordedError is the error of a file uploaded but not recorded.
type unrecordedError struct {
	videoID string
	err     error
}

func (e *unrecordedError) Error() string {
	return fmt.Sprintf("uploaded as video %s, but not recorded: %v", e.videoID, e.err)
}

func (e *unrecordedError) Unwrap() error { return e.err }
