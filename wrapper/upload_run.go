package wrapper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// run drives an upload through its phases: plan (load the saved state,
// check it against the source, cut the source into chunks), first chunk
// (alone, when it makes the video), pump (the others, concurrently) and
// finish (check and report). A resumed seekable upload whose saved video
// the API refuses goes through them once more as a new video: a loop of
// at most two turns, never a recursion.
func (u *upload) run(ctx context.Context) (*UploadResult, error) {
	saved, err := u.loadState(ctx)
	if err != nil {
		return nil, err
	}
	for {
		p, err := u.plan(ctx, saved)
		if err != nil {
			return nil, err
		}
		res, err := u.transfer(ctx, p)
		p.k.stop()
		if err == nil || p.saved == nil || !videoGone(err) || ctx.Err() != nil {
			return res, err
		}
		// The API refused the saved video: it expired, or the token may
		// not add to it. Its state is of no more use.
		u.startOver(ctx, p.saved, fmt.Errorf("the API refused video %s: %w", p.saved.VideoID, errors.Unwrap(err)))
		if err := u.opts.Store.Delete(context.WithoutCancel(ctx), u.key); err != nil {
			u.log.LogAttrs(ctx, slog.LevelWarn, "avupload: deleting the upload state", slog.String("error", err.Error()))
		}
		u.stored = false
		if u.src.at == nil {
			// A stream cannot be read again: this upload fails, the next
			// one starts afresh.
			return nil, &UploadError{Err: errors.Unwrap(err)}
		}
		saved = nil
	}
}

// plan is what one pass through the phases works from.
type plan struct {
	k       chunker
	seek    *seekChunker // k, for a seekable source; nil for a stream
	first   *chunk       // the first chunk to send; nil when none is left
	videoID string       // the video to add to; empty to make one
	saved   *UploadState // the state resumed from; nil for a new video
	acked   ackSet       // chunks acknowledged by an earlier run
}

// resumedBytes is the bytes an earlier run sent.
func (p *plan) resumedBytes() int64 {
	if p.saved == nil {
		return 0
	}
	return p.saved.AckedBytes()
}

// loadState returns the saved state this upload goes on from, nil when
// there is none or Restart is set, or an error when the store holds a state
// this upload may neither use nor replace.
func (u *upload) loadState(ctx context.Context) (*UploadState, error) {
	o := &u.opts
	if o.Store == nil || o.Restart {
		u.stored = o.Store != nil
		return nil, nil
	}
	s, err := o.Store.Load(ctx, u.key)
	switch {
	case err != nil && errors.Is(err, ErrStateConflict):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrStateConflict, err)
	case s == nil:
		return nil, nil
	}
	u.stored = true
	conflict := func(format string, args ...any) error {
		return fmt.Errorf("%w: it is for %s", ErrStateConflict, fmt.Sprintf(format, args...))
	}
	switch {
	case s.Source != u.source:
		return nil, conflict("%s, not %s", describeSource(s.Source), describeSource(u.source))
	case s.BaseURL != u.c.baseURL:
		return nil, conflict("the API at %s, not %s", s.BaseURL, u.c.baseURL)
	case o.VideoID != "" && o.VideoID != s.VideoID:
		return nil, conflict("video %s, not %s", s.VideoID, o.VideoID)
	case u.src.at == nil && s.Total != u.src.size:
		return nil, fmt.Errorf("%w: the saved upload was of %s, this stream is of %s", ErrSourceChanged,
			sizeWords(s.Total), sizeWords(u.src.size))
	}
	return s, nil
}

// sizeWords says a size, or that it is unknown.
func sizeWords(n int64) string {
	if n < 0 {
		return "unknown length"
	}
	return fmt.Sprintf("%d bytes", n)
}

