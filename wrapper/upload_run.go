package wrapper

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"
)

// run drives one upload: resume or not, the first chunk alone, the others
// concurrently, the state saved after every acknowledged chunk.
func (u *upload) run(ctx context.Context) (*UploadResult, error) {
	o := &u.opts
	size := u.src.size
	saved := u.loadState(ctx)
	u.chunkSize = o.ChunkSize
	if saved != nil {
		u.chunkSize = saved.ChunkSize
	}

	var k chunker
	var first *chunk
	var fp Fingerprint
	if u.src.at != nil {
		// The fingerprint costs a read of the first and last chunks: it is
		// taken only when a store needs it, or when an upload fails.
		if size > u.chunkSize && o.Store != nil {
			var err error
			if fp, err = seekableFingerprint(u.src, u.chunkSize); err != nil {
				return nil, err
			}
			if saved != nil && !saved.Fingerprint.equal(fp) {
				u.log.LogAttrs(ctx, slog.LevelWarn, "avupload: the source changed since the saved upload; starting over",
					slog.String("video", saved.VideoID))
				saved = nil
				if u.chunkSize != o.ChunkSize {
					u.chunkSize = o.ChunkSize
					if size > u.chunkSize {
						if fp, err = seekableFingerprint(u.src, u.chunkSize); err != nil {
							return nil, err
						}
					}
				}
			}
		}
		if n := chunkCount(size, u.chunkSize); n > maxParts {
			return nil, invalidInput("%d bytes in chunks of %d make %d chunks, above the API's limit of %d; use larger chunks",
				size, u.chunkSize, n, maxParts)
		}
		sk := newSeekChunker(ctx, u.src.at, size, u.chunkSize)
		defer sk.stop()
		k, first = sk, sk.chunkAt(0)
		sk.i = 1
	} else {
		if size > 0 && chunkCount(size, u.chunkSize) > maxParts {
			return nil, invalidInput("%d bytes in chunks of %d make more than %d chunks; use larger chunks",
				size, u.chunkSize, maxParts)
		}
		rk := newReadChunker(u.src.r, size, u.chunkSize, o.Concurrency+1)
		ch, err := rk.read(ctx)
		if err != nil {
			return nil, u.fail(ctx, err)
		}
		fp = Fingerprint{Size: size, HeadSHA256: rk.head}
		if saved != nil && !saved.Fingerprint.equal(fp) {
			u.log.LogAttrs(ctx, slog.LevelWarn, "avupload: the stream differs from the saved upload's; starting over",
				slog.String("video", saved.VideoID))
			saved = nil
		}
		k, first = rk, ch
	}

	videoID := o.VideoID
	var acked ackSet
	var ackedBytes int64
	if saved != nil {
		u.fromStore = true
		u.state = saved.Clone()
		videoID = saved.VideoID
		for _, i := range saved.Acked {
			acked.add(i)
		}
		u.resumed = len(saved.Acked)
		ackedBytes = saved.AckedBytes()
		u.log.LogAttrs(ctx, slog.LevelInfo, "avupload: resuming upload", slog.String("video", videoID),
			slog.Int("acked", u.resumed))
	} else if videoID != "" && !first.whole {
		u.state = u.newState(videoID, fp)
	}
	switch sk := k.(type) {
	case *seekChunker:
		sk.skip = slices.Clone(acked)
	case *readChunker:
		sk.skip = slices.Clone(acked)
	}

	prog := u.prog
	r := &runner{u: u, k: k, prog: prog, acked: acked, ackedBytes: ackedBytes, fp: fp}
	prog.update(ackedBytes, k.total())

	if acked.has(first.index) {
		k.release(first)
		first = nil
	} else if videoID == "" {
		v, err := u.send(ctx, first, "")
		k.release(first)
		if err != nil {
			return nil, u.fail(ctx, err)
		}
		u.created = true
		videoID = v.VideoID
		if !first.whole {
			u.state = u.newState(videoID, fp)
		}
		r.ack(ctx, first, v)
		first = nil
	}
	if err := r.pump(ctx, first, videoID); err != nil {
		return nil, u.fail(ctx, err)
	}

	total := k.total()
	if n := int(chunkCount(total, u.chunkSize)); len(r.ackedIndexes()) != n {
		return nil, u.fail(ctx, errors.New("avupload: internal error: not every chunk was acknowledged"))
	}
	sum, err := k.sum(ctx)
	if err != nil {
		return nil, u.fail(ctx, err)
	}
	if o.Store != nil && u.state != nil {
		if err := o.Store.Delete(ctx, u.key); err != nil {
			u.log.LogAttrs(ctx, slog.LevelWarn, "avupload: deleting the upload state", slog.String("error", err.Error()))
		}
	}
	prog.update(total, total)
	video := Video{VideoID: videoID}
	if r.final != nil {
		video = *r.final
	}
	return &UploadResult{
		Video:         video,
		Size:          total,
		SHA256:        sum,
		Chunks:        int(chunkCount(total, u.chunkSize)),
		ResumedChunks: u.resumed,
	}, nil
}

