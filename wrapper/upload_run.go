package wrapper

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// run drives an upload through its passes. A pass sends the source to one
// video through four phases, each a function below, in this order: plan
// (newPass: the saved state checked against the source and the source cut
// into chunks, both by newChunker), first chunk (sendFirst: alone, when it
// makes the video), pump (the others, concurrently: each recorded as being
// sent by intend, sent by send, recorded as acknowledged by ack) and finish
// (check and report). A resumed seekable upload whose saved video the API
// refuses goes through a second pass as a new video: a loop of at most two
// turns, never a recursion.
func (u *upload) run(ctx context.Context) (*UploadResult, error) {
	saved, stored, err := u.loadState(ctx)
	if err != nil {
		return nil, err
	}
	for {
		p, err := u.newPass(ctx, saved, stored)
		if err != nil {
			return nil, err
		}
		res, err := p.run(ctx)
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
		if u.src.at == nil {
			// A stream cannot be read again: this upload fails, the next
			// one starts afresh.
			return nil, &UploadError{Err: errors.Unwrap(err)}
		}
		saved, stored = nil, false
	}
}

// loadState returns the saved state this upload goes on from, nil when
// there is none or Restart is set, or an error when the store holds a state
// this upload may neither use nor replace. stored is set when the store
// may hold a state under the upload's key.
func (u *upload) loadState(ctx context.Context) (saved *UploadState, stored bool, err error) {
	o := &u.opts
	if o.Store == nil || o.Restart {
		return nil, o.Store != nil, nil
	}
	s, err := o.Store.Load(ctx, u.key)
	switch {
	case err != nil && errors.Is(err, ErrStateConflict):
		return nil, false, err
	case err != nil:
		return nil, false, fmt.Errorf("%w: %w", ErrStateConflict, err)
	case s == nil:
		return nil, false, nil
	}
	conflict := func(format string, args ...any) error {
		return fmt.Errorf("%w: it is for %s", ErrStateConflict, fmt.Sprintf(format, args...))
	}
	switch {
	case s.Source != u.source:
		return nil, true, conflict("%s, not %s", describeSource(s.Source), describeSource(u.source))
	case s.BaseURL != u.c.baseURL:
		return nil, true, conflict("the API at %s, not %s", s.BaseURL, u.c.baseURL)
	case o.VideoID != "" && o.VideoID != s.VideoID:
		return nil, true, conflict("video %s, not %s", s.VideoID, o.VideoID)
	case u.src.at == nil && s.Total != u.src.size:
		return nil, true, fmt.Errorf("%w: the saved upload was of %s, this stream is of %s", ErrSourceChanged,
			sizeWords(s.Total), sizeWords(u.src.size))
	}
	return s, true, nil
}