// plan is the first phase: it checks a saved state against the source
// and cuts the source into chunks. A seekable source whose size or
// acknowledged chunks differ from the saved ones starts over; a stream's
// skipped chunks are checked as the chunker reads them.
func (u *upload) plan(ctx context.Context, saved *UploadState) (*plan, error) {
	o := &u.opts
	u.prior, u.state, u.resumed = nil, nil, 0
	size := u.src.size
	fresh := newLayout(o.ChunkSize, o.Concurrency, size)
	u.lay = fresh
	if saved != nil {
		u.lay = savedLayout(saved)
	}
	p := &plan{videoID: o.VideoID}
	if u.src.at != nil {
		if saved != nil && saved.Total != size {
			u.startOver(ctx, saved, fmt.Errorf("%w: the file holds %d bytes, the saved upload was of %d",
				ErrSourceChanged, size, saved.Total))
			saved, u.lay = nil, fresh
		}
		if err := u.checkChunkCount(size); err != nil {
			return nil, err
		}
		sk := newSeekChunker(ctx, u.src.at, size, u.lay, u.src.resized)
		if saved != nil {
			err := u.verify(ctx, sk, saved)
			switch {
			case errors.Is(err, ErrSourceChanged):
				u.startOver(ctx, saved, err)
				saved = nil
				if u.lay != fresh {
					sk.stop()
					u.lay = fresh
					if err := u.checkChunkCount(size); err != nil {
						return nil, err
					}
					sk = newSeekChunker(ctx, u.src.at, size, u.lay, u.src.resized)
				}
			case err != nil:
				sk.stop()
				return nil, u.fail(ctx, err)
			}
		}
		p.k, p.seek = sk, sk
	} else {
		if size > 0 && u.lay.count(size) > maxParts {
			return nil, invalidInput("%d bytes in chunks of %d make more than %d chunks; use larger chunks",
				size, u.lay.cs, maxParts)
		}
		rk := newReadChunker(u.src.r, size, u.lay, o.Concurrency+1)
		if saved != nil {
			rk.resume(saved.Acked)
		}
		p.k = rk
	}

	if saved != nil {
		p.saved = saved
		p.videoID = saved.VideoID
		u.prior = make(map[int]AckedChunk, len(saved.Acked)+len(saved.Sending))
		for _, c := range saved.Acked {
			p.acked.add(c.Index)
			u.prior[c.Index] = c
		}
		if saved.VideoMade {
			for _, c := range saved.Sending {
				u.prior[c.Index] = c
			}
		}
		u.state = saved.Clone()
		u.state.Version = stateVersion
		u.state.ModTime = u.src.modTime
		u.resumed = len(saved.Acked)
	}
	if p.seek != nil {
		p.seek.skip = slices.Clone(p.acked)
	}
	// For a stream, this reads and checks every acknowledged chunk.
	first, err := p.k.next(ctx)
	switch {
	case errors.Is(err, io.EOF):
	case err != nil:
		p.k.stop()
		return nil, u.fail(ctx, err)
	default:
		p.first = first
		if p.videoID != "" && u.state == nil && !first.whole {
			u.state = u.newState(p.videoID)
		}
	}
	if saved != nil {
		u.log.LogAttrs(ctx, slog.LevelInfo, "avupload: resuming upload", slog.String("video", saved.VideoID),
			slog.Int("acked", u.resumed))
		if o.OnState != nil {
			o.OnState(StateEvent{Kind: StateResumed, VideoID: saved.VideoID, Acked: len(saved.Acked), ChunkSize: saved.ChunkSize})
		}
	}
	return p, nil
}

// checkChunkCount refuses a source that needs more chunks than the API takes.
func (u *upload) checkChunkCount(size int64) error {
	if n := u.lay.count(size); n > maxParts {
		return invalidInput("%d bytes in chunks of %d make %d chunks, above the API's limit of %d; use larger chunks",
			size, u.lay.cs, n, maxParts)
	}
	return nil
}