// restart forgets a saved state whose video the API no longer knows (an
// expired sandbox video, say) and, when the source can be read again,
// uploads it anew as a new video. A stream cannot be read again: its upload
// fails with cause, but the next one starts afresh.
func (u *upload) restart(ctx context.Context, cause error) (*UploadResult, error) {
	u.log.LogAttrs(ctx, slog.LevelWarn, "avupload: the saved upload's video is gone; starting over",
		slog.String("video", u.state.VideoID), slog.String("error", cause.Error()))
	if err := u.opts.Store.Delete(context.WithoutCancel(ctx), u.key); err != nil {
		u.log.LogAttrs(ctx, slog.LevelWarn, "avupload: deleting the upload state", slog.String("error", err.Error()))
	}
	if u.src.at == nil {
		var ue *UploadError
		if errors.As(cause, &ue) {
			return nil, &UploadError{Err: ue.Err}
		}
		return nil, cause
	}
	u.state, u.resumed, u.created, u.fromStore = nil, 0, false, false
	return u.run(ctx)
}

// videoGone reports whether err is the API saying that the video chunks
// were sent to does not exist.
func videoGone(err error) bool {
	var e *APIError
	return errors.As(err, &e) &&
		(e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusBadRequest && e.Name == "videoId")
}

// loadState returns the saved state this upload may go on from, or nil.
func (u *upload) loadState(ctx context.Context) *UploadState {
	if u.opts.Store == nil {
		return nil
	}
	s, err := u.opts.Store.Load(ctx, u.key)
	switch {
	case err != nil:
		u.log.LogAttrs(ctx, slog.LevelWarn, "avupload: ignoring an unreadable upload state", slog.String("error", err.Error()))
		return nil
	case s == nil:
		return nil
	case s.TokenHash != u.tokenHash, s.Total != u.src.size,
		u.opts.VideoID != "" && u.opts.VideoID != s.VideoID:
		u.log.LogAttrs(ctx, slog.LevelWarn, "avupload: the saved upload is for another token, size or video; starting over",
			slog.String("video", s.VideoID))
		return nil
	}
	return s
}

func (u *upload) newState(videoID string, fp Fingerprint) *UploadState {
	return &UploadState{
		Version:     stateVersion,
		TokenHash:   u.tokenHash,
		VideoID:     videoID,
		ChunkSize:   u.chunkSize,
		Total:       u.src.size,
		Acked:       []int{},
		Fingerprint: fp,
		UpdatedAt:   time.Now().UTC(),
	}
}

// fail wraps the cause of a failed upload with the state to resume from.
func (u *upload) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = errors.Join(interrupted(ctx), err)
	} else if ctx.Err() != nil {
		err = interrupted(ctx)
	}
	state := u.state.Clone()
	if state != nil && state.Fingerprint.HeadSHA256 == "" && u.src.at != nil {
		// Without a store the fingerprint was not taken; take it now so
		// that the state can be saved and resumed by hand.
		if fp, fpErr := seekableFingerprint(u.src, u.chunkSize); fpErr == nil {
			state.Fingerprint = fp
		}
	}
	return &UploadError{State: state, Err: err}
}

// runner is the concurrent part of an upload.
type runner struct {
	u    *upload
	k    chunker
	prog *progress
	fp   Fingerprint

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
				v, err := r.u.send(ctx, ch, videoID)
				r.k.release(ch)
				if err != nil {
					cancel(err)
					continue
				}
				r.ack(ctx, ch, v)
			}
		})
	}
	wg.Wait()
	// The first cancellation's cause is the failure the others followed
	// from, or the caller's own cancellation; nil when all went well.
	return context.Cause(ctx)
}

// ack records an acknowledged chunk, saves the state and reports progress.
// It is safe to call from several workers.
func (r *runner) ack(ctx context.Context, ch *chunk, v *videoAnswer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.u
	r.acked.add(ch.index)
	r.ackedBytes += ch.n
	// Chunks answer with little more than the video id, but for the one
	// that completed the video, whose answer has the whole video. With
	// concurrent chunks, that answer may come before another's.
	if v != nil && (r.final == nil || v.Assets != nil) {
		video := videoFrom(&v.Video, v.raw)
		r.final = &video
	}
	if s := u.state; s != nil {
		i, _ := slices.BinarySearch(s.Acked, ch.index)
		s.Acked = slices.Insert(s.Acked, i, ch.index)
		s.UpdatedAt = time.Now().UTC()
		if u.opts.Store != nil {
			// A cancelled upload still records what landed.
			if err := u.opts.Store.Save(context.WithoutCancel(ctx), u.key, s); err != nil {
				u.log.LogAttrs(ctx, slog.LevelWarn, "avupload: saving the upload state", slog.String("error", err.Error()))
			}
		}
	}
	r.prog.update(r.ackedBytes, r.k.total())
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
// only the latest count when the callback is slower than the upload.
type progress struct {
	fn    func(acked, total int64)
	kick  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	acked int64
	total int64
}

func newProgress(fn func(acked, total int64)) *progress {
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

func (p *progress) loop() {
	defer close(p.done)
	lastAcked, lastTotal := int64(-1), int64(-2)
	for range p.kick {
		p.mu.Lock()
		acked, total := p.acked, p.total
		p.mu.Unlock()
		if acked != lastAcked || total != lastTotal {
			p.fn(acked, total)
			lastAcked, lastTotal = acked, total
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
