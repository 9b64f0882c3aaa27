package temporal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/avupload/avupload/wrapper"
)

// Uploader holds the activities of the workers that upload: UploadFile,
// ReadManifest and WriteOutcomes. They need no API key, only an upload
// token (which the workflow hands them) and the files, under Root. Its
// fields are read, never changed: one Uploader serves any number of
// activities at once.
type Uploader struct {
	// Client sends the uploads; build it without the API key.
	Client *wrapper.Client
	// Root is where this worker sees the shared filesystem: manifest
	// paths are relative to it, and no path may leave it.
	Root string
	// ChunkSize and Concurrency tune each upload (wrapper.UploadOptions):
	// 50 MiB chunks, 4 in flight, when 0.
	ChunkSize   int64
	Concurrency int
	// HeartbeatInterval is the longest time between two heartbeats of an
	// upload, besides those that record a chunk: a third of the activity's
	// heartbeat timeout (at most 10 s) when 0.
	HeartbeatInterval time.Duration
}

// Register registers the Uploader's activities under their names
// (ActivityUploadFile, ActivityReadManifest, ActivityWriteOutcomes).
func (u *Uploader) Register(r worker.ActivityRegistry) {
	r.RegisterActivityWithOptions(u.UploadFile, activity.RegisterOptions{Name: ActivityUploadFile})
	r.RegisterActivityWithOptions(u.ReadManifest, activity.RegisterOptions{Name: ActivityReadManifest})
	r.RegisterActivityWithOptions(u.WriteOutcomes, activity.RegisterOptions{Name: ActivityWriteOutcomes})
}

// resolve returns the path of rel under the root, refusing any path that
// leaves it.
func (u *Uploader) resolve(rel string) (string, error) {
	p := filepath.FromSlash(rel)
	if !filepath.IsLocal(p) {
		return "", temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("the path %q is not inside the source root", rel), ErrSourceUnreadable, nil)
	}
	return filepath.Join(u.Root, p), nil
}

// UploadFile uploads one file with the token, resuming from the state an
// earlier attempt recorded in its heartbeat details (or from in.Resume),
// and records its own state there before each chunk goes and after each
// is acknowledged: the next attempt, on any worker, sends only the chunks
// the API did not acknowledge. Each such heartbeat reaches the server
// before the upload goes on, so that no chunk is sent that a later attempt
// would not know of. The state grows by about 110 bytes a chunk: 1.1 MB
// at the API's limit of 10,000 chunks, under Temporal's default limit of
// 2 MB a payload.
func (u *Uploader) UploadFile(ctx context.Context, in UploadFileInput) (*UploadFileResult, error) {
	if u.Client == nil {
		return nil, temporal.NewNonRetryableApplicationError("the worker's uploader has no client", ErrRefused, nil)
	}
	path, err := u.resolve(in.File.Path)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrSourceUnreadable, err)
	}
	info := activity.GetInfo(ctx)
	var hb Heartbeat
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &hb); err != nil {
			activity.GetLogger(ctx).Warn("the previous attempt's upload state cannot be read; the file starts over", "path", in.File.Path, "error", err)
			hb = Heartbeat{}
		}
	} else if in.Resume != nil {
		hb.State = in.Resume
	}
	if hb.State != nil {
		// The state names the file by the absolute path the worker that
		// saved it saw; this worker may mount the shared filesystem
		// elsewhere. The upload checks the bytes of every acknowledged
		// chunk before going on, so the name is not what vouches for them.
		hb.State.Source = abs
	}

	upCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	st := &heartbeatStore{
		key:   wrapper.ResumeKey(u.Client.BaseURL(), abs),
		hb:    hb,
		token: info.TaskToken,
		c:     activity.GetClient(ctx),
		ctx:   context.WithoutCancel(ctx),
		stop:  cancel,
	}
	every := u.HeartbeatInterval
	if every <= 0 {
		every = min(info.HeartbeatTimeout/3, 10*time.Second)
		if every <= 0 {
			every = 10 * time.Second
		}
	}
	beats := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-beats:
				return
			case <-t.C:
				_ = st.beat()
			}
		}
	}()
	defer func() { close(beats); wg.Wait() }()

	res, err := u.Client.Upload(upCtx, in.Token, wrapper.File(path), &wrapper.UploadOptions{
		ChunkSize:   u.ChunkSize,
		Concurrency: u.Concurrency,
		Store:       st,
		Progress:    st.progress,
	})
	if err != nil {
		if cause := context.Cause(upCtx); cause != nil && ctx.Err() == nil && !errors.Is(cause, context.Canceled) {
			err = fmt.Errorf("%w (%w)", err, cause)
		}
		return nil, classify(err, st.details())
	}
	return &UploadFileResult{
		VideoID:       res.Video.VideoID,
		SHA256:        res.SHA256,
		Size:          res.Size,
		Chunks:        res.Chunks,
		ResumedChunks: res.ResumedChunks,
		ResumedBytes:  res.ResumedBytes,
		Attempt:       info.Attempt,
	}, nil
}