// verify reads the source again up to the last chunk a saved state
// acknowledged or records as being sent, and compares the source's SHA-256
// at the end of each such chunk with the saved one, before anything is
// sent: the API may hold a chunk being sent, so its bytes must be the
// file's as much as an acknowledged chunk's. The chunker's hashing pass
// does the reading, so a resume reads no byte twice; it waits for the pass
// to get past the last chunk checked.
func (u *upload) verify(ctx context.Context, k *seekChunker, saved *UploadState) error {
	var from int64 // the first byte not yet found the same
	check := func(c AckedChunk, what string) error {
		s, err := k.chunkSum(ctx, c.Index)
		if err != nil {
			return err
		}
		end := savedLayout(saved).start(c.Index) + c.Size
		if s.prefix != c.PrefixSHA256 {
			return fmt.Errorf("%w: %s, through chunk %d, differ from those of the saved upload of video %s%s",
				ErrSourceChanged, byteSpan("the file's", from, end), c.Index, saved.VideoID, what)
		}
		from = max(from, end)
		return nil
	}
	for _, c := range saved.Acked {
		if err := check(c, ""); err != nil {
			return err
		}
	}
	from = 0
	for _, c := range saved.Sending {
		if err := check(c, ", which was sending that chunk"); err != nil {
			return err
		}
	}
	return nil
}

// byteSpan names the bytes from from to end (excluded) of whose.
func byteSpan(whose string, from, end int64) string {
	return fmt.Sprintf("%s bytes %d to %d", whose, from, end-1)
}

// startOver reports that a saved state's video is not continued.
func (u *upload) startOver(ctx context.Context, saved *UploadState, why error) {
	u.log.LogAttrs(ctx, slog.LevelWarn, "avupload: not resuming the saved upload; starting over as a new video",
		slog.String("video", saved.VideoID), slog.String("reason", why.Error()))
	if u.opts.OnState != nil {
		u.opts.OnState(StateEvent{Kind: StateStartedOver, VideoID: saved.VideoID, Acked: len(saved.Acked),
			ChunkSize: saved.ChunkSize, Err: why})
	}
}

// transfer runs the phases after plan: the first chunk, the pump, the finish.
func (u *upload) transfer(ctx context.Context, p *plan) (*UploadResult, error) {
	r := &runner{u: u, k: p.k, prog: u.prog, acked: p.acked}
	r.ackedBytes = p.resumedBytes()
	u.prog.update(r.ackedBytes, p.k.total())

	first, videoID, err := r.sendFirst(ctx, p.first, p.videoID)
	if err != nil {
		return nil, u.fail(ctx, r.resized(ctx, err))
	}
	if err := r.pump(ctx, first, videoID); err != nil {
		return nil, u.fail(ctx, r.resized(ctx, err))
	}
	res, err := r.finish(ctx, p, videoID)
	if err != nil {
		return nil, u.fail(ctx, r.resized(ctx, err))
	}
	return res, nil
}