// sizeWords says a size, or that it is unknown.
func sizeWords(n int64) string {
	if n < 0 {
		return "unknown length"
	}
	return fmt.Sprintf("%d bytes", n)
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

// pass is one pass of an upload through its phases, to one video: what
// its plan found, and what its workers share.
type pass struct {
	u       *upload
	k       chunker
	lay     layout // k's
	first   *chunk // the first chunk, until a phase takes it; nil when none is left
	videoID string // the video to add to; empty until the first chunk makes one
	// saved is the state resumed from, nil for a new video; prior holds
	// the chunks it records as sent or acknowledged, by index: an earlier
	// run sent them, so the API's saying it holds their range already is
	// believed (see pass.landedBefore).
	saved *UploadState
	prior map[int]AckedChunk

	// mu guards what the workers change (the fields below) and orders the
	// state saves, so that a newer state is never overwritten by an older
	// one.
	mu    sync.Mutex
	state *UploadState // saved as chunks go; nil until the video id is known
	// stored is set when the store may hold a state under the upload's
	// key: one was loaded or saved. Success deletes it.
	stored     bool
	acked      ackSet // chunks acknowledged, by this run or the one resumed
	ackedBytes int64
	final      *Video // the latest answer's video, the whole one when it came

	// bg runs the opening of connections ahead of chunks (warmAhead),
	// under bgCtx, which ends with the pass.
	bg    sync.WaitGroup
	bgCtx context.Context
	// gate bounds the pump's chunks in flight (see adaptive); nil before
	// the pump. A chunk's retry tells it that the server pushes back.
	gate *adaptive
}

// newPass is the first phase, the plan: it cuts the source into chunks,
// going on with saved when the source is the one saved (see newChunker),
// starting over as a new video when a file changed, and reads the first
// chunk: for a stream, this reads and checks every acknowledged chunk.
func (u *upload) newPass(ctx context.Context, saved *UploadState, stored bool) (*pass, error) {
	o := &u.opts
	k, why, err := newChunker(ctx, u.src, newLayout(o.ChunkSize, u.start, u.src.size), saved, o.Concurrency)
	if why != nil {
		u.startOver(ctx, saved, why)
		saved = nil
	}
	switch {
	case errors.Is(err, ErrInvalidInput):
		// A source that needs more chunks than the API takes: refused
		// before any request.
		return nil, err
	case err != nil:
		return nil, failed(ctx, nil, err)
	}
	p := &pass{u: u, k: k, lay: k.layout(), videoID: o.VideoID, stored: stored}
	u.c.caller.tel.resumed(ctx, saved)
	if saved != nil {
		p.saved = saved
		p.videoID = saved.VideoID
		p.prior = make(map[int]AckedChunk, len(saved.Acked)+len(saved.Sending))
		for _, c := range saved.Acked {
			p.acked.add(c.Index)
			p.prior[c.Index] = c
		}
		if saved.VideoMade {
			for _, c := range saved.Sending {
				p.prior[c.Index] = c
			}
		}
		p.state = saved.Clone()
		p.state.Version = stateVersion
		p.state.ModTime = u.src.modTime
		p.ackedBytes = saved.AckedBytes()
	}
	first, err := k.next(ctx)
	switch {
	case errors.Is(err, io.EOF):
	case err != nil:
		k.stop()
		return nil, p.fail(ctx, err)
	default:
		p.first = first
		if p.videoID != "" && p.state == nil && !first.whole {
			p.state = p.newState(p.videoID)
		}
	}
	if saved != nil {
		u.log.LogAttrs(ctx, slog.LevelInfo, "avupload: resuming upload", slog.String("video", saved.VideoID),
			slog.Int("acked", len(saved.Acked)))
		if o.OnState != nil {
			o.OnState(StateEvent{Kind: StateResumed, VideoID: saved.VideoID, Acked: len(saved.Acked), ChunkSize: saved.ChunkSize})
		}
	}
	return p, nil
}

// newState is the state of a new video, cut as the pass cuts the source.
func (p *pass) newState(videoID string) *UploadState {
	return &UploadState{
		Version:        stateVersion,
		BaseURL:        p.u.c.baseURL,
		Source:         p.u.source,
		VideoID:        videoID,
		ChunkSize:      p.lay.cs,
		FirstChunkSize: p.lay.first,
		Total:          p.u.src.size,
		ModTime:        p.u.src.modTime,
		Acked:          []AckedChunk{},
		UpdatedAt:      time.Now().UTC(),
	}
}

// run goes through the phases after the plan: the first chunk, the pump,
// the finish.
func (p *pass) run(ctx context.Context) (*UploadResult, error) {
	// What runs beside the phases ends with them.
	var stop context.CancelFunc
	p.bgCtx, stop = context.WithCancel(ctx)
	defer func() {
		stop()
		p.bg.Wait()
	}()
	p.u.prog.update(p.ackedBytes, p.k.total())
	if err := p.sendFirst(ctx); err != nil {
		return nil, p.fail(ctx, p.resized(ctx, err))
	}
	if err := p.pump(ctx); err != nil {
		return nil, p.fail(ctx, p.resized(ctx, err))
	}
	res, err := p.finish(ctx)
	if err != nil {
		return nil, p.fail(ctx, p.resized(ctx, err))
	}
	return res, nil
}

// sendFirst is the second phase: a chunk that makes the video goes alone,
// since every other chunk needs its id. It leaves the first chunk to the
// pump when the video is known already.
func (p *pass) sendFirst(ctx context.Context) error {
	first := p.first
	if p.videoID != "" || first == nil {
		return nil
	}
	p.first = nil
	first.flow = &p.u.prog.inflight
	v, err := p.send(p.warmAhead(ctx, first), first, "")
	if err != nil {
		first.drop()
		p.k.release(first)
		return err
	}
	p.videoID = v.VideoID
	if !first.whole {
		p.mu.Lock()
		p.state = p.newState(v.VideoID)
		p.state.VideoMade = true
		p.mu.Unlock()
	}
	err = p.ack(ctx, first, v)
	p.k.release(first)
	return err
}

// warmAhead returns ctx, traced so that when the first chunk's request
// opens a new connection, the connections the chunks after it will need
// at once are opened too, while it goes (see Client.warm): their
// handshakes are then done when the chunks start. When it reuses a
// connection, the pool is warm from earlier uploads already.
func (p *pass) warmAhead(ctx context.Context, first *chunk) context.Context {
	u := p.u
	if first.whole {
		return ctx
	}
	after := int64(u.start)
	if total := p.k.total(); total >= 0 {
		after = min(after, p.lay.count(total)-1)
	}
	n := int(after) - 1 // one goes on the first chunk's connection
	if n <= 0 {
		return ctx
	}
	var once sync.Once
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		ConnectStart: func(string, string) {
			once.Do(func() { p.bg.Go(func() { u.c.warm(p.bgCtx, u.opts.HTTP2, n) }) })
		},
	})
}