// classify turns an upload's failure into the error the activity fails
// with: an application error of a type the workflow knows for the
// failures a retry cannot mend, the error itself (retried) otherwise.
func classify(err error, hb Heartbeat) error {
	msg := err.Error()
	switch {
	case errors.Is(err, wrapper.ErrUnauthorized):
		return temporal.NewNonRetryableApplicationError(
			"the API refused the upload token (expired or deleted): "+msg, ErrTokenRefused, err, hb)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return temporal.NewNonRetryableApplicationError(msg, ErrSourceUnreadable, err)
	case errors.Is(err, wrapper.ErrStateConflict):
		return temporal.NewNonRetryableApplicationError(msg, ErrStateConflict, err)
	case errors.Is(err, wrapper.ErrInvalidInput), errors.Is(err, wrapper.ErrBadRequest),
		errors.Is(err, wrapper.ErrForbidden):
		return temporal.NewNonRetryableApplicationError(msg, ErrRefused, err)
	}
	// Server errors, rate limits past the policy, lost connections, a
	// source that changed while it was read, a stopped worker: the next
	// attempt goes on from the last heartbeat.
	return err
}

// heartbeatStore is a wrapper.ResumeStore that keeps the state of one
// upload in the activity's heartbeat details. Save returns only once the
// Temporal server holds the state (a synchronous heartbeat through the
// worker's client), as the wrapper saves the state before a chunk's first
// byte goes: a chunk is never sent that the next attempt would not know
// of. When the server says the attempt is over (cancelled, timed out and
// given to another worker), the upload is stopped.
type heartbeatStore struct {
	key   string
	token []byte
	c     client.Client
	ctx   context.Context // the activity's, without its cancellation
	stop  context.CancelCauseFunc

	mu   sync.Mutex // held across a heartbeat, so that they go in order
	hb   Heartbeat
	dead error // set once the server refused a heartbeat for good
}

// heartbeatRPCTimeout bounds one heartbeat call.
const heartbeatRPCTimeout = 30 * time.Second

func (s *heartbeatStore) Load(_ context.Context, key string) (*wrapper.UploadState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if key != s.key || s.hb.State == nil {
		return nil, nil
	}
	return s.hb.State.Clone(), nil
}

func (s *heartbeatStore) Save(_ context.Context, key string, st *wrapper.UploadState) error {
	if key != s.key {
		return fmt.Errorf("the upload state of another upload (%s) cannot be kept here", key)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hb.State = st.Clone()
	return s.beatLocked()
}

func (s *heartbeatStore) Delete(_ context.Context, key string) error {
	if key != s.key {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hb.State = nil
	return s.beatLocked()
}

// progress records the upload's progress, for the next heartbeat.
func (s *heartbeatStore) progress(p wrapper.UploadProgress) {
	s.mu.Lock()
	s.hb.Acked, s.hb.Sent, s.hb.Total = p.Acked, p.Sent, p.Total
	s.mu.Unlock()
}

// details returns the latest heartbeat.
func (s *heartbeatStore) details() Heartbeat {
	s.mu.Lock()
	defer s.mu.Unlock()
	hb := s.hb
	hb.State = hb.State.Clone()
	return hb
}

func (s *heartbeatStore) beat() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.beatLocked()
}

func (s *heartbeatStore) beatLocked() error {
	if s.dead != nil {
		return s.dead
	}
	ctx, cancel := context.WithTimeout(s.ctx, heartbeatRPCTimeout)
	defer cancel()
	err := s.c.RecordActivityHeartbeat(ctx, s.token, s.hb)
	if err == nil {
		return nil
	}
	var notFound *serviceerror.NotFound
	switch {
	case temporal.IsCanceledError(err):
		s.dead = errors.New("the migration cancelled this upload")
	case errors.As(err, &notFound):
		s.dead = errors.New("this upload attempt timed out and was given to another worker")
	case errors.Is(err, activity.ErrActivityPaused), errors.Is(err, activity.ErrActivityReset):
		s.dead = errors.New("the upload was paused or reset")
	default:
		return fmt.Errorf("recording the upload's progress in Temporal: %w", err)
	}
	s.stop(s.dead)
	return s.dead
}