// resized returns err, and when it is a file that changed size during its
// upload, discards the state: the video holds bytes of the file as it was.
func (r *runner) resized(ctx context.Context, err error) error {
	var re *resizedError
	if !errors.As(err, &re) {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.discard(ctx, err, "the bytes sent while the source changed")
}

// sendFirst is the second phase: a chunk that makes the video goes alone,
// since every other chunk needs its id. It returns what is left for the
// pump: the first chunk when it was not sent here, and the video's id.
func (r *runner) sendFirst(ctx context.Context, first *chunk, videoID string) (*chunk, string, error) {
	u := r.u
	if videoID != "" || first == nil {
		return first, videoID, nil
	}
	first.flow = &r.prog.inflight
	v, err := r.send(ctx, first, "")
	if err != nil {
		first.drop()
		r.k.release(first)
		return nil, "", err
	}
	if !first.whole {
		u.state = u.newState(v.VideoID)
		u.state.VideoMade = true
	}
	err = r.ack(ctx, first, v)
	r.k.release(first)
	return nil, v.VideoID, err
}

// finish is the last phase: it checks that every chunk was acknowledged
// and that the bytes acknowledged are the source's, deletes the state and
// reports the result.
func (r *runner) finish(ctx context.Context, p *plan, videoID string) (*UploadResult, error) {
	u := r.u
	total := p.k.total()
	n := int(u.lay.count(total))
	if len(r.ackedIndexes()) != n {
		return nil, errors.New("avupload: internal error: not every chunk was acknowledged")
	}
	// Every chunk's bytes as sent were checked against the hashing when
	// it was acknowledged (see chunker.confirm), and those of an earlier
	// run when it was resumed: sum is the hash of what the API holds.
	sum, err := p.k.sum(ctx)
	if err != nil {
		return nil, err
	}
	// A file that grew since the hashing pass ended holds bytes no chunk sent.
	if err := u.src.resized(); err != nil {
		return nil, err
	}
	if u.opts.Store != nil && u.stored {
		if err := u.opts.Store.Delete(ctx, u.key); err != nil {
			u.log.LogAttrs(ctx, slog.LevelWarn, "avupload: deleting the upload state", slog.String("error", err.Error()))
		}
	}
	u.prog.update(total, total)
	video := Video{VideoID: videoID}
	if r.final != nil {
		video = *r.final
	}
	return &UploadResult{
		Video:         video,
		Size:          total,
		SHA256:        sum,
		ChunkSize:     u.lay.cs,
		Chunks:        n,
		ResumedChunks: u.resumed,
		ResumedBytes:  p.resumedBytes(),
	}, nil
}

// videoGone reports whether err is the API saying that the video chunks
// were sent to does not exist.
func videoGone(err error) bool {
	var e *APIError
	return errors.As(err, &e) &&
		(e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusBadRequest && e.Name == "videoId")
}

func (u *upload) newState(videoID string) *UploadState {
	return &UploadState{
		Version:        stateVersion,
		BaseURL:        u.c.baseURL,
		Source:         u.source,
		VideoID:        videoID,
		ChunkSize:      u.lay.cs,
		FirstChunkSize: u.lay.first,
		Total:          u.src.size,
		ModTime:        u.src.modTime,
		Acked:          []AckedChunk{},
		UpdatedAt:      time.Now().UTC(),
	}
}

// fail wraps the cause of a failed upload with the state to resume from.
func (u *upload) fail(ctx context.Context, err error) error {
	var ue *UploadError
	if errors.As(err, &ue) {
		return err
	}
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = errors.Join(interrupted(ctx), err)
	} else if ctx.Err() != nil {
		err = interrupted(ctx)
	}
	return &UploadError{State: u.state.Clone(), Err: err}
}

// runner is the concurrent part of an upload.
type runner struct {
	u    *upload
	k    chunker
	prog *progress

	// mu guards what ack changes (these fields and u.state) and orders
	// the state saves, so that a newer state is never overwritten by an
	// older one.
	mu         sync.Mutex
	acked      ackSet
	ackedBytes int64
	final      *Video
}

// pump sends every chunk the chunker gives (after first, when not nil) with
// Concurrency workers. A worker records each acknowledged chunk, state saved,
// before it takes the next one, so that a crash can lose at most the chunks
// in flight. pump returns the first failure, after every goroutine it
// started has ended.
func (r *runner) pump(ctx context.Context, first *chunk, videoID string) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan *chunk)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(jobs)
		for ch := first; ; {
			if ch == nil {
				var err error
				if ch, err = r.k.next(ctx); errors.Is(err, io.EOF) {
					return
				} else if err != nil {
					cancel(err)
					return
				}
			}
			select {
			case jobs <- ch:
				ch = nil
			case <-ctx.Done():
				r.k.release(ch)
				return
			}
		}
	})
	for range r.u.opts.Concurrency {
		wg.Go(func() {
			for ch := range jobs {
				if ctx.Err() != nil {
					r.k.release(ch) // another chunk failed: send nothing more
					continue
				}
				ch.flow = &r.prog.inflight
				err := r.intend(ctx, ch)
				var v *videoAnswer
				if err == nil {
					v, err = r.send(ctx, ch, videoID)
				}
				if err != nil {
					ch.drop()
					r.k.release(ch)
					cancel(err)
					continue
				}
				err = r.ack(ctx, ch, v)
				r.k.release(ch)
				if err != nil {
					cancel(err)
				}
			}
		})
	}
	wg.Wait()
	// The first cancellation's cause is the failure the others followed
	// from, or the caller's own cancellation; nil when all went well.
	return context.Cause(ctx)
}