// pump is the third phase: it sends every chunk the chunker gives (after
// p.first, when not nil) with workers as many as the ceiling of
// concurrency, as many of them at once as the pass's gate allows (see
// adaptive). A worker records each chunk as being sent (intend), sends it
// (send, in upload_send.go) and records it as acknowledged (ack), state
// saved, before it gives its place back (sendOne), so that a crash can lose
// at most the chunks in flight. pump returns the first failure, after every
// goroutine it started has ended.
func (p *pass) pump(ctx context.Context) error {
	first, videoID := p.first, p.videoID
	p.first = nil
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	u := p.u
	jobs := make(chan *chunk)
	var drained atomic.Bool // every chunk was handed to a worker
	// The rule's goroutine, and the connection it opens before a raise,
	// end with the workers.
	adaptCtx, stopAdapting := context.WithCancel(ctx)
	window := cmp.Or(u.c.adaptWindow, adaptWindow)
	g := newAdaptive(u.start, u.opts.Concurrency, window, p.k.total(), p.sentBytes, func() bool { return !drained.Load() },
		func() { u.c.warm(adaptCtx, u.opts.HTTP2, 1) })
	p.gate = g // before the workers start: they read it
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(jobs)
		for ch := first; ; {
			if ch == nil {
				var err error
				if ch, err = p.k.next(ctx); errors.Is(err, io.EOF) {
					drained.Store(true)
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
				p.k.release(ch)
				return
			}
		}
	})
	for range u.opts.Concurrency {
		wg.Go(func() {
			for g.acquire(ctx) == nil {
				ch, ok := <-jobs
				if !ok {
					g.release(0, 0)
					return
				}
				g.release(p.sendOne(ctx, cancel, ch, videoID))
			}
		})
	}
	adapted := make(chan struct{})
	go func() {
		defer close(adapted)
		g.run(adaptCtx)
	}()
	wg.Wait()
	stopAdapting()
	<-adapted
	// The first cancellation's cause is the failure the others followed
	// from, or the caller's own cancellation; nil when all went well.
	return context.Cause(ctx)
}