// intend records ch in the state as being sent, with the source's SHA-256
// through it, and saves the state, before the chunk's first byte goes: a
// run that stops before the chunk's answer leaves a state that says the API
// may hold the chunk, so that the next run believes the API when it says
// so (see runner.landedBefore), and no other chunk's. A chunk recorded so
// already (sent again, or by the run resumed) is not saved again. Without a
// state (the video is not known yet) it does nothing. It fails as ack does
// when the state cannot be saved, before anything is sent.
func (r *runner) intend(ctx context.Context, ch *chunk) error {
	r.mu.Lock()
	none := r.u.state == nil
	r.mu.Unlock()
	if none {
		return nil
	}
	prefix, err := r.k.prefix(ctx, ch)
	if err != nil {
		return err
	}
	rec := AckedChunk{Index: ch.index, Size: ch.n, PrefixSHA256: prefix}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.u.state
	if s == nil {
		return nil
	}
	i, found := slices.BinarySearchFunc(s.Sending, ch.index, func(c AckedChunk, i int) int { return c.Index - i })
	switch {
	case found && s.Sending[i] == rec:
		return nil
	case found:
		s.Sending[i] = rec
	default:
		s.Sending = slices.Insert(s.Sending, i, rec)
	}
	return r.save(ctx, s)
}

// ack records an acknowledged chunk with the source's hash through it,
// saves the state and reports progress. It fails when the state cannot be
// saved, unless the options say to go on, and when the chunk's bytes as
// sent are not those hashed: the video then holds a mix no later run
// should go on with, so the state is discarded. It is safe to call from
// several workers.
func (r *runner) ack(ctx context.Context, ch *chunk, v *videoAnswer) error {
	sum, err := r.k.confirm(ctx, ch)
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.u
	if err != nil {
		if !errors.Is(err, ErrSourceChanged) || u.state == nil {
			return err
		}
		return r.discard(ctx, err, "the bytes sent while the source changed")
	}
	r.acked.add(ch.index)
	r.ackedBytes += ch.n
	// Chunks answer with little more than the video id, but for the one
	// that completed the video, whose answer has the whole video. With
	// concurrent chunks, that answer may come before another's.
	if v != nil && (r.final == nil || v.Assets != nil) {
		video := videoFrom(&v.Video, v.raw)
		r.final = &video
	}
	r.prog.update(r.ackedBytes, r.k.total())
	s := u.state
	if s == nil {
		return nil
	}
	if i, found := slices.BinarySearchFunc(s.Sending, ch.index, func(c AckedChunk, i int) int { return c.Index - i }); found {
		s.Sending = slices.Delete(s.Sending, i, i+1)
	}
	i, _ := slices.BinarySearchFunc(s.Acked, ch.index, func(c AckedChunk, i int) int { return c.Index - i })
	s.Acked = slices.Insert(s.Acked, i, AckedChunk{Index: ch.index, Size: ch.n, PrefixSHA256: sum})
	return r.save(ctx, s)
}