// sendOne is a pump worker's turn with ch: it records the chunk as being
// sent, sends it and records it as acknowledged, or cancels the pump with
// the failure; nothing is sent once the pump is cancelled. It returns the
// size and duration the adaptive rule measures the chunk by: zero unless
// the chunk was answered and is of the layout's full size (a short last
// chunk's time is mostly its round trip).
func (p *pass) sendOne(ctx context.Context, cancel context.CancelCauseFunc, ch *chunk, videoID string) (int64, time.Duration) {
	defer p.k.release(ch)
	if ctx.Err() != nil {
		return 0, 0 // another chunk failed: send nothing more
	}
	ch.flow = &p.u.prog.inflight
	err := p.intend(ctx, ch)
	start := time.Now() // the request's time, not the state's
	var v *videoAnswer
	if err == nil {
		v, err = p.send(ctx, ch, videoID)
	}
	if err != nil {
		ch.drop()
		cancel(err)
		return 0, 0
	}
	took := time.Since(start)
	if err := p.ack(ctx, ch, v); err != nil {
		cancel(err)
	}
	if ch.n != p.lay.cs {
		return 0, 0
	}
	return ch.n, took
}

// sentBytes is how many bytes of the source the pass has sent: those
// acknowledged and those in requests not answered yet.
func (p *pass) sentBytes() int64 {
	p.mu.Lock()
	acked := p.ackedBytes
	p.mu.Unlock()
	return acked + p.u.prog.inflight.bytes.Load()
}

// intend records ch in the state as being sent, with the source's SHA-256
// through it, and saves the state, before the chunk's first byte goes: a
// run that stops before the chunk's answer leaves a state that says the API
// may hold the chunk, so that the next run believes the API when it says
// so (see pass.landedBefore), and no other chunk's. A chunk recorded so
// already (sent again, or by the run resumed) is not saved again. Without a
// state (the video is not known yet) it does nothing. It fails as ack does
// when the state cannot be saved, before anything is sent.
func (p *pass) intend(ctx context.Context, ch *chunk) error {
	p.mu.Lock()
	none := p.state == nil
	p.mu.Unlock()
	if none {
		return nil
	}
	prefix, err := p.k.prefix(ctx, ch)
	if err != nil {
		return err
	}
	rec := AckedChunk{Index: ch.index, Size: ch.n, PrefixSHA256: prefix}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.state
	if s == nil {
		return nil
	}
	i, found := findChunk(s.Sending, ch.index)
	switch {
	case found && s.Sending[i] == rec:
		return nil
	case found:
		s.Sending[i] = rec
	default:
		s.Sending = slices.Insert(s.Sending, i, rec)
	}
	return p.save(ctx, s)
}

// ack records an acknowledged chunk with the source's hash through it,
// saves the state and reports progress. It fails when the state cannot be
// saved, unless the options say to go on, and when the chunk's bytes as
// sent are not those hashed: the video then holds a mix no later run
// should go on with, so the state is discarded. It is safe to call from
// several workers.
func (p *pass) ack(ctx context.Context, ch *chunk, v *videoAnswer) error {
	sum, err := p.k.confirm(ctx, ch)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if !errors.Is(err, ErrSourceChanged) || p.state == nil {
			return err
		}
		return p.discard(ctx, err, "the bytes sent while the source changed")
	}
	p.acked.add(ch.index)
	p.ackedBytes += ch.n
	p.u.c.caller.tel.acked(ctx, ch.n)
	// Chunks answer with little more than the video id, but for the one
	// that completed the video, whose answer has the whole video. With
	// concurrent chunks, that answer may come before another's.
	if v != nil && (p.final == nil || v.Assets != nil) {
		video := videoFrom(&v.Video, v.raw)
		p.final = &video
	}
	p.u.prog.update(p.ackedBytes, p.k.total())
	s := p.state
	if s == nil {
		return nil
	}
	if i, found := findChunk(s.Sending, ch.index); found {
		s.Sending = slices.Delete(s.Sending, i, i+1)
	}
	i, _ := findChunk(s.Acked, ch.index)
	s.Acked = slices.Insert(s.Acked, i, AckedChunk{Index: ch.index, Size: ch.n, PrefixSHA256: sum})
	return p.save(ctx, s)
}