// save saves s, the upload's state, in the store when there is one; r.mu is
// held, so that a newer state is never overwritten by an older one. A
// failure is reported to OnState, and returned as ErrStateNotSaved unless
// the options say to go on.
func (r *runner) save(ctx context.Context, s *UploadState) error {
	u := r.u
	s.UpdatedAt = time.Now().UTC()
	if u.opts.Store == nil {
		return nil
	}
	// A cancelled upload still records what landed.
	err := u.opts.Store.Save(context.WithoutCancel(ctx), u.key, s)
	if err == nil {
		u.stored = true
		return nil
	}
	u.log.LogAttrs(ctx, slog.LevelWarn, "avupload: saving the upload state", slog.String("error", err.Error()))
	if u.opts.OnState != nil {
		u.opts.OnState(StateEvent{Kind: StateSaveFailed, VideoID: s.VideoID, Acked: len(s.Acked), ChunkSize: s.ChunkSize, Err: err})
	}
	if u.opts.IgnoreStoreErrors {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrStateNotSaved, err)
}

// unsend takes ch out of the state's write-ahead record, after the API
// refused it, and saves the state when it changed.
func (r *runner) unsend(ctx context.Context, ch *chunk) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.u.state
	if s == nil {
		return nil
	}
	i, found := slices.BinarySearchFunc(s.Sending, ch.index, func(c AckedChunk, i int) int { return c.Index - i })
	if !found {
		return nil
	}
	s.Sending = slices.Delete(s.Sending, i, i+1)
	return r.save(ctx, s)
}

// discard drops the state of a video no later run should go on with (err
// says why, holds what the video holds). r.mu is held.
func (r *runner) discard(ctx context.Context, err error, holds string) error {
	u := r.u
	if u.state == nil {
		return err
	}
	video := u.state.VideoID
	u.state = nil // no later ack saves it again
	if u.opts.Store != nil && u.stored {
		if derr := u.opts.Store.Delete(context.WithoutCancel(ctx), u.key); derr != nil {
			return errors.Join(err, fmt.Errorf("%w: discarding the state of video %s: %w", ErrStateNotSaved, video, derr))
		}
		u.stored = false
	}
	return fmt.Errorf("%w; video %s holds %s, and the upload state is discarded: the next upload of this file starts a new video", err, video, holds)
}

func (r *runner) ackedIndexes() []int {
	var out []int
	for i, ok := range r.acked {
		if ok {
			out = append(out, i)
		}
	}
	return out
}

// progress delivers counts to a callback from its own goroutine, keeping
// only the latest count when the callback is slower than the upload. It
// samples the bytes in flight every ProgressInterval.
type progress struct {
	fn       func(UploadProgress)
	inflight atomic.Int64 // bytes of chunks read into requests, not yet acknowledged
	kick     chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	acked    int64
	total    int64
}

func newProgress(fn func(UploadProgress)) *progress {
	p := &progress{fn: fn}
	if fn == nil {
		return p
	}
	p.kick = make(chan struct{}, 1)
	p.done = make(chan struct{})
	go p.loop()
	return p
}

func (p *progress) update(acked, total int64) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	p.acked, p.total = max(p.acked, acked), total
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// sample returns the counts now: Sent never below what was reported
// before, nor above the total. An acknowledged chunk leaves inflight before
// it joins acked, so a sample never counts it twice.
func (p *progress) sample(last UploadProgress) UploadProgress {
	p.mu.Lock()
	acked, total := p.acked, p.total
	p.mu.Unlock()
	sent := max(last.Sent, acked+p.inflight.Load())
	if total >= 0 {
		sent = min(sent, total)
	}
	return UploadProgress{Acked: acked, Sent: max(sent, acked), Total: total}
}

func (p *progress) loop() {
	defer close(p.done)
	tick := time.NewTicker(ProgressInterval)
	defer tick.Stop()
	last := UploadProgress{Acked: -1, Total: -2}
	for {
		select {
		case _, ok := <-p.kick:
			if !ok {
				if now := p.sample(last); now != last {
					p.fn(now)
				}
				return
			}
		case <-tick.C:
		}
		if now := p.sample(last); now != last {
			p.fn(now)
			last = now
		}
	}
}

// close waits for the last count to be delivered.
func (p *progress) close() {
	if p.fn == nil {
		return
	}
	close(p.kick)
	<-p.done
}