// save saves s, the upload's state, in the store when there is one; p.mu is
// held, so that a newer state is never overwritten by an older one. A
// failure is reported to OnState, and returned as ErrStateNotSaved unless
// the options say to go on.
func (p *pass) save(ctx context.Context, s *UploadState) error {
	u := p.u
	s.UpdatedAt = time.Now().UTC()
	if u.opts.Store == nil {
		return nil
	}
	// A cancelled upload still records what landed.
	err := u.opts.Store.Save(context.WithoutCancel(ctx), u.key, s)
	if err == nil {
		p.stored = true
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
func (p *pass) unsend(ctx context.Context, ch *chunk) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.state
	if s == nil {
		return nil
	}
	i, found := findChunk(s.Sending, ch.index)
	if !found {
		return nil
	}
	s.Sending = slices.Delete(s.Sending, i, i+1)
	return p.save(ctx, s)
}

// discard drops the state of a video no later run should go on with (err
// says why, holds what the video holds). p.mu is held.
func (p *pass) discard(ctx context.Context, err error, holds string) error {
	u := p.u
	if p.state == nil {
		return err
	}
	video := p.state.VideoID
	p.state = nil // no later ack saves it again
	if u.opts.Store != nil && p.stored {
		if derr := u.opts.Store.Delete(context.WithoutCancel(ctx), u.key); derr != nil {
			return errors.Join(err, fmt.Errorf("%w: discarding the state of video %s: %w", ErrStateNotSaved, video, derr))
		}
		p.stored = false
	}
	return fmt.Errorf("%w; video %s holds %s, and the upload state is discarded: the next upload of this file starts a new video", err, video, holds)
}

// resized returns err, and when it is a file that changed size during its
// upload, discards the state: the video holds bytes of the file as it was.
func (p *pass) resized(ctx context.Context, err error) error {
	var re *resizedError
	if !errors.As(err, &re) {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.discard(ctx, err, "the bytes sent while the source changed")
}

// finish is the last phase: it checks that every chunk was acknowledged
// and that the bytes acknowledged are the source's, deletes the state and
// reports the result.
func (p *pass) finish(ctx context.Context) (*UploadResult, error) {
	u := p.u
	total := p.k.total()
	n := int(p.lay.count(total))
	if p.acked.count() != n {
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
	if u.opts.Store != nil && p.stored {
		if err := u.opts.Store.Delete(ctx, u.key); err != nil {
			u.log.LogAttrs(ctx, slog.LevelWarn, "avupload: deleting the upload state", slog.String("error", err.Error()))
		}
	}
	u.prog.update(total, total)
	video := Video{VideoID: p.videoID}
	if p.final != nil {
		video = *p.final
	}
	res := &UploadResult{Video: video, Size: total, SHA256: sum, ChunkSize: p.lay.cs, Chunks: n}
	if p.saved != nil {
		res.ResumedChunks, res.ResumedBytes = len(p.saved.Acked), p.saved.AckedBytes()
	}
	return res, nil
}

// fail wraps the cause of a failed pass with the state to resume from.
func (p *pass) fail(ctx context.Context, err error) error { return failed(ctx, p.state, err) }

// failed wraps the cause of a failed upload with state, the state to
// resume from (nil when there is none).
func failed(ctx context.Context, state *UploadState, err error) error {
	var ue *UploadError
	if errors.As(err, &ue) {
		return err
	}
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = errors.Join(interrupted(ctx), err)
	} else if ctx.Err() != nil {
		err = interrupted(ctx)
	}
	return &UploadError{State: state.Clone(), Err: err}
}

// videoGone reports whether err is the API saying that the video chunks
// were sent to does not exist.
func videoGone(err error) bool {
	var e *APIError
	return errors.As(err, &e) &&
		(e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusBadRequest && e.Name == "videoId")
}

// findChunk finds chunk i in cs, a list by ascending index, or where it
// would go.
func findChunk(cs []AckedChunk, i int) (int, bool) {
	return slices.BinarySearchFunc(cs, i, func(c AckedChunk, i int) int { return c.Index - i })
}
